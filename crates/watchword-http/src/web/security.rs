//! Account › Settings › Security: the Security Contact field (Owners and Admins only).

use super::{Chrome, message, notice, render};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;
use uuid::Uuid;
use watchword_app::AppError;
use watchword_domain::password::Password;
use watchword_domain::{AccountId, DomainError, MembershipId};

pub struct CandidateView {
    id: String,
    name: String,
    email: String,
    role: String,
    eligible: bool,
    reasons: String,
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    account_id: String,
    csrf: String,
    current_name: String,
    current_email: String,
    source: String,
    set_by: Option<String>,
    since: Option<String>,
    lapse_warning: Option<String>,
    q: String,
    candidates: Vec<CandidateView>,
    history: Vec<(String, String, String, String, String)>,
    reauth: bool,
    chosen: String,
}

struct Extra {
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
    reauth: Option<String>,
}

async fn render_page(
    state: &AppState,
    s: &Session,
    account: AccountId,
    q: &str,
    extra: Extra,
) -> Response {
    let app = &state.app;
    let view = match app.security_contact(&s.actor, account).await {
        Ok(v) => v,
        Err(e) => return message(&e).into_response(),
    };
    let (candidates, history) = match (
        app.contact_candidates(&s.actor, account, q).await,
        app.contact_history(&s.actor, account).await,
    ) {
        (Ok(c), Ok(h)) => (c, h),
        (Err(e), _) | (_, Err(e)) => return message(&e).into_response(),
    };
    let set_by = match view.set_by {
        Some(p) => history
            .iter()
            .find(|h| h.actor_person == Some(p))
            .and_then(|h| h.actor_email.clone()),
        None => None,
    };
    let (status, error) = extra
        .error
        .map(|(st, e)| (st, Some(e)))
        .unwrap_or((StatusCode::OK, None));
    let page = SecurityPage {
        title: "Security settings",
        chrome: Some(Chrome::new(s, Some(account))),
        notice: extra.notice,
        error,
        account_id: account.to_string(),
        csrf: s.csrf_token(),
        current_name: view
            .member
            .name
            .clone()
            .unwrap_or_else(|| view.member.email.clone()),
        current_email: view.member.email.clone(),
        source: view.source.clone(),
        set_by,
        since: view.since.map(|t| t.rfc3339()),
        lapse_warning: view
            .lapse_warning
            .then(|| view.lapses_at.map(|l| l.rfc3339()))
            .flatten(),
        q: q.to_owned(),
        candidates: candidates
            .iter()
            .map(|(m, r)| CandidateView {
                id: m.id.to_string(),
                name: m.name.clone().unwrap_or_else(|| m.email.clone()),
                email: m.email.clone(),
                role: m.role_name.clone(),
                eligible: r.is_empty(),
                reasons: r.iter().map(|x| x.message()).collect::<Vec<_>>().join("; "),
            })
            .collect(),
        history: history
            .iter()
            .map(|h| {
                (
                    h.created_at.rfc3339(),
                    h.previous_email.clone().unwrap_or_default(),
                    h.new_email.clone(),
                    h.actor_email
                        .clone()
                        .unwrap_or_else(|| "automatic check".into()),
                    h.reason.clone().unwrap_or_default(),
                )
            })
            .collect(),
        reauth: extra.reauth.is_some(),
        chosen: extra.reauth.unwrap_or_default(),
    };
    render(status, page)
}

pub async fn page(
    State(state): State<AppState>,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(s) = s else { return super::to_login() };
    let extra = Extra {
        notice: notice(q.get("done").map(String::as_str)),
        error: None,
        reauth: None,
    };
    render_page(
        &state,
        &s,
        AccountId(id),
        q.get("q").map(String::as_str).unwrap_or_default(),
        extra,
    )
    .await
}

pub async fn save(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let Some(s) = s else { return super::to_login() };
    if !super::same_origin(&headers) || !s.csrf_ok(Some(get("csrf_token"))) {
        return (
            StatusCode::FORBIDDEN,
            "request refused: it did not come from this site's own form",
        )
            .into_response();
    }
    let account = AccountId(id);
    let chosen = Some(get("member_id"))
        .filter(|v| !v.is_empty())
        .or(Some(get("chosen")).filter(|v| !v.is_empty()));
    let Some(member) = chosen.and_then(MembershipId::parse) else {
        let extra = Extra {
            notice: None,
            error: Some((
                StatusCode::UNPROCESSABLE_ENTITY,
                "select an eligible member first".into(),
            )),
            reauth: None,
        };
        return render_page(&state, &s, account, "", extra).await;
    };
    let mut actor = s.actor.clone();
    if !get("password").is_empty() {
        if let Err(e) = state
            .app
            .reauthenticate(&actor, Password::new(get("password").to_owned()))
            .await
        {
            let extra = Extra {
                notice: None,
                error: Some(message(&e)),
                reauth: Some(member.to_string()),
            };
            return render_page(&state, &s, account, "", extra).await;
        }
        actor.authenticated_at = watchword_domain::Millis::now();
    }
    match state
        .app
        .set_security_contact(&actor, account, member)
        .await
    {
        Ok(_) => {
            Redirect::to(&format!("/accounts/{id}/settings/security?done=contact")).into_response()
        }
        Err(AppError::Domain(DomainError::Forbidden {
            code: "reauthentication_required",
            ..
        })) => {
            let extra = Extra {
                notice: None,
                error: None,
                reauth: Some(member.to_string()),
            };
            render_page(&state, &s, account, "", extra).await
        }
        Err(e) => {
            let extra = Extra {
                notice: None,
                error: Some(message(&e)),
                reauth: None,
            };
            render_page(&state, &s, account, "", extra).await
        }
    }
}
