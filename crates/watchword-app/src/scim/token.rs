//! The account's SCIM token: made, rotated (with a grace period) and revoked by members holding
//! `sso:manage` with a recent sign-in, on the paid plan.

use crate::access::SsoAdmin;
use crate::access::{Access, SsoBy};
use crate::api_keys::{self, IssuedKey, KeyView};
use crate::events::EventExt;
use crate::{App, AppError};
use watchword_domain::api_key::{KeyKind, KeyState};
use watchword_domain::audit::AuditAction;
use watchword_domain::scope::ScopeSet;
use watchword_domain::*;
use watchword_store::api_keys as store;
use watchword_store::audit::{self, EventRow};

/// What the SSO page shows of SCIM.
#[derive(Debug)]
pub struct ScimStatus {
    pub base_url: String,
    /// On while a token works.
    pub enabled: bool,
    /// The account's SCIM tokens, newest first (revoked ones kept as history).
    pub tokens: Vec<KeyView>,
    /// The last 20 provisioning events, newest first (refusals included).
    pub recent: Vec<EventRow>,
    /// How many members SCIM provisioned.
    pub provisioned: i64,
}

impl App {
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn scim_status<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
    ) -> Result<ScimStatus, AppError> {
        let by: SsoBy<'a> = by.into();
        let mut c = self.store().read().await?;
        self.sso_admin(&mut c, by, account, SsoAdmin::Read).await?;
        let now = self.now();
        let tokens: Vec<KeyView> = store::list_kind(&mut c, account, KeyKind::Scim)
            .await?
            .into_iter()
            .map(|r| api_keys::view(r, now, None))
            .collect();
        let ids: Vec<String> = tokens.iter().map(|t| t.row.id.clone()).collect();
        let recent = audit::by_keys(&mut c, account, &ids, 20).await?;
        let provisioned = watchword_store::scim::provisioned(&mut c, account)
            .await?
            .len() as i64;
        Ok(ScimStatus {
            base_url: self.scim_base_url(account),
            enabled: tokens.iter().any(|t| t.state.works()),
            tokens,
            recent,
            provisioned,
        })
    }

    /// Turns SCIM on: the account's one working token (`409 scim_token_exists` while another
    /// works: rotate it instead).
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn create_scim_token<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
        expires_in_days: Option<i64>,
    ) -> Result<IssuedKey, AppError> {
        let by: SsoBy<'a> = by.into();
        let lifetime = api_keys::lifetime(expires_in_days)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self
            .sso_admin(&mut tx, by, account, SsoAdmin::Change)
            .await?;
        // Two creates at once make one token: the second waits, then sees the first.
        let key = format!("scim-token:{account}");
        watchword_store::limits::lock(&mut tx, self.store().dialect(), &[&key]).await?;
        let live = store::list_kind(&mut tx, account, KeyKind::Scim)
            .await?
            .into_iter()
            .any(|r| KeyState::of(now, r.expires_at, r.revoked_at, false).works());
        if live {
            return Err(DomainError::conflict(
                "scim_token_exists",
                "this account already has a working SCIM token: rotate it instead",
            )
            .into());
        }
        let issued = self
            .insert_scim_token(&mut tx, &access, lifetime, None, now)
            .await?;
        let event = by
            .by()
            .event(account, AuditAction::ScimTokenCreated)
            .target("scim_token", &issued.key.row.id)
            .details(serde_json::json!({
                "expires_at": issued.key.row.expires_at.map(|m| m.rfc3339()),
            }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(issued)
    }

    /// A new token for the IdP; the old one keeps working for `grace_secs` (default a day).
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn rotate_scim_token<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
        id: &str,
        grace_secs: Option<i64>,
    ) -> Result<IssuedKey, AppError> {
        let by: SsoBy<'a> = by.into();
        let grace = api_keys::grace_period(grace_secs)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self
            .sso_admin(&mut tx, by, account, SsoAdmin::Change)
            .await?;
        let dialect = self.store().dialect();
        let old = store::get_kind_for_update(&mut tx, dialect, account, id, KeyKind::Scim)
            .await?
            .ok_or(AppError::NotFound)?;
        if !KeyState::of(now, old.expires_at, old.revoked_at, false).works()
            || old.replaced_by.is_some()
        {
            return Err(DomainError::conflict(
                "key_not_active",
                "only the working SCIM token can be rotated",
            )
            .into());
        }
        let issued = self
            .insert_scim_token(&mut tx, &access, old.lifetime_secs, Some(&old.id), now)
            .await?;
        let ends = now.plus_secs(grace);
        store::replace(&mut tx, &old.id, &issued.key.row.id, ends).await?;
        watchword_store::changes::announce(&mut tx, &old.id).await?;
        let event = by
            .by()
            .event(account, AuditAction::ScimTokenRotated)
            .target("scim_token", &old.id)
            .details(serde_json::json!({
                "new_token_id": issued.key.row.id,
                "grace_period_seconds": grace,
            }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.committed();
        self.keys_changed();
        Ok(issued)
    }

    /// Revokes a SCIM token at once on every node (SCIM is off once none works).
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn revoke_scim_token<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
        id: &str,
    ) -> Result<(), AppError> {
        let by: SsoBy<'a> = by.into();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.sso_admin(&mut tx, by, account, SsoAdmin::Change)
            .await?;
        let dialect = self.store().dialect();
        store::get_kind_for_update(&mut tx, dialect, account, id, KeyKind::Scim)
            .await?
            .ok_or(AppError::NotFound)?;
        if store::revoke(&mut tx, id, "revoked", now).await? {
            watchword_store::changes::announce(&mut tx, id).await?;
            let event = by
                .by()
                .event(account, AuditAction::ScimTokenRevoked)
                .target("scim_token", id);
            audit::append(&mut tx, &event, now).await?;
        }
        tx.commit().await?;
        self.committed();
        self.keys_changed();
        Ok(())
    }
}

impl App {
    /// A SCIM token made by the access's member (no scopes: its power is the SCIM room's).
    async fn insert_scim_token(
        &self,
        tx: &mut watchword_store::Conn,
        access: &Access,
        lifetime: Option<i64>,
        cloned_from: Option<&str>,
        now: Millis,
    ) -> Result<IssuedKey, AppError> {
        let (kind, name, scopes) = (KeyKind::Scim, "SCIM token", ScopeSet::EMPTY);
        let account = access.account.id;
        self.insert_key_of(
            tx,
            kind,
            maker(access)?,
            account,
            name,
            scopes,
            lifetime,
            cloned_from,
            now,
        )
        .await
    }
}

/// Who makes a SCIM token: the member managing SSO, or — through a setup link — the Owner who
/// sent it (the token stops with their authority).
fn maker(access: &Access) -> Result<(PersonId, &str), AppError> {
    let person = access
        .member
        .person_id
        .ok_or_else(|| AppError::internal("an active member without a person"))?;
    Ok((person, &access.member.email))
}
