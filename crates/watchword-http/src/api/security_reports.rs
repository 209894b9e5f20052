//! Reports of suspicious activity: any member submits; Owners and Admins (`users:manage`) read
//! them, set their status and note, and download attachments (never rendered: always a download
//! of `application/octet-stream`, `nosniff`, sandboxed).

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiSession, Json, Path};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::security_reports::{NewAttachment, Report, ReportInput};
use watchword_domain::report::ATTACHMENTS_MAX_BYTES;
use watchword_domain::{AccountId, DomainError};

/// The most a report's request body may hold: 5 MiB of attachments in base64, 64 KiB of
/// headers (escaped) and the description.
pub const REPORT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// What the confirmation tells the reporter (seed 000).
pub const ADVICE: &str = "Thank you: your account's Security Contact has been told. If you typed your \
    password, an MFA code or a recovery code anywhere suspicious, change your password now \
    (My security) and tell your IT or security team. watchword never asks for them by email.";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentUpload {
    /// The file's name (its last path part is kept).
    pub filename: String,
    /// The file's bytes in base64 (standard alphabet). PNG, JPEG, GIF or WebP images, or an
    /// `.eml` message, judged by content; 5 MiB in all.
    pub content_base64: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitReportRequest {
    /// `phishing_email`, `unexpected_password_prompt`, `odd_account_behaviour` or `other`.
    pub kind: String,
    /// What happened, 1 to 5,000 characters.
    pub description: String,
    /// The sender's address as shown in the suspicious email.
    #[serde(default)]
    pub sender: Option<String>,
    /// The raw email headers, up to 64 KiB.
    #[serde(default)]
    pub headers: Option<String>,
    /// At most 10 files, 5 MiB in all.
    #[serde(default)]
    pub attachments: Vec<AttachmentUpload>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateReportRequest {
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// The handler's note, up to 2,000 characters (replaces the previous one).
    #[serde(default)]
    pub note: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReportAttachmentDto {
    pub id: String,
    pub filename: String,
    /// What the content was found to be.
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// Downloads it (Owners and Admins).
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct SecurityReportDto {
    pub id: String,
    pub kind: String,
    pub description: String,
    pub sender: Option<String>,
    pub reporter_email: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    pub note: String,
    pub updated_by_email: Option<String>,
    pub updated_at: Option<String>,
    pub created_at: String,
    /// The raw headers (in a single report's answer only).
    pub headers: Option<String>,
    pub attachments: Vec<ReportAttachmentDto>,
}

impl From<&Report> for SecurityReportDto {
    fn from(r: &Report) -> Self {
        let row = &r.row;
        Self {
            id: row.id.clone(),
            kind: row.kind.clone(),
            description: row.description.clone(),
            sender: row.sender.clone(),
            reporter_email: row.reporter_email.clone(),
            status: row.status.clone(),
            note: row.note.clone(),
            updated_by_email: row.updated_by_email.clone(),
            updated_at: row.updated_at.map(|t| t.rfc3339()),
            created_at: row.created_at.rfc3339(),
            headers: r.headers.clone(),
            attachments: r
                .attachments
                .iter()
                .map(|a| ReportAttachmentDto {
                    url: format!(
                        "/api/v1/accounts/{}/security-reports/{}/attachments/{}",
                        row.account_id, row.id, a.id
                    ),
                    id: a.id.clone(),
                    filename: a.filename.clone(),
                    content_type: a.content_type.clone(),
                    size: a.size,
                    sha256: a.sha256.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SubmittedReportDto {
    pub report: SecurityReportDto,
    /// What to do now: change the password if it was typed anywhere suspicious.
    pub advice: &'static str,
}

/// Decodes the uploads; what cannot be decoded, or is larger than all attachments may be, is a
/// 422 before anything is stored.
pub fn decode_attachments(list: Vec<AttachmentUpload>) -> Result<Vec<NewAttachment>, DomainError> {
    let encoded: usize = list.iter().map(|a| a.content_base64.len()).sum();
    if encoded / 4 * 3 > ATTACHMENTS_MAX_BYTES + 3 * list.len() {
        return Err(DomainError::field(
            "attachments_too_large",
            "attachments",
            "attachments may hold 5 MiB in all",
        ));
    }
    list.into_iter()
        .map(|a| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(a.content_base64.trim())
                .map_err(|_| {
                    DomainError::field(
                        "invalid_attachment",
                        "attachments",
                        "content_base64 must be base64 (standard alphabet)",
                    )
                })?;
            Ok(NewAttachment {
                filename: a.filename,
                bytes,
            })
        })
        .collect()
}

/// Report suspicious activity in the account (any member; 10 an hour per person). Goes to the
/// account's Security Contact and the operator's security inbox; audited
/// `security_report.submitted`.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/security-reports", operation_id = "submit_security_report", tag = "security reports", params(("account_id" = Uuid, Path)),
    request_body = SubmitReportRequest,
    responses((status = 201, body = SubmittedReportDto), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody, description = "body over 8 MiB"),
        (status = 422, body = ErrorBody, description = "invalid_kind, invalid_description, invalid_sender, headers_too_large, invalid_headers, too_many_attachments, attachments_too_large, invalid_attachment, invalid_filename, unsupported_attachment"),
        (status = 429, body = ErrorBody, description = "too_many_reports")))]
pub async fn submit(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(body): Json<SubmitReportRequest>,
) -> ApiResult<(StatusCode, Json<SubmittedReportDto>)> {
    let account = AccountId(id);
    // Who may report here is decided before the attachments are even decoded.
    state.app.member_access(&s.actor, account).await?;
    let attachments =
        decode_attachments(body.attachments).map_err(watchword_app::AppError::from)?;
    let input = ReportInput {
        kind: body.kind,
        description: body.description,
        sender: body.sender,
        headers: body.headers,
        attachments,
    };
    let r = state
        .app
        .report_suspicious_activity(&s.actor, account, input)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SubmittedReportDto {
            report: (&r).into(),
            advice: ADVICE,
        }),
    ))
}

/// The account's reports, newest first (Owners and Admins: `users:manage`).
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/security-reports", operation_id = "list_security_reports", tag = "security reports", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = Vec<SecurityReportDto>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<SecurityReportDto>>> {
    let list = state.app.security_reports(&s.actor, AccountId(id)).await?;
    Ok(Json(list.iter().map(Into::into).collect()))
}

/// One report with its raw headers (Owners and Admins).
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/security-reports/{report_id}", operation_id = "get_security_report", tag = "security reports",
    params(("account_id" = Uuid, Path), ("report_id" = String, Path)),
    responses((status = 200, body = SecurityReportDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, report)): Path<(Uuid, String)>,
) -> ApiResult<Json<SecurityReportDto>> {
    let r = state
        .app
        .security_report(&s.actor, AccountId(id), &report)
        .await?;
    Ok(Json((&r).into()))
}

/// Set a report's status and note (Owners and Admins; audited `security_report.updated`).
#[utoipa::path(patch, path = "/api/v1/accounts/{account_id}/security-reports/{report_id}", operation_id = "update_security_report", tag = "security reports",
    params(("account_id" = Uuid, Path), ("report_id" = String, Path)),
    request_body = UpdateReportRequest,
    responses((status = 200, body = SecurityReportDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "invalid_status, invalid_note")))]
pub async fn update(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, report)): Path<(Uuid, String)>,
    Json(body): Json<UpdateReportRequest>,
) -> ApiResult<Json<SecurityReportDto>> {
    let r = state
        .app
        .update_security_report(&s.actor, AccountId(id), &report, &body.status, &body.note)
        .await?;
    Ok(Json((&r).into()))
}

/// Download an attachment (Owners and Admins): always `application/octet-stream` with
/// `Content-Disposition: attachment`, never rendered.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/security-reports/{report_id}/attachments/{attachment_id}", operation_id = "download_security_report_attachment", tag = "security reports",
    params(("account_id" = Uuid, Path), ("report_id" = String, Path), ("attachment_id" = String, Path)),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn attachment(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((id, report, attachment)): Path<(Uuid, String, String)>,
) -> Result<Response, ApiError> {
    let f = state
        .app
        .security_report_attachment(&s.actor, AccountId(id), &report, &attachment)
        .await?;
    Ok(download(&f.filename, f.bytes))
}

/// A file as a download only: no type a browser would render or run.
pub fn download(filename: &str, bytes: Vec<u8>) -> Response {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let utf8 = percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC);
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{utf8}");
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    res
}
