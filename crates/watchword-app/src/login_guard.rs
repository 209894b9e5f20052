//! Password guessing: failed logins are counted per attempted email and per IP; past a limit,
//! password login is paused (`429 too_many_attempts`, the same for emails with and without a
//! login, and before any Argon2 work), and the moment a known person's limit is reached, the
//! person and the Security Contact of each of their accounts are alerted.

use crate::events::{self, EventExt};
use crate::mail::{self, LoginAttempts, Template};
use crate::{App, AppError, Meta};
use watchword_domain::Millis;
use watchword_domain::token::TokenHash;
use watchword_store::rows::PersonRow;
use watchword_store::{Conn, logins, members};

/// The window in which failures count.
pub const WINDOW_MS: i64 = 15 * 60_000;
/// Failed logins of one email within the window that pause its password login.
pub const MAX_PER_EMAIL: i64 = 10;
/// Failed logins from one IP within the window that pause password login from it.
pub const MAX_PER_IP: i64 = 50;

impl App {
    /// Refuses a login attempt while its email or IP is paused. Reads only.
    pub(crate) async fn login_allowed(
        &self,
        email: &TokenHash,
        meta: &Meta,
    ) -> Result<(), AppError> {
        let since = Millis(Millis::now().0 - WINDOW_MS);
        let (by_email, by_ip) =
            logins::failures_since(&mut *self.store().read().await?, email, &meta.ip, since)
                .await?;
        if by_email >= MAX_PER_EMAIL || by_ip >= MAX_PER_IP {
            return Err(AppError::TooManyAttempts);
        }
        Ok(())
    }

    /// Records a failed login on the caller's transaction; when it is the one that reaches a
    /// known person's limit, alerts them and their accounts' Security Contacts (audit event
    /// `login.abnormal_attempts` in each account), in the same transaction.
    pub(crate) async fn login_failed(
        &self,
        c: &mut Conn,
        email: &TokenHash,
        person: Option<&PersonRow>,
        meta: &Meta,
        now: Millis,
    ) -> Result<(), AppError> {
        if let Some(p) = person {
            // Failures of one person counted one at a time, so exactly one reaches the limit.
            logins::lock_person(&mut *c, self.store().dialect(), p.id).await?;
        }
        let since = Millis(now.0 - WINDOW_MS);
        let id = uuid::Uuid::now_v7().to_string();
        logins::record_failure(&mut *c, &id, email, &meta.ip, now, since).await?;
        let Some(person) = person.filter(|p| p.active) else {
            return Ok(());
        };
        let (by_email, _) = logins::failures_since(&mut *c, email, &meta.ip, since).await?;
        if by_email != MAX_PER_EMAIL {
            return Ok(());
        }
        let minutes = WINDOW_MS / 60_000;
        let what = format!(
            "There were {MAX_PER_EMAIL} failed password sign-ins to your watchword login within \
             {minutes} minutes; password sign-in is paused for {minutes} minutes"
        );
        self.notify(
            c,
            person,
            "Repeated failed sign-ins to your watchword login",
            &what,
            "If it was you, wait and try again, or reset your password. Signing in with a passkey still works.",
            meta,
            now,
        )
        .await?;
        let event = events::system(None, "login.abnormal_attempts")
            .target("person", person.id)
            .details(serde_json::json!({
                "email": person.email,
                "failures": MAX_PER_EMAIL,
                "window_minutes": minutes,
                "last_ip": meta.ip,
            }));
        events::fan_out(&mut *c, person.id, event, now).await?;
        let base = self.settings().public_url.trim_end_matches('/').to_owned();
        for (account, member) in members::of_person_all(&mut *c, person.id).await? {
            if !member.grants_access(now) {
                continue;
            }
            let Some(contact) = self.contact_member(&mut *c, account.id).await? else {
                continue;
            };
            // The member was told already (their own notice).
            if contact.person_id == Some(person.id) {
                continue;
            }
            let audit_url = format!("{base}/accounts/{}/audit", account.id);
            let alert = LoginAttempts {
                name: contact.name.as_deref().unwrap_or(&contact.email),
                account: &account.name,
                member: &person.email,
                failures: MAX_PER_EMAIL,
                window_minutes: minutes,
                ip: &meta.ip,
                at: now,
                audit_url: &audit_url,
            };
            let t = Template::LoginAttempts(&alert);
            mail::enqueue(&mut *c, Some(account.id), &contact.email, &t, now).await?;
        }
        Ok(())
    }
}
