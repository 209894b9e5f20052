//! A page the authority room refuses is shown in the console's frame — navigation, the reason in
//! plain words and the way out — not as bare text. A page handler's [`PageError`] marks its
//! answer with [`Refused`]; [`frame_refusals`] (a layer on the console's routes) renders it for
//! the signed-in person. The JSON API answers stay as they are.
//!
//! [`PageError`]: super::page::PageError

use super::{Frame, render};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{OptionalFromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;
use watchword_domain::AccountId;

/// What a refused page request carries to [`frame_refusals`].
#[derive(Debug, Clone)]
pub struct Refused {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "refused.html")]
struct RefusedPage {
    frame: Frame,
    heading: &'static str,
    message: String,
    code: &'static str,
    account_id: Option<String>,
    /// Where the person was going, for the way back.
    back: Option<String>,
    csrf: String,
}

/// The heading a refusal's page shows.
fn heading(code: &str) -> &'static str {
    match code {
        "mfa_enrollment_required" => "This account needs a second factor",
        "mfa_verification_required" => "Confirm your second factor",
        "sso_required" => "Sign in through your company",
        "factor_policy" => "This account requires a stronger second factor",
        "network_not_allowed" => "Not from this network",
        "sso_session_scope" => "Sign in again for this account",
        "reauthentication_required" => "Confirm it is you",
        "not_found" => "Nothing here",
        _ => "You can't do this here",
    }
}

pub async fn frame_refusals(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (headers, extensions) = (req.headers().clone(), req.extensions().clone());
    let path = req.uri().path().to_owned();
    // Where to come back to after the way out (a page; a form post is not repeated).
    let back = (req.method() == axum::http::Method::GET)
        .then(|| req.uri().path_and_query().map(|p| p.as_str().to_owned()))
        .flatten()
        .and_then(|p| super::local_path(&p));
    let res = next.run(req).await;
    let Some(refused) = res.extensions().get::<Refused>().cloned() else {
        return res;
    };
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.headers = headers;
    parts.extensions = extensions;
    let session =
        <Session as OptionalFromRequestParts<AppState>>::from_request_parts(&mut parts, &state)
            .await
            .ok()
            .flatten();
    let Some(session) = session else {
        return res;
    };
    let account = path
        .strip_prefix("/accounts/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|id| Uuid::parse_str(id).ok())
        .map(AccountId);
    // The account's own navigation only where the person may be in it at all.
    let known = account.filter(|a| session.auth.memberships.iter().any(|(x, _)| x.id == *a));
    let page = RefusedPage {
        frame: Frame::signed_in(heading(refused.code), &session, known, None, None),
        heading: heading(refused.code),
        message: refused.message,
        code: refused.code,
        account_id: known.map(|a| a.to_string()),
        back,
        csrf: session.csrf_token(),
    };
    render(refused.status, page)
}
