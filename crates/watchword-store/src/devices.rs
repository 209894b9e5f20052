//! Browsers people sign in from (`devices`, found by the SHA-256 of their cookie) and the
//! single-use "This wasn't me" links of new sign-in emails (`sign_in_reports`).

use crate::rows::{int, opt_int, parsed, text};
use crate::{Conn, StoreError};
use sqlx::any::AnyRow;
use watchword_domain::{Millis, PersonId, SessionId};

#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub id: String,
    pub person_id: PersonId,
    /// Browser and OS, e.g. "Chrome 120 on Linux".
    pub label: String,
    pub user_agent: String,
    pub first_seen_at: Millis,
    pub last_seen_at: Millis,
    pub last_ip: String,
}

const COLUMNS: &str = "id, person_id, label, user_agent, first_seen_at, last_seen_at, last_ip";

fn device_row(r: &AnyRow) -> Result<DeviceRow, StoreError> {
    Ok(DeviceRow {
        id: text(r, "id")?,
        person_id: parsed(r, "person_id", PersonId::parse)?,
        label: text(r, "label")?,
        user_agent: text(r, "user_agent")?,
        first_seen_at: Millis(int(r, "first_seen_at")?),
        last_seen_at: Millis(int(r, "last_seen_at")?),
        last_ip: text(r, "last_ip")?,
    })
}

/// The person's device holding the cookie with this digest.
pub async fn find(
    c: &mut Conn,
    person: PersonId,
    token_hash: &[u8],
) -> Result<Option<DeviceRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM devices WHERE person_id = $1 AND token_hash = $2");
    let row = sqlx::query(&sql)
        .bind(person.to_string())
        .bind(token_hash.to_vec())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(device_row).transpose()
}

/// One of the person's devices by id.
pub async fn get(
    c: &mut Conn,
    person: PersonId,
    id: &str,
) -> Result<Option<DeviceRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM devices WHERE person_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(person.to_string())
        .bind(id)
        .fetch_optional(c)
        .await?;
    row.as_ref().map(device_row).transpose()
}

pub async fn insert(c: &mut Conn, d: &DeviceRow, token_hash: &[u8]) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO devices (id, person_id, token_hash, label, user_agent, first_seen_at, \
         last_seen_at, last_ip) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
    )
    .bind(&d.id)
    .bind(d.person_id.to_string())
    .bind(token_hash.to_vec())
    .bind(&d.label)
    .bind(&d.user_agent)
    .bind(d.first_seen_at.0)
    .bind(&d.last_ip)
    .execute(c)
    .await?;
    Ok(())
}

/// A sign-in from a known device: last seen now, from `ip`, as `user_agent`.
pub async fn seen(
    c: &mut Conn,
    id: &str,
    label: &str,
    user_agent: &str,
    ip: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE devices SET last_seen_at = $2, last_ip = $3, user_agent = $4, label = $5 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(now.0)
    .bind(ip)
    .bind(user_agent)
    .bind(label)
    .execute(c)
    .await?;
    Ok(())
}

/// Whether the person was told of a new sign-in from a device described as `label` since
/// `since` (at most one email per device a day, a browser whose cookie was cleared included).
/// New sign-in emails sent to `person` since `since`.
pub async fn notices_since(
    c: &mut Conn,
    person: PersonId,
    since: Millis,
) -> Result<i64, StoreError> {
    let row =
        sqlx::query("SELECT COUNT(*) AS n FROM devices WHERE person_id = $1 AND notified_at > $2")
            .bind(person.to_string())
            .bind(since.0)
            .fetch_one(c)
            .await?;
    int(&row, "n")
}

pub async fn mark_notified(c: &mut Conn, id: &str, now: Millis) -> Result<(), StoreError> {
    sqlx::query("UPDATE devices SET notified_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now.0)
        .execute(c)
        .await?;
    Ok(())
}

/// The person's devices, the most recently seen first.
pub async fn list(c: &mut Conn, person: PersonId) -> Result<Vec<DeviceRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM devices WHERE person_id = $1 ORDER BY last_seen_at DESC, id"
    );
    let rows = sqlx::query(&sql)
        .bind(person.to_string())
        .fetch_all(c)
        .await?;
    rows.iter().map(device_row).collect()
}

/// Forgets one of the person's devices; false when it is not theirs.
pub async fn delete(c: &mut Conn, person: PersonId, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM devices WHERE person_id = $1 AND id = $2")
        .bind(person.to_string())
        .bind(id)
        .execute(c)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records which device a session was opened on.
pub async fn attach_session(
    c: &mut Conn,
    session: SessionId,
    device: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET device_id = $2 WHERE id = $1")
        .bind(session.to_string())
        .bind(device)
        .execute(c)
        .await?;
    Ok(())
}

/// Ends every live session opened on the device; how many.
pub async fn end_sessions(c: &mut Conn, device: &str, now: Millis) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $2 WHERE device_id = $1 AND revoked_at IS NULL",
    )
    .bind(device)
    .bind(now.0)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() > 0 {
        crate::changes::announce(c, "device").await?;
    }
    Ok(done.rows_affected())
}

/// A "This wasn't me" link: the sign-in it is about.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub person_id: PersonId,
    pub session_id: String,
    pub device_id: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
}

pub async fn insert_report(
    c: &mut Conn,
    token_hash: &[u8],
    r: &ReportRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sign_in_reports (token_hash, person_id, session_id, device_id, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash.to_vec())
    .bind(r.person_id.to_string())
    .bind(&r.session_id)
    .bind(&r.device_id)
    .bind(r.created_at.0)
    .bind(r.expires_at.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn report(c: &mut Conn, token_hash: &[u8]) -> Result<Option<ReportRow>, StoreError> {
    let row = sqlx::query(
        "SELECT person_id, session_id, device_id, created_at, expires_at, used_at \
         FROM sign_in_reports WHERE token_hash = $1",
    )
    .bind(token_hash.to_vec())
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        Ok(ReportRow {
            person_id: parsed(&r, "person_id", PersonId::parse)?,
            session_id: text(&r, "session_id")?,
            device_id: text(&r, "device_id")?,
            created_at: Millis(int(&r, "created_at")?),
            expires_at: Millis(int(&r, "expires_at")?),
            used_at: opt_int(&r, "used_at")?.map(Millis),
        })
    })
    .transpose()
}

/// Spends a live link once; false when it was used or has expired (two clicks at once: one
/// wins).
pub async fn use_report(c: &mut Conn, token_hash: &[u8], now: Millis) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE sign_in_reports SET used_at = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash.to_vec())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}
