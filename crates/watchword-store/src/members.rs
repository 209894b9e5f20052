use crate::rows::{AccountRow, MemberRow};
use crate::{Conn, StoreError};
use watchword_domain::*;

pub(crate) const SELECT: &str = "SELECT m.id, m.account_id, m.person_id, m.email, m.role, m.status, m.created_at, m.staff_expires_at, m.suspended_at, \
     p.name AS person_name, p.status AS person_status, p.last_login_at, \
     r.name AS role_name, r.permissions AS role_permissions \
     FROM memberships m \
     LEFT JOIN persons p ON p.id = m.person_id \
     LEFT JOIN roles r ON r.account_id = m.account_id AND r.id = m.role";

pub struct NewMembership<'a> {
    pub id: MembershipId,
    pub account: AccountId,
    pub person: Option<PersonId>,
    pub email: &'a str,
    pub role: RoleRef,
    pub status: MembershipStatus,
    pub invited_by: Option<PersonId>,
}

/// A membership with a person copies the person's MFA level and last login (migration 0021).
pub async fn insert(c: &mut Conn, m: NewMembership<'_>, now: Millis) -> Result<(), StoreError> {
    if let Some(person) = m.person {
        crate::persons::lock_person(&mut *c, &person.to_string()).await?;
    }
    sqlx::query(&format!(
        "INSERT INTO memberships (id, account_id, person_id, email, role, status, invited_by, created_at, updated_at, mfa_level, last_login_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, {}, (SELECT p.last_login_at FROM persons p WHERE p.id = $3))",
        crate::mfa::mfa_level_of("$3")
    ))
    .bind(m.id.to_string())
    .bind(m.account.to_string())
    .bind(m.person.map(|p| p.to_string()))
    .bind(m.email)
    .bind(m.role.encode())
    .bind(m.status.as_str())
    .bind(m.invited_by.map(|p| p.to_string()))
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn get(
    c: &mut Conn,
    account: AccountId,
    id: MembershipId,
) -> Result<Option<MemberRow>, StoreError> {
    let sql = format!("{SELECT} WHERE m.account_id = $1 AND m.id = $2");
    let row = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(id.to_string())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(MemberRow::from_row).transpose()
}

pub async fn of_person(
    c: &mut Conn,
    account: AccountId,
    person: PersonId,
) -> Result<Option<MemberRow>, StoreError> {
    let sql = format!("{SELECT} WHERE m.account_id = $1 AND m.person_id = $2");
    let row = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(person.to_string())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(MemberRow::from_row).transpose()
}

pub async fn by_email(
    c: &mut Conn,
    account: AccountId,
    email: &str,
) -> Result<Option<MemberRow>, StoreError> {
    let sql = format!("{SELECT} WHERE m.account_id = $1 AND m.email = $2");
    let row = sqlx::query(&sql)
        .bind(account.to_string())
        .bind(email)
        .fetch_optional(c)
        .await?;
    row.as_ref().map(MemberRow::from_row).transpose()
}

pub async fn list(c: &mut Conn, account: AccountId) -> Result<Vec<MemberRow>, StoreError> {
    let sql = format!("{SELECT} WHERE m.account_id = $1 ORDER BY m.created_at, m.id");
    let rows = sqlx::query(&sql)
        .bind(account.to_string())
        .fetch_all(c)
        .await?;
    rows.iter().map(MemberRow::from_row).collect()
}

pub async fn owner(c: &mut Conn, account: AccountId) -> Result<Option<MemberRow>, StoreError> {
    let sql = format!("{SELECT} WHERE m.account_id = $1 AND m.role = 'owner'");
    let row = sqlx::query(&sql)
        .bind(account.to_string())
        .fetch_optional(c)
        .await?;
    row.as_ref().map(MemberRow::from_row).transpose()
}

/// Every membership of a person that is not invited, with its account, oldest first.
pub async fn of_person_all(
    c: &mut Conn,
    person: PersonId,
) -> Result<Vec<(AccountRow, MemberRow)>, StoreError> {
    let sql = format!(
        "SELECT {}, q.* FROM ({SELECT} \
         WHERE m.person_id = $1 AND m.status <> 'invited') q JOIN accounts a ON a.id = q.account_id ORDER BY q.created_at",
        crate::accounts::prefixed_columns()
    );
    let rows = sqlx::query(&sql)
        .bind(person.to_string())
        .fetch_all(c)
        .await?;
    rows.iter()
        .map(|r| {
            let account = AccountRow::from_prefixed(r, "a_")?;
            Ok((account, MemberRow::from_row(r)?))
        })
        .collect()
}

pub async fn set_role(
    c: &mut Conn,
    account: AccountId,
    id: MembershipId,
    role: RoleRef,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE memberships SET role = $3, updated_at = $4 WHERE account_id = $1 AND id = $2",
    )
    .bind(account.to_string())
    .bind(id.to_string())
    .bind(role.encode())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn set_status(
    c: &mut Conn,
    account: AccountId,
    id: MembershipId,
    status: MembershipStatus,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE memberships SET status = $3, updated_at = $4 WHERE account_id = $1 AND id = $2",
    )
    .bind(account.to_string())
    .bind(id.to_string())
    .bind(status.as_str())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

/// Binds an invited membership to the person who accepted it (copying what [`insert`] copies)
/// and activates it.
pub async fn activate_for(
    c: &mut Conn,
    account: AccountId,
    id: MembershipId,
    person: PersonId,
    now: Millis,
) -> Result<(), StoreError> {
    crate::persons::lock_person(&mut *c, &person.to_string()).await?;
    sqlx::query(&format!(
        "UPDATE memberships SET person_id = $3, status = 'active', updated_at = $4, mfa_level = {}, \
           last_login_at = (SELECT p.last_login_at FROM persons p WHERE p.id = $3) \
         WHERE account_id = $1 AND id = $2",
        crate::mfa::mfa_level_of("$3")
    ))
    .bind(account.to_string())
    .bind(id.to_string())
    .bind(person.to_string())
    .bind(now.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn delete(c: &mut Conn, account: AccountId, id: MembershipId) -> Result<(), StoreError> {
    for table in ["invitations", "scim_users", "scim_group_members"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE account_id = $1 AND membership_id = $2"
        ))
        .bind(account.to_string())
        .bind(id.to_string())
        .execute(&mut *c)
        .await?;
    }
    sqlx::query("DELETE FROM memberships WHERE account_id = $1 AND id = $2")
        .bind(account.to_string())
        .bind(id.to_string())
        .execute(c)
        .await?;
    Ok(())
}

/// Number of memberships that use a custom role (any status).
pub async fn count_with_role(
    c: &mut Conn,
    account: AccountId,
    role: RoleId,
) -> Result<i64, StoreError> {
    let row: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE account_id = $1 AND role = $2")
            .bind(account.to_string())
            .bind(role.to_string())
            .fetch_one(c)
            .await?;
    Ok(row.0)
}

pub async fn set_staff_expiry(
    c: &mut Conn,
    account: AccountId,
    id: MembershipId,
    expires: Option<Millis>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE memberships SET staff_expires_at = $3 WHERE account_id = $1 AND id = $2")
        .bind(account.to_string())
        .bind(id.to_string())
        .bind(expires.map(|e| e.0))
        .execute(c)
        .await?;
    Ok(())
}
