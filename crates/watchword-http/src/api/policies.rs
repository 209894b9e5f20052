//! An account's sign-in policies: trusted networks and the factor policy (the Owner changes
//! them with a recent sign-in; whoever reads settings may read them).

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiCaller, ApiSession, Json, Path};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::policies::NetworkPolicy;
use watchword_domain::mfa::Method;
use watchword_domain::policy::FactorPolicy;
use watchword_domain::{AccountId, DomainError};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct NetworksDto {
    /// CIDR ranges (`203.0.113.0/24`, `2001:db8::/32`) or single addresses; at most 100. Empty:
    /// the account can be used from anywhere.
    #[schema(example = json!(["203.0.113.0/24"]))]
    pub ranges: Vec<String>,
    /// Owners' own password + MFA sessions may act from outside the list (break-glass).
    #[serde(default)]
    pub owner_exempt: bool,
}

impl From<NetworkPolicy> for NetworksDto {
    fn from(p: NetworkPolicy) -> Self {
        Self {
            ranges: p.networks.ranges(),
            owner_exempt: p.owner_exempt,
        }
    }
}

/// The account's trusted networks.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/settings/networks", tag = "accounts", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = NetworksDto), (status = "4XX", body = ErrorBody)))]
pub async fn get_networks(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(a): Path<Uuid>,
) -> ApiResult<Json<NetworksDto>> {
    let p = state.app.networks(&caller.caller(), AccountId(a)).await?;
    Ok(Json(p.into()))
}

/// Set the trusted networks (the Owner, recent sign-in). Refused (`409 network_not_in_list`)
/// when the caller's own address is outside the new list. Sessions, API keys and OAuth tokens
/// acting in the account from outside it get `403 network_not_allowed`.
#[utoipa::path(put, path = "/api/v1/accounts/{account_id}/settings/networks", tag = "accounts", params(("account_id" = Uuid, Path)),
    request_body = NetworksDto, responses((status = 200, body = NetworksDto), (status = "4XX", body = ErrorBody)))]
pub async fn put_networks(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(a): Path<Uuid>,
    Json(req): Json<NetworksDto>,
) -> ApiResult<Json<NetworksDto>> {
    let p = state
        .app
        .set_networks(&s.actor, AccountId(a), &req.ranges, req.owner_exempt)
        .await?;
    Ok(Json(p.into()))
}

#[derive(Serialize, ToSchema)]
pub struct FactorPolicyDto {
    /// The second factors members may use: `passkey`, `totp`, `sms` (null: any). Recovery codes
    /// are always allowed as the backup.
    #[schema(example = json!(["passkey", "totp"]))]
    pub allowed: Option<Vec<String>>,
    /// Owner, Admin and any role with administrative permissions must sign in with a passkey
    /// (or an IdP that reports a phishing-resistant method).
    pub admin_passkey: bool,
    /// Days from setting the policy to enforcing it (0–30).
    pub grace_days: i64,
    /// When it is enforced from (null: no policy beyond "some second factor").
    pub enforced_from: Option<String>,
}

impl From<FactorPolicy> for FactorPolicyDto {
    fn from(p: FactorPolicy) -> Self {
        Self {
            allowed: p
                .allowed
                .as_ref()
                .map(|a| a.iter().map(|m| m.as_str().to_owned()).collect()),
            admin_passkey: p.admin_passkey,
            grace_days: p.grace_days,
            enforced_from: p.enforced_from().map(|m| m.rfc3339()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct PutFactorPolicy {
    /// `passkey`, `totp`, `sms` (null or absent: any).
    #[schema(example = json!(["passkey", "totp"]))]
    pub allowed: Option<Vec<String>>,
    #[serde(default)]
    pub admin_passkey: bool,
    /// 0–30, default 7.
    #[schema(example = 7)]
    pub grace_days: Option<i64>,
}

/// The account's factor policy.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/settings/factor-policy", tag = "accounts", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = FactorPolicyDto), (status = "4XX", body = ErrorBody)))]
pub async fn get_factor_policy(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(a): Path<Uuid>,
) -> ApiResult<Json<FactorPolicyDto>> {
    let p = state
        .app
        .factor_policy(&caller.caller(), AccountId(a))
        .await?;
    Ok(Json(p.into()))
}

/// Set the factor policy (the Owner, recent sign-in). Refused (`409 owner_cannot_meet_policy`)
/// while the Owner has no factor that meets it. After the grace period a member whose session
/// did not pass an allowed factor gets `403 factor_policy`.
#[utoipa::path(put, path = "/api/v1/accounts/{account_id}/settings/factor-policy", tag = "accounts", params(("account_id" = Uuid, Path)),
    request_body = PutFactorPolicy, responses((status = 200, body = FactorPolicyDto), (status = "4XX", body = ErrorBody)))]
pub async fn put_factor_policy(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(a): Path<Uuid>,
    Json(req): Json<PutFactorPolicy>,
) -> ApiResult<Json<FactorPolicyDto>> {
    let allowed = req
        .allowed
        .map(|v| {
            v.iter()
                .map(|m| {
                    Method::parse(m).ok_or_else(|| {
                        DomainError::invalid(
                            "invalid_factors",
                            format!("{m:?} is not one of passkey, totp, sms"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(watchword_app::AppError::from)?;
    let p = state
        .app
        .set_factor_policy(
            &s.actor,
            AccountId(a),
            allowed,
            req.admin_passkey,
            req.grace_days.unwrap_or(7),
        )
        .await?;
    Ok(Json(p.into()))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PhraseDto {
    /// 3–60 characters shown at the top of every email watchword sends you (null: none).
    #[schema(example = "purple walrus at noon")]
    pub phrase: Option<String>,
}

/// Your anti-phishing phrase (only you see it).
#[utoipa::path(get, path = "/api/v1/me/phrase", tag = "me",
    responses((status = 200, body = PhraseDto), (status = 401, body = ErrorBody)))]
pub async fn get_phrase(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Json<PhraseDto>> {
    let phrase = state.app.phrase(&s.actor).await?;
    Ok(Json(PhraseDto { phrase }))
}

/// Set (or with null, remove) your anti-phishing phrase: a sign-in of your own within 15 minutes.
#[utoipa::path(put, path = "/api/v1/me/phrase", tag = "me", request_body = PhraseDto,
    responses((status = 200, body = PhraseDto), (status = "4XX", body = ErrorBody)))]
pub async fn put_phrase(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Json(req): Json<PhraseDto>,
) -> ApiResult<Json<PhraseDto>> {
    state
        .app
        .set_phrase(&s.actor, req.phrase.as_deref())
        .await?;
    let phrase = state.app.phrase(&s.actor).await?;
    Ok(Json(PhraseDto { phrase }))
}
