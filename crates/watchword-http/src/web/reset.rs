//! Recovery pages: ask for a password reset link (the same answer for any email), set a new
//! password from the emailed link, and confirm a new login email from the link sent to it (a
//! button, so that a mail scanner opening the link changes nothing).

use super::Frame;
use super::form::{Fields, SiteForm, field};
use super::{Params, message, render};
use crate::AppState;
use crate::extract::ClientMeta;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use watchword_domain::password::Password;

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    frame: Frame,
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
            frame: Frame::public("Reset your password", notice, error),
            token,
        },
    )
}

pub async fn form(q: Params) -> Response {
    page(StatusCode::OK, q.get("token").cloned(), None, None)
}

pub async fn request(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<Fields>,
) -> Response {
    if let Err(e) = state
        .app
        .request_password_reset(field(&f, "email"), &meta)
        .await
    {
        let (status, msg) = super::message(e);
        return page(status, None, None, Some(msg));
    }
    page(
        StatusCode::OK,
        None,
        Some("If this email belongs to a login, a reset link is on its way. It works once, for an hour.".into()),
        None,
    )
}

pub async fn confirm(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<Fields>,
) -> Response {
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
            let (status, msg) = message(e);
            page(status, Some(token.to_owned()), None, Some(msg))
        }
    }
}

#[derive(Template)]
#[template(path = "confirm_email.html")]
struct ConfirmEmailPage {
    frame: Frame,
    token: Option<String>,
}

fn email_page(
    status: StatusCode,
    token: Option<String>,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    render(
        status,
        ConfirmEmailPage {
            frame: Frame::public("Confirm your new email", notice, error),
            token,
        },
    )
}

pub async fn email_form(q: Params) -> Response {
    email_page(StatusCode::OK, q.get("token").cloned(), None, None)
}

pub async fn email_confirm(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<Fields>,
) -> Response {
    match state
        .app
        .confirm_email_change(field(&f, "token"), &meta)
        .await
    {
        Ok(email) => email_page(
            StatusCode::OK,
            None,
            Some(format!("Done: you now sign in as {email}.")),
            None,
        ),
        Err(e) => {
            let (status, msg) = message(e);
            email_page(status, None, None, Some(msg))
        }
    }
}
