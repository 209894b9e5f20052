//! An account's private OAuth apps (members holding `api_keys:manage`; changes need a recent
//! sign-in).

use super::dto::time;
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiSession, Json, Path};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::oauth::{AppChange, AppView, NewApp};
use watchword_domain::AccountId;

#[derive(Serialize, ToSchema)]
pub struct OauthAppDto {
    /// The app's `client_id`.
    pub client_id: String,
    pub name: String,
    pub developer: String,
    pub homepage: Option<String>,
    pub description: String,
    /// Matched exactly.
    pub redirect_uris: Vec<String>,
    /// The most any grant to the app may hold.
    pub scopes: Vec<String>,
    /// `confidential` (a secret) or `public` (PKCE only).
    pub kind: &'static str,
    pub disabled: bool,
    /// Until when the secret before the last rotation still works.
    pub previous_secret_expires_at: Option<String>,
    /// Shown once: at creation and at a rotation (confidential apps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl OauthAppDto {
    fn of(a: &AppView, secret: Option<String>) -> Self {
        Self {
            client_id: a.client_id.clone(),
            name: a.name.clone(),
            developer: a.developer.clone(),
            homepage: a.homepage.clone(),
            description: a.description.clone(),
            redirect_uris: a.redirect_uris.clone(),
            scopes: a.scopes.clone(),
            kind: a.kind,
            disabled: a.disabled,
            previous_secret_expires_at: a.previous_secret_expires_at.map(time),
            client_secret: secret,
            created_at: time(a.created_at),
            updated_at: time(a.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOauthAppRequest {
    pub name: String,
    pub developer: Option<String>,
    pub homepage: Option<String>,
    pub description: Option<String>,
    /// `https`, or `http` on a loopback address; no fragment.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// API key scopes (e.g. `members:read`), within your own permissions.
    pub scopes: Vec<String>,
    /// `confidential` (default) or `public`.
    pub kind: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct OauthAppChangeRequest {
    pub name: Option<String>,
    pub developer: Option<String>,
    pub homepage: Option<String>,
    pub description: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    /// New scopes end the app's grants (they are given again with the new scopes).
    pub scopes: Option<Vec<String>>,
    /// A disabled app gets no token; the ones it holds stop working at once.
    pub disabled: Option<bool>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// How long the old secret keeps working (default 86,400; at most 30 days; 0 ends it now).
    pub grace_period_secs: Option<i64>,
}

/// The account's private apps.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/oauth-apps", operation_id = "list_oauth_apps", tag = "oauth",
    params(("account_id" = Uuid, Path)), responses((status = 200, body = Vec<OauthAppDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_apps(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<OauthAppDto>>> {
    let apps = state.app.oauth_apps(&s.actor, AccountId(id)).await?;
    Ok(Json(
        apps.iter().map(|a| OauthAppDto::of(a, None)).collect(),
    ))
}

/// Register a private app. A confidential app's `client_secret` is in this answer only.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/oauth-apps", operation_id = "create_oauth_app", tag = "oauth",
    params(("account_id" = Uuid, Path)), request_body = NewOauthAppRequest,
    responses((status = 201, body = OauthAppDto), (status = "4XX", body = ErrorBody)))]
pub async fn create_app(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(r): Json<NewOauthAppRequest>,
) -> ApiResult<(StatusCode, Json<OauthAppDto>)> {
    let new = NewApp {
        name: r.name,
        developer: r.developer,
        homepage: r.homepage,
        description: r.description,
        redirect_uris: r.redirect_uris,
        scopes: r.scopes,
        kind: r.kind,
    };
    let (app, secret) = state
        .app
        .create_oauth_app(&s.actor, AccountId(id), new)
        .await?;
    Ok((StatusCode::CREATED, Json(OauthAppDto::of(&app, secret))))
}

#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/oauth-apps/{app_id}", operation_id = "get_oauth_app", tag = "oauth",
    params(("account_id" = Uuid, Path), ("app_id" = String, Path)),
    responses((status = 200, body = OauthAppDto), (status = "4XX", body = ErrorBody)))]
pub async fn get_app(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, app)): Path<(Uuid, String)>,
) -> ApiResult<Json<OauthAppDto>> {
    let a = state.app.oauth_app(&s.actor, AccountId(id), &app).await?;
    Ok(Json(OauthAppDto::of(&a, None)))
}

#[utoipa::path(patch, path = "/api/v1/accounts/{account_id}/oauth-apps/{app_id}", operation_id = "update_oauth_app", tag = "oauth",
    params(("account_id" = Uuid, Path), ("app_id" = String, Path)), request_body = OauthAppChangeRequest,
    responses((status = 200, body = OauthAppDto), (status = "4XX", body = ErrorBody)))]
pub async fn update_app(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, app)): Path<(Uuid, String)>,
    Json(r): Json<OauthAppChangeRequest>,
) -> ApiResult<Json<OauthAppDto>> {
    let change = AppChange {
        name: r.name,
        developer: r.developer,
        homepage: r.homepage,
        description: r.description,
        redirect_uris: r.redirect_uris,
        scopes: r.scopes,
        disabled: r.disabled,
    };
    let a = state
        .app
        .update_oauth_app(&s.actor, AccountId(id), &app, change)
        .await?;
    Ok(Json(OauthAppDto::of(&a, None)))
}

/// Delete an app: its grants end and every token it holds stops working.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/oauth-apps/{app_id}", operation_id = "delete_oauth_app", tag = "oauth",
    params(("account_id" = Uuid, Path), ("app_id" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub async fn delete_app(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, app)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    state
        .app
        .delete_oauth_app(&s.actor, AccountId(id), &app)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new client secret (shown once); the old one works for the grace period.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/oauth-apps/{app_id}/secret/rotate", operation_id = "rotate_oauth_app_secret", tag = "oauth",
    params(("account_id" = Uuid, Path), ("app_id" = String, Path)), request_body = RotateSecretRequest,
    responses((status = 200, body = OauthAppDto), (status = "4XX", body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, app)): Path<(Uuid, String)>,
    Json(r): Json<RotateSecretRequest>,
) -> ApiResult<Json<OauthAppDto>> {
    let (a, secret) = state
        .app
        .rotate_oauth_app_secret(&s.actor, AccountId(id), &app, r.grace_period_secs)
        .await?;
    Ok(Json(OauthAppDto::of(&a, Some(secret))))
}

#[derive(Serialize, ToSchema)]
pub struct AuthorizedAppDto {
    /// The grant's id (revoke with it).
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub developer: String,
    pub scopes: Vec<String>,
    /// Who installed it (null: the client credentials of the account's own app).
    pub installed_by: Option<String>,
    pub installed_at: String,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    /// `unused`: no token used for 90 days.
    pub flags: Vec<&'static str>,
}

/// Every app the account granted access to, with its scopes, installer and last use.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/authorized-apps", operation_id = "list_authorized_apps", tag = "oauth",
    params(("account_id" = Uuid, Path)), responses((status = 200, body = Vec<AuthorizedAppDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_authorized(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<AuthorizedAppDto>>> {
    let rows = state.app.authorized_apps(&s.actor, AccountId(id)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|i| AuthorizedAppDto {
                id: i.row.grant.id.clone(),
                client_id: i.row.grant.app_id.clone(),
                name: i.row.app_name.clone(),
                developer: i.row.developer.clone(),
                scopes: i.row.grant.scopes.to_strings(),
                installed_by: i.row.installed_by_email.clone(),
                installed_at: time(i.row.grant.created_at),
                last_used_at: i.row.last_used_at.map(time),
                last_used_ip: i.row.last_used_ip.clone(),
                flags: i.flags,
            })
            .collect(),
    ))
}

/// Revoke an installed app: every token of its grant stops at once, on every node.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/authorized-apps/{grant_id}", operation_id = "revoke_authorized_app", tag = "oauth",
    params(("account_id" = Uuid, Path), ("grant_id" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub async fn revoke_authorized(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, grant)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    state
        .app
        .revoke_authorized_app(&s.actor, AccountId(id), &grant)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
