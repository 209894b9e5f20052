//! Account › Settings › Security: the Security Contact field (Owners and Admins only).

use super::Frame;
use super::form::{AccountForm, Fields, field};
use super::page::{AccountPage, Shown, banner, confirmed_actor, needs_password};
use super::words::When;
use super::{message, render};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use watchword_app::AppError;
use watchword_domain::{AccountId, MembershipId};

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
    frame: Frame,
    account_id: String,
    csrf: String,
    current_name: String,
    current_email: String,
    source: String,
    set_by: Option<String>,
    since: Option<When>,
    lapse_warning: Option<When>,
    q: String,
    candidates: Vec<CandidateView>,
    history: Vec<(When, String, String, String, String)>,
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
) -> Shown {
    let app = &state.app;
    let view = app.security_contact(&s.actor, account).await?;
    let candidates = app.contact_candidates(&s.actor, account, q).await?;
    let history = app.contact_history(&s.actor, account).await?;
    let mfa = app.mfa_settings(&s.caller(), account).await?;
    let set_by = match view.set_by {
        Some(p) => history
            .iter()
            .find(|h| h.actor_person == Some(p))
            .and_then(|h| h.actor_email.clone()),
        None => None,
    };
    let (status, error) = banner(extra.error);
    let page = SecurityPage {
        frame: Frame::signed_in("Security settings", s, Some(account), extra.notice, error),
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
        since: view.since.map(When),
        lapse_warning: view
            .lapse_warning
            .then(|| view.lapses_at.map(When))
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
                    When(h.created_at),
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
    Ok(render(status, page))
}

pub async fn page(State(state): State<AppState>, p: AccountPage) -> Shown {
    let q = p.query.get("q").map(String::as_str).unwrap_or_default();
    let extra = Extra {
        notice: p.done,
        ..Extra::default()
    };
    render_page(&state, &p.session, p.account, q, extra).await
}

pub async fn save(
    State(state): State<AppState>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let get = |k: &str| field(&f, k);
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
    let actor = match confirmed_actor(&state, &s, get("password")).await {
        Ok(a) => a,
        Err(e) => {
            let extra = Extra {
                error: Some(message(e)),
                reauth: Some(member.to_string()),
                ..Extra::default()
            };
            return render_page(&state, &s, account, "", extra).await;
        }
    };
    let extra = match state
        .app
        .set_security_contact(&actor, account, member)
        .await
    {
        Ok(_) => {
            let to = format!("/accounts/{account}/settings/security?done=contact");
            return Ok(Redirect::to(&to).into_response());
        }
        Err(e) if needs_password(&e) => Extra {
            reauth: Some(member.to_string()),
            ..Extra::default()
        },
        Err(e) => Extra {
            error: Some(message(e)),
            ..Extra::default()
        },
    };
    render_page(&state, &s, account, "", extra).await
}

/// The "require MFA" switch (Owners and Admins; always on for paid plans).
pub async fn save_mfa(
    State(state): State<AppState>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let on = field(&f, "mfa_required") == "on";
    let fail = |e: AppError, reauth: bool| Extra {
        error: Some(message(e)),
        mfa_reauth: reauth.then_some(on),
        ..Extra::default()
    };
    let actor = match confirmed_actor(&state, &s, field(&f, "password")).await {
        Ok(a) => a,
        Err(e) => return render_page(&state, &s, account, "", fail(e, true)).await,
    };
    let extra = match state.app.set_mfa_required(&actor, account, on).await {
        Ok(_) => {
            let to = format!("/accounts/{account}/settings/security?done=mfa");
            return Ok(Redirect::to(&to).into_response());
        }
        Err(e) if needs_password(&e) => Extra {
            mfa_reauth: Some(on),
            ..Extra::default()
        },
        Err(e) => fail(e, false),
    };
    render_page(&state, &s, account, "", extra).await
}
