//! "This wasn't me": the link of a new sign-in email. Opening it shows the sign-in and a
//! button; only the button changes anything (mail scanners open links).

use super::Frame;
use super::form::{Fields, SiteForm, field};
use super::{Params, render};
use crate::AppState;
use crate::extract::ClientMeta;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use watchword_app::devices::SignInReport;

#[derive(Template)]
#[template(path = "not_me.html")]
struct NotMePage {
    frame: Frame,
    token: String,
    /// The sign-in the link is about; None once used, expired or unknown.
    report: Option<SignInReport>,
    done: bool,
}

const GONE: &str = "This link is used, expired or unknown. If you still think someone else \
    signed in, reset your password and review your sessions and devices.";

pub async fn show(State(state): State<AppState>, q: Params) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    let report = match token.len() {
        1..=100 => state.app.sign_in_report(&token).await.ok().flatten(),
        _ => None,
    };
    let status = if report.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    let error = report.is_none().then(|| GONE.to_owned());
    render(
        status,
        NotMePage {
            frame: Frame::public("Report a sign-in that was not you", None, error),
            token,
            report,
            done: false,
        },
    )
}

pub async fn confirm(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<Fields>,
) -> Response {
    let token = field(&f, "token");
    let result = match token.len() {
        1..=100 => state.app.report_sign_in(token, &meta).await,
        _ => Ok(false),
    };
    match result {
        Ok(true) => render(
            StatusCode::OK,
            NotMePage {
                frame: Frame::public(
                    "Report a sign-in that was not you",
                    Some(
                        "Done: that browser is signed out and your password no longer works. \
                         Reset it now (Forgot password), and if you administer an account, its \
                         Security Contact has been told."
                            .into(),
                    ),
                    None,
                ),
                token: String::new(),
                report: None,
                done: true,
            },
        ),
        Ok(false) => render(
            StatusCode::NOT_FOUND,
            NotMePage {
                frame: Frame::public("Report a sign-in that was not you", None, Some(GONE.into())),
                token: String::new(),
                report: None,
                done: false,
            },
        ),
        Err(e) => {
            let (status, msg) = super::message(e);
            render(
                status,
                NotMePage {
                    frame: Frame::public("Report a sign-in that was not you", None, Some(msg)),
                    token: String::new(),
                    report: None,
                    done: false,
                },
            )
        }
    }
}
