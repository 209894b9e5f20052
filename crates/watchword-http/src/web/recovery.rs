//! The account's recovery requests, for its Owner and Security Contact: who asked, from where,
//! and Approve (with the approver's password, a sign-in of their own now) or Cancel.

use super::Frame;
use super::form::{AccountForm, Fields, field};
use super::page::{AccountPage, Outcome, Shown};
use super::render;
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use watchword_app::assisted_recovery::RecoveryView;
use watchword_domain::AccountId;
use watchword_domain::password::Password;

#[derive(Template)]
#[template(path = "recovery_requests.html")]
struct RecoveryPage {
    frame: Frame,
    account_id: String,
    csrf: String,
    requests: Vec<RecoveryView>,
}

async fn page_of(state: &AppState, s: &Session, account: AccountId, out: Outcome) -> Shown {
    let requests = state.app.recovery_requests(&s.actor, account).await?;
    let (status, notice, error) = out.banners();
    Ok(render(
        status,
        RecoveryPage {
            frame: Frame::signed_in("Account recovery", s, Some(account), notice, error),
            account_id: account.to_string(),
            csrf: s.csrf_token(),
            requests,
        },
    ))
}

pub async fn page(State(state): State<AppState>, p: AccountPage) -> Shown {
    page_of(&state, &p.session, p.account, Outcome::done(p.done)).await
}

pub async fn act(
    State(state): State<AppState>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let id = field(&f, "request_id");
    let app = &state.app;
    let result = match field(&f, "op") {
        "approve" => {
            let mut actor = s.actor.clone();
            match app
                .reauthenticate(&actor, Password::new(field(&f, "password").to_owned()))
                .await
            {
                Ok(()) => {
                    actor.authenticated_at = app.now();
                    app.approve_recovery(&actor, account, id)
                        .await
                        .map(|_| "approved")
                }
                Err(e) => Err(e),
            }
        }
        "cancel" => app
            .cancel_recovery(&s.actor, account, id)
            .await
            .map(|_| "cancelled"),
        _ => Err(watchword_domain::DomainError::invalid("unknown_action", "unknown action").into()),
    };
    match result {
        Ok(done) => {
            Ok(Redirect::to(&format!("/accounts/{account}/recovery?done={done}")).into_response())
        }
        Err(e) => page_of(&state, &s, account, Outcome::failed(e)).await,
    }
}
