//! Sessions over HTTP: issuing one (bearer token or host cookie), whoami, and a person's own
//! sessions (list, revoke, log out).

use super::dto::*;
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiCaller, ApiSession, Json, Path, clear_session_cookie, session_cookie};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::App;
use watchword_app::sessions::{IssuedSession, SessionMode};
use watchword_app::views::{AccountRow, MemberRow};
use watchword_domain::SessionId;
use watchword_domain::token::derive;

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
        ApiCaller::Session(s) => {
            let admitted = |a: &AccountRow, m: &MemberRow| App::admitted_here(&s.actor, a, m);
            let render = || {
                let a = &s.auth;
                let body = WhoamiResponse {
                    person: PersonDto {
                        id: a.person.id.0,
                        email: a.person.email.clone(),
                        name: a.person.name.clone(),
                    },
                    session: SessionDto::from_row(&a.session, a.session.id),
                    accounts: memberships_where(a, admitted),
                    csrf_token: s.via_cookie.then(|| s.csrf_token()),
                };
                serde_json::to_vec(&body).unwrap_or_default()
            };
            if s.auth.memberships.iter().all(|(a, m)| admitted(a, m)) {
                s.auth.rendered.get_or_init(render)
            } else {
                // Outside an account's trusted networks: rendered for this request alone.
                return ([(header::CONTENT_TYPE, "application/json")], render()).into_response();
            }
        }
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
