//! Assisted recovery for a person who lost every second factor: filed after the password,
//! approved by an Owner or the Security Contact of one of their accounts, usable after a delay,
//! cancellable by any of them or by the person.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiSession, ClientMeta, Json, Path};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::assisted_recovery::RecoveryView;
use watchword_app::views::RecoveryRow;
use watchword_domain::AccountId;

#[derive(Serialize, ToSchema)]
pub struct RecoveryDto {
    pub id: String,
    /// `pending` (waiting for an approval), `approved` (waiting for its delay), `usable`.
    pub status: &'static str,
    pub created_at: String,
    /// Where it was filed from.
    pub ip: String,
    /// From then on the person's next password login removes every factor.
    pub usable_at: Option<String>,
    /// The person (approvers' lists only).
    pub email: Option<String>,
    pub name: Option<String>,
}

impl RecoveryDto {
    fn of(r: &RecoveryRow, who: Option<(&str, &str)>) -> Self {
        let now = watchword_domain::Millis::now();
        Self {
            id: r.id.clone(),
            status: match r.usable_at {
                None => "pending",
                Some(at) if at > now => "approved",
                Some(_) => "usable",
            },
            created_at: r.created_at.rfc3339(),
            ip: r.ip.clone(),
            usable_at: r.usable_at.map(|m| m.rfc3339()),
            email: who.map(|w| w.0.to_owned()),
            name: who.map(|w| w.1.to_owned()),
        }
    }
}

impl From<&RecoveryView> for RecoveryDto {
    fn from(v: &RecoveryView) -> Self {
        Self::of(&v.row, Some((&v.email, &v.name)))
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RecoveryRequest {
    /// The challenge of the login whose password matched (`POST /api/v1/login`).
    pub challenge_id: String,
}

/// "Lost every factor?": file a recovery request after the password (3 a day; one open).
#[utoipa::path(post, path = "/api/v1/login/recovery", tag = "auth", request_body = RecoveryRequest,
    responses((status = 202, body = RecoveryDto), (status = "4XX", body = ErrorBody)))]
pub async fn request(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<RecoveryRequest>,
) -> ApiResult<(StatusCode, Json<RecoveryDto>)> {
    let row = state.app.request_recovery(&req.challenge_id, &meta).await?;
    Ok((StatusCode::ACCEPTED, Json(RecoveryDto::of(&row, None))))
}

#[derive(Deserialize, ToSchema)]
pub struct CancelByLink {
    /// The token of the "This wasn't me" link.
    pub token: String,
}

/// "This wasn't me": cancel a recovery request with the link of its first email.
#[utoipa::path(post, path = "/api/v1/recovery/cancel", tag = "auth", request_body = CancelByLink,
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub async fn cancel_by_link(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<CancelByLink>,
) -> ApiResult<StatusCode> {
    state.app.cancel_recovery_by_link(&req.token, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open recovery requests of the account's members (its Owner and Security Contact).
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/recovery-requests", tag = "members", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = Vec<RecoveryDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(a): Path<Uuid>,
) -> ApiResult<Json<Vec<RecoveryDto>>> {
    let v = state.app.recovery_requests(&s.actor, AccountId(a)).await?;
    Ok(Json(v.iter().map(Into::into).collect()))
}

/// Approve a recovery (an Owner or the Security Contact, recent sign-in; never the requester,
/// never someone the requester made an administrator in the last 7 days).
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/recovery-requests/{request_id}/approve", tag = "members",
    params(("account_id" = Uuid, Path), ("request_id" = String, Path)),
    responses((status = 200, body = RecoveryDto), (status = "4XX", body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((a, id)): Path<(Uuid, String)>,
) -> ApiResult<Json<RecoveryDto>> {
    let row = state
        .app
        .approve_recovery(&s.actor, AccountId(a), &id)
        .await?;
    Ok(Json(RecoveryDto::of(&row, None)))
}

/// Cancel a recovery (an Owner or the Security Contact, or the person).
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/recovery-requests/{request_id}/cancel", tag = "members",
    params(("account_id" = Uuid, Path), ("request_id" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((a, id)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    state
        .app
        .cancel_recovery(&s.actor, AccountId(a), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RecoveryDelay {
    /// 1–168 hours between an approval and its use.
    #[schema(example = 24)]
    pub delay_hours: i64,
}

/// Set how long an approved recovery waits (the Owner, recent sign-in).
#[utoipa::path(put, path = "/api/v1/accounts/{account_id}/settings/recovery", tag = "accounts", params(("account_id" = Uuid, Path)),
    request_body = RecoveryDelay, responses((status = 200, body = RecoveryDelay), (status = "4XX", body = ErrorBody)))]
pub async fn set_delay(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(a): Path<Uuid>,
    Json(req): Json<RecoveryDelay>,
) -> ApiResult<Json<RecoveryDelay>> {
    let h = state
        .app
        .set_recovery_delay(&s.actor, AccountId(a), req.delay_hours)
        .await?;
    Ok(Json(RecoveryDelay { delay_hours: h }))
}
