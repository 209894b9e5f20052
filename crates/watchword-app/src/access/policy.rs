//! The account's sign-in policies as the authority room applies them: trusted networks (here)
//! and the factor policy.

use crate::events::{self, EventExt};
use crate::{Actor, App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::*;
use watchword_store::audit::{self, NewEvent};
use watchword_store::reminders;
use watchword_store::rows::{AccountRow, MemberRow};

impl App {
    /// Refuses a person's session acting in `account` from outside its trusted networks; an
    /// Owner's own password + MFA session passes when the account exempts Owners.
    pub(crate) fn check_network(
        &self,
        actor: &Actor,
        account: &AccountRow,
        member: &MemberRow,
    ) -> Result<(), AppError> {
        if network_admits_person(account, member, actor) {
            return Ok(());
        }
        let event = events::by_actor(actor, account.id, AuditAction::AccountNetworkRefused)
            .target("session", actor.session);
        self.network_refused(account, event, &format!("a session of {}", actor.email));
        Err(not_allowed())
    }

    /// Records a refusal off the request path: the audit event at most once a minute per
    /// credential and address, the Security Contact's alert at most once a day per account.
    pub(crate) fn network_refused(&self, account: &AccountRow, event: NewEvent, who: &str) {
        let now = self.now();
        let ip = event.ip.clone().unwrap_or_default();
        let credential = event.target_id.clone().unwrap_or_default();
        if !self
            .inner
            .keys
            .failure_due(&format!("{credential} {ip}"), "network", now)
        {
            return;
        }
        let app = self.clone();
        let account = account.clone();
        let who = who.to_owned();
        tokio::spawn(async move {
            let res: Result<(), AppError> = async {
                let mut tx = app.store().begin().await?;
                audit::append(&mut tx, &event, now).await?;
                let day = (now.0 / 86_400_000).to_string();
                let subject = account.id.to_string();
                if reminders::claim(&mut tx, "network_refused", &subject, &day, now).await? {
                    let what = format!(
                        "Use from {ip}, outside the account's trusted networks, was refused (you are told of the first each day; the audit log records one a minute per credential and address)"
                    );
                    app.alert_system(&mut tx, &account, &what, &who, &ip, now).await?;
                }
                tx.commit().await?;
                app.committed();
                Ok(())
            }
            .await;
            if let Err(e) = res {
                tracing::warn!(error = %e, "could not record a refused network");
            }
        });
    }
}

/// Whether `account`'s networks admit this person's session here.
pub(crate) fn network_admits_person(
    account: &AccountRow,
    member: &MemberRow,
    actor: &Actor,
) -> bool {
    if account.networks.admits(&actor.meta.ip) {
        return true;
    }
    account.networks_owner_exempt
        && member.role == RoleRef::Builtin(BuiltinRole::Owner)
        && actor.mfa_at.is_some()
        && actor.sso_connection.is_none()
}

pub(crate) fn not_allowed() -> AppError {
    DomainError::forbidden(
        "network_not_allowed",
        "this account may only be used from its trusted networks",
    )
    .into()
}

impl App {
    /// Refuses a person's session in an account whose factor policy it does not meet, once the
    /// policy's grace period is over (`403 factor_policy`, saying how to meet it).
    pub(crate) async fn check_factor_policy(
        &self,
        c: &mut watchword_store::Conn,
        actor: &Actor,
        account: &AccountRow,
        member: &MemberRow,
    ) -> Result<(), AppError> {
        let p = &account.factor_policy;
        if !p.enforced(self.now()) {
            return Ok(());
        }
        let admin = is_administrator(member);
        if p.met_by(&actor.mfa_factors, admin) {
            return Ok(());
        }
        let enrolled = self.methods(c, actor.person).await?;
        let wanted = wanted_words(p, admin);
        let how = if p.can_be_met_with(&enrolled, admin) {
            format!(
                "this account requires {wanted}: confirm with it (POST /api/v1/me/reauthenticate{}) or sign in again with it",
                if admin && p.admin_passkey {
                    "/passkey-options"
                } else {
                    ""
                }
            )
        } else if admin && p.admin_passkey {
            format!(
                "this account requires {wanted}: add one at /me/security (POST /api/v1/me/mfa/passkeys)"
            )
        } else {
            format!("this account requires {wanted}: add one at /me/security")
        };
        Err(DomainError::forbidden("factor_policy", how).into())
    }
}

/// Owner, Admin, or any role with a permission that administers the account.
pub(crate) fn is_administrator(member: &MemberRow) -> bool {
    member.permissions.iter().any(|p| p.administers())
}

/// The factors the policy asks of this member, in words.
pub(crate) fn wanted_words(p: &watchword_domain::policy::FactorPolicy, admin: bool) -> String {
    use watchword_domain::mfa::Method;
    if admin && p.admin_passkey {
        return "a passkey for administrators".into();
    }
    let names: Vec<&str> = p
        .allowed
        .as_deref()
        .unwrap_or(&[Method::Passkey, Method::Totp, Method::Sms])
        .iter()
        .map(|m| match m {
            Method::Passkey => "a passkey",
            Method::Totp => "an authenticator app",
            Method::Sms => "a text message code",
            Method::RecoveryCode => "a recovery code",
        })
        .collect();
    format!("a second factor ({})", names.join(" or "))
}
