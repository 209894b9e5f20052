//! API keys, the account settings that govern them, introspection for the operator's backends,
//! and reports of exposed keys from secret-scanning partners.

use super::dto::time;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiCaller, ApiSession, ClientMeta, Json, Path};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::api_keys::{Introspection, IssuedKey, KeyView, NewKeyRequest, VerifiedKey};
use watchword_app::views::KeySettings;
use watchword_domain::AccountId;

#[derive(Serialize, ToSchema)]
pub struct ApiKeyDto {
    /// Public id (`key_…`): safe to show and log, reveals nothing of the secret.
    pub id: String,
    pub account_id: Uuid,
    pub name: String,
    /// `<resource>:read` or `<resource>:write` (write includes read).
    pub scopes: Vec<String>,
    /// `active`, `expiring` (rotated, or expiring within 7 days), `expired` or `revoked`.
    pub state: String,
    /// `unused` (no use in 90 days), `rotation_due` (older than the account's rotation period).
    pub flags: Vec<String>,
    pub created_by: Option<Uuid>,
    pub created_by_email: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// Expiry policy in days, kept by clones and rotations.
    pub lifetime_days: Option<i64>,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<String>,
    /// `revoked` (by a person or key) or `exposed` (auto-revoke after a partner report).
    pub revoked_reason: Option<String>,
    /// The key a rotation replaced this one with.
    pub replaced_by: Option<String>,
    pub cloned_from: Option<String>,
}

impl From<&KeyView> for ApiKeyDto {
    fn from(v: &KeyView) -> Self {
        let r = &v.row;
        Self {
            id: r.id.clone(),
            account_id: r.account_id.0,
            name: r.name.clone(),
            scopes: r.scopes.to_strings(),
            state: v.state.as_str().into(),
            flags: v.flags.iter().map(|f| (*f).to_owned()).collect(),
            created_by: r.created_by.map(|p| p.0),
            created_by_email: r.created_by_email.clone(),
            created_at: time(r.created_at),
            expires_at: r.expires_at.map(time),
            lifetime_days: r.lifetime_secs.map(|s| s / 86_400),
            last_used_at: r.last_used_at.map(time),
            last_used_ip: r.last_used_ip.clone(),
            revoked_at: r.revoked_at.map(time),
            revoked_reason: r.revoked_reason.clone(),
            replaced_by: r.replaced_by.clone(),
            cloned_from: r.cloned_from.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NewApiKeyDto {
    #[serde(flatten)]
    pub key: ApiKeyDto,
    /// The key itself, shown this once: watchword keeps only a hash.
    pub secret: String,
}

impl From<IssuedKey> for NewApiKeyDto {
    fn from(k: IssuedKey) -> Self {
        Self {
            key: (&k.key).into(),
            secret: k.secret,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    pub name: String,
    /// Scope names. Absent: the preset, or read-only when no preset is given either.
    pub scopes: Option<Vec<String>>,
    /// `full` or `read_only`: every scope (or every read scope) within your own permissions.
    pub preset: Option<String>,
    /// 1–3650; absent for a key that does not expire.
    pub expires_in_days: Option<i64>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the old key keeps working: 0 (now) to 2,592,000 (30 days); default 86,400.
    pub grace_period_seconds: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AccountSettingsDto {
    /// Keys older than this many days are flagged `rotation_due`; null: never.
    pub api_key_rotation_days: Option<i64>,
    /// Revoke a key at once when a secret-scanning partner reports it exposed.
    pub api_key_auto_revoke_exposed: bool,
    /// Members must use a second factor (always true on paid plans).
    pub mfa_required: bool,
    /// Active members with no second factor yet.
    pub members_without_mfa: i64,
}

impl AccountSettingsDto {
    fn of(s: KeySettings, (mfa_required, members_without_mfa): (bool, i64)) -> Self {
        Self {
            api_key_rotation_days: s.rotation_days,
            api_key_auto_revoke_exposed: s.auto_revoke_exposed,
            mfa_required,
            members_without_mfa,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAccountSettings {
    /// 1–3650, or null to stop flagging.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub api_key_rotation_days: Option<Option<i64>>,
    pub api_key_auto_revoke_exposed: Option<bool>,
    /// Require MFA of every member (Owners and Admins; cannot be turned off on paid plans).
    pub mfa_required: Option<bool>,
}

/// Tells an absent field (None) from an explicit null (Some(None)).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

fn id_path(a: Uuid) -> AccountId {
    AccountId(a)
}

/// The account's API keys, newest first, revoked ones included.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/api-keys", operation_id = "list_api_keys", tag = "api keys", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = Vec<ApiKeyDto>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(a): Path<Uuid>,
) -> ApiResult<Json<Vec<ApiKeyDto>>> {
    let keys = state
        .app
        .list_api_keys(&caller.caller(), id_path(a))
        .await?;
    Ok(Json(keys.iter().map(Into::into).collect()))
}

/// Create a key (`api_keys:manage`, authentication within 15 minutes). The secret is in this
/// response only.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/api-keys", operation_id = "create_api_key", tag = "api keys", params(("account_id" = Uuid, Path)),
    request_body = CreateApiKeyRequest, responses((status = 201, body = NewApiKeyDto), (status = "4XX", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(a): Path<Uuid>,
    Json(req): Json<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<NewApiKeyDto>)> {
    let req = NewKeyRequest {
        name: req.name,
        scopes: req.scopes,
        preset: req.preset,
        expires_in_days: req.expires_in_days,
    };
    let issued = state.app.create_api_key(&s.actor, id_path(a), req).await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/api-keys/{key_id}", operation_id = "get_api_key", tag = "api keys",
    params(("account_id" = Uuid, Path), ("key_id" = String, Path)),
    responses((status = 200, body = ApiKeyDto), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((a, k)): Path<(Uuid, String)>,
) -> ApiResult<Json<ApiKeyDto>> {
    let key = state
        .app
        .get_api_key(&caller.caller(), id_path(a), &k)
        .await?;
    Ok(Json((&key).into()))
}

/// Revoke a key: it stops working at once on this node and within a second on every node.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/api-keys/{key_id}", operation_id = "revoke_api_key", tag = "api keys",
    params(("account_id" = Uuid, Path), ("key_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((a, k)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    state
        .app
        .revoke_api_key(&caller.caller(), id_path(a), &k)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new key with the next numbered name, the same scopes and expiry policy.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/api-keys/{key_id}/clone", operation_id = "clone_api_key", tag = "api keys",
    params(("account_id" = Uuid, Path), ("key_id" = String, Path)),
    responses((status = 201, body = NewApiKeyDto), (status = "4XX", body = ErrorBody)))]
pub async fn clone(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((a, k)): Path<(Uuid, String)>,
) -> ApiResult<(StatusCode, Json<NewApiKeyDto>)> {
    let issued = state.app.clone_api_key(&s.actor, id_path(a), &k).await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

/// Clone the key and let the old one expire after the grace period (body optional).
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/api-keys/{key_id}/rotate", operation_id = "rotate_api_key", tag = "api keys",
    params(("account_id" = Uuid, Path), ("key_id" = String, Path)), request_body(content = Option<RotateRequest>),
    responses((status = 201, body = NewApiKeyDto), (status = "4XX", body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((a, k)): Path<(Uuid, String)>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<NewApiKeyDto>)> {
    let req: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest::default()
    } else {
        parse_json(&body)?
    };
    let issued = state
        .app
        .rotate_api_key(&s.actor, id_path(a), &k, req.grace_period_seconds)
        .await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let (status, code) = if e.is_data() {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
        } else {
            (StatusCode::BAD_REQUEST, "malformed_json")
        };
        ApiError::new(status, code, e.to_string())
    })
}

#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/settings", tag = "accounts", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = AccountSettingsDto), (status = 404, body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(a): Path<Uuid>,
) -> ApiResult<Json<AccountSettingsDto>> {
    let caller = caller.caller();
    let s = state.app.key_settings(&caller, id_path(a)).await?;
    let mfa = state.app.mfa_settings(&caller, id_path(a)).await?;
    Ok(Json(AccountSettingsDto::of(s, mfa)))
}

/// Change account settings (`account_settings:edit`, authentication within 15 minutes); absent
/// fields stay as they are.
#[utoipa::path(patch, path = "/api/v1/accounts/{account_id}/settings", tag = "accounts", params(("account_id" = Uuid, Path)),
    request_body = PatchAccountSettings, responses((status = 200, body = AccountSettingsDto), (status = "4XX", body = ErrorBody)))]
pub async fn patch_settings(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(a): Path<Uuid>,
    Json(req): Json<PatchAccountSettings>,
) -> ApiResult<Json<AccountSettingsDto>> {
    // Every check that could refuse the key settings runs before the MFA setting is written.
    watchword_app::api_keys::check_rotation_days(req.api_key_rotation_days)?;
    if let Some(on) = req.mfa_required {
        state.app.set_mfa_required(&s.actor, id_path(a), on).await?;
    }
    let keys = state
        .app
        .set_key_settings(
            &s.actor,
            id_path(a),
            req.api_key_rotation_days,
            req.api_key_auto_revoke_exposed,
        )
        .await?;
    let caller = watchword_app::Caller::Person(s.actor);
    let mfa = state.app.mfa_settings(&caller, id_path(a)).await?;
    Ok(Json(AccountSettingsDto::of(keys, mfa)))
}

#[derive(Deserialize, ToSchema)]
pub struct IntrospectRequest {
    /// An API key, an OAuth access token or a session token.
    pub token: String,
    /// Ignored: the token's form tells which it is.
    #[allow(dead_code)]
    pub token_type_hint: Option<String>,
    /// An OAuth app's client introspecting its own access tokens (`client_secret_post`; or
    /// HTTP Basic, `client_secret_basic`).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// RFC 7662 answer. Inactive tokens get `{"active": false}` and nothing else.
#[derive(Serialize, ToSchema, Default)]
pub struct IntrospectionDto {
    pub active: bool,
    /// `api_key`, `access_token` (OAuth) or `session`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Space-separated scopes (keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The key's public id (keys), the app's client id (OAuth access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The account a key belongs to (keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<Uuid>,
    /// Permissions the key's scopes grant (keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    /// The person (sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Accounts the person can act in, with role and permissions (sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<super::dto::AccountMembershipDto>>,
    /// Seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

pub(crate) fn key_introspection(k: &VerifiedKey) -> IntrospectionDto {
    let (token_type, client_id) = match &k.row.client_id {
        Some(app) => ("access_token", app.clone()),
        None => ("api_key", k.row.id.clone()),
    };
    IntrospectionDto {
        active: true,
        token_type: Some(token_type),
        scope: Some(k.effective.encode()),
        client_id: Some(client_id),
        account_id: Some(k.row.account_id.0),
        permissions: Some(k.permissions.to_strings()),
        exp: k.row.expires_at.map(|m| m.0 / 1000),
        iat: Some(k.row.created_at.0 / 1000),
        ..Default::default()
    }
}

/// Token introspection (RFC 7662) for the operator's backends: `application/x-www-form-urlencoded`
/// body `token=…`, authenticated with `Authorization: Bearer <introspection secret>`. An OAuth
/// app's client may instead authenticate as itself (HTTP Basic, or `client_id` and
/// `client_secret` in the body) to introspect its own access tokens.
#[utoipa::path(post, path = "/api/v1/introspect", tag = "operator",
    request_body(content = IntrospectRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = IntrospectionDto), (status = 401, body = ErrorBody)))]
pub async fn introspect(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    headers: HeaderMap,
    form: Result<axum::Form<IntrospectRequest>, axum::extract::rejection::FormRejection>,
) -> ApiResult<axum::response::Response> {
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let form = form.map_err(|r| ApiError::new(r.status(), "invalid_request", r.body_text()))?;
    let basic = credential.is_none()
        && headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.len() > 6 && v[..6].eq_ignore_ascii_case("basic "));
    if basic || form.client_secret.is_some() {
        let client = (form.client_id.clone(), form.client_secret.clone());
        return Ok(crate::oauth::client_introspection(
            &state,
            &meta,
            &headers,
            client,
            &form.token,
        )
        .await);
    }
    let answer = state
        .app
        .introspect(credential, &form.token, &meta)
        .await
        .map_err(|e| match e {
            watchword_app::AppError::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "introspection needs the operator's credential",
            ),
            e => e.into(),
        })?;
    let dto = match answer {
        Introspection::Inactive => IntrospectionDto::default(),
        Introspection::Key(k) => key_introspection(&k),
        Introspection::Session(a) => IntrospectionDto {
            active: true,
            token_type: Some("session"),
            sub: Some(a.person.id.0),
            username: Some(a.person.email.clone()),
            accounts: Some(super::dto::memberships(&a)),
            exp: Some(a.session.expires_at.0 / 1000),
            iat: Some(a.session.created_at.0 / 1000),
            ..Default::default()
        },
    };
    Ok(axum::response::IntoResponse::into_response(Json(dto)))
}

/// One report of a secret-scanning partner.
#[derive(Deserialize, ToSchema)]
pub struct ExposureReport {
    /// The exposed text.
    pub token: String,
    /// Where it was found.
    #[serde(default)]
    pub url: String,
    /// Who found it (e.g. `github`, `pastebin`).
    #[serde(default)]
    pub source: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Reports {
    Many(Vec<ExposureReport>),
    One(ExposureReport),
}

#[derive(Serialize, ToSchema)]
pub struct ExposureAck {
    /// How many reports were read; nothing tells which tokens were real keys.
    pub received: usize,
}

/// Exposed-key reports from a secret-scanning partner: a JSON array of `{token, url, source}`
/// (or one such object), signed with `X-Watchword-Signature: sha256=<hex HMAC-SHA256 of the
/// body>` under the configured `exposure_report_secret`. Every report is acknowledged alike.
#[utoipa::path(post, path = "/api/v1/exposed-keys", tag = "operator", request_body = Vec<ExposureReport>,
    responses((status = 200, body = ExposureAck), (status = 401, body = ErrorBody)))]
pub async fn exposed_keys(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let signature = headers
        .get("x-watchword-signature")
        .and_then(|v| v.to_str().ok());
    if !state.app.exposure_report_authentic(&body, signature) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "the report must be signed: X-Watchword-Signature: sha256=<HMAC-SHA256 of the body>",
        ));
    }
    let reports = match parse_json::<Reports>(&body)? {
        Reports::Many(v) => v,
        Reports::One(r) => vec![r],
    };
    if reports.len() > 1000 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_reports",
            "at most 1000 reports per request",
        ));
    }
    for r in &reports {
        let url: String = r.url.chars().take(2000).collect();
        let source: String = r.source.chars().take(200).collect();
        state
            .app
            .key_exposed(r.token.trim(), &url, &source, &meta)
            .await?;
    }
    Ok(Json(ExposureAck {
        received: reports.len(),
    })
    .into_response())
}
