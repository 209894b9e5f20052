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
use watchword_app::views::InvitationPreview;
use watchword_domain::password::Password;

#[derive(Template)]
#[template(path = "accept.html")]
struct AcceptPage {
    frame: Frame,
    token: String,
    /// Signed in: the login that accepts, and the form's CSRF token.
    signed_in: Option<(String, String)>,
    /// Who invited whom to which account as what; None for a dead link.
    invitation: Option<InvitationPreview>,
    /// The name typed when the server refused the form.
    name: String,
}

impl AcceptPage {
    async fn new(
        state: &AppState,
        token: String,
        s: &Option<Session>,
        error: Option<String>,
    ) -> Self {
        let invitation = state.app.invitation_preview(&token).await.ok().flatten();
        let error = match (&invitation, error) {
            (_, Some(e)) => Some(e),
            (None, None) => {
                Some("This invitation link is invalid, used or expired: ask for a new one.".into())
            }
            (Some(_), None) => None,
        };
        Self {
            frame: Frame::public("Accept invitation", None, error),
            token,
            signed_in: s.as_ref().map(|s| (s.actor.email.clone(), s.csrf_token())),
            invitation,
            name: String::new(),
        }
    }
}

pub async fn accept_form(
    State(state): State<AppState>,
    s: Option<Session>,
    Query(q): Params,
) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    let page = AcceptPage::new(&state, token, &s, None).await;
    let status = if page.invitation.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    render(status, page)
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
            Some(s) => redirect_with_cookie(
                &format!("/accounts/{}", out.account),
                issue(&state, SessionMode::Cookie, &s).0,
            ),
            None => Redirect::to(&format!("/accounts/{}", out.account)).into_response(),
        },
        Err(e) => {
            let (status, msg) = message(e);
            let mut page = AcceptPage::new(&state, token.to_owned(), &s, Some(msg)).await;
            page.name = field(&f, "name").to_owned();
            render(status, page)
        }
    }
}
