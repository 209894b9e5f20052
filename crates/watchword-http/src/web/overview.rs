//! The security overview page (Owners and Admins): the score, each check with why it matters and
//! a link that fixes it, and the trend of the last year as an SVG drawn here (no script).

use super::Frame;
use super::page::{AccountPage, Shown};
use super::render;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use watchword_app::posture::Overview;
use watchword_domain::Permission;
use watchword_domain::posture::{self, SNAPSHOT_KEEP_DAYS};

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    frame: Frame,
    account_id: String,
    overview: Overview,
    trend_svg: String,
    /// The first page after signing up.
    welcome: bool,
    /// The person has no second factor yet: the next step.
    needs_factor: bool,
}

pub async fn page(State(state): State<AppState>, p: AccountPage) -> Shown {
    let overview = state
        .app
        .security_overview(&p.session.actor, p.account)
        .await?;
    let trend_svg = trend_svg(&overview);
    let needs_factor = state
        .app
        .mfa_status(&p.session.actor)
        .await?
        .factors
        .is_empty();
    Ok(render(
        StatusCode::OK,
        OverviewPage {
            frame: Frame::signed_in("Security overview", &p.session, Some(p.account), None, None),
            account_id: p.account.to_string(),
            overview,
            trend_svg,
            welcome: p.query.get("welcome").is_some_and(|v| v == "1"),
            needs_factor,
        },
    ))
}

/// An account's first page: the security overview for those who administer members (Owners
/// and Admins), the member list for those who may see it, else the page every member has:
/// reporting suspicious activity.
pub async fn account_home(p: AccountPage) -> Response {
    let permissions = p
        .session
        .auth
        .memberships
        .iter()
        .find(|(a, _)| a.id == p.account)
        .map(|(_, m)| m.permissions)
        .unwrap_or_default();
    let to = if permissions.contains(Permission::UsersManage) {
        "security"
    } else if permissions.contains(Permission::UsersRead) {
        "members"
    } else {
        "report"
    };
    Redirect::to(&format!("/accounts/{}/{to}", p.account)).into_response()
}

const W: i64 = 730; // two pixels a day
const H: i64 = 160;
const PAD: i64 = 30;

/// The score of each day of the last year as a step line: a snapshot's score holds until the
/// next one, and today's point is the live score.
pub fn trend_svg(o: &Overview) -> String {
    let today = posture::day_of(o.computed_at);
    let first = today - SNAPSHOT_KEEP_DAYS + 1;
    let x =
        |day: i64| PAD + (day - first).clamp(0, SNAPSHOT_KEEP_DAYS - 1) * W / SNAPSHOT_KEEP_DAYS;
    let y = |score: u8| PAD / 2 + (100 - i64::from(score)) * (H - PAD) / 100;
    let mut points: Vec<(i64, u8)> = o.trend.clone();
    points.push((today, o.posture.score));
    let mut path = String::new();
    for (i, (day, score)) in points.iter().enumerate() {
        let (px, py) = (x(*day), y(*score));
        if i == 0 {
            path.push_str(&format!("M{px},{py}"));
        } else {
            path.push_str(&format!(" H{px} V{py}"));
        }
    }
    let label = match o.trend.first() {
        Some((day, score)) => format!(
            "Security score over the last year: {} on {}, {} today",
            score,
            crate::api::security_overview::date_of_day(*day),
            o.posture.score
        ),
        None => format!(
            "Security score: {} today; no earlier snapshot",
            o.posture.score
        ),
    };
    let mut grid = String::new();
    for s in [0u8, 50, 100] {
        let gy = y(s);
        grid.push_str(&format!(
            "<line x1=\"{PAD}\" y1=\"{gy}\" x2=\"{}\" y2=\"{gy}\" class=\"grid\"/>\
             <text x=\"{}\" y=\"{}\" class=\"axis\">{s}</text>",
            PAD + W,
            PAD - 4,
            gy + 4
        ));
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {H}\" role=\"img\" aria-labelledby=\"trend-title\" id=\"trend\">\
         <title id=\"trend-title\">{label}</title>{grid}\
         <path d=\"{path}\" class=\"score\" fill=\"none\"/>\
         <text x=\"{PAD}\" y=\"{}\" class=\"axis\">a year ago</text>\
         <text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"end\">today</text></svg>",
        W + PAD + 10,
        H - 2,
        W + PAD,
        H - 2
    )
}
