//! The Security Contact of an account (Owners and Admins only; 404 for everyone else).

use super::dto::*;
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiSession, Json, Path, Query};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use watchword_app::contact::ContactView;
use watchword_app::views::HistoryRow;
use watchword_domain::{AccountId, MembershipId};

#[derive(Serialize, ToSchema)]
pub struct SecurityContactDto {
    pub member_id: Uuid,
    pub name: Option<String>,
    pub email: String,
    /// `default` (the Owner, following ownership transfers) or `manual` (picked).
    pub source: String,
    pub since: Option<String>,
    /// Person who picked it; absent for the default and automatic changes.
    pub set_by: Option<Uuid>,
    /// When the contact lapses unless they log in (365 days after their last login by default).
    pub lapses_at: Option<String>,
    /// True within 30 days (by default) of `lapses_at`.
    pub lapse_warning: bool,
}

impl From<&ContactView> for SecurityContactDto {
    fn from(v: &ContactView) -> Self {
        Self {
            member_id: v.member.id.0,
            name: v.member.name.clone(),
            email: v.member.email.clone(),
            source: v.source.clone(),
            since: v.since.map(time),
            set_by: v.set_by.map(|p| p.0),
            lapses_at: v.lapses_at.map(time),
            lapse_warning: v.lapse_warning,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetContactRequest {
    pub member_id: Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct ReasonDto {
    /// `not_privileged`, `inactive`, `no_recent_login` or `blocked_staff_role`.
    pub code: &'static str,
    pub message: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct CandidateDto {
    pub member_id: Uuid,
    pub name: Option<String>,
    pub email: String,
    pub role: RoleRefDto,
    pub eligible: bool,
    pub reasons: Vec<ReasonDto>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CandidateQuery {
    /// Prefix of a member's name (any word) or email.
    #[serde(default)]
    pub q: String,
}

#[derive(Serialize, ToSchema)]
pub struct ContactChangeDto {
    pub previous_member_id: Option<Uuid>,
    pub previous_email: Option<String>,
    pub new_member_id: Uuid,
    pub new_email: String,
    pub source: String,
    /// Who changed it: a person's name and email, or absent for an automatic change.
    pub actor: Option<String>,
    pub actor_person_id: Option<Uuid>,
    pub reason: Option<String>,
    pub at: String,
}

impl From<&HistoryRow> for ContactChangeDto {
    fn from(h: &HistoryRow) -> Self {
        Self {
            previous_member_id: h.previous_membership.map(|m| m.0),
            previous_email: h.previous_email.clone(),
            new_member_id: h.new_membership.0,
            new_email: h.new_email.clone(),
            source: h.source.clone(),
            actor: h.actor_email.clone(),
            actor_person_id: h.actor_person.map(|p| p.0),
            reason: h.reason.clone(),
            at: time(h.created_at),
        }
    }
}

/// The account's Security Contact.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/security-contact", operation_id = "get_security_contact", tag = "security contact", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = SecurityContactDto), (status = 404, body = ErrorBody, description = "also for roles other than Owner and Admin")))]
pub async fn get(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<SecurityContactDto>> {
    let v = state.app.security_contact(&s.actor, AccountId(id)).await?;
    Ok(Json((&v).into()))
}

/// Pick the Security Contact. Needs an authentication within the last 15 minutes
/// (`403 reauthentication_required`; see `POST /api/v1/me/reauthenticate`); an ineligible pick is
/// `422 ineligible_security_contact` with one field error per reason.
#[utoipa::path(put, path = "/api/v1/accounts/{account_id}/security-contact", operation_id = "set_security_contact", tag = "security contact", params(("account_id" = Uuid, Path)),
    request_body = SetContactRequest, responses((status = 200, body = SecurityContactDto), (status = "4XX", body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(req): Json<SetContactRequest>,
) -> ApiResult<Json<SecurityContactDto>> {
    let v = state
        .app
        .set_security_contact(&s.actor, AccountId(id), MembershipId(req.member_id))
        .await?;
    Ok(Json((&v).into()))
}

/// Members matching `q`, eligible ones first, ineligible ones with their reasons.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/security-contact/candidates", tag = "security contact",
    params(("account_id" = Uuid, Path), CandidateQuery), responses((status = 200, body = Vec<CandidateDto>), (status = 404, body = ErrorBody)))]
pub async fn candidates(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Query(q): Query<CandidateQuery>,
) -> ApiResult<Json<Vec<CandidateDto>>> {
    let found = state
        .app
        .contact_candidates(&s.actor, AccountId(id), &q.q)
        .await?;
    Ok(Json(
        found
            .iter()
            .map(|(m, reasons)| CandidateDto {
                member_id: m.id.0,
                name: m.name.clone(),
                email: m.email.clone(),
                role: RoleRefDto {
                    key: m.role.encode(),
                    name: m.role_name.clone(),
                },
                eligible: reasons.is_empty(),
                reasons: reasons
                    .iter()
                    .map(|r| ReasonDto {
                        code: r.code(),
                        message: r.message(),
                    })
                    .collect(),
            })
            .collect(),
    ))
}

/// Past changes of the Security Contact, newest first.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/security-contact/history", tag = "security contact", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = Vec<ContactChangeDto>), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<ContactChangeDto>>> {
    let rows = state.app.contact_history(&s.actor, AccountId(id)).await?;
    Ok(Json(rows.iter().map(Into::into).collect()))
}
