//! Signing up: the request that emails a link, and the link that creates the account.

use super::dto::*;
use super::sessions::{issue, with_cookie};
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ClientMeta, Json};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use watchword_app::sessions::SessionMode;
use watchword_domain::password::Password;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub account_name: String,
    pub name: String,
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SignupAccepted {
    /// Always `verification_sent`.
    pub status: &'static str,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupConfirmRequest {
    /// The token of the emailed link.
    pub token: String,
    #[serde(default)]
    pub session_mode: SessionModeDto,
}

#[derive(Serialize, ToSchema)]
pub struct SignupResponse {
    pub account: AccountDto,
    pub person: PersonDto,
    pub membership: MemberDto,
    pub session: NewSessionDto,
    #[serde(flatten)]
    pub credentials: IssuedCredentials,
}

/// Ask for an account. Every well-formed request answers the same: a link is emailed to the
/// address (or, when it has a login already, a note to log in and add the account from there).
#[utoipa::path(post, path = "/api/v1/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 202, body = SignupAccepted),
        (status = 422, body = ErrorBody, description = "invalid_email, invalid_name, password_policy, …"),
        (status = 429, body = ErrorBody, description = "too_many_requests: 10 signups from this IP, or 3 to this address, in an hour")))]
pub async fn signup(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<SignupRequest>,
) -> ApiResult<Response> {
    let input = watchword_app::signup::SignupInput {
        account_name: req.account_name,
        name: req.name,
        email: req.email,
        password: Password::new(req.password),
    };
    state.app.request_signup(input, &meta).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(SignupAccepted {
            status: "verification_sent",
        }),
    )
        .into_response())
}

/// Follow the emailed signup link: creates the person, the account with them as Owner, and a
/// session.
#[utoipa::path(post, path = "/api/v1/signup/confirm", tag = "auth", request_body = SignupConfirmRequest,
    responses((status = 201, body = SignupResponse),
        (status = 409, body = ErrorBody, description = "email_unavailable: the address got a login meanwhile"),
        (status = 422, body = ErrorBody, description = "invalid_signup_token")))]
pub async fn confirm_signup(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<SignupConfirmRequest>,
) -> ApiResult<Response> {
    let mode: SessionMode = req.session_mode.into();
    let out = state.app.confirm_signup(&req.token, mode, &meta).await?;
    let (cookie, session, credentials) = issue(&state, mode, &out.session);
    let actor_view = state.app.authenticate(&out.session.token, &meta).await?;
    let (account, member) = actor_view
        .1
        .memberships
        .iter()
        .find(|(a, _)| a.id == out.account)
        .ok_or(watchword_app::AppError::NotFound)?;
    let p = &actor_view.1.person;
    let body = SignupResponse {
        account: account.into(),
        person: PersonDto {
            id: p.id.0,
            email: p.email.clone(),
            name: p.name.clone(),
        },
        membership: member.into(),
        session,
        credentials,
    };
    Ok(with_cookie(StatusCode::CREATED, cookie, body))
}
