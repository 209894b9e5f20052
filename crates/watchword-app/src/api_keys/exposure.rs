//! Keys that end: expiry recorded as it passes, and exposed keys reported by a partner
//! (signed), revoked or flagged, with the Security Contact and the key's creator told.

use crate::events::{self, EventExt};
use crate::mail::{self, KeyExposed};
use crate::{App, AppError, Meta};
use watchword_domain::api_key::{self};
use watchword_domain::audit::AuditAction;
use watchword_domain::token::hash_token;
use watchword_domain::*;
use watchword_store::api_keys::{self as store};
use watchword_store::{accounts, audit, members};

impl App {
    /// Records `api_key.expired` for every key whose expiry passed; each key once, even with
    /// several nodes running this. Returns how many were recorded.
    pub async fn record_key_expiries(&self, now: Millis) -> Result<usize, AppError> {
        let mut total = 0;
        loop {
            let mut tx = self.store().begin().await?;
            let keys = store::claim_expired(&mut tx, self.store().dialect(), now, 500).await?;
            for k in &keys {
                let event = events::system(Some(k.account_id), AuditAction::ApiKeyExpired)
                    .target("api_key", &k.id)
                    .details(serde_json::json!({
                        "expired_at": k.expires_at.map(|m| m.rfc3339()),
                        "replaced_by": k.replaced_by,
                    }));
                audit::append(&mut tx, &event, now).await?;
            }
            tx.commit().await?;
            total += keys.len();
            if keys.len() < 500 {
                return Ok(total);
            }
        }
    }

    /// Runs `record_key_expiries` every `every`, forever.
    pub async fn run_key_expiry(self, every: std::time::Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let recorded = self.record_key_expiries(self.now()).await;
            crate::metrics::job_run("key_expiry", recorded.is_ok());
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "recording API key expiries failed");
            }
        }
    }

    /// Whether a partner's report is signed with the configured secret: the header value is
    /// `sha256=<hex of HMAC-SHA256 over the raw body>` (checked in constant time).
    pub fn exposure_report_authentic(&self, body: &[u8], signature: Option<&str>) -> bool {
        use hmac::Mac;
        let (Some(secret), Some(sig)) = (&self.settings().exposure_report_secret, signature) else {
            return false;
        };
        let Some(Ok(sig)) = sig.trim().strip_prefix("sha256=").map(hex::decode) else {
            return false;
        };
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.0.as_bytes()) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    }

    /// Handles one report of an exposed key from a scanning partner: unknown and revoked keys
    /// change nothing; a real key gets an audit event, emails to the Security Contact and its
    /// creator, and revocation where the account chose that.
    pub async fn key_exposed(
        &self,
        token: &str,
        url: &str,
        source: &str,
        meta: &Meta,
    ) -> Result<(), AppError> {
        if watchword_domain::oauth::is_access_token(token) {
            return self.oauth_token_exposed(token, url, source, meta).await;
        }
        if !api_key::is_well_formed(&self.settings().api_key_prefix, token) {
            return Ok(());
        }
        let hash = hash_token(token);
        let Some(found) = store::by_secret_hash(&mut *self.store().read().await?, &hash).await?
        else {
            return Ok(());
        };
        let now = self.now();
        let account = found.account_id;
        let mut tx = self.store().begin().await?;
        let Some(key) =
            store::get_for_update(&mut tx, self.store().dialect(), account, &found.id).await?
        else {
            return Ok(());
        };
        if key.revoked_at.is_some() {
            return Ok(());
        }
        let settings = store::settings(&mut tx, account).await?;
        let revoke = settings.auto_revoke_exposed;
        let mut event = events::system(Some(account), AuditAction::ApiKeyExposed)
            .target("api_key", &key.id)
            .details(serde_json::json!({ "url": url, "source": source, "auto_revoked": revoke }));
        event.ip = Some(meta.ip.clone());
        audit::append(&mut tx, &event, now).await?;
        store::mark_exposed(&mut tx, &key.id, now).await?;
        if revoke {
            store::revoke(&mut tx, &key.id, "exposed", now).await?;
            watchword_store::changes::announce(&mut tx, &key.id).await?;
            let event = events::system(Some(account), AuditAction::ApiKeyRevoked)
                .target("api_key", &key.id)
                .details(serde_json::json!({ "reason": "exposed" }));
            audit::append(&mut tx, &event, now).await?;
        }
        let account_name = accounts::get(&mut tx, account)
            .await?
            .map(|a| a.name)
            .unwrap_or_default();
        let mut to: Vec<(String, String)> = Vec::new();
        if let Some(m) = self.contact_member(&mut tx, account).await? {
            to.push((m.email.clone(), m.name.unwrap_or(m.email)));
        }
        if let Some(p) = key.created_by
            && let Some(m) = members::of_person(&mut tx, account, p).await?
            && m.grants_access(now)
            && !to.iter().any(|(e, _)| *e == m.email)
        {
            to.push((m.email.clone(), m.name.unwrap_or(m.email)));
        }
        let keys_url = format!(
            "{}/accounts/{account}/api-keys",
            self.settings().public_url.trim_end_matches('/')
        );
        for (email, name) in &to {
            let t = KeyExposed {
                name,
                account: &account_name,
                key_name: &key.name,
                key_id: &key.id,
                url,
                source,
                revoked: revoke,
                keys_url: &keys_url,
            };
            mail::enqueue(&mut tx, Some(account), email, &t, now).await?;
        }
        tx.commit().await?;
        self.committed();
        if revoke {
            self.keys_changed();
        }
        Ok(())
    }

    /// An exposed OAuth access token (expired or not): its grant is revoked at once (every
    /// token of it; the app asks again), audited, and the Security Contact is told.
    async fn oauth_token_exposed(
        &self,
        token: &str,
        url: &str,
        source: &str,
        meta: &Meta,
    ) -> Result<(), AppError> {
        let ring = self.keyring();
        let ring = &*ring;
        let Some(claims) = watchword_domain::oauth::read_access(ring, token) else {
            return Ok(());
        };
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let Some(grant) = watchword_store::oauth::grant(&mut tx, &claims.grant_id).await? else {
            return Ok(());
        };
        if !watchword_store::oauth::revoke_grant(&mut tx, &grant.id, "exposed", now).await? {
            return Ok(());
        }
        watchword_store::changes::announce(&mut tx, &grant.id).await?;
        let Some(account) = AccountId::parse(&grant.account_id) else {
            return Ok(());
        };
        let mut event = events::system(Some(account), AuditAction::OauthRevoked)
            .target("oauth_grant", &grant.id)
            .details(serde_json::json!({
                "app": grant.app_id, "by": "exposure_report", "url": url, "source": source,
            }));
        event.ip = Some(meta.ip.clone());
        audit::append(&mut tx, &event, now).await?;
        if let Some(acc) = accounts::get(&mut tx, account).await? {
            let what = format!(
                "An OAuth access token of the app {} was found exposed ({url}): the app's access \
                 to the account is revoked",
                grant.app_id
            );
            let by = format!("a secret-scanning partner ({source})");
            self.alert_system(&mut tx, &acc, &what, &by, &meta.ip, now)
                .await?;
        }
        tx.commit().await?;
        self.committed();
        self.keys_changed();
        Ok(())
    }
}
