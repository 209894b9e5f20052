//! Accepting an invitation: a new person sets a name and password; an existing login accepts
//! signed in as itself (the form then carries the session's CSRF token).

use super::Frame;
use super::form::{SiteForm, field, forbidden};
use super::{Params, message, redirect_with_cookie, render};
use crate::AppState;
use crate::api::sessions::issue;
use crate::extract::{ClientMeta, Session};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use watchword_app::sessions::SessionMode;
use watchword_domain::password::Password;

#[derive(Template)]
#[template(path = "accept.html")]
struct AcceptPage {
    frame: Frame,
    token: String,
    /// Signed in: the login that accepts, and the form's CSRF token.
    signed_in: Option<(String, String)>,
}

impl AcceptPage {
    fn new(token: String, s: &Option<Session>, error: Option<String>) -> Self {
        Self {
            frame: Frame::public("Accept invitation", None, error),
            token,
            signed_in: s.as_ref().map(|s| (s.actor.email.clone(), s.csrf_token())),
        }
    }
}

pub async fn accept_form(s: Option<Session>, Query(q): Params) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    render(StatusCode::OK, AcceptPage::new(token, &s, None))
}

pub async fn accept(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    s: Option<Session>,
    SiteForm(f): SiteForm<super::form::Fields>,
) -> Response {
    // Signed in, the form must carry the session's CSRF token too.
    if let Some(s) = &s
        && !s.csrf_ok(Some(field(&f, "csrf_token")))
    {
        return forbidden();
    }
    let name = Some(field(&f, "name")).filter(|n| !n.is_empty());
    let pw = Some(field(&f, "password"))
        .filter(|p| !p.is_empty())
        .map(|p| Password::new(p.to_owned()));
    let token = field(&f, "token");
    match state
        .app
        .accept_invitation(
            s.as_ref().map(|s| &s.actor),
            token,
            name,
            pw,
            SessionMode::Cookie,
            &meta,
        )
        .await
    {
        Ok(out) => match out.session {
            Some(s) => redirect_with_cookie("/app", issue(&state, SessionMode::Cookie, &s).0),
            None => Redirect::to(&format!("/accounts/{}", out.account)).into_response(),
        },
        Err(e) => {
            let (status, msg) = message(e);
            render(status, AcceptPage::new(token.to_owned(), &s, Some(msg)))
        }
    }
}
