use crate::rows::{int, opt_parsed, opt_text, parsed, text};
use crate::{Conn, StoreError};
use watchword_domain::{AccountId, AuditEventId, Millis, PersonId};

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub account: Option<AccountId>,
    pub actor_person: Option<PersonId>,
    pub actor_email: Option<String>,
    /// Public id of the API key that acted, when a key did.
    pub actor_key: Option<String>,
    pub action: &'static str,
    pub target_kind: Option<&'static str>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: AuditEventId,
    pub account_id: Option<AccountId>,
    pub actor_kind: String,
    pub actor_person_id: Option<PersonId>,
    pub actor_email: Option<String>,
    pub actor_key_id: Option<String>,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
    pub created_at: Millis,
    /// What the target is called in this account today (a member's email, a key's name), when
    /// it still exists there.
    pub target_name: Option<String>,
    /// The name of the API key that acted, when one did and it is still listed.
    pub actor_key_name: Option<String>,
}

/// Appends an event. There is no update or delete of audit events anywhere in the code.
pub async fn append(c: &mut Conn, e: &NewEvent, now: Millis) -> Result<AuditEventId, StoreError> {
    let id = AuditEventId::new();
    let actor_kind = match (&e.actor_person, &e.actor_key) {
        (Some(_), _) => "person",
        (None, Some(_)) => "api_key",
        (None, None) => "system",
    };
    if let Some(account) = e.account {
        crate::audit_streams::enqueue(
            &mut *c,
            account,
            id,
            &stream_body(id, actor_kind, e, now),
            now,
        )
        .await?;
    }
    sqlx::query(
        "INSERT INTO audit_events (id, account_id, actor_kind, actor_person_id, actor_email, actor_key_id, action, target_kind, target_id, ip, user_agent, details, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(id.to_string())
    .bind(e.account.map(|a| a.to_string()))
    .bind(actor_kind)
    .bind(e.actor_person.map(|p| p.to_string()))
    .bind(e.actor_email.clone())
    .bind(e.actor_key.clone())
    .bind(e.action)
    .bind(e.target_kind)
    .bind(e.target_id.clone())
    .bind(e.ip.clone())
    .bind(e.user_agent.clone())
    .bind(e.details.to_string())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(id)
}

/// An event as an audit stream POSTs it: the fields and names of the API's audit events.
fn stream_body(id: AuditEventId, actor_kind: &str, e: &NewEvent, now: Millis) -> String {
    serde_json::json!({
        "id": id.to_string(),
        "account_id": e.account.map(|a| a.to_string()),
        "action": e.action,
        "actor_kind": actor_kind,
        "actor_person_id": e.actor_person.map(|p| p.to_string()),
        "actor_email": e.actor_email,
        "actor_key_id": e.actor_key,
        "target_kind": e.target_kind,
        "target_id": e.target_id,
        "ip": e.ip,
        "user_agent": e.user_agent,
        "details": e.details,
        "created_at": now.rfc3339(),
    })
    .to_string()
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub actor: Option<PersonId>,
    /// Part of the actor's email, any case.
    pub actor_search: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    /// Cursor: only events older than this one.
    pub before: Option<AuditEventId>,
    pub limit: i64,
}

/// The columns of an event as pages read it: the target's current name in the event's account
/// (never another account's data: each lookup is held to `e.account_id`).
const COLUMNS: &str = "SELECT e.id, e.account_id, e.actor_kind, e.actor_person_id, e.actor_email, e.actor_key_id, \
    e.action, e.target_kind, e.target_id, e.ip, e.user_agent, e.details, e.created_at, \
    CASE e.target_kind \
      WHEN 'person' THEN (SELECT m.email FROM memberships m WHERE m.account_id = e.account_id AND m.person_id = e.target_id ORDER BY m.created_at DESC LIMIT 1) \
      WHEN 'membership' THEN (SELECT m.email FROM memberships m WHERE m.account_id = e.account_id AND m.id = e.target_id) \
      WHEN 'api_key' THEN (SELECT k.name FROM api_keys k WHERE k.account_id = e.account_id AND k.id = e.target_id) \
      WHEN 'role' THEN (SELECT r.name FROM roles r WHERE r.account_id = e.account_id AND r.id = e.target_id) \
      WHEN 'sso_domain' THEN (SELECT d.domain FROM sso_domains d WHERE d.account_id = e.account_id AND d.id = e.target_id) \
      WHEN 'sso_connection' THEN (SELECT c.name FROM sso_connections c WHERE c.account_id = e.account_id AND c.id = e.target_id) \
      WHEN 'oauth_app' THEN (SELECT a.name FROM oauth_apps a WHERE a.account_id = e.account_id AND a.id = e.target_id) \
      WHEN 'oauth_grant' THEN (SELECT a.name FROM oauth_grants g JOIN oauth_apps a ON a.id = g.app_id WHERE g.account_id = e.account_id AND g.id = e.target_id) \
    END AS target_name, \
    (SELECT k.name FROM api_keys k WHERE k.account_id = e.account_id AND k.id = e.actor_key_id) AS actor_key_name \
    FROM audit_events e";

/// `%part%` for LIKE, its own wildcards taken literally.
fn contains_pattern(part: &str) -> String {
    let escaped = part
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Events of an account, newest first, one page.
pub async fn page(
    c: &mut Conn,
    account: AccountId,
    f: &Filter,
) -> Result<Vec<EventRow>, StoreError> {
    let sql = format!(
        "{COLUMNS} WHERE e.account_id = $1 \
         AND ($2 IS NULL OR e.action = $2) AND ($3 IS NULL OR e.actor_person_id = $3) \
         AND ($4 IS NULL OR e.created_at >= $4) AND ($5 IS NULL OR e.created_at < $5) AND ($6 IS NULL OR e.id < $6) \
         AND ($8 IS NULL OR LOWER(e.actor_email) LIKE $8 ESCAPE '\\') \
         ORDER BY e.id DESC LIMIT $7"
    );
    let rows = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(f.action.clone())
        .bind(f.actor.map(|a| a.to_string()))
        .bind(f.from.map(|m| m.0))
        .bind(f.to.map(|m| m.0))
        .bind(f.before.map(|b| b.to_string()))
        .bind(f.limit)
        .bind(f.actor_search.as_deref().map(contains_pattern))
        .fetch_all(c)
        .await?;
    rows.iter().map(event).collect()
}

/// The newest events of an account that these keys caused (a SCIM token's provisioning).
pub async fn by_keys(
    c: &mut Conn,
    account: AccountId,
    keys: &[String],
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let params: Vec<String> = (0..keys.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "{COLUMNS} WHERE e.account_id = $1 AND e.actor_key_id IN ({}) ORDER BY e.id DESC LIMIT $2",
        params.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(account.to_string()).bind(limit);
    for k in keys {
        q = q.bind(k.clone());
    }
    let rows = q.fetch_all(c).await?;
    rows.iter().map(event).collect()
}

/// One event of an account.
pub async fn one(
    c: &mut Conn,
    account: AccountId,
    id: AuditEventId,
) -> Result<Option<EventRow>, StoreError> {
    let sql = format!("{COLUMNS} WHERE e.account_id = $1 AND e.id = $2");
    let row = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(id.to_string())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(event).transpose()
}

fn event(r: &sqlx::any::AnyRow) -> Result<EventRow, StoreError> {
    Ok(EventRow {
        id: parsed(r, "id", AuditEventId::parse)?,
        account_id: opt_parsed(r, "account_id", AccountId::parse)?,
        actor_kind: text(r, "actor_kind")?,
        actor_person_id: opt_parsed(r, "actor_person_id", PersonId::parse)?,
        actor_email: opt_text(r, "actor_email")?,
        actor_key_id: opt_text(r, "actor_key_id")?,
        action: text(r, "action")?,
        target_kind: opt_text(r, "target_kind")?,
        target_id: opt_text(r, "target_id")?,
        ip: opt_text(r, "ip")?,
        user_agent: opt_text(r, "user_agent")?,
        details: serde_json::from_str(&text(r, "details")?).unwrap_or(serde_json::Value::Null),
        created_at: Millis(int(r, "created_at")?),
        target_name: opt_text(r, "target_name")?,
        actor_key_name: opt_text(r, "actor_key_name")?,
    })
}

/// Whether `actor` did any of `actions` to the membership `target` in `account` since `since`
/// (who made whom an administrator recently).
pub async fn acted_on_since(
    c: &mut Conn,
    account: AccountId,
    actor: PersonId,
    target: &str,
    actions: &[watchword_domain::audit::AuditAction],
    since: Millis,
) -> Result<bool, StoreError> {
    // The closed vocabulary's texts: fixed words, never input.
    let list = actions
        .iter()
        .map(|a| format!("'{}'", a.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let row: Option<(String,)> = sqlx::query_as(&format!(
        "SELECT id FROM audit_events WHERE account_id = $1 AND actor_person_id = $2 \
         AND target_id = $3 AND created_at >= $4 AND action IN ({list}) LIMIT 1"
    ))
    .bind(account.to_string())
    .bind(actor.to_string())
    .bind(target)
    .bind(since.0)
    .fetch_optional(c)
    .await?;
    Ok(row.is_some())
}
