//! The hot path: a presented key verified (cached per node, batched loads, revocation
//! broadcast), its use recorded (coalesced), and introspection for the operator's services.

use super::*;
use crate::{App, AppError, Meta};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use watchword_domain::api_key::{KeyKind, KeyState};
use watchword_domain::token::{TokenHash, hash_token};
use watchword_domain::*;
use watchword_store::api_keys::{self as store, KeyRow};

impl App {
    /// Keeps this node's key cache in step with other nodes (PostgreSQL LISTEN); call once at
    /// start. Returns once listening.
    pub async fn watch_key_changes(&self) -> Result<(), AppError> {
        let app = self.clone();
        self.store()
            .listen(store::CHANGES_CHANNEL, move |heard| app.heard(heard))
            .await?;
        Ok(())
    }

    /// Checks a presented API key or OAuth access token: format and checksum first (no
    /// database), then this node's cache, then the database (a key's row; an access token's
    /// seal, then its grant). Writes nothing on the request path.
    pub async fn verify_api_key(
        &self,
        key: &str,
        meta: &Meta,
    ) -> Result<Arc<VerifiedKey>, AppError> {
        self.verify_key_of(key, meta, KeyKind::Api).await
    }

    /// [`App::verify_api_key`] for a key of `kind`: a key of another kind is unknown here (a SCIM
    /// token does nothing on the API, an API key nothing on SCIM). An API key or access token
    /// presented from outside its account's trusted networks is refused (`403
    /// network_not_allowed`); a SCIM token comes from the IdP's cloud and is not held to them.
    pub(crate) async fn verify_key_of(
        &self,
        key: &str,
        meta: &Meta,
        kind_wanted: KeyKind,
    ) -> Result<Arc<VerifiedKey>, AppError> {
        let v = self.verified_key(key, meta, kind_wanted).await?;
        let r = &v.row;
        if r.kind == KeyKind::Api && !v.account.networks.admits(&meta.ip) {
            let kind = if r.grant_id.is_some() {
                "oauth_grant"
            } else {
                "api_key"
            };
            let event = crate::events::by_key(
                &r.id,
                meta,
                r.account_id,
                watchword_domain::audit::AuditAction::AccountNetworkRefused,
            );
            let event = crate::events::EventExt::target(event, kind, &r.id);
            self.network_refused(&v.account, event, &format!("the {kind} {}", r.id));
            return Err(crate::access::not_allowed());
        }
        Ok(v)
    }

    /// A key's state (known, of `kind`, neither revoked nor expired), wherever it is presented.
    async fn verified_key(
        &self,
        key: &str,
        meta: &Meta,
        kind_wanted: KeyKind,
    ) -> Result<Arc<VerifiedKey>, AppError> {
        if !self.is_key_token(key) {
            return Err(AppError::ApiKey(KeyRejected::Unknown));
        }
        let hash = hash_token(key);
        let now = self.now();
        let cache = &self.inner.keys.entries;
        let kind = if watchword_domain::oauth::is_access_token(key) {
            crate::metrics::Credential::AccessToken
        } else {
            crate::metrics::Credential::ApiKey
        };
        let verified = match cache.get(&hash, now) {
            Some(v) => {
                crate::metrics::credential_check(kind, true);
                v
            }
            None => {
                crate::metrics::credential_check(kind, false);
                let generation = cache.generation();
                let mut claims = watchword_domain::oauth::read_access(&self.keyring(), key);
                // Minted under a key another node added: read the key file again, once.
                if claims.is_none()
                    && watchword_domain::oauth::is_access_token(key)
                    && self.reload_keyring()
                {
                    claims = watchword_domain::oauth::read_access(&self.keyring(), key);
                }
                let row = match claims {
                    Some(claims) => self.access_token_row(claims, now).await?,
                    None if watchword_domain::oauth::is_access_token(key) => None,
                    None => self.load_key(hash).await?,
                }
                .ok_or(AppError::ApiKey(KeyRejected::Unknown))?;
                let (effective, account) = {
                    let mut c = self.store().read().await?;
                    let held = self
                        .maker_scopes(&mut c, row.account_id, row.created_by)
                        .await?;
                    let account = watchword_store::accounts::get(&mut c, row.account_id)
                        .await?
                        .ok_or(AppError::ApiKey(KeyRejected::Unknown))?;
                    (row.scopes.intersect(held), account)
                };
                let v = Arc::new(VerifiedKey {
                    effective,
                    account,
                    permissions: effective.permissions(),
                    used_at: AtomicI64::new(row.last_used_at.map_or(0, |m| m.0)),
                    rendered: OnceLock::new(),
                    row,
                });
                cache.put(hash, v.clone(), generation, now);
                v
            }
        };
        if verified.row.kind != kind_wanted {
            return Err(AppError::ApiKey(KeyRejected::Unknown));
        }
        let r = &verified.row;
        let rejected = match KeyState::of(now, r.expires_at, r.revoked_at, r.replaced_by.is_some())
        {
            KeyState::Revoked => Some(KeyRejected::Revoked),
            KeyState::Expired => Some(KeyRejected::Expired),
            KeyState::Active | KeyState::Expiring => None,
        };
        if let Some(why) = rejected {
            let actor = KeyActor {
                key: verified.clone(),
                meta: meta.clone(),
            };
            let reason = if why == KeyRejected::Revoked {
                "revoked"
            } else {
                "expired"
            };
            self.key_failed(&actor, reason, serde_json::json!({}));
            return Err(AppError::ApiKey(why));
        }
        self.touch_key(&verified, now, meta);
        Ok(verified)
    }

    /// The key with this digest, read in a batch with other keys missing from the cache.
    pub(super) async fn load_key(&self, hash: TokenHash) -> Result<Option<KeyRow>, AppError> {
        let (answer, opened) = self.inner.keys.loader.enqueue_read(hash);
        if opened {
            // Read by a task of its own, so the batch is answered even if this request is dropped.
            let app = self.clone();
            tokio::spawn(async move { app.inner.keys.loader.read(app.store()).await });
        }
        answer
            .await
            .map_err(|_| AppError::internal("API key read abandoned"))?
            .map_err(AppError::Internal)
    }

    /// Writes the key uses still queued (a clean shutdown calls this so none is lost).
    pub async fn flush_key_uses(&self) {
        self.inner.keys.loader.write_queued(self.store()).await;
    }

    /// Records a key's use at most once a minute per node, off the request path (batched).
    pub(super) fn touch_key(&self, key: &Arc<VerifiedKey>, now: Millis, meta: &Meta) {
        let last = key.used_at.load(Ordering::Relaxed);
        if now.0 - last < TOUCH_EVERY_MS
            || key
                .used_at
                .compare_exchange(last, now.0, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let loader = &self.inner.keys.loader;
        if loader.enqueue_use(key.row.id.clone(), now, meta.ip.clone()) {
            let app = self.clone();
            tokio::spawn(async move { app.inner.keys.loader.write_uses(app.store()).await });
        }
    }

    /// RFC 7662 introspection for the operator's backends: what a key or session token is now.
    /// The caller proves itself with the configured operator credential.
    pub async fn introspect(
        &self,
        credential: Option<&str>,
        token: &str,
        meta: &Meta,
    ) -> Result<Introspection, AppError> {
        let expected = self.settings().introspection_secret.as_ref();
        let ok = match (expected, credential) {
            (Some(e), Some(c)) => token::constant_time_eq(&hash_token(&e.0), &hash_token(c)),
            _ => false,
        };
        if !ok {
            return Err(AppError::Unauthenticated);
        }
        if self.is_key_token(token) {
            // The caller is the operator's backend, not the key's holder: the key's state only.
            return match self.verified_key(token, meta, KeyKind::Api).await {
                Ok(k) => Ok(Introspection::Key(k)),
                Err(AppError::ApiKey(_)) => Ok(Introspection::Inactive),
                Err(e) => Err(e),
            };
        }
        match self.authenticate(token, meta).await {
            Ok((_, auth)) => Ok(Introspection::Session(auth)),
            Err(AppError::Unauthenticated) => Ok(Introspection::Inactive),
            Err(e) => Err(e),
        }
    }
}
