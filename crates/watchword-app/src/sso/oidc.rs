//! The OIDC relying party, on the `openidconnect` crate over the project's own reqwest: discovery
//! (cached with the provider's keys for an hour, read again at once when a token names a key it
//! does not hold), the authorization URL (code flow, PKCE S256, `state`, `nonce`), the code
//! exchange (`client_secret_basic`) and the ID token's checks (its signature by the provider's
//! JWKS, `iss`, `aud`, `exp`, `iat`, `nonce`).
//!
//! Outgoing requests follow no redirects, time out after 10 seconds and read at most
//! [`MAX_IDP_DOCUMENT`] bytes.

use super::jwk::RingJwk;
use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessToken, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watchword_domain::sso::MAX_IDP_DOCUMENT;

/// How long discovered metadata and keys are kept before they are read again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Allowed clock difference with the provider for `iat`.
const SKEW_SECS: i64 = 120;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// Why a sign-in through a provider failed: a reason code for the audit log and a message.
#[derive(Debug)]
pub struct Failure {
    pub reason: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// What a verified ID token says about the person.
#[derive(Debug, Clone)]
pub struct IdClaims {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub amr: Vec<String>,
    /// The token as received (its signature verified).
    pub token: String,
}

impl IdClaims {
    /// Every claim of the token, as signed (shown by a connection's test sign-in).
    pub fn all(&self) -> serde_json::Value {
        payload(&self.token).unwrap_or(serde_json::Value::Null)
    }
}

/// A connection's OIDC settings, the client secret opened.
pub struct Settings<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: String,
    pub scopes: &'a str,
    pub redirect_uri: &'a str,
}

/// A new authorization request: the URL to send the browser to and what the callback needs.
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// The HTTP client handed to `openidconnect`: the guarded outbound client (`crate::outbound`),
/// no redirects, bounded reads.
struct Http {
    client: reqwest::Client,
    allow_loopback: bool,
}

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, req: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(send(self.client.clone(), self.allow_loopback, req))
    }
}

async fn send(
    http: reqwest::Client,
    allow_loopback: bool,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = req.into_parts();
    let url = crate::outbound::check(&parts.uri.to_string(), allow_loopback)
        .map_err(|_| HttpError("the provider's address is not one the server may reach".into()))?;
    let mut out = http
        .request(parts.method, url)
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(e.without_url().to_string()))?;
    let mut res = http::Response::builder().status(out.status());
    for (k, v) in out.headers() {
        res = res.header(k, v);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = out.chunk().await.map_err(|e| HttpError(e.to_string()))? {
        if bytes.len() + chunk.len() > MAX_IDP_DOCUMENT {
            return Err(HttpError("the provider's answer is too large".into()));
        }
        bytes.extend_from_slice(&chunk);
    }
    res.body(bytes).map_err(|e| HttpError(e.to_string()))
}

pub struct Oidc {
    http: Http,
    cache: Mutex<HashMap<String, (Arc<Provider>, Instant)>>,
}

/// What discovery found: the metadata, and its keys ready for ring.
pub struct Provider {
    md: CoreProviderMetadata,
    keys: openidconnect::JsonWebKeySet<RingJwk>,
}

impl std::ops::Deref for Provider {
    type Target = CoreProviderMetadata;
    fn deref(&self) -> &CoreProviderMetadata {
        &self.md
    }
}

impl Oidc {
    /// `allow_loopback`: providers on loopback addresses may be reached (development, tests).
    pub fn new(allow_loopback: bool) -> Self {
        Self {
            http: Http {
                client: crate::outbound::client(allow_loopback),
                allow_loopback,
            },
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The provider's metadata and keys: from the cache unless `fresh` or older than an hour.
    pub async fn metadata(&self, issuer: &str, fresh: bool) -> Result<Arc<Provider>, Failure> {
        if !fresh
            && let Some((md, at)) = self.cache.lock().expect("cache lock").get(issuer)
            && at.elapsed() < METADATA_TTL
        {
            return Ok(md.clone());
        }
        let url = IssuerUrl::new(issuer.to_owned())
            .map_err(|e| Failure::new("discovery_failed", format!("issuer: {e}")))?;
        let md = CoreProviderMetadata::discover_async(url, &self.http)
            .await
            .map_err(|e| Failure::new("discovery_failed", discovery_message(&e)))?;
        if md.token_endpoint().is_none() {
            return Err(Failure::new(
                "discovery_failed",
                "the provider's metadata has no token_endpoint",
            ));
        }
        let keys = serde_json::to_value(md.jwks())
            .and_then(serde_json::from_value)
            .map_err(|e| Failure::new("discovery_failed", format!("the provider's keys: {e}")))?;
        let md = Arc::new(Provider { md, keys });
        self.cache
            .lock()
            .expect("cache lock")
            .insert(issuer.to_owned(), (md.clone(), Instant::now()));
        Ok(md)
    }

    fn client(md: &Provider, s: &Settings<'_>) -> Result<impl ClientLike, Failure> {
        let redirect = RedirectUrl::new(s.redirect_uri.to_owned())
            .map_err(|e| Failure::new("configuration", format!("redirect URI: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            md.md.clone(),
            ClientId::new(s.client_id.to_owned()),
            Some(ClientSecret::new(s.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// A new authorization request with fresh `state`, `nonce` and PKCE verifier.
    pub async fn authorize(&self, s: &Settings<'_>) -> Result<Authorization, Failure> {
        let md = self.metadata(s.issuer, false).await?;
        let client = Self::client(&md, s)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let scopes = s
            .scopes
            .split_whitespace()
            .filter(|x| *x != "openid")
            .map(|x| Scope::new(x.to_owned()));
        let (url, state, nonce) = client
            .auth_url(CsrfToken::new_random, Nonce::new_random)
            .add_scopes(scopes)
            .set_pkce_challenge(challenge)
            .url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code and verifies the ID token it brings; once more with fresh keys when
    /// the token names a key the cached set lacks (the provider rotated its keys).
    pub async fn finish(
        &self,
        s: &Settings<'_>,
        code: &str,
        verifier: &str,
        nonce: &str,
        now_secs: i64,
    ) -> Result<IdClaims, Failure> {
        let md = self.metadata(s.issuer, false).await?;
        let client = Self::client(&md, s)?;
        let tokens = client
            .exchange(AuthorizationCode::new(code.to_owned()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| Failure::new("token_exchange_failed", token_message(&e)))?;
        let token = tokens
            .id_token()
            .ok_or_else(|| Failure::new("missing_id_token", "the provider sent no ID token"))?
            .clone();
        let mut claims = match verify(&md, s, &token, nonce, now_secs) {
            Err(f) if f.reason == "unknown_key" => {
                let md = self.metadata(s.issuer, true).await?;
                verify(&md, s, &token, nonce, now_secs)
            }
            other => other,
        }?;
        if claims.email.is_none() {
            // Some providers put profile claims in the userinfo answer only: ask it, for the
            // same subject.
            let info: openidconnect::core::CoreUserInfoClaims = client
                .userinfo(
                    openidconnect::OAuth2TokenResponse::access_token(&tokens).clone(),
                    &claims.subject,
                )?
                .request_async(&self.http)
                .await
                .map_err(|e| {
                    Failure::new("userinfo_failed", format!("the userinfo endpoint: {e}"))
                })?;
            claims.email = info.email().map(|e| e.to_string());
            claims.email_verified = info.email_verified();
            if claims.name.is_none() {
                claims.name = info.name().and_then(|n| n.get(None)).map(|n| n.to_string());
            }
        }
        Ok(claims)
    }

    /// Checks an ID token as [`Oidc::finish`] does, against `issuer`'s cached keys (the benchmark's
    /// and the tests' entry point).
    pub async fn verify_id_token(
        &self,
        s: &Settings<'_>,
        raw: &str,
        nonce: &str,
        now_secs: i64,
    ) -> Result<IdClaims, Failure> {
        let md = self.metadata(s.issuer, false).await?;
        let token: openidconnect::core::CoreIdToken = raw
            .parse()
            .map_err(|_| Failure::new("invalid_token", "the ID token is not a signed JWT"))?;
        verify(&md, s, &token, nonce, now_secs)
    }
}

type AuthRequest<'a> = openidconnect::AuthorizationRequest<
    'a,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::core::CoreResponseType,
>;
type TokenRequest<'a> = openidconnect::CodeTokenRequest<
    'a,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
>;

type UserInfo<'a> = openidconnect::UserInfoRequest<
    'a,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
>;

/// What this module needs of the typed client (its type names five endpoint states).
pub trait ClientLike {
    fn auth_url(&self, state: fn() -> CsrfToken, nonce: fn() -> Nonce) -> AuthRequest<'_>;
    fn exchange(&self, code: AuthorizationCode) -> Result<TokenRequest<'_>, Failure>;
    fn userinfo(&self, token: AccessToken, subject: &str) -> Result<UserInfo<'_>, Failure>;
}

impl<HD, HI, HR> ClientLike
    for openidconnect::Client<
        openidconnect::EmptyAdditionalClaims,
        openidconnect::core::CoreAuthDisplay,
        openidconnect::core::CoreGenderClaim,
        openidconnect::core::CoreJweContentEncryptionAlgorithm,
        openidconnect::core::CoreJsonWebKey,
        openidconnect::core::CoreAuthPrompt,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
        openidconnect::core::CoreTokenResponse,
        openidconnect::core::CoreTokenIntrospectionResponse,
        openidconnect::core::CoreRevocableToken,
        openidconnect::core::CoreRevocationErrorResponse,
        openidconnect::EndpointSet,
        HD,
        HI,
        HR,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >
where
    HD: openidconnect::EndpointState,
    HI: openidconnect::EndpointState,
    HR: openidconnect::EndpointState,
{
    fn auth_url(&self, state: fn() -> CsrfToken, nonce: fn() -> Nonce) -> AuthRequest<'_> {
        self.authorize_url(CoreAuthenticationFlow::AuthorizationCode, state, nonce)
    }

    fn exchange(&self, code: AuthorizationCode) -> Result<TokenRequest<'_>, Failure> {
        self.exchange_code(code)
            .map_err(|e| Failure::new("discovery_failed", e.to_string()))
    }

    fn userinfo(&self, token: AccessToken, subject: &str) -> Result<UserInfo<'_>, Failure> {
        let sub = openidconnect::SubjectIdentifier::new(subject.to_owned());
        self.user_info(token, Some(sub))
            .map_err(|e| Failure::new("missing_email", format!("no email claim and {e}")))
    }
}

/// Checks an ID token against the provider's keys and issuer, for the connection's client.
fn verify(
    md: &Provider,
    s: &Settings<'_>,
    token: &openidconnect::core::CoreIdToken,
    nonce: &str,
    now_secs: i64,
) -> Result<IdClaims, Failure> {
    let now = chrono::DateTime::from_timestamp(now_secs, 0).unwrap_or_default();
    let verifier = openidconnect::IdTokenVerifier::<RingJwk>::new_confidential_client(
        ClientId::new(s.client_id.to_owned()),
        ClientSecret::new(s.client_secret.clone()),
        md.issuer().clone(),
        md.keys.clone(),
    )
    .set_time_fn(move || now)
    .set_issue_time_verifier_fn(move |iat| {
        if iat.timestamp() > now_secs + SKEW_SECS {
            Err("issued in the future".into())
        } else {
            Ok(())
        }
    });
    let claims = token
        .claims(&verifier, &Nonce::new(nonce.to_owned()))
        .map_err(claims_failure)?;
    let amr = claims
        .auth_method_refs()
        .map(|v| v.iter().map(|m| m.to_string()).collect())
        .unwrap_or_default();
    Ok(IdClaims {
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        email_verified: claims.email_verified(),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
        amr,
        token: token.to_string(),
    })
}

/// The claims of a JWT whose signature was verified, as its payload says them.
fn payload(jwt: &str) -> Option<serde_json::Value> {
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn claims_failure(e: ClaimsVerificationError) -> Failure {
    use ClaimsVerificationError as C;
    let reason = match &e {
        C::Expired(_) => "expired",
        C::InvalidAudience(_) => "audience_mismatch",
        C::InvalidIssuer(_) => "issuer_mismatch",
        C::InvalidNonce(_) => "nonce_mismatch",
        C::SignatureVerification(SignatureVerificationError::NoMatchingKey) => "unknown_key",
        C::SignatureVerification(_) => "invalid_signature",
        _ => "invalid_token",
    };
    Failure::new(reason, e.to_string())
}

fn discovery_message<E: std::error::Error>(e: &openidconnect::DiscoveryError<E>) -> String {
    use openidconnect::DiscoveryError as D;
    match e {
        D::Request(r) => format!("the discovery document could not be fetched: {r}"),
        D::Response(status, _, _) => format!("the discovery document answered {status}"),
        D::Parse(p) => format!("the discovery document is not valid: {p}"),
        D::Validation(v) => format!("the discovery document does not match the issuer: {v}"),
        other => other.to_string(),
    }
}

fn token_message<E: std::error::Error, R: openidconnect::ErrorResponse + 'static>(
    e: &openidconnect::RequestTokenError<E, R>,
) -> String {
    use openidconnect::RequestTokenError as T;
    match e {
        T::ServerResponse(r) => format!("the provider refused the code: {r:?}"),
        T::Request(r) => format!("the token endpoint could not be reached: {r}"),
        T::Parse(p, _) => format!("the token endpoint's answer is not valid: {p}"),
        T::Other(o) => o.clone(),
    }
}
