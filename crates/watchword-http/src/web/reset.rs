//! Password reset pages: ask for a link (the same answer for any email), then set a new password
//! from the emailed link.

use super::pages::{Fields, Params, field};
use super::{message, render, same_origin};
use crate::AppState;
use crate::extract::ClientMeta;
use askama::Template;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use watchword_domain::password::Password;

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    title: &'static str,
    chrome: Option<super::Chrome>,
    notice: Option<String>,
    error: Option<String>,
    /// The emailed token: the page asks for a new password; else for an email.
    token: Option<String>,
}

fn page(
    status: StatusCode,
    token: Option<String>,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    render(
        status,
        ResetPage {
            title: "Reset your password",
            chrome: None,
            notice,
            error,
            token,
        },
    )
}

pub async fn form(q: Params) -> Response {
    page(StatusCode::OK, q.get("token").cloned(), None, None)
}

pub async fn request(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientMeta(meta): ClientMeta,
    Form(f): Form<Fields>,
) -> Response {
    if !same_origin(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    state.app.request_password_reset(field(&f, "email"), &meta);
    page(
        StatusCode::OK,
        None,
        Some("If this email belongs to a login, a reset link is on its way. It works once, for an hour.".into()),
        None,
    )
}

pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientMeta(meta): ClientMeta,
    Form(f): Form<Fields>,
) -> Response {
    if !same_origin(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let token = field(&f, "token");
    match state
        .app
        .confirm_password_reset(
            token,
            Password::new(field(&f, "new_password").to_owned()),
            &meta,
        )
        .await
    {
        Ok(()) => Redirect::to("/login?done=password_reset").into_response(),
        Err(e) => {
            let (status, msg) = message(&e);
            page(status, Some(token.to_owned()), None, Some(msg))
        }
    }
}
