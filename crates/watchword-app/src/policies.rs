//! An account's sign-in policies as its Owner sets them: trusted networks (an allow list of IP
//! ranges; the current network must be inside it) and the factor policy (which second factors
//! members may use, passkeys for administrators, a grace period with notices). The authority
//! room (`access::policy`) enforces them.

use crate::events::{self, EventExt};
use crate::mail;
use crate::{Actor, App, AppError, Caller};
use watchword_domain::audit::AuditAction;
use watchword_domain::mfa::Method;
use watchword_domain::policy::{FactorPolicy, Networks};
use watchword_domain::*;
use watchword_store::rows::{AccountRow, MemberRow};
use watchword_store::{Conn, accounts, audit, members, reminders};

/// An account's trusted networks as set.
#[derive(Debug, Clone)]
pub struct NetworkPolicy {
    pub networks: Networks,
    pub owner_exempt: bool,
}

impl App {
    pub async fn networks(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> Result<NetworkPolicy, AppError> {
        let a = self.settings_of(caller, account).await?;
        Ok(NetworkPolicy {
            networks: a.networks,
            owner_exempt: a.networks_owner_exempt,
        })
    }

    /// The account as whoever may read its settings sees it.
    async fn settings_of(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> Result<AccountRow, AppError> {
        let mut c = self.store().read().await?;
        self.settings_reader(&mut c, caller, account).await
    }

    /// Sets the allow list (empty: anywhere). The Owner only, with a recent sign-in; refused
    /// (`409 network_not_in_list`) when the caller's own network is outside the new list.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn set_networks(
        &self,
        actor: &Actor,
        account: AccountId,
        ranges: &[String],
        owner_exempt: bool,
    ) -> Result<NetworkPolicy, AppError> {
        self.require_recent_auth(actor, "change the trusted networks")?;
        let networks = Networks::parse(ranges)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self.access(&mut tx, actor, account).await?;
        require_owner(&access.member, "change the trusted networks")?;
        if !networks.admits(&actor.meta.ip) {
            return Err(DomainError::conflict(
                "network_not_in_list",
                format!(
                    "your current address {} is outside the list: add its range first",
                    actor.meta.ip
                ),
            )
            .into());
        }
        let a = &access.account;
        accounts::set_networks(&mut tx, account, networks.encode().as_deref(), owner_exempt)
            .await?;
        let event = events::by_actor(actor, account, AuditAction::AccountNetworksChanged).details(
            serde_json::json!({
                "from": a.networks.ranges(), "to": networks.ranges(),
                "owner_exempt": { "from": a.networks_owner_exempt, "to": owner_exempt },
            }),
        );
        audit::append(&mut tx, &event, now).await?;
        let what = if networks.is_empty() {
            "The trusted networks were removed: the account can be used from anywhere".to_owned()
        } else {
            format!(
                "The trusted networks were set to {}",
                networks.ranges().join(", ")
            )
        };
        self.alert_contact(&mut tx, a, actor, &what, now).await?;
        self.authority_moved(&mut tx, account).await?;
        tx.commit().await?;
        self.authority_committed();
        Ok(NetworkPolicy {
            networks,
            owner_exempt,
        })
    }
}

pub(crate) fn require_owner(member: &MemberRow, what: &str) -> Result<(), AppError> {
    if member.role == RoleRef::Builtin(BuiltinRole::Owner) {
        return Ok(());
    }
    Err(DomainError::forbidden("owner_required", format!("only an Owner may {what}")).into())
}

/// Days before a factor policy starts that members who do not meet it are reminded.
pub const FACTOR_NOTICE_DAYS: i64 = 2;

impl App {
    pub async fn factor_policy(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> Result<FactorPolicy, AppError> {
        Ok(self.settings_of(caller, account).await?.factor_policy)
    }

    /// Sets the factor policy (the Owner, recent sign-in). Refused (`409 owner_cannot_meet_policy`)
    /// while the Owner has no factor that meets it. A changed policy starts its grace period
    /// now; members who cannot meet it yet are emailed at once and two days before it starts.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn set_factor_policy(
        &self,
        actor: &Actor,
        account: AccountId,
        allowed: Option<Vec<Method>>,
        admin_passkey: bool,
        grace_days: i64,
    ) -> Result<FactorPolicy, AppError> {
        self.require_recent_auth(actor, "change the factor policy")?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self.access(&mut tx, actor, account).await?;
        require_owner(&access.member, "change the factor policy")?;
        let before = access.account.factor_policy.clone();
        let mut p = FactorPolicy {
            allowed,
            admin_passkey,
            grace_days,
            set_at: before.set_at,
        };
        p.validate()?;
        if p.allowed != before.allowed || p.admin_passkey != before.admin_passkey {
            p.set_at = p.is_set().then_some(now);
        } else if p.grace_days != before.grace_days && p.set_at.is_none() && p.is_set() {
            p.set_at = Some(now);
        }
        if p == before {
            return Ok(p);
        }
        let members = members::list(&mut tx, account).await?;
        let owner = members
            .iter()
            .find(|m| m.role == RoleRef::Builtin(BuiltinRole::Owner));
        if p.is_set() {
            let owner_ok = match owner.and_then(|o| o.person_id) {
                Some(person) => p.can_be_met_with(&self.methods(&mut tx, person).await?, true),
                None => false,
            };
            if !owner_ok {
                return Err(DomainError::conflict(
                    "owner_cannot_meet_policy",
                    format!(
                        "the Owner has no {} yet: add it first, so nobody is locked out",
                        crate::access::wanted_words(&p, true)
                    ),
                )
                .into());
            }
        }
        accounts::set_factor_policy(&mut tx, account, &p).await?;
        reminders::forget(&mut tx, "factor_policy", &account.to_string()).await?;
        let event = events::by_actor(actor, account, AuditAction::AccountFactorPolicyChanged)
            .details(serde_json::json!({
                "from": policy_json(&before), "to": policy_json(&p),
            }));
        audit::append(&mut tx, &event, now).await?;
        let what = format!("The factor policy was changed: {}", describe(&p));
        self.alert_contact(&mut tx, &access.account, actor, &what, now)
            .await?;
        if let Some(from) = p.enforced_from() {
            for m in members.iter().filter(|m| m.grants_access(now)) {
                self.factor_notice(&mut tx, &access.account, &p, m, from, now)
                    .await?;
            }
        }
        self.authority_moved(&mut tx, account).await?;
        tx.commit().await?;
        self.authority_committed();
        Ok(p)
    }

    /// Emails `m` that the policy starts at `from`, unless they can meet it already.
    async fn factor_notice(
        &self,
        c: &mut Conn,
        account: &AccountRow,
        p: &FactorPolicy,
        m: &MemberRow,
        from: Millis,
        now: Millis,
    ) -> Result<bool, AppError> {
        let Some(person) = m.person_id else {
            return Ok(false);
        };
        let admin = crate::access::is_administrator(m);
        if p.can_be_met_with(&self.methods(&mut *c, person).await?, admin) {
            return Ok(false);
        }
        let wanted = crate::access::wanted_words(p, admin);
        let url = format!(
            "{}/me/security",
            self.settings().public_url.trim_end_matches('/')
        );
        let what = format!(
            "From {} the account {} requires {wanted} to sign in. Add it on your security page: {url}",
            from.rfc3339(),
            account.name
        );
        let t = mail::SecurityNotice {
            name: m.name.as_deref().unwrap_or(&m.email),
            subject: "Your account will require a stronger second factor",
            what: &what,
            advice: "Until you add it you will not be able to use the account once the date passes.",
            ip: "",
            at: now,
        };
        // Written at the clock's time, whatever `now` the job evaluated the rules at.
        mail::enqueue(c, Some(account.id), &m.email, &t, self.now()).await?;
        Ok(true)
    }

    /// Reminds members who still cannot meet a factor policy that starts within
    /// [`FACTOR_NOTICE_DAYS`] (once each per policy; several nodes may run this at once).
    pub async fn factor_policy_notices_once(&self, now: Millis) -> Result<usize, AppError> {
        let accounts = {
            let mut c = self.store().read().await?;
            accounts::all(&mut c).await?
        };
        let mut sent = 0;
        for a in accounts {
            let p = &a.factor_policy;
            let Some(from) = p.enforced_from() else {
                continue;
            };
            if now < from.plus_secs(-FACTOR_NOTICE_DAYS * 86_400) || now >= from {
                continue;
            }
            let mut tx = self.store().begin().await?;
            for m in members::list(&mut tx, a.id).await? {
                if !m.grants_access(now) {
                    continue;
                }
                let Some(person) = m.person_id else {
                    continue;
                };
                let admin = crate::access::is_administrator(&m);
                if p.can_be_met_with(&self.methods(&mut tx, person).await?, admin) {
                    continue;
                }
                let stage = format!("{}:{person}", p.set_at.map_or(0, |m| m.0));
                if reminders::claim(&mut tx, "factor_policy", &a.id.to_string(), &stage, now)
                    .await?
                    && self.factor_notice(&mut tx, &a, p, &m, from, now).await?
                {
                    sent += 1;
                }
            }
            tx.commit().await?;
            self.committed();
        }
        Ok(sent)
    }
}

fn policy_json(p: &FactorPolicy) -> serde_json::Value {
    serde_json::json!({
        "allowed": p.allowed.as_ref().map(|a| a.iter().map(|m| m.as_str()).collect::<Vec<_>>()),
        "admin_passkey": p.admin_passkey,
        "grace_days": p.grace_days,
        "enforced_from": p.enforced_from().map(|m| m.rfc3339()),
    })
}

fn describe(p: &FactorPolicy) -> String {
    if !p.is_set() {
        return "any second factor".into();
    }
    let mut s = crate::access::wanted_words(p, false);
    if p.admin_passkey {
        s.push_str("; administrators must use a passkey");
    }
    if let Some(from) = p.enforced_from() {
        s.push_str(&format!(", from {}", from.rfc3339()));
    }
    s
}
