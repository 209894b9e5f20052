//! Request extractors: JSON/path/query with our error shape, client metadata, and the session
//! (bearer token or `__Host-` cookie, with CSRF defence for cookie-authenticated changes).

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{
    ConnectInfo, FromRef, FromRequest, FromRequestParts, OptionalFromRequestParts,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use watchword_app::api_keys::KeyActor;
use watchword_app::context::DeviceCookie;
use watchword_app::sessions::Authenticated;
use watchword_app::{Actor, Caller, Meta};

pub const SESSION_COOKIE: &str = "__Host-watchword_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON request body: a JSON object (an array or a scalar is refused even where serde would
/// read it into a struct) whose texts hold no control characters but tab and line breaks,
/// read into `T`. Every refusal is a 4xx with a code.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::<serde_json::Value>::from_request(req, state).await?;
        let invalid = |code, msg: &str| {
            ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, code, msg)
        };
        if !v.is_object() {
            return Err(invalid("invalid_body", "the body must be a JSON object"));
        }
        if has_control_characters(&v) {
            return Err(invalid(
                "invalid_characters",
                "text in the body may not contain control characters (tab and line breaks aside)",
            ));
        }
        T::deserialize(v)
            .map(Json)
            .map_err(|e| invalid("invalid_body", &e.to_string()))
    }
}

/// Whether any string (or key) in a JSON value holds a control character other than tab, line
/// feed and carriage return.
fn has_control_characters(v: &serde_json::Value) -> bool {
    let bad = |s: &str| {
        s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    };
    match v {
        serde_json::Value::String(s) => bad(s),
        serde_json::Value::Array(a) => a.iter().any(has_control_characters),
        serde_json::Value::Object(o) => o.iter().any(|(k, v)| bad(k) || has_control_characters(v)),
        _ => false,
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Client address and user agent. The peer address is used unless the operator trusts a proxy's
/// `X-Forwarded-For`.
pub struct ClientMeta(pub Meta);

impl<S: Send + Sync> FromRequestParts<S> for ClientMeta
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        Ok(ClientMeta(meta(parts, &state)))
    }
}

fn meta(parts: &Parts, state: &AppState) -> Meta {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let ip = client_ip(peer, forwarded, &state.trusted_proxies);
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut meta = Meta::new(ip.map(|i| i.to_string()).unwrap_or_default(), ua);
    meta.device = DeviceCookie {
        presented: cookie(&parts.headers, DEVICE_COOKIE)
            .filter(|v| DeviceCookie::well_formed(v))
            .map(str::to_owned),
        minted: parts.extensions.get::<MintedDevice>().map(|m| m.0.clone()),
    };
    meta
}

/// A browser's device cookie (see `watchword_app::devices`): long-lived, random, `HttpOnly`.
pub const DEVICE_COOKIE: &str = "__Host-watchword_device";

/// Where a sign-in puts the device cookie it minted for a browser that had none; the
/// [`set_device_cookie`] middleware sets it on the response.
#[derive(Clone, Default)]
pub struct MintedDevice(pub Arc<std::sync::OnceLock<String>>);

/// Sets the device cookie a sign-in minted during this request (about 400 days, the most a
/// browser keeps one). A request carrying credentials (`Authorization`: the API's hot path)
/// signs nobody in through a browser and gets no slot.
pub async fn set_device_cookie(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.headers().contains_key(header::AUTHORIZATION) {
        return next.run(req).await;
    }
    let minted = MintedDevice::default();
    req.extensions_mut().insert(minted.clone());
    let mut res = next.run(req).await;
    if let Some(token) = minted.0.get() {
        let value = format!(
            "{DEVICE_COOKIE}={token}; Path=/; Max-Age=34560000; Secure; HttpOnly; SameSite=Lax"
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// The client's address: the peer, unless the peer is a trusted proxy; then the right-most
/// `X-Forwarded-For` address that is not a trusted proxy (the left-most entries are whatever
/// the client wrote). An entry that does not parse as an IP stops the walk at the last proxy.
pub fn client_ip<'a>(
    peer: Option<IpAddr>,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let trusted_ip = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = peer?;
    if !trusted_ip(&client) {
        return Some(client);
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            return Some(client);
        };
        client = ip;
        if !trusted_ip(&ip) {
            return Some(ip);
        }
    }
    Some(client)
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// An authenticated session. `token` is kept so pages can derive the CSRF token.
pub struct Session {
    pub actor: Actor,
    pub auth: Arc<Authenticated>,
    pub via_cookie: bool,
    pub token: String,
}

impl Session {
    pub fn csrf_token(&self) -> String {
        watchword_domain::token::derive("csrf", &self.token)
    }
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| {
            watchword_domain::token::constant_time_eq(p.as_bytes(), self.csrf_token().as_bytes())
        })
    }
}

impl Session {
    pub fn caller(&self) -> Caller {
        Caller::Person(self.actor.clone())
    }
}

fn is_api_key(state: &AppState, token: &str) -> bool {
    state.app.is_key_token(token)
}

async fn session(parts: &mut Parts, state: &AppState) -> Result<Option<Session>, ApiError> {
    let (token, via_cookie) = match bearer(&parts.headers) {
        Some(t) if is_api_key(state, t) => {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "insufficient_scope",
                "this endpoint needs a person's session; API keys cannot use it",
            ));
        }
        Some(t) => (t.to_owned(), false),
        None => match cookie(&parts.headers, SESSION_COOKIE) {
            Some(t) => (t.to_owned(), true),
            None => return Ok(None),
        },
    };
    let meta = meta(parts, state);
    match state.app.authenticate(&token, &meta).await {
        Ok((actor, auth)) => Ok(Some(Session {
            actor,
            auth,
            via_cookie,
            token,
        })),
        Err(watchword_app::AppError::Unauthenticated) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// API authentication: bearer token or cookie; a cookie-authenticated change must carry the
/// session's CSRF token in `X-CSRF-Token`.
pub struct ApiSession(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for ApiSession
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let s = session(parts, &state)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if s.via_cookie && !safe {
            let presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !s.csrf_ok(presented) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "cookie-authenticated changes need the session's X-CSRF-Token header",
                ));
            }
        }
        Ok(ApiSession(s))
    }
}

/// Authentication for endpoints that API keys may also call: an API key (`Authorization: Bearer
/// ww_…`), else a session as for [`ApiSession`].
pub enum ApiCaller {
    Session(Session),
    Key(KeyActor),
}

impl ApiCaller {
    pub fn caller(&self) -> Caller {
        match self {
            ApiCaller::Session(s) => s.caller(),
            ApiCaller::Key(k) => Caller::Key(k.clone()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiCaller
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(s);
        if let Some(t) = bearer(&parts.headers).filter(|t| is_api_key(&state, t)) {
            let meta = meta(parts, &state);
            let key = state.app.verify_api_key(t, &meta).await?;
            return Ok(ApiCaller::Key(KeyActor { key, meta }));
        }
        let ApiSession(s) = ApiSession::from_request_parts(parts, s).await?;
        Ok(ApiCaller::Session(s))
    }
}

/// Page authentication: the cookie session if any; form handlers check CSRF themselves.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Session
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        let state = AppState::from_ref(state);
        session(parts, &state).await
    }
}

/// The Set-Cookie value for a browser session.
pub fn session_cookie(token: &str, max_age_secs: i64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age_secs}; Secure; HttpOnly; SameSite=Lax"
    )
}

/// The cookie binding an SSO sign-in to the browser that started it. `SameSite=None`: a SAML
/// IdP answers with a cross-site form POST, on which a `Lax` cookie is not sent. It grants
/// nothing by itself (it only has to match the state the answer carries).
pub const SSO_STATE_COOKIE: &str = "__Host-watchword_sso";

pub fn sso_state_cookie(state: &str, max_age_secs: i64) -> String {
    format!(
        "{SSO_STATE_COOKIE}={state}; Path=/; Max-Age={max_age_secs}; Secure; HttpOnly; SameSite=None"
    )
}

/// The setup session an Owner's setup link opened (the customer's IT admin, not a member).
pub const SETUP_COOKIE: &str = "__Host-watchword_setup";

pub fn setup_cookie(secret: &str, max_age_secs: i64) -> String {
    format!(
        "{SETUP_COOKIE}={secret}; Path=/; Max-Age={max_age_secs}; Secure; HttpOnly; SameSite=Strict"
    )
}

/// A request of a setup session (the only credential of the `/setup` pages): its grant, and the
/// secret its forms' CSRF token derives from. Anything else under `/setup` is refused.
pub struct SetupSession {
    pub grant: watchword_app::sso::SetupGrant,
    secret: String,
}

impl SetupSession {
    pub fn csrf_token(&self) -> String {
        watchword_domain::token::derive("setup-csrf", &self.secret)
    }
    pub fn csrf_ok(&self, presented: &str) -> bool {
        watchword_domain::token::constant_time_eq(
            presented.as_bytes(),
            self.csrf_token().as_bytes(),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SetupSession
where
    AppState: FromRef<S>,
{
    type Rejection = axum::response::Response;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Self, axum::response::Response> {
        let state = AppState::from_ref(state);
        let Some(secret) = cookie(&parts.headers, SETUP_COOKIE).map(str::to_owned) else {
            return Err(crate::web::setup_ended());
        };
        let meta = meta(parts, &state);
        match state.app.setup_grant(&secret, &meta).await {
            Ok(grant) => Ok(SetupSession { grant, secret }),
            Err(watchword_app::AppError::Unauthenticated) => Err(crate::web::setup_ended()),
            Err(e) => Err(axum::response::IntoResponse::into_response(ApiError::from(
                e,
            ))),
        }
    }
}

pub fn clear_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax")
}

#[cfg(test)]
mod tests {
    use super::client_ip;
    use std::net::IpAddr;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_client_is_the_right_most_address_not_a_trusted_proxy() {
        let proxies: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = ip("10.0.0.5");
        // A client-written left-most entry is not believed.
        let h = ["6.6.6.6, 203.0.113.9"];
        assert_eq!(client_ip(peer, h.into_iter(), &proxies), ip("203.0.113.9"));
        // Chained trusted proxies are skipped; several headers read as one list.
        let h = ["6.6.6.6", "203.0.113.9, 10.1.1.1"];
        assert_eq!(client_ip(peer, h.into_iter(), &proxies), ip("203.0.113.9"));
        // Text that is not an IP stops the walk at the last proxy.
        let h = ["203.0.113.9, <script>"];
        assert_eq!(client_ip(peer, h.into_iter(), &proxies), ip("10.0.0.5"));
        // From a peer that is not a trusted proxy, the header is ignored.
        let h = ["203.0.113.9"];
        assert_eq!(
            client_ip(ip("198.51.100.7"), h.into_iter(), &proxies),
            ip("198.51.100.7")
        );
        // No proxies configured: always the peer.
        assert_eq!(client_ip(peer, h.into_iter(), &[]), ip("10.0.0.5"));
        // Only proxies in the header: the left-most of them.
        let h = ["10.2.2.2, 10.1.1.1"];
        assert_eq!(client_ip(peer, h.into_iter(), &proxies), ip("10.2.2.2"));
    }
}
