//! Operator advisories to Security Contacts: the advisory, its recipients (written set-based),
//! the batches that put their emails in the outbox, acknowledgements and reminders.

use crate::rows::{int, opt_text, parsed, text};
use crate::{Conn, Dialect, StoreError};
use watchword_domain::{AccountId, Millis};

#[derive(Debug, Clone)]
pub struct AdvisoryRow {
    pub id: String,
    pub subject: String,
    pub body: String,
    pub audience: String,
    pub require_ack: bool,
    pub created_at: Millis,
}

pub async fn insert(c: &mut Conn, a: &AdvisoryRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO advisories (id, subject, body, audience, require_ack, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&a.id)
    .bind(&a.subject)
    .bind(&a.body)
    .bind(&a.audience)
    .bind(i64::from(a.require_ack))
    .bind(a.created_at.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn get(c: &mut Conn, id: &str) -> Result<Option<AdvisoryRow>, StoreError> {
    let row = sqlx::query(
        "SELECT id, subject, body, audience, require_ack, created_at FROM advisories WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        Ok(AdvisoryRow {
            id: text(&r, "id")?,
            subject: text(&r, "subject")?,
            body: text(&r, "body")?,
            audience: text(&r, "audience")?,
            require_ack: int(&r, "require_ack")? != 0,
            created_at: Millis(int(&r, "created_at")?),
        })
    })
    .transpose()
}

/// Makes every account on `plan` (None: every account) a recipient, set-based; an account that
/// is one already stays as it is (so running it again adds nobody twice). How many were added.
pub async fn add_recipients_by_plan(
    c: &mut Conn,
    advisory: &str,
    plan: Option<&str>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "INSERT INTO advisory_recipients (advisory_id, account_id, status) \
         SELECT $1, id, 'pending' FROM accounts WHERE ($2 = '' OR plan = $2) \
         ON CONFLICT (advisory_id, account_id) DO NOTHING",
    )
    .bind(advisory)
    .bind(plan.unwrap_or(""))
    .execute(c)
    .await?;
    Ok(done.rows_affected())
}

/// Makes these accounts recipients (those that exist; at most 500 ids a call).
pub async fn add_recipients(
    c: &mut Conn,
    advisory: &str,
    accounts: &[AccountId],
) -> Result<u64, StoreError> {
    if accounts.is_empty() {
        return Ok(0);
    }
    let list: Vec<String> = (0..accounts.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "INSERT INTO advisory_recipients (advisory_id, account_id, status) \
         SELECT $1, id, 'pending' FROM accounts WHERE id IN ({}) \
         ON CONFLICT (advisory_id, account_id) DO NOTHING",
        list.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(advisory);
    for a in accounts {
        q = q.bind(a.to_string());
    }
    Ok(q.execute(c).await?.rows_affected())
}

/// A recipient whose email is to be written: its account and its Security Contact now (None:
/// the account has none).
#[derive(Debug, Clone)]
pub struct Due {
    pub advisory_id: String,
    pub account_id: AccountId,
    pub account_name: String,
    pub contact: Option<(String, String)>,
}

/// A recipient with its account's name and its Security Contact now (`r`, then joins).
const DUE_SELECT: &str = "SELECT r.advisory_id, r.account_id, a.name AS account_name, \
     COALESCE(p.email, m.email) AS contact_email, p.name AS contact_name \
     FROM advisory_recipients r";

const CONTACT_JOIN: &str = "JOIN accounts a ON a.id = r.account_id \
     LEFT JOIN memberships m ON m.id = a.contact_membership_id AND m.status = 'active' \
     LEFT JOIN persons p ON p.id = m.person_id";

fn due_row(r: &sqlx::any::AnyRow) -> Result<Due, StoreError> {
    let email = opt_text(r, "contact_email")?;
    let name = opt_text(r, "contact_name")?;
    Ok(Due {
        advisory_id: text(r, "advisory_id")?,
        account_id: parsed(r, "account_id", AccountId::parse)?,
        account_name: text(r, "account_name")?,
        contact: email.map(|e| (name.unwrap_or_else(|| e.clone()), e)),
    })
}

/// Claims up to `limit` pending recipients (any advisory) for this transaction.
pub async fn claim_pending(
    c: &mut Conn,
    dialect: Dialect,
    limit: i64,
) -> Result<Vec<Due>, StoreError> {
    let keys: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT advisory_id, account_id FROM advisory_recipients WHERE status = 'pending' \
         ORDER BY advisory_id, account_id LIMIT $1{}",
        dialect.skip_locked()
    ))
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    // Then each advisory's claimed recipients with their contacts, in one read.
    let mut out = Vec::with_capacity(keys.len());
    for group in keys.chunk_by(|a, b| a.0 == b.0) {
        let list: Vec<String> = (0..group.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "{DUE_SELECT} {CONTACT_JOIN} WHERE r.advisory_id = $1 AND r.account_id IN ({}) \
             ORDER BY r.account_id",
            list.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(&group[0].0);
        for (_, account) in group {
            q = q.bind(account);
        }
        for row in q.fetch_all(&mut *c).await? {
            out.push(due_row(&row)?);
        }
    }
    Ok(out)
}

/// The recipient's email is in the outbox (or it has no contact: `email` None).
pub async fn mark_sent(
    c: &mut Conn,
    advisory: &str,
    account: AccountId,
    sent: Option<(&str, &[u8], &str)>,
    now: Millis,
) -> Result<(), StoreError> {
    let (status, email, hash, message) = match sent {
        Some((email, hash, message)) => ("queued", Some(email), Some(hash.to_vec()), Some(message)),
        None => ("no_contact", None, None, None),
    };
    sqlx::query(
        "UPDATE advisory_recipients SET status = $3, email = $4, token_hash = $5, \
         message_id = $6, queued_at = $7 WHERE advisory_id = $1 AND account_id = $2",
    )
    .bind(advisory)
    .bind(account.to_string())
    .bind(status)
    .bind(email)
    .bind(hash)
    .bind(message)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// A new link (and email) for a recipient: a reminder, or the account's new contact.
pub async fn resent(
    c: &mut Conn,
    advisory: &str,
    account: AccountId,
    email: &str,
    hash: &[u8],
    reminder: bool,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE advisory_recipients SET email = $3, token_hash = $4, \
         reminded_at = CASE WHEN $5 = 1 THEN $6 ELSE reminded_at END \
         WHERE advisory_id = $1 AND account_id = $2",
    )
    .bind(advisory)
    .bind(account.to_string())
    .bind(email)
    .bind(hash.to_vec())
    .bind(i64::from(reminder))
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// A reminder that found no contact to go to: not tried again.
pub async fn mark_reminded(
    c: &mut Conn,
    advisory: &str,
    account: AccountId,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE advisory_recipients SET reminded_at = $3 WHERE advisory_id = $1 AND account_id = $2",
    )
    .bind(advisory)
    .bind(account.to_string())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// Recipients of advisories that need an acknowledgement, emailed before `before`, not
/// acknowledged and not reminded yet (at most `limit`), with their contact now.
pub async fn reminders_due(
    c: &mut Conn,
    before: Millis,
    limit: i64,
) -> Result<Vec<Due>, StoreError> {
    let sql = format!(
        "{DUE_SELECT} JOIN advisories v ON v.id = r.advisory_id {CONTACT_JOIN} \
         WHERE v.require_ack = 1 AND r.status = 'queued' AND r.acknowledged_at IS NULL \
         AND r.reminded_at IS NULL AND r.queued_at < $1 ORDER BY r.queued_at LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(before.0)
        .bind(limit)
        .fetch_all(c)
        .await?;
    rows.iter().map(due_row).collect()
}

/// The account's unacknowledged recipients of advisories that need an acknowledgement, whose
/// email went to another address than its contact's now.
pub async fn not_acknowledged_by_contact(
    c: &mut Conn,
    account: AccountId,
) -> Result<Vec<Due>, StoreError> {
    let sql = format!(
        "{DUE_SELECT} JOIN advisories v ON v.id = r.advisory_id {CONTACT_JOIN} \
         WHERE r.account_id = $1 AND v.require_ack = 1 AND r.status = 'queued' \
         AND r.acknowledged_at IS NULL AND COALESCE(p.email, m.email) <> r.email"
    );
    let rows = sqlx::query(&sql)
        .bind(account.to_string())
        .fetch_all(c)
        .await?;
    rows.iter().map(due_row).collect()
}

/// The recipient a link's digest names: (advisory, account, acknowledged already).
pub async fn by_token(
    c: &mut Conn,
    hash: &[u8],
) -> Result<Option<(String, AccountId, bool)>, StoreError> {
    let row = sqlx::query(
        "SELECT advisory_id, account_id, acknowledged_at FROM advisory_recipients \
         WHERE token_hash = $1",
    )
    .bind(hash.to_vec())
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        Ok((
            text(&r, "advisory_id")?,
            parsed(&r, "account_id", AccountId::parse)?,
            crate::rows::opt_int(&r, "acknowledged_at")?.is_some(),
        ))
    })
    .transpose()
}

/// Records the acknowledgement; false when it was acknowledged already.
pub async fn acknowledge(c: &mut Conn, hash: &[u8], now: Millis) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE advisory_recipients SET acknowledged_at = $2, acknowledged_by = email \
         WHERE token_hash = $1 AND acknowledged_at IS NULL",
    )
    .bind(hash.to_vec())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An advisory's recipients by state: total, waiting to be emailed, without a contact, emails
/// delivered, emails failed, acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub recipients: i64,
    pub pending: i64,
    pub no_contact: i64,
    pub delivered: i64,
    pub failed: i64,
    pub acknowledged: i64,
}

pub async fn counts(c: &mut Conn, advisory: &str) -> Result<Counts, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS recipients, \
         COALESCE(SUM(CASE WHEN r.status = 'pending' THEN 1 ELSE 0 END), 0) AS pending, \
         COALESCE(SUM(CASE WHEN r.status = 'no_contact' THEN 1 ELSE 0 END), 0) AS no_contact, \
         COALESCE(SUM(CASE WHEN o.status = 'sent' THEN 1 ELSE 0 END), 0) AS delivered, \
         COALESCE(SUM(CASE WHEN o.status = 'failed' THEN 1 ELSE 0 END), 0) AS failed, \
         COALESCE(SUM(CASE WHEN r.acknowledged_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS acknowledged \
         FROM advisory_recipients r LEFT JOIN outbox o ON o.id = r.message_id \
         WHERE r.advisory_id = $1",
    )
    .bind(advisory)
    .fetch_one(c)
    .await?;
    Ok(Counts {
        recipients: int(&row, "recipients")?,
        pending: int(&row, "pending")?,
        no_contact: int(&row, "no_contact")?,
        delivered: int(&row, "delivered")?,
        failed: int(&row, "failed")?,
        acknowledged: int(&row, "acknowledged")?,
    })
}
