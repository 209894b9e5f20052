//! Account › Members: the list, invitations, role changes, deactivation and removal.

use super::Frame;
use super::form::AccountForm;
use super::page::{AccountPage, Outcome, Shown};
use super::render;
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use uuid::Uuid;
use watchword_app::views::MemberRow;
use watchword_domain::{
    AccountId, BuiltinRole, DomainError, MembershipId, MembershipStatus, Permission,
};

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    frame: Frame,
    account_id: String,
    account_name: String,
    csrf: String,
    can_manage: bool,
    members: Vec<MemberRow>,
    /// The members the account's IdP provisioned (SCIM).
    scim: std::collections::HashSet<watchword_domain::MembershipId>,
    roles: Vec<(String, String)>,
    /// The invitation form as typed when the server refused it: (email, role).
    kept: (String, String),
}

impl MembersPage {
    fn is_scim(&self, m: &MemberRow) -> bool {
        self.scim.contains(&m.id)
    }
}

async fn members_page(
    state: &AppState,
    s: &Session,
    account: AccountId,
    out: Outcome,
    kept: (String, String),
) -> Shown {
    let access = state.app.account(&s.actor, account).await?;
    let members = state.app.list_members(&s.caller(), account).await?;
    let scim = state.app.scim_managed(&s.caller(), account).await?;
    let mut roles: Vec<(String, String)> = BuiltinRole::CUSTOMER
        .iter()
        .map(|b| (b.key().to_owned(), b.name().to_owned()))
        .collect();
    if let Ok(custom) = state.app.list_roles(&s.caller(), account).await {
        roles.extend(custom.iter().map(|r| (r.id.to_string(), r.name.clone())));
    }
    let (status, notice, error) = out.banners();
    let page = MembersPage {
        frame: Frame::signed_in("Members", s, Some(account), notice, error),
        account_id: account.to_string(),
        account_name: access.account.name.clone(),
        csrf: s.csrf_token(),
        can_manage: access.permissions().contains(Permission::UsersManage),
        members,
        scim,
        roles,
        kept,
    };
    Ok(render(status, page))
}

pub async fn members(State(state): State<AppState>, p: AccountPage) -> Shown {
    let kept = (String::new(), "analyst".to_owned());
    members_page(&state, &p.session, p.account, Outcome::done(p.done), kept).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InviteForm {
    email: String,
    role: String,
}

pub async fn invite(
    State(state): State<AppState>,
    AccountForm(s, account, form): AccountForm<InviteForm>,
) -> Shown {
    match state
        .app
        .invite(&s.actor, account, &form.email, &form.role)
        .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/accounts/{account}/members?done=invited")).into_response())
        }
        Err(e) => {
            let kept = (form.email, form.role);
            members_page(&state, &s, account, Outcome::failed(e), kept).await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MemberForm {
    role: String,
    confirm: String,
    /// Removal or deactivation: the member who takes over the departing member's API keys and
    /// apps, by email (or membership id); empty: they stop.
    transfer_to: String,
}

/// The member a departing member's credentials go to: none when empty, else the active member
/// with that email (or membership id) in this account.
async fn transfer_target(
    state: &AppState,
    s: &Session,
    account: AccountId,
    to: &str,
) -> Result<Option<MembershipId>, watchword_app::AppError> {
    if to.is_empty() {
        return Ok(None);
    }
    if let Ok(id) = Uuid::parse_str(to) {
        return Ok(Some(MembershipId(id)));
    }
    let members = state.app.list_members(&s.caller(), account).await?;
    members
        .iter()
        .find(|m| m.email.eq_ignore_ascii_case(to) && m.status == MembershipStatus::Active)
        .map(|m| Some(m.id))
        .ok_or_else(|| {
            DomainError::field(
                "transfer_target_unknown",
                "transfer_to",
                "no active member of this account has that email",
            )
            .into()
        })
}

pub async fn member_op(
    State(state): State<AppState>,
    Path((_, member, op)): Path<(Uuid, Uuid, String)>,
    AccountForm(s, account, form): AccountForm<MemberForm>,
) -> Shown {
    let member = MembershipId(member);
    let app = &state.app;
    let transfer = match transfer_target(&state, &s, account, form.transfer_to.trim()).await {
        Ok(t) => t,
        Err(e) => {
            let kept = (String::new(), "analyst".to_owned());
            return members_page(&state, &s, account, Outcome::failed(e), kept).await;
        }
    };
    let result = match op.as_str() {
        "role" => app
            .change_role(&s.actor, account, member, &form.role)
            .await
            .map(|_| ()),
        "deactivate" | "reactivate" => app
            .set_member_active(&s.actor, account, member, op == "reactivate", transfer)
            .await
            .map(|_| ()),
        "remove" if form.confirm == "yes" => {
            app.remove_member(&s.actor, account, member, transfer).await
        }
        "remove" => Err(DomainError::invalid(
            "confirmation_required",
            "tick confirm to remove the member",
        )
        .into()),
        _ => return Ok(StatusCode::NOT_FOUND.into_response()),
    };
    match result {
        Ok(()) => {
            Ok(Redirect::to(&format!("/accounts/{account}/members?done={op}")).into_response())
        }
        Err(e) => {
            let kept = (String::new(), "analyst".to_owned());
            members_page(&state, &s, account, Outcome::failed(e), kept).await
        }
    }
}
