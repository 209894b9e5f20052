//! Audit streams: an account's audit log POSTed to its own SIEM (list, create, delete).

use super::dto::time;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiSession, Json, Path};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::audit_streams::{StreamRow, status};
use watchword_domain::AccountId;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStreamRequest {
    /// `https://…` (`http://` only to a loopback address), at most 2,000 characters.
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditStreamDto {
    pub id: String,
    pub url: String,
    /// `active`, `failing` (being retried) or `paused` (failed for 24 hours: nothing more is sent).
    pub status: String,
    pub created_at: String,
    pub delivered: i64,
    /// Events waiting to be accepted.
    pub pending: i64,
    pub last_delivered_at: Option<String>,
    pub failing_since: Option<String>,
    pub last_error: Option<String>,
    pub paused_at: Option<String>,
    /// The signing secret: in the answer that creates the stream only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<&StreamRow> for AuditStreamDto {
    fn from(s: &StreamRow) -> Self {
        Self {
            id: s.id.clone(),
            url: s.url.clone(),
            status: status(s).to_owned(),
            created_at: time(s.created_at),
            delivered: s.delivered,
            pending: s.pending,
            last_delivered_at: s.last_delivered_at.map(time),
            failing_since: s.failing_since.map(time),
            last_error: s.last_error.clone(),
            paused_at: s.paused_at.map(time),
            secret: None,
        }
    }
}

/// The account's audit streams (`account_settings:edit`).
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/audit-streams", operation_id = "list_audit_streams", tag = "audit",
    params(("account_id" = Uuid, Path)),
    responses((status = 200, body = Vec<AuditStreamDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<AuditStreamDto>>> {
    let rows = state.app.audit_streams(&s.actor, AccountId(id)).await?;
    Ok(Json(rows.iter().map(AuditStreamDto::from).collect()))
}

/// Stream the audit log to `url`: every event from now on is POSTed as JSON, in order, with
/// `X-Watchword-Signature: sha256=<hex HMAC-SHA256 of the body>` under the secret answered here
/// (once) and `X-Watchword-Event-Id`. Needs a recent sign-in; audited and alerted.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/audit-streams", operation_id = "create_audit_stream", tag = "audit",
    params(("account_id" = Uuid, Path)), request_body = NewStreamRequest,
    responses((status = 201, body = AuditStreamDto), (status = "4XX", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(req): Json<NewStreamRequest>,
) -> ApiResult<(StatusCode, Json<AuditStreamDto>)> {
    let (row, secret) = state
        .app
        .create_audit_stream(&s.actor, AccountId(id), &req.url)
        .await?;
    let mut dto = AuditStreamDto::from(&row);
    dto.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(dto)))
}

/// Stop streaming to this endpoint (its queue is dropped). Audited and alerted.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/audit-streams/{stream_id}", operation_id = "delete_audit_stream", tag = "audit",
    params(("account_id" = Uuid, Path), ("stream_id" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, stream)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    if stream.len() > 64 {
        return Err(ApiError::not_found());
    }
    state
        .app
        .delete_audit_stream(&s.actor, AccountId(id), &stream)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
