//! Use cases: the one place where a request, a CLI command or a job turns into a change. Each
//! loads what it needs, lets the domain decide, and commits the change, its audit events and its
//! outbound messages in one transaction.

pub mod access;
pub mod access_reviews;
pub mod advisories;
mod alerts;
pub mod api_keys;
pub mod assisted_recovery;
pub mod audit;
pub mod audit_streams;
mod batch;
mod cache;
pub mod clock;
pub mod contact;
pub mod context;
pub mod devices;
pub mod error;
mod events;
pub mod expiry;
pub mod factors;
mod gate;
mod key_loader;
mod limits;
mod login_guard;
pub mod mail;
pub mod members;
pub mod metrics;
pub mod mfa;
pub mod oauth;
pub mod operator;
pub mod outbound;
pub mod outbox;
pub mod passkeys;
pub mod password;
pub mod phrase;
pub mod policies;
pub mod posture;
pub mod recovery;
pub mod roles;
pub mod scim;
pub mod security_reports;
pub mod sessions;
pub mod signin;
pub mod signup;
pub mod sms;
pub mod sso;
pub mod staff;
pub mod views;

pub use context::{Actor, Caller, Meta};
pub use error::AppError;

/// Makes ring the process's TLS crypto provider (the one lettre uses too), for the HTTP clients
/// (the SMS webhook). Calling it again does nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

use cache::AuthCache;
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore};
use watchword_domain::password::{HashParams, Memory};
use watchword_store::Store;

/// A credential from the configuration; never printed.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Tunables of the use cases, filled from the operator's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL people open (links in emails point here).
    pub public_url: String,
    pub session_idle_secs: i64,
    pub session_absolute_secs: i64,
    pub invitation_ttl_secs: i64,
    pub hash: HashParams,
    /// How long a node may answer from its session cache before re-reading the database. Bounds
    /// how long a revocation made on another node can go unseen here.
    pub auth_cache_ttl_ms: i64,
    /// Argon2 computations allowed at once (each holds m KiB of memory).
    pub hash_concurrency: usize,
    /// A Security Contact must have logged in within this many days.
    pub contact_login_window_days: i64,
    /// The contact is warned this many days before lapsing for no recent login.
    pub contact_warning_days: i64,
    /// Staff roles that may not be Security Contact.
    pub blocked_staff_roles: Vec<String>,
    /// A change of Security Contact needs a login (or re-authentication) this recent.
    pub recent_auth_secs: i64,
    /// Text every API key starts with (scanners look for it).
    pub api_key_prefix: String,
    /// How long a node may answer from its API key cache without a change notification (the
    /// revoking node drops its entries at once; PostgreSQL nodes are told within milliseconds).
    pub api_key_cache_ttl_ms: i64,
    /// An unacknowledged advisory that needs it is reminded once after this long.
    pub advisory_reminder_secs: i64,
    /// The operator's security inbox for members' reports of suspicious activity.
    pub security_reports_to: Option<String>,
    /// Shared secret of the secret-scanning partner (HMAC-SHA256 of the report body); reports
    /// are refused while unset.
    pub exposure_report_secret: Option<Secret>,
    /// Operator credential for `POST /api/v1/introspect` (bearer); introspection is refused while
    /// unset.
    pub introspection_secret: Option<Secret>,
    /// How long a dispatcher holds claimed messages; after a crash they are retried after this.
    /// Must exceed the SMTP timeout (15 s) so a slow delivery is not sent twice.
    pub outbox_lease_secs: i64,
    /// How long the record of a sent or given-up message is kept (its body goes at once).
    pub outbox_retention_secs: i64,
    /// Keys that seal authenticator secrets at rest; the last one seals new values.
    pub mfa_keyring: watchword_domain::sealed::Keyring,
    /// The file the keyring was read from (None: from the configuration), read again when a
    /// value names a key the keyring lacks.
    pub mfa_key_file: Option<std::path::PathBuf>,
    /// Peppers of password hashes (Argon2's secret input), the last one for new hashes; None:
    /// hashes without one (tests and benchmarks only; the server always loads a ring).
    pub password_peppers: Option<watchword_domain::sealed::Keyring>,
    /// How long a password reset link works.
    pub password_reset_ttl_secs: i64,
    /// Signups asked for from one IP in an hour.
    pub signups_per_ip_per_hour: i64,
    /// The operator's credential for `/api/v1/operator/…` (bearer); refused while unset.
    pub operator_secret: Option<Secret>,
    /// The DNS server asked for domain verification records (None: the system's).
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// SAML responses verified at once on this node (the rest wait, within the time limit).
    pub saml_verify_concurrency: usize,
    /// How long a SAML response may take to verify, waiting for a turn included.
    pub saml_verify_timeout_ms: u64,
    /// Tenant-supplied URLs may name loopback addresses (development and tests only).
    pub outbound_allow_loopback: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            session_idle_secs: 2 * 3600,
            session_absolute_secs: 24 * 3600,
            invitation_ttl_secs: 7 * 24 * 3600,
            hash: HashParams::OWASP_MIN,
            auth_cache_ttl_ms: 1000,
            hash_concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            contact_login_window_days: 365,
            contact_warning_days: 30,
            blocked_staff_roles: vec!["staff_access".into()],
            recent_auth_secs: 15 * 60,
            outbox_lease_secs: 60,
            outbox_retention_secs: 30 * 86_400,
            // An ephemeral key: fine for tests; the binary loads a persistent keyring.
            mfa_keyring: watchword_domain::sealed::Keyring::parse(
                &watchword_domain::sealed::Keyring::new_entry("ephemeral"),
            )
            .expect("a generated keyring parses"),
            mfa_key_file: None,
            password_peppers: None,
            password_reset_ttl_secs: 3600,
            signups_per_ip_per_hour: crate::limits::SIGNUPS_PER_IP.max,
            api_key_prefix: watchword_domain::api_key::DEFAULT_PREFIX.into(),
            api_key_cache_ttl_ms: 60_000,
            advisory_reminder_secs: 7 * 86_400,
            security_reports_to: None,
            exposure_report_secret: None,
            introspection_secret: None,
            operator_secret: None,
            dns_resolver: None,
            saml_verify_concurrency: std::thread::available_parallelism()
                .map(|n| n.get().min(4))
                .unwrap_or(2),
            saml_verify_timeout_ms: 2000,
            outbound_allow_loopback: false,
        }
    }
}

type BackgroundWrite<'c> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), watchword_store::StoreError>> + Send + 'c>,
>;

/// The application: cheap to clone, shared by HTTP handlers, CLI and jobs.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    settings: Settings,
    hashing: Semaphore,
    /// Argon2 working memories not in use (at most `hash_concurrency` exist).
    hash_memory: std::sync::Mutex<Vec<Memory>>,
    cache: AuthCache<sessions::Authenticated>,
    keys: api_keys::KeyCache,
    outbox_ready: Notify,
    clock: clock::Clock,
    /// A real hash of a random password, verified when an email is unknown so that a login costs
    /// the same either way.
    dummy_hash: String,
    /// The WebAuthn relying party (None when public_url has no usable host name).
    webauthn: Option<webauthn_rs::Webauthn>,
    /// The OIDC relying party of SSO connections (discovery and keys cached per issuer).
    oidc: sso::oidc::Oidc,
    /// OAuth clients refused on this node for too many wrong secrets.
    oauth_blocked: oauth::Blocked,
    /// OAuth clients as the token endpoint reads them (cached like keys).
    oauth_clients: AuthCache<oauth::ClientEntry>,
    /// Outbound HTTP on a tenant's say-so (audit streams): see [`outbound`].
    http: reqwest::Client,
    /// Turns of SAML verification on the blocking pool.
    saml_verifications: Arc<Semaphore>,
    /// The keyring that seals secrets at rest, re-read from its file when a value names a key
    /// this node does not hold yet (another node or `rotate-mfa-key` added it).
    keyring: std::sync::RwLock<Arc<watchword_domain::sealed::Keyring>>,
    keyring_read_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// Whether this node hears other nodes' changes; its caches serve nothing while it does not.
    hearing: cache::Hearing,
}

impl App {
    pub fn new(store: Store, settings: Settings) -> Self {
        let dummy =
            watchword_domain::password::Password::new(watchword_domain::token::random_token());
        let dummy_hash = settings.hash.hash(&dummy);
        sso::xml_io::lockdown();
        let hearing: cache::Hearing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let webauthn = passkeys::relying_party(&settings.public_url)
            .map_err(|e| tracing::warn!(error = %e, "passkeys are off"))
            .ok();
        Self {
            inner: Arc::new(Inner {
                hashing: Semaphore::new(settings.hash_concurrency.max(1)),
                hash_memory: std::sync::Mutex::new(Vec::new()),
                cache: AuthCache::new(100_000, settings.auth_cache_ttl_ms, hearing.clone()),
                keys: api_keys::KeyCache::new(settings.api_key_cache_ttl_ms, hearing.clone()),
                outbox_ready: Notify::new(),
                clock: clock::Clock::default(),
                dummy_hash,
                webauthn,
                oidc: sso::oidc::Oidc::new(settings.outbound_allow_loopback),
                oauth_blocked: oauth::Blocked::default(),
                oauth_clients: AuthCache::new(
                    10_000,
                    settings.api_key_cache_ttl_ms,
                    hearing.clone(),
                ),
                http: outbound::client(settings.outbound_allow_loopback),
                saml_verifications: Arc::new(Semaphore::new(
                    settings.saml_verify_concurrency.max(1),
                )),
                keyring: std::sync::RwLock::new(Arc::new(settings.mfa_keyring.clone())),
                keyring_read_at: std::sync::Mutex::new(None),
                hearing,
                store,
                settings,
            }),
        }
    }

    /// The time every use case of this app reads.
    pub fn now(&self) -> watchword_domain::Millis {
        self.inner.clock.now()
    }

    pub fn clock(&self) -> &clock::Clock {
        &self.inner.clock
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The OIDC relying party (SSO connections).
    /// Whether `token` has the form of an API key or an OAuth access token (both verified on
    /// the keys' hot path).
    pub fn is_key_token(&self, token: &str) -> bool {
        use watchword_domain::api_key::is_well_formed;
        is_well_formed(&self.settings().api_key_prefix, token)
            || watchword_domain::oauth::is_access_token(token)
    }

    pub fn oidc(&self) -> &sso::oidc::Oidc {
        &self.inner.oidc
    }

    /// Called after every commit that may change who can do what: drops this node's cached
    /// authentications at once and wakes the outbox dispatcher.
    fn committed(&self) {
        self.inner.cache.invalidate_all();
        self.inner.outbox_ready.notify_one();
    }

    /// Drops this node's cached keys, access tokens and OAuth clients (a key, grant, app or
    /// someone's authority changed here or, announced, on another node).
    pub(crate) fn keys_changed(&self) {
        self.inner.keys.invalidate_all();
        self.inner.oauth_clients.invalidate_all();
    }

    /// The keyring sealing secrets at rest, as this node holds it now.
    pub fn keyring(&self) -> Arc<watchword_domain::sealed::Keyring> {
        self.inner
            .keyring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Opens a sealed value; a key this node does not hold yet sends it to read the key file
    /// again (at most once a second) before giving up, so a key added beside a running server
    /// (`watchword rotate-mfa-key`, another node) never fails a sign-in.
    pub(crate) fn open_sealed(
        &self,
        key_id: &str,
        sealed: &[u8],
        bound_to: &str,
    ) -> Result<Vec<u8>, watchword_domain::sealed::SealError> {
        use watchword_domain::sealed::SealError;
        match self.keyring().open(key_id, sealed, bound_to) {
            Err(SealError::UnknownKey(_)) if self.reload_keyring() => {
                self.keyring().open(key_id, sealed, bound_to)
            }
            other => other,
        }
    }

    /// Reads the key file again (at most once a second); whether the keyring changed.
    pub(crate) fn reload_keyring(&self) -> bool {
        let Some(path) = &self.settings().mfa_key_file else {
            return false;
        };
        {
            let mut at = self
                .inner
                .keyring_read_at
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if at.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1)) {
                return false;
            }
            *at = Some(std::time::Instant::now());
        }
        let read = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| watchword_domain::sealed::Keyring::parse(&t).map_err(|e| e.to_string()));
        match read {
            Ok(ring) => {
                let changed = ring.ids().count() != self.keyring().ids().count()
                    || ring.current_id() != self.keyring().current_id();
                if changed {
                    tracing::info!(key = ring.current_id(), "the MFA keyring was read again");
                    *self
                        .inner
                        .keyring
                        .write()
                        .unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
                }
                changed
            }
            Err(e) => {
                tracing::warn!(error = %e, "the MFA key file could not be read again");
                false
            }
        }
    }

    /// What the changes channel said: drop every cached authentication; while the listener is
    /// lost, serve uncached.
    pub(crate) fn heard(&self, heard: watchword_store::Heard) {
        let hearing = matches!(heard, watchword_store::Heard::Change { .. });
        metrics::heard(hearing);
        if let watchword_store::Heard::Change { lag_ms: Some(ms) } = heard {
            metrics::change_lag(ms);
        }
        self.inner
            .hearing
            .store(hearing, std::sync::atomic::Ordering::Release);
        if !hearing {
            tracing::warn!(
                "not hearing other nodes' changes: serving without caches until listening again"
            );
        }
        self.invalidate_caches();
    }

    /// Drops this node's cached authentications, e.g. after the database was changed by hand.
    pub fn invalidate_caches(&self) {
        self.inner.cache.invalidate_all();
        self.inner.keys.invalidate_all();
        self.inner.oauth_clients.invalidate_all();
    }

    /// Commits a small write (last use, a coalesced audit event) off the request path; a failure
    /// is logged as `what` and loses only that record.
    fn write_in_background(
        &self,
        what: &'static str,
        work: impl for<'c> FnOnce(&'c mut watchword_store::Conn) -> BackgroundWrite<'c> + Send + 'static,
    ) {
        let store = self.store().clone();
        tokio::spawn(async move {
            let res = async {
                let mut tx = store.begin().await?;
                work(&mut tx).await?;
                tx.commit().await?;
                Ok::<_, watchword_store::StoreError>(())
            }
            .await;
            if let Err(e) = res {
                tracing::warn!(error = %e, "could not {what}");
            }
        });
    }

    /// Runs Argon2 on the blocking pool, at most `hash_concurrency` at a time, each in a working
    /// memory taken from the pool and put back after: the process holds at most
    /// `hash_concurrency` × `m` KiB for hashing, however many logins come.
    async fn hashing<T: Send + 'static>(
        &self,
        f: impl for<'m> FnOnce(&mut Hasher<'m>) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self
            .inner
            .hashing
            .acquire()
            .await
            .map_err(|_| AppError::internal("hashing pool closed"))?;
        let params = self.inner.settings.hash;
        let peppers = self.inner.settings.password_peppers.clone();
        let mut memory = self.take_memory();
        let (out, memory) = tokio::task::spawn_blocking(move || {
            let out = f(&mut Hasher {
                params,
                peppers: peppers.as_ref(),
                memory: &mut memory,
            });
            (out, memory)
        })
        .await
        .map_err(|e| AppError::internal(format!("hashing task failed: {e}")))?;
        self.inner
            .hash_memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(memory);
        Ok(out)
    }

    fn take_memory(&self) -> Memory {
        self.inner
            .hash_memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }
}

/// Argon2id at the server's parameters in a reused working memory (see [`App::hashing`]).
pub(crate) struct Hasher<'m> {
    params: HashParams,
    peppers: Option<&'m watchword_domain::sealed::Keyring>,
    memory: &'m mut Memory,
}

impl Hasher<'_> {
    pub(crate) fn hash(&mut self, pw: &watchword_domain::password::Password) -> String {
        self.params.hash_in(pw, self.memory, self.peppers)
    }

    pub(crate) fn verify(
        &mut self,
        pw: &watchword_domain::password::Password,
        phc: &str,
    ) -> watchword_domain::password::Verified {
        let verified = self.params.verify_in(pw, phc, self.memory, self.peppers);
        if verified == watchword_domain::password::Verified::No
            && let Some(id) = watchword_domain::password::pepper_id(phc)
            && self.peppers.is_none_or(|ring| ring.key(&id).is_none())
        {
            // Nobody can sign in with such a hash until password_peppers holds that key again.
            tracing::error!(pepper = %id, "a password hash names a pepper this node does not have; give every node the same password_peppers");
        }
        verified
    }
}
