//! The access review page: every member with what to look at, the last completed review, and
//! a button to record this one (Owners and Admins).

use super::Frame;
use super::form::{AccountForm, Fields, field};
use super::page::{AccountPage, Outcome, Shown};
use super::render;
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use watchword_app::access_reviews::AccessReview;
use watchword_domain::AccountId;

#[derive(Template)]
#[template(path = "access_review.html")]
struct ReviewPage {
    frame: Frame,
    account_id: String,
    csrf: String,
    review: AccessReview,
}

async fn review_page(state: &AppState, s: &Session, account: AccountId, out: Outcome) -> Shown {
    let review = state.app.access_review(&s.actor, account).await?;
    let (status, notice, error) = out.banners();
    Ok(render(
        status,
        ReviewPage {
            frame: Frame::signed_in("Access review", s, Some(account), notice, error),
            account_id: account.to_string(),
            csrf: s.csrf_token(),
            review,
        },
    ))
}

pub async fn page(State(state): State<AppState>, p: AccountPage) -> Shown {
    review_page(&state, &p.session, p.account, Outcome::done(p.done)).await
}

pub async fn complete(
    State(state): State<AppState>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    match state
        .app
        .complete_access_review(&s.actor, account, field(&f, "note"))
        .await
    {
        Ok(_) => Ok(
            Redirect::to(&format!("/accounts/{account}/access-review?done=reviewed"))
                .into_response(),
        ),
        Err(e) => review_page(&state, &s, account, Outcome::failed(e)).await,
    }
}
