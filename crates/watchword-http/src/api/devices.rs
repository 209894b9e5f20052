//! A person's devices: the browsers they signed in from (list, forget).

use super::dto::time;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiSession, Json, Path};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use watchword_app::devices::DeviceView;

#[derive(Serialize, ToSchema)]
pub struct DeviceDto {
    pub id: String,
    /// Browser and OS, read from the user agent (e.g. "Chrome on Linux").
    pub label: String,
    pub user_agent: String,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub last_ip: String,
    /// The device of the session asking.
    pub current: bool,
}

impl From<DeviceView> for DeviceDto {
    fn from(d: DeviceView) -> Self {
        Self {
            id: d.row.id,
            label: d.row.label,
            user_agent: d.row.user_agent,
            first_seen_at: time(d.row.first_seen_at),
            last_seen_at: time(d.row.last_seen_at),
            last_ip: d.row.last_ip,
            current: d.current,
        }
    }
}

/// The browsers the caller signed in from, the most recently seen first.
#[utoipa::path(get, path = "/api/v1/me/devices", tag = "me", responses((status = 200, body = Vec<DeviceDto>), (status = 401, body = ErrorBody)))]
pub async fn my_devices(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Json<Vec<DeviceDto>>> {
    let devices = state.app.my_devices(&s.actor).await?;
    Ok(Json(devices.into_iter().map(DeviceDto::from).collect()))
}

/// Forget one of the caller's devices: every session opened on it ends, and its next sign-in
/// counts as a new device's.
#[utoipa::path(delete, path = "/api/v1/me/devices/{device_id}", tag = "me", params(("device_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn forget_device(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if id.len() > 64 {
        return Err(ApiError::not_found());
    }
    state.app.forget_device(&s.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
