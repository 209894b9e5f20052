//! Signups waiting for the link sent to the typed email.

use crate::rows::text;
use crate::{Conn, StoreError};
use watchword_domain::Millis;

pub struct NewSignup<'a> {
    pub token_hash: &'a [u8],
    pub email: &'a str,
    pub name: &'a str,
    pub account_name: &'a str,
    pub password_hash: &'a str,
}

/// A signup whose link was followed.
#[derive(Debug)]
pub struct SignupRow {
    pub email: String,
    pub name: String,
    pub account_name: String,
    pub password_hash: String,
}

/// Stores a request; older requests for the same email stop working.
pub async fn insert(
    c: &mut Conn,
    s: NewSignup<'_>,
    now: Millis,
    expires_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE signup_requests SET used_at = $2 WHERE email = $1 AND used_at IS NULL")
        .bind(s.email)
        .bind(now.0)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO signup_requests (token_hash, email, name, account_name, password_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(s.token_hash.to_vec())
    .bind(s.email)
    .bind(s.name)
    .bind(s.account_name)
    .bind(s.password_hash)
    .bind(now.0)
    .bind(expires_at.0)
    .execute(c)
    .await?;
    Ok(())
}

/// Spends a live request (once): what was typed, or None when unknown, used or expired.
pub async fn spend(
    c: &mut Conn,
    hash: &[u8],
    now: Millis,
) -> Result<Option<SignupRow>, StoreError> {
    let row = sqlx::query(
        "UPDATE signup_requests SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         RETURNING email, name, account_name, password_hash",
    )
    .bind(hash.to_vec())
    .bind(now.0)
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        Ok(SignupRow {
            email: text(&r, "email")?,
            name: text(&r, "name")?,
            account_name: text(&r, "account_name")?,
            password_hash: text(&r, "password_hash")?,
        })
    })
    .transpose()
}

/// A live request's email and account name, without spending it (the confirmation page names
/// them before the person creates the account).
pub async fn peek(
    c: &mut Conn,
    hash: &[u8],
    now: Millis,
) -> Result<Option<(String, String)>, StoreError> {
    let row = sqlx::query(
        "SELECT email, account_name FROM signup_requests \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(hash.to_vec())
    .bind(now.0)
    .fetch_optional(c)
    .await?;
    row.map(|r| Ok((text(&r, "email")?, text(&r, "account_name")?)))
        .transpose()
}
