//! Account › Settings › Single sign-on, as four ordered steps: domains with their TXT records and
//! a Verify button; connections with the values to copy into the IdP (OIDC redirect URI; SAML
//! entity id, ACS URL, metadata download, certificate expiry), enable/disable, adding an OIDC or
//! a SAML connection; a test sign-in; SSO-only. One step-up for the page: the password is asked
//! once ("Confirm it is you"), then every change goes ahead while the sign-in is recent (a form
//! may still carry `password`, as before). No script needed.

use super::form::{AccountForm, Fields, Kept, field};
use super::page::{AccountPage, Outcome, Shown, confirmed_actor, needs_password};
use super::{Frame, render};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use uuid::Uuid;
use watchword_app::sso::{ConnectionChange, ConnectionView, DomainView, Enforcement};
use watchword_app::{Actor, AppError};
use watchword_domain::{AccountId, DomainError};

#[derive(Template)]
#[template(path = "sso.html")]
struct SsoPage {
    frame: Frame,
    account_id: String,
    csrf: String,
    paid: bool,
    redirect_uri: String,
    domains: Vec<DomainView>,
    connections: Vec<ConnectionView>,
    enforcement: Enforcement,
    /// The session's sign-in is recent enough for changes without the password.
    recent: bool,
    domain_done: bool,
    connection_done: bool,
    /// The form as typed when the server refused it (never a secret).
    kept: Kept,
}

async fn sso_page(
    state: &AppState,
    s: &Session,
    account: AccountId,
    out: Outcome,
    kept: Kept,
) -> Shown {
    let (status, notice, error) = out.banners();
    let app = &state.app;
    let off = Enforcement {
        sso_required: false,
        break_glass: true,
    };
    let (paid, domains, connections, enforcement) = match app.sso_domains(&s.actor, account).await {
        Ok(d) => (
            true,
            d,
            app.sso_connections(&s.actor, account).await?,
            app.sso_enforcement(&s.actor, account).await?,
        ),
        Err(AppError::Domain(DomainError::Forbidden {
            code: "plan_required",
            ..
        })) => (false, Vec::new(), Vec::new(), off),
        Err(e) => return Err(e.into()),
    };
    // A minute's margin, so the page does not promise what expires while it is read.
    let window = (app.settings().recent_auth_secs - 60) * 1000;
    let page = SsoPage {
        frame: Frame::signed_in("Single sign-on", s, Some(account), notice, error),
        account_id: account.to_string(),
        csrf: s.csrf_token(),
        paid,
        redirect_uri: app.sso_redirect_uri(),
        domain_done: domains.iter().any(|d| d.verified_at.is_some()),
        connection_done: connections.iter().any(|c| c.enabled),
        domains,
        connections,
        enforcement,
        recent: app.now().0 - s.actor.authenticated_at.0 < window,
        kept,
    };
    Ok(render(status, page))
}

pub async fn page(State(state): State<AppState>, p: AccountPage) -> Shown {
    let out = Outcome::done(p.done);
    sso_page(&state, &p.session, p.account, out, Kept::default()).await
}

/// "Confirm it is you": the password once for the page's changes.
pub async fn confirm(
    State(state): State<AppState>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let pw = field(&f, "password");
    let result = match pw.is_empty() {
        true => Err(DomainError::field("required", "password", "enter your password").into()),
        false => confirmed_actor(&state, &s, pw).await.map(|_| ()),
    };
    match result {
        Ok(()) => {
            let to = format!("/accounts/{account}/settings/sso?done=confirmed");
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => sso_page(&state, &s, account, Outcome::failed(e), Kept::default()).await,
    }
}

/// Runs a change with the actor confirmed by the form's password, then shows the page again
/// (`done` on success, the error otherwise).
async fn change<F, Fut>(
    state: &AppState,
    s: &Session,
    account: AccountId,
    f: &Fields,
    done: &str,
    act: F,
) -> Shown
where
    F: FnOnce(Actor) -> Fut,
    Fut: std::future::Future<Output = Result<(), AppError>>,
{
    let result = match confirmed_actor(state, s, field(f, "password")).await {
        Ok(actor) => act(actor).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let to = format!("/accounts/{account}/settings/sso?done={done}");
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => {
            let kept = Kept::refused(f, &e);
            sso_page(state, s, account, refused(e), kept).await
        }
    }
}

/// A refusal shown on the page; the want of a recent sign-in points at "Confirm it is you".
fn refused(e: AppError) -> Outcome {
    if needs_password(&e) {
        return Outcome {
            notice: None,
            error: Some((
                axum::http::StatusCode::FORBIDDEN,
                "Confirm it is you first: enter your password under “Confirm it is you”, then try again."
                    .into(),
            )),
        };
    }
    Outcome::failed(e)
}

pub async fn add_domain(
    State(state): State<AppState>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let app = &state.app;
    let domain = field(&f, "domain").to_owned();
    change(&state, &s, account, &f, "sso_domain", |a| async move {
        app.add_sso_domain(&a, account, &domain).await.map(|_| ())
    })
    .await
}

pub async fn verify_domain(
    State(state): State<AppState>,
    Path((_, id)): Path<(Uuid, String)>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let app = &state.app;
    change(&state, &s, account, &f, "sso_verified", |a| async move {
        app.verify_sso_domain(&a, account, &id).await.map(|_| ())
    })
    .await
}

pub async fn add_connection(
    State(state): State<AppState>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let app = &state.app;
    let new = connection_form(&f);
    change(&state, &s, account, &f, "sso_connection", |a| async move {
        app.create_sso_connection(&a, account, new)
            .await
            .map(|_| ())
    })
    .await
}

pub async fn connection_op(
    State(state): State<AppState>,
    Path((_, id, op)): Path<(Uuid, String, String)>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let app = &state.app;
    if op == "test" {
        let result = match confirmed_actor(&state, &s, field(&f, "password")).await {
            Ok(a) => app.test_sso_connection(&a, account, &id).await,
            Err(e) => Err(e),
        };
        return match result {
            Ok(start) => Ok(super::sso::to_idp(&start.redirect_url)),
            Err(e) => sso_page(&state, &s, account, refused(e), Kept::default()).await,
        };
    }
    let patch = match op.as_str() {
        "enable" | "disable" => ConnectionChange {
            enabled: Some(op == "enable"),
            ..ConnectionChange::default()
        },
        "mappings" => ConnectionChange {
            groups_claim: Some(field(&f, "groups_claim").to_owned()),
            email_attribute: f
                .iter()
                .find(|(k, _)| k == "email_attribute")
                .map(|(_, v)| v.clone()),
            group_mappings: Some(mappings(field(&f, "mappings"))),
            ..ConnectionChange::default()
        },
        _ => return Err(AppError::NotFound.into()),
    };
    change(&state, &s, account, &f, "sso_connection", |a| async move {
        app.update_sso_connection(&a, account, &id, patch)
            .await
            .map(|_| ())
    })
    .await
}

/// A new OIDC or SAML connection as a form describes it (`kind` `saml`, or OIDC).
pub(super) fn connection_form(f: &Fields) -> ConnectionChange {
    let some = |k: &str| Some(field(f, k).to_owned());
    if field(f, "kind") == "saml" {
        ConnectionChange {
            kind: some("kind"),
            name: some("name"),
            saml_metadata: some("saml_metadata"),
            ..ConnectionChange::default()
        }
    } else {
        ConnectionChange {
            kind: Some("oidc".into()),
            name: some("name"),
            issuer: some("issuer"),
            client_id: some("client_id"),
            client_secret: some("client_secret"),
            ..ConnectionChange::default()
        }
    }
}

/// `group = role` lines (blank lines skipped); a line without `=` maps to an empty role, which
/// the change refuses with the rule.
fn mappings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (g, r) = l.rsplit_once('=').unwrap_or((l, ""));
            (g.trim().to_owned(), r.trim().to_owned())
        })
        .collect()
}

/// SSO-only on or off, and the Owner's break-glass login.
pub async fn enforcement(
    State(state): State<AppState>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let app = &state.app;
    let want = Enforcement {
        sso_required: field(&f, "sso_required") == "on",
        break_glass: field(&f, "break_glass") == "on",
    };
    change(&state, &s, account, &f, "sso_enforcement", |a| async move {
        app.set_sso_enforcement(&a, account, want).await.map(|_| ())
    })
    .await
}
