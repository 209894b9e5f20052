use crate::rows::PersonRow;
use crate::{Conn, Dialect, StoreError};
use watchword_domain::{Millis, PersonId};

const COLUMNS: &str = "id, email, name, password_hash, status, is_staff, last_login_at, created_at, \
     password_reset_required_at";

pub async fn insert(
    c: &mut Conn,
    id: PersonId,
    email: &str,
    name: &str,
    hash: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO persons (id, email, name, password_hash, status, is_staff, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'active', 0, $5, $5)",
    )
    .bind(id.to_string())
    .bind(email)
    .bind(name)
    .bind(hash)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn by_email(c: &mut Conn, email: &str) -> Result<Option<PersonRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM persons WHERE email = $1");
    let row = sqlx::query(&sql).bind(email).fetch_optional(c).await?;
    row.as_ref().map(PersonRow::from_row).transpose()
}

pub async fn get(c: &mut Conn, id: PersonId) -> Result<Option<PersonRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM persons WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(PersonRow::from_row).transpose()
}

pub async fn set_password(
    c: &mut Conn,
    id: PersonId,
    hash: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE persons SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(hash)
        .bind(now.0)
        .execute(c)
        .await?;
    Ok(())
}

/// Changes a login email; false when another person holds it already.
pub async fn set_email(
    c: &mut Conn,
    id: PersonId,
    email: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE persons SET email = $2, updated_at = $3 WHERE id = $1 \
         AND NOT EXISTS (SELECT 1 FROM persons o WHERE o.email = $2 AND o.id <> $1)",
    )
    .bind(id.to_string())
    .bind(email)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Serialises, until the transaction ends, the writes that copy a person's MFA level onto their
/// memberships (a factor confirmed or removed, a membership made or activated): without it, on
/// PostgreSQL a factor confirmed while a membership is being activated could leave that
/// membership's copy stale, each transaction not seeing the other's row. SQLite's write
/// transactions are exclusive already.
pub(crate) async fn lock_person(c: &mut Conn, person: &str) -> Result<(), StoreError> {
    let dialect = Dialect::of(c);
    crate::limits::lock(c, dialect, &[&format!("person-mfa:{person}")]).await
}

/// Records an interactive login, on the person and on their memberships' copies.
pub async fn record_login(c: &mut Conn, id: PersonId, now: Millis) -> Result<(), StoreError> {
    for sql in [
        "UPDATE persons SET last_login_at = $2 WHERE id = $1",
        "UPDATE memberships SET last_login_at = $2 WHERE person_id = $1",
    ] {
        sqlx::query(sql)
            .bind(id.to_string())
            .bind(now.0)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// Refuses password logins until the password is reset (`at`), or lifts that (None).
pub async fn require_password_reset(
    c: &mut Conn,
    id: PersonId,
    at: Option<Millis>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE persons SET password_reset_required_at = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(at.map(|m| m.0))
        .execute(c)
        .await?;
    Ok(())
}

/// Locks a person's row for the rest of the transaction (PostgreSQL; SQLite's write transaction
/// is exclusive already), so that changes of one person are made one at a time.
pub async fn lock(c: &mut Conn, dialect: Dialect, id: PersonId) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "SELECT id FROM persons WHERE id = $1{}",
        dialect.for_update()
    ))
    .bind(id.to_string())
    .fetch_optional(c)
    .await?;
    Ok(())
}

/// Sets (or with None, removes) a person's sealed anti-phishing phrase (`key_id:base64`).
pub async fn set_phrase(
    c: &mut Conn,
    id: PersonId,
    sealed: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE persons SET phrase_sealed = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(sealed)
        .execute(c)
        .await?;
    Ok(())
}

/// The person with this email and their sealed phrase, when they set one.
pub async fn phrase_by_email(
    c: &mut Conn,
    email: &str,
) -> Result<Option<(PersonId, String)>, StoreError> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT id, phrase_sealed FROM persons WHERE email = $1")
            .bind(email)
            .fetch_optional(c)
            .await?;
    Ok(row.and_then(|(id, sealed)| Some((PersonId::parse(&id)?, sealed?))))
}
