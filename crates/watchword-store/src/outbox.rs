use crate::rows::{int, opt_parsed, parsed, text};
use crate::{Conn, Dialect, StoreError};
use watchword_domain::{AccountId, MessageId, Millis};

#[derive(Debug, Clone)]
pub struct Message {
    pub id: MessageId,
    /// `email` or `sms` (an SMS has no subject or HTML body).
    pub channel: &'static str,
    pub account: Option<AccountId>,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub attempts: i64,
}

pub async fn enqueue(c: &mut Conn, m: &Message, now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (id, account_id, channel, recipient, subject, body_text, body_html, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $8, $3, $4, $5, $6, 'pending', 0, $7, $7)",
    )
    .bind(m.id.to_string())
    .bind(m.account.map(|a| a.to_string()))
    .bind(&m.recipient)
    .bind(&m.subject)
    .bind(&m.body_text)
    .bind(&m.body_html)
    .bind(now.0)
    .bind(m.channel)
    .execute(c)
    .await?;
    Ok(())
}

/// Whether any message is due and unclaimed: a read, so a dispatcher woken by a commit that
/// wrote no message does not take the write lock to find nothing.
pub async fn any_due(c: &mut Conn, now: Millis) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "SELECT 1 AS due FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
         AND (locked_until IS NULL OR locked_until <= $1) LIMIT 1",
    )
    .bind(now.0)
    .fetch_optional(c)
    .await?;
    Ok(row.is_some())
}

/// Claims up to `limit` due messages for `lease_secs`: other dispatchers (this node or another)
/// skip them until the lease ends, so a message is sent by one dispatcher at a time.
pub async fn claim(
    c: &mut Conn,
    dialect: Dialect,
    now: Millis,
    lease_secs: i64,
    limit: i64,
) -> Result<Vec<Message>, StoreError> {
    let sql = format!(
        "UPDATE outbox SET locked_until = $2, attempts = attempts + 1 WHERE id IN (\
         SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
         AND (locked_until IS NULL OR locked_until <= $1) ORDER BY next_attempt_at LIMIT $3{}) \
         RETURNING id, account_id, channel, recipient, subject, body_text, body_html, attempts",
        dialect.skip_locked()
    );
    let rows = sqlx::query(&sql)
        .bind(now.0)
        .bind(now.plus_secs(lease_secs).0)
        .bind(limit)
        .fetch_all(c)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Message {
                id: parsed(r, "id", MessageId::parse)?,
                account: opt_parsed(r, "account_id", AccountId::parse)?,
                channel: if text(r, "channel")? == "sms" {
                    "sms"
                } else {
                    "email"
                },
                recipient: text(r, "recipient")?,
                subject: text(r, "subject")?,
                body_text: text(r, "body_text")?,
                body_html: text(r, "body_html")?,
                attempts: int(r, "attempts")?,
            })
        })
        .collect()
}

/// Blanks what a message needs no more once delivered or given up on: its body (a single-use
/// link, a one-time code, reported email headers) and an SMS's phone number. An email keeps
/// its recipient and subject as the record of what was sent.
const SCRUB: &str = "recipient = CASE WHEN channel = 'sms' THEN '' ELSE recipient END, \
     body_text = '', body_html = ''";

pub async fn mark_sent(c: &mut Conn, id: MessageId, now: Millis) -> Result<(), StoreError> {
    sqlx::query(&format!("UPDATE outbox SET status = 'sent', sent_at = $2, locked_until = NULL, last_error = NULL, {SCRUB} WHERE id = $1"))
        .bind(id.to_string())
        .bind(now.0)
        .execute(c)
        .await?;
    Ok(())
}

/// Schedules another attempt, or gives up (`failed`) after `retry_at` is None.
pub async fn mark_failed_attempt(
    c: &mut Conn,
    id: MessageId,
    error: &str,
    retry_at: Option<Millis>,
) -> Result<(), StoreError> {
    let sql = if retry_at.is_some() {
        "UPDATE outbox SET status = $2, next_attempt_at = COALESCE($3, next_attempt_at), locked_until = NULL, last_error = $4 WHERE id = $1".to_owned()
    } else {
        format!(
            "UPDATE outbox SET status = $2, next_attempt_at = COALESCE($3, next_attempt_at), locked_until = NULL, last_error = $4, {SCRUB} WHERE id = $1"
        )
    };
    sqlx::query(&sql)
        .bind(id.to_string())
        .bind(if retry_at.is_some() {
            "pending"
        } else {
            "failed"
        })
        .bind(retry_at.map(|m| m.0))
        .bind(error)
        .execute(c)
        .await?;
    Ok(())
}

/// Deletes up to `limit` records of messages sent or given up on before `before`; how many.
pub async fn prune(c: &mut Conn, before: Millis, limit: i64) -> Result<u64, StoreError> {
    let r = sqlx::query(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
           WHERE status IN ('sent', 'failed') AND created_at < $1 LIMIT $2)",
    )
    .bind(before.0)
    .bind(limit)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}

/// Counts by status, for metrics and tests.
pub async fn pending_count(c: &mut Conn) -> Result<i64, StoreError> {
    let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        .fetch_one(c)
        .await?;
    Ok(row.0)
}

/// Sum of delivery attempts over all messages (operations and tests).
pub async fn attempts_total(c: &mut Conn) -> Result<(i64,), StoreError> {
    let row: (i64,) =
        sqlx::query_as("SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM outbox")
            .fetch_one(c)
            .await?;
    Ok(row)
}

/// Makes every pending message due now, releasing leases (operator "retry now").
pub async fn make_all_due(c: &mut Conn) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = 0, locked_until = NULL WHERE status = 'pending'",
    )
    .execute(c)
    .await?;
    Ok(())
}

/// Messages waiting to go out and when the oldest was written (None when none waits).
pub async fn waiting(c: &mut Conn) -> Result<(i64, Option<Millis>), StoreError> {
    let row: (i64, Option<i64>) = sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT), MIN(created_at) FROM outbox_v2 WHERE status = 'pending'",
    )
    .fetch_one(c)
    .await?;
    Ok((row.0, row.1.map(Millis)))
}
