//! Assisted recovery, for a person who lost every second factor and their recovery codes:
//!
//! 1. After their password (a live login challenge), "Lost every factor?" files a request (3 a
//!    day; one open at a time). They get an email with a "This wasn't me" link; the Owner and
//!    the Security Contact of each of their accounts are told.
//! 2. The Security Contact or an Owner of one of those accounts approves it, with a recent
//!    sign-in of their own — never the requester, never someone the requester invited, promoted,
//!    handed the ownership to or made the Security Contact in the last 7 days. One approval counts (a conditional update).
//! 3. The account's delay runs (1–168 h, default 24); the person, every Owner and every Security
//!    Contact of all their accounts are told, and any of them — or the person — can cancel.
//! 4. After it, the person's next password login uses the request: every factor and recovery
//!    code is removed, every session ends, and the new session may do nothing but add a factor.
//!
//! Every step is audited in every account the person belongs to.

use crate::events::{self, EventExt};
use crate::gate::{PasswordMatched, SignInProof};
use crate::limits::Limit;
use crate::mail;
use crate::{Actor, App, AppError, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::token::{hash_token, random_token};
use watchword_domain::*;
use watchword_store::recovery::{self as store, RecoveryRow};
use watchword_store::rows::{AccountRow, MemberRow, PersonRow};
use watchword_store::{Conn, accounts, audit, members, persons, sessions};

/// Recovery requests one person may file a day.
const REQUESTS_PER_PERSON: Limit = Limit::new("recovery-person", 3, 86_400);
/// Someone the requester made an administrator this recently may not approve.
const FRESH_ADMIN_SECS: i64 = 7 * 86_400;
/// The delay an Owner may set, in hours.
pub const DELAY_HOURS: std::ops::RangeInclusive<i64> = 1..=168;

/// A request as an approver sees it.
#[derive(Debug, Clone)]
pub struct RecoveryView {
    pub row: RecoveryRow,
    pub email: String,
    pub name: String,
}

impl App {
    /// Files a request for the person whose password opened `challenge_id`.
    pub async fn request_recovery(
        &self,
        challenge_id: &str,
        meta: &Meta,
    ) -> Result<RecoveryRow, AppError> {
        // Only a challenge a matched password opened: one an SSO sign-in opened proves what the
        // IdP said, not the person's own password.
        let person = {
            let mut c = self.store().read().await?;
            watchword_store::mfa::challenge(&mut c, &hash_token(challenge_id))
                .await?
                .filter(|ch| {
                    ch.used_at.is_none()
                        && ch.expires_at > self.now()
                        && ch.failures < crate::gate::CHALLENGE_MAX_ANSWERS
                        && ch.sso_connection.is_none()
                })
                .map(|ch| ch.person_id)
                .ok_or(AppError::Unauthenticated)?
        };
        self.take_slot(
            &[(REQUESTS_PER_PERSON, &person.to_string())],
            crate::limits::too_many_mails,
        )
        .await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let p = self.person(&mut tx, person).await?;
        if store::open_of(&mut tx, person).await?.is_some() {
            return Err(DomainError::conflict(
                "recovery_pending",
                "a recovery request is already open: wait for it, or cancel it from its email",
            )
            .into());
        }
        let id = format!("rec_{}", uuid::Uuid::now_v7().simple());
        let token = random_token();
        store::insert(
            &mut tx,
            &id,
            person,
            &meta.ip,
            &hex::encode(hash_token(&token)),
            now,
        )
        .await?;
        let event = events::of_person(&p, meta, AuditAction::SecurityRecoveryRequested)
            .target("recovery", &id);
        events::fan_out(&mut tx, person, event, now).await?;
        let base = self.settings().public_url.trim_end_matches('/').to_owned();
        let cancel = format!("{base}/recovery/cancel?token={token}");
        let advice = format!(
            "If this wasn't you, someone knows your password: cancel the request here and change your password: {cancel}"
        );
        let what = format!(
            "Someone who knows your password asked to remove your second factors (from {}). An Owner or the Security Contact of one of your accounts must approve it; it then waits before it can be used.",
            meta.ip
        );
        self.notify(
            &mut tx,
            &p,
            "Account recovery requested",
            &what,
            &advice,
            meta,
            now,
        )
        .await?;
        let what = format!(
            "{} asked to recover their login (they lost every second factor). Approve it only after you confirmed it is them, by a channel you trust: {base}/accounts/{{account}}/recovery",
            p.email
        );
        self.tell_approvers(&mut tx, person, &what, None, now)
            .await?;
        let row = store::get(&mut tx, &id)
            .await?
            .ok_or_else(|| AppError::internal("recovery request just filed is missing"))?;
        tx.commit().await?;
        self.committed();
        Ok(row)
    }

    /// The open requests of the account's members (its Owner and Security Contact).
    pub async fn recovery_requests(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Vec<RecoveryView>, AppError> {
        let mut c = self.store().read().await?;
        self.approver(&mut c, actor, account).await?;
        let mut out = Vec::new();
        for row in store::open_in(&mut c, account).await? {
            if let Some(p) = persons::get(&mut c, row.person_id).await? {
                out.push(RecoveryView {
                    email: p.email,
                    name: p.name,
                    row,
                });
            }
        }
        Ok(out)
    }

    /// Approves a request of a member of `account`; see the module documentation for who may.
    pub async fn approve_recovery(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
    ) -> Result<RecoveryRow, AppError> {
        self.require_recent_auth(actor, "approve an account recovery")?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let (access_account, approver) = self.approver(&mut tx, actor, account).await?;
        let row = self.request_in(&mut tx, account, id).await?;
        if row.person_id == actor.person {
            return Err(DomainError::forbidden(
                "recovery_self_approval",
                "nobody approves their own recovery",
            )
            .into());
        }
        let since = now.plus_secs(-FRESH_ADMIN_SECS);
        let made_by_requester = audit::acted_on_since(
            &mut tx,
            account,
            row.person_id,
            &approver.id.to_string(),
            &[
                AuditAction::MemberInvited,
                AuditAction::MemberRoleChanged,
                AuditAction::OwnershipTransferred,
                AuditAction::SecurityContactChanged,
            ],
            since,
        )
        .await?;
        if made_by_requester {
            return Err(DomainError::forbidden(
                "recovery_approver_too_new",
                "the person asking gave you your role or made you the Security Contact in the last 7 days: another Owner or the Security Contact must approve",
            )
            .into());
        }
        let usable_at = now.plus_secs(access_account.recovery_delay_hours * 3600);
        if !store::approve(&mut tx, id, actor.person, account, now, usable_at).await? {
            return Err(DomainError::conflict(
                "recovery_not_pending",
                "this request was approved or cancelled already",
            )
            .into());
        }
        let event = events::by_person(
            actor.person,
            &actor.email,
            &actor.meta,
            None,
            AuditAction::SecurityRecoveryApproved,
        )
        .target("recovery", id)
        .details(serde_json::json!({
            "approved_in": account, "usable_at": usable_at.rfc3339(),
        }));
        events::fan_out(&mut tx, row.person_id, event, now).await?;
        let p = self.person(&mut tx, row.person_id).await?;
        let what = format!(
            "{} approved the recovery of {}'s login (in {}). From {} their next password login removes every second factor and recovery code. If this is wrong, cancel it before then.",
            actor.email,
            p.email,
            access_account.name,
            usable_at.rfc3339()
        );
        self.notify(
            &mut tx,
            &p,
            "Account recovery approved",
            &what,
            "If you did not ask for this, cancel it with the link of the first email and change your password.",
            &actor.meta,
            now,
        )
        .await?;
        self.tell_approvers(&mut tx, row.person_id, &what, Some(actor.person), now)
            .await?;
        let row = store::get(&mut tx, id)
            .await?
            .ok_or_else(|| AppError::internal("recovery request vanished"))?;
        tx.commit().await?;
        self.committed();
        Ok(row)
    }

    /// Cancels a request: an Owner or the Security Contact of one of the person's accounts, or
    /// the person.
    pub async fn cancel_recovery(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let row = self.request_in(&mut tx, account, id).await?;
        if row.person_id != actor.person {
            self.approver(&mut tx, actor, account).await?;
        }
        let event = events::by_person(
            actor.person,
            &actor.email,
            &actor.meta,
            None,
            AuditAction::SecurityRecoveryCancelled,
        );
        self.cancel_in(&mut tx, &row, &actor.email, event, now)
            .await?;
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    /// "This wasn't me": the link of the request's first email cancels it.
    pub async fn cancel_recovery_by_link(&self, token: &str, meta: &Meta) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let row = store::by_cancel_hash(&mut tx, &hex::encode(hash_token(token)))
            .await?
            .filter(RecoveryRow::open)
            .ok_or(AppError::NotFound)?;
        let p = self.person(&mut tx, row.person_id).await?;
        let event = events::of_person(&p, meta, AuditAction::SecurityRecoveryCancelled);
        self.cancel_in(&mut tx, &row, &p.email, event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    async fn cancel_in(
        &self,
        c: &mut Conn,
        row: &RecoveryRow,
        by: &str,
        event: watchword_store::audit::NewEvent,
        now: Millis,
    ) -> Result<(), AppError> {
        if !store::cancel(&mut *c, &row.id, by, now).await? {
            return Err(DomainError::conflict(
                "recovery_not_pending",
                "this request was used or cancelled already",
            )
            .into());
        }
        events::fan_out(
            &mut *c,
            row.person_id,
            event.target("recovery", &row.id),
            now,
        )
        .await?;
        let p = self.person(&mut *c, row.person_id).await?;
        let what = format!(
            "{by} cancelled the recovery request of {}'s login.",
            p.email
        );
        self.tell_approvers(&mut *c, row.person_id, &what, None, now)
            .await
    }

    /// Inside a password login: uses the person's approved request whose delay is over. Every
    /// factor and recovery code goes, every session ends; the proof opens a session that may
    /// only add a factor.
    pub(crate) async fn use_recovery(
        &self,
        c: &mut Conn,
        person: &PersonRow,
        matched: PasswordMatched,
        meta: &Meta,
        now: Millis,
    ) -> Result<Result<SignInProof, PasswordMatched>, AppError> {
        let Some(row) = store::take_usable(&mut *c, person.id, now).await? else {
            return Ok(Err(matched));
        };
        let removed = watchword_store::mfa::delete_all(&mut *c, person.id).await?;
        sessions::revoke_all_except(&mut *c, person.id, None, now).await?;
        let event = events::of_person(person, meta, AuditAction::SecurityRecoveryCompleted)
            .target("recovery", &row.id)
            .details(serde_json::json!({ "factors_removed": removed }));
        events::fan_out(&mut *c, person.id, event, now).await?;
        let what = format!(
            "{} used an approved recovery: every second factor and recovery code of the login was removed and every session ended. They must add a new second factor before doing anything else.",
            person.email
        );
        self.notify(
            &mut *c,
            person,
            "Your second factors were removed",
            &what,
            "Add a new second factor now (My security).",
            meta,
            now,
        )
        .await?;
        self.tell_approvers(&mut *c, person.id, &what, None, now)
            .await?;
        Ok(Ok(SignInProof::recovered(matched)))
    }

    /// Sets how long an approved request waits in `account` (the Owner, recent sign-in).
    pub async fn set_recovery_delay(
        &self,
        actor: &Actor,
        account: AccountId,
        hours: i64,
    ) -> Result<i64, AppError> {
        self.require_recent_auth(actor, "change the recovery delay")?;
        if !DELAY_HOURS.contains(&hours) {
            return Err(DomainError::invalid(
                "invalid_delay",
                "the recovery delay is 1 to 168 hours",
            )
            .into());
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self.access(&mut tx, actor, account).await?;
        crate::policies::require_owner(&access.member, "change the recovery delay")?;
        accounts::set_recovery_delay(&mut tx, account, hours).await?;
        let event = events::by_actor(actor, account, AuditAction::AccountSettingsChanged).details(
            serde_json::json!({ "recovery_delay_hours": {
                "from": access.account.recovery_delay_hours, "to": hours,
            }}),
        );
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(hours)
    }

    /// The actor's standing as an approver in `account`: its Owner or its Security Contact.
    async fn approver(
        &self,
        c: &mut Conn,
        actor: &Actor,
        account: AccountId,
    ) -> Result<(AccountRow, MemberRow), AppError> {
        let access = self.access(&mut *c, actor, account).await?;
        let owner = access.member.role == RoleRef::Builtin(BuiltinRole::Owner);
        let contact = self
            .contact_member(&mut *c, account)
            .await?
            .is_some_and(|m| m.id == access.member.id);
        if !owner && !contact {
            return Err(DomainError::forbidden(
                "recovery_approver_required",
                "only an Owner or the Security Contact handles account recoveries",
            )
            .into());
        }
        Ok((access.account, access.member))
    }

    /// An open request of an active member of `account` (others are not found).
    async fn request_in(
        &self,
        c: &mut Conn,
        account: AccountId,
        id: &str,
    ) -> Result<RecoveryRow, AppError> {
        let row = store::get(&mut *c, id)
            .await?
            .filter(RecoveryRow::open)
            .ok_or(AppError::NotFound)?;
        members::of_person(&mut *c, account, row.person_id)
            .await?
            .filter(|m| m.grants_access(self.now()))
            .ok_or(AppError::NotFound)?;
        Ok(row)
    }

    /// Emails the Owner and the Security Contact of every account of `person` (not the person,
    /// not `except`). `{account}` in `what` becomes each account's id.
    async fn tell_approvers(
        &self,
        c: &mut Conn,
        person: PersonId,
        what: &str,
        except: Option<PersonId>,
        now: Millis,
    ) -> Result<(), AppError> {
        let mut told: Vec<String> = Vec::new();
        for (account, _) in members::of_person_all(&mut *c, person).await? {
            let owner = members::owner(&mut *c, account.id).await?;
            let contact = self.contact_member(&mut *c, account.id).await?;
            let text = what.replace("{account}", &account.id.to_string());
            for m in [owner, contact].into_iter().flatten() {
                if m.person_id == Some(person)
                    || (except.is_some() && m.person_id == except)
                    || told.contains(&format!("{}:{}", account.id, m.email))
                {
                    continue;
                }
                told.push(format!("{}:{}", account.id, m.email));
                let t = mail::SecurityNotice {
                    name: m.name.as_deref().unwrap_or(&m.email),
                    subject: "Account recovery",
                    what: &text,
                    advice: "",
                    ip: "",
                    at: now,
                };
                mail::enqueue(&mut *c, Some(account.id), &m.email, &t, now).await?;
            }
        }
        Ok(())
    }
}
