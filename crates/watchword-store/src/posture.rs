//! What the security posture looks at, read set-based for one account or for a page of accounts
//! (the daily snapshot), the snapshots themselves and the daily run's progress.

use crate::rows::{int, opt_int, opt_text, text};
use crate::{Conn, StoreError};
use std::collections::HashMap;
use watchword_domain::posture::{Cutoffs, DEFAULT_ROTATION_DAYS};
use watchword_domain::{AccountId, Millis};

/// The contact's membership, for the eligibility rules.
#[derive(Debug, Clone)]
pub struct ContactRaw {
    pub role_key: String,
    pub membership_active: bool,
    pub person_active: bool,
    pub last_login_at: Option<Millis>,
}

/// One account's counts and settings, as stored.
#[derive(Debug, Clone, Default)]
pub struct RawFacts {
    pub account: String,
    pub created_at: i64,
    pub paid: bool,
    pub mfa_required: bool,
    pub sso_required: bool,
    /// Administrators must use a passkey, enforced from this instant (None: not required).
    pub admin_passkey_from: Option<Millis>,
    /// Live members per role key.
    pub members_by_role: Vec<(String, u32)>,
    pub with_mfa: u32,
    pub with_passkey: u32,
    pub inactive: u32,
    pub stale_invitations: u32,
    pub keys: u32,
    pub keys_unused: u32,
    pub keys_past_rotation: u32,
    /// Live keys that expire within 14 days.
    pub keys_expiring: u32,
    pub keys_exposed: u32,
    /// Scopes of each live OAuth grant.
    pub grant_scopes: Vec<String>,
    pub sso_connections: u32,
    pub last_review_at: Option<Millis>,
    pub contact: Option<ContactRaw>,
    /// The account's custom roles: id and permissions (space-separated).
    pub custom_roles: Vec<(String, String)>,
}

const ACCOUNT_COLUMNS: &str = "id, created_at, plan, mfa_required, sso_required, admin_passkey, factor_policy_at, factor_grace_days";

/// One account's facts, or None when it does not exist.
pub async fn facts_of(
    c: &mut Conn,
    account: AccountId,
    now: Millis,
) -> Result<Option<RawFacts>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
    let rows = sqlx::query(&sql)
        .bind(account.to_string())
        .fetch_all(&mut *c)
        .await?;
    Ok(fill(c, &rows, now).await?.pop())
}

/// A page of the daily run: the facts of up to `limit` accounts after `after` and their latest
/// snapshots.
pub async fn daily_page(
    c: &mut Conn,
    after: &str,
    limit: i64,
    now: Millis,
) -> Result<(Vec<RawFacts>, HashMap<String, (u8, String)>), StoreError> {
    let page = facts_page(&mut *c, after, limit, now).await?;
    let latest = match (page.first(), page.last()) {
        (Some(lo), Some(hi)) => latest_in(c, &lo.account, &hi.account).await?,
        _ => HashMap::new(),
    };
    Ok((page, latest))
}

/// The facts of up to `limit` accounts after `after` (by id), in id order.
pub async fn facts_page(
    c: &mut Conn,
    after: &str,
    limit: i64,
    now: Millis,
) -> Result<Vec<RawFacts>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > $1 ORDER BY id LIMIT $2");
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
    fill(c, &rows, now).await
}

fn count(r: &sqlx::any::AnyRow, col: &str) -> Result<u32, StoreError> {
    Ok(u32::try_from(int(r, col)?.max(0)).unwrap_or(u32::MAX))
}

/// Reads every count of the accounts in `rows` (consecutive ids) with one query per table,
/// bounded by the first and last id.
async fn fill(
    c: &mut Conn,
    rows: &[sqlx::any::AnyRow],
    now: Millis,
) -> Result<Vec<RawFacts>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    let mut at = HashMap::with_capacity(rows.len());
    for r in rows {
        let id = text(r, "id")?;
        at.insert(id.clone(), out.len());
        out.push(RawFacts {
            account: id,
            created_at: int(r, "created_at")?,
            paid: text(r, "plan")? == "paid",
            mfa_required: int(r, "mfa_required")? != 0,
            sso_required: int(r, "sso_required")? != 0,
            admin_passkey_from: match (
                int(r, "admin_passkey")? != 0,
                crate::rows::opt_int(r, "factor_policy_at")?,
            ) {
                (true, Some(at)) => Some(Millis(at + int(r, "factor_grace_days")? * 86_400_000)),
                _ => None,
            },
            ..Default::default()
        });
    }
    let (Some(lo), Some(hi)) = (out.first(), out.last()) else {
        return Ok(out);
    };
    let (lo, hi) = (lo.account.clone(), hi.account.clone());
    let cut = Cutoffs::at(now);
    macro_rules! each {
        ($sql:expr, $($bind:expr),* ; |$f:ident, $r:ident| $body:block) => {{
            // Planned for these bounds every time: a cached generic plan of a range over
            // account ids assumes a few rows, and walks 10,000 members of one account by
            // index 3× slower (measured on PostgreSQL).
            let q = sqlx::query($sql).persistent(false).bind(&lo).bind(&hi);
            $( let q = q.bind($bind); )*
            for $r in q.fetch_all(&mut *c).await? {
                let id = text(&$r, "account_id")?;
                if let Some(&i) = at.get(&id) {
                    let $f = &mut out[i];
                    $body
                }
            }
        }};
    }
    // Live members (membership active, staff access not over) by role, from one index of the
    // memberships (which keep their person's MFA level and last login): the filter once per
    // row, then plain counts (measured: a condition repeated in every SUM cost a quarter of the
    // query on 10,000 members).
    each!(
        "SELECT account_id, role, COUNT(*) AS live, \
           SUM(CASE WHEN mfa_level >= 1 THEN 1 ELSE 0 END) AS with_mfa, \
           SUM(CASE WHEN mfa_level >= 2 THEN 1 ELSE 0 END) AS with_passkey, \
           SUM(CASE WHEN last_login_at IS NULL OR last_login_at < $4 THEN 1 ELSE 0 END) AS inactive \
         FROM memberships \
         WHERE account_id >= $1 AND account_id <= $2 AND status = 'active' \
           AND (staff_expires_at IS NULL OR staff_expires_at > $3) \
         GROUP BY account_id, role",
        now.0, cut.inactive_before.0;
        |f, r| {
            f.members_by_role.push((text(&r, "role")?, count(&r, "live")?));
            f.with_mfa += count(&r, "with_mfa")?;
            f.with_passkey += count(&r, "with_passkey")?;
            f.inactive += count(&r, "inactive")?;
        }
    );
    each!(
        "SELECT account_id, COUNT(*) AS n FROM memberships \
         WHERE account_id >= $1 AND account_id <= $2 AND status = 'invited' AND created_at < $3 \
         GROUP BY account_id",
        cut.invited_before.0;
        |f, r| { f.stale_invitations = count(&r, "n")?; }
    );
    each!(
        "SELECT k.account_id, COUNT(*) AS n, \
           SUM(CASE WHEN k.created_at < $3 AND (u.last_used_at IS NULL OR u.last_used_at < $3) THEN 1 ELSE 0 END) AS unused, \
           SUM(CASE WHEN k.replaced_by IS NULL \
                 AND k.created_at < $4 - CAST(COALESCE(a.api_key_rotation_days, $5) AS BIGINT) * 86400000 \
                 THEN 1 ELSE 0 END) AS past_rotation, \
           SUM(CASE WHEN k.exposed_at IS NOT NULL THEN 1 ELSE 0 END) AS exposed, \
           SUM(CASE WHEN k.expires_at IS NOT NULL AND k.expires_at <= $4 + 1209600000 THEN 1 ELSE 0 END) AS expiring \
         FROM api_keys k JOIN accounts a ON a.id = k.account_id \
         LEFT JOIN api_key_uses u ON u.key_id = k.id \
         WHERE k.account_id >= $1 AND k.account_id <= $2 AND k.grant_id IS NULL \
           AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $4) \
         GROUP BY k.account_id",
        cut.key_unused_before.0, now.0, DEFAULT_ROTATION_DAYS;
        |f, r| {
            f.keys = count(&r, "n")?;
            f.keys_unused = count(&r, "unused")?;
            f.keys_past_rotation = count(&r, "past_rotation")?;
            f.keys_exposed = count(&r, "exposed")?;
            f.keys_expiring = count(&r, "expiring")?;
        }
    );
    each!(
        "SELECT account_id, scopes FROM oauth_grants \
         WHERE account_id >= $1 AND account_id <= $2 AND revoked_at IS NULL",;
        |f, r| { f.grant_scopes.push(text(&r, "scopes")?); }
    );
    each!(
        "SELECT account_id, COUNT(*) AS n FROM sso_connections \
         WHERE account_id >= $1 AND account_id <= $2 AND enabled = 1 GROUP BY account_id",;
        |f, r| { f.sso_connections = count(&r, "n")?; }
    );
    each!(
        "SELECT account_id, MAX(created_at) AS at FROM access_reviews \
         WHERE account_id >= $1 AND account_id <= $2 GROUP BY account_id",;
        |f, r| { f.last_review_at = opt_int(&r, "at")?.map(Millis); }
    );
    each!(
        "SELECT a.id AS account_id, m.role, m.status, m.person_id, m.last_login_at \
         FROM accounts a JOIN memberships m ON m.id = a.contact_membership_id \
         WHERE a.id >= $1 AND a.id <= $2",;
        |f, r| {
            f.contact = Some(ContactRaw {
                role_key: text(&r, "role")?,
                membership_active: text(&r, "status")? == "active",
                // The membership's copies (migration 0021); a person is never deactivated.
                person_active: opt_text(&r, "person_id")?.is_some(),
                last_login_at: opt_int(&r, "last_login_at")?.map(Millis),
            });
        }
    );
    each!(
        "SELECT account_id, id, permissions FROM roles WHERE account_id >= $1 AND account_id <= $2",;
        |f, r| { f.custom_roles.push((text(&r, "id")?, text(&r, "permissions")?)); }
    );
    Ok(out)
}

/// One account's snapshots from `since_day` on, oldest first, with the one before it (the
/// score carried into the period).
pub async fn snapshots(
    c: &mut Conn,
    account: AccountId,
    since_day: i64,
) -> Result<Vec<(i64, u8)>, StoreError> {
    let rows = sqlx::query(
        "SELECT day, score FROM posture_snapshots WHERE account_id = $1 AND day >= \
           COALESCE((SELECT MAX(day) FROM posture_snapshots WHERE account_id = $1 AND day <= $2), $2) \
         ORDER BY day",
    )
    .bind(account.to_string())
    .bind(since_day)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| Ok((int(r, "day")?, int(r, "score")?.clamp(0, 100) as u8)))
        .collect()
}

/// The latest snapshot (score and findings) of each account in `[lo, hi]`.
pub async fn latest_in(
    c: &mut Conn,
    lo: &str,
    hi: &str,
) -> Result<HashMap<String, (u8, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT s.account_id, s.score, s.findings FROM posture_snapshots s \
         WHERE s.account_id >= $1 AND s.account_id <= $2 \
           AND s.day = (SELECT MAX(l.day) FROM posture_snapshots l WHERE l.account_id = s.account_id)",
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                text(r, "account_id")?,
                (int(r, "score")?.clamp(0, 100) as u8, text(r, "findings")?),
            ))
        })
        .collect()
}

/// Writes snapshots of `day` (account, score, findings); an existing one for the day stays.
pub async fn insert_snapshots(
    c: &mut Conn,
    day: i64,
    rows: &[(String, u8, String)],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(1000) {
        let mut sql = String::from(
            "INSERT INTO posture_snapshots (account_id, day, score, findings) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 4;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
        }
        sql.push_str(" ON CONFLICT (account_id, day) DO NOTHING");
        let mut q = sqlx::query(&sql);
        for (account, score, findings) in chunk {
            q = q
                .bind(account.as_str())
                .bind(day)
                .bind(i64::from(*score))
                .bind(findings.as_str());
        }
        q.execute(&mut *c).await?;
    }
    Ok(())
}

/// Deletes snapshots older than `keep_from` except each account's latest before it (the score
/// carried into the kept year). How many were deleted.
pub async fn prune(c: &mut Conn, keep_from: i64) -> Result<u64, StoreError> {
    let r = sqlx::query(
        "DELETE FROM posture_snapshots WHERE day < $1 AND EXISTS (\
           SELECT 1 FROM posture_snapshots n WHERE n.account_id = posture_snapshots.account_id \
             AND n.day > posture_snapshots.day AND n.day <= $1)",
    )
    .bind(keep_from)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}

/// The daily run of `day`, claimed for `lease_ms` when nobody holds it and it is not finished:
/// its cursor ("" before the first account). None when finished or held by another node.
pub async fn claim_run(
    c: &mut Conn,
    day: i64,
    now: Millis,
    lease_ms: i64,
) -> Result<Option<String>, StoreError> {
    sqlx::query(
        "INSERT INTO posture_runs (day, cursor, lease_until) VALUES ($1, '', 0) \
         ON CONFLICT (day) DO NOTHING",
    )
    .bind(day)
    .execute(&mut *c)
    .await?;
    let claimed = sqlx::query(
        "UPDATE posture_runs SET lease_until = $2 \
         WHERE day = $1 AND finished_at IS NULL AND lease_until <= $3",
    )
    .bind(day)
    .bind(now.0 + lease_ms)
    .bind(now.0)
    .execute(&mut *c)
    .await?;
    if claimed.rows_affected() != 1 {
        return Ok(None);
    }
    let cursor: Option<(Option<String>,)> =
        sqlx::query_as("SELECT cursor FROM posture_runs WHERE day = $1")
            .bind(day)
            .fetch_optional(c)
            .await?;
    Ok(cursor.map(|(c,)| c.unwrap_or_default()))
}

/// Moves the run from `from` to `to` (and renews the lease); false when the cursor is no longer
/// `from` (another node took the run over after this one's lease ran out).
#[allow(clippy::too_many_arguments)]
pub async fn advance_run(
    c: &mut Conn,
    day: i64,
    from: &str,
    to: &str,
    accounts: i64,
    written: i64,
    lease_until: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE posture_runs SET cursor = $3, lease_until = $4, accounts = accounts + $5, \
           written = written + $6 WHERE day = $1 AND cursor = $2 AND finished_at IS NULL",
    )
    .bind(day)
    .bind(from)
    .bind(to)
    .bind(lease_until.0)
    .bind(accounts)
    .bind(written)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn finish_run(
    c: &mut Conn,
    day: i64,
    cursor: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE posture_runs SET finished_at = $3, lease_until = 0 \
         WHERE day = $1 AND cursor = $2 AND finished_at IS NULL",
    )
    .bind(day)
    .bind(cursor)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A run's figures: accounts looked at, snapshots written, whether finished.
pub async fn run_status(c: &mut Conn, day: i64) -> Result<Option<(i64, i64, bool)>, StoreError> {
    let row = sqlx::query("SELECT accounts, written, finished_at FROM posture_runs WHERE day = $1")
        .bind(day)
        .fetch_optional(c)
        .await?;
    row.map(|r| {
        Ok((
            int(&r, "accounts")?,
            int(&r, "written")?,
            opt_int(&r, "finished_at")?.is_some(),
        ))
    })
    .transpose()
}
