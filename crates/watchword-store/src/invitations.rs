use crate::rows::{int, opt_int, parsed};
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
