//! Messages sent once each: a row per (kind, subject, stage), claimed by inserting it, so of
//! several nodes running the same job one sends.

use crate::{Conn, StoreError};
use watchword_domain::Millis;

/// Claims a reminder; false when it was claimed before (by this node or another).
pub async fn claim(
    c: &mut Conn,
    kind: &str,
    subject: &str,
    stage: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO reminders (kind, subject, stage, sent_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (kind, subject, stage) DO NOTHING",
    )
    .bind(kind)
    .bind(subject)
    .bind(stage)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets the reminders of `subject` of `kind` (a policy set again starts its notices over).
pub async fn forget(c: &mut Conn, kind: &str, subject: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM reminders WHERE kind = $1 AND subject = $2")
        .bind(kind)
        .bind(subject)
        .execute(c)
        .await?;
    Ok(())
}
