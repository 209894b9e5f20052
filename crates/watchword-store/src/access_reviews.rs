//! Completed access reviews, and what a review looks at that members rows do not hold.

use crate::rows::{int, text};
use crate::{Conn, StoreError};
use std::collections::HashSet;
use watchword_domain::{AccountId, Millis, PersonId};

#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub id: String,
    pub reviewer_email: String,
    pub members: i64,
    pub flagged: i64,
    pub note: String,
    pub created_at: Millis,
}

pub struct NewReview<'a> {
    pub account: AccountId,
    pub reviewer: PersonId,
    pub reviewer_email: &'a str,
    pub members: i64,
    pub flagged: i64,
    pub note: &'a str,
}

pub async fn insert(
    c: &mut Conn,
    id: &str,
    r: &NewReview<'_>,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO access_reviews (id, account_id, reviewer_id, reviewer_email, members, flagged, note, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(r.account.to_string())
    .bind(r.reviewer.to_string())
    .bind(r.reviewer_email)
    .bind(r.members)
    .bind(r.flagged)
    .bind(r.note)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// The account's latest completed review.
pub async fn latest(c: &mut Conn, account: AccountId) -> Result<Option<ReviewRow>, StoreError> {
    let row = sqlx::query(
        "SELECT id, reviewer_email, members, flagged, note, created_at FROM access_reviews \
         WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(account.to_string())
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        Ok(ReviewRow {
            id: text(&r, "id")?,
            reviewer_email: text(&r, "reviewer_email")?,
            members: int(&r, "members")?,
            flagged: int(&r, "flagged")?,
            note: text(&r, "note")?,
            created_at: Millis(int(&r, "created_at")?),
        })
    })
    .transpose()
}

/// The account's members' persons that have a confirmed second factor.
pub async fn members_with_mfa(
    c: &mut Conn,
    account: AccountId,
) -> Result<HashSet<PersonId>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT f.person_id FROM mfa_factors f JOIN memberships m ON m.person_id = f.person_id \
         WHERE m.account_id = $1 AND f.confirmed_at IS NOT NULL",
    )
    .bind(account.to_string())
    .fetch_all(c)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(p,)| PersonId::parse(&p))
        .collect())
}

/// The last completed review of an account, else its creation: where the review period starts.
const PERIOD_START: &str = "COALESCE((SELECT MAX(r.created_at) FROM access_reviews r WHERE r.account_id = a.id), a.created_at)";

/// Accounts (at most `limit`, by id after `after`) whose period started at or before
/// `started_by` and whose reviewers were not reminded since it started.
pub async fn due_unreminded(
    c: &mut Conn,
    started_by: Millis,
    after: Option<AccountId>,
    limit: i64,
) -> Result<Vec<(AccountId, String)>, StoreError> {
    let sql = format!(
        "SELECT a.id, a.name FROM accounts a WHERE {PERIOD_START} <= $1 \
         AND (a.access_review_reminded_at IS NULL OR a.access_review_reminded_at < {PERIOD_START}) \
         AND a.id > $2 ORDER BY a.id LIMIT $3"
    );
    let rows: Vec<(String, String)> = sqlx::query_as(&sql)
        .bind(started_by.0)
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(limit)
        .fetch_all(c)
        .await?;
    rows.into_iter()
        .map(|(id, name)| {
            let id = AccountId::parse(&id)
                .ok_or_else(|| StoreError::Corrupt(format!("accounts.id {id}")))?;
            Ok((id, name))
        })
        .collect()
}

/// Marks the account's reviewers reminded now, unless they were since the period started
/// (another node did it meanwhile): true when this call marked it.
pub async fn mark_reminded(
    c: &mut Conn,
    account: AccountId,
    now: Millis,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE accounts SET access_review_reminded_at = $2 WHERE id = $1 AND \
         (access_review_reminded_at IS NULL OR access_review_reminded_at < \
          (SELECT {PERIOD_START} FROM accounts a WHERE a.id = $1))"
    );
    let done = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(now.0)
        .execute(c)
        .await?;
    Ok(done.rows_affected() == 1)
}
