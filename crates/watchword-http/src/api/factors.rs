//! A person's second factors: status, authenticator apps, renaming and removing, recovery codes.

use super::dto::*;
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiSession, Json, Path};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::factors::FactorView;

#[derive(Serialize, ToSchema)]
pub struct FactorDto {
    pub id: String,
    /// `totp`, `passkey` or `sms`.
    pub kind: &'static str,
    pub name: String,
    /// For `sms`: the number's last digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_hint: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&FactorView> for FactorDto {
    fn from(f: &FactorView) -> Self {
        Self {
            id: f.id.clone(),
            kind: f.kind,
            name: f.name.clone(),
            phone_hint: f.phone_hint.clone(),
            created_at: time(f.created_at),
            last_used_at: f.last_used_at.map(time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MfaDto {
    pub factors: Vec<FactorDto>,
    pub recovery_codes_left: i64,
    /// Three or fewer recovery codes left: regenerate them.
    pub recovery_codes_low: bool,
    /// Only one factor: add a backup method so you are never locked out.
    pub add_backup: bool,
    /// Your accounts that require MFA.
    pub enforced_by: Vec<Uuid>,
}

/// The caller's second factors.
#[utoipa::path(get, path = "/api/v1/me/mfa", tag = "me", responses((status = 200, body = MfaDto), (status = 401, body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Json<MfaDto>> {
    let m = state.app.mfa_status(&s.actor).await?;
    Ok(Json(MfaDto {
        factors: m.factors.iter().map(FactorDto::from).collect(),
        recovery_codes_left: m.recovery_codes_left,
        recovery_codes_low: m.recovery_codes_low,
        add_backup: m.add_backup,
        enforced_by: m.enforced_by.iter().map(|a| a.0).collect(),
    }))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct StartTotpRequest {
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentDto {
    pub factor_id: String,
    /// Base32, for typing into an app; shown this once.
    pub secret: String,
    /// `otpauth://totp/…`, what the QR code carries.
    pub otpauth_uri: String,
}

/// Start adding an authenticator app (authentication within 15 minutes): the secret, once.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp", tag = "me", request_body = StartTotpRequest,
    responses((status = 201, body = TotpEnrolmentDto), (status = "4XX", body = ErrorBody)))]
pub async fn start_totp(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<TotpEnrolmentDto>)> {
    let req: StartTotpRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StartTotpRequest::default()
    } else {
        super::keys::parse_json(&body)?
    };
    let e = state.app.start_totp(&s.actor, req.name.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(TotpEnrolmentDto {
            factor_id: e.factor_id,
            secret: e.secret_base32,
            otpauth_uri: e.otpauth_uri,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotpRequest {
    pub code: String,
    /// Which enrolment; the latest pending one when absent.
    pub factor_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConfirmedDto {
    pub factor: FactorDto,
    /// Ten single-use codes, shown this once, when this is your first factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

impl From<watchword_app::factors::Confirmed> for ConfirmedDto {
    fn from(c: watchword_app::factors::Confirmed) -> Self {
        Self {
            factor: FactorDto::from(&c.factor),
            recovery_codes: c.recovery_codes,
        }
    }
}

/// Confirm an authenticator app with a code from it.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "me", request_body = ConfirmTotpRequest,
    responses((status = 200, body = ConfirmedDto), (status = "4XX", body = ErrorBody)))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Json(req): Json<ConfirmTotpRequest>,
) -> ApiResult<Json<ConfirmedDto>> {
    let c = state
        .app
        .confirm_totp(&s.actor, req.factor_id.as_deref(), &req.code)
        .await?;
    Ok(Json(c.into()))
}

/// Remove a factor (authentication within 15 minutes). The last one stays while an account of
/// yours requires MFA (`409 last_factor_required`).
#[utoipa::path(delete, path = "/api/v1/me/mfa/{factor_id}", operation_id = "remove_factor", tag = "me", params(("factor_id" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.app.remove_factor(&s.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    pub name: String,
}

/// Rename a factor (e.g. "YubiKey on my keyring").
#[utoipa::path(patch, path = "/api/v1/me/mfa/{factor_id}", operation_id = "rename_factor", tag = "me", params(("factor_id" = String, Path)),
    request_body = RenameRequest, responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub async fn rename(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<String>,
    Json(req): Json<RenameRequest>,
) -> ApiResult<StatusCode> {
    state.app.rename_factor(&s.actor, &id, &req.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesDto {
    pub recovery_codes: Vec<String>,
}

/// Ten new recovery codes, shown this once; the old set stops working.
#[utoipa::path(post, path = "/api/v1/me/recovery-codes", tag = "me",
    responses((status = 201, body = RecoveryCodesDto), (status = "4XX", body = ErrorBody)))]
pub async fn regenerate(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
) -> ApiResult<(StatusCode, Json<RecoveryCodesDto>)> {
    let codes = state.app.regenerate_recovery_codes(&s.actor).await?;
    Ok((
        StatusCode::CREATED,
        Json(RecoveryCodesDto {
            recovery_codes: codes,
        }),
    ))
}
