//! Signing in: the password step, the second step of a login challenge, and step-up
//! (re-authentication with the password or a code).

use super::dto::*;
use super::sessions::{LoginResponse, session_response};
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiSession, ClientMeta, Json};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use watchword_app::mfa::Proof;
use watchword_app::sessions::SessionMode;
use watchword_app::signin::LoginOutcome;
use watchword_domain::password::Password;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub session_mode: SessionModeDto,
}

/// A second factor is due: finish with `POST /api/v1/login/mfa`.
#[derive(Serialize, ToSchema)]
pub struct MfaChallengeResponse {
    pub mfa_required: bool,
    /// Valid for 5 minutes and 5 wrong codes.
    pub challenge_id: String,
    /// `totp`, `recovery_code`.
    pub methods: Vec<&'static str>,
}

/// Log in with email and password. Wrong email and wrong password answer the same. A person
/// with a second factor gets a challenge instead of a session.
#[utoipa::path(post, path = "/api/v1/login", operation_id = "login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse, description = "a session; or MfaChallengeResponse when a second factor is due"),
        (status = 401, body = ErrorBody, description = "invalid_credentials"),
        (status = 429, body = ErrorBody, description = "too_many_attempts: 10 failed logins of this email, or 50 from this IP, in 15 minutes")))]
pub async fn login(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let mode: SessionMode = req.session_mode.into();
    let outcome = state
        .app
        .login(&req.email, Password::new(req.password), mode, &meta)
        .await?;
    Ok(match outcome {
        LoginOutcome::Session(s) => session_response(&state, mode, &s),
        LoginOutcome::Challenge {
            challenge_id,
            methods,
        } => (
            StatusCode::OK,
            axum::Json(MfaChallengeResponse {
                mfa_required: true,
                challenge_id,
                methods,
            }),
        )
            .into_response(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginMfaRequest {
    pub challenge_id: String,
    /// `passkey`, `totp`, `sms` or `recovery_code`.
    pub method: String,
    /// The code, for `totp`, `sms` and `recovery_code`.
    pub code: Option<String>,
    /// For `passkey`: the ceremony from `POST /api/v1/login/mfa/passkey-options` and the
    /// browser's `credential.toJSON()`.
    pub ceremony_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

/// A code, or a passkey answer when both its parts are given.
pub(crate) fn proof<'a>(
    code: Option<&'a str>,
    ceremony_id: Option<&'a str>,
    credential: Option<&'a serde_json::Value>,
) -> Option<Proof<'a>> {
    match (code, ceremony_id, credential) {
        (Some(c), None, None) => Some(Proof::Code(c)),
        (None, Some(ceremony_id), Some(credential)) => Some(Proof::Passkey {
            ceremony_id,
            credential,
        }),
        _ => None,
    }
}

/// Finish a login with a second factor; the session mode is the one the password step asked for.
#[utoipa::path(post, path = "/api/v1/login/mfa", operation_id = "login_second_factor", tag = "auth", request_body = LoginMfaRequest,
    responses((status = 200, body = super::sessions::LoginResponse), (status = 401, body = ErrorBody, description = "invalid_code"),
        (status = 429, body = ErrorBody, description = "too_many_attempts")))]
pub async fn login_mfa(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<LoginMfaRequest>,
) -> ApiResult<Response> {
    let proof = proof(
        req.code.as_deref(),
        req.ceremony_id.as_deref(),
        req.credential.as_ref(),
    )
    .ok_or_else(|| {
        crate::error::ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "give code, or ceremony_id and credential for a passkey",
        )
    })?;
    let s = state
        .app
        .login_mfa(&req.challenge_id, &req.method, proof, &meta)
        .await?;
    let mode = if s.cookie {
        SessionMode::Cookie
    } else {
        SessionMode::Token
    };
    Ok(super::sessions::session_response(&state, mode, &s))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthenticateRequest {
    /// The password, or:
    pub password: Option<String>,
    /// `totp`, `sms` or `recovery_code` with `code`; or `passkey` with `ceremony_id` (from
    /// `POST /api/v1/me/reauthenticate/passkey-options`) and `credential`. Passing a factor also
    /// satisfies accounts that require MFA.
    pub method: Option<String>,
    pub code: Option<String>,
    pub ceremony_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

/// Confirm the password or a second factor again: the session counts as freshly authenticated
/// for sensitive changes.
#[utoipa::path(post, path = "/api/v1/me/reauthenticate", tag = "me", request_body = ReauthenticateRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn reauthenticate(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Json(req): Json<ReauthenticateRequest>,
) -> ApiResult<StatusCode> {
    let proof = super::signin::proof(
        req.code.as_deref(),
        req.ceremony_id.as_deref(),
        req.credential.as_ref(),
    );
    match (req.password, req.method, proof) {
        (Some(pw), None, None) => {
            state
                .app
                .reauthenticate(&s.actor, Password::new(pw))
                .await?;
        }
        (None, Some(method), Some(proof)) => {
            state
                .app
                .reauthenticate_with_code(&s.actor, &method, proof)
                .await?;
        }
        _ => {
            return Err(crate::error::ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "give either password, or method with code (or ceremony_id and credential)",
            ));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
