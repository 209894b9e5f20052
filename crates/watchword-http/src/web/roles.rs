//! Account › Roles: the built-in and custom roles, and creating a custom role.

use super::Frame;
use super::form::{AccountForm, Fields, field};
use super::page::{AccountPage, Outcome, Shown};
use super::render;
use crate::AppState;
use crate::api::dto::RoleDto;
use crate::extract::Session;
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use watchword_domain::{AccountId, BuiltinRole, Permission};

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    frame: Frame,
    account_id: String,
    csrf: String,
    can_manage: bool,
    roles: Vec<RoleDto>,
    grantable: Vec<&'static str>,
}

async fn roles_page(state: &AppState, s: &Session, account: AccountId, out: Outcome) -> Shown {
    let access = state.app.account(&s.actor, account).await?;
    let custom = state.app.list_roles(&s.caller(), account).await?;
    let mut roles: Vec<_> = BuiltinRole::CUSTOMER
        .into_iter()
        .map(RoleDto::builtin)
        .collect();
    roles.extend(custom.iter().map(RoleDto::custom));
    let (status, notice, error) = out.banners();
    let page = RolesPage {
        frame: Frame::signed_in("Roles", s, Some(account), notice, error),
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
    Ok(render(status, page))
}

pub async fn roles(State(state): State<AppState>, p: AccountPage) -> Shown {
    roles_page(&state, &p.session, p.account, Outcome::done(p.done)).await
}

/// The form repeats `permissions`, one per ticked box: read as `Fields`.
pub async fn create_role(
    State(state): State<AppState>,
    AccountForm(s, account, form): AccountForm<Fields>,
) -> Shown {
    let perms: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "permissions")
        .map(|(_, v)| v.clone())
        .collect();
    match state
        .app
        .create_role(&s.actor, account, field(&form, "name"), &perms)
        .await
    {
        Ok(_) => Ok(
            Redirect::to(&format!("/accounts/{account}/roles?done=role_created")).into_response(),
        ),
        Err(e) => roles_page(&state, &s, account, Outcome::failed(e)).await,
    }
}
