//! WebAuthn ceremonies in progress: the state webauthn-rs needs between a ceremony's start and
//! finish, kept in the database so any node can finish what another started.

use crate::rows::{opt_parsed, text};
use crate::{Conn, StoreError};
use watchword_domain::{Millis, PersonId};

pub struct NewCeremony<'a> {
    pub hash: &'a [u8],
    pub person: Option<PersonId>,
    pub purpose: &'a str,
    pub state: &'a str,
    /// Who asked, for ceremonies anyone may start (passwordless sign-in).
    pub ip: Option<&'a str>,
    pub expires_at: Millis,
}

pub async fn insert(c: &mut Conn, n: NewCeremony<'_>, now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webauthn_ceremonies (token_hash, person_id, purpose, state, created_at, expires_at, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(n.hash.to_vec())
    .bind(n.person.map(|p| p.to_string()))
    .bind(n.purpose)
    .bind(n.state)
    .bind(now.0)
    .bind(n.expires_at.0)
    .bind(n.ip)
    .execute(&mut *c)
    .await?;
    // Old ceremonies are of no use to anyone.
    sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at < $1")
        .bind(now.0 - 3_600_000)
        .execute(c)
        .await?;
    Ok(())
}

/// Ceremonies started from `ip` since `since`.
pub async fn started_from(c: &mut Conn, ip: &str, since: Millis) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM webauthn_ceremonies WHERE ip = $1 AND created_at >= $2",
    )
    .bind(ip)
    .bind(since.0)
    .fetch_one(c)
    .await?;
    crate::rows::int(&row, "n")
}

/// Spends a ceremony whatever its purpose or state (a wrong answer to it was given).
pub async fn spend(c: &mut Conn, hash: &[u8], now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webauthn_ceremonies SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
    )
    .bind(hash.to_vec())
    .bind(now.0)
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
