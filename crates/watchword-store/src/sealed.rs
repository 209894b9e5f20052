//! Values sealed with the keyring outside `mfa_factors` (SSO client secrets, audit stream
//! secrets, report headers and attachments), read and written one by one so a key rotation can
//! re-seal them under the current key.

use crate::{Conn, StoreError};

/// Each table holding sealed values: table, key id column, sealed column. Every value is bound
/// to its row's `id`.
pub const SEALED: [(&str, &str, &str); 4] = [
    ("sso_connections", "key_id", "client_secret_sealed"),
    ("audit_streams", "secret_key_id", "secret_sealed"),
    ("security_reports", "key_id", "headers_sealed"),
    ("security_report_attachments", "key_id", "content_sealed"),
];

/// Ids of the rows of `SEALED[i]` sealed under another key than `current`.
pub async fn stale(c: &mut Conn, i: usize, current: &str) -> Result<Vec<String>, StoreError> {
    let (table, key, sealed) = SEALED[i];
    let sql = format!(
        "SELECT id FROM {table} WHERE {sealed} IS NOT NULL AND ({key} IS NULL OR {key} <> $1)"
    );
    let rows: Vec<(String,)> = sqlx::query_as(&sql).bind(current).fetch_all(c).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// One row's key id and sealed value.
pub async fn read(
    c: &mut Conn,
    i: usize,
    id: &str,
) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    let (table, key, sealed) = SEALED[i];
    let sql = format!("SELECT {key} AS k, {sealed} AS s FROM {table} WHERE id = $1");
    let row: Option<(Option<String>, Option<Vec<u8>>)> =
        sqlx::query_as(&sql).bind(id).fetch_optional(c).await?;
    Ok(row.and_then(|(k, s)| Some((k?, s?))))
}

pub async fn write(
    c: &mut Conn,
    i: usize,
    id: &str,
    key_id: &str,
    value: &[u8],
) -> Result<(), StoreError> {
    let (table, key, sealed) = SEALED[i];
    let sql = format!("UPDATE {table} SET {key} = $2, {sealed} = $3 WHERE id = $1");
    sqlx::query(&sql)
        .bind(id)
        .bind(key_id)
        .bind(value.to_vec())
        .execute(c)
        .await?;
    Ok(())
}
