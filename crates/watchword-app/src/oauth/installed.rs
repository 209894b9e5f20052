//! The account's view of its integrations: every app it granted access to, with the scopes,
//! who installed it and when, its last use, and Revoke (every token of the grant ends at once,
//! on every node). Members holding `api_keys:manage`.

use crate::events::{self, EventExt};
use crate::{Actor, App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::*;
use watchword_store::audit;
use watchword_store::oauth::{self as store, InstalledRow};

/// An app is flagged unused after this long without a token used (or since its install).
const UNUSED_DAYS: i64 = 90;

/// One installed app.
#[derive(Debug, Clone)]
pub struct Installed {
    pub row: InstalledRow,
    /// `unused` after 90 days without use.
    pub flags: Vec<&'static str>,
}

impl App {
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn authorized_apps(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Vec<Installed>, AppError> {
        let mut c = self.store().read().await?;
        self.access(&mut c, actor, account)
            .await?
            .require(Permission::ApiKeysManage)?;
        let now = self.now();
        Ok(store::installed(&mut c, account)
            .await?
            .into_iter()
            .map(|row| {
                let since = row.last_used_at.unwrap_or(row.grant.created_at);
                let unused = now.0 - since.0 > UNUSED_DAYS * 86_400_000;
                Installed {
                    flags: if unused { vec!["unused"] } else { Vec::new() },
                    row,
                }
            })
            .collect())
    }

    /// Revokes an installed app's grant: its tokens stop on every node.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn revoke_authorized_app(
        &self,
        actor: &Actor,
        account: AccountId,
        grant: &str,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.access(&mut tx, actor, account)
            .await?
            .require(Permission::ApiKeysManage)?;
        let g = store::grant(&mut tx, grant)
            .await?
            .filter(|g| g.account_id == account.to_string() && g.revoked_at.is_none())
            .ok_or(AppError::NotFound)?;
        store::revoke_grant(&mut tx, &g.id, "revoked_by_account", now).await?;
        watchword_store::changes::announce(&mut tx, &g.id).await?;
        let event = events::by_actor(actor, account, AuditAction::OauthRevoked)
            .target("oauth_grant", &g.id)
            .details(serde_json::json!({ "app": g.app_id, "by": "account" }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.committed();
        self.keys_changed();
        Ok(())
    }
}
