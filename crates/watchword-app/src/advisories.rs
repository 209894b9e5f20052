//! Operator advisories: a security communication (a breach notification, a compliance request,
//! an advisory) to the Security Contact of every account, of the accounts on a plan, or of
//! accounts chosen by id. Recipients are written set-based; their emails then go to the outbox
//! in batches, each recipient moving from `pending` in the transaction that writes its email, so
//! a send that stops midway (a crash) resumes — here or in any server's background job — with
//! nobody lost or emailed twice. Each email carries a personal acknowledgement link (single
//! digest stored; its page needs a button press); the acknowledgement is audited in the account.
//! An advisory that needs an acknowledgement reminds an unacknowledged contact once after
//! `advisory_reminder_secs`, and follows a change of contact: the new contact receives it.

use crate::events::{self, EventExt};
use crate::mail::{self, AdvisoryEmail};
use crate::{App, AppError, Meta};
use std::time::Duration;
use watchword_domain::audit::AuditAction;
use watchword_domain::token::{hash_token, random_token};
use watchword_domain::*;
use watchword_store::advisories::{self as store, AdvisoryRow, Due};
use watchword_store::{Conn, audit};

pub use watchword_store::advisories::Counts;

/// Recipients whose emails one transaction writes.
const BATCH: i64 = 500;

/// Who receives an advisory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    All,
    Plan(Plan),
    Accounts(Vec<AccountId>),
}

impl Audience {
    fn label(&self) -> String {
        match self {
            Audience::All => "all".into(),
            Audience::Plan(p) => p.as_str().into(),
            Audience::Accounts(ids) => format!("{} accounts", ids.len()),
        }
    }
}

/// What an acknowledgement link's page shows.
#[derive(Debug, Clone)]
pub struct AdvisoryNotice {
    pub subject: String,
    pub body: String,
    pub acknowledged: bool,
}

impl App {
    /// Sends an advisory: written with its recipients, then their emails put in the outbox.
    /// Returns its id and its counts.
    pub async fn send_advisory(
        &self,
        subject: &str,
        body: &str,
        audience: Audience,
        require_ack: bool,
    ) -> Result<(String, Counts), AppError> {
        let id = self
            .enqueue_advisory(subject, body, audience, require_ack)
            .await?;
        self.write_advisory_emails().await?;
        let counts = store::counts(&mut *self.store().read().await?, &id).await?;
        Ok((id, counts))
    }

    /// Writes an advisory and chooses its recipients (set-based, one transaction); their emails
    /// are written by [`App::write_advisory_emails`]. Returns its id.
    pub async fn enqueue_advisory(
        &self,
        subject: &str,
        body: &str,
        audience: Audience,
        require_ack: bool,
    ) -> Result<String, AppError> {
        let subject = subject.trim();
        if subject.is_empty()
            || subject.chars().count() > 200
            || subject.chars().any(char::is_control)
        {
            return Err(DomainError::field(
                "invalid_subject",
                "subject",
                "1 to 200 characters on one line",
            )
            .into());
        }
        if body.trim().is_empty() || body.len() > 100_000 {
            return Err(
                DomainError::field("invalid_body", "body", "1 byte to 100 KB of text").into(),
            );
        }
        let now = self.now();
        let advisory = AdvisoryRow {
            id: format!("adv_{}", uuid::Uuid::now_v7().simple()),
            subject: subject.to_owned(),
            body: body.to_owned(),
            audience: audience.label(),
            require_ack,
            created_at: now,
        };
        let mut tx = self.store().begin().await?;
        store::insert(&mut tx, &advisory).await?;
        match &audience {
            Audience::All => store::add_recipients_by_plan(&mut tx, &advisory.id, None).await?,
            Audience::Plan(p) => {
                store::add_recipients_by_plan(&mut tx, &advisory.id, Some(p.as_str())).await?
            }
            Audience::Accounts(ids) => {
                let mut n = 0;
                for chunk in ids.chunks(BATCH as usize) {
                    n += store::add_recipients(&mut tx, &advisory.id, chunk).await?;
                }
                n
            }
        };
        tx.commit().await?;
        Ok(advisory.id)
    }

    /// Puts the emails of pending recipients (of any advisory) in the outbox, a batch per
    /// transaction; how many recipients were handled.
    pub async fn write_advisory_emails(&self) -> Result<usize, AppError> {
        let mut handled = 0;
        loop {
            match self.write_advisory_batch().await? {
                0 => return Ok(handled),
                n => handled += n,
            }
        }
    }

    /// One batch of [`App::write_advisory_emails`]: how many recipients it handled.
    pub async fn write_advisory_batch(&self) -> Result<usize, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let due = store::claim_pending(&mut tx, self.store().dialect(), BATCH).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut advisory: Option<AdvisoryRow> = None;
        for d in &due {
            if advisory.as_ref().is_none_or(|a| a.id != d.advisory_id) {
                advisory = store::get(&mut tx, &d.advisory_id).await?;
            }
            let Some(a) = &advisory else {
                return Err(AppError::internal("a recipient of a missing advisory"));
            };
            match &d.contact {
                Some((name, email)) => {
                    let (hash, message) = self
                        .email_advisory(&mut tx, a, d, name, email, false, now)
                        .await?;
                    let sent = Some((email.as_str(), &hash[..], message.as_str()));
                    store::mark_sent(&mut tx, &a.id, d.account_id, sent, now).await?;
                }
                None => store::mark_sent(&mut tx, &a.id, d.account_id, None, now).await?,
            }
        }
        tx.commit().await?;
        self.committed();
        Ok(due.len())
    }

    /// Writes one advisory email with a new personal link; the link's digest and the message id.
    #[allow(clippy::too_many_arguments)]
    async fn email_advisory(
        &self,
        c: &mut Conn,
        a: &AdvisoryRow,
        d: &Due,
        name: &str,
        email: &str,
        reminder: bool,
        now: Millis,
    ) -> Result<(watchword_domain::token::TokenHash, String), AppError> {
        let token = random_token();
        let link = format!(
            "{}/advisories/ack?token={token}",
            self.settings().public_url.trim_end_matches('/')
        );
        let e = AdvisoryEmail {
            name,
            account: &d.account_name,
            subject: &a.subject,
            body: &a.body,
            link: &link,
            require_ack: a.require_ack,
            reminder,
        };
        let message = mail::enqueue_returning_id(c, Some(d.account_id), email, &e, now).await?;
        Ok((hash_token(&token), message))
    }

    /// An advisory and its recipients' counts.
    pub async fn advisory_status(&self, id: &str) -> Result<(AdvisoryRow, Counts), AppError> {
        let mut c = self.store().read().await?;
        let a = store::get(&mut c, id).await?.ok_or(AppError::NotFound)?;
        let counts = store::counts(&mut c, id).await?;
        Ok((a, counts))
    }

    /// What an acknowledgement link is about (None: unknown). Changes nothing.
    pub async fn advisory_notice(&self, token: &str) -> Result<Option<AdvisoryNotice>, AppError> {
        let mut c = self.store().read().await?;
        let Some((advisory, _, acknowledged)) = store::by_token(&mut c, &hash_token(token)).await?
        else {
            return Ok(None);
        };
        Ok(store::get(&mut c, &advisory)
            .await?
            .map(|a| AdvisoryNotice {
                subject: a.subject,
                body: a.body,
                acknowledged,
            }))
    }

    /// The contact acknowledged (the link's button): audited in the account. False when the
    /// link is unknown; acknowledging twice changes nothing.
    pub async fn acknowledge_advisory(&self, token: &str, meta: &Meta) -> Result<bool, AppError> {
        let hash = hash_token(token);
        let now = self.now();
        // Read first: an unknown link (anyone may post one) never takes the write lock, and an
        // acknowledged one changes nothing.
        match store::by_token(&mut *self.store().read().await?, &hash).await? {
            None => return Ok(false),
            Some((_, _, true)) => return Ok(true),
            Some(_) => {}
        }
        let mut tx = self.store().begin().await?;
        let Some((advisory, account, _)) = store::by_token(&mut tx, &hash).await? else {
            return Ok(false);
        };
        if store::acknowledge(&mut tx, &hash, now).await? {
            let subject = store::get(&mut tx, &advisory)
                .await?
                .map(|a| a.subject)
                .unwrap_or_default();
            let mut event = events::system(Some(account), AuditAction::AdvisoryAcknowledged)
                .target("advisory", &advisory)
                .details(serde_json::json!({ "subject": subject }));
            event.ip = Some(meta.ip.clone());
            event.user_agent = Some(meta.user_agent.clone());
            audit::append(&mut tx, &event, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// One reminder to each contact that has not acknowledged an advisory needing it within
    /// `advisory_reminder_secs` (a new link; the first stops working). How many were sent.
    pub async fn advisory_reminders(&self) -> Result<usize, AppError> {
        let now = self.now();
        let before = now.plus_secs(-self.settings().advisory_reminder_secs);
        let mut sent = 0;
        loop {
            let mut tx = self.store().begin().await?;
            let due = store::reminders_due(&mut tx, before, BATCH).await?;
            if due.is_empty() {
                return Ok(sent);
            }
            for d in &due {
                self.resend_advisory(&mut tx, d, true, now).await?;
            }
            tx.commit().await?;
            self.committed();
            sent += due.len();
        }
    }

    /// After a change of contact (in its transaction): every advisory the account has not
    /// acknowledged and that needs it goes to the new contact.
    pub(crate) async fn advisories_follow_contact(
        &self,
        c: &mut Conn,
        account: AccountId,
        now: Millis,
    ) -> Result<(), AppError> {
        for d in store::not_acknowledged_by_contact(&mut *c, account).await? {
            self.resend_advisory(&mut *c, &d, false, now).await?;
        }
        Ok(())
    }

    async fn resend_advisory(
        &self,
        c: &mut Conn,
        d: &Due,
        reminder: bool,
        now: Millis,
    ) -> Result<(), AppError> {
        let Some((name, email)) = &d.contact else {
            // No contact now: marked as reminded so the job does not come back to it.
            return Ok(store::mark_reminded(&mut *c, &d.advisory_id, d.account_id, now).await?);
        };
        let Some(a) = store::get(&mut *c, &d.advisory_id).await? else {
            return Ok(());
        };
        let (hash, _) = self
            .email_advisory(&mut *c, &a, d, name, email, reminder, now)
            .await?;
        store::resent(&mut *c, &a.id, d.account_id, email, &hash, reminder, now).await?;
        Ok(())
    }

    /// Resumes unfinished sends and sends due reminders every `every`, forever.
    pub async fn run_advisories(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let written = self.write_advisory_emails().await;
            crate::metrics::job_run("advisory_emails", written.is_ok());
            if let Err(e) = written {
                tracing::warn!(error = %e, "writing advisory emails failed");
            }
            let reminded = self.advisory_reminders().await;
            crate::metrics::job_run("advisory_reminders", reminded.is_ok());
            if let Err(e) = reminded {
                tracing::warn!(error = %e, "advisory reminders failed");
            }
        }
    }
}
