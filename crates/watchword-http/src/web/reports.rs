//! Reporting suspicious activity in the console: the form every member has (with files, so a
//! multipart form, checked here as `SignedForm` checks the others: session, same origin, CSRF
//! token), and the Owners' and Admins' list and report pages with the status form.

use super::form::{AccountForm, Fields, Kept, field, forbidden};
use super::page::{AccountPage, Outcome, PageError, Shown, SignedIn};
use super::{Frame, render, same_origin};
use crate::AppState;
use crate::api::security_reports::{ADVICE, download};
use crate::extract::Session;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;
use watchword_app::AppError;
use watchword_app::security_reports::{NewAttachment, Report, ReportInput};
use watchword_domain::report::{ATTACHMENTS_MAX_COUNT, ReportKind};
use watchword_domain::{AccountId, DomainError};

#[derive(Template)]
#[template(path = "report.html")]
struct ReportForm {
    frame: Frame,
    account_id: String,
    csrf: String,
    kinds: Vec<(&'static str, &'static str)>,
    advice: Option<&'static str>,
    kept: Kept,
}

fn kinds() -> Vec<(&'static str, &'static str)> {
    ReportKind::ALL
        .iter()
        .map(|k| (k.as_str(), k.label()))
        .collect()
}

fn form_page(s: &Session, account: AccountId, out: Outcome, advice: bool, kept: Kept) -> Response {
    let (status, notice, error) = out.banners();
    render(
        status,
        ReportForm {
            frame: Frame::signed_in(
                "Report suspicious activity",
                s,
                Some(account),
                notice,
                error,
            ),
            account_id: account.to_string(),
            csrf: s.csrf_token(),
            kinds: kinds(),
            advice: advice.then_some(ADVICE),
            kept,
        },
    )
}

pub async fn form(State(state): State<AppState>, p: AccountPage) -> Shown {
    state.app.member_access(&p.session.actor, p.account).await?;
    Ok(form_page(
        &p.session,
        p.account,
        Outcome::default(),
        false,
        Kept::default(),
    ))
}

fn unreadable() -> AppError {
    DomainError::field(
        "invalid_form",
        "attachments",
        "the form could not be read (at most 5 MiB of files)",
    )
    .into()
}

/// Reads the multipart form: text fields, and the files chosen (an empty file input is none).
async fn read(mut m: Multipart) -> Result<(Fields, Vec<NewAttachment>), AppError> {
    let mut fields = Fields::new();
    let mut files = Vec::new();
    while let Some(f) = m.next_field().await.map_err(|_| unreadable())? {
        let name = f.name().unwrap_or_default().to_owned();
        if name == "attachments" {
            let filename = f.file_name().unwrap_or_default().to_owned();
            let bytes = f.bytes().await.map_err(|_| unreadable())?;
            if filename.is_empty() && bytes.is_empty() {
                continue;
            }
            if files.len() == ATTACHMENTS_MAX_COUNT {
                return Err(DomainError::field(
                    "too_many_attachments",
                    "attachments",
                    format!("at most {ATTACHMENTS_MAX_COUNT} attachments"),
                )
                .into());
            }
            files.push(NewAttachment {
                filename,
                bytes: bytes.to_vec(),
            });
        } else {
            let value = f.text().await.map_err(|_| unreadable())?;
            fields.push((name, value));
        }
    }
    Ok((fields, files))
}

pub async fn submit(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let account = AccountId(id);
    let (fields, files) = match read(multipart).await {
        Ok(v) => v,
        Err(e) => return form_page(&s, account, Outcome::failed(e), false, Kept::default()),
    };
    if !s.csrf_ok(Some(field(&fields, "csrf_token"))) {
        return forbidden();
    }
    let input = ReportInput {
        kind: field(&fields, "kind").to_owned(),
        description: field(&fields, "description").to_owned(),
        sender: Some(field(&fields, "sender").to_owned()),
        headers: Some(field(&fields, "headers").to_owned()),
        attachments: files,
    };
    match state
        .app
        .report_suspicious_activity(&s.actor, account, input)
        .await
    {
        Ok(_) => form_page(
            &s,
            account,
            Outcome::done(Some("Your report was sent.".into())),
            true,
            Kept::default(),
        ),
        Err(AppError::NotFound) => PageError(AppError::NotFound).into_response(),
        Err(e) => {
            let kept = Kept::refused(&fields, &e);
            form_page(&s, account, Outcome::failed(e), false, kept)
        }
    }
}

#[derive(Template)]
#[template(path = "security_reports.html")]
struct ListPage {
    frame: Frame,
    account_id: String,
    reports: Vec<Report>,
}

pub async fn list(State(state): State<AppState>, p: AccountPage) -> Shown {
    let reports = state
        .app
        .security_reports(&p.session.actor, p.account)
        .await?;
    Ok(render(
        StatusCode::OK,
        ListPage {
            frame: Frame::signed_in("Security reports", &p.session, Some(p.account), None, None),
            account_id: p.account.to_string(),
            reports,
        },
    ))
}

#[derive(Template)]
#[template(path = "security_report.html")]
struct ReportPage {
    frame: Frame,
    account_id: String,
    csrf: String,
    report: Report,
    statuses: [&'static str; 3],
}

async fn report_page(
    state: &AppState,
    s: &Session,
    account: AccountId,
    id: &str,
    out: Outcome,
) -> Shown {
    let report = state.app.security_report(&s.actor, account, id).await?;
    let (status, notice, error) = out.banners();
    Ok(render(
        status,
        ReportPage {
            frame: Frame::signed_in("Security report", s, Some(account), notice, error),
            account_id: account.to_string(),
            csrf: s.csrf_token(),
            report,
            statuses: ["open", "acknowledged", "resolved"],
        },
    ))
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((id, report)): Path<(Uuid, String)>,
    Query(q): super::Params,
) -> Shown {
    let out = Outcome::done(super::notice(q.get("done").map(String::as_str)));
    report_page(&state, &s, AccountId(id), &report, out).await
}

pub async fn update(
    State(state): State<AppState>,
    Path((_, report)): Path<(Uuid, String)>,
    AccountForm(s, account, f): AccountForm<Fields>,
) -> Shown {
    let r = state
        .app
        .update_security_report(
            &s.actor,
            account,
            &report,
            field(&f, "status"),
            field(&f, "note"),
        )
        .await;
    match r {
        Ok(_) => Ok(Redirect::to(&format!(
            "/accounts/{account}/security-reports/{report}?done=report_saved"
        ))
        .into_response()),
        Err(AppError::NotFound) => Err(AppError::NotFound.into()),
        Err(e) => report_page(&state, &s, account, &report, Outcome::failed(e)).await,
    }
}

pub async fn attachment(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((id, report, attachment)): Path<(Uuid, String, String)>,
) -> Shown {
    let f = state
        .app
        .security_report_attachment(&s.actor, AccountId(id), &report, &attachment)
        .await?;
    Ok(download(&f.filename, f.bytes))
}
