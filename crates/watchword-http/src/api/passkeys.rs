//! Passkeys (WebAuthn): registration, the options a browser needs for each ceremony, and
//! passwordless sign-in. Options are webauthn-rs's JSON, ready for
//! `PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey)` (or `…RequestOptions…`);
//! answers are the browser's `credential.toJSON()`.

use super::dto::SessionModeDto;
use super::factors::ConfirmedDto;
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiSession, ClientMeta, Json};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use watchword_app::passkeys::Ceremony;

#[derive(Serialize, ToSchema)]
pub struct CeremonyDto {
    /// Send back with the answer; valid 5 minutes, once.
    pub ceremony_id: String,
    /// `{"publicKey": …}` for `navigator.credentials.create()` or `.get()`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

impl From<Ceremony> for CeremonyDto {
    fn from(c: Ceremony) -> Self {
        Self {
            ceremony_id: c.ceremony_id,
            options: c.options,
        }
    }
}

/// Start adding a passkey or security key (authentication within 15 minutes).
#[utoipa::path(post, path = "/api/v1/me/mfa/passkeys", operation_id = "start_passkey", tag = "me",
    responses((status = 201, body = CeremonyDto), (status = "4XX", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
) -> ApiResult<(StatusCode, Json<CeremonyDto>)> {
    let c = state.app.start_passkey(&s.actor).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRequest {
    pub ceremony_id: String,
    pub name: Option<String>,
    /// The browser's `credential.toJSON()`.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Finish adding a passkey with the browser's answer.
#[utoipa::path(post, path = "/api/v1/me/mfa/passkeys/confirm", tag = "me", request_body = FinishRequest,
    responses((status = 200, body = ConfirmedDto), (status = "4XX", body = ErrorBody)))]
pub async fn finish(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Json(req): Json<FinishRequest>,
) -> ApiResult<Json<ConfirmedDto>> {
    let c = state
        .app
        .finish_passkey(
            &s.actor,
            &req.ceremony_id,
            req.name.as_deref(),
            &req.credential,
        )
        .await?;
    Ok(Json(c.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRef {
    pub challenge_id: String,
}

/// Passkey options for the second step of a login (`challenge_id` from `POST /api/v1/login`).
#[utoipa::path(post, path = "/api/v1/login/mfa/passkey-options", tag = "auth", request_body = ChallengeRef,
    responses((status = 200, body = CeremonyDto), (status = "4XX", body = ErrorBody)))]
pub async fn login_options(
    State(state): State<AppState>,
    Json(req): Json<ChallengeRef>,
) -> ApiResult<Json<CeremonyDto>> {
    Ok(Json(
        state
            .app
            .login_passkey_options(&req.challenge_id)
            .await?
            .into(),
    ))
}

/// Passkey options to confirm a sensitive action (then `POST /api/v1/me/reauthenticate`).
#[utoipa::path(post, path = "/api/v1/me/reauthenticate/passkey-options", tag = "me",
    responses((status = 200, body = CeremonyDto), (status = "4XX", body = ErrorBody)))]
pub async fn reauth_options(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Json<CeremonyDto>> {
    Ok(Json(
        state
            .app
            .reauthenticate_passkey_options(&s.actor)
            .await?
            .into(),
    ))
}

/// Options to sign in with a passkey alone (no email or password).
#[utoipa::path(post, path = "/api/v1/login/passkey/options", tag = "auth",
    responses((status = 200, body = CeremonyDto), (status = 429, body = ErrorBody, description = "too_many_ceremonies: 30 open from one IP"), (status = "4XX", body = ErrorBody)))]
pub async fn passwordless_options(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
) -> ApiResult<Json<CeremonyDto>> {
    Ok(Json(state.app.passwordless_options(&meta).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordlessRequest {
    pub ceremony_id: String,
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    #[serde(default)]
    pub session_mode: SessionModeDto,
}

/// Sign in with a passkey: the session counts as having passed MFA.
#[utoipa::path(post, path = "/api/v1/login/passkey", tag = "auth", request_body = PasswordlessRequest,
    responses((status = 200, body = super::sessions::LoginResponse), (status = 401, body = ErrorBody, description = "invalid_code")))]
pub async fn passwordless(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<PasswordlessRequest>,
) -> ApiResult<Response> {
    let mode = req.session_mode.into();
    let s = state
        .app
        .login_with_passkey(&req.ceremony_id, &req.credential, mode, &meta)
        .await?;
    Ok(super::sessions::session_response(&state, mode, &s))
}
