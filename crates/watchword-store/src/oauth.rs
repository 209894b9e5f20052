//! OAuth apps, the grants accounts give them, and access tokens (rows of `api_keys` with their
//! grant, so the key hot path verifies them).

use crate::rows::{int, opt_int, opt_text, text};
use crate::{Conn, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;
use watchword_domain::scope::ScopeSet;
use watchword_domain::{AccountId, Millis, PersonId};

#[derive(Debug, Clone)]
pub struct AppRow {
    pub id: String,
    /// None: an app of the operator's catalogue.
    pub account_id: Option<String>,
    pub name: String,
    pub developer: String,
    pub homepage: Option<String>,
    pub description: String,
    /// JSON array of exact redirect URIs.
    pub redirect_uris: String,
    pub scopes: ScopeSet,
    pub kind: String,
    pub secret_hash: Option<Vec<u8>>,
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<Millis>,
    pub disabled_at: Option<Millis>,
    pub created_by: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const APP_COLUMNS: &str = "id, account_id, name, developer, homepage, description, redirect_uris, \
    scopes, kind, secret_hash, previous_secret_hash, previous_secret_expires_at, disabled_at, \
    created_by, created_at, updated_at";

fn app_row(r: &AnyRow) -> Result<AppRow, StoreError> {
    let scopes = text(r, "scopes")?;
    Ok(AppRow {
        id: text(r, "id")?,
        account_id: opt_text(r, "account_id")?,
        name: text(r, "name")?,
        developer: text(r, "developer")?,
        homepage: opt_text(r, "homepage")?,
        description: text(r, "description")?,
        redirect_uris: text(r, "redirect_uris")?,
        scopes: ScopeSet::decode(&scopes)
            .map_err(|_| StoreError::Corrupt(format!("oauth_apps.scopes {scopes:?}")))?,
        kind: text(r, "kind")?,
        secret_hash: r.try_get("secret_hash")?,
        previous_secret_hash: r.try_get("previous_secret_hash")?,
        previous_secret_expires_at: opt_int(r, "previous_secret_expires_at")?.map(Millis),
        disabled_at: opt_int(r, "disabled_at")?.map(Millis),
        created_by: opt_text(r, "created_by")?,
        created_at: Millis(int(r, "created_at")?),
        updated_at: Millis(int(r, "updated_at")?),
    })
}

/// Inserts a new app (`new`) or replaces an existing one's fields.
pub async fn save_app(c: &mut Conn, a: &AppRow, new: bool) -> Result<(), StoreError> {
    let sql = if new {
        "INSERT INTO oauth_apps (account_id, name, developer, homepage, description, redirect_uris, \
         scopes, kind, secret_hash, previous_secret_hash, previous_secret_expires_at, disabled_at, \
         created_by, created_at, updated_at, id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    } else {
        "UPDATE oauth_apps SET account_id = $1, name = $2, developer = $3, homepage = $4, \
         description = $5, redirect_uris = $6, scopes = $7, kind = $8, secret_hash = $9, \
         previous_secret_hash = $10, previous_secret_expires_at = $11, disabled_at = $12, \
         created_by = $13, created_at = $14, updated_at = $15 WHERE id = $16"
    };
    sqlx::query(sql)
        .bind(&a.account_id)
        .bind(&a.name)
        .bind(&a.developer)
        .bind(&a.homepage)
        .bind(&a.description)
        .bind(&a.redirect_uris)
        .bind(a.scopes.encode())
        .bind(&a.kind)
        .bind(&a.secret_hash)
        .bind(&a.previous_secret_hash)
        .bind(a.previous_secret_expires_at.map(|m| m.0))
        .bind(a.disabled_at.map(|m| m.0))
        .bind(&a.created_by)
        .bind(a.created_at.0)
        .bind(a.updated_at.0)
        .bind(&a.id)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn app(c: &mut Conn, id: &str) -> Result<Option<AppRow>, StoreError> {
    let q = format!("SELECT {APP_COLUMNS} FROM oauth_apps WHERE id = $1");
    let row = sqlx::query(&q).bind(id).fetch_optional(c).await?;
    row.as_ref().map(app_row).transpose()
}

/// The operator's catalogue, oldest first.
pub async fn catalogue(c: &mut Conn) -> Result<Vec<AppRow>, StoreError> {
    let q = format!(
        "SELECT {APP_COLUMNS} FROM oauth_apps WHERE account_id IS NULL ORDER BY created_at, id"
    );
    let rows = sqlx::query(&q).fetch_all(c).await?;
    rows.iter().map(app_row).collect()
}

/// An account's private apps, oldest first.
pub async fn apps_of(c: &mut Conn, account: AccountId) -> Result<Vec<AppRow>, StoreError> {
    let q = format!(
        "SELECT {APP_COLUMNS} FROM oauth_apps WHERE account_id = $1 ORDER BY created_at, id"
    );
    let rows = sqlx::query(&q)
        .bind(account.to_string())
        .fetch_all(c)
        .await?;
    rows.iter().map(app_row).collect()
}

/// Revokes every grant of an app and their tokens (its scopes changed: grants are given again).
pub async fn revoke_app_grants(
    c: &mut Conn,
    app: &str,
    reason: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE oauth_grants SET revoked_at = $1, revoked_reason = $2 \
         WHERE app_id = $3 AND revoked_at IS NULL",
    )
    .bind(now.0)
    .bind(reason)
    .bind(app)
    .execute(c)
    .await?;
    Ok(())
}

/// Deletes an app; its grants go with it, and so their access tokens end.
pub async fn delete_app(c: &mut Conn, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM oauth_grants WHERE app_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM oauth_apps WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct GrantRow {
    pub id: String,
    pub app_id: String,
    pub account_id: String,
    pub scopes: ScopeSet,
    pub installed_by: Option<String>,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

const GRANT_COLUMNS: &str = "id, app_id, account_id, scopes, installed_by, created_at, revoked_at";

fn grant_row(r: &AnyRow) -> Result<GrantRow, StoreError> {
    let scopes = text(r, "scopes")?;
    Ok(GrantRow {
        id: text(r, "id")?,
        app_id: text(r, "app_id")?,
        account_id: text(r, "account_id")?,
        scopes: ScopeSet::decode(&scopes)
            .map_err(|_| StoreError::Corrupt(format!("oauth_grants.scopes {scopes:?}")))?,
        installed_by: opt_text(r, "installed_by")?,
        created_at: Millis(int(r, "created_at")?),
        revoked_at: opt_int(r, "revoked_at")?.map(Millis),
    })
}

pub async fn insert_grant(c: &mut Conn, g: &GrantRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO oauth_grants (id, app_id, account_id, scopes, installed_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&g.id)
    .bind(&g.app_id)
    .bind(&g.account_id)
    .bind(g.scopes.encode())
    .bind(&g.installed_by)
    .bind(g.created_at.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn grant(c: &mut Conn, id: &str) -> Result<Option<GrantRow>, StoreError> {
    let q = format!("SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE id = $1");
    let row = sqlx::query(&q).bind(id).fetch_optional(c).await?;
    row.as_ref().map(grant_row).transpose()
}

/// The live grant the client credentials of `app` act under (one per app), if any.
pub async fn machine_grant(c: &mut Conn, app: &str) -> Result<Option<GrantRow>, StoreError> {
    let q = format!(
        "SELECT {GRANT_COLUMNS} FROM oauth_grants \
         WHERE app_id = $1 AND installed_by IS NULL AND revoked_at IS NULL"
    );
    let row = sqlx::query(&q).bind(app).fetch_optional(c).await?;
    row.as_ref().map(grant_row).transpose()
}

/// An account's grants that are not revoked, oldest first.
pub async fn grants_of(c: &mut Conn, account: AccountId) -> Result<Vec<GrantRow>, StoreError> {
    let q = format!(
        "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE account_id = $1 AND revoked_at IS NULL \
         ORDER BY created_at, id"
    );
    let rows = sqlx::query(&q)
        .bind(account.to_string())
        .fetch_all(c)
        .await?;
    rows.iter().map(grant_row).collect()
}

/// Revokes a grant (every access token issued under it stops: the hot path reads the grant);
/// false when it was revoked already.
pub async fn revoke_grant(
    c: &mut Conn,
    id: &str,
    reason: &str,
    now: Millis,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE oauth_grants SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL")
            .bind(now.0)
            .bind(reason)
            .bind(id)
            .execute(&mut *c)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// An authorization code as stored (its hash is the key).
#[derive(Debug, Clone)]
pub struct CodeRow {
    pub app_id: String,
    pub account_id: String,
    pub person_id: String,
    pub scopes: ScopeSet,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub grant_id: String,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
}

pub async fn insert_code(
    c: &mut Conn,
    code_hash: &[u8],
    x: &CodeRow,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
        .bind(now.plus_secs(-86_400).0)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO oauth_codes (code_hash, app_id, account_id, person_id, scopes, redirect_uri, \
         code_challenge, grant_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(code_hash.to_vec())
    .bind(&x.app_id)
    .bind(&x.account_id)
    .bind(&x.person_id)
    .bind(x.scopes.encode())
    .bind(&x.redirect_uri)
    .bind(&x.code_challenge)
    .bind(&x.grant_id)
    .bind(now.0)
    .bind(x.expires_at.0)
    .execute(c)
    .await?;
    Ok(())
}

/// Spends a code: the row as it was (`used_at` set when it had been spent before, so the caller
/// can end what the first use issued), or None for an unknown code.
pub async fn spend_code(
    c: &mut Conn,
    code_hash: &[u8],
    now: Millis,
) -> Result<Option<CodeRow>, StoreError> {
    let row = sqlx::query(
        "SELECT app_id, account_id, person_id, scopes, redirect_uri, code_challenge, grant_id, \
         expires_at, used_at FROM oauth_codes WHERE code_hash = $1",
    )
    .bind(code_hash.to_vec())
    .fetch_optional(&mut *c)
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let spent =
        sqlx::query("UPDATE oauth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL")
            .bind(now.0)
            .bind(code_hash.to_vec())
            .execute(c)
            .await?;
    let scopes = text(&r, "scopes")?;
    Ok(Some(CodeRow {
        app_id: text(&r, "app_id")?,
        account_id: text(&r, "account_id")?,
        person_id: text(&r, "person_id")?,
        scopes: ScopeSet::decode(&scopes)
            .map_err(|_| StoreError::Corrupt(format!("oauth_codes.scopes {scopes:?}")))?,
        redirect_uri: text(&r, "redirect_uri")?,
        code_challenge: text(&r, "code_challenge")?,
        grant_id: text(&r, "grant_id")?,
        expires_at: Millis(int(&r, "expires_at")?),
        used_at: if spent.rows_affected() == 1 {
            None
        } else {
            Some(opt_int(&r, "used_at")?.map_or(now, Millis))
        },
    }))
}

/// The live grant an account gave an app through a person's consent, if any.
pub async fn consented_grant(
    c: &mut Conn,
    app: &str,
    account: AccountId,
) -> Result<Option<GrantRow>, StoreError> {
    let q = format!(
        "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE app_id = $1 AND account_id = $2 \
         AND installed_by IS NOT NULL AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1"
    );
    let row = sqlx::query(&q)
        .bind(app)
        .bind(account.to_string())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(grant_row).transpose()
}

pub async fn set_grant_scopes(c: &mut Conn, id: &str, scopes: ScopeSet) -> Result<(), StoreError> {
    sqlx::query("UPDATE oauth_grants SET scopes = $1 WHERE id = $2")
        .bind(scopes.encode())
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// A refresh token as stored.
#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub grant_id: String,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
    pub successor_key_id: Option<String>,
    pub successor_sealed: Option<Vec<u8>>,
}

pub async fn insert_refresh(
    c: &mut Conn,
    hash: &[u8],
    grant: &str,
    expires_at: Millis,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(hash.to_vec())
    .bind(grant)
    .bind(now.0)
    .bind(expires_at.0)
    .execute(c)
    .await?;
    Ok(())
}

/// A refresh token by hash, locked on PostgreSQL (`lock` is the dialect's FOR UPDATE) so two
/// uses at once serialise.
pub async fn refresh(
    c: &mut Conn,
    hash: &[u8],
    lock: &str,
) -> Result<Option<RefreshRow>, StoreError> {
    let q = format!(
        "SELECT grant_id, expires_at, used_at, successor_key_id, successor_sealed \
         FROM oauth_refresh_tokens WHERE token_hash = $1{lock}"
    );
    let row = sqlx::query(&q)
        .bind(hash.to_vec())
        .fetch_optional(c)
        .await?;
    row.map(|r| {
        Ok(RefreshRow {
            grant_id: text(&r, "grant_id")?,
            expires_at: Millis(int(&r, "expires_at")?),
            used_at: opt_int(&r, "used_at")?.map(Millis),
            successor_key_id: opt_text(&r, "successor_key_id")?,
            successor_sealed: r.try_get("successor_sealed")?,
        })
    })
    .transpose()
}

/// Marks a refresh token used, keeping its successor sealed for a benign retry; false when
/// another use took it first.
pub async fn use_refresh(
    c: &mut Conn,
    hash: &[u8],
    successor: (&str, &[u8]),
    now: Millis,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE oauth_refresh_tokens SET used_at = $1, successor_key_id = $2, successor_sealed = $3 \
         WHERE token_hash = $4 AND used_at IS NULL",
    )
    .bind(now.0)
    .bind(successor.0)
    .bind(successor.1.to_vec())
    .bind(hash.to_vec())
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A grant as the account's "Integrations" list shows it.
#[derive(Debug, Clone)]
pub struct InstalledRow {
    pub grant: GrantRow,
    pub app_name: String,
    pub developer: String,
    /// The installer's email (None: the client credentials of a private app).
    pub installed_by_email: Option<String>,
    pub last_used_at: Option<Millis>,
    pub last_used_ip: Option<String>,
}

/// An account's live grants with their app, installer and last use (the latest use of any of
/// their access tokens, recorded with keys' uses), oldest first.
pub async fn installed(c: &mut Conn, account: AccountId) -> Result<Vec<InstalledRow>, StoreError> {
    let q = "SELECT g.id, g.app_id, g.account_id, g.scopes, g.installed_by, g.created_at, \
         g.revoked_at, a.name AS app_name, a.developer, p.email AS installer, \
         g.last_used_at, g.last_used_ip \
         FROM oauth_grants g JOIN oauth_apps a ON a.id = g.app_id \
         LEFT JOIN persons p ON p.id = g.installed_by \
         WHERE g.account_id = $1 AND g.revoked_at IS NULL ORDER BY g.created_at, g.id";
    let rows = sqlx::query(q)
        .bind(account.to_string())
        .fetch_all(c)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(InstalledRow {
                grant: grant_row(r)?,
                app_name: text(r, "app_name")?,
                developer: text(r, "developer")?,
                installed_by_email: opt_text(r, "installer")?,
                last_used_at: opt_int(r, "last_used_at")?.map(Millis),
                last_used_ip: opt_text(r, "last_used_ip")?,
            })
        })
        .collect()
}

/// Hands a grant to another member (its tokens then act within their permissions).
pub async fn set_grant_installer(
    c: &mut Conn,
    id: &str,
    person: PersonId,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE oauth_grants SET installed_by = $1 WHERE id = $2")
        .bind(person.to_string())
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// Hands a private app to another member (its client-credentials tokens act within theirs).
pub async fn set_app_maker(c: &mut Conn, id: &str, person: PersonId) -> Result<(), StoreError> {
    sqlx::query("UPDATE oauth_apps SET created_by = $1 WHERE id = $2")
        .bind(person.to_string())
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}
