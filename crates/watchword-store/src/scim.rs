//! What the account's IdP provisions through SCIM: its view of members (external id and the
//! attributes it keeps), suspensions, and its groups. Every list leads with `account_id`.

use crate::rows::{MemberRow, opt_int, opt_text, text};
use crate::{Conn, StoreError};
use std::sync::LazyLock;
use watchword_domain::*;

/// A member as SCIM shows it.
#[derive(Debug, Clone)]
pub struct ScimUserRow {
    pub member: MemberRow,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    /// What the IdP sent that watchword keeps for it (a JSON object), `{}` when it sent nothing.
    pub attributes: serde_json::Value,
    /// Whether SCIM provisioned this member (rather than an invitation or SSO).
    pub provisioned: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Members and their SCIM view; staff memberships are the operator's and never shown.
static USERS: LazyLock<String> = LazyLock::new(|| {
    crate::members::SELECT.replacen(
        " FROM memberships m",
        ", s.external_id AS scim_external_id, s.display_name AS scim_display_name, \
         s.attributes AS scim_attributes, s.created_at AS scim_created_at, \
         COALESCE(s.updated_at, m.updated_at, m.created_at) AS scim_updated_at \
         FROM memberships m \
         LEFT JOIN scim_users s ON s.account_id = m.account_id AND s.membership_id = m.id",
        1,
    )
});

const NOT_STAFF: &str = "m.role <> 'staff_access'";

fn user_row(r: &sqlx::any::AnyRow) -> Result<ScimUserRow, StoreError> {
    let member = MemberRow::from_row(r)?;
    let attributes = match opt_text(r, "scim_attributes")? {
        Some(a) => serde_json::from_str(&a)
            .map_err(|e| StoreError::Corrupt(format!("scim_users.attributes: {e}")))?,
        None => serde_json::json!({}),
    };
    let created = opt_int(r, "scim_created_at")?;
    Ok(ScimUserRow {
        external_id: opt_text(r, "scim_external_id")?,
        display_name: opt_text(r, "scim_display_name")?,
        attributes,
        provisioned: created.is_some(),
        created_at: member.created_at,
        updated_at: Millis(opt_int(r, "scim_updated_at")?.unwrap_or(member.created_at.0)),
        member,
    })
}

pub async fn user(
    c: &mut Conn,
    account: AccountId,
    id: MembershipId,
) -> Result<Option<ScimUserRow>, StoreError> {
    let sql = format!(
        "{} WHERE m.account_id = $1 AND m.id = $2 AND {NOT_STAFF}",
        *USERS
    );
    let row = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(id.to_string())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(user_row).transpose()
}

/// The memberships SCIM provisioned in an account.
pub async fn provisioned(
    c: &mut Conn,
    account: AccountId,
) -> Result<std::collections::HashSet<MembershipId>, StoreError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT membership_id FROM scim_users WHERE account_id = $1")
            .bind(account.to_string())
            .fetch_all(c)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m,)| MembershipId::parse(&m))
        .collect())
}

/// An attribute a user filter may test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    UserName,
    ExternalId,
    DisplayName,
    Active,
    LastModified,
    Id,
}

impl UserField {
    fn sql(self) -> &'static str {
        match self {
            UserField::UserName => "m.email",
            UserField::ExternalId => "s.external_id",
            UserField::DisplayName => "COALESCE(s.display_name, p.name)",
            UserField::Active => {
                "(CASE WHEN m.status <> 'deactivated' AND m.suspended_at IS NULL THEN 1 ELSE 0 END)"
            }
            UserField::LastModified => "COALESCE(s.updated_at, m.updated_at, m.created_at)",
            UserField::Id => "m.id",
        }
    }
    /// Compared without regard to case (SCIM's `caseExact: false`): `Some(true)` when the column
    /// must be lowered, `Some(false)` when it is stored lower-case already (emails are: the
    /// index on them then serves an `eq`).
    fn folds_case(self) -> Option<bool> {
        match self {
            UserField::UserName => Some(false),
            UserField::DisplayName => Some(true),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
}

/// A filter over users, translated to SQL (values always bound, never spliced).
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    All,
    Present(UserField),
    Cmp(UserField, Op, Value),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

impl Cond {
    fn render(&self, sql: &mut String, binds: &mut Vec<Value>) {
        let bind = |v: Value, binds: &mut Vec<Value>| {
            binds.push(v);
            format!("${}", binds.len() + 1)
        };
        match self {
            Cond::All => sql.push_str("1 = 1"),
            Cond::Present(f) => {
                sql.push_str(&format!("({} IS NOT NULL AND {} <> '')", f.sql(), f.sql()))
            }
            Cond::Cmp(f, op, v) => {
                let (col, v) = match (f.folds_case(), v) {
                    (Some(true), Value::Text(t)) => {
                        (format!("LOWER({})", f.sql()), Value::Text(t.to_lowercase()))
                    }
                    (Some(false), Value::Text(t)) => {
                        (f.sql().to_owned(), Value::Text(t.to_lowercase()))
                    }
                    _ => (f.sql().to_owned(), v.clone()),
                };
                let like = |pattern: String, binds: &mut Vec<Value>| {
                    let p = bind(Value::Text(pattern), binds);
                    format!("{col} LIKE {p} ESCAPE '\\'")
                };
                let text = |v: &Value| match v {
                    Value::Text(t) => like_escape(t),
                    Value::Int(i) => i.to_string(),
                };
                let s = match op {
                    Op::Co => like(format!("%{}%", text(&v)), binds),
                    Op::Sw => like(format!("{}%", text(&v)), binds),
                    Op::Ew => like(format!("%{}", text(&v)), binds),
                    _ => {
                        let o = match op {
                            Op::Eq => "=",
                            Op::Ne => "<>",
                            Op::Gt => ">",
                            Op::Ge => ">=",
                            Op::Lt => "<",
                            _ => "<=",
                        };
                        let p = bind(v, binds);
                        if *op == Op::Ne {
                            format!("({col} IS NULL OR {col} {o} {p})")
                        } else {
                            format!("{col} {o} {p}")
                        }
                    }
                };
                sql.push_str(&s);
            }
            Cond::And(xs) | Cond::Or(xs) => {
                let join = if matches!(self, Cond::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                sql.push('(');
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(join);
                    }
                    x.render(sql, binds);
                }
                sql.push(')');
            }
            Cond::Not(x) => {
                sql.push_str("NOT (");
                x.render(sql, binds);
                sql.push(')');
            }
        }
    }
}

/// One page of the account's users matching `cond` (ordered by creation), and how many match.
pub async fn users(
    c: &mut Conn,
    account: AccountId,
    cond: &Cond,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ScimUserRow>, i64), StoreError> {
    let mut clause = String::new();
    let mut binds = Vec::new();
    cond.render(&mut clause, &mut binds);
    fn bound<'q>(
        sql: &'q str,
        account: AccountId,
        binds: &[Value],
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        let mut q = sqlx::query(sql).bind(account.to_string());
        for b in binds {
            q = match b {
                Value::Text(t) => q.bind(t.clone()),
                Value::Int(i) => q.bind(*i),
            };
        }
        q
    }
    let base = format!("WHERE m.account_id = $1 AND {NOT_STAFF} AND {clause}");
    if limit > 0 {
        // The page and the count in one statement (the count rides on each row).
        let sql = format!(
            "{} {base} ORDER BY m.created_at, m.id LIMIT {limit} OFFSET {offset}",
            USERS.replacen("SELECT ", "SELECT COUNT(*) OVER () AS scim_total, ", 1)
        );
        let rows = bound(&sql, account, &binds).fetch_all(&mut *c).await?;
        if let Some(first) = rows.first() {
            let total = crate::rows::int(first, "scim_total")?;
            let users = rows.iter().map(user_row).collect::<Result<_, _>>()?;
            return Ok((users, total));
        }
        if offset == 0 {
            return Ok((Vec::new(), 0));
        }
    }
    // No rows on this page (or none asked for): the count alone.
    let count_sql = format!(
        "SELECT COUNT(*) AS n FROM memberships m \
         LEFT JOIN persons p ON p.id = m.person_id \
         LEFT JOIN scim_users s ON s.account_id = m.account_id AND s.membership_id = m.id {base}"
    );
    let total = crate::rows::int(
        &bound(&count_sql, account, &binds)
            .fetch_one(&mut *c)
            .await?,
        "n",
    )?;
    Ok((Vec::new(), total))
}

/// What the IdP keeps on a member.
pub struct UserAttributes<'a> {
    pub external_id: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub attributes: &'a serde_json::Value,
}

/// Writes the SCIM view of a member (creating it on the first write).
pub async fn put_user(
    c: &mut Conn,
    account: AccountId,
    id: MembershipId,
    a: UserAttributes<'_>,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scim_users (account_id, membership_id, external_id, display_name, attributes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (account_id, membership_id) DO UPDATE SET external_id = excluded.external_id, \
           display_name = excluded.display_name, attributes = excluded.attributes, updated_at = excluded.updated_at",
    )
    .bind(account.to_string())
    .bind(id.to_string())
    .bind(a.external_id)
    .bind(a.display_name)
    .bind(a.attributes.to_string())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// Serialises concurrent SCIM writes to one membership (a row lock on PostgreSQL; SQLite has one
/// writer).
pub async fn lock_member(
    c: &mut Conn,
    dialect: crate::Dialect,
    account: AccountId,
    id: MembershipId,
) -> Result<(), StoreError> {
    if dialect == crate::Dialect::Postgres {
        sqlx::query("SELECT id FROM memberships WHERE account_id = $1 AND id = $2 FOR UPDATE")
            .bind(account.to_string())
            .bind(id.to_string())
            .execute(c)
            .await?;
    }
    Ok(())
}

/// Serialises concurrent SCIM writes to one group.
pub async fn lock_group(
    c: &mut Conn,
    dialect: crate::Dialect,
    account: AccountId,
    id: &str,
) -> Result<(), StoreError> {
    if dialect == crate::Dialect::Postgres {
        sqlx::query("SELECT id FROM scim_groups WHERE account_id = $1 AND id = $2 FOR UPDATE")
            .bind(account.to_string())
            .bind(id)
            .execute(c)
            .await?;
    }
    Ok(())
}

/// Changes a membership's email (a unique violation when another membership holds it).
pub async fn set_member_email(
    c: &mut Conn,
    account: AccountId,
    id: MembershipId,
    email: &str,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE memberships SET email = $3, updated_at = $4 WHERE account_id = $1 AND id = $2",
    )
    .bind(account.to_string())
    .bind(id.to_string())
    .bind(email)
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// Suspends (`Some`) or lifts the suspension of (`None`) a membership.
pub async fn set_suspended(
    c: &mut Conn,
    account: AccountId,
    id: MembershipId,
    at: Option<Millis>,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE memberships SET suspended_at = $3, updated_at = $4 WHERE account_id = $1 AND id = $2",
    )
    .bind(account.to_string())
    .bind(id.to_string())
    .bind(at.map(|m| m.0))
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// A group the IdP pushed, with its members' membership ids.
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    /// What else the IdP sent (an extension such as Entra's ADSCIM), kept and returned.
    pub attributes: serde_json::Value,
    /// Its members' membership ids and emails.
    pub members: Vec<(MembershipId, String)>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

async fn group_members(
    c: &mut Conn,
    account: AccountId,
    group: &str,
) -> Result<Vec<(MembershipId, String)>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT gm.membership_id, m.email FROM scim_group_members gm \
         JOIN memberships m ON m.account_id = gm.account_id AND m.id = gm.membership_id \
         WHERE gm.account_id = $1 AND gm.group_id = $2 ORDER BY m.created_at, m.id",
    )
    .bind(account.to_string())
    .bind(group)
    .fetch_all(c)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, e)| Some((MembershipId::parse(&m)?, e)))
        .collect())
}

fn group_row(r: &sqlx::any::AnyRow) -> Result<GroupRow, StoreError> {
    Ok(GroupRow {
        id: text(r, "id")?,
        display_name: text(r, "display_name")?,
        external_id: opt_text(r, "external_id")?,
        attributes: serde_json::from_str(&text(r, "attributes")?)
            .map_err(|e| StoreError::Corrupt(format!("scim_groups.attributes: {e}")))?,
        members: Vec::new(),
        created_at: Millis(crate::rows::int(r, "created_at")?),
        updated_at: Millis(crate::rows::int(r, "updated_at")?),
    })
}

const GROUP_COLUMNS: &str = "id, display_name, external_id, attributes, created_at, updated_at";

pub async fn group(
    c: &mut Conn,
    account: AccountId,
    id: &str,
) -> Result<Option<GroupRow>, StoreError> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM scim_groups WHERE account_id = $1 AND id = $2");
    let Some(r) = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
    else {
        return Ok(None);
    };
    let mut g = group_row(&r)?;
    g.members = group_members(c, account, id).await?;
    Ok(Some(g))
}

/// The account's groups, by name.
pub async fn groups(c: &mut Conn, account: AccountId) -> Result<Vec<GroupRow>, StoreError> {
    let sql = format!(
        "SELECT {GROUP_COLUMNS} FROM scim_groups WHERE account_id = $1 ORDER BY created_at, id"
    );
    let rows = sqlx::query(&sql)
        .bind(account.to_string())
        .fetch_all(&mut *c)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut g = group_row(r)?;
        g.members = group_members(&mut *c, account, &g.id).await?;
        out.push(g);
    }
    Ok(out)
}

/// Writes a group and replaces its members.
pub async fn put_group(c: &mut Conn, account: AccountId, g: &GroupRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scim_groups (account_id, id, display_name, external_id, attributes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $7, $5, $6) \
         ON CONFLICT (account_id, id) DO UPDATE SET display_name = excluded.display_name, \
           external_id = excluded.external_id, attributes = excluded.attributes, updated_at = excluded.updated_at",
    )
    .bind(account.to_string())
    .bind(&g.id)
    .bind(&g.display_name)
    .bind(g.external_id.as_deref())
    .bind(g.created_at.0)
    .bind(g.updated_at.0)
    .bind(g.attributes.to_string())
    .execute(&mut *c)
    .await?;
    sqlx::query("DELETE FROM scim_group_members WHERE account_id = $1 AND group_id = $2")
        .bind(account.to_string())
        .bind(&g.id)
        .execute(&mut *c)
        .await?;
    for (m, _) in &g.members {
        sqlx::query(
            "INSERT INTO scim_group_members (account_id, group_id, membership_id) VALUES ($1, $2, $3)",
        )
        .bind(account.to_string())
        .bind(&g.id)
        .bind(m.to_string())
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

pub async fn delete_group(c: &mut Conn, account: AccountId, id: &str) -> Result<bool, StoreError> {
    sqlx::query("DELETE FROM scim_group_members WHERE account_id = $1 AND group_id = $2")
        .bind(account.to_string())
        .bind(id)
        .execute(&mut *c)
        .await?;
    let r = sqlx::query("DELETE FROM scim_groups WHERE account_id = $1 AND id = $2")
        .bind(account.to_string())
        .bind(id)
        .execute(c)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// The display names of the groups a member is in.
pub async fn groups_of(
    c: &mut Conn,
    account: AccountId,
    member: MembershipId,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT g.id, g.display_name FROM scim_group_members gm \
         JOIN scim_groups g ON g.account_id = gm.account_id AND g.id = gm.group_id \
         WHERE gm.account_id = $1 AND gm.membership_id = $2 ORDER BY g.display_name",
    )
    .bind(account.to_string())
    .bind(member.to_string())
    .fetch_all(c)
    .await?)
}

/// The groups of each of these members, by name (one statement for a page of users).
pub async fn groups_of_many(
    c: &mut Conn,
    account: AccountId,
    members: &[MembershipId],
) -> Result<std::collections::HashMap<MembershipId, Vec<(String, String)>>, StoreError> {
    let mut out = std::collections::HashMap::new();
    if members.is_empty() {
        return Ok(out);
    }
    let params: Vec<String> = (0..members.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT gm.membership_id, g.id, g.display_name FROM scim_group_members gm \
         JOIN scim_groups g ON g.account_id = gm.account_id AND g.id = gm.group_id \
         WHERE gm.account_id = $1 AND gm.membership_id IN ({}) ORDER BY g.display_name",
        params.join(", ")
    );
    let mut q = sqlx::query_as::<_, (String, String, String)>(&sql).bind(account.to_string());
    for m in members {
        q = q.bind(m.to_string());
    }
    for (m, id, name) in q.fetch_all(c).await? {
        if let Some(m) = MembershipId::parse(&m) {
            out.entry(m).or_insert_with(Vec::new).push((id, name));
        }
    }
    Ok(out)
}
