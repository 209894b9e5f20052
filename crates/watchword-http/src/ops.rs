//! Health, readiness and metrics.

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

/// The routes of a node whose database is not open and migrated yet: `/healthz` answers (the
/// process is alive), everything else — `/readyz` included — is `503 starting`. Once `ready` is
/// set (after the migrations), every request goes to it.
pub fn until_ready(ready: Arc<OnceLock<Router>>) -> Router {
    Router::new().fallback(move |req: Request| {
        let ready = ready.clone();
        async move {
            match ready.get() {
                Some(router) => match router.clone().oneshot(req).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                None if req.uri().path() == "/healthz" => "ok".into_response(),
                None => (
                    [(header::RETRY_AFTER, "5")],
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "starting",
                        "watchword is waiting for its database",
                    ),
                )
                    .into_response(),
            }
        }
    })
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "ok")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers, within 2 s (a load balancer's check never hangs on it).
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "ready"), (status = 503, description = "database unreachable")))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), state.app.store().ping());
    match ping.await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        Err(_) => {
            tracing::warn!("readiness check timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = state
        .metrics
        .as_ref()
        .map(|render| render())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
