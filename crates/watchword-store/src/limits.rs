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
    let mut order: Vec<usize> = (0..buckets.len()).collect();
    order.sort_by(|a, b| buckets[*a].key.cmp(&buckets[*b].key));
    if dialect == Dialect::Postgres {
        for i in &order {
            sqlx::query("SELECT CAST(1 AS BIGINT) AS one FROM pg_advisory_xact_lock(hashtextextended($1, 7))")
                .bind(&buckets[*i].key)
                .fetch_one(&mut *c)
                .await?;
        }
    }
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

/// Gives slot `id` back in every bucket (e.g. a login that succeeded does not count).
pub async fn give_back(c: &mut Conn, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM rate_slots WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// Slots taken in `bucket` since `since` (without taking one).
pub async fn used(c: &mut Conn, bucket: &str, since: Millis) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM rate_slots WHERE bucket = $1 AND at >= $2")
        .bind(bucket)
        .bind(since.0)
        .fetch_one(c)
        .await?;
    int(&row, "n")
}
