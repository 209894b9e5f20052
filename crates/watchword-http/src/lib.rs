//! HTTP: the JSON API (`api/`) and the server-rendered console (`web/`) side by side, with one
//! error mapping, the session extractors and the security headers.

pub mod api;
pub mod error;
pub mod extract;
pub mod oauth;
pub mod ops;
pub mod scim;
mod scim_schemas;
pub mod web;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use std::sync::Arc;
use std::time::Instant;
use tower_http::set_header::SetResponseHeaderLayer;
use watchword_app::App;

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    /// Proxies whose `X-Forwarded-For` entries are believed (see `extract::client_ip`).
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    pub metrics: Option<MetricsRender>,
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api::router().split_for_parts();
    let mut doc = serde_json::to_value(&openapi).unwrap_or_default();
    api::openapi::finish(&mut doc);
    let openapi = Arc::new(doc.to_string());
    let headers = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        // Answers carry credentials (session tokens, CSRF tokens, key secrets once) and
        // personal data: no cache keeps them. Static assets set their own.
        (header::CACHE_CONTROL, "no-store"),
    ];
    let mut router = api
        .route(
            "/api/openapi.json",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    (*openapi).clone(),
                )
            }),
        )
        .route("/metrics", get(ops::metrics))
        .merge(web::router(state.clone()))
        .merge(oauth::router())
        .merge(scim::router())
        .route_layer(middleware::from_fn(observe))
        .fallback(|| async { error::ApiError::not_found() })
        .layer(middleware::from_fn(refuse_control_characters))
        .layer(middleware::from_fn(extract::set_device_cookie))
        // The last resort: a panicking handler answers the opaque 500 body and is logged; the
        // server goes on.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                axum::response::IntoResponse::into_response(error::ApiError::from(
                    watchword_app::AppError::internal("a request handler panicked"),
                ))
            },
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
}

/// A path, query or form body whose decoded text holds a control character (NUL and the like;
/// a form may hold tab and line breaks) is refused before any handler sees it: 400
/// `invalid_characters`, alike on both databases. JSON bodies are checked by [`extract::Json`].
async fn refuse_control_characters(req: Request<Body>, next: Next) -> Response {
    let refuse = |what: &str| {
        axum::response::IntoResponse::into_response(error::ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_characters",
            format!("the {what} contains control characters"),
        ))
    };
    let uri = req.uri();
    let raw = [uri.path(), uri.query().unwrap_or_default()];
    let bad = raw
        .iter()
        .any(|part| percent_encoding::percent_decode_str(part).any(|b| b < 0x20 || b == 0x7f));
    if bad {
        return refuse("path or query");
    }
    let form = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, FORM_BODY_LIMIT).await else {
        return axum::response::IntoResponse::into_response(error::ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the form is too large",
        ));
    };
    let control = |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f;
    if bytes.iter().any(|b| control(*b)) || percent_encoding::percent_decode(&bytes).any(control) {
        return refuse("form");
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The largest form body read (the pages' forms are small; SAML posts have their own limit).
const FORM_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// How long a request may take before it is answered 503 `timeout` (its work is dropped; a
/// change commits whole or not at all).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Request metrics, a span per request carrying the matched route and the request id (the
/// caller's `X-Request-Id` when it is a short token, else a new UUID; echoed in the answer),
/// and the request timeout.
async fn observe(req: Request<Body>, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().clone();
    let start = Instant::now();
    let span = tracing::info_span!("request", %method, route = %route, request_id = %request_id);
    let run = tokio::time::timeout(REQUEST_TIMEOUT, next.run(req));
    let mut res = match tracing::Instrument::instrument(run, span).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(%method, route = %route, %request_id, "request timed out");
            axum::response::IntoResponse::into_response(error::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took too long; try again",
            ))
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("x-request-id", v);
    }
    let status = res.status().as_u16().to_string();
    metrics::counter!("watchword_http_requests_total", "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("watchword_http_request_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    res
}
