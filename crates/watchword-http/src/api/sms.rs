//! Text-message codes: adding a phone number, and asking for a code at login or step-up.
//! SMS is the weakest second factor (numbers can be ported or intercepted): prefer a passkey or
//! an authenticator app.

use super::factors::ConfirmedDto;
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiSession, ClientMeta, Json};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSmsRequest {
    /// International form, e.g. `+44 20 7946 0958`.
    pub phone: String,
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SmsSentDto {
    /// The factor the code belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factor_id: Option<String>,
    /// The number's last digits.
    pub phone_hint: String,
    pub expires_in_seconds: i64,
}

fn sent(factor_id: Option<String>, phone_hint: String) -> (StatusCode, Json<SmsSentDto>) {
    (
        StatusCode::ACCEPTED,
        Json(SmsSentDto {
            factor_id,
            phone_hint,
            expires_in_seconds: watchword_domain::sms::CODE_TTL_SECS,
        }),
    )
}

/// Start adding a phone number (authentication within 15 minutes): a code is texted to it.
#[utoipa::path(post, path = "/api/v1/me/mfa/sms", operation_id = "start_sms_factor", tag = "me", request_body = StartSmsRequest,
    responses((status = 202, body = SmsSentDto), (status = 429, body = ErrorBody, description = "sms_rate_limited"), (status = "4XX", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Json(req): Json<StartSmsRequest>,
) -> ApiResult<(StatusCode, Json<SmsSentDto>)> {
    let e = state
        .app
        .start_sms(&s.actor, &req.phone, req.name.as_deref())
        .await?;
    Ok(sent(Some(e.factor_id), e.phone_hint))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSmsRequest {
    pub code: String,
    /// Which enrolment; the latest when absent.
    pub factor_id: Option<String>,
}

/// Confirm a phone number with the code texted to it.
#[utoipa::path(post, path = "/api/v1/me/mfa/sms/confirm", operation_id = "confirm_sms_factor", tag = "me", request_body = ConfirmSmsRequest,
    responses((status = 200, body = ConfirmedDto), (status = "4XX", body = ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Json(req): Json<ConfirmSmsRequest>,
) -> ApiResult<Json<ConfirmedDto>> {
    let c = state
        .app
        .confirm_sms(&s.actor, req.factor_id.as_deref(), &req.code)
        .await?;
    Ok(Json(c.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginSmsRequest {
    pub challenge_id: String,
    /// Which phone; the latest added when absent.
    pub factor_id: Option<String>,
}

/// Text a code for the second step of a login; finish with `POST /api/v1/login/mfa`
/// (`method: sms`).
#[utoipa::path(post, path = "/api/v1/login/mfa/sms", operation_id = "send_login_sms", tag = "auth", request_body = LoginSmsRequest,
    responses((status = 202, body = SmsSentDto), (status = 401, body = ErrorBody, description = "invalid_code: the challenge is not live"),
        (status = 429, body = ErrorBody, description = "sms_rate_limited")))]
pub async fn login(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<LoginSmsRequest>,
) -> ApiResult<(StatusCode, Json<SmsSentDto>)> {
    let hint = state
        .app
        .send_login_sms(&req.challenge_id, req.factor_id.as_deref(), &meta)
        .await?;
    Ok(sent(None, hint))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct StepUpSmsRequest {
    pub factor_id: Option<String>,
}

/// Text a code for a step-up; finish with `POST /api/v1/me/reauthenticate` (`method: sms`).
#[utoipa::path(post, path = "/api/v1/me/reauthenticate/sms", tag = "me", request_body = StepUpSmsRequest,
    responses((status = 202, body = SmsSentDto), (status = 429, body = ErrorBody, description = "sms_rate_limited"), (status = "4XX", body = ErrorBody)))]
pub async fn step_up(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<SmsSentDto>)> {
    let req: StepUpSmsRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StepUpSmsRequest::default()
    } else {
        super::keys::parse_json(&body)?
    };
    let hint = state
        .app
        .send_step_up_sms(&s.actor, req.factor_id.as_deref())
        .await?;
    Ok(sent(None, hint))
}
