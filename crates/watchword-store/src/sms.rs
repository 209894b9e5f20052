//! One-time codes sent by SMS, and the counts their rate limits read.

use crate::rows::{int, text};
use crate::{Conn, StoreError};
use watchword_domain::{Millis, PersonId};

pub struct NewCode<'a> {
    pub id: &'a str,
    pub person: PersonId,
    pub factor_id: &'a str,
    /// `enrol` or `verify`.
    pub purpose: &'a str,
    pub code_hash: &'a [u8],
    pub ip: &'a str,
    pub expires_at: Millis,
}

/// Stores a new code; older live codes of the same person and purpose stop working.
pub async fn insert(c: &mut Conn, code: NewCode<'_>, now: Millis) -> Result<(), StoreError> {
    sqlx::query("UPDATE sms_codes SET used_at = $3 WHERE person_id = $1 AND purpose = $2 AND used_at IS NULL")
        .bind(code.person.to_string())
        .bind(code.purpose)
        .bind(now.0)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO sms_codes (id, person_id, factor_id, purpose, code_hash, ip, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(code.id)
    .bind(code.person.to_string())
    .bind(code.factor_id)
    .bind(code.purpose)
    .bind(code.code_hash.to_vec())
    .bind(code.ip)
    .bind(now.0)
    .bind(code.expires_at.0)
    .execute(c)
    .await?;
    Ok(())
}

/// The live code of a person for `purpose`: (id, factor id, hash).
pub struct LiveCode {
    pub id: String,
    pub factor_id: String,
    pub code_hash: Vec<u8>,
}

pub async fn live(
    c: &mut Conn,
    person: PersonId,
    purpose: &str,
    max_failures: i64,
    now: Millis,
) -> Result<Option<LiveCode>, StoreError> {
    let row = sqlx::query(
        "SELECT id, factor_id, code_hash FROM sms_codes WHERE person_id = $1 AND purpose = $2 \
         AND used_at IS NULL AND expires_at > $3 AND failures < $4 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(person.to_string())
    .bind(purpose)
    .bind(now.0)
    .bind(max_failures)
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        Ok(LiveCode {
            id: text(&r, "id")?,
            factor_id: text(&r, "factor_id")?,
            code_hash: sqlx::Row::try_get(&r, "code_hash")?,
        })
    })
    .transpose()
}

/// Spends a code; false when another request spent it first.
pub async fn spend(c: &mut Conn, id: &str, now: Millis) -> Result<bool, StoreError> {
    let r = sqlx::query("UPDATE sms_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
        .bind(id)
        .bind(now.0)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Counts a wrong try against the live code of a person and purpose.
pub async fn failed(
    c: &mut Conn,
    person: PersonId,
    purpose: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sms_codes SET failures = failures + 1 WHERE person_id = $1 AND purpose = $2 \
         AND used_at IS NULL AND expires_at > $3",
    )
    .bind(person.to_string())
    .bind(purpose)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// Codes sent since `since`: to this person, and asked for from this IP; and when the person's
/// latest code was sent.
pub async fn sent_since(
    c: &mut Conn,
    person: PersonId,
    ip: &str,
    since: Millis,
) -> Result<(i64, i64, Option<Millis>), StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM sms_codes WHERE person_id = $1 AND created_at >= $3) AS by_person, \
                (SELECT COUNT(*) FROM sms_codes WHERE ip = $2 AND created_at >= $3) AS by_ip, \
                (SELECT MAX(created_at) FROM sms_codes WHERE person_id = $1) AS latest",
    )
    .bind(person.to_string())
    .bind(ip)
    .bind(since.0)
    .fetch_one(c)
    .await?;
    Ok((
        int(&row, "by_person")?,
        int(&row, "by_ip")?,
        crate::rows::opt_int(&row, "latest")?.map(Millis),
    ))
}

/// Records the use of an SMS factor whose code checked out, confirming it when pending (its
/// enrolment).
pub async fn confirm_factor(c: &mut Conn, factor_id: &str, now: Millis) -> Result<(), StoreError> {
    sqlx::query("UPDATE mfa_factors SET last_used_at = $2 WHERE id = $1")
        .bind(factor_id)
        .bind(now.0)
        .execute(&mut *c)
        .await?;
    crate::mfa::confirm_pending(c, factor_id, now).await?;
    Ok(())
}
