//! Second factors, recovery codes, login challenges, failed-code counts and password resets.

use crate::rows::{int, opt_int, opt_text, parsed, text};
use crate::{Conn, Dialect, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;
use watchword_domain::{Millis, PersonId};

const FACTOR_COLUMNS: &str = "id, person_id, kind, name, secret_sealed, key_id, last_step, credential, credential_id, phone_hint, created_at, confirmed_at, last_used_at";

#[derive(Debug, Clone)]
pub struct FactorRow {
    pub id: String,
    pub person_id: PersonId,
    pub kind: String,
    pub name: String,
    pub secret_sealed: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub last_step: Option<i64>,
    /// A passkey's webauthn-rs credential (JSON).
    pub credential: Option<String>,
    pub credential_id: Option<String>,
    /// An SMS factor's last phone digits.
    pub phone_hint: Option<String>,
    pub created_at: Millis,
    pub confirmed_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
}

impl FactorRow {
    fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: text(r, "id")?,
            person_id: parsed(r, "person_id", PersonId::parse)?,
            kind: text(r, "kind")?,
            name: text(r, "name")?,
            secret_sealed: r.try_get("secret_sealed")?,
            key_id: r.try_get("key_id")?,
            last_step: opt_int(r, "last_step")?,
            credential: r.try_get("credential")?,
            credential_id: r.try_get("credential_id")?,
            phone_hint: r.try_get("phone_hint")?,
            created_at: Millis(int(r, "created_at")?),
            confirmed_at: opt_int(r, "confirmed_at")?.map(Millis),
            last_used_at: opt_int(r, "last_used_at")?.map(Millis),
        })
    }
}

pub struct NewFactor<'a> {
    pub id: &'a str,
    pub person: PersonId,
    pub kind: &'a str,
    pub name: &'a str,
    /// Sealed secret and the key it is sealed under (TOTP seed, SMS phone number).
    pub sealed: Option<(&'a str, &'a [u8])>,
    /// A passkey: its credential (JSON) and credential id; confirmed at once.
    pub passkey: Option<(&'a str, &'a str)>,
    pub phone_hint: Option<&'a str>,
}

pub async fn insert_factor(c: &mut Conn, f: NewFactor<'_>, now: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mfa_factors (id, person_id, kind, name, secret_sealed, key_id, credential, credential_id, phone_hint, created_at, confirmed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(f.id)
    .bind(f.person.to_string())
    .bind(f.kind)
    .bind(f.name)
    .bind(f.sealed.map(|(_, s)| s.to_vec()))
    .bind(f.sealed.map(|(k, _)| k))
    .bind(f.passkey.map(|(c, _)| c))
    .bind(f.passkey.map(|(_, id)| id))
    .bind(f.phone_hint)
    .bind(now.0)
    .bind(f.passkey.map(|_| now.0))
    .execute(&mut *c)
    .await?;
    if f.passkey.is_some() {
        sync_mfa_level(c, &f.person.to_string()).await?;
    }
    Ok(())
}

/// The level of a person's confirmed factors (0 none, 1 any, 2 a passkey), as SQL over the
/// person id bound to `param` (`$1`).
pub(crate) fn mfa_level_of(param: &str) -> String {
    format!(
        "COALESCE((SELECT MAX(CASE WHEN f.kind = 'passkey' THEN 2 ELSE 1 END) \
         FROM mfa_factors f WHERE f.person_id = {param} AND f.confirmed_at IS NOT NULL), 0)"
    )
}

/// Sets `memberships.mfa_level` of every membership of the person from their confirmed factors.
pub(crate) async fn sync_mfa_level(c: &mut Conn, person: &str) -> Result<(), StoreError> {
    crate::persons::lock_person(&mut *c, person).await?;
    sqlx::query(&format!(
        "UPDATE memberships SET mfa_level = {} WHERE person_id = $1",
        mfa_level_of("$1")
    ))
    .bind(person)
    .execute(c)
    .await?;
    Ok(())
}

/// Confirms factor `id` when it is still pending (its enrolment) and copies its owner's new MFA
/// level onto their memberships; on a login with a confirmed factor it matches no row and
/// writes nothing.
pub(crate) async fn confirm_pending(c: &mut Conn, id: &str, now: Millis) -> Result<(), StoreError> {
    let confirmed: Option<(String,)> = sqlx::query_as(
        "UPDATE mfa_factors SET confirmed_at = $2 WHERE id = $1 AND confirmed_at IS NULL \
         RETURNING person_id",
    )
    .bind(id)
    .bind(now.0)
    .fetch_optional(&mut *c)
    .await?;
    if let Some((person,)) = confirmed {
        sync_mfa_level(c, &person).await?;
    }
    Ok(())
}

/// Stores a passkey's updated credential (signature counter, backup state) after a use.
pub async fn passkey_used(
    c: &mut Conn,
    id: &str,
    credential: Option<&str>,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE mfa_factors SET credential = COALESCE($2, credential), last_used_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(credential)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// Renames a confirmed factor of a person; false when there is none with this id.
pub async fn rename_factor(
    c: &mut Conn,
    person: PersonId,
    id: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let r = sqlx::query("UPDATE mfa_factors SET name = $3 WHERE person_id = $1 AND id = $2")
        .bind(person.to_string())
        .bind(id)
        .bind(name)
        .execute(c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The factor holding a passkey credential id (passwordless sign-in).
pub async fn by_credential_id(
    c: &mut Conn,
    credential_id: &str,
) -> Result<Option<FactorRow>, StoreError> {
    let sql = format!("SELECT {FACTOR_COLUMNS} FROM mfa_factors WHERE credential_id = $1");
    let row = sqlx::query(&sql)
        .bind(credential_id)
        .fetch_optional(c)
        .await?;
    row.as_ref().map(FactorRow::from_row).transpose()
}

/// A person's factors, confirmed or pending, oldest first.
pub async fn factors(c: &mut Conn, person: PersonId) -> Result<Vec<FactorRow>, StoreError> {
    let sql = format!(
        "SELECT {FACTOR_COLUMNS} FROM mfa_factors WHERE person_id = $1 ORDER BY created_at, id"
    );
    let rows = sqlx::query(&sql)
        .bind(person.to_string())
        .fetch_all(c)
        .await?;
    rows.iter().map(FactorRow::from_row).collect()
}

/// Records an accepted code: its step (never moving back) and the time; confirms a pending
/// factor. False when another request accepted this or a later step first.
pub async fn accept_step(
    c: &mut Conn,
    id: &str,
    step: i64,
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE mfa_factors SET last_step = $2, last_used_at = $3 \
         WHERE id = $1 AND (last_step IS NULL OR last_step < $2)",
    )
    .bind(id)
    .bind(step)
    .bind(now.0)
    .execute(&mut *c)
    .await?;
    if r.rows_affected() == 1 {
        confirm_pending(c, id, now).await?;
    }
    Ok(r.rows_affected() == 1)
}

pub async fn delete_factor(c: &mut Conn, person: PersonId, id: &str) -> Result<bool, StoreError> {
    let r = sqlx::query("DELETE FROM mfa_factors WHERE person_id = $1 AND id = $2")
        .bind(person.to_string())
        .bind(id)
        .execute(&mut *c)
        .await?;
    sync_mfa_level(c, &person.to_string()).await?;
    Ok(r.rows_affected() == 1)
}

/// Drops enrolments never confirmed, older than `before`, of this person.
pub async fn delete_pending(
    c: &mut Conn,
    person: PersonId,
    before: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM mfa_factors WHERE person_id = $1 AND confirmed_at IS NULL AND created_at < $2",
    )
    .bind(person.to_string())
    .bind(before.0)
    .execute(c)
    .await?;
    Ok(())
}

/// Every sealed secret, for re-sealing under a new key.
pub async fn all_sealed(c: &mut Conn) -> Result<Vec<FactorRow>, StoreError> {
    let sql = format!("SELECT {FACTOR_COLUMNS} FROM mfa_factors WHERE secret_sealed IS NOT NULL");
    let rows = sqlx::query(&sql).fetch_all(c).await?;
    rows.iter().map(FactorRow::from_row).collect()
}

pub async fn reseal(c: &mut Conn, id: &str, key_id: &str, sealed: &[u8]) -> Result<(), StoreError> {
    sqlx::query("UPDATE mfa_factors SET key_id = $2, secret_sealed = $3 WHERE id = $1")
        .bind(id)
        .bind(key_id)
        .bind(sealed.to_vec())
        .execute(c)
        .await?;
    Ok(())
}

/// Replaces a person's recovery codes with these digests.
pub async fn replace_recovery_codes(
    c: &mut Conn,
    person: PersonId,
    hashes: &[Vec<u8>],
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM recovery_codes WHERE person_id = $1")
        .bind(person.to_string())
        .execute(&mut *c)
        .await?;
    for h in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (code_hash, person_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(h.clone())
        .bind(person.to_string())
        .bind(now.0)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Spends a recovery code of this person; false when it is not theirs or already used.
pub async fn use_recovery_code(
    c: &mut Conn,
    person: PersonId,
    hash: &[u8],
    now: Millis,
) -> Result<bool, StoreError> {
    let r = sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 WHERE code_hash = $1 AND person_id = $2 AND used_at IS NULL",
    )
    .bind(hash.to_vec())
    .bind(person.to_string())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Unused recovery codes of a person.
pub async fn recovery_codes_left(c: &mut Conn, person: PersonId) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM recovery_codes WHERE person_id = $1 AND used_at IS NULL",
    )
    .bind(person.to_string())
    .fetch_one(c)
    .await?;
    int(&row, "n")
}

#[derive(Debug, Clone)]
pub struct ChallengeRow {
    pub person_id: PersonId,
    pub mode: String,
    pub expires_at: Millis,
    pub failures: i64,
    pub used_at: Option<Millis>,
    /// The SSO connection whose sign-in this challenge completes.
    pub sso_connection: Option<String>,
}

pub async fn insert_challenge(
    c: &mut Conn,
    hash: &[u8],
    person: PersonId,
    mode: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mfa_challenges (token_hash, person_id, mode, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash.to_vec())
    .bind(person.to_string())
    .bind(mode)
    .bind(now.0)
    .bind(expires_at.0)
    .execute(c)
    .await?;
    Ok(())
}

/// A login challenge, without a lock.
pub async fn challenge(c: &mut Conn, hash: &[u8]) -> Result<Option<ChallengeRow>, StoreError> {
    challenge_with(c, hash, "").await
}

pub async fn challenge_for_update(
    c: &mut Conn,
    dialect: Dialect,
    hash: &[u8],
) -> Result<Option<ChallengeRow>, StoreError> {
    challenge_with(c, hash, dialect.for_update()).await
}

async fn challenge_with(
    c: &mut Conn,
    hash: &[u8],
    lock: &str,
) -> Result<Option<ChallengeRow>, StoreError> {
    let sql = format!(
        "SELECT person_id, mode, expires_at, failures, used_at, sso_connection_id FROM mfa_challenges WHERE token_hash = $1{lock}"
    );
    let row = sqlx::query(&sql)
        .bind(hash.to_vec())
        .fetch_optional(c)
        .await?;
    row.map(|r| {
        Ok(ChallengeRow {
            person_id: parsed(&r, "person_id", PersonId::parse)?,
            mode: text(&r, "mode")?,
            expires_at: Millis(int(&r, "expires_at")?),
            failures: int(&r, "failures")?,
            used_at: opt_int(&r, "used_at")?.map(Millis),
            sso_connection: opt_text(&r, "sso_connection_id")?,
        })
    })
    .transpose()
}

/// Marks a challenge as the second step of an SSO sign-in through `connection`.
pub async fn set_challenge_sso(
    c: &mut Conn,
    hash: &[u8],
    connection: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE mfa_challenges SET sso_connection_id = $2 WHERE token_hash = $1")
        .bind(hash.to_vec())
        .bind(connection)
        .execute(c)
        .await?;
    Ok(())
}

/// Takes one of a live challenge's `max` answers (the `failures` column counts answers), in one
/// statement: false when the challenge is used, expired or out of answers.
pub async fn challenge_answer(
    c: &mut Conn,
    hash: &[u8],
    now: Millis,
    max: i64,
) -> Result<bool, StoreError> {
    let n = sqlx::query(
        "UPDATE mfa_challenges SET failures = failures + 1 \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 AND failures < $3",
    )
    .bind(hash.to_vec())
    .bind(now.0)
    .bind(max)
    .execute(c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Ends a challenge with its right answer; false when another answer ended it first.
pub async fn challenge_used(c: &mut Conn, hash: &[u8], now: Millis) -> Result<bool, StoreError> {
    let n = sqlx::query(
        "UPDATE mfa_challenges SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
    )
    .bind(hash.to_vec())
    .bind(now.0)
    .execute(c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn insert_reset(
    c: &mut Conn,
    hash: &[u8],
    person: PersonId,
    now: Millis,
    expires_at: Millis,
) -> Result<(), StoreError> {
    // A newer link voids the older ones.
    void_resets(&mut *c, person, now).await?;
    sqlx::query("INSERT INTO password_resets (token_hash, person_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(hash.to_vec())
        .bind(person.to_string())
        .bind(now.0)
        .bind(expires_at.0)
        .execute(c)
        .await?;
    Ok(())
}

/// Spends a live reset token: its person, or None when unknown, used or expired.
pub async fn use_reset(
    c: &mut Conn,
    hash: &[u8],
    now: Millis,
) -> Result<Option<PersonId>, StoreError> {
    let row = sqlx::query(
        "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         RETURNING person_id",
    )
    .bind(hash.to_vec())
    .bind(now.0)
    .fetch_optional(&mut *c)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let person = parsed(&row, "person_id", PersonId::parse)?;
    // Any other outstanding link of the person dies with this one.
    void_resets(c, person, now).await?;
    Ok(Some(person))
}

/// Ends every outstanding reset link of a person (a newer link, a reset, a password change).
pub async fn void_resets(c: &mut Conn, person: PersonId, now: Millis) -> Result<(), StoreError> {
    sqlx::query("UPDATE password_resets SET used_at = $2 WHERE person_id = $1 AND used_at IS NULL")
        .bind(person.to_string())
        .bind(now.0)
        .execute(c)
        .await?;
    Ok(())
}

/// The person a live reset token belongs to, without spending it.
pub async fn reset_person(
    c: &mut Conn,
    hash: &[u8],
    now: Millis,
) -> Result<Option<PersonId>, StoreError> {
    let row = sqlx::query(
        "SELECT person_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(hash.to_vec())
    .bind(now.0)
    .fetch_optional(c)
    .await?;
    row.map(|r| parsed(&r, "person_id", PersonId::parse))
        .transpose()
}

/// Active members of an account whose person has no confirmed second factor.
pub async fn members_without_mfa(
    c: &mut Conn,
    account: watchword_domain::AccountId,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM memberships m WHERE m.account_id = $1 AND m.status = 'active' \
         AND m.person_id IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM mfa_factors f WHERE f.person_id = m.person_id AND f.confirmed_at IS NOT NULL)",
    )
    .bind(account.to_string())
    .fetch_one(c)
    .await?;
    int(&row, "n")
}

/// Removes every second factor (apps, phones, passkeys) and recovery code of a person (an
/// assisted recovery); returns how many factors went.
pub async fn delete_all(c: &mut Conn, person: PersonId) -> Result<u64, StoreError> {
    let r = sqlx::query("DELETE FROM mfa_factors WHERE person_id = $1")
        .bind(person.to_string())
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE person_id = $1")
        .bind(person.to_string())
        .execute(&mut *c)
        .await?;
    sync_mfa_level(c, &person.to_string()).await?;
    Ok(r.rows_affected())
}
