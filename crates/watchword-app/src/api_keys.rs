//! API keys: creating, cloning, rotating and revoking them, verifying them on the hot path, their
//! expiry, reports of exposed keys, and introspection for the operator's backends.

use crate::cache::AuthCache;
use crate::events::{self, EventExt};
use crate::key_loader::KeyLoader;
use crate::mail::{self, KeyExposed};
use crate::{Actor, App, AppError, Caller, Meta};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use watchword_domain::api_key::{self, KeyState};
use watchword_domain::audit::AuditAction;
use watchword_domain::scope::{Preset, ScopeSet};
use watchword_domain::token::{TokenHash, hash_token};
use watchword_domain::*;
use watchword_store::api_keys::{self as store, KeyRow, KeySettings, NewKey};
use watchword_store::rows::AccountRow;
use watchword_store::{Conn, accounts, audit, members};

/// How often at most a key's last use is written, per node.
const TOUCH_EVERY_MS: i64 = 60_000;
/// A failed use of a key is audited at most this often per key and reason, per node.
const FAILURE_EVENT_EVERY_MS: i64 = 60_000;
pub const DEFAULT_GRACE_SECS: i64 = 24 * 3600;
pub const MAX_GRACE_SECS: i64 = 30 * 24 * 3600;
const MAX_LIFETIME_DAYS: i64 = 3650;

/// A key that exists, as the hot path sees it (cached per node).
#[derive(Debug)]
pub struct VerifiedKey {
    pub row: KeyRow,
    pub permissions: PermissionSet,
    used_at: AtomicI64,
    /// The HTTP layer's rendering of this key (the whoami body), computed once per cache fill.
    pub rendered: OnceLock<Vec<u8>>,
}

/// A request authenticated with an API key.
#[derive(Debug, Clone)]
pub struct KeyActor {
    pub key: Arc<VerifiedKey>,
    pub meta: Meta,
}

pub(crate) struct KeyCache {
    entries: AuthCache<VerifiedKey>,
    loader: KeyLoader,
    failures: Mutex<HashMap<(String, &'static str), i64>>,
}

impl KeyCache {
    pub(crate) fn new(ttl_ms: i64) -> Self {
        Self {
            entries: AuthCache::new(100_000, ttl_ms),
            loader: KeyLoader::new(),
            failures: Mutex::new(HashMap::new()),
        }
    }
    pub(crate) fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }
    /// True when this failure should be audited now (coalesced per key and reason).
    fn failure_due(&self, key: &str, reason: &'static str, now: Millis) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, at| now.0 - *at < FAILURE_EVENT_EVERY_MS);
        }
        let last = map.entry((key.to_owned(), reason)).or_insert(i64::MIN);
        if now.0.saturating_sub(*last) < FAILURE_EVENT_EVERY_MS {
            return false;
        }
        *last = now.0;
        true
    }
}

/// A key as lists show it.
#[derive(Debug, Clone)]
pub struct KeyView {
    pub row: KeyRow,
    pub state: KeyState,
    pub flags: Vec<&'static str>,
}

/// A new key: the secret is in this value only, never stored.
#[derive(Debug)]
pub struct IssuedKey {
    pub key: KeyView,
    pub secret: String,
}

pub struct NewKeyRequest {
    pub name: String,
    /// Scope names; None means the preset (or read-only when no preset either).
    pub scopes: Option<Vec<String>>,
    /// `full` or `read_only`, relative to the creator's permissions.
    pub preset: Option<String>,
    pub expires_in_days: Option<i64>,
}

/// What introspection tells the operator's backend about a token.
#[derive(Debug)]
pub enum Introspection {
    Inactive,
    Key(Arc<VerifiedKey>),
    Session(Arc<crate::auth::Authenticated>),
}

/// Why a presented key does not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRejected {
    Unknown,
    Expired,
    Revoked,
}

impl KeyRejected {
    pub fn code(self) -> &'static str {
        match self {
            KeyRejected::Unknown => "invalid_api_key",
            KeyRejected::Expired => "api_key_expired",
            KeyRejected::Revoked => "api_key_revoked",
        }
    }
}

fn view(row: KeyRow, now: Millis, rotation_days: Option<i64>) -> KeyView {
    let state = KeyState::of(
        now,
        row.expires_at,
        row.revoked_at,
        row.replaced_by.is_some(),
    );
    let flags = if state.works() {
        api_key::flags(now, row.created_at, row.last_used_at, rotation_days)
    } else {
        Vec::new()
    };
    KeyView { row, state, flags }
}

fn key_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(DomainError::field(
            "invalid_name",
            "name",
            "a key name has 1 to 100 characters and no control characters",
        )
        .into());
    }
    Ok(name.to_owned())
}

fn lifetime(days: Option<i64>) -> Result<Option<i64>, AppError> {
    match days {
        None => Ok(None),
        Some(d) if (1..=MAX_LIFETIME_DAYS).contains(&d) => Ok(Some(d * 24 * 3600)),
        Some(_) => Err(DomainError::field(
            "invalid_expiry",
            "expires_in_days",
            format!("expires_in_days is 1 to {MAX_LIFETIME_DAYS}, or absent for no expiry"),
        )
        .into()),
    }
}

/// The scopes a request asks for, which must lie within what the creator holds.
fn resolve_scopes(req: &NewKeyRequest, held: PermissionSet) -> Result<ScopeSet, AppError> {
    let scopes = match (&req.scopes, &req.preset) {
        (Some(_), Some(_)) => {
            return Err(DomainError::field(
                "scopes_and_preset",
                "preset",
                "give either scopes or a preset, not both",
            )
            .into());
        }
        (Some(names), None) => {
            let set = ScopeSet::parse_all(names.iter().map(String::as_str)).map_err(|n| {
                DomainError::field("unknown_scope", "scopes", format!("no scope {n:?}"))
            })?;
            if set.is_empty() {
                return Err(DomainError::field(
                    "scopes_empty",
                    "scopes",
                    "a key needs at least one scope",
                )
                .into());
            }
            set
        }
        (None, preset) => {
            let p = match preset.as_deref() {
                None => Preset::ReadOnly,
                Some(p) => Preset::parse(p).ok_or_else(|| {
                    DomainError::field("unknown_preset", "preset", "preset is full or read_only")
                })?,
            };
            ScopeSet::preset(p, held)
        }
    };
    check_within(scopes, held)?;
    Ok(scopes)
}

fn check_within(scopes: ScopeSet, held: PermissionSet) -> Result<(), AppError> {
    let beyond: Vec<String> = scopes
        .to_strings()
        .into_iter()
        .filter(|s| {
            let one = ScopeSet::parse_all([s.as_str()]).unwrap_or_default();
            !one.permissions().is_subset_of(held)
        })
        .collect();
    if beyond.is_empty() {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "privilege_escalation",
            format!(
                "a key cannot have scopes beyond your own permissions: {}",
                beyond.join(", ")
            ),
        )
        .into())
    }
}

/// `api_key_rotation_days` is 1 to 3650, or null for none.
pub fn check_rotation_days(days: Option<Option<i64>>) -> Result<(), AppError> {
    match days {
        Some(Some(d)) if !(1..=3650).contains(&d) => Err(DomainError::field(
            "invalid_rotation_period",
            "api_key_rotation_days",
            "api_key_rotation_days is 1 to 3650, or null for none",
        )
        .into()),
        _ => Ok(()),
    }
}

fn insufficient_scope(scope: &str) -> AppError {
    DomainError::forbidden(
        "insufficient_scope",
        format!("this API key lacks the {scope} scope"),
    )
    .into()
}

impl App {
    fn keys_changed(&self) {
        self.inner.keys.invalidate_all();
    }

    /// Keeps this node's key cache in step with other nodes (PostgreSQL LISTEN); call once at
    /// start. Returns once listening.
    pub async fn watch_key_changes(&self) -> Result<(), AppError> {
        let app = self.clone();
        self.store()
            .listen(store::CHANGES_CHANNEL, move || app.keys_changed())
            .await?;
        Ok(())
    }

    /// The account a caller may act in when it holds `need` (a person) or `scope` (a key). A
    /// key never reaches another account than its own.
    pub(crate) async fn authorize(
        &self,
        c: &mut Conn,
        caller: &Caller,
        account: AccountId,
        need: Permission,
        scope: &'static str,
    ) -> Result<AccountRow, AppError> {
        match caller {
            Caller::Person(actor) => {
                let access = self.access(c, actor, account).await?;
                access.require(need)?;
                Ok(access.account)
            }
            Caller::Key(k) => {
                if k.key.row.account_id != account {
                    self.key_failed(
                        k,
                        "other_account",
                        serde_json::json!({ "account_id": account }),
                    );
                    return Err(AppError::NotFound);
                }
                if !k.key.row.scopes.allows(scope) {
                    self.key_failed(
                        k,
                        "insufficient_scope",
                        serde_json::json!({ "scope": scope }),
                    );
                    return Err(insufficient_scope(scope));
                }
                accounts::get(c, account).await?.ok_or(AppError::NotFound)
            }
        }
    }

    /// Checks a presented API key: format and checksum first (no database), then this node's
    /// cache, then the database. Writes nothing on the request path.
    pub async fn verify_api_key(
        &self,
        key: &str,
        meta: &Meta,
    ) -> Result<Arc<VerifiedKey>, AppError> {
        if !api_key::is_well_formed(&self.settings().api_key_prefix, key) {
            return Err(AppError::ApiKey(KeyRejected::Unknown));
        }
        let hash = hash_token(key);
        let now = Millis::now();
        let cache = &self.inner.keys.entries;
        let verified = match cache.get(&hash, now) {
            Some(v) => v,
            None => {
                let generation = cache.generation();
                let row = self
                    .load_key(hash)
                    .await?
                    .ok_or(AppError::ApiKey(KeyRejected::Unknown))?;
                let v = Arc::new(VerifiedKey {
                    permissions: row.scopes.permissions(),
                    used_at: AtomicI64::new(row.last_used_at.map_or(0, |m| m.0)),
                    rendered: OnceLock::new(),
                    row,
                });
                cache.put(hash, v.clone(), generation, now);
                v
            }
        };
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
    async fn load_key(&self, hash: TokenHash) -> Result<Option<KeyRow>, AppError> {
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
    fn touch_key(&self, key: &Arc<VerifiedKey>, now: Millis, meta: &Meta) {
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

    /// Audits a failed use of a key (wrong scope or account, expired, revoked), coalesced so a
    /// misbehaving client cannot flood the log; off the request path.
    fn key_failed(&self, k: &KeyActor, reason: &'static str, details: serde_json::Value) {
        let now = Millis::now();
        if !self.inner.keys.failure_due(&k.key.row.id, reason, now) {
            return;
        }
        let mut event = events::by_key(
            &k.key.row.id,
            &k.meta,
            k.key.row.account_id,
            AuditAction::ApiKeyDenied,
        )
        .target("api_key", &k.key.row.id);
        event.details = serde_json::json!({ "reason": reason, "detail": details });
        self.write_in_background("audit a failed API key use", move |c| {
            Box::pin(async move { audit::append(c, &event, now).await.map(|_| ()) })
        });
    }

    pub async fn list_api_keys(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> Result<Vec<KeyView>, AppError> {
        let mut c = self.store().read().await?;
        self.authorize(
            &mut c,
            caller,
            account,
            Permission::ApiKeysManage,
            "api_keys:read",
        )
        .await?;
        let settings = store::settings(&mut c, account).await?;
        let now = Millis::now();
        Ok(store::list(&mut c, account)
            .await?
            .into_iter()
            .map(|r| view(r, now, settings.rotation_days))
            .collect())
    }

    pub async fn get_api_key(
        &self,
        caller: &Caller,
        account: AccountId,
        id: &str,
    ) -> Result<KeyView, AppError> {
        let mut c = self.store().read().await?;
        self.authorize(
            &mut c,
            caller,
            account,
            Permission::ApiKeysManage,
            "api_keys:read",
        )
        .await?;
        let settings = store::settings(&mut c, account).await?;
        let row = store::get(&mut c, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(view(row, Millis::now(), settings.rotation_days))
    }

    /// Creates a key. Needs `api_keys:manage` and a recent authentication; scopes never exceed
    /// the creator's permissions.
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        account: AccountId,
        req: NewKeyRequest,
    ) -> Result<IssuedKey, AppError> {
        self.require_recent_auth(actor, "create an API key")?;
        let name = key_name(&req.name)?;
        let lifetime = lifetime(req.expires_in_days)?;
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        let access = self.access(&mut tx, actor, account).await?;
        access.require(Permission::ApiKeysManage)?;
        let scopes = resolve_scopes(&req, access.permissions())?;
        let issued = self
            .insert_key(&mut tx, actor, account, &name, scopes, lifetime, None, now)
            .await?;
        let event = events::by_actor(actor, account, AuditAction::ApiKeyCreated)
            .target("api_key", &issued.key.row.id)
            .details(serde_json::json!({
                "name": name,
                "scopes": scopes.to_strings(),
                "expires_at": issued.key.row.expires_at.map(|m| m.rfc3339()),
            }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(issued)
    }

    /// A new key like an existing one (any state): the next numbered name, the same scopes and
    /// the same expiry policy.
    pub async fn clone_api_key(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
    ) -> Result<IssuedKey, AppError> {
        self.require_recent_auth(actor, "clone an API key")?;
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        let (source, issued) = self.clone_in(&mut tx, actor, account, id, now).await?;
        let event = events::by_actor(actor, account, AuditAction::ApiKeyCloned)
            .target("api_key", &issued.key.row.id)
            .details(
                serde_json::json!({ "source_key_id": source.id, "name": issued.key.row.name }),
            );
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(issued)
    }

    /// Clones a working key and lets the old one expire after `grace_secs` (0: now), so an
    /// integration can switch without downtime.
    pub async fn rotate_api_key(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
        grace_secs: Option<i64>,
    ) -> Result<IssuedKey, AppError> {
        self.require_recent_auth(actor, "rotate an API key")?;
        let grace = grace_secs.unwrap_or(DEFAULT_GRACE_SECS);
        if !(0..=MAX_GRACE_SECS).contains(&grace) {
            return Err(DomainError::field(
                "invalid_grace_period",
                "grace_period_seconds",
                format!("grace_period_seconds is 0 to {MAX_GRACE_SECS}"),
            )
            .into());
        }
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        let (old, issued) = self.clone_in(&mut tx, actor, account, id, now).await?;
        let state = KeyState::of(now, old.expires_at, old.revoked_at, false);
        if !state.works() {
            return Err(DomainError::conflict(
                "key_not_active",
                format!(
                    "a {} key cannot be rotated; clone it instead",
                    state.as_str()
                ),
            )
            .into());
        }
        if old.replaced_by.is_some() {
            return Err(DomainError::conflict(
                "already_rotated",
                "this key was already rotated; revoke it to end its grace period early",
            )
            .into());
        }
        let ends = now.plus_secs(grace);
        store::replace(&mut tx, &old.id, &issued.key.row.id, ends).await?;
        store::announce_change(&mut tx, self.store().dialect(), &old.id).await?;
        let event = events::by_actor(actor, account, AuditAction::ApiKeyRotated)
            .target("api_key", &old.id)
            .details(serde_json::json!({
                "new_key_id": issued.key.row.id,
                "grace_period_seconds": grace,
                "old_key_expires_at": ends.rfc3339(),
            }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.committed();
        self.keys_changed();
        Ok(issued)
    }

    async fn clone_in(
        &self,
        tx: &mut Conn,
        actor: &Actor,
        account: AccountId,
        id: &str,
        now: Millis,
    ) -> Result<(KeyRow, IssuedKey), AppError> {
        let access = self.access(&mut *tx, actor, account).await?;
        access.require(Permission::ApiKeysManage)?;
        let source = store::get_for_update(&mut *tx, self.store().dialect(), account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        check_within(source.scopes, access.permissions())?;
        let name = api_key::clone_name(&source.name, &store::names(&mut *tx, account).await?);
        let name: String = name.chars().take(100).collect();
        let issued = self
            .insert_key(
                tx,
                actor,
                account,
                &name,
                source.scopes,
                source.lifetime_secs,
                Some(&source.id),
                now,
            )
            .await?;
        Ok((source, issued))
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_key(
        &self,
        tx: &mut Conn,
        actor: &Actor,
        account: AccountId,
        name: &str,
        scopes: ScopeSet,
        lifetime_secs: Option<i64>,
        cloned_from: Option<&str>,
        now: Millis,
    ) -> Result<IssuedKey, AppError> {
        let secret = api_key::generate(&self.settings().api_key_prefix);
        let id = api_key::public_id(&secret);
        store::insert(
            &mut *tx,
            NewKey {
                id: &id,
                account,
                name,
                secret_hash: &hash_token(&secret),
                scopes,
                created_by: actor.person,
                created_by_email: &actor.email,
                lifetime_secs,
                cloned_from,
            },
            now,
        )
        .await?;
        let row = store::get(tx, account, &id)
            .await?
            .ok_or_else(|| AppError::internal("inserted key not found"))?;
        Ok(IssuedKey {
            key: view(row, now, None),
            secret,
        })
    }

    /// Revokes a key at once, on this node and (PostgreSQL) on every other within milliseconds.
    /// Revoking a revoked key changes nothing.
    pub async fn revoke_api_key(
        &self,
        caller: &Caller,
        account: AccountId,
        id: &str,
    ) -> Result<(), AppError> {
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        self.authorize(
            &mut tx,
            caller,
            account,
            Permission::ApiKeysManage,
            "api_keys:write",
        )
        .await?;
        store::get(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        if !store::revoke(&mut tx, id, "revoked", now).await? {
            return Ok(());
        }
        store::announce_change(&mut tx, self.store().dialect(), id).await?;
        let event = match caller {
            Caller::Person(a) => events::by_actor(a, account, AuditAction::ApiKeyRevoked),
            Caller::Key(k) => {
                events::by_key(&k.key.row.id, &k.meta, account, AuditAction::ApiKeyRevoked)
            }
        };
        audit::append(&mut tx, &event.target("api_key", id), now).await?;
        tx.commit().await?;
        self.committed();
        self.keys_changed();
        Ok(())
    }

    pub async fn key_settings(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> Result<KeySettings, AppError> {
        let mut c = self.store().read().await?;
        self.authorize(
            &mut c,
            caller,
            account,
            Permission::AccountSettingsRead,
            "account_settings:read",
        )
        .await?;
        Ok(store::settings(&mut c, account).await?)
    }

    /// Changes the account's key settings (`account_settings:edit`, recent authentication).
    pub async fn set_key_settings(
        &self,
        actor: &Actor,
        account: AccountId,
        rotation_days: Option<Option<i64>>,
        auto_revoke_exposed: Option<bool>,
    ) -> Result<KeySettings, AppError> {
        self.require_recent_auth(actor, "change account security settings")?;
        check_rotation_days(rotation_days)?;
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        self.access(&mut tx, actor, account)
            .await?
            .require(Permission::AccountSettingsEdit)?;
        let before = store::settings(&mut tx, account).await?;
        let after = KeySettings {
            rotation_days: rotation_days.unwrap_or(before.rotation_days),
            auto_revoke_exposed: auto_revoke_exposed.unwrap_or(before.auto_revoke_exposed),
        };
        if after != before {
            store::set_settings(&mut tx, account, after).await?;
            let event = events::by_actor(actor, account, AuditAction::AccountSettingsChanged).details(
                serde_json::json!({
                    "api_key_rotation_days": { "from": before.rotation_days, "to": after.rotation_days },
                    "api_key_auto_revoke_exposed": { "from": before.auto_revoke_exposed, "to": after.auto_revoke_exposed },
                }),
            );
            audit::append(&mut tx, &event, now).await?;
        }
        tx.commit().await?;
        self.committed();
        Ok(after)
    }

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
            if let Err(e) = self.record_key_expiries(Millis::now()).await {
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
        if !api_key::is_well_formed(&self.settings().api_key_prefix, token) {
            return Ok(());
        }
        let hash = hash_token(token);
        let Some(found) = store::by_secret_hash(&mut *self.store().read().await?, &hash).await?
        else {
            return Ok(());
        };
        let now = Millis::now();
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
        if revoke {
            store::revoke(&mut tx, &key.id, "exposed", now).await?;
            store::announce_change(&mut tx, self.store().dialect(), &key.id).await?;
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
        if api_key::is_well_formed(&self.settings().api_key_prefix, token) {
            return match self.verify_api_key(token, meta).await {
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
