//! Reports of suspicious activity and their sealed attachments.

use crate::rows::{int, opt_int, opt_text, text};
use crate::{Conn, StoreError};
use watchword_domain::{AccountId, Millis};

#[derive(Debug, Clone)]
pub struct ReportRow {
    pub id: String,
    pub account_id: String,
    pub reporter_email: String,
    pub kind: String,
    pub description: String,
    pub sender: Option<String>,
    pub headers_sealed: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub status: String,
    pub note: String,
    pub updated_by_email: Option<String>,
    pub updated_at: Option<Millis>,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct AttachmentRow {
    pub id: String,
    pub report_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// Empty in lists; the sealed bytes when read one by one.
    pub content_sealed: Vec<u8>,
    pub key_id: String,
}

pub struct NewReport<'a> {
    pub id: &'a str,
    pub account: AccountId,
    pub reporter: &'a str,
    pub reporter_email: &'a str,
    pub kind: &'a str,
    pub description: &'a str,
    pub sender: Option<&'a str>,
    pub headers_sealed: Option<(&'a str, &'a [u8])>,
}

pub async fn insert(c: &mut Conn, r: &NewReport<'_>, now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO security_reports (id, account_id, reporter_person_id, reporter_email, kind, \
           description, sender, headers_sealed, key_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(r.id)
    .bind(r.account.to_string())
    .bind(r.reporter)
    .bind(r.reporter_email)
    .bind(r.kind)
    .bind(r.description)
    .bind(r.sender)
    .bind(r.headers_sealed.map(|(_, s)| s.to_vec()))
    .bind(r.headers_sealed.map(|(k, _)| k))
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn insert_attachment(
    c: &mut Conn,
    account: AccountId,
    a: &AttachmentRow,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO security_report_attachments (id, report_id, account_id, filename, content_type, \
           size, sha256, content_sealed, key_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&a.id)
    .bind(&a.report_id)
    .bind(account.to_string())
    .bind(&a.filename)
    .bind(&a.content_type)
    .bind(a.size)
    .bind(&a.sha256)
    .bind(a.content_sealed.clone())
    .bind(&a.key_id)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, account_id, reporter_email, kind, description, sender, headers_sealed, \
    key_id, status, note, updated_by_email, updated_at, created_at";

fn report(r: &sqlx::any::AnyRow) -> Result<ReportRow, StoreError> {
    Ok(ReportRow {
        id: text(r, "id")?,
        account_id: text(r, "account_id")?,
        reporter_email: text(r, "reporter_email")?,
        kind: text(r, "kind")?,
        description: text(r, "description")?,
        sender: opt_text(r, "sender")?,
        headers_sealed: sqlx::Row::try_get::<Option<Vec<u8>>, _>(r, "headers_sealed")?,
        key_id: opt_text(r, "key_id")?,
        status: text(r, "status")?,
        note: text(r, "note")?,
        updated_by_email: opt_text(r, "updated_by_email")?,
        updated_at: opt_int(r, "updated_at")?.map(Millis),
        created_at: Millis(int(r, "created_at")?),
    })
}

/// The account's reports, newest first (at most `limit`).
pub async fn list(
    c: &mut Conn,
    account: AccountId,
    limit: i64,
) -> Result<Vec<ReportRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM security_reports WHERE account_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(limit)
        .fetch_all(c)
        .await?;
    rows.iter().map(report).collect()
}

/// A report of the account (None for another account's).
pub async fn get(
    c: &mut Conn,
    account: AccountId,
    id: &str,
) -> Result<Option<ReportRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM security_reports WHERE account_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(id)
        .fetch_optional(c)
        .await?;
    row.as_ref().map(report).transpose()
}

pub async fn set_status(
    c: &mut Conn,
    id: &str,
    status: &str,
    note: &str,
    by: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE security_reports SET status = $2, note = $3, updated_by_email = $4, updated_at = $5 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(note)
    .bind(by)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

fn attachment(r: &sqlx::any::AnyRow, with_content: bool) -> Result<AttachmentRow, StoreError> {
    Ok(AttachmentRow {
        id: text(r, "id")?,
        report_id: text(r, "report_id")?,
        filename: text(r, "filename")?,
        content_type: text(r, "content_type")?,
        size: int(r, "size")?,
        sha256: text(r, "sha256")?,
        content_sealed: if with_content {
            sqlx::Row::try_get::<Vec<u8>, _>(r, "content_sealed")?
        } else {
            Vec::new()
        },
        key_id: text(r, "key_id")?,
    })
}

/// The attachments of reports (without their content), in order of upload.
pub async fn attachments_of(
    c: &mut Conn,
    account: AccountId,
    report_ids: &[String],
) -> Result<Vec<AttachmentRow>, StoreError> {
    let mut out = Vec::new();
    for id in report_ids {
        let rows = sqlx::query(
            "SELECT id, report_id, filename, content_type, size, sha256, key_id \
             FROM security_report_attachments WHERE account_id = $1 AND report_id = $2 ORDER BY id",
        )
        .bind(account.to_string())
        .bind(id)
        .fetch_all(&mut *c)
        .await?;
        for r in &rows {
            out.push(attachment(r, false)?);
        }
    }
    Ok(out)
}

/// One attachment with its sealed content (None unless it belongs to that report and account).
pub async fn attachment_content(
    c: &mut Conn,
    account: AccountId,
    report_id: &str,
    id: &str,
) -> Result<Option<AttachmentRow>, StoreError> {
    let row = sqlx::query(
        "SELECT id, report_id, filename, content_type, size, sha256, key_id, content_sealed \
         FROM security_report_attachments WHERE account_id = $1 AND report_id = $2 AND id = $3",
    )
    .bind(account.to_string())
    .bind(report_id)
    .bind(id)
    .fetch_optional(c)
    .await?;
    row.as_ref().map(|r| attachment(r, true)).transpose()
}
