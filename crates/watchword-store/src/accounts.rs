use crate::rows::{AccountRow, RoleRow};
use crate::{Conn, StoreError};
use std::sync::LazyLock;
use watchword_domain::{AccountId, Millis, PermissionSet, PersonId, Plan, RoleId};

pub async fn insert(
    c: &mut Conn,
    id: AccountId,
    name: &str,
    plan: Plan,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO accounts (id, name, plan, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id.to_string())
        .bind(name)
        .bind(plan.as_str())
        .bind(now.0)
        .execute(c)
        .await?;
    Ok(())
}

/// An account's columns, as [`AccountRow`] reads them.
pub(crate) fn columns() -> &'static str {
    static COLUMNS: LazyLock<String> = LazyLock::new(|| crate::rows::ACCOUNT_COLUMNS.join(", "));
    &COLUMNS
}

/// An account's columns from `a`, each named `a_{column}`.
pub(crate) fn prefixed_columns() -> &'static str {
    static COLUMNS: LazyLock<String> = LazyLock::new(|| {
        crate::rows::ACCOUNT_COLUMNS
            .iter()
            .map(|c| format!("a.{c} AS a_{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    });
    &COLUMNS
}

pub async fn get(c: &mut Conn, id: AccountId) -> Result<Option<AccountRow>, StoreError> {
    let row = sqlx::query(&format!("SELECT {} FROM accounts WHERE id = $1", columns()))
        .bind(id.to_string())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(AccountRow::from_row).transpose()
}

/// Every account, oldest first (the operator's CLI).
pub async fn all(c: &mut Conn) -> Result<Vec<AccountRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {} FROM accounts ORDER BY created_at, id",
        columns()
    ))
    .fetch_all(c)
    .await?;
    rows.iter().map(AccountRow::from_row).collect()
}

pub async fn insert_role(
    c: &mut Conn,
    account: AccountId,
    id: RoleId,
    name: &str,
    permissions: PermissionSet,
    created_by: PersonId,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO roles (id, account_id, name, permissions, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(account.to_string())
    .bind(name)
    .bind(permissions.encode())
    .bind(created_by.to_string())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn roles(c: &mut Conn, account: AccountId) -> Result<Vec<RoleRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, account_id, name, permissions, created_at FROM roles WHERE account_id = $1 ORDER BY name",
    )
    .bind(account.to_string())
    .fetch_all(c)
    .await?;
    rows.iter().map(RoleRow::from_row).collect()
}

pub async fn role(
    c: &mut Conn,
    account: AccountId,
    id: RoleId,
) -> Result<Option<RoleRow>, StoreError> {
    let row = sqlx::query(
        "SELECT id, account_id, name, permissions, created_at FROM roles WHERE account_id = $1 AND id = $2",
    )
    .bind(account.to_string())
    .bind(id.to_string())
    .fetch_optional(c)
    .await?;
    row.as_ref().map(RoleRow::from_row).transpose()
}

pub async fn set_mfa_required(c: &mut Conn, id: AccountId, on: bool) -> Result<(), StoreError> {
    sqlx::query("UPDATE accounts SET mfa_required = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(i32::from(on))
        .execute(&mut *c)
        .await?;
    crate::changes::announce(c, "mfa_required").await?;
    Ok(())
}

pub async fn set_plan(c: &mut Conn, id: AccountId, plan: Plan) -> Result<(), StoreError> {
    sqlx::query("UPDATE accounts SET plan = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(plan.as_str())
        .execute(&mut *c)
        .await?;
    crate::changes::announce(c, "plan").await?;
    Ok(())
}

pub async fn set_sso_required(
    c: &mut Conn,
    id: AccountId,
    required: bool,
    break_glass: bool,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE accounts SET sso_required = $2, sso_break_glass = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(i32::from(required))
        .bind(i32::from(break_glass))
        .execute(&mut *c)
        .await?;
    crate::changes::announce(c, "sso_required").await?;
    Ok(())
}

/// Sets the account's trusted networks (None: anywhere) and whether Owners are exempt.
pub async fn set_networks(
    c: &mut Conn,
    id: AccountId,
    networks: Option<&str>,
    owner_exempt: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE accounts SET trusted_networks = $2, networks_owner_exempt = $3 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(networks)
    .bind(i32::from(owner_exempt))
    .execute(c)
    .await?;
    Ok(())
}

/// Sets the account's factor policy.
pub async fn set_factor_policy(
    c: &mut Conn,
    id: AccountId,
    p: &watchword_domain::policy::FactorPolicy,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE accounts SET factor_methods = $2, admin_passkey = $3, factor_grace_days = $4, factor_policy_at = $5 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(p.encode_allowed())
    .bind(i32::from(p.admin_passkey))
    .bind(p.grace_days)
    .bind(p.set_at.map(|m| m.0))
    .execute(c)
    .await?;
    Ok(())
}

/// Sets how long an approved recovery request waits.
pub async fn set_recovery_delay(c: &mut Conn, id: AccountId, hours: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE accounts SET recovery_delay_hours = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(hours)
        .execute(c)
        .await?;
    Ok(())
}
