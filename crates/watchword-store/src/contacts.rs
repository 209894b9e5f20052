//! The Security Contact: the current one, compare-and-set changes, history, and the set-based
//! sweep that finds invalid contacts without loading every account.

use crate::rows::{MemberRow, int, opt_int, opt_parsed, opt_text, parsed, text};
use crate::{Conn, StoreError, members};
use watchword_domain::*;

#[derive(Debug, Clone)]
pub struct ContactRow {
    pub account: AccountId,
    pub account_name: String,
    pub membership: Option<MembershipId>,
    pub source: String,
    pub since: Option<Millis>,
    pub set_by: Option<PersonId>,
    pub warned_at: Option<Millis>,
}

pub async fn get(c: &mut Conn, account: AccountId) -> Result<Option<ContactRow>, StoreError> {
    let row = sqlx::query(
        "SELECT id, name, contact_membership_id, contact_source, contact_since, contact_set_by, contact_warned_at FROM accounts WHERE id = $1",
    )
    .bind(account.to_string())
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        Ok(ContactRow {
            account: parsed(&r, "id", AccountId::parse)?,
            account_name: text(&r, "name")?,
            membership: opt_parsed(&r, "contact_membership_id", MembershipId::parse)?,
            source: text(&r, "contact_source")?,
            since: opt_int(&r, "contact_since")?.map(Millis),
            set_by: opt_parsed(&r, "contact_set_by", PersonId::parse)?,
            warned_at: opt_int(&r, "contact_warned_at")?.map(Millis),
        })
    })
    .transpose()
}

/// Sets the contact only if it is still `expected` (compare-and-set): of two concurrent
/// checkers, exactly one changes it. Returns whether this call changed it.
pub async fn set(
    c: &mut Conn,
    account: AccountId,
    expected: Option<MembershipId>,
    new: MembershipId,
    source: &str,
    set_by: Option<PersonId>,
    now: Millis,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE accounts SET contact_membership_id = $2, contact_source = $3, contact_set_by = $4, contact_since = $5, contact_warned_at = NULL \
         WHERE id = $1 AND COALESCE(contact_membership_id, '') = $6",
    )
    .bind(account.to_string())
    .bind(new.to_string())
    .bind(source)
    .bind(set_by.map(|p| p.to_string()))
    .bind(now.0)
    .bind(expected.map(|m| m.to_string()).unwrap_or_default())
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the lapse warning went out; false when another checker already sent it.
pub async fn mark_warned(
    c: &mut Conn,
    account: AccountId,
    contact: MembershipId,
    now: Millis,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE accounts SET contact_warned_at = $3 WHERE id = $1 AND contact_membership_id = $2 AND contact_warned_at IS NULL",
    )
    .bind(account.to_string())
    .bind(contact.to_string())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone)]
pub struct Change {
    pub account: AccountId,
    pub previous: Option<(MembershipId, String)>,
    pub new: (MembershipId, String),
    pub source: &'static str,
    pub actor: Option<(PersonId, String)>,
    pub reason: Option<String>,
}

pub async fn record_change(c: &mut Conn, ch: &Change, now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO security_contact_changes (id, account_id, previous_membership_id, previous_email, new_membership_id, new_email, source, actor_person_id, actor_email, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(AuditEventId::new().to_string())
    .bind(ch.account.to_string())
    .bind(ch.previous.as_ref().map(|p| p.0.to_string()))
    .bind(ch.previous.as_ref().map(|p| p.1.clone()))
    .bind(ch.new.0.to_string())
    .bind(ch.new.1.clone())
    .bind(ch.source)
    .bind(ch.actor.as_ref().map(|a| a.0.to_string()))
    .bind(ch.actor.as_ref().map(|a| a.1.clone()))
    .bind(ch.reason.clone())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub previous_membership: Option<MembershipId>,
    pub previous_email: Option<String>,
    pub new_membership: MembershipId,
    pub new_email: String,
    pub source: String,
    pub actor_person: Option<PersonId>,
    pub actor_email: Option<String>,
    pub reason: Option<String>,
    pub created_at: Millis,
}

pub async fn history(
    c: &mut Conn,
    account: AccountId,
    limit: i64,
) -> Result<Vec<HistoryRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT previous_membership_id, previous_email, new_membership_id, new_email, source, actor_person_id, actor_email, reason, created_at \
         FROM security_contact_changes WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(account.to_string())
    .bind(limit)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(HistoryRow {
                previous_membership: opt_parsed(r, "previous_membership_id", MembershipId::parse)?,
                previous_email: opt_text(r, "previous_email")?,
                new_membership: parsed(r, "new_membership_id", MembershipId::parse)?,
                new_email: text(r, "new_email")?,
                source: text(r, "source")?,
                actor_person: opt_parsed(r, "actor_person_id", PersonId::parse)?,
                actor_email: opt_text(r, "actor_email")?,
                reason: opt_text(r, "reason")?,
                created_at: Millis(int(r, "created_at")?),
            })
        })
        .collect()
}

/// Members whose name or email starts with `prefix` (case-insensitive), at most `limit`.
pub async fn search_members(
    c: &mut Conn,
    account: AccountId,
    prefix: &str,
    limit: i64,
) -> Result<Vec<MemberRow>, StoreError> {
    let escaped: String = prefix
        .to_lowercase()
        .chars()
        .flat_map(|ch| match ch {
            '%' | '_' | '\\' => vec!['\\', ch],
            _ => vec![ch],
        })
        .collect();
    let pattern = format!("{escaped}%");
    let sql = format!(
        "{} WHERE m.account_id = $1 AND (LOWER(m.email) LIKE $2 ESCAPE '\\' OR LOWER(COALESCE(p.name, '')) LIKE $2 ESCAPE '\\' \
         OR LOWER(COALESCE(p.name, '')) LIKE $3 ESCAPE '\\') ORDER BY m.created_at LIMIT $4",
        members::SELECT
    );
    let rows = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(&pattern)
        .bind(format!("% {pattern}"))
        .bind(limit)
        .fetch_all(c)
        .await?;
    rows.iter().map(MemberRow::from_row).collect()
}

/// An account whose contact the sweep must look at, with what eligibility needs.
#[derive(Debug, Clone)]
pub struct SweepRow {
    pub account: AccountId,
    pub account_name: String,
    pub contact: Option<MembershipId>,
    pub member: Option<MemberRow>,
    pub owner: Option<(MembershipId, String)>,
    pub warned_at: Option<Millis>,
}

/// One page (in account id order, after `after`) of accounts whose contact fails a rule at
/// `now`, or whose contact would lapse for `no_recent_login` before `warn_before` and was not
/// warned yet. One query scans the accounts set-wise; nothing is loaded for valid accounts.
pub async fn sweep_page(
    c: &mut Conn,
    after: Option<AccountId>,
    limit: i64,
    login_cutoff: Millis,
    warn_cutoff: Millis,
    blocked_staff_roles: &[String],
) -> Result<Vec<SweepRow>, StoreError> {
    let blocked = format!(",{},", blocked_staff_roles.join(","));
    // Flat joins on primary keys, so each page costs its own size on both databases.
    let sql = "SELECT a.id AS a_id, a.name AS a_name, a.contact_membership_id AS a_contact, a.contact_warned_at AS a_warned, \
         o.id AS o_id, o.email AS o_email, \
         m.id, m.account_id, m.person_id, m.email, m.role, m.status, m.created_at, m.staff_expires_at, m.suspended_at, \
         p.name AS person_name, p.status AS person_status, p.last_login_at, \
         r.name AS role_name, r.permissions AS role_permissions \
         FROM accounts a \
         LEFT JOIN memberships m ON m.id = a.contact_membership_id AND m.account_id = a.id \
         LEFT JOIN persons p ON p.id = m.person_id \
         LEFT JOIN roles r ON r.account_id = m.account_id AND r.id = m.role \
         LEFT JOIN memberships o ON o.account_id = a.id AND o.role = 'owner' \
         WHERE a.id > $1 AND ( \
           m.id IS NULL OR m.status <> 'active' OR p.status IS NULL OR p.status <> 'active' \
           OR p.last_login_at IS NULL OR p.last_login_at < $3 \
           OR NOT (m.role IN ('owner', 'admin') OR COALESCE(r.permissions, '') LIKE '%account_settings:edit%') \
           OR $4 LIKE '%,' || m.role || ',%' \
           OR (a.contact_warned_at IS NULL AND p.last_login_at < $5) \
         ) ORDER BY a.id LIMIT $2";
    let rows = sqlx::query(sql)
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(limit)
        .bind(login_cutoff.0)
        .bind(blocked)
        .bind(warn_cutoff.0)
        .fetch_all(c)
        .await?;
    rows.iter()
        .map(|r| {
            let member = match opt_text(r, "id")? {
                Some(_) => Some(MemberRow::from_row(r)?),
                None => None,
            };
            let owner = match opt_parsed(r, "o_id", MembershipId::parse)? {
                Some(id) => Some((id, opt_text(r, "o_email")?.unwrap_or_default())),
                None => None,
            };
            Ok(SweepRow {
                account: parsed(r, "a_id", AccountId::parse)?,
                account_name: text(r, "a_name")?,
                contact: opt_parsed(r, "a_contact", MembershipId::parse)?,
                member,
                owner,
                warned_at: opt_int(r, "a_warned")?.map(Millis),
            })
        })
        .collect()
}
