//! The acknowledgement link of an operator advisory: the page shows the advisory and a button;
//! only the button records the acknowledgement (mail scanners open links).

use super::Frame;
use super::form::{Fields, SiteForm, field};
use super::{Params, render};
use crate::AppState;
use crate::extract::ClientMeta;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use watchword_app::advisories::AdvisoryNotice;

#[derive(Template)]
#[template(path = "advisory_ack.html")]
struct AckPage {
    frame: Frame,
    token: String,
    notice: Option<AdvisoryNotice>,
}

const UNKNOWN: &str = "This acknowledgement link is unknown (a reminder or a new contact's \
    email replaces an earlier link).";

fn page(status: StatusCode, token: String, notice: Option<AdvisoryNotice>) -> Response {
    let (info, error) = match &notice {
        None => (None, Some(UNKNOWN.to_owned())),
        Some(n) if n.acknowledged => (Some("Acknowledged. Thank you.".to_owned()), None),
        Some(_) => (None, None),
    };
    render(
        status,
        AckPage {
            frame: Frame::public("Security advisory", info, error),
            token,
            notice,
        },
    )
}

pub async fn show(State(state): State<AppState>, q: Params) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    let notice = match token.len() {
        1..=100 => state.app.advisory_notice(&token).await.ok().flatten(),
        _ => None,
    };
    let status = if notice.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    page(status, token, notice)
}

pub async fn acknowledge(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<Fields>,
) -> Response {
    let token = field(&f, "token").to_owned();
    let done = match token.len() {
        1..=100 => state.app.acknowledge_advisory(&token, &meta).await,
        _ => Ok(false),
    };
    match done {
        Ok(true) => {
            let notice = state.app.advisory_notice(&token).await.ok().flatten();
            page(StatusCode::OK, token, notice)
        }
        Ok(false) => page(StatusCode::NOT_FOUND, String::new(), None),
        Err(e) => {
            let (status, msg) = super::message(e);
            render(
                status,
                AckPage {
                    frame: Frame::public("Security advisory", None, Some(msg)),
                    token: String::new(),
                    notice: None,
                },
            )
        }
    }
}
