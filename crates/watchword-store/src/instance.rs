//! Facts about the installation shared by every process on the database (`instance_settings`).

use crate::rows::text;
use crate::{Conn, StoreError};
use watchword_domain::Millis;

/// The value recorded under `name`, if any.
pub async fn get(c: &mut Conn, name: &str) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT value FROM instance_settings WHERE name = $1")
        .bind(name)
        .fetch_optional(c)
        .await?;
    row.map(|r| text(&r, "value")).transpose()
}

/// Records `value` under `name` (the last writer wins).
pub async fn set(c: &mut Conn, name: &str, value: &str, now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO instance_settings (name, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(value)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}
