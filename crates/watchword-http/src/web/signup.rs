//! Signing up: the form that sends the emailed link, and the link's page that creates the
//! account (a button, so a mail scanner that opens the link creates nothing).

use super::Frame;
use super::form::SiteForm;
use super::{Params, message, redirect_with_cookie, render};
use crate::AppState;
use crate::api::sessions::issue;
use crate::extract::ClientMeta;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use watchword_app::sessions::SessionMode;
use watchword_app::signup::SignupInput;
use watchword_domain::password::Password;

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    frame: Frame,
    account_name: String,
    name: String,
    email: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignupForm {
    account_name: String,
    name: String,
    email: String,
    password: String,
}

pub async fn signup_form() -> Response {
    let page = SignupPage {
        frame: Frame::public("Sign up", None, None),
        account_name: String::new(),
        name: String::new(),
        email: String::new(),
    };
    render(StatusCode::OK, page)
}

pub async fn signup(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<SignupForm>,
) -> Response {
    let input = SignupInput {
        account_name: f.account_name.clone(),
        name: f.name.clone(),
        email: f.email.clone(),
        password: Password::new(f.password),
    };
    let (status, notice, error) = match state.app.request_signup(input, &meta).await {
        Ok(()) => (
            StatusCode::OK,
            Some(format!(
                "Check your email: we sent a link to {} that creates the account. It works once, for 24 hours.",
                f.email
            )),
            None,
        ),
        Err(e) => {
            let (status, msg) = message(e);
            (status, None, Some(msg))
        }
    };
    let page = SignupPage {
        frame: Frame::public("Sign up", notice, error),
        account_name: f.account_name,
        name: f.name,
        email: f.email,
    };
    render(status, page)
}

#[derive(Template)]
#[template(path = "signup_confirm.html")]
struct SignupConfirmPage {
    frame: Frame,
    token: Option<String>,
    /// The email and account name the link creates.
    preview: Option<(String, String)>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    token: String,
}

pub async fn signup_confirm_form(State(state): State<AppState>, Query(q): Params) -> Response {
    let token = q.get("token").cloned();
    let preview = match &token {
        Some(t) => state.app.signup_preview(t).await.ok().flatten(),
        None => None,
    };
    let (status, error) = match preview {
        Some(_) => (StatusCode::OK, None),
        None => (
            StatusCode::NOT_FOUND,
            Some("This signup link is invalid, used or expired: sign up again.".to_owned()),
        ),
    };
    let page = SignupConfirmPage {
        frame: Frame::public("Create your account", None, error),
        token: token.filter(|_| preview.is_some()),
        preview,
    };
    render(status, page)
}

pub async fn signup_confirm(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<TokenForm>,
) -> Response {
    match state
        .app
        .confirm_signup(&f.token, SessionMode::Cookie, &meta)
        .await
    {
        Ok(out) => redirect_with_cookie(
            &format!("/accounts/{}/security?welcome=1", out.account),
            issue(&state, SessionMode::Cookie, &out.session).0,
        ),
        Err(e) => {
            let (status, msg) = message(e);
            let page = SignupConfirmPage {
                frame: Frame::public("Create your account", None, Some(msg)),
                token: None,
                preview: None,
            };
            render(status, page)
        }
    }
}
