//! The security overview of an account (Owners and Admins: `users:manage`).

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiSession, Json, Path};
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::posture::Overview;
use watchword_domain::{AccountId, Millis};

#[derive(Serialize, ToSchema)]
pub struct PostureCheckDto {
    /// Stable code, e.g. `mfa_coverage`, `exposed_api_keys`, `security_contact`.
    pub code: &'static str,
    pub title: &'static str,
    /// `pass`, `warn`, `fail` or `not_applicable` (e.g. SSO on the free plan).
    pub state: &'static str,
    /// The check's share of the score (weights sum to 100).
    pub weight: u32,
    /// Points earned of the weight.
    pub points: f64,
    /// What was found, in words.
    pub found: String,
    /// Why it matters.
    pub why: &'static str,
    /// The console page that fixes it.
    pub fix_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct TrendPointDto {
    /// A UTC day (YYYY-MM-DD) whose daily snapshot changed the score; it holds until the next.
    pub date: String,
    pub score: u8,
}

#[derive(Serialize, ToSchema)]
pub struct SecurityOverviewDto {
    /// 0–100: the weighted share of the applicable checks that pass.
    pub score: u8,
    pub checks: Vec<PostureCheckDto>,
    /// The daily snapshots of the last year, where the score changed.
    pub trend: Vec<TrendPointDto>,
    pub computed_at: String,
}

pub fn date_of_day(day: i64) -> String {
    Millis(day * 86_400_000).rfc3339()[..10].to_owned()
}

impl SecurityOverviewDto {
    fn new(account: AccountId, o: &Overview) -> Self {
        Self {
            score: o.posture.score,
            checks: o
                .posture
                .checks
                .iter()
                .map(|c| PostureCheckDto {
                    code: c.rule.code,
                    title: c.rule.title,
                    state: c.state.as_str(),
                    weight: c.rule.weight,
                    points: (f64::from(c.rule.weight) * c.earned * 10.0).round() / 10.0,
                    found: c.found.clone(),
                    why: c.rule.why,
                    fix_url: format!("/accounts/{account}{}", c.rule.fix),
                })
                .collect(),
            trend: o
                .trend
                .iter()
                .map(|(day, score)| TrendPointDto {
                    date: date_of_day(*day),
                    score: *score,
                })
                .collect(),
            computed_at: o.computed_at.rfc3339(),
        }
    }
}

/// The account's security score, the checks behind it and its trend over the last year.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/security-overview", operation_id = "get_security_overview", tag = "accounts", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = SecurityOverviewDto), (status = 403, body = ErrorBody, description = "forbidden: needs users:manage"), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<SecurityOverviewDto>> {
    let account = AccountId(id);
    let o = state.app.security_overview(&s.actor, account).await?;
    Ok(Json(SecurityOverviewDto::new(account, &o)))
}
