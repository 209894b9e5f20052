//! Account › API keys: list with scopes, creator, last use, age and flags; create with a scope
//! picker; the secret shown once; clone, rotate with a grace period, revoke with confirmation.
//! Actions that need a recent sign-in ask for the password and then complete.

use super::Params;
use super::form::{Fields, SignedForm, field};
use super::{Chrome, message, notice, render};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;
use watchword_app::api_keys::{IssuedKey, NewKeyRequest};
use watchword_app::{Actor, AppError};
use watchword_domain::password::Password;
use watchword_domain::scope::ScopeSet;
use watchword_domain::{AccountId, DomainError, Millis};

struct KeyRowView {
    id: String,
    name: String,
    scopes: String,
    state: String,
    working: bool,
    flags: Vec<&'static str>,
    expires: Option<String>,
    age: String,
    creator: String,
    last_used: String,
}

/// A form that needs the password first: where it goes and what it carried.
struct Pending {
    action: String,
    fields: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    account_id: String,
    csrf: String,
    keys: Vec<KeyRowView>,
    scopes: Vec<String>,
    pending: Option<Pending>,
}

#[derive(Template)]
#[template(path = "api_key_created.html")]
struct CreatedPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    account_id: String,
    heading: &'static str,
    secret: String,
    id: String,
    name: String,
    scopes: String,
    expires: Option<String>,
    note: Option<String>,
}

fn ago(now: Millis, then: Millis) -> String {
    let days = (now.0 - then.0) / 86_400_000;
    match days {
        0 => "today".into(),
        1 => "1 day ago".into(),
        d => format!("{d} days ago"),
    }
}

async fn render_page(
    state: &AppState,
    s: &Session,
    account: AccountId,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
    pending: Option<Pending>,
) -> Response {
    let keys = match state.app.list_api_keys(&s.caller(), account).await {
        Ok(k) => k,
        Err(e) => return message(e).into_response(),
    };
    let now = state.app.now();
    let keys = keys
        .into_iter()
        .map(|k| KeyRowView {
            id: k.row.id.clone(),
            name: k.row.name.clone(),
            scopes: k.row.scopes.to_strings().join(", "),
            state: k.state.as_str().into(),
            working: k.state.works(),
            flags: k.flags.clone(),
            expires: k
                .row
                .expires_at
                .filter(|_| k.state.works())
                .map(|m| m.rfc3339()),
            age: ago(now, k.row.created_at),
            creator: k.row.created_by_email.clone(),
            last_used: k
                .row
                .last_used_at
                .map(|m| {
                    format!(
                        "{} from {}",
                        ago(now, m),
                        k.row.last_used_ip.clone().unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "never".into()),
        })
        .collect();
    let (status, error) = error
        .map(|(st, e)| (st, Some(e)))
        .unwrap_or((StatusCode::OK, None));
    let page = KeysPage {
        title: "API keys",
        chrome: Some(Chrome::new(s, Some(account))),
        notice,
        error,
        account_id: account.to_string(),
        csrf: s.csrf_token(),
        keys,
        scopes: ScopeSet::names().collect(),
        pending,
    };
    render(status, page)
}

pub async fn page(
    State(state): State<AppState>,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Query(q): Params,
) -> Response {
    let Some(s) = s else {
        return super::to_login();
    };
    let done = notice(q.get("done").map(String::as_str));
    render_page(&state, &s, AccountId(id), done, None, None).await
}

/// The actor, freshly re-authenticated when the form carried a password.
async fn actor_for(state: &AppState, s: &Session, f: &Fields) -> Result<Actor, AppError> {
    let mut actor = s.actor.clone();
    let pw = field(f, "password");
    if !pw.is_empty() {
        state
            .app
            .reauthenticate(&actor, Password::new(pw.to_owned()))
            .await?;
        actor.authenticated_at = state.app.now();
    }
    Ok(actor)
}

/// Renders the outcome of an action that makes a key, or the page again with its error (and a
/// password prompt when a recent sign-in is needed).
#[allow(clippy::too_many_arguments)]
async fn answer(
    state: &AppState,
    s: &Session,
    account: AccountId,
    action: String,
    f: &Fields,
    heading: &'static str,
    note: Option<String>,
    result: Result<IssuedKey, AppError>,
) -> Response {
    match result {
        Ok(k) => {
            let page = CreatedPage {
                title: "API key created",
                chrome: Some(Chrome::new(s, Some(account))),
                notice: None,
                error: None,
                account_id: account.to_string(),
                heading,
                id: k.key.row.id.clone(),
                name: k.key.row.name.clone(),
                scopes: k.key.row.scopes.to_strings().join(", "),
                expires: k.key.row.expires_at.map(|m| m.rfc3339()),
                secret: k.secret,
                note,
            };
            render(StatusCode::CREATED, page)
        }
        Err(e) => failed(state, s, account, action, f, e).await,
    }
}

async fn failed(
    state: &AppState,
    s: &Session,
    account: AccountId,
    action: String,
    f: &Fields,
    e: AppError,
) -> Response {
    if let AppError::Domain(DomainError::Forbidden {
        code: "reauthentication_required",
        ..
    }) = e
    {
        let fields = f
            .iter()
            .filter(|(k, _)| k != "csrf_token" && k != "password")
            .cloned()
            .collect();
        let pending = Pending { action, fields };
        return render_page(state, s, account, None, None, Some(pending)).await;
    }
    render_page(state, s, account, None, Some(message(e)), None).await
}

pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    SignedForm {
        session: s,
        form: f,
    }: SignedForm<Fields>,
) -> Response {
    let account = AccountId(id);
    let action = format!("/accounts/{id}/api-keys");
    let preset = field(&f, "preset");
    let scopes: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "scopes")
        .map(|(_, v)| v.clone())
        .collect();
    let days = field(&f, "expires_in_days").trim();
    let expires_in_days = match days {
        "" => None,
        d => match d.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => Some(0), // refused by the use case with its message
        },
    };
    let req = NewKeyRequest {
        name: field(&f, "name").to_owned(),
        scopes: (preset == "custom").then_some(scopes),
        preset: (preset != "custom" && !preset.is_empty()).then(|| preset.to_owned()),
        expires_in_days,
    };
    let result = match actor_for(&state, &s, &f).await {
        Ok(actor) => state.app.create_api_key(&actor, account, req).await,
        Err(e) => Err(e),
    };
    answer(
        &state,
        &s,
        account,
        action,
        &f,
        "API key created",
        None,
        result,
    )
    .await
}

pub async fn key_op(
    State(state): State<AppState>,
    Path((id, key, op)): Path<(Uuid, String, String)>,
    SignedForm {
        session: s,
        form: f,
    }: SignedForm<Fields>,
) -> Response {
    let account = AccountId(id);
    let action = format!("/accounts/{id}/api-keys/{key}/{op}");
    let actor = match actor_for(&state, &s, &f).await {
        Ok(a) => a,
        Err(e) => return failed(&state, &s, account, action, &f, e).await,
    };
    match op.as_str() {
        "clone" => {
            let r = state.app.clone_api_key(&actor, account, &key).await;
            answer(&state, &s, account, action, &f, "API key cloned", None, r).await
        }
        "rotate" => {
            let grace = field(&f, "grace_period_seconds").parse::<i64>().ok();
            let r = state.app.rotate_api_key(&actor, account, &key, grace).await;
            let note = Some(format!(
                "The old key {key} keeps working for {} seconds; switch the integration to the new key before then.",
                grace.unwrap_or(watchword_app::api_keys::DEFAULT_GRACE_SECS)
            ));
            answer(&state, &s, account, action, &f, "API key rotated", note, r).await
        }
        "revoke" => {
            let r = state
                .app
                .revoke_api_key(&watchword_app::Caller::Person(actor), account, &key)
                .await;
            match r {
                Ok(()) => Redirect::to(&format!("/accounts/{id}/api-keys?done=key_revoked"))
                    .into_response(),
                Err(e) => failed(&state, &s, account, action, &f, e).await,
            }
        }
        _ => super::message(AppError::NotFound).into_response(),
    }
}
