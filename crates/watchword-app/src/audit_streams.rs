//! Audit streaming: an account's audit log POSTed, event by event, to its own SIEM. Each event is
//! queued for the account's streams in the transaction that writes it (nothing is lost on a
//! crash), delivered in order per stream — one event at a time, the next only once the SIEM
//! answered 2xx (at least once: a SIEM dedupes by the event id) — and retried with growing
//! backoff. A stream failing for 24 hours is paused (its queue dropped; the audit log keeps
//! everything) and the Security Contact is told. Each POST carries `X-Watchword-Signature:
//! sha256=<hex HMAC-SHA256 of the body>` under the stream's secret (shown once at creation,
//! kept sealed) and `X-Watchword-Event-Id`. Creating or deleting a stream is an administrative
//! change: `account_settings:edit` with a recent sign-in, audited, alerted.
//!
//! The email outbox is not reused as is: it passes over a failing message to send later ones,
//! which a stream must not (its order is the account's).

use crate::events::{self, EventExt};
use crate::{Actor, App, AppError};
use std::time::Duration;
use watchword_domain::audit::AuditAction;
use watchword_domain::*;
use watchword_store::audit;
use watchword_store::audit_streams as store;
pub use watchword_store::audit_streams::StreamRow;

/// Streams per account.
pub const MAX_STREAMS: usize = 5;
/// A stream failing this long is paused.
pub const PAUSE_AFTER_SECS: i64 = 24 * 3600;
const LEASE_SECS: i64 = 60;
const BATCH: i64 = 100;

/// Seconds before the next try after `attempts` failures in a row: 5 s doubling, at most 10 min.
pub fn backoff_secs(attempts: i64) -> i64 {
    (5i64 << attempts.clamp(0, 7)).min(600)
}

/// A stream's state in one word: `active`, `failing` or `paused`.
pub fn status(s: &StreamRow) -> &'static str {
    match (s.paused_at, s.failing_since) {
        (Some(_), _) => "paused",
        (None, Some(_)) => "failing",
        _ => "active",
    }
}

impl App {
    async fn stream_admin(
        &self,
        c: &mut watchword_store::Conn,
        actor: &Actor,
        account: AccountId,
        change: Option<&str>,
    ) -> Result<watchword_store::rows::AccountRow, AppError> {
        let access = self.access(c, actor, account).await?;
        access.require(Permission::AccountSettingsEdit)?;
        if let Some(what) = change {
            self.require_recent_auth(actor, what)?;
        }
        Ok(access.account)
    }

    pub async fn audit_streams(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Vec<StreamRow>, AppError> {
        let mut c = self.store().read().await?;
        self.stream_admin(&mut c, actor, account, None).await?;
        Ok(store::list(&mut c, account).await?)
    }

    /// A new stream to `url` (`https`, or `http` to a loopback address): the stream and its
    /// signing secret (shown this once).
    pub async fn create_audit_stream(
        &self,
        actor: &Actor,
        account: AccountId,
        url: &str,
    ) -> Result<(StreamRow, String), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let acc = self
            .stream_admin(&mut tx, actor, account, Some("stream the audit log"))
            .await?;
        // Checked once the caller may act here: to anyone else the account is not there.
        let url = url.trim().to_owned();
        let checked = match url.len() {
            0..=2000 => watchword_domain::sso::check_idp_url(&url, "url").map(|_| ()),
            _ => Err(DomainError::invalid("invalid_url", "too long")),
        };
        checked.map_err(|_| {
            DomainError::field(
                "invalid_url",
                "url",
                "an https URL (http only to a loopback address), without credentials",
            )
        })?;
        let allow_loopback = self.settings().outbound_allow_loopback;
        if crate::outbound::check(&url, allow_loopback).is_err() {
            return Err(DomainError::field(
                "private_address",
                "url",
                "an address of a private or reserved network cannot receive the audit log",
            )
            .into());
        }
        // Counted under the account's lock: two creations at once cannot both pass the cap.
        let key = format!("audit-streams:{account}");
        watchword_store::limits::lock(&mut tx, self.store().dialect(), &[&key]).await?;
        if store::list(&mut tx, account).await?.len() >= MAX_STREAMS {
            return Err(DomainError::conflict(
                "too_many_streams",
                format!("an account has at most {MAX_STREAMS} audit streams"),
            )
            .into());
        }
        let id = format!("ast_{}", uuid::Uuid::now_v7().simple());
        let secret = new_secret();
        let (key_id, sealed) = self.keyring().seal(secret.as_bytes(), &id);
        let row = StreamRow {
            id: id.clone(),
            account_id: account,
            url: url.clone(),
            secret_key_id: key_id,
            secret_sealed: sealed,
            created_by: Some(actor.person.to_string()),
            created_at: now,
            delivered: 0,
            last_delivered_at: None,
            failing_since: None,
            last_error: None,
            attempts: 0,
            paused_at: None,
            pending: 0,
        };
        store::insert(&mut tx, &row).await?;
        let event = events::by_actor(actor, account, AuditAction::AuditStreamCreated)
            .target("audit_stream", &id)
            .details(serde_json::json!({ "url": url }));
        audit::append(&mut tx, &event, now).await?;
        let what = format!("The audit log is now streamed to {url}");
        self.alert_contact(&mut tx, &acc, actor, &what, now).await?;
        tx.commit().await?;
        self.committed();
        Ok((row, secret))
    }

    pub async fn delete_audit_stream(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let acc = self
            .stream_admin(
                &mut tx,
                actor,
                account,
                Some("stop streaming the audit log"),
            )
            .await?;
        let stream = store::get(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        store::delete(&mut tx, id).await?;
        let event = events::by_actor(actor, account, AuditAction::AuditStreamDeleted)
            .target("audit_stream", id)
            .details(serde_json::json!({ "url": stream.url }));
        audit::append(&mut tx, &event, now).await?;
        let what = format!("The audit log is no longer streamed to {}", stream.url);
        self.alert_contact(&mut tx, &acc, actor, &what, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    /// Delivers what the streams due are owed; how many events were accepted.
    pub async fn deliver_audit_streams_once(&self) -> Result<usize, AppError> {
        let now = self.now();
        let claimed = {
            let mut tx = self.store().begin().await?;
            let claimed =
                store::claim(&mut tx, self.store().dialect(), now, LEASE_SECS, 10).await?;
            tx.commit().await?;
            claimed
        };
        let mut sent = 0;
        for stream in claimed {
            sent += self.deliver_stream(&stream).await?;
        }
        Ok(sent)
    }

    async fn deliver_stream(&self, stream: &StreamRow) -> Result<usize, AppError> {
        let secret = self
            .open_sealed(&stream.secret_key_id, &stream.secret_sealed, &stream.id)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| AppError::internal("an audit stream's secret does not open"))?;
        let events = store::oldest(&mut *self.store().read().await?, &stream.id, BATCH).await?;
        let mut sent = 0;
        // Within half the lease: past it another node could claim the stream and send out of
        // order. What is left waits for the next claim.
        let started = std::time::Instant::now();
        for (event_id, body) in events {
            if started.elapsed() > Duration::from_secs(LEASE_SECS as u64 / 2) {
                break;
            }
            let Ok(url) =
                crate::outbound::check(&stream.url, self.settings().outbound_allow_loopback)
            else {
                tracing::warn!(stream = %stream.id, "an audit stream's URL is not reachable by policy");
                break;
            };
            // The receiver compares it with its own wall clock: the real time, not the app's.
            let timestamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let mut post = self
                .inner
                .http
                .post(url)
                .header("content-type", "application/json")
                .header("webhook-id", &event_id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    webhook_signature(&secret, &event_id, timestamp, &body),
                );
            if secret.starts_with(LEGACY_PREFIX) {
                // Streams made before the Standard Webhooks format also keep their old header.
                post = post.header(
                    "x-watchword-signature",
                    crate::sms::signature(&secret, body.as_bytes()),
                );
            }
            let answer = post.body(body).send().await;
            let error = match answer {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(format!("the endpoint answered {}", r.status())),
                Err(e) => Some(format!(
                    "the endpoint could not be reached: {}",
                    e.without_url()
                )),
            };
            let now = self.now();
            let mut tx = self.store().begin().await?;
            match error {
                None => {
                    store::delivered(&mut tx, &stream.id, &event_id, now).await?;
                    tx.commit().await?;
                    sent += 1;
                }
                Some(error) => {
                    self.stream_failed(&mut tx, stream, &error, now).await?;
                    tx.commit().await?;
                    return Ok(sent);
                }
            }
        }
        let mut tx = self.store().begin().await?;
        store::release(&mut tx, &stream.id).await?;
        tx.commit().await?;
        Ok(sent)
    }

    /// A failed POST: tried again after a backoff, or paused (and the contact told) once the
    /// failures have lasted [`PAUSE_AFTER_SECS`].
    async fn stream_failed(
        &self,
        tx: &mut watchword_store::Conn,
        stream: &StreamRow,
        error: &str,
        now: Millis,
    ) -> Result<(), AppError> {
        let since = stream.failing_since.unwrap_or(now);
        if now.0 - since.0 < PAUSE_AFTER_SECS * 1000 {
            let next = now.plus_secs(backoff_secs(stream.attempts));
            store::failed(&mut *tx, &stream.id, error, next, now).await?;
            return Ok(());
        }
        if !store::pause(&mut *tx, &stream.id, now).await? {
            return Ok(());
        }
        let event = events::system(Some(stream.account_id), AuditAction::AuditStreamPaused)
            .target("audit_stream", &stream.id)
            .details(serde_json::json!({ "url": stream.url, "error": error }));
        audit::append(&mut *tx, &event, now).await?;
        if let Some(acc) = watchword_store::accounts::get(&mut *tx, stream.account_id).await? {
            let what = format!(
                "The audit stream to {} failed for 24 hours ({error}) and is paused: events are \
                 no longer sent to it; the audit log keeps them",
                stream.url
            );
            self.alert_system(&mut *tx, &acc, &what, "watchword", "", now)
                .await?;
        }
        Ok(())
    }

    /// The streams' lag and failures, for the metrics.
    async fn measure_streams(&self) {
        let Ok(mut c) = self.store().read().await else {
            return;
        };
        if let Ok((oldest, failing)) = store::lag(&mut c).await {
            let age = oldest.map_or(0.0, |t| (self.now().0 - t.0).max(0) as f64 / 1000.0);
            crate::metrics::streams(age, failing as usize);
        }
    }

    /// Runs [`App::deliver_audit_streams_once`] every `every`, forever.
    pub async fn run_audit_streams(self, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let delivered = self.deliver_audit_streams_once().await;
            crate::metrics::job_run("audit_streams", delivered.is_ok());
            self.measure_streams().await;
            if let Err(e) = delivered {
                tracing::warn!(error = %e, "delivering audit streams failed");
            }
        }
    }
}

/// The prefix of a stream secret made before deliveries followed Standard Webhooks.
const LEGACY_PREFIX: &str = "wwss_";

/// A stream's signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes in
/// base64 (any Standard Webhooks library takes it as it is).
fn new_secret() -> String {
    use base64::Engine;
    let key = watchword_domain::token::random_key();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// The `webhook-signature` of a delivery (Standard Webhooks v1): base64 HMAC-SHA256 of
/// `id.timestamp.body`, so a captured delivery cannot be sent again under a new id or time.
/// The key is the secret's base64 part; an older `wwss_` secret is its own key.
fn webhook_signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = match secret.strip_prefix("whsec_") {
        Some(k) => b64.decode(k).unwrap_or_default(),
        None => secret.as_bytes().to_vec(),
    };
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", b64.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signatures_follow_standard_webhooks() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            webhook_signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(new_secret().starts_with("whsec_"));
    }
}
