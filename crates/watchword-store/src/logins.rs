//! Failed password logins, for throttling and abnormal-login alerts.

use crate::rows::int;
use crate::{Conn, Dialect, StoreError};
use watchword_domain::{Millis, PersonId};

/// Records a failed login of `email_hash` from `ip`, and forgets this email's and this IP's
/// failures older than `forget_before` (they no longer count).
pub async fn record_failure(
    c: &mut Conn,
    id: &str,
    email_hash: &[u8],
    ip: &str,
    now: Millis,
    forget_before: Millis,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_failures WHERE (email_hash = $1 OR ip = $2) AND at < $3")
        .bind(email_hash.to_vec())
        .bind(ip)
        .bind(forget_before.0)
        .execute(&mut *c)
        .await?;
    sqlx::query("INSERT INTO login_failures (id, email_hash, ip, at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(email_hash.to_vec())
        .bind(ip)
        .bind(now.0)
        .execute(c)
        .await?;
    Ok(())
}

/// Failed logins since `since`: of this email, and from this IP.
pub async fn failures_since(
    c: &mut Conn,
    email_hash: &[u8],
    ip: &str,
    since: Millis,
) -> Result<(i64, i64), StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM login_failures WHERE email_hash = $1 AND at >= $3) AS by_email, \
                (SELECT COUNT(*) FROM login_failures WHERE ip = $2 AND at >= $3) AS by_ip",
    )
    .bind(email_hash.to_vec())
    .bind(ip)
    .bind(since.0)
    .fetch_one(c)
    .await?;
    Ok((int(&row, "by_email")?, int(&row, "by_ip")?))
}

/// Locks a person's row for the rest of the transaction (PostgreSQL; SQLite's write transaction
/// is exclusive already), so that concurrent failures of one person are counted one at a time.
pub async fn lock_person(c: &mut Conn, dialect: Dialect, id: PersonId) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "SELECT id FROM persons WHERE id = $1{}",
        dialect.for_update()
    ))
    .bind(id.to_string())
    .fetch_optional(c)
    .await?;
    Ok(())
}
