//! The outbox dispatcher: claims due messages (emails and SMS written inside the transactions
//! that caused them), delivers each through its channel, and retries with backoff.

use crate::App;
use crate::mail::Mailer;
use crate::sms::SmsSender;
use std::time::Duration;
use watchword_domain::Millis;
use watchword_store::{StoreError, outbox};

/// Attempts before an email is marked failed.
pub const MAX_ATTEMPTS: i64 = 12;
/// Attempts before an SMS is given up on: its code expires in minutes, so later tries are
/// pointless (retries 10, 20 and 40 s apart).
pub const MAX_SMS_ATTEMPTS: i64 = 4;

/// How often a node deletes old message records.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often the dispatcher measures the outbox for the metrics.
const MEASURE_EVERY: Duration = Duration::from_secs(10);

/// Where each channel's messages go.
#[derive(Clone)]
pub struct Outbound {
    pub mail: Mailer,
    pub sms: SmsSender,
}

/// Delay before attempt `attempts + 1`: 5 s doubling, at most an hour.
fn backoff_secs(attempts: i64) -> i64 {
    (5i64 << attempts.clamp(0, 10)).min(3600)
}

impl App {
    /// Claims due messages and delivers them; returns how many were sent.
    pub async fn dispatch_outbox_once(&self, out: &Outbound) -> Result<usize, StoreError> {
        let now = self.now();
        if !outbox::any_due(&mut *self.store().read().await?, now).await? {
            return Ok(0);
        }
        let mut tx = self.store().begin().await?;
        let batch = outbox::claim(
            &mut tx,
            self.store().dialect(),
            now,
            self.settings().outbox_lease_secs,
            20,
        )
        .await?;
        tx.commit().await?;
        // The batch's messages go out at once (SMTP connections come from lettre's pool): one
        // at a time, a node delivered 21 messages/s to a local SMTP server, each waiting for
        // its own round trips. Each is recorded as soon as its own delivery ends: a node that
        // dies after a message was accepted and before the record sends it again once the
        // lease ends, so that window is one commit, not the slowest message of the batch.
        let recorded = futures_util::future::join_all(batch.iter().map(|m| async move {
            let (result, max) = if m.channel == "sms" {
                (out.sms.deliver(m).await, MAX_SMS_ATTEMPTS)
            } else {
                (
                    out.mail.deliver(&self.with_phrase(m).await).await,
                    MAX_ATTEMPTS,
                )
            };
            self.record_delivery(m, result, max).await
        }))
        .await;
        let mut sent = 0;
        for r in recorded {
            sent += usize::from(r?);
        }
        Ok(sent)
    }

    /// Records how one delivery went: sent, or another attempt later, or given up after `max`.
    async fn record_delivery(
        &self,
        m: &outbox::Message,
        result: Result<(), String>,
        max: i64,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let sent = match result {
            Ok(()) => {
                outbox::mark_sent(&mut tx, m.id, now).await?;
                true
            }
            Err(e) => {
                let retry = (m.attempts < max).then(|| now.plus_secs(backoff_secs(m.attempts)));
                tracing::warn!(message_id = %m.id, channel = m.channel, attempts = m.attempts, error = %e, gave_up = retry.is_none(), "delivery failed");
                outbox::mark_failed_attempt(&mut tx, m.id, &e, retry).await?;
                false
            }
        };
        tx.commit().await?;
        Ok(sent)
    }

    /// Deletes the records of messages sent or given up on longer ago than the retention, in
    /// transactions of 5,000 (the million records of a large advisory never hold the writer
    /// at once).
    pub async fn prune_outbox(&self) -> Result<u64, StoreError> {
        const CHUNK: i64 = 5000;
        let before = Millis(self.now().0 - self.settings().outbox_retention_secs * 1000);
        let mut total = 0;
        loop {
            let mut tx = self.store().begin().await?;
            let n = outbox::prune(&mut tx, before, CHUNK).await?;
            tx.commit().await?;
            total += n;
            if n < CHUNK as u64 {
                return Ok(total);
            }
        }
    }

    /// The outbox's depth and the oldest waiting message's age, for the metrics.
    async fn measure_outbox(&self) {
        let Ok(mut c) = self.store().read().await else {
            return;
        };
        if let Ok((waiting, oldest)) = watchword_store::outbox::waiting(&mut c).await {
            let age = oldest.map_or(0.0, |t| (self.now().0 - t.0).max(0) as f64 / 1000.0);
            crate::metrics::outbox(waiting, age);
        }
    }

    /// Delivers forever: woken by commits on this node, and polling every `poll` for messages
    /// written by other nodes or due for retry. Prunes old records hourly and measures the
    /// outbox every 10 s.
    pub async fn run_outbox(self, out: Outbound, poll: Duration) {
        let mut pruned_at: Option<std::time::Instant> = None;
        let mut measured_at: Option<std::time::Instant> = None;
        loop {
            if pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(std::time::Instant::now());
                if let Err(e) = self.prune_outbox().await {
                    tracing::error!(error = %e, "outbox prune failed");
                }
            }
            if measured_at.is_none_or(|t| t.elapsed() >= MEASURE_EVERY) {
                measured_at = Some(std::time::Instant::now());
                self.measure_outbox().await;
            }
            match self.dispatch_outbox_once(&out).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "outbox dispatch failed"),
            }
            let _ = tokio::time::timeout(poll, self.inner.outbox_ready.notified()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_secs(0), 5);
        assert_eq!(backoff_secs(1), 10);
        assert_eq!(backoff_secs(20), 3600);
    }
}
