//! Account › Settings › Single sign-on › Provisioning (SCIM): on or off, the base URL and the
//! token to copy into the IdP (shown once), rotation and revocation, the last 20 provisioning
//! events with their outcome, and how many members SCIM manages.

use super::form::AccountForm;
use super::page::{AccountPage, Outcome, Shown, confirmed_actor};
use super::{Frame, render};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use watchword_app::AppError;
use watchword_app::api_keys::KeyView;
use watchword_app::scim::ScimStatus;
use watchword_domain::audit::AuditAction;
use watchword_domain::{AccountId, DomainError};

/// One provisioning event as the page lists it.
struct EventLine {
    at: String,
    what: &'static str,
    target: String,
    refused: Option<String>,
}

#[derive(Template)]
#[template(path = "scim.html")]
struct ScimPage {
    frame: Frame,
    account_id: String,
    csrf: String,
    paid: bool,
    base_url: String,
    enabled: bool,
    tokens: Vec<KeyView>,
    events: Vec<EventLine>,
    provisioned: i64,
    /// A token just made or rotated: its secret, shown this once.
    new_secret: Option<String>,
}

fn lines(st: &ScimStatus) -> Vec<EventLine> {
    st.recent
        .iter()
        .map(|e| EventLine {
            at: e.created_at.rfc3339_secs(),
            what: AuditAction::parse(&e.action).map_or("", |a| a.label()),
            target: e
                .target_name
                .clone()
                .or_else(|| e.details["email"].as_str().map(str::to_owned))
                .unwrap_or_default(),
            refused: (e.action == AuditAction::ScimUserRefused.as_str()).then(|| {
                match e.details["reason"].as_str() {
                    Some("deactivated_by_owner") => {
                        "an Owner deactivated this member: only an Owner can reactivate them".into()
                    }
                    Some(r) => r.replace('_', " "),
                    None => "refused".into(),
                }
            }),
        })
        .collect()
}

async fn scim_page(
    state: &AppState,
    s: &Session,
    account: AccountId,
    out: Outcome,
    new_secret: Option<String>,
) -> Shown {
    let (status, notice, error) = out.banners();
    let st = match state.app.scim_status(&s.actor, account).await {
        Ok(st) => Some(st),
        Err(AppError::Domain(DomainError::Forbidden {
            code: "plan_required",
            ..
        })) => None,
        Err(e) => return Err(e.into()),
    };
    let page = ScimPage {
        frame: Frame::signed_in("Provisioning (SCIM)", s, Some(account), notice, error),
        account_id: account.to_string(),
        csrf: s.csrf_token(),
        paid: st.is_some(),
        base_url: st.as_ref().map(|x| x.base_url.clone()).unwrap_or_default(),
        enabled: st.as_ref().is_some_and(|x| x.enabled),
        events: st.as_ref().map(lines).unwrap_or_default(),
        provisioned: st.as_ref().map_or(0, |x| x.provisioned),
        tokens: st.map(|x| x.tokens).unwrap_or_default(),
        new_secret,
    };
    Ok(render(status, page))
}

pub async fn page(State(state): State<AppState>, p: AccountPage) -> Shown {
    let out = Outcome::done(p.done);
    scim_page(&state, &p.session, p.account, out, None).await
}

/// What the page's forms ask; each carries the password when the sign-in is not recent.
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ScimForm {
    Create {
        #[serde(default)]
        password: String,
    },
    Rotate {
        token_id: String,
        #[serde(default)]
        password: String,
    },
    Revoke {
        token_id: String,
        #[serde(default)]
        password: String,
    },
}

pub async fn act(
    State(state): State<AppState>,
    AccountForm(s, account, form): AccountForm<ScimForm>,
) -> Shown {
    let app = &state.app;
    let password = match &form {
        ScimForm::Create { password } => password,
        ScimForm::Rotate { password, .. } | ScimForm::Revoke { password, .. } => password,
    };
    let actor = match confirmed_actor(&state, &s, password).await {
        Ok(a) => a,
        Err(e) => return scim_page(&state, &s, account, Outcome::failed(e), None).await,
    };
    let issued = match &form {
        ScimForm::Create { .. } => app.create_scim_token(&actor, account, None).await,
        ScimForm::Rotate { token_id, .. } => {
            app.rotate_scim_token(&actor, account, token_id, None).await
        }
        ScimForm::Revoke { token_id, .. } => {
            return match app.revoke_scim_token(&actor, account, token_id).await {
                Ok(()) => {
                    let to = format!("/accounts/{account}/settings/sso/scim?done=scim_revoked");
                    Ok(Redirect::to(&to).into_response())
                }
                Err(e) => scim_page(&state, &s, account, Outcome::failed(e), None).await,
            };
        }
    };
    match issued {
        Ok(k) => scim_page(&state, &s, account, Outcome::default(), Some(k.secret)).await,
        Err(e) => scim_page(&state, &s, account, Outcome::failed(e), None).await,
    }
}
