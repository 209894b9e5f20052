//! Rate limits that hold under concurrency: a slot is taken (or refused) in one locked step
//! before the work it limits, never counted after it.

use crate::rows::int;
use crate::{Conn, Dialect, StoreError};
use watchword_domain::Millis;

/// One limit: at most `max` slots in `bucket` since `since`.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub key: String,
    pub max: i64,
    pub since: Millis,
}

/// Takes one slot `id` in every bucket when all have room, on the caller's transaction: each
/// bucket is locked first (PostgreSQL transaction-level advisory locks taken in key order;
/// SQLite's write transaction is exclusive), then counted. Returns the counts after taking, or
/// `Err(index)` of the first bucket that is full (nothing taken).
pub async fn take(
    c: &mut Conn,
    dialect: Dialect,
    id: &str,
    buckets: &[Bucket],
    now: Millis,
) -> Result<Result<Vec<i64>, usize>, StoreError> {
    let keys: Vec<&str> = buckets.iter().map(|b| b.key.as_str()).collect();
    lock(&mut *c, dialect, &keys).await?;
    let mut counts = Vec::with_capacity(buckets.len());
    for (i, b) in buckets.iter().enumerate() {
        // Slots that no longer count are forgotten as the bucket is used.
        sqlx::query("DELETE FROM rate_slots WHERE bucket = $1 AND at < $2")
            .bind(&b.key)
            .bind(b.since.0)
            .execute(&mut *c)
            .await?;
        let row = sqlx::query("SELECT COUNT(*) AS n FROM rate_slots WHERE bucket = $1")
            .bind(&b.key)
            .fetch_one(&mut *c)
            .await?;
        let n = int(&row, "n")?;
        if n >= b.max {
            return Ok(Err(i));
        }
        counts.push(n + 1);
    }
    for b in buckets {
        sqlx::query("INSERT INTO rate_slots (bucket, id, at) VALUES ($1, $2, $3)")
            .bind(&b.key)
            .bind(id)
            .bind(now.0)
            .execute(&mut *c)
            .await?;
    }
    Ok(Ok(counts))
}

/// Locks the named buckets for the rest of the transaction, in key order (so two transactions
/// never wait on each other crosswise): PostgreSQL transaction-level advisory locks; SQLite's
/// write transaction is exclusive already. For limits counted over other tables (SMS codes).
pub async fn lock(c: &mut Conn, dialect: Dialect, keys: &[&str]) -> Result<(), StoreError> {
    if dialect != Dialect::Postgres {
        return Ok(());
    }
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        sqlx::query(
            "SELECT CAST(1 AS BIGINT) AS one FROM pg_advisory_xact_lock(hashtextextended($1, 7))",
        )
        .bind(key)
        .fetch_one(&mut *c)
        .await?;
    }
    Ok(())
}

/// Gives slot `id` back in every bucket (e.g. a login that succeeded does not count).
pub async fn give_back(c: &mut Conn, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM rate_slots WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}
