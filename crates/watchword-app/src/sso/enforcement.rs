//! SSO-only: an account can require that its members with emails in its verified domains reach
//! it only with a session from one of its connections. The Owner keeps a password + MFA login
//! (break-glass) unless it is turned off. Other members (outside the verified domains: a
//! contractor's own address) sign in as before.

use crate::access::SsoAdmin;
use crate::events::{self, EventExt};
use crate::{Actor, App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::sso::email_domain;
use watchword_domain::*;
use watchword_store::sso as store;
use watchword_store::{accounts, audit};

/// The account's SSO-only setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enforcement {
    pub sso_required: bool,
    pub break_glass: bool,
}

impl App {
    /// An invitation to an email the account's SSO-only covers is accepted through the IdP
    /// (signing in with SSO activates it), not by its link.
    pub(crate) async fn refuse_if_sso_only(
        &self,
        account: AccountId,
        email: &str,
    ) -> Result<(), AppError> {
        let mut c = self.store().read().await?;
        let Some(a) = accounts::get(&mut c, account).await? else {
            return Ok(());
        };
        if self.sso_covers(&mut c, &a, email).await? {
            return Err(DomainError::forbidden(
                "sso_required",
                "this account requires single sign-on: accept by signing in with SSO",
            )
            .into());
        }
        Ok(())
    }

    /// What SSO-only does not reach by itself: the live API keys, OAuth grants and apps made by
    /// members whose email is in the account's verified domains, with whose they are (each can
    /// be ended with its own revoke call).
    pub async fn sso_covered_credentials(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Vec<(String, crate::members::Credential)>, AppError> {
        let mut c = self.store().read().await?;
        self.sso_admin(&mut c, actor.into(), account, SsoAdmin::Read)
            .await?;
        let mut out = Vec::new();
        for m in watchword_store::members::list(&mut c, account).await? {
            let Some(person) = m.person_id else {
                continue;
            };
            let covered = store::verified_domain(&mut c, email_domain(&m.email))
                .await?
                .is_some_and(|d| d.account_id == account.to_string());
            if !covered {
                continue;
            }
            for made in self.made_by(&mut c, account, person).await? {
                out.push((m.email.clone(), made));
            }
        }
        Ok(out)
    }

    pub async fn sso_enforcement(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Enforcement, AppError> {
        let mut c = self.store().read().await?;
        let access = self
            .sso_admin(&mut c, actor.into(), account, SsoAdmin::Read)
            .await?;
        Ok(Enforcement {
            sso_required: access.account.sso_required,
            break_glass: access.account.sso_break_glass,
        })
    }

    /// Turns SSO-only on or off (and break-glass). On needs an enabled connection and a verified
    /// domain (`409 sso_not_ready`), and the actor's own session from the account's IdP unless
    /// they are the Owner keeping break-glass, so nobody locks themselves out.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn set_sso_enforcement(
        &self,
        actor: &Actor,
        account: AccountId,
        want: Enforcement,
    ) -> Result<Enforcement, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self
            .sso_admin(&mut tx, actor.into(), account, SsoAdmin::Change)
            .await?;
        let a = &access.account;
        let before = Enforcement {
            sso_required: a.sso_required,
            break_glass: a.sso_break_glass,
        };
        if want == before {
            return Ok(before);
        }
        if want.sso_required {
            let ready_conn = store::connections(&mut tx, account)
                .await?
                .iter()
                .any(|x| x.enabled);
            let ready_domain = store::domains(&mut tx, account)
                .await?
                .iter()
                .any(|d| d.verified_at.is_some());
            if !ready_conn || !ready_domain {
                return Err(DomainError::conflict(
                    "sso_not_ready",
                    "SSO-only needs a verified domain and an enabled connection",
                )
                .into());
            }
            let mut probe = a.clone();
            probe.sso_required = true;
            probe.sso_break_glass = want.break_glass;
            // `sso_admin` let the session in, so an SSO session is one of this account's.
            let sso_account = actor.sso_connection.as_ref().map(|_| account);
            self.check_sso_enforced(&mut tx, actor, sso_account, &probe, &access.member)
                .await
                .map_err(|_| {
                    DomainError::conflict(
                        "sso_lockout",
                        "sign in with SSO first: this change would lock your own session out",
                    )
                })?;
        }
        accounts::set_sso_required(&mut tx, account, want.sso_required, want.break_glass).await?;
        let event = events::by_actor(actor, account, AuditAction::SsoEnforcementChanged)
            .target("account", account)
            .details(serde_json::json!({
                "sso_required": { "from": before.sso_required, "to": want.sso_required },
                "break_glass": { "from": before.break_glass, "to": want.break_glass },
            }));
        audit::append(&mut tx, &event, now).await?;
        let what = format!(
            "SSO-only was turned {} (Owner's break-glass login {})",
            if want.sso_required { "on" } else { "off" },
            if want.break_glass { "kept" } else { "off" }
        );
        self.alert_contact(&mut tx, a, actor, &what, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(want)
    }
}
