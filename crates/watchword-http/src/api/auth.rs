//! Signup, login, logout, whoami, and a person's own sessions and password.

use super::dto::*;
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{
    ApiCaller, ApiSession, ClientMeta, Json, Path, clear_session_cookie, session_cookie,
};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::auth::{IssuedSession, SessionMode};
use watchword_app::mfa::LoginOutcome;
use watchword_domain::SessionId;
use watchword_domain::password::Password;
use watchword_domain::token::derive;

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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub session_mode: SessionModeDto,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub person_id: Uuid,
    pub session: NewSessionDto,
    #[serde(flatten)]
    pub credentials: IssuedCredentials,
}

#[derive(Serialize, ToSchema)]
pub struct WhoamiResponse {
    pub person: PersonDto,
    pub session: SessionDto,
    /// Accounts this person can act in now, with role and permissions in each.
    pub accounts: Vec<AccountMembershipDto>,
    /// Present for cookie sessions: the value to send as `X-CSRF-Token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct RevokedResponse {
    pub sessions_revoked: u64,
}

/// Hands a new session to the client: a cookie in cookie mode, the token in the body otherwise.
pub(crate) fn issue(
    state: &AppState,
    mode: SessionMode,
    s: &IssuedSession,
) -> (Option<HeaderValue>, NewSessionDto, IssuedCredentials) {
    let dto = NewSessionDto {
        id: s.session.0,
        expires_at: time(s.expires_at),
    };
    match mode {
        SessionMode::Token => (
            None,
            dto,
            IssuedCredentials {
                session_token: Some(s.token.clone()),
                csrf_token: None,
            },
        ),
        SessionMode::Cookie => {
            let max_age = state.app.settings().session_absolute_secs;
            let cookie = HeaderValue::from_str(&session_cookie(&s.token, max_age)).ok();
            (
                cookie,
                dto,
                IssuedCredentials {
                    session_token: None,
                    csrf_token: Some(derive("csrf", &s.token)),
                },
            )
        }
    }
}

pub(crate) fn with_cookie(
    status: StatusCode,
    cookie: Option<HeaderValue>,
    body: impl Serialize,
) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
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

pub(crate) fn session_response(state: &AppState, mode: SessionMode, s: &IssuedSession) -> Response {
    let (cookie, session, credentials) = issue(state, mode, s);
    with_cookie(
        StatusCode::OK,
        cookie,
        LoginResponse {
            person_id: s.person.0,
            session,
            credentials,
        },
    )
}

/// End the current session.
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth", responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Response> {
    state.app.logout(&s.actor).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_session_cookie()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// Who is this session: the person, the session and every account with role and permissions.
#[derive(Serialize, ToSchema)]
pub struct KeyWhoamiResponse {
    pub api_key: KeyWhoami,
}

#[derive(Serialize, ToSchema)]
pub struct KeyWhoami {
    pub id: String,
    pub name: String,
    pub account_id: Uuid,
    pub scopes: Vec<String>,
    pub expires_at: Option<String>,
}

/// Who the caller is: a person's session (`WhoamiResponse`) or, for an API key,
/// `{"api_key": {id, name, account_id, scopes, expires_at}}` (`KeyWhoamiResponse`).
#[utoipa::path(get, path = "/api/v1/whoami", tag = "auth", responses((status = 200, body = WhoamiResponse), (status = 401, body = ErrorBody)))]
pub async fn whoami(caller: ApiCaller) -> Response {
    // The body only changes when the cached entry is refilled, so it is rendered once per fill.
    let body = match &caller {
        ApiCaller::Session(s) => s.auth.rendered.get_or_init(|| {
            let a = &s.auth;
            let body = WhoamiResponse {
                person: PersonDto {
                    id: a.person.id.0,
                    email: a.person.email.clone(),
                    name: a.person.name.clone(),
                },
                session: SessionDto::from_row(&a.session, a.session.id),
                accounts: memberships(a),
                csrf_token: s.via_cookie.then(|| s.csrf_token()),
            };
            serde_json::to_vec(&body).unwrap_or_default()
        }),
        ApiCaller::Key(k) => k.key.rendered.get_or_init(|| {
            let r = &k.key.row;
            let body = KeyWhoamiResponse {
                api_key: KeyWhoami {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    account_id: r.account_id.0,
                    scopes: r.scopes.to_strings(),
                    expires_at: r.expires_at.map(time),
                },
            };
            serde_json::to_vec(&body).unwrap_or_default()
        }),
    };
    ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
}

/// The caller's live sessions.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me", responses((status = 200, body = Vec<SessionDto>), (status = 401, body = ErrorBody)))]
pub async fn my_sessions(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Json<Vec<SessionDto>>> {
    let rows = state.app.my_sessions(&s.actor).await?;
    Ok(Json(
        rows.iter()
            .map(|r| SessionDto::from_row(r, s.actor.session))
            .collect(),
    ))
}

/// Revoke one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{session_id}", tag = "me", params(("session_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.app.revoke_session(&s.actor, SessionId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke every session of the caller but this one.
/// Log out everywhere: every session of yours ends, this one included.
#[utoipa::path(post, path = "/api/v1/me/sessions/revoke-all", tag = "me", responses((status = 200, body = RevokedResponse)))]
pub async fn revoke_all(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Response> {
    let n = state.app.logout_everywhere(&s.actor).await?;
    let mut res = Json(RevokedResponse {
        sessions_revoked: n,
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_session_cookie()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

#[utoipa::path(post, path = "/api/v1/me/sessions/revoke-others", tag = "me", responses((status = 200, body = RevokedResponse)))]
pub async fn revoke_others(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Json<RevokedResponse>> {
    let n = state.app.revoke_other_sessions(&s.actor).await?;
    Ok(Json(RevokedResponse {
        sessions_revoked: n,
    }))
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
    let proof = super::mfa::proof(
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
