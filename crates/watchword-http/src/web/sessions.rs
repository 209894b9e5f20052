//! Me › Sessions: the person's sessions, revoking one or all the others, and the devices
//! (browsers) they signed in from, forgetting one.

use super::Frame;
use super::form::{SignedForm, Submit};
use super::page::{Shown, SignedIn};
use super::{Params, message, notice, render};
use crate::AppState;
use crate::api::devices::DeviceDto;
use crate::api::dto::SessionDto;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;
use watchword_domain::SessionId;

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    frame: Frame,
    csrf: String,
    sessions: Vec<SessionDto>,
    devices: Vec<DeviceDto>,
}

pub async fn sessions(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Query(q): Params,
) -> Shown {
    let rows = state.app.my_sessions(&s.actor).await?;
    let devices = state.app.my_devices(&s.actor).await?;
    let page = SessionsPage {
        frame: Frame::signed_in(
            "My sessions",
            &s,
            None,
            notice(q.get("done").map(String::as_str)),
            None,
        ),
        csrf: s.csrf_token(),
        sessions: rows
            .iter()
            .map(|r| SessionDto::from_row(r, s.actor.session))
            .collect(),
        devices: devices.into_iter().map(DeviceDto::from).collect(),
    };
    Ok(render(StatusCode::OK, page))
}

pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    f: SignedForm<Submit>,
) -> Response {
    match state
        .app
        .revoke_session(&f.session.actor, SessionId(id))
        .await
    {
        Ok(()) => Redirect::to("/me/sessions?done=revoked").into_response(),
        Err(e) => message(e).into_response(),
    }
}

pub async fn revoke_others(State(state): State<AppState>, f: SignedForm<Submit>) -> Response {
    match state.app.revoke_other_sessions(&f.session.actor).await {
        Ok(_) => Redirect::to("/me/sessions?done=revoked_others").into_response(),
        Err(e) => message(e).into_response(),
    }
}

pub async fn forget_device(
    State(state): State<AppState>,
    Path(id): Path<String>,
    f: SignedForm<Submit>,
) -> Response {
    match state.app.forget_device(&f.session.actor, &id).await {
        Ok(()) => Redirect::to("/me/sessions?done=device_forgotten").into_response(),
        Err(e) => message(e).into_response(),
    }
}
