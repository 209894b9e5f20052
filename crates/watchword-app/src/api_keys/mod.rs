//! API keys: creating, cloning, rotating and revoking them, verifying them on the hot path, their
//! expiry, reports of exposed keys, and introspection for the operator's backends.

mod exposure;
mod verify;

use crate::cache::AuthCache;
use crate::events::{self, EventExt};
use crate::key_loader::KeyLoader;
use crate::{Actor, App, AppError, Caller, Meta};
use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, OnceLock};
use watchword_domain::api_key::{self, KeyKind, KeyState};
use watchword_domain::audit::AuditAction;
use watchword_domain::scope::{Preset, ScopeSet};
use watchword_domain::scope::{Resource, Scope};
use watchword_domain::token::hash_token;
use watchword_domain::*;
use watchword_store::api_keys::{self as store, KeyRow, KeySettings, NewKey};
use watchword_store::{Conn, audit};

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
    /// What it may do now: its scopes within its maker's current permissions.
    pub effective: ScopeSet,
    pub permissions: PermissionSet,
    /// Its account as it was when cached (its trusted networks; an authority change refills).
    pub account: watchword_store::rows::AccountRow,
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
    pub(crate) fn new(ttl_ms: i64, hearing: crate::cache::Hearing) -> Self {
        Self {
            entries: AuthCache::new(100_000, ttl_ms, hearing),
            loader: KeyLoader::new(),
            failures: Mutex::new(HashMap::new()),
        }
    }
    pub(crate) fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }
    /// True when this failure should be audited now (coalesced per key and reason).
    pub(crate) fn failure_due(&self, key: &str, reason: &'static str, now: Millis) -> bool {
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
    Session(Arc<crate::sessions::Authenticated>),
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

pub(crate) fn view(row: KeyRow, now: Millis, rotation_days: Option<i64>) -> KeyView {
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
    Ok(watchword_domain::text::label(name, "a key name")?)
}

pub(crate) fn lifetime(days: Option<i64>) -> Result<Option<i64>, AppError> {
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

/// A rotation's grace period: a day unless given, 0 to 30 days.
pub(crate) fn grace_period(secs: Option<i64>) -> Result<i64, AppError> {
    let grace = secs.unwrap_or(DEFAULT_GRACE_SECS);
    if !(0..=MAX_GRACE_SECS).contains(&grace) {
        return Err(DomainError::field(
            "invalid_grace_period",
            "grace_period_seconds",
            format!("grace_period_seconds is 0 to {MAX_GRACE_SECS}"),
        )
        .into());
    }
    Ok(grace)
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

impl App {
    /// The account's key settings, for a caller allowed to read its keys.
    async fn key_settings_for(
        &self,
        c: &mut Conn,
        caller: &Caller,
        account: AccountId,
    ) -> Result<store::KeySettings, AppError> {
        let read = Scope::Read(Resource::ApiKeys);
        self.authorize(&mut *c, caller, account, Permission::ApiKeysManage, read)
            .await?;
        Ok(store::settings(c, account).await?)
    }

    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn list_api_keys(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> Result<Vec<KeyView>, AppError> {
        let mut c = self.store().read().await?;
        let settings = self.key_settings_for(&mut c, caller, account).await?;
        let now = self.now();
        Ok(store::list(&mut c, account)
            .await?
            .into_iter()
            .map(|r| view(r, now, settings.rotation_days))
            .collect())
    }

    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn get_api_key(
        &self,
        caller: &Caller,
        account: AccountId,
        id: &str,
    ) -> Result<KeyView, AppError> {
        let mut c = self.store().read().await?;
        let settings = self.key_settings_for(&mut c, caller, account).await?;
        let row = store::get(&mut c, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(view(row, self.now(), settings.rotation_days))
    }

    /// Creates a key. Needs `api_keys:manage` and a recent authentication; scopes never exceed
    /// the creator's permissions.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        account: AccountId,
        req: NewKeyRequest,
    ) -> Result<IssuedKey, AppError> {
        self.require_recent_auth(actor, "create an API key")?;
        let name = key_name(&req.name)?;
        let lifetime = lifetime(req.expires_in_days)?;
        let now = self.now();
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
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn clone_api_key(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
    ) -> Result<IssuedKey, AppError> {
        self.require_recent_auth(actor, "clone an API key")?;
        let now = self.now();
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
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn rotate_api_key(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
        grace_secs: Option<i64>,
    ) -> Result<IssuedKey, AppError> {
        self.require_recent_auth(actor, "rotate an API key")?;
        let grace = grace_period(grace_secs)?;
        let now = self.now();
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
        watchword_store::changes::announce(&mut tx, &old.id).await?;
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
        self.insert_key_of(
            tx,
            KeyKind::Api,
            (actor.person, &actor.email),
            account,
            name,
            scopes,
            lifetime_secs,
            cloned_from,
            now,
        )
        .await
    }

    /// Inserts a key of `kind` and returns it with its secret (shown once).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_key_of(
        &self,
        tx: &mut Conn,
        kind: KeyKind,
        (maker, maker_email): (PersonId, &str),
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
                created_by: maker,
                created_by_email: maker_email,
                lifetime_secs,
                cloned_from,
                kind,
            },
            now,
        )
        .await?;
        let row = store::get_kind_for_update(tx, self.store().dialect(), account, &id, kind)
            .await?
            .ok_or_else(|| AppError::internal("inserted key not found"))?;
        Ok(IssuedKey {
            key: view(row, now, None),
            secret,
        })
    }

    /// Revokes a key at once, on this node and (PostgreSQL) on every other within milliseconds.
    /// Revoking a revoked key changes nothing.
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn revoke_api_key(
        &self,
        caller: &Caller,
        account: AccountId,
        id: &str,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.authorize(
            &mut tx,
            caller,
            account,
            Permission::ApiKeysManage,
            Scope::Write(Resource::ApiKeys),
        )
        .await?;
        store::get(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        if !store::revoke(&mut tx, id, "revoked", now).await? {
            return Ok(());
        }
        watchword_store::changes::announce(&mut tx, id).await?;
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

    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn key_settings(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> Result<KeySettings, AppError> {
        let mut c = self.store().read().await?;
        self.settings_reader(&mut c, caller, account).await?;
        Ok(store::settings(&mut c, account).await?)
    }

    /// Changes the account's key settings (`account_settings:edit`, recent authentication).
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn set_key_settings(
        &self,
        actor: &Actor,
        account: AccountId,
        rotation_days: Option<Option<i64>>,
        auto_revoke_exposed: Option<bool>,
    ) -> Result<KeySettings, AppError> {
        self.require_recent_auth(actor, "change account security settings")?;
        check_rotation_days(rotation_days)?;
        let now = self.now();
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
}
