use crate::rows::SessionRow;
use crate::{Conn, StoreError};
use watchword_domain::{Millis, PersonId, SessionId};

const COLUMNS: &str = "id, person_id, mode, user_agent, ip, created_at, last_seen_at, authenticated_at, expires_at, revoked_at, mfa_factors, mfa_at, sso_connection_id";

pub struct NewSession<'a> {
    pub id: SessionId,
    pub person: PersonId,
    pub token_hash: &'a [u8],
    pub mode: &'a str,
    pub user_agent: &'a str,
    pub ip: &'a str,
    pub expires_at: Millis,
}

pub async fn insert(c: &mut Conn, s: NewSession<'_>, now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, person_id, token_hash, mode, user_agent, ip, created_at, last_seen_at, authenticated_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7, $8)",
    )
    .bind(s.id.to_string())
    .bind(s.person.to_string())
    .bind(s.token_hash.to_vec())
    .bind(s.mode)
    .bind(s.user_agent)
    .bind(s.ip)
    .bind(now.0)
    .bind(s.expires_at.0)
    .execute(c)
    .await?;
    Ok(())
}

/// The device a session was opened on (None: not a browser sign-in).
pub async fn device_of(c: &mut Conn, id: SessionId) -> Result<Option<String>, StoreError> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT device_id FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(c)
            .await?;
    Ok(row.and_then(|r| r.0))
}

pub async fn by_token_hash(
    c: &mut Conn,
    token_hash: &[u8],
) -> Result<Option<SessionRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE token_hash = $1");
    let row = sqlx::query(&sql)
        .bind(token_hash.to_vec())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(SessionRow::from_row).transpose()
}

/// Live (not revoked, not past the absolute lifetime) sessions of a person, newest first.
pub async fn list_live(
    c: &mut Conn,
    person: PersonId,
    now: Millis,
) -> Result<Vec<SessionRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions WHERE person_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC"
    );
    let rows = sqlx::query(&sql)
        .bind(person.to_string())
        .bind(now.0)
        .fetch_all(c)
        .await?;
    rows.iter().map(SessionRow::from_row).collect()
}

/// Coalesced: called at most once a minute per session by the caller.
pub async fn touch(c: &mut Conn, id: SessionId, now: Millis) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2")
        .bind(id.to_string())
        .bind(now.0)
        .execute(c)
        .await?;
    Ok(())
}

/// Revokes one session of a person; false when there was no such live session.
pub async fn revoke(
    c: &mut Conn,
    person: PersonId,
    id: SessionId,
    now: Millis,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $3 WHERE person_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(person.to_string())
    .bind(id.to_string())
    .bind(now.0)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() > 0 {
        crate::changes::announce(c, "session").await?;
    }
    Ok(done.rows_affected() == 1)
}

/// Revokes every live session of a person except `keep`; returns how many.
pub async fn revoke_all_except(
    c: &mut Conn,
    person: PersonId,
    keep: Option<SessionId>,
    now: Millis,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $3 WHERE person_id = $1 AND revoked_at IS NULL AND id <> $2",
    )
    .bind(person.to_string())
    .bind(keep.map(|k| k.to_string()).unwrap_or_default())
    .bind(now.0)
    .execute(&mut *c)
    .await?;
    // Only a change worth every node's caches: nothing ended, nothing to tell.
    if done.rows_affected() > 0 {
        crate::changes::announce(c, "sessions").await?;
    }
    Ok(done.rows_affected())
}

pub async fn mark_authenticated(
    c: &mut Conn,
    id: SessionId,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET authenticated_at = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(now.0)
        .execute(c)
        .await?;
    Ok(())
}

/// Records that a session passed a second factor (`kind`) now; the session counts as freshly
/// authenticated too.
pub async fn mark_mfa(
    c: &mut Conn,
    id: SessionId,
    kind: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sessions SET mfa_at = $2, authenticated_at = $2, \
         mfa_factors = CASE WHEN mfa_factors IS NULL THEN $3 \
                            WHEN (' ' || mfa_factors || ' ') LIKE ('% ' || $3 || ' %') THEN mfa_factors \
                            ELSE mfa_factors || ' ' || $3 END \
         WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(now.0)
    .bind(kind)
    .execute(c)
    .await?;
    Ok(())
}
