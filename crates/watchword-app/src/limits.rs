//! Named rate limits over [`watchword_store::limits`]: each takes its slot before the work it
//! limits, in a transaction of its own, so parallel requests cannot overrun it.

use crate::{App, AppError};
use watchword_domain::Millis;
pub(crate) use watchword_store::limits::take;
use watchword_store::limits::{self as store, Bucket};

/// At most `max` within `window_secs`, per key (an email hash, an IP, a person, an account).
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub name: &'static str,
    pub max: i64,
    pub window_secs: i64,
}

impl Limit {
    pub const fn new(name: &'static str, max: i64, window_secs: i64) -> Self {
        Self {
            name,
            max,
            window_secs,
        }
    }

    pub(crate) fn bucket(&self, key: &str, now: Millis) -> Bucket {
        Bucket {
            key: format!("{}:{key}", self.name),
            max: self.max,
            since: Millis(now.0 - self.window_secs * 1000),
        }
    }
}

/// Signups asked for from one IP in an hour.
pub const SIGNUPS_PER_IP: Limit = Limit::new("signup-ip", 10, 3600);
/// Signup emails to one address in an hour (a verification link or a "you have a login" note).
pub const SIGNUP_MAILS_PER_EMAIL: Limit = Limit::new("signup-email", 3, 3600);
/// Emails telling a person that one of their authenticator codes was entered again.
pub const REPLAY_NOTICES_PER_PERSON: Limit = Limit::new("totp-replay-notice", 1, 3600);
/// Password-reset emails to one address in an hour, and reset requests from one IP.
pub const RESET_MAILS_PER_EMAIL: Limit = Limit::new("reset-email", 3, 3600);
pub const RESETS_PER_IP: Limit = Limit::new("reset-ip", 20, 3600);
/// Email-change mails per person in an hour (a link, or a notice to a taken address's holder).
pub const EMAIL_CHANGES_PER_PERSON: Limit = Limit::new("email-change-person", 5, 3600);
/// Notices to the holder of a taken address in a day, whoever asks.
pub const TAKEN_NOTICES_PER_EMAIL: Limit = Limit::new("taken-notice-email", 1, 86_400);
/// Accounts a signed-in person creates in a day.
pub const ACCOUNTS_PER_PERSON: Limit = Limit::new("accounts-person", 10, 86_400);
/// Invitations an account sends in an hour.
pub const INVITATIONS_PER_ACCOUNT: Limit = Limit::new("invitations-account", 50, 3600);
/// Setup links one account emails a day (each goes to an address the Owner types).
pub const SETUP_LINKS_PER_ACCOUNT: Limit = Limit::new("setup-links-account", 10, 24 * 3600);
/// SSO sign-ins started from one IP (each writes a short-lived request row).
pub const SSO_STARTS_PER_IP: Limit = Limit::new("sso-start-ip", 60, 10 * 60);
/// Wrong client secrets presented for one OAuth client from one IP in 5 minutes.
pub const OAUTH_CLIENT_FAILURES: Limit = Limit::new("oauth-client-ip", 20, 5 * 60);
/// Wrong secrets counted for one client from every address within 5 minutes; past it they are
/// no longer counted (the right secret is never refused for it).
pub const OAUTH_CLIENT_CEILING: Limit = Limit::new("oauth-client", 1000, 5 * 60);
/// Wrong current passwords of one person (step-up, password change, factor removal) in 15
/// minutes.
pub const PASSWORD_CHECKS_PER_PERSON: Limit = Limit::new("password-check", 10, 15 * 60);

impl App {
    /// Takes a slot in each of `limits` (one key each) in a transaction of its own; refuses with
    /// `refused` when one is full. Returns the slot id and the counts after taking.
    pub(crate) async fn take_slot(
        &self,
        limits: &[(Limit, &str)],
        refused: impl FnOnce(Limit) -> AppError,
    ) -> Result<(String, Vec<i64>), AppError> {
        let now = self.now();
        let id = uuid::Uuid::now_v7().to_string();
        let buckets: Vec<Bucket> = limits.iter().map(|(l, k)| l.bucket(k, now)).collect();
        let mut tx = self.store().begin().await?;
        match store::take(&mut tx, self.store().dialect(), &id, &buckets, now).await? {
            Ok(counts) => {
                tx.commit().await?;
                Ok((id, counts))
            }
            Err(i) => {
                crate::metrics::limit_hit(limits[i].0.name);
                Err(refused(limits[i].0))
            }
        }
    }

    /// Gives a slot back (the attempt it held did not count, e.g. a right password).
    pub(crate) async fn give_back(&self, id: &str) -> Result<(), AppError> {
        let mut tx = self.store().begin().await?;
        store::give_back(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The answer for a full mail limit: the same 429 whoever the address belongs to.
pub(crate) fn too_many_mails(_: Limit) -> AppError {
    AppError::RateLimited(
        "too_many_requests",
        "too many requests for this address or from this network; try again later".into(),
    )
}
