//! Account › API keys: list with scopes, creator, last use, age and flags; create with a scope
//! picker; the secret shown once; clone, rotate with a grace period, revoke with confirmation.
//! Actions that need a recent sign-in ask for the password and then complete.

use super::Frame;
use super::form::{AccountForm, Fields, Kept, field};
use super::page::{AccountPage, Outcome, Shown, confirmed_actor, needs_password};
use super::render;
use super::words::{self, MaybeWhen, When};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use uuid::Uuid;
use watchword_app::AppError;
use watchword_app::api_keys::{IssuedKey, NewKeyRequest};
use watchword_domain::AccountId;
use watchword_domain::scope::ScopeSet;

struct KeyRowView {
    id: String,
    name: String,
    /// Each scope's code and its words.
    scopes: Vec<(String, String)>,
    state: &'static str,
    state_label: String,
    working: bool,
    flags: Vec<&'static str>,
    expires: Option<When>,
    created: When,
    creator: String,
    last_used: MaybeWhen,
    last_ip: String,
}

/// A form that needs the password first: where it goes and what it carried.
struct Pending {
    action: String,
    fields: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    frame: Frame,
    account_id: String,
    csrf: String,
    keys: Vec<KeyRowView>,
    /// Every scope: its code and its words.
    scopes: Vec<(String, String)>,
    pending: Option<Pending>,
    /// The create form as typed when the server refused it.
    kept: Kept,
}

#[derive(Template)]
#[template(path = "api_key_created.html")]
struct CreatedPage {
    frame: Frame,
    account_id: String,
    heading: &'static str,
    secret: String,
    id: String,
    name: String,
    scopes: Vec<(String, String)>,
    expires: Option<When>,
    note: Option<String>,
}

fn scope_views(scopes: impl IntoIterator<Item = String>) -> Vec<(String, String)> {
    scopes
        .into_iter()
        .map(|s| {
            let w = words::scope(&s);
            (s, w)
        })
        .collect()
}

async fn render_page(
    state: &AppState,
    s: &Session,
    account: AccountId,
    out: Outcome,
    pending: Option<Pending>,
    kept: Kept,
) -> Shown {
    let keys = state.app.list_api_keys(&s.caller(), account).await?;
    let keys = keys
        .into_iter()
        .map(|k| KeyRowView {
            id: k.row.id.clone(),
            name: k.row.name.clone(),
            scopes: scope_views(k.row.scopes.to_strings()),
            state: k.state.as_str(),
            state_label: words::label(k.state.as_str()),
            working: k.state.works(),
            flags: k.flags.clone(),
            expires: k.row.expires_at.filter(|_| k.state.works()).map(When),
            created: When(k.row.created_at),
            creator: k.row.created_by_email.clone(),
            last_used: MaybeWhen(k.row.last_used_at, "never"),
            last_ip: k.row.last_used_ip.clone().unwrap_or_default(),
        })
        .collect();
    let (status, notice, error) = out.banners();
    let page = KeysPage {
        frame: Frame::signed_in("API keys", s, Some(account), notice, error),
        account_id: account.to_string(),
        csrf: s.csrf_token(),
        keys,
        scopes: scope_views(ScopeSet::names()),
        pending,
        kept,
    };
    Ok(render(status, page))
}

pub async fn page(State(state): State<AppState>, p: AccountPage) -> Shown {
    render_page(
        &state,
        &p.session,
        p.account,
        Outcome::done(p.done),
        None,
        Kept::default(),
    )
    .await
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
) -> Shown {
    match result {
        Ok(k) => {
            let page = CreatedPage {
                frame: Frame::signed_in("API key created", s, Some(account), None, None),
                account_id: account.to_string(),
                heading,
                id: k.key.row.id.clone(),
                name: k.key.row.name.clone(),
                scopes: scope_views(k.key.row.scopes.to_strings()),
                expires: k.key.row.expires_at.map(When),
                secret: k.secret,
                note,
            };
            Ok(render(StatusCode::CREATED, page))
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
) -> Shown {
    if needs_password(&e) {
        let fields = f
            .iter()
            .filter(|(k, _)| k != "csrf_token" && k != "password")
            .cloned()
            .collect();
        let pending = Pending { action, fields };
        let kept = Kept::default();
        return render_page(state, s, account, Outcome::default(), Some(pending), kept).await;
    }
    // The create form keeps what was typed; other actions have nothing to keep.
    let kept = if action.ends_with("/api-keys") {
        Kept::of(f)
    } else {
        Kept::default()
    };
    render_page(state, s, account, Outcome::failed(e), None, kept).await
}

pub async fn create(
    State(state): State<AppState>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let action = format!("/accounts/{account}/api-keys");
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
    let result = match confirmed_actor(&state, &s, field(&f, "password")).await {
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
    Path((_, key, op)): Path<(Uuid, String, String)>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let action = format!("/accounts/{account}/api-keys/{key}/{op}");
    let actor = match confirmed_actor(&state, &s, field(&f, "password")).await {
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
                Ok(()) => Ok(Redirect::to(&format!(
                    "/accounts/{account}/api-keys?done=key_revoked"
                ))
                .into_response()),
                Err(e) => failed(&state, &s, account, action, &f, e).await,
            }
        }
        _ => Err(AppError::NotFound.into()),
    }
}
