//! Requested changes of a login email, waiting for the link sent to the new address.

use crate::rows::{parsed, text};
use crate::{Conn, StoreError};
use watchword_domain::{Millis, PersonId};

/// Stores a request; the person's older requests stop working.
pub async fn insert(
    c: &mut Conn,
    hash: &[u8],
    person: PersonId,
    new_email: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE email_changes SET used_at = $2 WHERE person_id = $1 AND used_at IS NULL")
        .bind(person.to_string())
        .bind(now.0)
        .execute(&mut *c)
        .await?;
    sqlx::query("INSERT INTO email_changes (token_hash, person_id, new_email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(hash.to_vec())
        .bind(person.to_string())
        .bind(new_email)
        .bind(now.0)
        .bind(expires_at.0)
        .execute(c)
        .await?;
    Ok(())
}

/// Spends a live request: its person and new email, or None when unknown, used or expired.
pub async fn spend(
    c: &mut Conn,
    hash: &[u8],
    now: Millis,
) -> Result<Option<(PersonId, String)>, StoreError> {
    let row = sqlx::query(
        "UPDATE email_changes SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         RETURNING person_id, new_email",
    )
    .bind(hash.to_vec())
    .bind(now.0)
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        Ok((
            parsed(&r, "person_id", PersonId::parse)?,
            text(&r, "new_email")?,
        ))
    })
    .transpose()
}
