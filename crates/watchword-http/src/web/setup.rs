//! The setup pages of an Owner's setup link, for the customer's IT admin (not a member): opened
//! once (`/setup?token=…`, then "Start"), they verify domains, connect the identity provider
//! (Okta / Entra ID / Google Workspace field names, the values to copy) and turn SCIM on — for
//! that one account, and nothing else. Their one credential is the setup session's cookie.

use super::form::{Fields, SiteForm, field};
use super::page::Outcome;
use super::{Frame, render};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ClientMeta, SetupSession, setup_cookie};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;
use watchword_app::AppError;
use watchword_app::api_keys::KeyView;
use watchword_app::sso::{ConnectionChange, ConnectionView, DomainView};

type Shown = Result<Response, ApiError>;

#[derive(Template)]
#[template(path = "setup_start.html")]
struct StartPage {
    frame: Frame,
    token: String,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    frame: Frame,
    csrf: String,
    email: String,
    expires: String,
    redirect_uri: String,
    domains: Vec<DomainView>,
    connections: Vec<ConnectionView>,
    scim_base_url: String,
    scim_enabled: bool,
    tokens: Vec<KeyView>,
    new_secret: Option<String>,
}

/// What a setup page answers once its session ended (revoked, expired, or never opened here).
pub fn ended() -> Response {
    let page = StartPage {
        frame: Frame::public(
            "Set up single sign-on",
            None,
            Some("This setup session has ended: the link was revoked or has expired. Ask the account's Owner for a new link.".into()),
        ),
        token: String::new(),
    };
    render(StatusCode::UNAUTHORIZED, page)
}

/// The link from the email: a button, so that a mail scanner's visit does not spend it.
pub async fn start_page(Query(q): Query<HashMap<String, String>>) -> Shown {
    let token = q.get("token").cloned().unwrap_or_default();
    let page = StartPage {
        frame: Frame::public("Set up single sign-on", None, None),
        token,
    };
    Ok(render(StatusCode::OK, page))
}

/// Spends the link: the setup session's cookie, then the setup page.
pub async fn start(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<Fields>,
) -> Shown {
    match state.app.open_setup_link(field(&f, "token"), &meta).await {
        Ok((secret, grant)) => {
            let left = (grant.expires_at.0 - state.app.now().0) / 1000;
            let mut res = Redirect::to("/setup/sso").into_response();
            if let Ok(v) = setup_cookie(&secret, left.max(1)).parse() {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(res)
        }
        Err(AppError::NotFound) => {
            let page = StartPage {
                frame: Frame::public(
                    "Set up single sign-on",
                    None,
                    Some("This setup link was already used, was revoked or has expired. Ask the account's Owner for a new one.".into()),
                ),
                token: String::new(),
            };
            Ok(render(StatusCode::NOT_FOUND, page))
        }
        Err(e) => Err(e.into()),
    }
}

async fn setup_page(
    state: &AppState,
    s: &SetupSession,
    out: Outcome,
    new_secret: Option<String>,
) -> Shown {
    let (status, notice, error) = out.banners();
    let (app, g) = (&state.app, &s.grant);
    let scim = app.scim_status(g, g.account).await?;
    let page = SetupPage {
        frame: Frame::public("Set up single sign-on", notice, error),
        csrf: s.csrf_token(),
        email: g.email.clone(),
        expires: g.expires_at.rfc3339_secs(),
        redirect_uri: app.sso_redirect_uri(),
        domains: app.sso_domains(g, g.account).await?,
        connections: app.sso_connections(g, g.account).await?,
        scim_base_url: scim.base_url,
        scim_enabled: scim.enabled,
        tokens: scim.tokens,
        new_secret,
    };
    Ok(render(status, page))
}

pub async fn page(State(state): State<AppState>, s: SetupSession) -> Shown {
    setup_page(&state, &s, Outcome::default(), None).await
}

fn stale() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        "the form is stale: reload the page",
    )
}

/// Runs a change of a checked form, then shows the page (the notice, or the refusal).
async fn change<Fut>(
    state: &AppState,
    s: &SetupSession,
    f: &Fields,
    notice: &str,
    act: Fut,
) -> Shown
where
    Fut: std::future::Future<Output = Result<Option<String>, AppError>>,
{
    if !s.csrf_ok(field(f, "csrf_token")) {
        return Err(stale());
    }
    match act.await {
        Ok(secret) => setup_page(state, s, Outcome::done(Some(notice.into())), secret).await,
        Err(e) => setup_page(state, s, Outcome::failed(e), None).await,
    }
}

pub async fn add_domain(
    State(state): State<AppState>,
    s: SetupSession,
    SiteForm(f): SiteForm<Fields>,
) -> Shown {
    let (app, g) = (&state.app, &s.grant);
    let act = async {
        app.add_sso_domain(g, g.account, field(&f, "domain"))
            .await
            .map(|_| None)
    };
    change(
        &state,
        &s,
        &f,
        "Domain added: publish its TXT record, then verify it.",
        act,
    )
    .await
}

pub async fn verify_domain(
    State(state): State<AppState>,
    Path(id): Path<String>,
    s: SetupSession,
    SiteForm(f): SiteForm<Fields>,
) -> Shown {
    let (app, g) = (&state.app, &s.grant);
    let act = async { app.verify_sso_domain(g, g.account, &id).await.map(|_| None) };
    change(&state, &s, &f, "Domain verified.", act).await
}

pub async fn add_connection(
    State(state): State<AppState>,
    s: SetupSession,
    SiteForm(f): SiteForm<Fields>,
) -> Shown {
    let (app, g) = (&state.app, &s.grant);
    let new = ConnectionChange {
        enabled: Some(true),
        ..super::sso_settings::connection_form(&f)
    };
    let act = async {
        app.create_sso_connection(g, g.account, new)
            .await
            .map(|_| None)
    };
    change(&state, &s, &f, "Connection added and enabled.", act).await
}

/// A test sign-in through a connection: the provider's page, then what it said (no session).
pub async fn test_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    s: SetupSession,
    SiteForm(f): SiteForm<Fields>,
) -> Shown {
    if !s.csrf_ok(field(&f, "csrf_token")) {
        return Err(stale());
    }
    let g = &s.grant;
    match state.app.test_sso_connection(g, g.account, &id).await {
        Ok(start) => Ok(super::sso::to_idp(&start.redirect_url)),
        Err(e) => setup_page(&state, &s, Outcome::failed(e), None).await,
    }
}

pub async fn scim_token(
    State(state): State<AppState>,
    s: SetupSession,
    SiteForm(f): SiteForm<Fields>,
) -> Shown {
    let (app, g) = (&state.app, &s.grant);
    let act = async {
        let issued = match field(&f, "token_id") {
            "" => app.create_scim_token(g, g.account, None).await?,
            id => app.rotate_scim_token(g, g.account, id, None).await?,
        };
        Ok(Some(issued.secret))
    };
    change(
        &state,
        &s,
        &f,
        "SCIM token made: copy it into your identity provider now.",
        act,
    )
    .await
}
