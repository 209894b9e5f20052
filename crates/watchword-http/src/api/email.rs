//! Changing a login email: asked for by the person, confirmed from the new address.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiSession, ClientMeta, Json};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailChangeRequest {
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct EmailChangeAccepted {
    pub status: &'static str,
}

/// Ask to change your login email (authentication within 15 minutes). A link goes to the new
/// address; the answer is the same whether another login holds that address or not.
#[utoipa::path(post, path = "/api/v1/me/email", operation_id = "request_email_change", tag = "me", request_body = EmailChangeRequest,
    responses((status = 202, body = EmailChangeAccepted), (status = "4XX", body = ErrorBody, description = "invalid_email, same_email, reauthentication_required")))]
pub async fn request(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Json(req): Json<EmailChangeRequest>,
) -> ApiResult<(StatusCode, Json<EmailChangeAccepted>)> {
    state.app.request_email_change(&s.actor, &req.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EmailChangeAccepted {
            status: "a confirmation link is on its way to the new address; it works once, for an hour",
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailConfirmRequest {
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct EmailChanged {
    pub email: String,
}

/// Confirm a new login email with the token from the link sent to it; the old address is told.
#[utoipa::path(post, path = "/api/v1/me/email/confirm", operation_id = "confirm_email_change", tag = "me", request_body = EmailConfirmRequest,
    responses((status = 200, body = EmailChanged), (status = 422, body = ErrorBody, description = "invalid_email_token"),
        (status = 409, body = ErrorBody, description = "email_taken")))]
pub async fn confirm(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<EmailConfirmRequest>,
) -> ApiResult<Json<EmailChanged>> {
    let email = state.app.confirm_email_change(&req.token, &meta).await?;
    Ok(Json(EmailChanged { email }))
}
