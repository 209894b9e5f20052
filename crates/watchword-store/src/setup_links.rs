//! Setup links: an Owner's single-use link for the customer's IT admin, and the setup session
//! it becomes when opened.

use crate::rows::{int, opt_int, opt_text, parsed, text};
use crate::{Conn, StoreError};
use watchword_domain::*;

#[derive(Debug, Clone)]
pub struct SetupLinkRow {
    pub id: String,
    pub account_id: AccountId,
    pub email: String,
    pub created_by: PersonId,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
    pub used_ip: Option<String>,
    pub revoked_at: Option<Millis>,
}

impl SetupLinkRow {
    /// Whether it still lets anyone in at `now` (opened or not).
    pub fn live(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

const COLUMNS: &str =
    "id, account_id, email, created_by, created_at, expires_at, used_at, used_ip, revoked_at";

fn row(r: &sqlx::any::AnyRow) -> Result<SetupLinkRow, StoreError> {
    Ok(SetupLinkRow {
        id: text(r, "id")?,
        account_id: parsed(r, "account_id", AccountId::parse)?,
        email: text(r, "email")?,
        created_by: parsed(r, "created_by", PersonId::parse)?,
        created_at: Millis(int(r, "created_at")?),
        expires_at: Millis(int(r, "expires_at")?),
        used_at: opt_int(r, "used_at")?.map(Millis),
        used_ip: opt_text(r, "used_ip")?,
        revoked_at: opt_int(r, "revoked_at")?.map(Millis),
    })
}

pub struct NewSetupLink<'a> {
    pub id: &'a str,
    pub account: AccountId,
    pub email: &'a str,
    pub token_hash: &'a [u8],
    pub created_by: PersonId,
    pub expires_at: Millis,
}

pub async fn insert(c: &mut Conn, l: NewSetupLink<'_>, now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO setup_links (id, account_id, email, token_hash, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(l.id)
    .bind(l.account.to_string())
    .bind(l.email)
    .bind(l.token_hash.to_vec())
    .bind(l.created_by.to_string())
    .bind(now.0)
    .bind(l.expires_at.0)
    .execute(c)
    .await?;
    Ok(())
}

/// The account's links, newest first.
pub async fn list(c: &mut Conn, account: AccountId) -> Result<Vec<SetupLinkRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM setup_links WHERE account_id = $1 ORDER BY created_at DESC, id"
    );
    let rows = sqlx::query(&sql)
        .bind(account.to_string())
        .fetch_all(c)
        .await?;
    rows.iter().map(row).collect()
}

pub async fn get(
    c: &mut Conn,
    account: AccountId,
    id: &str,
) -> Result<Option<SetupLinkRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM setup_links WHERE account_id = $1 AND id = $2");
    let r = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(id)
        .fetch_optional(c)
        .await?;
    r.as_ref().map(row).transpose()
}

/// Spends a link: the first opening of a live, unused link records its session; None for any
/// other (unknown, used, revoked, expired). One UPDATE, so two openings cannot both win.
pub async fn open(
    c: &mut Conn,
    token_hash: &[u8],
    session_hash: &[u8],
    ip: &str,
    now: Millis,
) -> Result<Option<SetupLinkRow>, StoreError> {
    let r = sqlx::query(
        "UPDATE setup_links SET used_at = $3, used_ip = $4, session_hash = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
    )
    .bind(token_hash.to_vec())
    .bind(session_hash.to_vec())
    .bind(now.0)
    .bind(ip)
    .execute(&mut *c)
    .await?;
    if r.rows_affected() != 1 {
        return Ok(None);
    }
    by_session(c, session_hash).await
}

/// The link whose setup session this is (in whatever state).
pub async fn by_session(
    c: &mut Conn,
    session_hash: &[u8],
) -> Result<Option<SetupLinkRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM setup_links WHERE session_hash = $1");
    let r = sqlx::query(&sql)
        .bind(session_hash.to_vec())
        .fetch_optional(c)
        .await?;
    r.as_ref().map(row).transpose()
}

/// Revokes a link (opened or not); false when it already was.
pub async fn revoke(
    c: &mut Conn,
    account: AccountId,
    id: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE setup_links SET revoked_at = $3 WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(account.to_string())
    .bind(id)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}
