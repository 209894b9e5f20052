//! Signing in through an account's identity provider: the login page's "Sign in with SSO" form,
//! the OIDC provider's redirect back (`/sso/oidc/callback`), the SAML IdP's POST to a
//! connection's Assertion Consumer Service and watchword's SAML metadata for the IdP.

use super::form::SiteForm;
use super::login::{LoginMfaPage, LoginPage};
use super::{Frame, Params, message, redirect_with_cookie, render};
use crate::AppState;
use crate::api::sessions::issue;
use crate::extract::{
    ClientMeta, SSO_STATE_COOKIE as STATE_COOKIE, cookie, sso_state_cookie as state_cookie,
};
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::response::Response;
use serde::Deserialize;
use watchword_app::sessions::SessionMode;
use watchword_app::sso::{AcsPost, Callback, SsoFinish};

/// The ACS reads larger bodies than the rest of the site (a response with certificates and
/// attributes); the response itself is limited again, with an audited refusal, by the app.
pub const ACS_BODY_LIMIT: usize = 256 * 1024;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    email: String,
}

#[derive(Template)]
#[template(path = "sso_redirect.html")]
struct RedirectPage {
    frame: Frame,
    url: String,
}

#[derive(Template)]
#[template(path = "sso_test.html")]
struct TestPage {
    frame: Frame,
    claims: String,
    problem: Option<String>,
}

/// A page that moves on to the identity provider by itself (and has a link), not a redirect:
/// the console's CSP lets forms post only to this site (`form-action 'self'`), and that covers
/// the redirects after a post.
pub(super) fn to_idp(url: &str) -> Response {
    let page = RedirectPage {
        frame: Frame::public("Single sign-on", None, None),
        url: url.to_owned(),
    };
    render(StatusCode::OK, page)
}

/// Sends the browser to the IdP of the email's domain, or back to the password form with the
/// same words for every email that has none.
pub async fn start(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    SiteForm(f): SiteForm<EmailForm>,
) -> Response {
    match state
        .app
        .start_sso(&f.email, SessionMode::Cookie, &meta)
        .await
    {
        Ok(Some(s)) => {
            let mut res = to_idp(&s.redirect_url);
            if let Ok(v) = HeaderValue::from_str(&state_cookie(&s.state, 600)) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
        Ok(None) => {
            let note = "Single sign-on is not set up for this email: log in with your password or a passkey.";
            render(
                StatusCode::OK,
                LoginPage::new(f.email, Some(note.into()), None),
            )
        }
        Err(e) => {
            let (status, msg) = message(e);
            render(status, LoginPage::new(f.email, None, Some(msg)))
        }
    }
}

/// "Link your company sign-in": a signed-in person (their own password and factor) goes to the
/// account's IdP; the answer links the identity to them (`App::start_sso_link`).
pub async fn link(
    State(state): State<AppState>,
    super::form::AccountForm(s, account, _): super::form::AccountForm<super::form::Fields>,
) -> Result<Response, super::page::PageError> {
    let start = state
        .app
        .start_sso_link(&s.actor, account, SessionMode::Cookie)
        .await?;
    let mut res = to_idp(&start.redirect_url);
    if let Ok(v) = HeaderValue::from_str(&state_cookie(&start.state, 600)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// The provider's redirect back with `state` and `code` (or `error`).
pub async fn callback(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    headers: HeaderMap,
    q: Params,
) -> Response {
    let field = |k: &str| q.get(k).map(String::as_str);
    let outcome = state
        .app
        .finish_oidc(
            Callback {
                state: field("state").unwrap_or_default(),
                browser_state: cookie(&headers, STATE_COOKIE),
                code: field("code"),
                error: field("error"),
                iss: field("iss"),
            },
            &meta,
        )
        .await;
    let mut res = answer(&state, outcome);
    if let Ok(v) = HeaderValue::from_str(&state_cookie("", 0)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The SAML IdP's POST (HTTP-POST binding) to a connection's ACS: a cross-site form post by
/// design, so it is not held to the same-origin rule of the site's own forms; the response's
/// signature, the request it answers and the browser's state cookie stand in for it.
pub async fn acs(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    Path(connection): Path<String>,
    headers: HeaderMap,
    Form(f): Form<AcsForm>,
) -> Response {
    let post = AcsPost {
        connection: &connection,
        saml_response: &f.saml_response,
        relay_state: f.relay_state.as_deref(),
        browser_state: cookie(&headers, STATE_COOKIE),
    };
    let outcome = state.app.finish_saml(post, &meta).await;
    let mut res = answer(&state, outcome);
    if let Ok(v) = HeaderValue::from_str(&state_cookie("", 0)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// watchword's SAML metadata for one connection, for the IdP's administrator to load.
pub async fn sp_metadata(
    State(state): State<AppState>,
    Path(connection): Path<String>,
) -> Response {
    match state.app.saml_sp_metadata(&connection).await {
        Ok(xml) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml,
        )
            .into_response(),
        Err(e) => {
            let (status, msg) = message(e);
            (status, msg).into_response()
        }
    }
}

fn answer(state: &AppState, outcome: Result<SsoFinish, watchword_app::AppError>) -> Response {
    match outcome {
        Ok(SsoFinish::Session(s)) => {
            redirect_with_cookie("/app", issue(state, SessionMode::Cookie, &s).0)
        }
        Ok(SsoFinish::SecondFactor {
            challenge_id,
            methods,
        }) => render(
            StatusCode::OK,
            LoginMfaPage::new(challenge_id, methods, None),
        ),
        Ok(SsoFinish::Test { claims, problem }) => {
            let claims = serde_json::to_string_pretty(&claims).unwrap_or_default();
            let page = TestPage {
                frame: Frame::public("Test sign-in", None, None),
                claims,
                problem,
            };
            render(StatusCode::OK, page)
        }
        Err(e) => {
            let e = crate::error::ApiError::from(e);
            let msg = format!("{} (code: {})", e.message, e.code);
            render(e.status, LoginPage::new(String::new(), None, Some(msg)))
        }
    }
}
