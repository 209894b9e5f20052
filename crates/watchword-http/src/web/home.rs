//! The signed-in home page: the person's accounts, and "New account" (one-account people go
//! straight into their account).

use super::Frame;
use super::form::SignedForm;
use super::page::SignedIn;
use super::{message, render};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    frame: Frame,
    accounts: Vec<(String, String, String)>,
    csrf: String,
}

fn home_page(s: &Session, status: StatusCode, error: Option<String>) -> Response {
    let accounts = s
        .auth
        .memberships
        .iter()
        .map(|(a, m)| (a.id.to_string(), a.name.clone(), m.role_name.clone()))
        .collect();
    render(
        status,
        HomePage {
            frame: Frame::signed_in("Accounts", s, None, None, error),
            accounts,
            csrf: s.csrf_token(),
        },
    )
}

/// One account: straight into it (`?list=1` shows the list, with "New account"); several: the
/// list.
pub async fn home(SignedIn(s): SignedIn, q: super::Params) -> Response {
    if let [(account, _)] = s.auth.memberships.as_slice()
        && q.get("list").is_none()
    {
        return Redirect::to(&format!("/accounts/{}", account.id)).into_response();
    }
    home_page(&s, StatusCode::OK, None)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewAccountForm {
    name: String,
}

/// The account switcher's "New account": a signed-in person creates an account they own.
pub async fn create_account(
    State(state): State<AppState>,
    SignedForm { session: s, form }: SignedForm<NewAccountForm>,
) -> Response {
    match state.app.create_account(&s.actor, &form.name).await {
        Ok((account, _)) => Redirect::to(&format!("/accounts/{account}")).into_response(),
        Err(e) => {
            let (status, msg) = message(e);
            home_page(&s, status, Some(msg))
        }
    }
}
