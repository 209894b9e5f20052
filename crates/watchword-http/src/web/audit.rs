//! Account › Audit log: the account's events, newest first, filtered by action (a grouped
//! picker), actor (part of an email) and date range, 50 to a page; each event has a detail view
//! with its raw ids and details.

use super::Frame;
use super::page::{AccountPage, Shown, SignedIn};
use super::render;
use super::words::When;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;
use watchword_app::views::{AuditFilter as Filter, EventRow};
use watchword_domain::audit::AuditAction;
use watchword_domain::{AccountId, AuditEventId, Millis};

const PAGE: i64 = 50;

pub struct EventView {
    id: String,
    when: When,
    actor: String,
    action: String,
    action_code: String,
    target: String,
    ip: String,
}

/// A heading of the action picker and its actions (code, label).
pub struct ActionGroup {
    heading: &'static str,
    actions: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    frame: Frame,
    account_id: String,
    groups: Vec<ActionGroup>,
    action: String,
    actor: String,
    from: String,
    to: String,
    filtered: bool,
    events: Vec<EventView>,
    /// The query of the next (older) page, URL-encoded.
    older: Option<String>,
}

#[derive(Template)]
#[template(path = "audit_event.html")]
struct EventPage {
    frame: Frame,
    account_id: String,
    view: EventView,
    user_agent: String,
    target_kind: String,
    target_id: String,
    actor_kind: String,
    actor_id: String,
    /// Each detail's key and value (JSON for anything but text).
    details: Vec<(String, String)>,
}

fn groups() -> Vec<ActionGroup> {
    let mut out: Vec<ActionGroup> = Vec::new();
    let mut all = AuditAction::ALL.to_vec();
    all.sort_by_key(|a| (a.group(), a.label()));
    for a in all {
        match out.last_mut() {
            Some(g) if g.heading == a.group() => g.actions.push((a.as_str(), a.label())),
            _ => out.push(ActionGroup {
                heading: a.group(),
                actions: vec![(a.as_str(), a.label())],
            }),
        }
    }
    out
}

/// A day written `2026-12-07`, as the start of that day in UTC.
fn day(s: &str) -> Option<Millis> {
    Millis::parse_rfc3339(&format!("{s}T00:00:00Z"))
}

fn target_words(kind: &str) -> &'static str {
    match kind {
        "person" | "membership" => "a member no longer in the account",
        "api_key" => "a deleted API key",
        "oauth_app" | "oauth_grant" => "an app",
        "mfa_factor" => "a second factor",
        "session" => "a session",
        "device" => "a device",
        "role" => "a role",
        "sso_domain" => "a domain",
        "sso_connection" => "an SSO connection",
        "scim_token" => "a SCIM token",
        "scim_group" => "a group",
        "security_report" => "a security report",
        "audit_stream" => "an audit stream",
        "access_review" => "an access review",
        "account" => "the account",
        "advisory" => "a security advisory",
        _ => "",
    }
}

fn view(e: &EventRow) -> EventView {
    let actor = match (e.actor_kind.as_str(), &e.actor_email, &e.actor_key_name) {
        (_, Some(email), _) => email.clone(),
        ("api_key", None, Some(name)) => format!("API key “{name}”"),
        ("api_key", None, None) => "an API key".to_owned(),
        _ => "watchword (automatic)".to_owned(),
    };
    let action =
        AuditAction::parse(&e.action).map_or_else(|| e.action.clone(), |a| a.label().to_owned());
    let target = match (&e.target_name, e.target_kind.as_deref()) {
        (Some(name), _) => name.clone(),
        (None, Some(kind)) => target_words(kind).to_owned(),
        (None, None) => String::new(),
    };
    EventView {
        id: e.id.to_string(),
        when: When(e.created_at),
        actor,
        action,
        action_code: e.action.clone(),
        target,
        ip: e.ip.clone().unwrap_or_default(),
    }
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let set: Vec<_> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    serde_urlencoded::to_string(set).unwrap_or_default()
}

pub async fn audit(State(state): State<AppState>, p: AccountPage) -> Shown {
    let (s, q, account) = (&p.session, &p.query, p.account);
    let text = |k: &str| q.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let (action, actor, from, to) = (text("action"), text("actor"), text("from"), text("to"));
    let (mut status, mut error) = (StatusCode::OK, None);
    let mut date = |s: &str, what: &str| {
        if s.is_empty() {
            return None;
        }
        let d = day(s);
        if d.is_none() {
            status = StatusCode::BAD_REQUEST;
            error = Some(format!(
                "The {what} date is not a date: write it as 2026-12-07."
            ));
        }
        d
    };
    let (from_at, to_at) = (date(&from, "“from”"), date(&to, "“to”"));
    let filter = Filter {
        action: Some(action.clone()).filter(|a| AuditAction::parse(a).is_some()),
        actor_search: Some(actor.clone()).filter(|a| !a.is_empty()),
        from: from_at,
        // The "to" day is included: events before the start of the next day.
        to: to_at.map(|t| t.plus_secs(86_400)),
        before: q.get("cursor").and_then(|c| AuditEventId::parse(c)),
        limit: PAGE,
        ..Filter::default()
    };
    let (rows, next) = state.app.audit_events(&s.caller(), account, filter).await?;
    let older = next.map(|c| {
        encode(&[
            ("action", &action),
            ("actor", &actor),
            ("from", &from),
            ("to", &to),
            ("cursor", &c),
        ])
    });
    let page = AuditPage {
        frame: Frame::signed_in("Audit log", s, Some(account), None, error),
        account_id: account.to_string(),
        groups: groups(),
        filtered: !(action.is_empty() && actor.is_empty() && from.is_empty() && to.is_empty()),
        action,
        actor,
        from,
        to,
        events: rows.iter().map(view).collect(),
        older,
    };
    Ok(render(status, page))
}

pub async fn event(
    State(state): State<AppState>,
    SignedIn(session): SignedIn,
    Path((account, id)): Path<(Uuid, String)>,
) -> Shown {
    let (s, account) = (&session, AccountId(account));
    let id = AuditEventId::parse(&id).ok_or(watchword_app::AppError::NotFound)?;
    let e = state.app.audit_event(&s.caller(), account, id).await?;
    let details = match &e.details {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(t) => t.clone(),
                    other => other.to_string(),
                };
                (super::words::label(k), v)
            })
            .collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![("details".to_owned(), other.to_string())],
    };
    let page = EventPage {
        frame: Frame::signed_in("Audit event", s, Some(account), None, None),
        account_id: account.to_string(),
        user_agent: e.user_agent.clone().unwrap_or_default(),
        target_kind: e.target_kind.clone().unwrap_or_default(),
        target_id: e.target_id.clone().unwrap_or_default(),
        actor_kind: e.actor_kind.clone(),
        actor_id: e
            .actor_person_id
            .map(|p| p.to_string())
            .or_else(|| e.actor_key_id.clone())
            .unwrap_or_default(),
        details,
        view: view(&e),
    };
    Ok(render(StatusCode::OK, page))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_picker_lists_every_action_once_under_its_heading() {
        let groups = super::groups();
        let listed: usize = groups.iter().map(|g| g.actions.len()).sum();
        assert_eq!(listed, watchword_domain::audit::AuditAction::ALL.len());
        let mut headings: Vec<_> = groups.iter().map(|g| g.heading).collect();
        headings.dedup();
        assert_eq!(headings.len(), groups.len(), "each heading once");
    }
}
