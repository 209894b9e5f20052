//! The OAuth consent page (`GET|POST /oauth/authorize`): the app, the account to install it in,
//! each scope in plain words and what is new since a previous grant; Allow or Deny. Refusals
//! before the client and its redirect URI are trusted are shown here, never redirected.

use super::form::{Fields, SignedForm, field};
use super::{Frame, render};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;
use watchword_app::oauth::{AuthorizeParams, Consent, Refusal};
use watchword_domain::AccountId;

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    frame: Frame,
    csrf: String,
    consent: Consent,
    /// The request's parameters, carried by the form.
    hidden: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "oauth_error.html")]
struct ErrorPage {
    frame: Frame,
    message: String,
    signed_in: bool,
}

const PARAMS: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

fn params(get: impl Fn(&str) -> Option<String>) -> AuthorizeParams {
    AuthorizeParams {
        response_type: get("response_type"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        scope: get("scope"),
        state: get("state"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
    }
}

fn shown(status: StatusCode, message: String, signed_in: bool) -> Response {
    let page = ErrorPage {
        frame: Frame::public("Authorize an app", None, None),
        message,
        signed_in,
    };
    render(status, page)
}

/// Back to the client (a page that moves on by itself: the console's CSP lets forms post only
/// here, and that covers the redirects after a post).
fn back_to_client(url: &str) -> Response {
    super::sso::to_idp(url)
}

pub async fn page(
    State(state): State<AppState>,
    session: Option<Session>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = params(|k| q.get(k).cloned());
    let checked = match state.app.check_authorize(&p).await {
        Ok(c) => c,
        Err(Refusal::Show(m)) => return shown(StatusCode::BAD_REQUEST, m, session.is_some()),
        Err(Refusal::Redirect(url)) => return Redirect::to(&url).into_response(),
    };
    let Some(s) = session else {
        let m = "Sign in to watchword in this browser, then open the app's link again.".to_owned();
        return shown(StatusCode::UNAUTHORIZED, m, false);
    };
    let candidates: Vec<AccountId> = s.auth.memberships.iter().map(|(a, _)| a.id).collect();
    match state.app.consent(&s.actor, &candidates, &checked).await {
        Ok(consent) => {
            let hidden = PARAMS
                .iter()
                .filter_map(|k| q.get(*k).map(|v| (*k, v.clone())))
                .collect();
            let page = ConsentPage {
                frame: Frame::signed_in("Authorize an app", &s, None, None, None),
                csrf: s.csrf_token(),
                consent,
                hidden,
            };
            render(StatusCode::OK, page)
        }
        Err(e) => {
            let (status, m) = super::message(e);
            shown(status, m, true)
        }
    }
}

pub async fn decide(State(state): State<AppState>, f: SignedForm<Fields>) -> Response {
    let SignedForm { session: s, form } = f;
    let p = params(|k| Some(field(&form, k).to_owned()).filter(|v| !v.is_empty()));
    let checked = match state.app.check_authorize(&p).await {
        Ok(c) => c,
        Err(Refusal::Show(m)) => return shown(StatusCode::BAD_REQUEST, m, true),
        Err(Refusal::Redirect(url)) => return back_to_client(&url),
    };
    if field(&form, "decision") != "allow" {
        return back_to_client(&checked.error("access_denied", "the member did not allow it"));
    }
    let Some(account) = uuid::Uuid::parse_str(field(&form, "account_id"))
        .ok()
        .map(AccountId)
    else {
        return shown(StatusCode::BAD_REQUEST, "Choose an account.".into(), true);
    };
    match state.app.approve(&s.actor, &checked, account).await {
        Ok(url) => back_to_client(&url),
        Err(e) => {
            let (status, m) = super::message(e);
            shown(status, m, true)
        }
    }
}
