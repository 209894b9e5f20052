//! Account › Integrations (beside API keys): the apps the account installed — scopes, who
//! installed them, when, last use, flags — each with Revoke; the account's own apps, and a form
//! to register one (the password confirms it; a confidential app's secret is shown once).

use super::form::{AccountForm, Fields, Kept, field};
use super::page::{AccountPage, Outcome, Shown, confirmed_actor};
use super::words;
use super::{Frame, render};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use uuid::Uuid;
use watchword_app::oauth::{AppView, Installed, NewApp};
use watchword_domain::AccountId;
use watchword_domain::scope::ScopeSet;

#[derive(Template)]
#[template(path = "integrations.html")]
struct IntegrationsPage {
    frame: Frame,
    account_id: String,
    csrf: String,
    installed: Vec<Installed>,
    apps: Vec<AppView>,
    /// Every scope: its code and its words.
    scopes: Vec<(String, String)>,
    /// A new app's client id and secret, shown once.
    created: Option<(String, Option<String>)>,
    /// The registration form as typed when the server refused it.
    kept: Kept,
}

async fn show(
    state: &AppState,
    s: &Session,
    account: AccountId,
    out: Outcome,
    created: Option<(String, Option<String>)>,
    kept: Kept,
) -> Shown {
    let installed = state.app.authorized_apps(&s.actor, account).await?;
    let apps = state.app.oauth_apps(&s.actor, account).await?;
    let (status, notice, error) = out.banners();
    let page = IntegrationsPage {
        frame: Frame::signed_in("Integrations", s, Some(account), notice, error),
        account_id: account.to_string(),
        csrf: s.csrf_token(),
        installed,
        apps,
        scopes: ScopeSet::names()
            .map(|s| {
                let w = words::scope(&s);
                (s, w)
            })
            .collect(),
        created,
        kept,
    };
    Ok(render(status, page))
}

pub async fn page(State(state): State<AppState>, p: AccountPage) -> Shown {
    let out = Outcome::done(p.done);
    show(&state, &p.session, p.account, out, None, Kept::default()).await
}

/// Registers a private app (the password confirms it).
pub async fn register(
    State(state): State<AppState>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let new = NewApp {
        name: field(&f, "name").to_owned(),
        developer: Some(field(&f, "developer").to_owned()),
        redirect_uris: field(&f, "redirect_uris")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        scopes: f
            .iter()
            .filter(|(k, _)| k == "scopes")
            .map(|(_, v)| v.clone())
            .collect(),
        kind: Some(field(&f, "kind").to_owned()).filter(|k| !k.is_empty()),
        ..NewApp::default()
    };
    let made = match confirmed_actor(&state, &s, field(&f, "password")).await {
        Ok(actor) => state.app.create_oauth_app(&actor, account, new).await,
        Err(e) => Err(e),
    };
    match made {
        Ok((app, secret)) => {
            let out = Outcome::done(Some("App registered.".into()));
            let created = Some((app.client_id, secret));
            show(&state, &s, account, out, created, Kept::default()).await
        }
        Err(e) => {
            let kept = Kept::refused(&f, &e);
            show(&state, &s, account, Outcome::failed(e), None, kept).await
        }
    }
}

/// Revokes an installed app's grant.
pub async fn revoke(
    State(state): State<AppState>,
    Path((_, grant)): Path<(Uuid, String)>,
    AccountForm(s, account, _f): AccountForm<Fields>,
) -> Shown {
    match state
        .app
        .revoke_authorized_app(&s.actor, account, &grant)
        .await
    {
        Ok(()) => {
            let to = format!("/accounts/{account}/integrations?done=app_revoked");
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => {
            let out = Outcome::failed(e);
            show(&state, &s, account, out, None, Kept::default()).await
        }
    }
}
