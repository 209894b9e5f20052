//! Reading and exporting the audit log.

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiCaller, Path, Query};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use watchword_app::views::{AuditFilter as Filter, EventRow};
use watchword_domain::{AccountId, AuditEventId, Millis, PersonId};

/// Export stops after this many events; narrow the time range for more.
const EXPORT_MAX: usize = 100_000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Exact action, e.g. `member.invited`.
    pub action: Option<String>,
    /// Person id of the actor.
    pub actor: Option<Uuid>,
    /// Inclusive lower bound, RFC 3339.
    pub from: Option<String>,
    /// Exclusive upper bound, RFC 3339.
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<i64>,
    /// `json` (default, paginated), `jsonl` or `csv` (every matching event).
    pub format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventDto {
    pub id: Uuid,
    pub account_id: Option<Uuid>,
    /// `person`, `api_key` or `system`.
    pub actor_kind: String,
    pub actor_person_id: Option<Uuid>,
    pub actor_email: Option<String>,
    /// Public id of the API key that acted, for `actor_kind: api_key`.
    pub actor_key_id: Option<String>,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: String,
}

impl From<&EventRow> for AuditEventDto {
    fn from(e: &EventRow) -> Self {
        Self {
            id: e.id.0,
            account_id: e.account_id.map(|a| a.0),
            actor_kind: e.actor_kind.clone(),
            actor_person_id: e.actor_person_id.map(|p| p.0),
            actor_email: e.actor_email.clone(),
            actor_key_id: e.actor_key_id.clone(),
            action: e.action.clone(),
            target_kind: e.target_kind.clone(),
            target_id: e.target_id.clone(),
            ip: e.ip.clone(),
            user_agent: e.user_agent.clone(),
            details: e.details.clone(),
            created_at: e.created_at.rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEventDto>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn instant(field: &'static str, v: Option<&str>) -> Result<Option<Millis>, ApiError> {
    v.map(|s| {
        Millis::parse_rfc3339(s).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("{field} must be an RFC 3339 time"),
            )
        })
    })
    .transpose()
}

/// Audit events of the account, newest first; needs `audit_log:read`.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/audit-events", operation_id = "list_audit_events", tag = "audit", params(("account_id" = Uuid, Path), AuditQuery),
    responses((status = 200, body = AuditPage, description = "JSON page; JSON lines or CSV with `format`"), (status = "4XX", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let mut filter = Filter {
        action: q.action.clone(),
        actor: q.actor.map(PersonId),
        from: instant("from", q.from.as_deref())?,
        to: instant("to", q.to.as_deref())?,
        before: q.cursor.map(AuditEventId),
        limit: q.limit.unwrap_or(100),
        ..Filter::default()
    };
    let account = AccountId(id);
    let caller = caller.caller();
    let format = q.format.as_deref().unwrap_or("json");
    if format == "json" {
        let (rows, next) = state.app.audit_events(&caller, account, filter).await?;
        return Ok(axum::Json(AuditPage {
            events: rows.iter().map(Into::into).collect(),
            next_cursor: next,
        })
        .into_response());
    }
    if format != "jsonl" && format != "csv" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "format must be json, jsonl or csv",
        ));
    }
    let mut all: Vec<EventRow> = Vec::new();
    filter.limit = watchword_app::audit::MAX_PAGE;
    loop {
        let (rows, next) = state
            .app
            .audit_events(&caller, account, filter.clone())
            .await?;
        all.extend(rows);
        match next {
            Some(c) if all.len() < EXPORT_MAX => filter.before = AuditEventId::parse(&c),
            _ => break,
        }
    }
    if format == "jsonl" {
        let mut out = String::new();
        for e in &all {
            out.push_str(&serde_json::to_string(&AuditEventDto::from(e)).unwrap_or_default());
            out.push('\n');
        }
        return Ok(([(header::CONTENT_TYPE, "application/jsonl")], out).into_response());
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let head = [
        "id",
        "created_at",
        "action",
        "actor_kind",
        "actor_person_id",
        "actor_email",
        "actor_key_id",
        "target_kind",
        "target_id",
        "ip",
        "user_agent",
        "details",
    ];
    let csv_err = |e: csv::Error| ApiError::from(watchword_app::AppError::internal(e.to_string()));
    w.write_record(head).map_err(csv_err)?;
    for e in &all {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let record = [
            e.id.to_string(),
            e.created_at.rfc3339(),
            e.action.clone(),
            e.actor_kind.clone(),
            e.actor_person_id.map(|p| p.to_string()).unwrap_or_default(),
            opt(&e.actor_email),
            opt(&e.actor_key_id),
            e.target_kind.clone().unwrap_or_default(),
            opt(&e.target_id),
            opt(&e.ip),
            opt(&e.user_agent),
            e.details.to_string(),
        ];
        w.write_record(record.iter().map(|c| neutralise(c).into_owned()))
            .map_err(csv_err)?;
    }
    let bytes = w.into_inner().map_err(|e| csv_err(e.into_error().into()))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response())
}

/// OWASP's rule against CSV injection: a cell a spreadsheet would read as a formula (starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'` and so shown as text.
fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formula_cells_are_neutralised() {
        for cell in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(super::neutralise(cell), format!("'{cell}"));
        }
        for cell in ["Mozilla/5.0", "", "1-2", "a=b"] {
            assert_eq!(super::neutralise(cell), cell);
        }
    }
}
