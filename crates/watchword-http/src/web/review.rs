//! The access review page: every member with what to look at, the last completed review, and
//! a button to record this one (Owners and Admins).

use super::Params;
use super::form::{Fields, SignedForm, field};
use super::{Chrome, message, notice, render, to_login};
use crate::AppState;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;
use watchword_app::access_reviews::AccessReview;
use watchword_domain::AccountId;

#[derive(Template)]
#[template(path = "access_review.html")]
struct ReviewPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    account_id: String,
    csrf: String,
    review: AccessReview,
}

async fn review_page(
    state: &AppState,
    s: &Session,
    account: AccountId,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let review = match state.app.access_review(&s.actor, account).await {
        Ok(r) => r,
        Err(e) => return message(e).into_response(),
    };
    let (status, error) = match error {
        Some((st, e)) => (st, Some(e)),
        None => (StatusCode::OK, None),
    };
    render(
        status,
        ReviewPage {
            title: "Access review",
            chrome: Some(Chrome::new(s, Some(account))),
            notice,
            error,
            account_id: account.to_string(),
            csrf: s.csrf_token(),
            review,
        },
    )
}

pub async fn page(
    State(state): State<AppState>,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Query(q): Params,
) -> Response {
    let Some(s) = s else { return to_login() };
    let done = notice(q.get("done").map(String::as_str));
    review_page(&state, &s, AccountId(id), done, None).await
}

pub async fn complete(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    SignedForm {
        session: s,
        form: f,
    }: SignedForm<Fields>,
) -> Response {
    match state
        .app
        .complete_access_review(&s.actor, AccountId(id), field(&f, "note"))
        .await
    {
        Ok(_) => {
            Redirect::to(&format!("/accounts/{id}/access-review?done=reviewed")).into_response()
        }
        Err(e) => review_page(&state, &s, AccountId(id), None, Some(message(e))).await,
    }
}
