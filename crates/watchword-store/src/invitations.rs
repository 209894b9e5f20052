use crate::rows::{int, opt_int, parsed, text};
use crate::{Conn, StoreError};
use watchword_domain::{AccountId, InvitationId, MembershipId, Millis};

#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub id: InvitationId,
    pub account_id: AccountId,
    pub membership_id: MembershipId,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
}

pub async fn insert(
    c: &mut Conn,
    id: InvitationId,
    account: AccountId,
    membership: MembershipId,
    token_hash: &[u8],
    now: Millis,
    expires_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO invitations (id, account_id, membership_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(account.to_string())
    .bind(membership.to_string())
    .bind(token_hash.to_vec())
    .bind(now.0)
    .bind(expires_at.0)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn by_token_hash(
    c: &mut Conn,
    token_hash: &[u8],
) -> Result<Option<InvitationRow>, StoreError> {
    let row = sqlx::query(
        "SELECT id, account_id, membership_id, expires_at, used_at FROM invitations WHERE token_hash = $1",
    )
    .bind(token_hash.to_vec())
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        Ok(InvitationRow {
            id: parsed(&r, "id", InvitationId::parse)?,
            account_id: parsed(&r, "account_id", AccountId::parse)?,
            membership_id: parsed(&r, "membership_id", MembershipId::parse)?,
            expires_at: Millis(int(&r, "expires_at")?),
            used_at: opt_int(&r, "used_at")?.map(Millis),
        })
    })
    .transpose()
}

/// Marks an invitation used; false when it was already used (a concurrent accept won).
pub async fn mark_used(c: &mut Conn, id: InvitationId, now: Millis) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE invitations SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
        .bind(id.to_string())
        .bind(now.0)
        .execute(c)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What an invitation page names: the invited email, the account, the role and who invited.
#[derive(Debug, Clone)]
pub struct InvitationPreview {
    pub email: String,
    pub account_name: String,
    pub role_name: String,
    pub inviter_name: Option<String>,
}

/// A live invitation's preview, without spending it.
pub async fn preview(
    c: &mut Conn,
    hash: &[u8],
    now: Millis,
) -> Result<Option<InvitationPreview>, StoreError> {
    let row = sqlx::query(
        "SELECT m.email, a.name AS account_name, m.role, r.name AS role_name, p.name AS inviter_name \
         FROM invitations i \
         JOIN memberships m ON m.id = i.membership_id \
         JOIN accounts a ON a.id = m.account_id \
         LEFT JOIN roles r ON r.id = m.role AND r.account_id = m.account_id \
         LEFT JOIN persons p ON p.id = m.invited_by \
         WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > $2 AND m.status = 'invited'",
    )
    .bind(hash.to_vec())
    .bind(now.0)
    .fetch_optional(c)
    .await?;
    row.map(|r| {
        let builtin = watchword_domain::BuiltinRole::parse(&text(&r, "role")?).map(|b| b.name());
        Ok(InvitationPreview {
            email: text(&r, "email")?,
            account_name: text(&r, "account_name")?,
            role_name: match builtin {
                Some(name) => name.to_owned(),
                None => crate::rows::opt_text(&r, "role_name")?.unwrap_or_default(),
            },
            inviter_name: crate::rows::opt_text(&r, "inviter_name")?,
        })
    })
    .transpose()
}
