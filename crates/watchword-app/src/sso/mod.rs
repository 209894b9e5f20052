//! Single sign-on through each account's own identity provider (paid plans): verified domains
//! (`domains`), connections (`connections`), the OIDC relying party (`oidc`), the SAML service
//! provider (`saml`, `acs`, `certificates`) and signing in (`signin`), which ends in the one session gate like every other way in.

mod acs;
mod certificates;
mod connections;
mod domains;
mod enforcement;
mod jwk;
pub mod oidc;
pub mod saml;
#[cfg(test)]
mod screen_props;
mod setup;
mod signin;
pub mod xml_io;

pub use acs::AcsPost;
pub(crate) use connections::mappings as group_mappings;
pub use connections::{ConnectionChange, ConnectionView, SamlView};
pub use domains::DomainView;
pub use enforcement::Enforcement;
pub(crate) use setup::setup_event;
pub use setup::{SETUP_LINK_TTL_SECS, SetupGrant};
pub use signin::{Callback, SsoFinish, SsoStart};
pub use watchword_store::setup_links::SetupLinkRow;

use crate::events::{self, EventExt};
use crate::{App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::*;
use watchword_store::{accounts, audit};

impl App {
    /// The operator's billing sets an account's plan (CLI or the operator API); audited in the
    /// account. Returns whether it changed.
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn set_plan(
        &self,
        account: AccountId,
        plan: Plan,
        by: &str,
    ) -> Result<bool, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let a = accounts::get(&mut tx, account)
            .await?
            .ok_or(AppError::NotFound)?;
        if a.plan == plan {
            return Ok(false);
        }
        accounts::set_plan(&mut tx, account, plan).await?;
        let event = events::system(Some(account), AuditAction::AccountPlanChanged)
            .target("account", account)
            .details(serde_json::json!({ "from": a.plan.as_str(), "to": plan.as_str(), "by": by }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Checks the operator's credential (`operator_secret`), in constant time.
    pub fn check_operator(&self, credential: Option<&str>) -> Result<(), AppError> {
        use watchword_domain::token::{constant_time_eq, hash_token};
        match (&self.settings().operator_secret, credential) {
            (Some(e), Some(c)) if constant_time_eq(&hash_token(&e.0), &hash_token(c)) => Ok(()),
            _ => Err(AppError::Unauthenticated),
        }
    }
}
