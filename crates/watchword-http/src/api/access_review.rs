//! Access reviews of an account (Owners and Admins: `users:manage`).

use super::dto::*;
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiSession, Json, Path};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::access_reviews::AccessReview;
use watchword_app::views::ReviewRow;
use watchword_domain::AccountId;

#[derive(Serialize, ToSchema)]
pub struct ReviewedMemberDto {
    #[serde(flatten)]
    pub member: MemberDto,
    pub has_mfa: bool,
    /// What to look at: `inactive` (no login in 90 days), `no_mfa`, `administrator`,
    /// `operator_staff`, `stale_invitation` (open 14 days), `deactivated`.
    pub flags: Vec<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct CompletedReviewDto {
    pub id: String,
    pub reviewer_email: String,
    pub members: i64,
    pub flagged: i64,
    pub note: String,
    pub completed_at: String,
}

impl From<&ReviewRow> for CompletedReviewDto {
    fn from(r: &ReviewRow) -> Self {
        Self {
            id: r.id.clone(),
            reviewer_email: r.reviewer_email.clone(),
            members: r.members,
            flagged: r.flagged,
            note: r.note.clone(),
            completed_at: time(r.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccessReviewDto {
    pub members: Vec<ReviewedMemberDto>,
    pub flagged: usize,
    pub last_review: Option<CompletedReviewDto>,
    /// No review completed in the last 90 days.
    pub due: bool,
    /// API keys and SCIM tokens that expire within 14 days, soonest first.
    pub expiring: Vec<ExpiringDto>,
}

#[derive(Serialize, ToSchema)]
pub struct ExpiringDto {
    /// `api_key` or `scim_token`.
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub expires_at: String,
    pub created_by_email: String,
}

impl From<&AccessReview> for AccessReviewDto {
    fn from(r: &AccessReview) -> Self {
        Self {
            members: r
                .members
                .iter()
                .map(|m| ReviewedMemberDto {
                    member: (&m.member).into(),
                    has_mfa: m.has_mfa,
                    flags: m.flags.clone(),
                })
                .collect(),
            flagged: r.flagged(),
            last_review: r.last.as_ref().map(Into::into),
            due: r.due,
            expiring: r
                .expiring
                .iter()
                .map(|k| ExpiringDto {
                    kind: k.kind,
                    id: k.id.clone(),
                    name: k.name.clone(),
                    expires_at: k.expires_at.rfc3339(),
                    created_by_email: k.created_by_email.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteReviewRequest {
    #[serde(default)]
    pub note: String,
}

/// Every member with what to look at, the last completed review and whether one is due.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/access-review", operation_id = "get_access_review", tag = "members", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = AccessReviewDto), (status = 403, body = ErrorBody, description = "forbidden: needs users:manage")))]
pub async fn get(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<AccessReviewDto>> {
    let r = state.app.access_review(&s.actor, AccountId(id)).await?;
    Ok(Json((&r).into()))
}

/// Record that the caller reviewed the account's access now (audit `access_review.completed`).
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/access-review", operation_id = "complete_access_review", tag = "members", params(("account_id" = Uuid, Path)),
    request_body = CompleteReviewRequest,
    responses((status = 201, body = CompletedReviewDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody, description = "invalid_note")))]
pub async fn complete(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(body): Json<CompleteReviewRequest>,
) -> ApiResult<(StatusCode, Json<CompletedReviewDto>)> {
    let r = state
        .app
        .complete_access_review(&s.actor, AccountId(id), &body.note)
        .await?;
    Ok((StatusCode::CREATED, Json((&r).into())))
}
