//! Account › Audit log › Streaming: the account's audit streams (status, pending, last error),
//! a form to add one (the password confirms it; the signing secret is shown once) and Delete.

use super::form::{AccountForm, Fields, field};
use super::page::{AccountPage, Outcome, Shown, confirmed_actor};
use super::{Frame, render};
use crate::AppState;
use crate::api::audit_streams::AuditStreamDto;
use crate::extract::Session;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use uuid::Uuid;
use watchword_domain::AccountId;

#[derive(Template)]
#[template(path = "audit_streams.html")]
struct StreamsPage {
    frame: Frame,
    account_id: String,
    csrf: String,
    streams: Vec<AuditStreamDto>,
    /// A new stream's signing secret, shown once.
    secret: Option<String>,
}

async fn show(
    state: &AppState,
    s: &Session,
    account: AccountId,
    out: Outcome,
    secret: Option<String>,
) -> Shown {
    let rows = state.app.audit_streams(&s.actor, account).await?;
    let (status, notice, error) = out.banners();
    let page = StreamsPage {
        frame: Frame::signed_in("Audit streaming", s, Some(account), notice, error),
        account_id: account.to_string(),
        csrf: s.csrf_token(),
        streams: rows.iter().map(AuditStreamDto::from).collect(),
        secret,
    };
    Ok(render(status, page))
}

pub async fn page(State(state): State<AppState>, p: AccountPage) -> Shown {
    show(&state, &p.session, p.account, Outcome::done(p.done), None).await
}

pub async fn create(
    State(state): State<AppState>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let made = match confirmed_actor(&state, &s, field(&f, "password")).await {
        Ok(actor) => {
            state
                .app
                .create_audit_stream(&actor, account, field(&f, "url"))
                .await
        }
        Err(e) => Err(e),
    };
    match made {
        Ok((_, secret)) => {
            let out = Outcome::done(Some("Stream added.".into()));
            show(&state, &s, account, out, Some(secret)).await
        }
        Err(e) => show(&state, &s, account, Outcome::failed(e), None).await,
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Path((_, stream)): Path<(Uuid, String)>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let done = match confirmed_actor(&state, &s, field(&f, "password")).await {
        Ok(actor) => {
            state
                .app
                .delete_audit_stream(&actor, account, &stream)
                .await
        }
        Err(e) => Err(e),
    };
    match done {
        Ok(()) => {
            let to = format!("/accounts/{account}/audit-streams?done=stream_deleted");
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => show(&state, &s, account, Outcome::failed(e), None).await,
    }
}
