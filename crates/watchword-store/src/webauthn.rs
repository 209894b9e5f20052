//! WebAuthn ceremonies in progress: the state webauthn-rs needs between a ceremony's start and
//! finish, kept in the database so any node can finish what another started.

use crate::rows::{opt_parsed, text};
use crate::{Conn, StoreError};
use watchword_domain::{Millis, PersonId};

pub async fn insert(
    c: &mut Conn,
    hash: &[u8],
    person: Option<PersonId>,
    purpose: &str,
    state: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webauthn_ceremonies (token_hash, person_id, purpose, state, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash.to_vec())
    .bind(person.map(|p| p.to_string()))
    .bind(purpose)
    .bind(state)
    .bind(now.0)
    .bind(expires_at.0)
    .execute(&mut *c)
    .await?;
    // Old ceremonies are of no use to anyone.
    sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at < $1")
        .bind(now.0 - 3600_000)
        .execute(c)
        .await?;
    Ok(())
}

/// Spends a live ceremony of this purpose: its person and state, or None when unknown, used,
/// expired or started for something else.
pub async fn take(
    c: &mut Conn,
    hash: &[u8],
    purpose: &str,
    now: Millis,
) -> Result<Option<(Option<PersonId>, String)>, StoreError> {
    let row = sqlx::query(
        "UPDATE webauthn_ceremonies SET used_at = $3 \
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
         RETURNING person_id, state",
    )
    .bind(hash.to_vec())
    .bind(purpose)
    .bind(now.0)
    .fetch_optional(c)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let person = opt_parsed(&r, "person_id", PersonId::parse)?;
    Ok(Some((person, text(&r, "state")?)))
}
