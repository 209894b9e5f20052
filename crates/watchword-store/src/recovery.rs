//! Assisted recovery requests: a person who lost every factor asks; an Owner or the Security
//! Contact of one of their accounts approves; usable after a delay unless cancelled. Every state
//! change is a conditional update, so racing approvals or a use and a cancel settle once.

use crate::rows::{opt_int, opt_text, parsed, text};
use crate::{Conn, StoreError};
use watchword_domain::{AccountId, Millis, PersonId};

#[derive(Debug, Clone)]
pub struct RecoveryRow {
    pub id: String,
    pub person_id: PersonId,
    pub created_at: Millis,
    pub ip: String,
    pub approved_at: Option<Millis>,
    pub approved_by: Option<PersonId>,
    pub approved_in: Option<AccountId>,
    pub usable_at: Option<Millis>,
    pub cancelled_at: Option<Millis>,
    pub used_at: Option<Millis>,
}

impl RecoveryRow {
    fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: text(r, "id")?,
            person_id: parsed(r, "person_id", PersonId::parse)?,
            created_at: Millis(crate::rows::int(r, "created_at")?),
            ip: text(r, "ip")?,
            approved_at: opt_int(r, "approved_at")?.map(Millis),
            approved_by: opt_text(r, "approved_by")?.and_then(|s| PersonId::parse(&s)),
            approved_in: opt_text(r, "approved_in")?.and_then(|s| AccountId::parse(&s)),
            usable_at: opt_int(r, "usable_at")?.map(Millis),
            cancelled_at: opt_int(r, "cancelled_at")?.map(Millis),
            used_at: opt_int(r, "used_at")?.map(Millis),
        })
    }

    /// Neither cancelled nor used.
    pub fn open(&self) -> bool {
        self.cancelled_at.is_none() && self.used_at.is_none()
    }
}

const COLUMNS: &str = "id, person_id, created_at, ip, approved_at, approved_by, approved_in, usable_at, cancelled_at, used_at";

pub async fn insert(
    c: &mut Conn,
    id: &str,
    person: PersonId,
    ip: &str,
    cancel_hash: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO recovery_requests (id, person_id, created_at, ip, cancel_hash) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(person.to_string())
    .bind(now.0)
    .bind(ip)
    .bind(cancel_hash)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn get(c: &mut Conn, id: &str) -> Result<Option<RecoveryRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM recovery_requests WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(c)
    .await?;
    row.as_ref().map(RecoveryRow::from_row).transpose()
}

pub async fn by_cancel_hash(c: &mut Conn, hash: &str) -> Result<Option<RecoveryRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM recovery_requests WHERE cancel_hash = $1"
    ))
    .bind(hash)
    .fetch_optional(c)
    .await?;
    row.as_ref().map(RecoveryRow::from_row).transpose()
}

/// The person's open request (neither cancelled nor used), newest first.
pub async fn open_of(c: &mut Conn, person: PersonId) -> Result<Option<RecoveryRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM recovery_requests WHERE person_id = $1 \
         AND cancelled_at IS NULL AND used_at IS NULL ORDER BY created_at DESC LIMIT 1"
    ))
    .bind(person.to_string())
    .fetch_optional(c)
    .await?;
    row.as_ref().map(RecoveryRow::from_row).transpose()
}

/// Open requests of the active members of `account`, newest first.
pub async fn open_in(c: &mut Conn, account: AccountId) -> Result<Vec<RecoveryRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM recovery_requests WHERE cancelled_at IS NULL AND used_at IS NULL \
         AND person_id IN (SELECT person_id FROM memberships WHERE account_id = $1 AND status = 'active') \
         ORDER BY created_at DESC"
    ))
    .bind(account.to_string())
    .fetch_all(c)
    .await?;
    rows.iter().map(RecoveryRow::from_row).collect()
}

/// Approves an open, not yet approved request; false when it was not (another approval won).
pub async fn approve(
    c: &mut Conn,
    id: &str,
    by: PersonId,
    account: AccountId,
    now: Millis,
    usable_at: Millis,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE recovery_requests SET approved_at = $2, approved_by = $3, approved_in = $4, usable_at = $5 \
         WHERE id = $1 AND approved_at IS NULL AND cancelled_at IS NULL AND used_at IS NULL",
    )
    .bind(id)
    .bind(now.0)
    .bind(by.to_string())
    .bind(account.to_string())
    .bind(usable_at.0)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Cancels an open request; false when it was not open.
pub async fn cancel(c: &mut Conn, id: &str, by: &str, now: Millis) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE recovery_requests SET cancelled_at = $2, cancelled_by = $3 \
         WHERE id = $1 AND cancelled_at IS NULL AND used_at IS NULL",
    )
    .bind(id)
    .bind(now.0)
    .bind(by)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses the person's approved request whose delay is over; the used row, or None.
pub async fn take_usable(
    c: &mut Conn,
    person: PersonId,
    now: Millis,
) -> Result<Option<RecoveryRow>, StoreError> {
    let Some(open) = open_of(&mut *c, person).await? else {
        return Ok(None);
    };
    if open.usable_at.is_none_or(|at| at > now) {
        return Ok(None);
    }
    let done = sqlx::query(
        "UPDATE recovery_requests SET used_at = $2 WHERE id = $1 AND used_at IS NULL \
         AND cancelled_at IS NULL AND usable_at <= $2",
    )
    .bind(&open.id)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok((done.rows_affected() == 1).then_some(open))
}
