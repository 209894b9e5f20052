//! Account › Members: the list, invitations, role changes, deactivation and removal.

use super::form::SignedForm;
use super::{Chrome, Params, message, notice, render, to_login};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;
use watchword_app::views::MemberRow;
use watchword_domain::{AccountId, BuiltinRole, DomainError, MembershipId, Permission};

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    account_id: String,
    account_name: String,
    csrf: String,
    can_manage: bool,
    members: Vec<MemberRow>,
    roles: Vec<(String, String)>,
}

async fn members_page(
    state: &AppState,
    s: &Session,
    account: AccountId,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let access = match state.app.account(&s.actor, account).await {
        Ok(a) => a,
        Err(e) => return message(e).into_response(),
    };
    let members = match state.app.list_members(&s.caller(), account).await {
        Ok(m) => m,
        Err(e) => return message(e).into_response(),
    };
    let mut roles: Vec<(String, String)> = BuiltinRole::CUSTOMER
        .iter()
        .map(|b| (b.key().to_owned(), b.name().to_owned()))
        .collect();
    if let Ok(custom) = state.app.list_roles(&s.caller(), account).await {
        roles.extend(custom.iter().map(|r| (r.id.to_string(), r.name.clone())));
    }
    let (status, error) = match error {
        Some((st, e)) => (st, Some(e)),
        None => (StatusCode::OK, None),
    };
    let page = MembersPage {
        title: "Members",
        chrome: Some(Chrome::new(s, Some(account))),
        notice,
        error,
        account_id: account.to_string(),
        account_name: access.account.name.clone(),
        csrf: s.csrf_token(),
        can_manage: access.permissions().contains(Permission::UsersManage),
        members,
        roles,
    };
    render(status, page)
}

pub async fn members(
    State(state): State<AppState>,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Query(q): Params,
) -> Response {
    let Some(s) = s else { return to_login() };
    let done = notice(q.get("done").map(String::as_str));
    members_page(&state, &s, AccountId(id), done, None).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InviteForm {
    email: String,
    role: String,
}

pub async fn invite(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    SignedForm { session: s, form }: SignedForm<InviteForm>,
) -> Response {
    match state
        .app
        .invite(&s.actor, AccountId(id), &form.email, &form.role)
        .await
    {
        Ok(_) => Redirect::to(&format!("/accounts/{id}/members?done=invited")).into_response(),
        Err(e) => members_page(&state, &s, AccountId(id), None, Some(message(e))).await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MemberForm {
    role: String,
    confirm: String,
}

pub async fn member_op(
    State(state): State<AppState>,
    Path((id, member, op)): Path<(Uuid, Uuid, String)>,
    SignedForm { session: s, form }: SignedForm<MemberForm>,
) -> Response {
    let (account, member) = (AccountId(id), MembershipId(member));
    let app = &state.app;
    let result = match op.as_str() {
        "role" => app
            .change_role(&s.actor, account, member, &form.role)
            .await
            .map(|_| ()),
        "deactivate" | "reactivate" => app
            .set_member_active(&s.actor, account, member, op == "reactivate")
            .await
            .map(|_| ()),
        "remove" if form.confirm == "yes" => app.remove_member(&s.actor, account, member).await,
        "remove" => Err(DomainError::invalid(
            "confirmation_required",
            "tick confirm to remove the member",
        )
        .into()),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/accounts/{id}/members?done={op}")).into_response(),
        Err(e) => members_page(&state, &s, account, None, Some(message(e))).await,
    }
}
