//! Account › Settings › Security: the Security Contact field (Owners and Admins only).

use super::form::{Fields, SignedForm, field};
use super::{Chrome, message, notice, render};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
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
    mfa_required: bool,
    members_without_mfa: i64,
    /// Turning "require MFA" on or off waits for the password.
    mfa_reauth: Option<bool>,
}

#[derive(Default)]
struct Extra {
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
    reauth: Option<String>,
    mfa_reauth: Option<bool>,
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
        Err(e) => return message(e).into_response(),
    };
    let (candidates, history, mfa) = match (
        app.contact_candidates(&s.actor, account, q).await,
        app.contact_history(&s.actor, account).await,
        app.mfa_settings(&s.caller(), account).await,
    ) {
        (Ok(c), Ok(h), Ok(m)) => (c, h, m),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return message(e).into_response(),
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
        mfa_required: mfa.0,
        members_without_mfa: mfa.1,
        mfa_reauth: extra.mfa_reauth,
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
        ..Extra::default()
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
    Path(id): Path<Uuid>,
    SignedForm {
        session: s,
        form: f,
    }: SignedForm<Fields>,
) -> Response {
    let get = |k: &str| field(&f, k);
    let account = AccountId(id);
    let chosen = Some(get("member_id"))
        .filter(|v| !v.is_empty())
        .or(Some(get("chosen")).filter(|v| !v.is_empty()));
    let Some(member) = chosen.and_then(MembershipId::parse) else {
        let extra = Extra {
            error: Some((
                StatusCode::UNPROCESSABLE_ENTITY,
                "select an eligible member first".into(),
            )),
            ..Extra::default()
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
                error: Some(message(e)),
                reauth: Some(member.to_string()),
                ..Extra::default()
            };
            return render_page(&state, &s, account, "", extra).await;
        }
        actor.authenticated_at = state.app.now();
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
                reauth: Some(member.to_string()),
                ..Extra::default()
            };
            render_page(&state, &s, account, "", extra).await
        }
        Err(e) => {
            let extra = Extra {
                error: Some(message(e)),
                ..Extra::default()
            };
            render_page(&state, &s, account, "", extra).await
        }
    }
}

/// The "require MFA" switch (Owners and Admins; always on for paid plans).
pub async fn save_mfa(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    SignedForm {
        session: s,
        form: f,
    }: SignedForm<Fields>,
) -> Response {
    let account = AccountId(id);
    let on = field(&f, "mfa_required") == "on";
    let mut actor = s.actor.clone();
    let pw = field(&f, "password");
    let fail = |e: AppError, reauth: bool| Extra {
        error: Some(message(e)),
        mfa_reauth: reauth.then_some(on),
        ..Extra::default()
    };
    if !pw.is_empty() {
        if let Err(e) = state
            .app
            .reauthenticate(&actor, Password::new(pw.to_owned()))
            .await
        {
            return render_page(&state, &s, account, "", fail(e, true)).await;
        }
        actor.authenticated_at = state.app.now();
    }
    match state.app.set_mfa_required(&actor, account, on).await {
        Ok(_) => {
            Redirect::to(&format!("/accounts/{id}/settings/security?done=mfa")).into_response()
        }
        Err(AppError::Domain(DomainError::Forbidden {
            code: "reauthentication_required",
            ..
        })) => {
            let extra = Extra {
                mfa_reauth: Some(on),
                ..Extra::default()
            };
            render_page(&state, &s, account, "", extra).await
        }
        Err(e) => render_page(&state, &s, account, "", fail(e, false)).await,
    }
}
