//! Audit streams: an account's SIEM endpoints and the queue of events each is owed. An event is
//! queued for every live stream of its account in the transaction that writes it (`enqueue`,
//! from `audit::append`); a delivery claims a stream (a lease, so one node delivers it at a
//! time), sends its oldest events in order and deletes each once the SIEM accepted it.

use crate::rows::{int, opt_int, opt_text, parsed, text};
use crate::{Conn, Dialect, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;
use watchword_domain::{AccountId, AuditEventId, Millis};

#[derive(Debug, Clone)]
pub struct StreamRow {
    pub id: String,
    pub account_id: AccountId,
    pub url: String,
    pub secret_key_id: String,
    pub secret_sealed: Vec<u8>,
    pub created_by: Option<String>,
    pub created_at: Millis,
    pub delivered: i64,
    pub last_delivered_at: Option<Millis>,
    pub failing_since: Option<Millis>,
    pub last_error: Option<String>,
    pub attempts: i64,
    pub paused_at: Option<Millis>,
    /// Events queued and not yet accepted.
    pub pending: i64,
}

const COLUMNS: &str = "id, account_id, url, secret_key_id, secret_sealed, created_by, created_at, \
     delivered, last_delivered_at, failing_since, last_error, attempts, paused_at, \
     (SELECT COUNT(*) FROM audit_stream_events e WHERE e.stream_id = audit_streams.id) AS pending";

fn stream_row(r: &AnyRow) -> Result<StreamRow, StoreError> {
    Ok(StreamRow {
        id: text(r, "id")?,
        account_id: parsed(r, "account_id", AccountId::parse)?,
        url: text(r, "url")?,
        secret_key_id: text(r, "secret_key_id")?,
        secret_sealed: r.try_get("secret_sealed")?,
        created_by: opt_text(r, "created_by")?,
        created_at: Millis(int(r, "created_at")?),
        delivered: int(r, "delivered")?,
        last_delivered_at: opt_int(r, "last_delivered_at")?.map(Millis),
        failing_since: opt_int(r, "failing_since")?.map(Millis),
        last_error: opt_text(r, "last_error")?,
        attempts: int(r, "attempts")?,
        paused_at: opt_int(r, "paused_at")?.map(Millis),
        pending: int(r, "pending")?,
    })
}

/// Queues event `id` (its JSON `body`) for every live stream of `account`.
pub async fn enqueue(
    c: &mut Conn,
    account: AccountId,
    id: AuditEventId,
    body: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_stream_events (stream_id, event_id, body, created_at) \
         SELECT id, $1, $2, $3 FROM audit_streams WHERE account_id = $4 AND paused_at IS NULL",
    )
    .bind(id.to_string())
    .bind(body)
    .bind(now.0)
    .bind(account.to_string())
    .execute(c)
    .await?;
    Ok(())
}

/// Over every stream: when the oldest event still owed was queued, and how many streams are
/// failing (the metrics' stream lag).
pub async fn lag(c: &mut Conn) -> Result<(Option<Millis>, i64), StoreError> {
    let oldest: Option<i64> = sqlx::query_scalar("SELECT MIN(created_at) FROM audit_stream_events")
        .fetch_one(&mut *c)
        .await?;
    let failing: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM audit_streams WHERE failing_since IS NOT NULL AND paused_at IS NULL",
    )
    .fetch_one(&mut *c)
    .await?;
    Ok((oldest.map(Millis), failing))
}

pub async fn insert(c: &mut Conn, s: &StreamRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_streams (id, account_id, url, secret_key_id, secret_sealed, \
         created_by, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(&s.id)
    .bind(s.account_id.to_string())
    .bind(&s.url)
    .bind(&s.secret_key_id)
    .bind(s.secret_sealed.clone())
    .bind(&s.created_by)
    .bind(s.created_at.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn list(c: &mut Conn, account: AccountId) -> Result<Vec<StreamRow>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM audit_streams WHERE account_id = $1 ORDER BY created_at");
    let rows = sqlx::query(&sql)
        .bind(account.to_string())
        .fetch_all(c)
        .await?;
    rows.iter().map(stream_row).collect()
}

pub async fn get(
    c: &mut Conn,
    account: AccountId,
    id: &str,
) -> Result<Option<StreamRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_streams WHERE account_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(id)
        .fetch_optional(c)
        .await?;
    row.as_ref().map(stream_row).transpose()
}

/// Deletes a stream and its queue.
pub async fn delete(c: &mut Conn, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM audit_stream_events WHERE stream_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM audit_streams WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// Claims up to `limit` live streams with events due, for `lease_secs`.
pub async fn claim(
    c: &mut Conn,
    dialect: Dialect,
    now: Millis,
    lease_secs: i64,
    limit: i64,
) -> Result<Vec<StreamRow>, StoreError> {
    let ids: Vec<(String,)> = sqlx::query_as(&format!(
        "SELECT id FROM audit_streams s WHERE paused_at IS NULL AND next_attempt_at <= $1 \
         AND (locked_until IS NULL OR locked_until <= $1) \
         AND EXISTS (SELECT 1 FROM audit_stream_events e WHERE e.stream_id = s.id) \
         ORDER BY next_attempt_at LIMIT $2{}",
        dialect.skip_locked()
    ))
    .bind(now.0)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    let mut claimed = Vec::new();
    for (id,) in ids {
        let done = sqlx::query(
            "UPDATE audit_streams SET locked_until = $2 WHERE id = $1 \
             AND (locked_until IS NULL OR locked_until <= $3)",
        )
        .bind(&id)
        .bind(now.plus_secs(lease_secs).0)
        .bind(now.0)
        .execute(&mut *c)
        .await?;
        if done.rows_affected() == 1 {
            let sql = format!("SELECT {COLUMNS} FROM audit_streams WHERE id = $1");
            let row = sqlx::query(&sql).bind(&id).fetch_one(&mut *c).await?;
            claimed.push(stream_row(&row)?);
        }
    }
    Ok(claimed)
}

/// A stream's oldest queued events (event id and body), in order.
pub async fn oldest(
    c: &mut Conn,
    stream: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT event_id, body FROM audit_stream_events WHERE stream_id = $1 \
         ORDER BY event_id LIMIT $2",
    )
    .bind(stream)
    .bind(limit)
    .fetch_all(c)
    .await?)
}

/// An event the SIEM accepted: off the queue, counted, the failure streak over.
pub async fn delivered(
    c: &mut Conn,
    stream: &str,
    event: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM audit_stream_events WHERE stream_id = $1 AND event_id = $2")
        .bind(stream)
        .bind(event)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "UPDATE audit_streams SET delivered = delivered + 1, last_delivered_at = $2, \
         failing_since = NULL, last_error = NULL, attempts = 0 WHERE id = $1",
    )
    .bind(stream)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// A failed delivery: tried again at `next`; the streak's start kept.
pub async fn failed(
    c: &mut Conn,
    stream: &str,
    error: &str,
    next: Millis,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE audit_streams SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, \
         failing_since = COALESCE(failing_since, $4), locked_until = NULL WHERE id = $1",
    )
    .bind(stream)
    .bind(error)
    .bind(next.0)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// Ends a claim without a failure (the queue is empty or the lease is handed back).
pub async fn release(c: &mut Conn, stream: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_streams SET locked_until = NULL WHERE id = $1")
        .bind(stream)
        .execute(c)
        .await?;
    Ok(())
}

/// Pauses a stream (failing too long): its queue is dropped and nothing more is queued.
pub async fn pause(c: &mut Conn, stream: &str, now: Millis) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE audit_streams SET paused_at = $2, locked_until = NULL \
         WHERE id = $1 AND paused_at IS NULL",
    )
    .bind(stream)
    .bind(now.0)
    .execute(&mut *c)
    .await?;
    sqlx::query("DELETE FROM audit_stream_events WHERE stream_id = $1")
        .bind(stream)
        .execute(c)
        .await?;
    Ok(done.rows_affected() == 1)
}
