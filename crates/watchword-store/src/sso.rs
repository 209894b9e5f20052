//! Single sign-on: claimed domains, connections, linked identities and sign-ins in flight.

use crate::rows::{int, opt_int, opt_parsed, opt_text, text};
use crate::{Conn, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;
use watchword_domain::{AccountId, Millis, PersonId};

#[derive(Debug, Clone)]
pub struct DomainRow {
    pub id: String,
    pub account_id: String,
    pub domain: String,
    pub token: String,
    pub created_at: Millis,
    pub verified_at: Option<Millis>,
    /// Since when the daily check has not found the TXT record (None: found, or not checked).
    pub failing_since: Option<Millis>,
}

fn domain_row(r: &AnyRow) -> Result<DomainRow, StoreError> {
    Ok(DomainRow {
        id: text(r, "id")?,
        account_id: text(r, "account_id")?,
        domain: text(r, "domain")?,
        token: text(r, "token")?,
        created_at: Millis(int(r, "created_at")?),
        verified_at: opt_int(r, "verified_at")?.map(Millis),
        failing_since: opt_int(r, "failing_since")?.map(Millis),
    })
}

const DOMAIN_COLUMNS: &str =
    "id, account_id, domain, token, created_at, verified_at, failing_since";

pub async fn insert_domain(c: &mut Conn, d: &DomainRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sso_domains (id, account_id, domain, token, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&d.id)
    .bind(&d.account_id)
    .bind(&d.domain)
    .bind(&d.token)
    .bind(d.created_at.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn domains(c: &mut Conn, account: AccountId) -> Result<Vec<DomainRow>, StoreError> {
    let q =
        format!("SELECT {DOMAIN_COLUMNS} FROM sso_domains WHERE account_id = $1 ORDER BY domain");
    let rows = sqlx::query(&q)
        .bind(account.to_string())
        .fetch_all(c)
        .await?;
    rows.iter().map(domain_row).collect()
}

pub async fn domain(
    c: &mut Conn,
    account: AccountId,
    id: &str,
) -> Result<Option<DomainRow>, StoreError> {
    let q = format!("SELECT {DOMAIN_COLUMNS} FROM sso_domains WHERE account_id = $1 AND id = $2");
    let row = sqlx::query(&q)
        .bind(account.to_string())
        .bind(id)
        .fetch_optional(c)
        .await?;
    row.as_ref().map(domain_row).transpose()
}

/// The account that verified `domain`, if any (one at most).
pub async fn verified_domain(c: &mut Conn, domain: &str) -> Result<Option<DomainRow>, StoreError> {
    let q = format!(
        "SELECT {DOMAIN_COLUMNS} FROM sso_domains WHERE domain = $1 AND verified_at IS NOT NULL"
    );
    let row = sqlx::query(&q).bind(domain).fetch_optional(c).await?;
    row.as_ref().map(domain_row).transpose()
}

/// Marks a claim verified; a unique violation when another account verified the domain first.
pub async fn mark_verified(c: &mut Conn, id: &str, now: Millis) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE sso_domains SET verified_at = $1 WHERE id = $2 AND verified_at IS NULL",
    )
    .bind(now.0)
    .bind(id)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Claims the verified domains not checked since `before` (each by one node: a conditional
/// update marks it checked at `now` first).
pub async fn claim_domain_checks(
    c: &mut Conn,
    before: Millis,
    now: Millis,
) -> Result<Vec<DomainRow>, StoreError> {
    let q = format!(
        "SELECT {DOMAIN_COLUMNS} FROM sso_domains WHERE verified_at IS NOT NULL \
         AND COALESCE(checked_at, verified_at) < $1 ORDER BY id LIMIT 100"
    );
    let due: Vec<DomainRow> = sqlx::query(&q)
        .bind(before.0)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(domain_row)
        .collect::<Result<_, _>>()?;
    let mut claimed = Vec::new();
    for d in due {
        let done = sqlx::query(
            "UPDATE sso_domains SET checked_at = $1 WHERE id = $2 AND verified_at IS NOT NULL \
             AND COALESCE(checked_at, verified_at) < $3",
        )
        .bind(now.0)
        .bind(&d.id)
        .bind(before.0)
        .execute(&mut *c)
        .await?;
        if done.rows_affected() == 1 {
            claimed.push(d);
        }
    }
    Ok(claimed)
}

/// Records a check's outcome: `failing_since` None when the record was found.
pub async fn set_domain_failing(
    c: &mut Conn,
    id: &str,
    failing_since: Option<Millis>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sso_domains SET failing_since = $1 WHERE id = $2")
        .bind(failing_since.map(|m| m.0))
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

/// A domain that failed its checks for too long stops being verified (and routing sign-ins).
pub async fn unverify_domain(c: &mut Conn, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE sso_domains SET verified_at = NULL, failing_since = NULL WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn delete_domain(c: &mut Conn, account: AccountId, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM sso_domains WHERE account_id = $1 AND id = $2")
        .bind(account.to_string())
        .bind(id)
        .execute(c)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone)]
pub struct ConnectionRow {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    pub name: String,
    pub enabled: bool,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_sealed: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub scopes: String,
    pub groups_claim: Option<String>,
    /// SAML: the attribute read for the email when the NameID is not an email address.
    pub email_attribute: Option<String>,
    /// `[[group, role], …]` as JSON: the role of a person provisioned with that group.
    pub group_mappings: String,
    pub saml_metadata: Option<String>,
    pub default_role: String,
    pub jit: bool,
    pub trust_idp_mfa: bool,
    /// SAML: an unsolicited response (IdP-initiated) is accepted.
    pub idp_initiated: bool,
    /// SAML: when the earliest signing certificate expires.
    pub cert_expires_at: Option<Millis>,
    /// The last expiry warning sent for that certificate: 0, 30 or 7 (days).
    pub cert_warned: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const CONNECTION_COLUMNS: &str = "id, account_id, kind, name, enabled, issuer, client_id, \
    client_secret_sealed, key_id, scopes, groups_claim, group_mappings, saml_metadata, default_role, \
    jit, trust_idp_mfa, idp_initiated, cert_expires_at, cert_warned, created_at, updated_at, \
    email_attribute";

fn connection_row(r: &AnyRow) -> Result<ConnectionRow, StoreError> {
    Ok(ConnectionRow {
        id: text(r, "id")?,
        account_id: text(r, "account_id")?,
        kind: text(r, "kind")?,
        name: text(r, "name")?,
        enabled: int(r, "enabled")? != 0,
        issuer: opt_text(r, "issuer")?,
        client_id: opt_text(r, "client_id")?,
        client_secret_sealed: r.try_get("client_secret_sealed")?,
        key_id: opt_text(r, "key_id")?,
        scopes: text(r, "scopes")?,
        groups_claim: opt_text(r, "groups_claim")?,
        email_attribute: opt_text(r, "email_attribute")?,
        group_mappings: text(r, "group_mappings")?,
        saml_metadata: opt_text(r, "saml_metadata")?,
        default_role: text(r, "default_role")?,
        jit: int(r, "jit")? != 0,
        trust_idp_mfa: int(r, "trust_idp_mfa")? != 0,
        idp_initiated: int(r, "idp_initiated")? != 0,
        cert_expires_at: opt_int(r, "cert_expires_at")?.map(Millis),
        cert_warned: int(r, "cert_warned")?,
        created_at: Millis(int(r, "created_at")?),
        updated_at: Millis(int(r, "updated_at")?),
    })
}

/// Inserts a new connection (`new`) or replaces an existing one's settings.
pub async fn save_connection(c: &mut Conn, x: &ConnectionRow, new: bool) -> Result<(), StoreError> {
    let sql = if !new {
        "UPDATE sso_connections SET account_id = $2, kind = $3, name = $4, enabled = $5, issuer = $6, \
         client_id = $7, client_secret_sealed = $8, key_id = $9, scopes = $10, groups_claim = $11, \
         saml_metadata = $12, default_role = $13, jit = $14, trust_idp_mfa = $15, created_at = $16, \
         updated_at = $17, group_mappings = $18, idp_initiated = $19, cert_expires_at = $20, \
         cert_warned = $21, email_attribute = $22 WHERE id = $1"
    } else {
        "INSERT INTO sso_connections (id, account_id, kind, name, enabled, issuer, client_id, \
         client_secret_sealed, key_id, scopes, groups_claim, saml_metadata, default_role, jit, \
         trust_idp_mfa, created_at, updated_at, group_mappings, idp_initiated, cert_expires_at, \
         cert_warned, email_attribute) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22)"
    };
    sqlx::query(sql)
        .bind(&x.id)
        .bind(&x.account_id)
        .bind(&x.kind)
        .bind(&x.name)
        .bind(i64::from(x.enabled))
        .bind(&x.issuer)
        .bind(&x.client_id)
        .bind(&x.client_secret_sealed)
        .bind(&x.key_id)
        .bind(&x.scopes)
        .bind(&x.groups_claim)
        .bind(&x.saml_metadata)
        .bind(&x.default_role)
        .bind(i64::from(x.jit))
        .bind(i64::from(x.trust_idp_mfa))
        .bind(x.created_at.0)
        .bind(x.updated_at.0)
        .bind(&x.group_mappings)
        .bind(i64::from(x.idp_initiated))
        .bind(x.cert_expires_at.map(|m| m.0))
        .bind(x.cert_warned)
        .bind(&x.email_attribute)
        .execute(c)
        .await?;
    Ok(())
}

pub async fn connections(
    c: &mut Conn,
    account: AccountId,
) -> Result<Vec<ConnectionRow>, StoreError> {
    let q = format!(
        "SELECT {CONNECTION_COLUMNS} FROM sso_connections WHERE account_id = $1 ORDER BY created_at, id"
    );
    let rows = sqlx::query(&q)
        .bind(account.to_string())
        .fetch_all(c)
        .await?;
    rows.iter().map(connection_row).collect()
}

/// A connection by id alone (sign-in callbacks carry no account).
pub async fn connection(c: &mut Conn, id: &str) -> Result<Option<ConnectionRow>, StoreError> {
    let q = format!("SELECT {CONNECTION_COLUMNS} FROM sso_connections WHERE id = $1");
    let row = sqlx::query(&q).bind(id).fetch_optional(c).await?;
    row.as_ref().map(connection_row).transpose()
}

pub async fn delete_connection(
    c: &mut Conn,
    account: AccountId,
    id: &str,
) -> Result<bool, StoreError> {
    sqlx::query("DELETE FROM sso_requests WHERE connection_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM sso_identities WHERE connection_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    let done = sqlx::query("DELETE FROM sso_connections WHERE account_id = $1 AND id = $2")
        .bind(account.to_string())
        .bind(id)
        .execute(c)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The person linked to (connection, subject), if any.
pub async fn identity(
    c: &mut Conn,
    connection: &str,
    subject: &str,
) -> Result<Option<PersonId>, StoreError> {
    let row = sqlx::query(
        "SELECT person_id FROM sso_identities WHERE connection_id = $1 AND subject = $2",
    )
    .bind(connection)
    .bind(subject)
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        let id = text(&r, "person_id")?;
        PersonId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("person_id {id:?}")))
    })
    .transpose()
}

/// Whether any IdP identity is linked to the person.
pub async fn has_identity(c: &mut Conn, person: PersonId) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT 1 AS one FROM sso_identities WHERE person_id = $1 LIMIT 1")
        .bind(person.to_string())
        .fetch_optional(c)
        .await?;
    Ok(row.is_some())
}

pub async fn link_identity(
    c: &mut Conn,
    connection: &str,
    subject: &str,
    person: PersonId,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sso_identities (connection_id, subject, person_id, created_at, last_login_at) \
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(connection)
    .bind(subject)
    .bind(person.to_string())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn touch_identity(
    c: &mut Conn,
    connection: &str,
    subject: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE sso_identities SET last_login_at = $1 WHERE connection_id = $2 AND subject = $3",
    )
    .bind(now.0)
    .bind(connection)
    .bind(subject)
    .execute(c)
    .await?;
    Ok(())
}

pub struct NewRequest<'a> {
    pub state_hash: &'a [u8],
    pub connection: &'a str,
    pub verifier: &'a str,
    pub nonce: &'a str,
    pub mode: &'a str,
    pub test: bool,
    /// The person this request links to the connection (started from their own session).
    pub link_person: Option<PersonId>,
    pub expires_at: Millis,
}

pub async fn insert_request(
    c: &mut Conn,
    r: &NewRequest<'_>,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sso_requests WHERE expires_at < $1")
        .bind(now.0)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO sso_requests (state_hash, connection_id, verifier, nonce, mode, test, created_at, expires_at, link_person) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(r.state_hash)
    .bind(r.connection)
    .bind(r.verifier)
    .bind(r.nonce)
    .bind(r.mode)
    .bind(i64::from(r.test))
    .bind(now.0)
    .bind(r.expires_at.0)
    .bind(r.link_person.map(|p| p.to_string()))
    .execute(c)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct RequestRow {
    pub connection_id: String,
    pub verifier: String,
    pub nonce: String,
    pub mode: String,
    pub test: bool,
    pub link_person: Option<PersonId>,
}

/// A live sign-in request, left live (a SAML response is checked before it spends one).
pub async fn live_request(
    c: &mut Conn,
    state_hash: &[u8],
    now: Millis,
) -> Result<Option<RequestRow>, StoreError> {
    let r = sqlx::query(
        "SELECT connection_id, verifier, nonce, mode, test, link_person FROM sso_requests \
         WHERE state_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(state_hash)
    .bind(now.0)
    .fetch_optional(c)
    .await?;
    r.as_ref().map(request_row).transpose()
}

fn request_row(r: &AnyRow) -> Result<RequestRow, StoreError> {
    Ok(RequestRow {
        connection_id: text(r, "connection_id")?,
        verifier: text(r, "verifier")?,
        nonce: text(r, "nonce")?,
        mode: text(r, "mode")?,
        test: int(r, "test")? != 0,
        link_person: opt_parsed(r, "link_person", PersonId::parse)?,
    })
}

/// Spends a live sign-in request (once: a second use, or one past its expiry, finds nothing).
pub async fn take_request(
    c: &mut Conn,
    state_hash: &[u8],
    now: Millis,
) -> Result<Option<RequestRow>, StoreError> {
    let spent = sqlx::query(
        "UPDATE sso_requests SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now.0)
    .bind(state_hash)
    .execute(&mut *c)
    .await?;
    if spent.rows_affected() != 1 {
        return Ok(None);
    }
    let r = sqlx::query(
        "SELECT connection_id, verifier, nonce, mode, test, link_person FROM sso_requests WHERE state_hash = $1",
    )
    .bind(state_hash)
    .fetch_one(c)
    .await?;
    request_row(&r).map(Some)
}

/// Records that a session came from a connection.
pub async fn mark_session(
    c: &mut Conn,
    session: watchword_domain::SessionId,
    connection: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET sso_connection_id = $1 WHERE id = $2")
        .bind(connection)
        .bind(session.to_string())
        .execute(c)
        .await?;
    Ok(())
}

/// Accepts an assertion id once per connection: false when it was seen before (a replay). Ids
/// past their expiry are forgotten first.
pub async fn spend_assertion(
    c: &mut Conn,
    connection: &str,
    assertion_id: &str,
    expires_at: Millis,
    now: Millis,
) -> Result<bool, StoreError> {
    sqlx::query("DELETE FROM saml_assertions WHERE expires_at < $1")
        .bind(now.0)
        .execute(&mut *c)
        .await?;
    let done = sqlx::query(
        "INSERT INTO saml_assertions (connection_id, assertion_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (connection_id, assertion_id) DO NOTHING",
    )
    .bind(connection)
    .bind(assertion_id)
    .bind(expires_at.0)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// SAML connections whose earliest signing certificate expires before `before` and whose
/// warning for `days` is not sent yet.
pub async fn certificates_to_warn(
    c: &mut Conn,
    before: Millis,
    days: i64,
) -> Result<Vec<ConnectionRow>, StoreError> {
    let q = format!(
        "SELECT {CONNECTION_COLUMNS} FROM sso_connections WHERE kind = 'saml' \
         AND cert_expires_at IS NOT NULL AND cert_expires_at < $1 \
         AND (cert_warned = 0 OR cert_warned > $2) ORDER BY id LIMIT 500"
    );
    let rows = sqlx::query(&q)
        .bind(before.0)
        .bind(days)
        .fetch_all(c)
        .await?;
    rows.iter().map(connection_row).collect()
}

/// Claims a certificate warning (one node sends it): false when another took it first.
pub async fn claim_certificate_warning(
    c: &mut Conn,
    connection: &str,
    was: i64,
    days: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE sso_connections SET cert_warned = $1 WHERE id = $2 AND cert_warned = $3",
    )
    .bind(days)
    .bind(connection)
    .bind(was)
    .execute(c)
    .await?;
    Ok(done.rows_affected() == 1)
}
