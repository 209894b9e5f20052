//! Me › Sessions: the person's sessions, revoking one or all the others.

use super::form::{SignedForm, Submit};
use super::{Chrome, Params, message, notice, render, to_login};
use crate::AppState;
use crate::api::dto::SessionDto;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;
use watchword_domain::SessionId;

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    sessions: Vec<SessionDto>,
}

pub async fn sessions(
    State(state): State<AppState>,
    s: Option<Session>,
    Query(q): Params,
) -> Response {
    let Some(s) = s else { return to_login() };
    let rows = match state.app.my_sessions(&s.actor).await {
        Ok(r) => r,
        Err(e) => return message(e).into_response(),
    };
    let page = SessionsPage {
        title: "My sessions",
        chrome: Some(Chrome::new(&s, None)),
        notice: notice(q.get("done").map(String::as_str)),
        error: None,
        csrf: s.csrf_token(),
        sessions: rows
            .iter()
            .map(|r| SessionDto::from_row(r, s.actor.session))
            .collect(),
    };
    render(StatusCode::OK, page)
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
