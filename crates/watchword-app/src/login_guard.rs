//! Password guessing: failed logins are counted per attempted email and per IP; past a limit,
//! password login is paused (`429 too_many_attempts`, the same for emails with and without a
//! login, and before any Argon2 work), and the moment a known person's limit is reached, the
//! person and the Security Contact of each of their accounts are alerted.

use crate::events::{self, EventExt};
use crate::limits::Limit;
use crate::mail::{self, LoginAttempts};
use crate::{App, AppError, Meta};
use watchword_domain::Millis;
use watchword_domain::audit::AuditAction;
use watchword_domain::token::TokenHash;
use watchword_store::rows::PersonRow;
use watchword_store::{Conn, members};

/// Password attempts of one email (failed or still being checked) that pause its password login.
pub const LOGINS_PER_EMAIL: Limit = Limit::new("login-email", 10, 15 * 60);
/// Password attempts from one IP that pause password login from it.
pub const LOGINS_PER_IP: Limit = Limit::new("login-ip", 50, 15 * 60);
pub const MAX_PER_EMAIL: i64 = LOGINS_PER_EMAIL.max;
const WINDOW_MS: i64 = LOGINS_PER_EMAIL.window_secs * 1000;

/// A login attempt's slot, taken before its password is checked.
pub(crate) struct LoginSlot {
    pub id: String,
    /// This attempt holds the email's last slot: if it fails, the person is alerted.
    pub last: bool,
}

impl App {
    /// Takes the attempt's slot for its email and its IP before any Argon2 work, or refuses
    /// (429, the same for emails with and without a login). A right password gives it back.
    pub(crate) async fn reserve_login(
        &self,
        email: &TokenHash,
        meta: &Meta,
    ) -> Result<LoginSlot, AppError> {
        let key = hex::encode(email);
        let (id, counts) = self
            .take_slot(
                &[(LOGINS_PER_EMAIL, &key), (LOGINS_PER_IP, &meta.ip)],
                |_| AppError::TooManyAttempts,
            )
            .await?;
        Ok(LoginSlot {
            id,
            last: counts[0] == LOGINS_PER_EMAIL.max,
        })
    }

    /// A failed login (its slot stays taken); when it held a known person's last slot, alerts
    /// them and their accounts' Security Contacts (audit event `login.abnormal_attempts` in
    /// each account), in the caller's transaction.
    pub(crate) async fn login_failed(
        &self,
        c: &mut Conn,
        slot: &LoginSlot,
        person: Option<&PersonRow>,
        meta: &Meta,
        now: Millis,
    ) -> Result<(), AppError> {
        if !slot.last {
            return Ok(());
        }
        let Some(person) = person.filter(|p| p.active) else {
            return Ok(());
        };
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
        let event = events::system(None, AuditAction::LoginAbnormalAttempts)
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
            let t = alert;
            mail::enqueue(&mut *c, Some(account.id), &contact.email, &t, now).await?;
        }
        Ok(())
    }
}
