//! Single sign-on: an account's verified domains and connections (members holding
//! `account_settings:edit`, paid plans), where an email signs in, and the operator's plan switch.

use super::dto::time;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiSession, ClientMeta, Json, Path, sso_state_cookie};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::sessions::SessionMode;
use watchword_app::sso::{ConnectionChange, ConnectionView, DomainView, Enforcement};
use watchword_domain::{AccountId, Plan};

#[derive(Serialize, ToSchema)]
pub struct SsoDomainDto {
    pub id: String,
    pub domain: String,
    /// Publish this TXT record at `domain`, then verify.
    pub txt_record: String,
    pub verified: bool,
    pub verified_at: Option<String>,
    pub created_at: String,
}

impl From<&DomainView> for SsoDomainDto {
    fn from(d: &DomainView) -> Self {
        Self {
            id: d.id.clone(),
            domain: d.domain.clone(),
            txt_record: d.txt_value.clone(),
            verified: d.verified_at.is_some(),
            verified_at: d.verified_at.map(time),
            created_at: time(d.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomainRequest {
    pub domain: String,
}

/// The account's claimed domains, verified or not.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/sso/domains", operation_id = "list_sso_domains", tag = "sso",
    params(("account_id" = Uuid, Path)), responses((status = 200, body = Vec<SsoDomainDto>), (status = 403, body = ErrorBody, description = "plan_required")))]
pub async fn list_domains(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<SsoDomainDto>>> {
    let rows = state.app.sso_domains(&s.actor, AccountId(id)).await?;
    Ok(Json(rows.iter().map(SsoDomainDto::from).collect()))
}

/// Claim a domain; publish the returned TXT record, then verify it.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/sso/domains", operation_id = "add_sso_domain", tag = "sso",
    params(("account_id" = Uuid, Path)), request_body = AddDomainRequest,
    responses((status = 201, body = SsoDomainDto), (status = "4XX", body = ErrorBody)))]
pub async fn add_domain(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(req): Json<AddDomainRequest>,
) -> ApiResult<(StatusCode, Json<SsoDomainDto>)> {
    let d = state
        .app
        .add_sso_domain(&s.actor, AccountId(id), &req.domain)
        .await?;
    Ok((StatusCode::CREATED, Json((&d).into())))
}

/// Look the TXT record up now: `422 verification_failed` when it is not there,
/// `409 domain_taken` when another account verified the domain first.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/sso/domains/{domain_id}/verify", operation_id = "verify_sso_domain", tag = "sso",
    params(("account_id" = Uuid, Path), ("domain_id" = String, Path)),
    responses((status = 200, body = SsoDomainDto), (status = "4XX", body = ErrorBody)))]
pub async fn verify_domain(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, domain)): Path<(Uuid, String)>,
) -> ApiResult<Json<SsoDomainDto>> {
    let d = state
        .app
        .verify_sso_domain(&s.actor, AccountId(id), &domain)
        .await?;
    Ok(Json((&d).into()))
}

/// Give a domain up.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/sso/domains/{domain_id}", operation_id = "remove_sso_domain", tag = "sso",
    params(("account_id" = Uuid, Path), ("domain_id" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub async fn remove_domain(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, domain)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    state
        .app
        .remove_sso_domain(&s.actor, AccountId(id), &domain)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SsoConnectionDto {
    pub id: String,
    /// `oidc` or `saml`.
    pub kind: &'static str,
    pub name: String,
    pub enabled: bool,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// The client secret is stored sealed and never shown.
    pub has_client_secret: bool,
    pub scopes: String,
    pub groups_claim: Option<String>,
    /// SAML: the attribute read for the email when the NameID is not an email address (unset:
    /// `email`). A NameID of the emailAddress format is always the email.
    pub email_attribute: Option<String>,
    pub group_mappings: Vec<GroupMappingDto>,
    /// Role of people provisioned at their first sign-in.
    pub default_role: String,
    /// Just-in-time provisioning of people with emails in the verified domains.
    pub jit: bool,
    /// Accept the provider's MFA (`amr`) instead of asking for watchword's own second factor.
    pub trust_idp_mfa: bool,
    /// Register this redirect URI at the provider (OIDC).
    pub redirect_uri: String,
    /// SAML: accept unsolicited (IdP-initiated) responses. Off by default.
    pub idp_initiated: bool,
    /// SAML: the IdP as its metadata describes it, and the values to type into the IdP.
    pub saml: Option<SamlDto>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct SamlDto {
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub certificates: Vec<CertificateDto>,
    /// When the first signing certificate expires; the Security Contact is emailed 30 and 7
    /// days before.
    pub certificate_expires_at: Option<String>,
    /// watchword's entity id (Okta: "Audience URI (SP Entity ID)"; Entra ID: "Identifier").
    pub sp_entity_id: String,
    /// The Assertion Consumer Service (Okta: "Single sign-on URL"; Entra ID: "Reply URL").
    pub acs_url: String,
    /// watchword's SAML metadata for this connection (the entity id is this URL).
    pub sp_metadata_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct CertificateDto {
    pub subject: String,
    pub not_after: String,
}

impl From<&watchword_app::sso::SamlView> for SamlDto {
    fn from(v: &watchword_app::sso::SamlView) -> Self {
        Self {
            idp_entity_id: v.idp_entity_id.clone(),
            idp_sso_url: v.idp_sso_url.clone(),
            certificates: v
                .certificates
                .iter()
                .map(|c| CertificateDto {
                    subject: c.subject.clone(),
                    not_after: time(c.not_after),
                })
                .collect(),
            certificate_expires_at: v.certificate_expires_at.map(time),
            sp_entity_id: v.sp_entity_id.clone(),
            acs_url: v.acs_url.clone(),
            sp_metadata_url: v.sp_metadata_url.clone(),
        }
    }
}

impl From<&ConnectionView> for SsoConnectionDto {
    fn from(c: &ConnectionView) -> Self {
        Self {
            id: c.id.clone(),
            kind: c.kind,
            name: c.name.clone(),
            enabled: c.enabled,
            issuer: c.issuer.clone(),
            client_id: c.client_id.clone(),
            has_client_secret: c.has_client_secret,
            scopes: c.scopes.clone(),
            groups_claim: c.groups_claim.clone(),
            email_attribute: c.email_attribute.clone(),
            group_mappings: c
                .group_mappings
                .iter()
                .map(|(group, role)| GroupMappingDto {
                    group: group.clone(),
                    role: role.clone(),
                })
                .collect(),
            default_role: c.default_role.clone(),
            jit: c.jit,
            trust_idp_mfa: c.trust_idp_mfa,
            redirect_uri: c.redirect_uri.clone(),
            idp_initiated: c.idp_initiated,
            saml: c.saml.as_ref().map(SamlDto::from),
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMappingDto {
    /// A group as the provider names it.
    pub group: String,
    /// A built-in role key or a custom role's id.
    pub role: String,
}

/// A new connection, or the fields a change sets.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ConnectionRequest {
    /// `oidc` (default) or `saml`; fixed once created.
    pub kind: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// The provider's issuer URL (`https`, or `http` on a loopback address); its
    /// `/.well-known/openid-configuration` is read to check it.
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Space-separated; must include `openid`. Default `openid email profile`.
    pub scopes: Option<String>,
    /// The ID token claim listing the person's groups (e.g. `groups`).
    pub groups_claim: Option<String>,
    /// SAML: the attribute read for the email when the NameID is not an email address (default
    /// `email`; empty restores it). A NameID of the emailAddress format is always the email.
    pub email_attribute: Option<String>,
    /// In order; the first group the person has gives their role at provisioning. Each role must
    /// be one you could grant.
    pub group_mappings: Option<Vec<GroupMappingDto>>,
    pub default_role: Option<String>,
    pub jit: Option<bool>,
    /// Accept the provider's MFA (OIDC `amr`, SAML `AuthnContextClassRef`).
    pub trust_idp_mfa: Option<bool>,
    /// SAML: the IdP's metadata XML (an EntityDescriptor with an HTTP-Redirect
    /// SingleSignOnService and at least one signing certificate; several allow a rotation).
    pub saml_metadata: Option<String>,
    /// SAML: accept unsolicited (IdP-initiated) responses.
    pub idp_initiated: Option<bool>,
}

impl From<ConnectionRequest> for ConnectionChange {
    fn from(r: ConnectionRequest) -> Self {
        Self {
            kind: r.kind,
            name: r.name,
            enabled: r.enabled,
            issuer: r.issuer,
            client_id: r.client_id,
            client_secret: r.client_secret,
            scopes: r.scopes,
            groups_claim: r.groups_claim,
            email_attribute: r.email_attribute,
            group_mappings: r
                .group_mappings
                .map(|m| m.into_iter().map(|x| (x.group, x.role)).collect()),
            default_role: r.default_role,
            jit: r.jit,
            trust_idp_mfa: r.trust_idp_mfa,
            saml_metadata: r.saml_metadata,
            idp_initiated: r.idp_initiated,
        }
    }
}

/// The account's connections.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/sso/connections", operation_id = "list_sso_connections", tag = "sso",
    params(("account_id" = Uuid, Path)), responses((status = 200, body = Vec<SsoConnectionDto>), (status = 403, body = ErrorBody, description = "plan_required")))]
pub async fn list_connections(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<SsoConnectionDto>>> {
    let rows = state.app.sso_connections(&s.actor, AccountId(id)).await?;
    Ok(Json(rows.iter().map(SsoConnectionDto::from).collect()))
}

/// Add a connection. OIDC: `name`, `issuer`, `client_id` and `client_secret` required, checked
/// against the provider's discovery document (`422 discovery_failed`). SAML: `kind: saml`,
/// `name` and `saml_metadata` (`422 invalid_metadata`). Needs a recent sign-in.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/sso/connections", operation_id = "create_sso_connection", tag = "sso",
    params(("account_id" = Uuid, Path)), request_body = ConnectionRequest,
    responses((status = 201, body = SsoConnectionDto), (status = "4XX", body = ErrorBody)))]
pub async fn create_connection(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(req): Json<ConnectionRequest>,
) -> ApiResult<(StatusCode, Json<SsoConnectionDto>)> {
    let c = state
        .app
        .create_sso_connection(&s.actor, AccountId(id), req.into())
        .await?;
    Ok((StatusCode::CREATED, Json((&c).into())))
}

#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/sso/connections/{connection_id}", operation_id = "get_sso_connection", tag = "sso",
    params(("account_id" = Uuid, Path), ("connection_id" = String, Path)),
    responses((status = 200, body = SsoConnectionDto), (status = "4XX", body = ErrorBody)))]
pub async fn get_connection(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, conn)): Path<(Uuid, String)>,
) -> ApiResult<Json<SsoConnectionDto>> {
    let c = state
        .app
        .sso_connection(&s.actor, AccountId(id), &conn)
        .await?;
    Ok(Json((&c).into()))
}

/// Change the fields given (`kind` cannot change). Needs a recent sign-in.
#[utoipa::path(patch, path = "/api/v1/accounts/{account_id}/sso/connections/{connection_id}", operation_id = "update_sso_connection", tag = "sso",
    params(("account_id" = Uuid, Path), ("connection_id" = String, Path)), request_body = ConnectionRequest,
    responses((status = 200, body = SsoConnectionDto), (status = "4XX", body = ErrorBody)))]
pub async fn update_connection(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, conn)): Path<(Uuid, String)>,
    Json(req): Json<ConnectionRequest>,
) -> ApiResult<Json<SsoConnectionDto>> {
    let c = state
        .app
        .update_sso_connection(&s.actor, AccountId(id), &conn, req.into())
        .await?;
    Ok(Json((&c).into()))
}

/// Delete a connection; its people keep their logins. Needs a recent sign-in.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/sso/connections/{connection_id}", operation_id = "delete_sso_connection", tag = "sso",
    params(("account_id" = Uuid, Path), ("connection_id" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub async fn delete_connection(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, conn)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    state
        .app
        .delete_sso_connection(&s.actor, AccountId(id), &conn)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SsoRedirectDto {
    /// Where to send the browser; null when the email does not sign in through an IdP.
    pub redirect_url: Option<String>,
}

/// Test a connection (enabled or not): open `redirect_url` in a browser; the page it ends on
/// shows the claims that came back and the first problem found. No session is opened.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/sso/connections/{connection_id}/test", operation_id = "test_sso_connection", tag = "sso",
    params(("account_id" = Uuid, Path), ("connection_id" = String, Path)),
    responses((status = 200, body = SsoRedirectDto), (status = "4XX", body = ErrorBody)))]
pub async fn test_connection(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, conn)): Path<(Uuid, String)>,
) -> ApiResult<Json<SsoRedirectDto>> {
    let start = state
        .app
        .test_sso_connection(&s.actor, AccountId(id), &conn)
        .await?;
    Ok(Json(SsoRedirectDto {
        redirect_url: Some(start.redirect_url),
    }))
}

/// Link your own login to the account's identity provider: from a session you opened with your
/// password (and second factor, when you have one), recently. Open `redirect_url` in this browser;
/// the provider's answer links its identity to you and signs you in through it. Until linked, an
/// SSO sign-in for an email that has a login of its own answers `sso_link_required`.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/sso/link", operation_id = "link_sso", tag = "sso",
    params(("account_id" = Uuid, Path)),
    responses((status = 200, body = SsoRedirectDto), (status = "4XX", body = ErrorBody)))]
pub async fn link(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<(HeaderMap, Json<SsoRedirectDto>)> {
    let start = state
        .app
        .start_sso_link(&s.actor, AccountId(id), SessionMode::Cookie)
        .await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&sso_state_cookie(&start.state, 600)) {
        headers.append(header::SET_COOKIE, v);
    }
    Ok((
        headers,
        Json(SsoRedirectDto {
            redirect_url: Some(start.redirect_url),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoStartRequest {
    pub email: String,
}

/// Where an email signs in: its account's identity provider when the email's domain is verified
/// by an account with an enabled connection (`redirect_url`, and a cookie binding the sign-in to
/// this browser), else null (use the password or a passkey). Decided by the domain alone: the
/// answer says nothing about who has a login.
#[utoipa::path(post, path = "/api/v1/sso/start", operation_id = "start_sso", tag = "sso", request_body = SsoStartRequest,
    responses((status = 200, body = SsoRedirectDto), (status = "4XX", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Json(req): Json<SsoStartRequest>,
) -> ApiResult<(HeaderMap, Json<SsoRedirectDto>)> {
    let start = state
        .app
        .start_sso(&req.email, SessionMode::Cookie, &meta)
        .await?;
    let mut headers = HeaderMap::new();
    if let Some(v) = start
        .as_ref()
        .and_then(|s| HeaderValue::from_str(&sso_state_cookie(&s.state, 600)).ok())
    {
        headers.append(header::SET_COOKIE, v);
    }
    Ok((
        headers,
        Json(SsoRedirectDto {
            redirect_url: start.map(|s| s.redirect_url),
        }),
    ))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnforcementDto {
    /// Members with emails in the verified domains reach the account only through its IdP.
    pub sso_required: bool,
    /// The Owner keeps a password + MFA login while SSO-only (default true).
    #[serde(default = "yes")]
    pub break_glass: bool,
}

fn yes() -> bool {
    true
}

/// A credential SSO-only does not reach by itself: made by a member the IdP now signs in.
#[derive(Serialize, ToSchema)]
pub struct CoveredCredentialDto {
    /// `api_key` (revoke: `DELETE …/api-keys/{id}`), `oauth_grant` (`DELETE
    /// …/authorized-apps/{id}`) or `oauth_app` (disable: `PATCH …/oauth-apps/{id}`).
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub made_by: String,
    pub scopes: Vec<String>,
}

/// The SSO-only setting, with the credentials of covered members that keep working by
/// themselves until ended.
#[derive(Serialize, ToSchema)]
pub struct EnforcementView {
    pub sso_required: bool,
    pub break_glass: bool,
    pub covered_credentials: Vec<CoveredCredentialDto>,
}

async fn enforcement_view(
    state: &AppState,
    s: &crate::extract::Session,
    account: AccountId,
    e: Enforcement,
) -> ApiResult<Json<EnforcementView>> {
    let covered = state.app.sso_covered_credentials(&s.actor, account).await?;
    Ok(Json(EnforcementView {
        sso_required: e.sso_required,
        break_glass: e.break_glass,
        covered_credentials: covered
            .into_iter()
            .map(|(email, c)| CoveredCredentialDto {
                kind: c.kind.as_str(),
                id: c.id,
                name: c.name,
                made_by: email,
                scopes: c.scopes.to_strings(),
            })
            .collect(),
    }))
}

/// The account's SSO-only setting, and the credentials made by members it covers (API keys,
/// OAuth grants, apps), which keep working by themselves until ended.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/sso/enforcement", operation_id = "get_sso_enforcement", tag = "sso",
    params(("account_id" = Uuid, Path)), responses((status = 200, body = EnforcementView), (status = "4XX", body = ErrorBody)))]
pub async fn get_enforcement(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<EnforcementView>> {
    let e = state.app.sso_enforcement(&s.actor, AccountId(id)).await?;
    enforcement_view(&state, &s, AccountId(id), e).await
}

/// Turn SSO-only on or off: on needs a verified domain and an enabled connection
/// (`409 sso_not_ready`) and may not lock out the session making the change (`409 sso_lockout`).
/// Needs a recent sign-in; audited (`sso.enforcement_changed`) and the Security Contact is told.
#[utoipa::path(put, path = "/api/v1/accounts/{account_id}/sso/enforcement", operation_id = "set_sso_enforcement", tag = "sso",
    params(("account_id" = Uuid, Path)), request_body = EnforcementDto,
    responses((status = 200, body = EnforcementView), (status = "4XX", body = ErrorBody)))]
pub async fn set_enforcement(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(req): Json<EnforcementDto>,
) -> ApiResult<Json<EnforcementView>> {
    let want = Enforcement {
        sso_required: req.sso_required,
        break_glass: req.break_glass,
    };
    let e = state
        .app
        .set_sso_enforcement(&s.actor, AccountId(id), want)
        .await?;
    enforcement_view(&state, &s, AccountId(id), e).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// `free` or `paid`.
    pub plan: String,
}

#[derive(Serialize, ToSchema)]
pub struct PlanDto {
    pub account_id: Uuid,
    pub plan: &'static str,
    pub changed: bool,
}

/// Set an account's plan (the operator's billing): `Authorization: Bearer <operator_secret>`.
/// Audited in the account as `account.plan_changed`.
#[utoipa::path(put, path = "/api/v1/operator/accounts/{account_id}/plan", operation_id = "set_account_plan", tag = "operator",
    params(("account_id" = Uuid, Path)), request_body = PlanRequest,
    responses((status = 200, body = PlanDto), (status = 401, body = ErrorBody), (status = "4XX", body = ErrorBody)))]
pub async fn set_plan(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(req): Json<PlanRequest>,
) -> ApiResult<Json<PlanDto>> {
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    state.app.check_operator(credential).map_err(|_| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_operator_credential",
            "this needs the operator's secret (operator_secret) as a bearer token",
        )
    })?;
    let plan = Plan::parse(&req.plan).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_plan",
            "plan is free or paid",
        )
    })?;
    let changed = state
        .app
        .set_plan(AccountId(id), plan, "operator API")
        .await?;
    Ok(Json(PlanDto {
        account_id: id,
        plan: plan.as_str(),
        changed,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ScimDto {
    /// On while a SCIM token works.
    pub enabled: bool,
    /// The SCIM base URL to give the identity provider.
    pub base_url: String,
    /// The account's SCIM tokens, newest first (secrets are never shown again).
    pub tokens: Vec<super::keys::ApiKeyDto>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateScimTokenRequest {
    /// 1–3650; absent for a token that does not expire.
    pub expires_in_days: Option<i64>,
}

/// SCIM provisioning: on or off, the base URL and the tokens (`sso:manage`, paid plan).
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/sso/scim", operation_id = "get_scim", tag = "sso",
    params(("account_id" = Uuid, Path)), responses((status = 200, body = ScimDto), (status = "4XX", body = ErrorBody)))]
pub async fn get_scim(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<ScimDto>> {
    let st = state.app.scim_status(&s.actor, AccountId(id)).await?;
    Ok(Json(ScimDto {
        enabled: st.enabled,
        base_url: st.base_url,
        tokens: st.tokens.iter().map(Into::into).collect(),
    }))
}

/// Turn SCIM on: the account's SCIM token, shown once (`sso:manage`, recent sign-in, paid plan;
/// `409 scim_token_exists` while one works).
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/sso/scim/tokens", operation_id = "create_scim_token", tag = "sso",
    params(("account_id" = Uuid, Path)), request_body(content = Option<CreateScimTokenRequest>),
    responses((status = 201, body = super::keys::NewApiKeyDto), (status = "4XX", body = ErrorBody)))]
pub async fn create_scim_token(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<super::keys::NewApiKeyDto>)> {
    let req: CreateScimTokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateScimTokenRequest::default()
    } else {
        super::keys::parse_json(&body)?
    };
    let issued = state
        .app
        .create_scim_token(&s.actor, AccountId(id), req.expires_in_days)
        .await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

/// A new SCIM token; the old one works for the grace period (default a day).
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/sso/scim/tokens/{token_id}/rotate", operation_id = "rotate_scim_token", tag = "sso",
    params(("account_id" = Uuid, Path), ("token_id" = String, Path)), request_body(content = Option<super::keys::RotateRequest>),
    responses((status = 201, body = super::keys::NewApiKeyDto), (status = "4XX", body = ErrorBody)))]
pub async fn rotate_scim_token(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((a, t)): Path<(Uuid, String)>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<super::keys::NewApiKeyDto>)> {
    let req: super::keys::RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        Default::default()
    } else {
        super::keys::parse_json(&body)?
    };
    let issued = state
        .app
        .rotate_scim_token(&s.actor, AccountId(a), &t, req.grace_period_seconds)
        .await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

/// Revoke a SCIM token at once (SCIM is off once none works).
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/sso/scim/tokens/{token_id}", operation_id = "revoke_scim_token", tag = "sso",
    params(("account_id" = Uuid, Path), ("token_id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = "4XX", body = ErrorBody)))]
pub async fn revoke_scim_token(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((a, t)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    state
        .app
        .revoke_scim_token(&s.actor, AccountId(a), &t)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SetupLinkDto {
    pub id: String,
    /// Whom it was sent to.
    pub email: String,
    /// `unused`, `opened` (its setup session works until `expires_at`), `expired` or `revoked`.
    pub state: String,
    pub created_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub used_ip: Option<String>,
    pub revoked_at: Option<String>,
}

impl SetupLinkDto {
    fn of(l: &watchword_app::sso::SetupLinkRow, now: watchword_domain::Millis) -> Self {
        let state = match (l.revoked_at, l.used_at) {
            (Some(_), _) => "revoked",
            _ if !l.live(now) => "expired",
            (None, Some(_)) => "opened",
            (None, None) => "unused",
        };
        Self {
            id: l.id.clone(),
            email: l.email.clone(),
            state: state.into(),
            created_at: time(l.created_at),
            expires_at: time(l.expires_at),
            used_at: l.used_at.map(time),
            used_ip: l.used_ip.clone(),
            revoked_at: l.revoked_at.map(time),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendSetupLinkRequest {
    /// The customer's IT admin (need not be a member).
    pub email: String,
}

/// Email a single-use setup link (24 h) to the customer's IT admin: it configures this account's
/// verified domains, SSO connections and SCIM token, nothing else (Owner, recent sign-in, paid plan).
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/sso/setup-links", operation_id = "send_setup_link", tag = "sso",
    params(("account_id" = Uuid, Path)), request_body = SendSetupLinkRequest,
    responses((status = 201, body = SetupLinkDto), (status = "4XX", body = ErrorBody)))]
pub async fn send_setup_link(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(req): Json<SendSetupLinkRequest>,
) -> ApiResult<(StatusCode, Json<SetupLinkDto>)> {
    let l = state
        .app
        .send_setup_link(&s.actor, AccountId(id), &req.email)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SetupLinkDto::of(&l, state.app.now())),
    ))
}

/// The account's setup links, newest first (Owner).
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/sso/setup-links", operation_id = "list_setup_links", tag = "sso",
    params(("account_id" = Uuid, Path)), responses((status = 200, body = Vec<SetupLinkDto>), (status = "4XX", body = ErrorBody)))]
pub async fn list_setup_links(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<SetupLinkDto>>> {
    let now = state.app.now();
    let rows = state.app.setup_links(&s.actor, AccountId(id)).await?;
    Ok(Json(
        rows.iter().map(|l| SetupLinkDto::of(l, now)).collect(),
    ))
}

/// Revoke a setup link; a setup session it opened ends at once (Owner).
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/sso/setup-links/{link_id}", operation_id = "revoke_setup_link", tag = "sso",
    params(("account_id" = Uuid, Path), ("link_id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = "4XX", body = ErrorBody)))]
pub async fn revoke_setup_link(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((a, l)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    state
        .app
        .revoke_setup_link(&s.actor, AccountId(a), &l)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
