//! A person's password: changing it signed in, and resetting a forgotten one by email.

use super::sessions::RevokedResponse;
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiSession, ClientMeta, Json};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use watchword_domain::password::Password;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Change the caller's password; all other sessions end.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", request_body = ChangePasswordRequest,
    responses((status = 200, body = RevokedResponse), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Json(req): Json<ChangePasswordRequest>,
) -> ApiResult<Json<RevokedResponse>> {
    let n = state
        .app
        .change_password(
            &s.actor,
            Password::new(req.current_password),
            Password::new(req.new_password),
        )
        .await?;
    Ok(Json(RevokedResponse {
        sessions_revoked: n,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct ResetAccepted {
    pub status: &'static str,
}

/// Ask for a password reset link. The answer is the same whether the email is known or not.
#[utoipa::path(post, path = "/api/v1/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, body = ResetAccepted),
        (status = 429, body = ErrorBody, description = "too_many_requests: 20 requests from this IP in an hour")))]
pub async fn request_reset(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<ResetRequest>,
) -> ApiResult<(StatusCode, Json<ResetAccepted>)> {
    state.app.request_password_reset(&req.email, &meta).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ResetAccepted {
            status: "if this email belongs to a login, a reset link is on its way",
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    pub token: String,
    pub new_password: String,
}

/// Set a new password with the emailed token: every session ends; factors stay.
#[utoipa::path(post, path = "/api/v1/password-reset/confirm", tag = "auth", request_body = ResetConfirmRequest,
    responses((status = 204), (status = 422, body = ErrorBody, description = "invalid_reset_token, password_policy")))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<ResetConfirmRequest>,
) -> ApiResult<StatusCode> {
    state
        .app
        .confirm_password_reset(&req.token, Password::new(req.new_password), &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
