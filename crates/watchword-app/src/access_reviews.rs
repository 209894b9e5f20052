//! Access reviews: every membership of an account with what to look at (inactive, no MFA,
//! administrator, operator staff, stale invitation, deactivated), when the next review is due,
//! and recording a completed review (audit event `access_review.completed`). Owners and Admins
//! (`users:manage`), who can act on what they see.

use crate::events::{self, EventExt};
use crate::mail;
use crate::{Actor, App, AppError};
use watchword_domain::access_review::{self, Facts};
use watchword_domain::audit::AuditAction;
use watchword_domain::{AccountId, DomainError, Millis, Permission};
use watchword_store::access_reviews::{self as store, NewReview, ReviewRow};
use watchword_store::rows::MemberRow;
use watchword_store::{Conn, audit, members};

/// The longest note a review may carry.
const NOTE_MAX: usize = 2000;

pub struct ReviewedMember {
    pub member: MemberRow,
    pub has_mfa: bool,
    pub flags: Vec<&'static str>,
}

pub struct AccessReview {
    pub members: Vec<ReviewedMember>,
    /// The latest completed review.
    pub last: Option<ReviewRow>,
    pub due: bool,
    /// API keys and SCIM tokens that expire within 14 days.
    pub expiring: Vec<crate::expiry::Expiring>,
}

impl AccessReview {
    pub fn flagged(&self) -> usize {
        self.members.iter().filter(|m| !m.flags.is_empty()).count()
    }
}

impl App {
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn access_review(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<AccessReview, AppError> {
        let mut c = self.store().read().await?;
        self.review(&mut c, actor, account, self.now()).await
    }

    /// Records that the actor reviewed the account's access now, with an optional note.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn complete_access_review(
        &self,
        actor: &Actor,
        account: AccountId,
        note: &str,
    ) -> Result<ReviewRow, AppError> {
        let note = note.trim();
        if note.chars().count() > NOTE_MAX
            || note
                .chars()
                .any(|ch| ch.is_control() && ch != '\n' && ch != '\r')
        {
            return Err(DomainError::field(
                "invalid_note",
                "note",
                format!("at most {NOTE_MAX} characters, no control characters"),
            )
            .into());
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let review = self.review(&mut tx, actor, account, now).await?;
        let new = NewReview {
            account,
            reviewer: actor.person,
            reviewer_email: &actor.email,
            members: review.members.len() as i64,
            flagged: review.flagged() as i64,
            note,
        };
        let id = uuid::Uuid::now_v7().to_string();
        store::insert(&mut tx, &id, &new, now).await?;
        let event = events::by_actor(actor, account, AuditAction::AccessReviewCompleted)
            .target("access_review", &id)
            .details(serde_json::json!({
                "members": new.members, "flagged": new.flagged, "note": note,
            }));
        audit::append(&mut tx, &event, now).await?;
        let row = store::latest(&mut tx, account)
            .await?
            .ok_or_else(|| AppError::internal("review just recorded is missing"))?;
        tx.commit().await?;
        Ok(row)
    }

    async fn review(
        &self,
        c: &mut Conn,
        actor: &Actor,
        account: AccountId,
        now: Millis,
    ) -> Result<AccessReview, AppError> {
        let access = self.access(&mut *c, actor, account).await?;
        access.require(Permission::UsersManage)?;
        let with_mfa = store::members_with_mfa(&mut *c, account).await?;
        let last = store::latest(&mut *c, account).await?;
        let members = members::list(&mut *c, account)
            .await?
            .into_iter()
            .map(|m| {
                let has_mfa = m.person_id.is_some_and(|p| with_mfa.contains(&p));
                let facts = Facts {
                    status: m.status,
                    invited_at: m.created_at,
                    last_login_at: m.last_login_at,
                    has_mfa,
                    permissions: m.permissions,
                    staff: m.role.is_staff(),
                };
                let flags = access_review::flags(now, &facts);
                ReviewedMember {
                    member: m,
                    has_mfa,
                    flags,
                }
            })
            .collect();
        let expiring = self.expiring_in(&mut *c, account, now).await?;
        Ok(AccessReview {
            members,
            expiring,
            due: access_review::due(
                now,
                last.as_ref().map(|r| r.created_at),
                access.account.created_at,
            ),
            last,
        })
    }

    /// Reminds the Owners and Admins (`users:manage`) of every account whose review is due, once
    /// per review period (a compare-and-set on the account, so once with several nodes too).
    /// Returns the accounts reminded.
    pub async fn review_reminders_once(&self, now: Millis) -> Result<Vec<AccountId>, AppError> {
        const PAGE: i64 = 500;
        let started_by = Millis(now.0 - access_review::REVIEW_EVERY_DAYS * 24 * 3600 * 1000);
        let base = self.settings().public_url.trim_end_matches('/').to_owned();
        let mut reminded = Vec::new();
        let mut after = None;
        loop {
            let page = {
                let mut c = self.store().read().await?;
                store::due_unreminded(&mut c, started_by, after, PAGE).await?
            };
            for (account, name) in &page {
                let mut tx = self.store().begin().await?;
                if !store::mark_reminded(&mut tx, *account, now).await? {
                    continue;
                }
                let url = format!("{base}/accounts/{account}/access-review");
                for m in members::list(&mut tx, *account).await? {
                    if !m.grants_access(now) || !m.permissions.contains(Permission::UsersManage) {
                        continue;
                    }
                    let t = mail::ReviewDue {
                        name: m.name.as_deref().unwrap_or(&m.email),
                        account: name,
                        every_days: access_review::REVIEW_EVERY_DAYS,
                        review_url: &url,
                    };
                    mail::enqueue(&mut tx, Some(*account), &m.email, &t, now).await?;
                }
                tx.commit().await?;
                reminded.push(*account);
            }
            if (page.len() as i64) < PAGE {
                return Ok(reminded);
            }
            after = page.last().map(|(a, _)| *a);
        }
    }
}
