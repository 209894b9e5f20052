//! The OAuth 2.0 protocol endpoints: `GET|POST /oauth/authorize` (the consent page, in
//! `web::consent`), `POST /oauth/token`, `POST /oauth/revoke` (RFC 7009) and
//! `GET /.well-known/oauth-authorization-server` (RFC 8414). Their errors are RFC 6749 JSON
//! (`{"error", "error_description"}`, `Cache-Control: no-store`), not the API's envelope; they
//! are described by the metadata document rather than the OpenAPI one.

use crate::AppState;
use crate::extract::ClientMeta;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::Deserialize;
use watchword_app::oauth::{ClientAuth, TokenRequest};
use watchword_domain::oauth::TokenError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/oauth/authorize",
            get(crate::web::consent::page).post(crate::web::consent::decide),
        )
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .route("/.well-known/oauth-authorization-server", get(metadata))
}

/// Form fields, each at most once (a repeated parameter is `invalid_request`, RFC 6749 §3.2).
#[derive(Deserialize)]
#[serde(transparent)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn one(&self, name: &str) -> Result<Option<String>, TokenError> {
        let mut found = self.0.iter().filter(|(k, _)| k == name);
        let first = found.next().map(|(_, v)| v.clone());
        if found.next().is_some() {
            return Err(TokenError::new(
                "invalid_request",
                format!("{name} is given more than once"),
            ));
        }
        Ok(first)
    }
}

fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

fn error(e: TokenError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::json!({ "error": e.error, "error_description": e.description });
    let mut res = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"watchword\""),
        );
    }
    no_store(res)
}

/// The client's credentials: HTTP Basic (`client_secret_basic`, URL-encoded parts) or the form
/// (`client_secret_post`), not both.
fn client_auth(headers: &HeaderMap, f: &Fields) -> Result<ClientAuth, TokenError> {
    let form = ClientAuth {
        client_id: f.one("client_id")?,
        client_secret: f.one("client_secret")?,
    };
    let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, v)| v.trim())
    else {
        return Ok(form);
    };
    if form.client_secret.is_some() {
        return Err(TokenError::new(
            "invalid_request",
            "use one client authentication method, not two",
        ));
    }
    let bad = || TokenError::new("invalid_client", "malformed Basic credentials");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic)
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad())
    };
    let id = decode(id)?;
    if form.client_id.as_deref().is_some_and(|f| f != id) {
        return Err(TokenError::new(
            "invalid_request",
            "client_id differs from the Basic credentials",
        ));
    }
    Ok(ClientAuth {
        client_id: Some(id),
        client_secret: Some(decode(secret)?),
    })
}

fn form(f: Result<Form<Fields>, FormRejection>) -> Result<Fields, TokenError> {
    f.map(|Form(f)| f).map_err(|_| {
        TokenError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
    })
}

async fn token(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    headers: HeaderMap,
    f: Result<Form<Fields>, FormRejection>,
) -> Response {
    let run = async {
        let f = form(f)?;
        let auth = client_auth(&headers, &f)?;
        let req = TokenRequest {
            grant_type: f.one("grant_type")?,
            scope: f.one("scope")?,
            code: f.one("code")?,
            redirect_uri: f.one("redirect_uri")?,
            code_verifier: f.one("code_verifier")?,
            refresh_token: f.one("refresh_token")?,
        };
        state.app.oauth_token(auth, req, &meta).await
    };
    match run.await {
        Ok(t) => {
            let mut body = serde_json::json!({
                "access_token": t.access_token,
                "token_type": "Bearer",
                "expires_in": t.expires_in,
                "scope": t.scope,
            });
            if let Some(r) = t.refresh_token {
                body["refresh_token"] = r.into();
            }
            no_store(axum::Json(body).into_response())
        }
        Err(e) => error(e),
    }
}

async fn revoke(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    headers: HeaderMap,
    f: Result<Form<Fields>, FormRejection>,
) -> Response {
    let run = async {
        let f = form(f)?;
        let auth = client_auth(&headers, &f)?;
        let token = f
            .one("token")?
            .ok_or_else(|| TokenError::new("invalid_request", "token is required"))?;
        state.app.oauth_revoke(auth, &token, &meta).await
    };
    match run.await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => error(e),
    }
}

/// Introspection (RFC 7662) by an app's own client, authenticated like at the token endpoint
/// (its refusals in the API's envelope: the endpoint is under `/api/v1`).
pub(crate) async fn client_introspection(
    state: &AppState,
    meta: &watchword_app::Meta,
    headers: &HeaderMap,
    form_client: (Option<String>, Option<String>),
    token: &str,
) -> Response {
    let fields = Fields(
        [
            ("client_id", form_client.0),
            ("client_secret", form_client.1),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect(),
    );
    let run = async {
        let auth = client_auth(headers, &fields)?;
        state.app.introspect_for_client(auth, token, meta).await
    };
    match run.await {
        Ok(watchword_app::api_keys::Introspection::Key(k)) => {
            no_store(axum::Json(crate::api::keys::key_introspection(&k)).into_response())
        }
        Ok(_) => no_store(axum::Json(serde_json::json!({ "active": false })).into_response()),
        // Under /api/v1, refusals keep the API's error envelope (as its OpenAPI document says).
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            crate::error::ApiError::new(status, e.error, e.description).into_response()
        }
    }
}

/// RFC 8414: every endpoint, grant, method and scope this server supports.
async fn metadata(State(state): State<AppState>) -> Response {
    let base = state
        .app
        .settings()
        .public_url
        .trim_end_matches('/')
        .to_owned();
    let scopes: Vec<String> = watchword_domain::scope::ScopeSet::names().collect();
    let doc = serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "introspection_endpoint": format!("{base}/api/v1/introspect"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
    });
    let mut res = axum::Json(doc).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}
