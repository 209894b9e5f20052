//! API keys and the account settings that govern them.

use crate::rows::{int, opt_int, opt_parsed, opt_text, parsed, text};
use crate::{Conn, Dialect, StoreError};
use sqlx::any::AnyRow;
use std::collections::HashMap;
use watchword_domain::api_key::KeyKind;
use watchword_domain::scope::ScopeSet;
use watchword_domain::token::TokenHash;
use watchword_domain::{AccountId, Millis, PersonId};

/// PostgreSQL channel on which key changes are announced to every node.
pub use crate::changes::CHANNEL as CHANGES_CHANNEL;

/// A key's columns, its last use read by `$at` and `$ip`.
macro_rules! key_columns {
    ($at:literal, $ip:literal) => {
        concat!(
            "id, account_id, name, scopes, created_by, created_by_email, created_at, lifetime_secs, \
             expires_at, replaced_by, cloned_from, ",
            $at,
            ", ",
            $ip,
            ", revoked_at, revoked_reason, grant_id, client_id, kind"
        )
    };
}
// Through sqlx, each last-use column is a correlated subquery: PostgreSQL then probes
// `api_key_uses` by its primary key per key row whatever plan it cached. A join planned while
// that table was nearly empty stayed a hash join over the whole table once it held 50,000 rows
// (measured: 6 ms per batch of 64 keys instead of well under 1 ms).
const COLUMNS: &str = key_columns!(
    "(SELECT last_used_at FROM api_key_uses WHERE key_id = id) AS last_used_at",
    "(SELECT last_used_ip FROM api_key_uses WHERE key_id = id) AS last_used_ip"
);
/// `COLUMNS` as values (no names), for the batched JSON read.
const COLUMN_VALUES: &str = key_columns!(
    "(SELECT last_used_at FROM api_key_uses WHERE key_id = id)",
    "(SELECT last_used_ip FROM api_key_uses WHERE key_id = id)"
);
/// A key by secret digest, for the direct SQLite read of the hot path (`sqlite_keys`): one join
/// probe (SQLite always plans it as a primary-key look-up).
pub(crate) const KEY_BY_HASH_SQL: &str = concat!(
    "SELECT ",
    key_columns!("last_used_at", "last_used_ip"),
    " FROM api_keys LEFT JOIN api_key_uses ON key_id = id WHERE secret_hash = ?1"
);

/// A key's last use, never moving it back in time (`sqlite_keys`; `touch_all` is the batched
/// form).
pub(crate) const TOUCH_SQL: &str = "INSERT INTO api_key_uses (key_id, last_used_at, last_used_ip) \
     VALUES (?3, ?1, ?2) ON CONFLICT (key_id) DO UPDATE \
     SET last_used_at = excluded.last_used_at, last_used_ip = excluded.last_used_ip \
     WHERE api_key_uses.last_used_at < excluded.last_used_at";

/// The use of an OAuth grant's access tokens, recorded on the grant (an access token has no row).
pub(crate) const GRANT_TOUCH_SQL: &str = "UPDATE oauth_grants SET last_used_at = ?1, last_used_ip = ?2 \
     WHERE id = ?3 AND (last_used_at IS NULL OR last_used_at < ?1)";

/// Whether a use is an OAuth grant's (its id `grant_…`) rather than a key's.
pub(crate) fn is_grant(id: &str) -> bool {
    id.starts_with("grant_")
}

/// A use of a key (or of an OAuth grant's access tokens) to record: which, when, from which IP.
#[derive(Debug, Clone)]
pub struct KeyUse {
    pub id: String,
    pub at: Millis,
    pub ip: String,
}

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: String,
    pub account_id: AccountId,
    pub name: String,
    pub scopes: ScopeSet,
    pub created_by: Option<PersonId>,
    pub created_by_email: String,
    pub created_at: Millis,
    pub lifetime_secs: Option<i64>,
    pub expires_at: Option<Millis>,
    pub replaced_by: Option<String>,
    pub cloned_from: Option<String>,
    pub last_used_at: Option<Millis>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<Millis>,
    pub revoked_reason: Option<String>,
    /// An OAuth access token's grant and app (None for an API key).
    pub grant_id: Option<String>,
    pub client_id: Option<String>,
    pub kind: KeyKind,
}

impl KeyRow {
    fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: text(r, "id")?,
            account_id: parsed(r, "account_id", AccountId::parse)?,
            name: text(r, "name")?,
            scopes: parsed(r, "scopes", |s| ScopeSet::decode(s).ok())?,
            created_by: opt_parsed(r, "created_by", PersonId::parse)?,
            created_by_email: text(r, "created_by_email")?,
            created_at: Millis(int(r, "created_at")?),
            lifetime_secs: opt_int(r, "lifetime_secs")?,
            expires_at: opt_int(r, "expires_at")?.map(Millis),
            replaced_by: opt_text(r, "replaced_by")?,
            cloned_from: opt_text(r, "cloned_from")?,
            last_used_at: opt_int(r, "last_used_at")?.map(Millis),
            last_used_ip: opt_text(r, "last_used_ip")?,
            revoked_at: opt_int(r, "revoked_at")?.map(Millis),
            revoked_reason: opt_text(r, "revoked_reason")?,
            grant_id: opt_text(r, "grant_id")?,
            client_id: opt_text(r, "client_id")?,
            kind: parsed(r, "kind", KeyKind::parse)?,
        })
    }
}

/// A row as [`by_secret_hashes`] returns it: the secret digest in hex, then the values of
/// `COLUMNS` in order. Decoded straight into types (no intermediate JSON values).
#[derive(serde::Deserialize)]
struct JsonRow(
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

impl JsonRow {
    fn into_key(self) -> Result<(TokenHash, KeyRow), StoreError> {
        let bad = |c: &str| StoreError::Corrupt(format!("api_keys.{c} in a batch read"));
        let mut hash = TokenHash::default();
        hex::decode_to_slice(&self.0, &mut hash).map_err(|_| bad("secret_hash"))?;
        Ok((
            hash,
            KeyRow {
                id: self.1,
                account_id: AccountId::parse(&self.2).ok_or_else(|| bad("account_id"))?,
                name: self.3,
                scopes: ScopeSet::decode(&self.4).map_err(|_| bad("scopes"))?,
                created_by: self.5.as_deref().and_then(PersonId::parse),
                created_by_email: self.6,
                created_at: Millis(self.7),
                lifetime_secs: self.8,
                expires_at: self.9.map(Millis),
                replaced_by: self.10,
                cloned_from: self.11,
                last_used_at: self.12.map(Millis),
                last_used_ip: self.13,
                revoked_at: self.14.map(Millis),
                revoked_reason: self.15,
                grant_id: self.16,
                client_id: self.17,
                kind: KeyKind::parse(&self.18).ok_or_else(|| bad("kind"))?,
            },
        ))
    }
}

pub struct NewKey<'a> {
    pub id: &'a str,
    pub account: AccountId,
    pub name: &'a str,
    pub secret_hash: &'a [u8],
    pub scopes: ScopeSet,
    pub created_by: PersonId,
    pub created_by_email: &'a str,
    pub lifetime_secs: Option<i64>,
    pub cloned_from: Option<&'a str>,
    pub kind: KeyKind,
}

pub async fn insert(c: &mut Conn, k: NewKey<'_>, now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, name, secret_hash, scopes, created_by, created_by_email, created_at, lifetime_secs, expires_at, cloned_from, kind) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(k.id)
    .bind(k.account.to_string())
    .bind(k.name)
    .bind(k.secret_hash.to_vec())
    .bind(k.scopes.encode())
    .bind(k.created_by.to_string())
    .bind(k.created_by_email)
    .bind(now.0)
    .bind(k.lifetime_secs)
    .bind(k.lifetime_secs.map(|s| now.plus_secs(s).0))
    .bind(k.cloned_from)
    .bind(k.kind.as_str())
    .execute(c)
    .await?;
    Ok(())
}

/// The key with this secret digest, in whatever state: the hot path's database read.
pub async fn by_secret_hash(c: &mut Conn, hash: &[u8]) -> Result<Option<KeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE secret_hash = $1");
    let row = sqlx::query(&sql)
        .bind(hash.to_vec())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(KeyRow::from_row).transpose()
}

/// The keys with these secret digests (at most [`MAX_BATCH`]), each with its digest: the hot
/// path's batched read, so concurrent cache misses cost one query. The rows come back as one JSON
/// text (one row to hand over instead of one per key, which is most of a read's cost through
/// sqlx). The list is padded to a power of two so a connection prepares only a few statements.
pub async fn by_secret_hashes(
    c: &mut Conn,
    dialect: Dialect,
    hashes: &[TokenHash],
) -> Result<Vec<(TokenHash, KeyRow)>, StoreError> {
    assert!(!hashes.is_empty() && hashes.len() <= MAX_BATCH);
    let n = hashes.len().next_power_of_two();
    let params: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    let (hex, array, aggregate, cast) = match dialect {
        Dialect::Sqlite => ("hex(secret_hash)", "json_array", "json_group_array", ""),
        Dialect::Postgres => (
            "encode(secret_hash, 'hex')",
            "json_build_array",
            "json_agg",
            "::text",
        ),
    };
    let sql = format!(
        "SELECT {aggregate}({array}({hex}, {COLUMN_VALUES})){cast} AS rows FROM api_keys WHERE secret_hash IN ({})",
        params.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for i in 0..n {
        q = q.bind(hashes[i.min(hashes.len() - 1)].to_vec());
    }
    let row = q.fetch_one(c).await?;
    let Some(json) = opt_text(&row, "rows")? else {
        return Ok(Vec::new());
    };
    let rows: Vec<JsonRow> = serde_json::from_str(&json)
        .map_err(|e| StoreError::Corrupt(format!("api_keys batch read: {e}")))?;
    rows.into_iter().map(JsonRow::into_key).collect()
}

/// The most digests [`by_secret_hashes`] takes at once.
pub const MAX_BATCH: usize = 64;

pub async fn get(c: &mut Conn, account: AccountId, id: &str) -> Result<Option<KeyRow>, StoreError> {
    get_locked(c, account, id, KeyKind::Api, "").await
}

/// A key of `kind` (a SCIM token), locked on PostgreSQL.
pub async fn get_kind_for_update(
    c: &mut Conn,
    dialect: Dialect,
    account: AccountId,
    id: &str,
    kind: KeyKind,
) -> Result<Option<KeyRow>, StoreError> {
    get_locked(c, account, id, kind, dialect.for_update()).await
}

/// The row of a key about to change, locked on PostgreSQL so concurrent changes serialise.
pub async fn get_for_update(
    c: &mut Conn,
    dialect: Dialect,
    account: AccountId,
    id: &str,
) -> Result<Option<KeyRow>, StoreError> {
    get_locked(c, account, id, KeyKind::Api, dialect.for_update()).await
}

async fn get_locked(
    c: &mut Conn,
    account: AccountId,
    id: &str,
    kind: KeyKind,
    lock: &str,
) -> Result<Option<KeyRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE account_id = $1 AND id = $2 AND grant_id IS NULL AND kind = $3{lock}"
    );
    let row = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(id)
        .bind(kind.as_str())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(KeyRow::from_row).transpose()
}

/// Every key of an account, newest first (revoked ones included: the list shows the history).
pub async fn list(c: &mut Conn, account: AccountId) -> Result<Vec<KeyRow>, StoreError> {
    list_kind(c, account, KeyKind::Api).await
}

/// Every key of `kind` of an account, newest first.
pub async fn list_kind(
    c: &mut Conn,
    account: AccountId,
    kind: KeyKind,
) -> Result<Vec<KeyRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE account_id = $1 AND grant_id IS NULL AND kind = $2 \
         ORDER BY created_at DESC, id"
    );
    let rows = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(kind.as_str())
        .fetch_all(c)
        .await?;
    rows.iter().map(KeyRow::from_row).collect()
}

/// Keys (SCIM tokens too) still working that expire in `(after, before]`, of one account or of
/// all (`None`), soonest first: the expiry reminders and the access review.
pub async fn expiring(
    c: &mut Conn,
    account: Option<AccountId>,
    after: Millis,
    before: Millis,
) -> Result<Vec<KeyRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE grant_id IS NULL AND revoked_at IS NULL \
         AND replaced_by IS NULL AND expires_at > $1 AND expires_at <= $2 \
         AND ($3 = '' OR account_id = $3) ORDER BY expires_at, id LIMIT 1000"
    );
    let rows = sqlx::query(&sql)
        .bind(after.0)
        .bind(before.0)
        .bind(account.map(|a| a.to_string()).unwrap_or_default())
        .fetch_all(c)
        .await?;
    rows.iter().map(KeyRow::from_row).collect()
}

pub async fn names(c: &mut Conn, account: AccountId) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM api_keys WHERE account_id = $1 AND grant_id IS NULL AND kind = 'api'",
    )
    .bind(account.to_string())
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

/// Marks a key reported exposed (the first report's instant stays).
pub async fn mark_exposed(c: &mut Conn, id: &str, now: Millis) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_keys SET exposed_at = $1 WHERE id = $2 AND exposed_at IS NULL")
        .bind(now.0)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// Revokes a key that is not revoked yet; false when it already was.
pub async fn revoke(c: &mut Conn, id: &str, reason: &str, now: Millis) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now.0)
    .bind(reason)
    .bind(id)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Marks a key as replaced by a rotation and ends it at `expires_at` (earlier expiries stay).
pub async fn replace(
    c: &mut Conn,
    id: &str,
    replaced_by: &str,
    expires_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE api_keys SET replaced_by = $1, \
         expires_at = CASE WHEN expires_at IS NULL OR expires_at > $2 THEN $2 ELSE expires_at END \
         WHERE id = $3",
    )
    .bind(replaced_by)
    .bind(expires_at.0)
    .bind(id)
    .execute(c)
    .await?;
    Ok(())
}

/// Records these last uses (PostgreSQL, and SQLite without a direct handle), one statement per
/// chunk of keys; a key's latest use wins. Never moves a last use back in time.
pub async fn touch_all(c: &mut Conn, uses: &[KeyUse]) -> Result<(), StoreError> {
    // One value per key (a statement may not update a row twice).
    let mut latest: HashMap<&str, &KeyUse> = HashMap::new();
    let mut grants: Vec<&KeyUse> = uses.iter().filter(|u| is_grant(&u.id)).collect();
    grants.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    for u in grants {
        sqlx::query(&GRANT_TOUCH_SQL.replace('?', "$"))
            .bind(u.at.0)
            .bind(&u.ip)
            .bind(&u.id)
            .execute(&mut *c)
            .await?;
    }
    for u in uses.iter().filter(|u| !is_grant(&u.id)) {
        let e = latest.entry(&u.id).or_insert(u);
        if u.at > e.at {
            *e = u;
        }
    }
    // In key order: nodes writing overlapping batches at once then lock rows in the same order
    // (in any other, PostgreSQL finds a deadlock and drops one batch).
    let mut latest: Vec<&KeyUse> = latest.into_values().collect();
    latest.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    for chunk in latest.chunks(MAX_BATCH) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
            .collect();
        let sql = format!(
            "INSERT INTO api_key_uses (key_id, last_used_at, last_used_ip) VALUES {} \
             ON CONFLICT (key_id) DO UPDATE \
             SET last_used_at = excluded.last_used_at, last_used_ip = excluded.last_used_ip \
             WHERE api_key_uses.last_used_at < excluded.last_used_at",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for u in chunk {
            q = q.bind(&u.id).bind(u.at.0).bind(&u.ip);
        }
        q.execute(&mut *c).await?;
    }
    Ok(())
}

/// Keys that expired and whose expiry has not been recorded yet, claimed for recording.
pub async fn claim_expired(
    c: &mut Conn,
    dialect: Dialect,
    now: Millis,
    limit: i64,
) -> Result<Vec<KeyRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys WHERE expiry_recorded = 0 AND expires_at <= $1 AND revoked_at IS NULL \
         ORDER BY expires_at LIMIT $2{}",
        dialect.skip_locked()
    );
    let rows = sqlx::query(&sql)
        .bind(now.0)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
    let keys: Vec<KeyRow> = rows
        .iter()
        .map(KeyRow::from_row)
        .collect::<Result<_, _>>()?;
    for k in &keys {
        sqlx::query("UPDATE api_keys SET expiry_recorded = 1 WHERE id = $1")
            .bind(&k.id)
            .execute(&mut *c)
            .await?;
    }
    Ok(keys)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeySettings {
    pub rotation_days: Option<i64>,
    pub auto_revoke_exposed: bool,
}

pub async fn settings(c: &mut Conn, account: AccountId) -> Result<KeySettings, StoreError> {
    let row: Option<(Option<i64>, i64)> = sqlx::query_as(
        "SELECT CAST(api_key_rotation_days AS BIGINT), CAST(api_key_auto_revoke AS BIGINT) FROM accounts WHERE id = $1",
    )
    .bind(account.to_string())
    .fetch_optional(c)
    .await?;
    Ok(row
        .map(|(days, auto)| KeySettings {
            rotation_days: days,
            auto_revoke_exposed: auto != 0,
        })
        .unwrap_or_default())
}

pub async fn set_settings(
    c: &mut Conn,
    account: AccountId,
    s: KeySettings,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE accounts SET api_key_rotation_days = $1, api_key_auto_revoke = $2 WHERE id = $3",
    )
    .bind(s.rotation_days.map(|d| d as i32))
    .bind(i32::from(s.auto_revoke_exposed))
    .bind(account.to_string())
    .execute(c)
    .await?;
    Ok(())
}

/// Hands a key to another maker (a member removed or demoted transferred their credentials).
pub async fn set_maker(
    c: &mut Conn,
    id: &str,
    person: PersonId,
    email: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_keys SET created_by = $1, created_by_email = $2 WHERE id = $3")
        .bind(person.to_string())
        .bind(email)
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}
