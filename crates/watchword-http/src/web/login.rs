//! Logging in and out: the password step, the second step, logout.

use super::Frame;
use super::form::{SignedForm, SiteForm, Submit};
use super::{Params, message, notice, redirect_with_cookie, render};
use crate::AppState;
use crate::api::sessions::issue;
use crate::extract::{ClientMeta, Session, clear_session_cookie};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use watchword_app::mfa::Proof;
use watchword_app::sessions::SessionMode;
use watchword_app::signin::LoginOutcome;
use watchword_domain::password::Password;

pub async fn index(s: Option<Session>) -> Response {
    Redirect::to(if s.is_some() { "/app" } else { "/login" }).into_response()
}

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    frame: Frame,
    email: String,
}

impl LoginPage {
    pub(super) fn new(email: String, notice: Option<String>, error: Option<String>) -> Self {
        Self {
            frame: Frame::public("Log in", notice, error),
            email,
        }
    }
}

#[derive(Template)]
#[template(path = "login_mfa.html")]
pub(super) struct LoginMfaPage {
    frame: Frame,
    challenge_id: String,
    methods: Vec<&'static str>,
    /// The methods answered with a typed code.
    codes: Vec<&'static str>,
}

impl LoginMfaPage {
    pub(super) fn new(
        challenge_id: String,
        methods: Vec<&'static str>,
        error: Option<String>,
    ) -> Self {
        Self {
            frame: Frame::public("Two-step verification", None, error),
            challenge_id,
            codes: methods
                .iter()
                .copied()
                .filter(|m| *m != "passkey")
                .collect(),
            methods,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SecondStepForm {
    challenge_id: String,
    method: String,
    code: String,
    send_sms: String,
    /// "Lost every factor?": file an assisted recovery request instead.
    lost_factors: String,
}

pub async fn login_form(Query(q): Params) -> Response {
    let done = notice(q.get("done").map(String::as_str));
    render(StatusCode::OK, LoginPage::new(String::new(), done, None))
}

pub async fn login(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<LoginForm>,
) -> Response {
    let pw = Password::new(f.password);
    match state
        .app
        .login(&f.email, pw, SessionMode::Cookie, &meta)
        .await
    {
        Ok(LoginOutcome::Session(s)) => {
            redirect_with_cookie("/app", issue(&state, SessionMode::Cookie, &s).0)
        }
        Ok(LoginOutcome::Challenge {
            challenge_id,
            methods,
        }) => render(
            StatusCode::OK,
            LoginMfaPage::new(challenge_id, methods, None),
        ),
        Err(e) => {
            let (status, msg) = message(e);
            render(status, LoginPage::new(f.email, None, Some(msg)))
        }
    }
}

/// The second step of a login: a code for the challenge the password step issued.
pub async fn login_mfa(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<SecondStepForm>,
) -> Response {
    let challenge = f.challenge_id.as_str();
    let app = &state.app;
    let again = |error: Option<String>| async move {
        let methods = app.challenge_methods(challenge).await;
        LoginMfaPage::new(challenge.to_owned(), methods, error)
    };
    if !f.lost_factors.is_empty() {
        return match state.app.request_recovery(challenge, &meta).await {
            Ok(_) => render(
                StatusCode::ACCEPTED,
                LoginPage::new(
                    String::new(),
                    Some(
                        "Recovery requested. An Owner or the Security Contact of one of your accounts must approve it after checking it is you; you are emailed at each step, and once the waiting time is over your next login with your password lets you add a new second factor."
                            .into(),
                    ),
                    None,
                ),
            ),
            Err(e) => {
                let (status, msg) = message(e);
                render(status, again(Some(msg)).await)
            }
        };
    }
    if !f.send_sms.is_empty() {
        let (status, mut page) = match state.app.send_login_sms(challenge, None, &meta).await {
            Ok(hint) => {
                let mut page = again(None).await;
                page.frame.notice =
                    Some(format!("A code is on its way to your phone ending {hint}."));
                (StatusCode::OK, page)
            }
            Err(e) => {
                let (status, msg) = message(e);
                (status, again(Some(msg)).await)
            }
        };
        // The texted code is what the person types next.
        page.codes.sort_by_key(|m| *m != "sms");
        return render(status, page);
    }
    match state
        .app
        .login_mfa(challenge, &f.method, Proof::Code(&f.code), &meta)
        .await
    {
        Ok(s) => redirect_with_cookie("/app", issue(&state, SessionMode::Cookie, &s).0),
        Err(e) => {
            let (status, msg) = message(e);
            render(status, again(Some(msg)).await)
        }
    }
}

pub async fn logout(State(state): State<AppState>, f: SignedForm<Submit>) -> Response {
    if let Err(e) = state.app.logout(&f.session.actor).await {
        return message(e).into_response();
    }
    redirect_with_cookie(
        "/login",
        HeaderValue::from_str(&clear_session_cookie()).ok(),
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CancelForm {
    token: String,
}

#[derive(Template)]
#[template(path = "recovery_cancel.html")]
struct CancelPage {
    frame: Frame,
    token: String,
    done: bool,
}

/// "This wasn't me" from a recovery request's email: a button, so a mail scanner following the
/// link cancels nothing.
pub async fn recovery_cancel_page(Query(q): Params) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    let frame = Frame::public("Cancel the account recovery", None, None);
    render(
        StatusCode::OK,
        CancelPage {
            frame,
            token,
            done: false,
        },
    )
}

pub async fn recovery_cancel(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<CancelForm>,
) -> Response {
    let (status, error) = match state.app.cancel_recovery_by_link(&f.token, &meta).await {
        Ok(()) => (StatusCode::OK, None),
        Err(e) => {
            let (status, msg) = message(e);
            (status, Some(msg))
        }
    };
    let done = error.is_none();
    let frame = Frame::public("Cancel the account recovery", None, error);
    render(
        status,
        CancelPage {
            frame,
            token: f.token,
            done,
        },
    )
}
