//! Account › Audit log: the account's events, newest first, filtered by action.

use super::Frame;
use super::page::{AccountPage, Shown};
use super::render;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
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
    frame: Frame,
    account_id: String,
    action: String,
    events: Vec<EventView>,
    next_cursor: Option<String>,
}

pub async fn audit(State(state): State<AppState>, p: AccountPage) -> Shown {
    let (s, q, id) = (&p.session, &p.query, p.account.0);
    let action = q.get("action").cloned().unwrap_or_default();
    let filter = Filter {
        action: Some(action.clone()).filter(|a| !a.is_empty()),
        before: q
            .get("cursor")
            .and_then(|c| watchword_domain::AuditEventId::parse(c)),
        limit: 100,
        ..Filter::default()
    };
    let (rows, next_cursor) = state
        .app
        .audit_events(&s.caller(), AccountId(id), filter)
        .await?;
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
        frame: Frame::signed_in("Audit log", s, Some(AccountId(id)), None, None),
        account_id: id.to_string(),
        action,
        events,
        next_cursor,
    };
    Ok(render(StatusCode::OK, page))
}
