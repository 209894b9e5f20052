//! The Security Contact (seed 002): who it is, changing it, and the checks that revert an invalid
//! contact to the Owner. Every change writes the new contact, its history row, its audit event and
//! the emails to the previous and new contact in one transaction.

mod check;

use crate::events::{self, EventExt};
use crate::mail::{self, ContactChanged};
use crate::members::Access;
use crate::{Actor, App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::contact::ContactSource;
use watchword_domain::contact::{Candidate, Ineligible, Rules};
use watchword_domain::*;
use watchword_store::contacts::{self, Change, ContactRow, HistoryRow};
use watchword_store::rows::MemberRow;
use watchword_store::{Conn, audit, members};

#[derive(Debug, Clone)]
pub struct ContactView {
    pub member: MemberRow,
    pub source: String,
    pub since: Option<Millis>,
    pub set_by: Option<PersonId>,
    /// When the contact lapses for `no_recent_login` if they do not log in.
    pub lapses_at: Option<Millis>,
    /// True within the warning period before `lapses_at`.
    pub lapse_warning: bool,
}

/// What one run of the check did (or, dry, would do).
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub as_of: Millis,
    pub dry_run: bool,
    pub reverted: Vec<Reverted>,
    pub warned: Vec<Warned>,
}

#[derive(Debug, Clone)]
pub struct Reverted {
    pub account: AccountId,
    pub account_name: String,
    pub previous_email: Option<String>,
    pub new_email: String,
    pub reasons: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Warned {
    pub account: AccountId,
    pub account_name: String,
    pub contact_email: String,
    pub lapses_at: Millis,
}

/// Accounts examined per query of the sweep.
const SWEEP_PAGE: i64 = 2000;

impl App {
    pub fn contact_rules(&self) -> Rules<'_> {
        Rules {
            login_window_days: self.settings().contact_login_window_days,
            blocked_staff_roles: &self.settings().blocked_staff_roles,
        }
    }

    /// When a contact who last logged in at `last` lapses, if `at` falls in the warning period
    /// before that.
    fn lapse_warning_due(&self, last: Millis, at: Millis) -> Option<Millis> {
        let lapses_at = self.contact_rules().lapses_at(last);
        let starts = lapses_at.minus_secs(self.settings().contact_warning_days * 86_400);
        (at >= starts && at < lapses_at).then_some(lapses_at)
    }

    fn reasons(&self, m: &MemberRow, now: Millis) -> Vec<Ineligible> {
        let key = m.role.encode();
        let c = Candidate {
            role_key: &key,
            permissions: m.permissions,
            membership: if m.staff_expires_at.is_some_and(|e| e <= now) || m.suspended_at.is_some()
            {
                MembershipStatus::Deactivated
            } else {
                m.status
            },
            person_active: m.person_active && m.person_id.is_some(),
            last_login_at: m.last_login_at,
        };
        self.contact_rules().check(&c, now)
    }

    /// Owners and Admins only; everyone else gets "not found", as if there were no such thing.
    async fn contact_access(
        &self,
        c: &mut Conn,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Access, AppError> {
        let access = self.access(c, actor, account).await?;
        match access.member.role {
            RoleRef::Builtin(BuiltinRole::Owner | BuiltinRole::Admin) => Ok(access),
            _ => Err(AppError::NotFound),
        }
    }

    fn view(&self, row: &ContactRow, member: MemberRow, now: Millis) -> ContactView {
        let lapses_at = member
            .last_login_at
            .map(|t| self.contact_rules().lapses_at(t));
        ContactView {
            lapse_warning: member
                .last_login_at
                .is_some_and(|t| self.lapse_warning_due(t, now).is_some()),
            member,
            source: row.source.clone(),
            since: row.since,
            set_by: row.set_by,
            lapses_at,
        }
    }

    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn security_contact(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<ContactView, AppError> {
        let mut c = self.store().read().await?;
        self.contact_access(&mut c, actor, account).await?;
        let row = contacts::get(&mut c, account)
            .await?
            .ok_or(AppError::NotFound)?;
        let id = row
            .membership
            .ok_or_else(|| AppError::internal("account without a Security Contact"))?;
        let member = members::get(&mut c, account, id)
            .await?
            .ok_or_else(|| AppError::internal("Security Contact membership missing"))?;
        Ok(self.view(&row, member, self.now()))
    }

    /// Members matching `q` (name or email prefix), eligible ones first, each with its reasons.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn contact_candidates(
        &self,
        actor: &Actor,
        account: AccountId,
        q: &str,
    ) -> Result<Vec<(MemberRow, Vec<Ineligible>)>, AppError> {
        let mut c = self.store().read().await?;
        self.contact_access(&mut c, actor, account).await?;
        let now = self.now();
        let found = contacts::search_members(&mut c, account, q.trim(), 50).await?;
        let mut out: Vec<_> = found
            .into_iter()
            .map(|m| {
                let r = self.reasons(&m, now);
                (m, r)
            })
            .collect();
        out.sort_by_key(|(_, r)| !r.is_empty());
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn contact_history(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Vec<HistoryRow>, AppError> {
        let mut c = self.store().read().await?;
        self.contact_access(&mut c, actor, account).await?;
        Ok(contacts::history(&mut c, account, 100).await?)
    }

    /// Picks a new Security Contact. Needs a recent authentication; an ineligible pick is refused
    /// with every reason.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn set_security_contact(
        &self,
        actor: &Actor,
        account: AccountId,
        member: MembershipId,
    ) -> Result<ContactView, AppError> {
        self.require_recent_auth(actor, "change the Security Contact")?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.contact_access(&mut tx, actor, account).await?;
        let target = members::get(&mut tx, account, member)
            .await?
            .ok_or(AppError::NotFound)?;
        let reasons = self.reasons(&target, now);
        if !reasons.is_empty() {
            let fields = reasons
                .iter()
                .map(|r| FieldError {
                    field: "member_id",
                    code: r.code(),
                    message: r.message().to_owned(),
                })
                .collect();
            let codes: Vec<&str> = reasons.iter().map(|r| r.code()).collect();
            return Err(DomainError::Invalid {
                code: "ineligible_security_contact",
                message: format!(
                    "this member cannot be the Security Contact: {}",
                    codes.join(", ")
                ),
                fields,
            }
            .into());
        }
        let current = contacts::get(&mut tx, account)
            .await?
            .ok_or(AppError::NotFound)?;
        if current.membership == Some(member)
            && ContactSource::parse(&current.source) == Some(ContactSource::Manual)
        {
            tx.commit().await?;
            return self.security_contact(actor, account).await;
        }
        let previous = match current.membership {
            Some(id) => members::get(&mut tx, account, id).await?,
            None => None,
        };
        self.change_contact(
            &mut tx,
            &current,
            previous.as_ref(),
            &target,
            ContactSource::Manual,
            Some(actor),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        self.committed();
        self.security_contact(actor, account).await
    }

    /// Writes a change of contact with its history, audit event and emails (one per distinct
    /// address). Fails with a conflict when the contact changed meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn change_contact(
        &self,
        c: &mut Conn,
        current: &ContactRow,
        previous: Option<&MemberRow>,
        new: &MemberRow,
        source: ContactSource,
        by: Option<&Actor>,
        reason: Option<String>,
        now: Millis,
    ) -> Result<(), AppError> {
        let actor = by.map(|a| (a.person, format!("{} <{}>", a.name, a.email)));
        if !contacts::set(
            &mut *c,
            current.account,
            current.membership,
            new.id,
            source.as_str(),
            actor.as_ref().map(|a| a.0),
            now,
        )
        .await?
        {
            return Err(DomainError::conflict(
                "concurrent_change",
                "the Security Contact changed meanwhile; reload and try again",
            )
            .into());
        }
        let ch = Change {
            account: current.account,
            previous: previous.map(|p| (p.id, p.email.clone())),
            new: (new.id, new.email.clone()),
            source: source.as_str(),
            actor: actor.clone(),
            reason: reason.clone(),
        };
        contacts::record_change(&mut *c, &ch, now).await?;
        self.advisories_follow_contact(&mut *c, current.account, now)
            .await?;
        let mut event = match by {
            Some(a) => events::by_actor(a, current.account, AuditAction::SecurityContactChanged),
            None => events::system(Some(current.account), AuditAction::SecurityContactChanged),
        };
        event = event.target("membership", new.id).details(serde_json::json!({
            "previous": previous.map(|p| serde_json::json!({"member_id": p.id, "email": p.email})),
            "new": {"member_id": new.id, "email": new.email},
            "actor": actor.as_ref().map(|a| a.1.clone()).unwrap_or_else(|| "automatic check".into()),
            "source": source.as_str(),
            "reason": reason,
        }));
        audit::append(&mut *c, &event, now).await?;
        let new_name = new.name.clone().unwrap_or_else(|| new.email.clone());
        let body = ContactChanged {
            account: &current.account_name,
            new_name: &new_name,
            new_email: &new.email,
            previous: previous
                .map(|p| format!("{} <{}>", p.name.clone().unwrap_or_default(), p.email)),
            actor: actor
                .as_ref()
                .map(|a| a.1.clone())
                .unwrap_or_else(|| "automatic check".into()),
            at: now,
            reason,
            review_url: format!(
                "{}/accounts/{}/settings/security",
                self.settings().public_url.trim_end_matches('/'),
                current.account
            ),
        };
        let mut recipients = vec![new.email.clone()];
        if let Some(p) = previous
            && p.email != new.email
        {
            recipients.insert(0, p.email.clone());
        }
        for to in recipients {
            mail::enqueue(&mut *c, Some(current.account), &to, &body, now).await?;
        }
        Ok(())
    }

    /// Re-checks one account's contact inside the caller's transaction (after a deactivation,
    /// removal or role change) and reverts it to the Owner when invalid. `trigger` names the cause.
    pub(crate) async fn recheck_contact(
        &self,
        c: &mut Conn,
        account: AccountId,
        now: Millis,
        trigger: AuditAction,
    ) -> Result<Option<Reverted>, AppError> {
        let Some(current) = contacts::get(&mut *c, account).await? else {
            return Ok(None);
        };
        let member = match current.membership {
            Some(id) => members::get(&mut *c, account, id).await?,
            None => None,
        };
        self.revert_if_invalid(c, &current, member, now, Some(trigger.as_str()), None)
            .await
    }

    /// Reverts `current` to the Owner when its member fails a rule at `at` (or `forced` names a
    /// reason, e.g. the member is being removed). Writes carry the real time.
    #[allow(clippy::too_many_arguments)]
    async fn revert_if_invalid(
        &self,
        c: &mut Conn,
        current: &ContactRow,
        member: Option<MemberRow>,
        at: Millis,
        trigger: Option<&str>,
        forced: Option<&'static str>,
    ) -> Result<Option<Reverted>, AppError> {
        let reasons: Vec<&'static str> = match (&member, forced) {
            (_, Some(f)) => vec![f],
            (None, None) => vec!["removed"],
            (Some(m), None) => self.reasons(m, at).iter().map(|r| r.code()).collect(),
        };
        if reasons.is_empty() {
            return Ok(None);
        }
        let owner = members::owner(&mut *c, current.account)
            .await?
            .ok_or_else(|| AppError::internal("account without an Owner"))?;
        if Some(owner.id) == current.membership {
            return Ok(None); // The Owner is the fallback; there is nobody to revert to.
        }
        let report = Reverted {
            account: current.account,
            account_name: current.account_name.clone(),
            previous_email: member.as_ref().map(|m| m.email.clone()),
            new_email: owner.email.clone(),
            reasons: reasons.clone(),
        };
        let why = reasons
            .iter()
            .map(|r| reason_text(r))
            .collect::<Vec<_>>()
            .join("; ");
        let why = match trigger {
            Some(t) => format!("{why} (checked after {t})"),
            None => why,
        };
        self.change_contact(
            c,
            current,
            member.as_ref(),
            &owner,
            ContactSource::Default,
            None,
            Some(why),
            self.now(),
        )
        .await?;
        Ok(Some(report))
    }

    /// Before a member is removed: if they are the contact, the Owner takes over, and the removed
    /// member is told too.
    pub(crate) async fn release_contact(
        &self,
        c: &mut Conn,
        account: AccountId,
        removed: &MemberRow,
        trigger: AuditAction,
    ) -> Result<(), AppError> {
        let Some(current) = contacts::get(&mut *c, account).await? else {
            return Ok(());
        };
        if current.membership == Some(removed.id) {
            self.revert_if_invalid(
                c,
                &current,
                Some(removed.clone()),
                self.now(),
                Some(trigger.as_str()),
                Some("removed"),
            )
            .await?;
        }
        Ok(())
    }
}

/// The human reason for an automatic revert.
pub fn reason_text(code: &str) -> &'static str {
    match code {
        "not_privileged" => Ineligible::NotPrivileged.message(),
        "inactive" => Ineligible::Inactive.message(),
        "no_recent_login" => Ineligible::NoRecentLogin.message(),
        "blocked_staff_role" => Ineligible::BlockedStaffRole.message(),
        "removed" => "the member was removed from the account",
        _ => "the contact is no longer eligible",
    }
}
