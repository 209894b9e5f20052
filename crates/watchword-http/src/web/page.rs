//! The pieces every signed-in console page shares: the session (else the login page), the error
//! a page shows (the API's one mapping), the banner's status, and a password typed to confirm.
//!
//! A page handler takes [`SignedIn`], builds its page in a function returning
//! `Result<Response, PageError>` (so a use case's error is `?`), and renders with
//! [`super::render`].

use super::{message, notice, to_login};
use crate::AppState;
use crate::extract::Session;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use uuid::Uuid;
use watchword_app::{Actor, AppError};
use watchword_domain::password::Password;
use watchword_domain::{AccountId, DomainError};

/// A signed-in person's page request; without a session the browser goes to the login page.
pub struct SignedIn(pub Session);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        <Session as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?
            .map(SignedIn)
            .ok_or_else(to_login)
    }
}

/// A signed-in person's page of one account (`/accounts/{account_id}/…`), with its query and
/// the fixed notice its `done` parameter names.
pub struct AccountPage {
    pub session: Session,
    pub account: AccountId,
    pub query: HashMap<String, String>,
    pub done: Option<String>,
}

impl FromRequestParts<AppState> for AccountPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let SignedIn(session) = SignedIn::from_request_parts(parts, state).await?;
        let Path(id) = <Path<Uuid> as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Query(query) =
            <Query<HashMap<String, String>> as FromRequestParts<AppState>>::from_request_parts(
                parts, state,
            )
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            session,
            account: AccountId(id),
            done: notice(query.get("done").map(String::as_str)),
            query,
        })
    }
}

/// A use case's refusal shown as a page: the status and message of the one `ApiError` mapping.
pub struct PageError(pub AppError);

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = crate::error::ApiError::from(self.0);
        let refused = super::refused::Refused {
            status: e.status,
            code: e.code,
            message: e.message.clone(),
        };
        // Plain text unless `frame_refusals` renders it in the console's frame.
        let mut res = (e.status, e.message).into_response();
        res.extensions_mut().insert(refused);
        res
    }
}

/// What a page shows above its content.
pub type Shown = Result<Response, PageError>;

/// The status a page is rendered with and the error banner's text: 200 and none, or the error's.
pub fn banner(error: Option<(StatusCode, String)>) -> (StatusCode, Option<String>) {
    match error {
        Some((status, e)) => (status, Some(e)),
        None => (StatusCode::OK, None),
    }
}

/// What a page shows after an action: a fixed notice, or the error that refused the action.
#[derive(Default)]
pub struct Outcome {
    pub notice: Option<String>,
    pub error: Option<(StatusCode, String)>,
}

impl Outcome {
    pub fn done(notice: Option<String>) -> Self {
        Self {
            notice,
            error: None,
        }
    }

    pub fn failed(e: AppError) -> Self {
        Self {
            notice: None,
            error: Some(message(e)),
        }
    }

    /// The status to render with, the notice and the error banner.
    pub fn banners(self) -> (StatusCode, Option<String>, Option<String>) {
        let (status, error) = banner(self.error);
        (status, self.notice, error)
    }
}

/// The session's actor, freshly re-authenticated when the form carried the password.
pub async fn confirmed_actor(
    state: &AppState,
    s: &Session,
    password: &str,
) -> Result<Actor, AppError> {
    let mut actor = s.actor.clone();
    if !password.is_empty() {
        state
            .app
            .reauthenticate(&actor, Password::new(password.to_owned()))
            .await?;
        actor.authenticated_at = state.app.now();
    }
    Ok(actor)
}

/// Whether a use case refused for want of a recent sign-in (the page then asks for the password).
pub fn needs_password(e: &AppError) -> bool {
    matches!(
        e,
        AppError::Domain(DomainError::Forbidden {
            code: "reauthentication_required",
            ..
        })
    )
}
