//! Account › Roles: the built-in and custom roles, and creating a custom role.

use super::form::{Fields, SignedForm, field};
use super::{Chrome, Params, message, notice, render, to_login};
use crate::AppState;
use crate::api::dto::RoleDto;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;
use watchword_domain::{AccountId, BuiltinRole, Permission};

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    account_id: String,
    csrf: String,
    can_manage: bool,
    roles: Vec<RoleDto>,
    grantable: Vec<&'static str>,
}

async fn roles_page(
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
    let custom = match state.app.list_roles(&s.caller(), account).await {
        Ok(r) => r,
        Err(e) => return message(e).into_response(),
    };
    let mut roles: Vec<_> = BuiltinRole::CUSTOMER
        .into_iter()
        .map(RoleDto::builtin)
        .collect();
    roles.extend(custom.iter().map(RoleDto::custom));
    let (status, error) = error
        .map(|(st, e)| (st, Some(e)))
        .unwrap_or((StatusCode::OK, None));
    let page = RolesPage {
        title: "Roles",
        chrome: Some(Chrome::new(s, Some(account))),
        notice,
        error,
        account_id: account.to_string(),
        csrf: s.csrf_token(),
        can_manage: access.permissions().contains(Permission::RolesManage),
        roles,
        grantable: access
            .permissions()
            .iter()
            .map(Permission::as_str)
            .collect(),
    };
    render(status, page)
}

pub async fn roles(
    State(state): State<AppState>,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Query(q): Params,
) -> Response {
    let Some(s) = s else { return to_login() };
    let done = notice(q.get("done").map(String::as_str));
    roles_page(&state, &s, AccountId(id), done, None).await
}

/// The form repeats `permissions`, one per ticked box: read as `Fields`.
pub async fn create_role(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    SignedForm { session: s, form }: SignedForm<Fields>,
) -> Response {
    let perms: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "permissions")
        .map(|(_, v)| v.clone())
        .collect();
    match state
        .app
        .create_role(&s.actor, AccountId(id), field(&form, "name"), &perms)
        .await
    {
        Ok(_) => Redirect::to(&format!("/accounts/{id}/roles?done=role_created")).into_response(),
        Err(e) => roles_page(&state, &s, AccountId(id), None, Some(message(e))).await,
    }
}
