//! Account › Audit log: the account's events, newest first, filtered by action.

use super::{Chrome, Params, message, render, to_login};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;
use watchword_app::views::AuditFilter as Filter;
use watchword_domain::AccountId;

pub struct EventView {
    created_at: String,
    actor: String,
    action: String,
    target: String,
    ip: String,
    details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    account_id: String,
    action: String,
    events: Vec<EventView>,
    next_cursor: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Query(q): Params,
) -> Response {
    let Some(s) = s else { return to_login() };
    let action = q.get("action").cloned().unwrap_or_default();
    let filter = Filter {
        action: Some(action.clone()).filter(|a| !a.is_empty()),
        before: q
            .get("cursor")
            .and_then(|c| watchword_domain::AuditEventId::parse(c)),
        limit: 100,
        ..Filter::default()
    };
    let (rows, next_cursor) = match state
        .app
        .audit_events(&s.caller(), AccountId(id), filter)
        .await
    {
        Ok(r) => r,
        Err(e) => return message(e).into_response(),
    };
    let events = rows
        .iter()
        .map(|e| EventView {
            created_at: e.created_at.rfc3339(),
            actor: e
                .actor_email
                .clone()
                .unwrap_or_else(|| e.actor_kind.clone()),
            action: e.action.clone(),
            target: match (&e.target_kind, &e.target_id) {
                (Some(k), Some(i)) => format!("{k} {i}"),
                _ => String::new(),
            },
            ip: e.ip.clone().unwrap_or_default(),
            details: e.details.to_string(),
        })
        .collect();
    let page = AuditPage {
        title: "Audit log",
        chrome: Some(Chrome::new(&s, Some(AccountId(id)))),
        notice: None,
        error: None,
        account_id: id.to_string(),
        action,
        events,
        next_cursor,
    };
    render(StatusCode::OK, page)
}
