//! Start-up shared by `watchword serve` and the tests: open the store, migrate, bind, serve, run
//! the outbox dispatcher. Returns the bound address instead of printing it so tests can use port 0.

pub mod config;

pub use config::Config;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use watchword_app::mail::Mailer;
use watchword_app::outbox::Outbound;
use watchword_app::sms::SmsSender;
use watchword_app::{App, Secret, Settings};
use watchword_domain::Millis;
use watchword_domain::password::HashParams;
use watchword_domain::sealed::Keyring;
use watchword_store::Store;

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub app: App,
    pub public_url: String,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    outbox: tokio::task::JoinHandle<()>,
    checks: tokio::task::JoinHandle<()>,
    expiry: tokio::task::JoinHandle<()>,
    streams: tokio::task::JoinHandle<()>,
    advisories: tokio::task::JoinHandle<()>,
    posture: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Waits until the server stops (a signal or `stop`).
    pub async fn wait(self) {
        let _ = self.server.await;
        self.app.flush_key_uses().await;
        self.outbox.abort();
        self.checks.abort();
        self.expiry.abort();
        self.streams.abort();
        self.advisories.abort();
        self.posture.abort();
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        self.app.flush_key_uses().await;
        self.outbox.abort();
        self.checks.abort();
        self.expiry.abort();
        self.streams.abort();
        self.advisories.abort();
        self.posture.abort();
        self.app.store().close().await;
    }

    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Opens the database (creating the data directory and SQLite file) and applies migrations.
pub async fn open_store(config: &Config) -> Result<Store, String> {
    open_store_once(config).await.map_err(|e| e.to_string())
}

/// Why the store did not open.
#[derive(Debug)]
pub enum OpenError {
    /// The database server is away or going away: it may come back.
    Unavailable(String),
    /// Anything else (a bad URL or directory, a migration that fails): waiting will not help.
    Fatal(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Unavailable(m) | OpenError::Fatal(m) => f.write_str(m),
        }
    }
}

async fn open_store_once(config: &Config) -> Result<Store, OpenError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        OpenError::Fatal(format!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        ))
    })?;
    let url = config.database_url();
    let classify = |e: watchword_store::StoreError, what: String| {
        if e.is_unavailable() {
            OpenError::Unavailable(what)
        } else {
            OpenError::Fatal(what)
        }
    };
    let store = Store::connect(&url, config.database_max_connections)
        .await
        .map_err(|e| {
            let what = format!("cannot open the database ({}): {e}", redact(&url));
            classify(e, what)
        })?
        .with_listen_url(config.database_listen_url.clone());
    if let Err(e) = store.migrate().await {
        store.close().await;
        let what = format!("cannot migrate the database: {e}");
        return Err(classify(e, what));
    }
    Ok(store)
}

/// Hides a password in a database URL.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn metrics_render(store: Store) -> watchword_http::MetricsRender {
    static HANDLE: OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        OnceLock::new();
    let handle = HANDLE.get_or_init(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let installed = metrics::set_global_recorder(recorder).ok().map(|_| handle);
        watchword_app::metrics::describe();
        installed
    });
    let handle = handle.clone();
    Arc::new(move || {
        for (pool, open, idle) in store.pool_use() {
            let busy = open as usize - idle.min(open as usize);
            metrics::gauge!("watchword_db_connections", "pool" => pool, "state" => "idle")
                .set(idle as f64);
            metrics::gauge!("watchword_db_connections", "pool" => pool, "state" => "in_use")
                .set(busy as f64);
        }
        handle.as_ref().map(|h| h.render()).unwrap_or_default()
    })
}

/// Where messages go: SMTP when configured, otherwise `.eml` files in the data directory; the
/// SMS webhook when configured, otherwise JSON files in the data directory.
pub fn outbound(config: &Config) -> Result<Outbound, String> {
    let mail = match &config.smtp_url {
        Some(url) => Mailer::smtp(url, &config.mail_from)?,
        None => Mailer::files(config.data_dir.join("mail"), &config.mail_from)?,
    };
    let mail = match (&config.dkim_selector, &config.dkim_private_key_file) {
        (Some(selector), Some(file)) => {
            let pem = std::fs::read_to_string(file)
                .map_err(|e| format!("dkim_private_key_file {}: {e}", file.display()))?;
            mail.with_dkim(selector, &pem)?
        }
        (None, None) => mail,
        _ => return Err("set both dkim_selector and dkim_private_key_file, or neither".into()),
    };
    let sms = match &config.sms_webhook_url {
        Some(url) => SmsSender::webhook(url, config.sms_webhook_secret.clone())?,
        None => SmsSender::files(config.data_dir.join("sms")),
    };
    Ok(Outbound { mail, sms })
}

/// The use-case settings a configuration describes.
pub fn settings(config: &Config, public_url: String) -> Result<Settings, String> {
    Ok(Settings {
        public_url,
        session_idle_secs: config.session_idle_timeout_secs,
        session_absolute_secs: config.session_absolute_timeout_secs,
        invitation_ttl_secs: config.invitation_ttl_secs,
        hash: HashParams::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
        )?,
        auth_cache_ttl_ms: config.auth_cache_ttl_ms,
        hash_concurrency: config
            .hash_concurrency
            .unwrap_or_else(|| Settings::default().hash_concurrency),
        contact_login_window_days: config.security_contact_login_window_days,
        contact_warning_days: config.security_contact_warning_days,
        blocked_staff_roles: config.blocked_staff_roles.clone(),
        recent_auth_secs: config.reauthentication_window_secs,
        outbox_lease_secs: config.outbox_lease_secs,
        outbox_retention_secs: config.outbox_retention_days * 86_400,
        api_key_prefix: config.api_key_prefix.clone(),
        api_key_cache_ttl_ms: config.api_key_cache_ttl_ms,
        advisory_reminder_secs: config.advisory_reminder_days * 86_400,
        security_reports_to: config.security_reports_to.clone(),
        exposure_report_secret: config.exposure_report_secret.clone().map(Secret),
        introspection_secret: config.introspection_secret.clone().map(Secret),
        mfa_keyring: mfa_keyring(config)?,
        mfa_key_file: config.mfa_keys.is_none().then(|| mfa_key_file(config)),
        password_peppers: Some(password_peppers(config)?),
        password_reset_ttl_secs: 3600,
        signups_per_ip_per_hour: config.signups_per_ip_per_hour,
        operator_secret: config.operator_secret.clone().map(Secret),
        dns_resolver: config
            .dns_resolver
            .as_deref()
            .map(|r| {
                r.parse::<std::net::SocketAddr>().map_err(|_| {
                    format!("dns_resolver must be IP:PORT (e.g. 127.0.0.1:53), not {r:?}")
                })
            })
            .transpose()?,
        saml_verify_concurrency: match config.saml_verify_concurrency {
            None => Settings::default().saml_verify_concurrency,
            Some(n @ 1..=64) => n,
            Some(n) => return Err(format!("saml_verify_concurrency must be 1 to 64, not {n}")),
        },
        saml_verify_timeout_ms: config.saml_verify_timeout_ms,
        outbound_allow_loopback: config.outbound_allow_loopback,
    })
}

/// The configured proxies, parsed (`trusted_proxies`); a bare address is one host.
pub fn trusted_proxies(config: &Config) -> Result<Vec<ipnet::IpNet>, String> {
    config
        .trusted_proxies
        .iter()
        .map(|p| {
            let p = p.trim();
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    format!("trusted_proxies: {p:?} is not a CIDR range (e.g. 10.0.0.0/8) or an IP address")
                })
        })
        .collect()
}

/// Where the MFA keyring lives when `mfa_keys` is not configured.
pub fn mfa_key_file(config: &Config) -> std::path::PathBuf {
    config.data_dir.join("mfa-keys")
}

/// The keys that seal authenticator secrets: from `mfa_keys`, or from the key file in the data
/// directory, which is created with one random key on first start (readable by its owner only).
pub fn mfa_keyring(config: &Config) -> Result<Keyring, String> {
    keyring(
        config,
        config.mfa_keys.as_deref(),
        "mfa_keys",
        &mfa_key_file(config),
    )
}

/// The peppers of password hashes: from `password_peppers`, or from the `password-peppers`
/// file in the data directory, created like the MFA key file. Ids fit Argon2's `keyid` (8 bytes).
pub fn password_peppers(config: &Config) -> Result<Keyring, String> {
    let file = config.data_dir.join("password-peppers");
    let ring = keyring(
        config,
        config.password_peppers.as_deref(),
        "password_peppers",
        &file,
    )?;
    if let Some(id) = ring.ids().find(|id| id.len() > 8) {
        return Err(format!(
            "password_peppers: id {id:?} is longer than 8 characters"
        ));
    }
    Ok(ring)
}

/// A keyring from its configured value, or from `file`, created with one random key ("k1") on
/// first start (readable by its owner only).
fn keyring(
    config: &Config,
    configured: Option<&str>,
    name: &str,
    file: &std::path::Path,
) -> Result<Keyring, String> {
    if let Some(keys) = configured {
        return Keyring::parse(keys).map_err(|e| format!("{name}: {e}"));
    }
    if !file.exists() {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
        write_private(file, &format!("{}\n", Keyring::new_entry("k1")))?;
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    Keyring::parse(&text).map_err(|e| format!("{}: {e}", file.display()))
}

/// Writes a file only its owner can read.
pub fn write_private(path: &std::path::Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The application without a server, for CLI commands (jobs, staff grants).
pub async fn offline_app(config: &Config) -> Result<App, String> {
    config.validate()?;
    let store = open_store(config).await?;
    // The URL the server announced on this database (it knows its bound port), else the
    // configuration's.
    let mut c = store.read().await.map_err(|e| e.to_string())?;
    let announced = watchword_store::instance::get(&mut c, "public_url")
        .await
        .map_err(|e| e.to_string())?;
    drop(c);
    let public_url = match (&config.public_url, announced) {
        (Some(configured), _) => configured.clone(),
        (None, Some(announced)) => announced,
        (None, None) => config.configured_public_url(),
    };
    Ok(App::new(store, settings(config, public_url)?))
}

/// Starts serving; the returned `Running` knows the bound address. Gives up at once when the
/// database cannot be opened (`serve` waits for it instead: see [`bind`]).
pub async fn start(config: Config) -> Result<Running, String> {
    bind(config).await?.ready(|_| false).await
}

/// A node that listens but whose database is not open yet: it answers `/healthz`, and `503
/// starting` to everything else, `/readyz` included.
pub struct Starting {
    config: Config,
    addr: SocketAddr,
    public_url: String,
    settings: Settings,
    outbound: Outbound,
    proxies: Arc<Vec<ipnet::IpNet>>,
    ready: Arc<OnceLock<axum::Router>>,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// Binds the listening address and starts answering before the database is opened.
pub async fn bind(config: Config) -> Result<Starting, String> {
    config.validate()?;
    // One TLS provider (ring) for every HTTP client in the process.
    watchword_app::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {}: {e} (set listen / WATCHWORD_LISTEN / --listen)",
                config.listen
            )
        })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url = config.public_url(addr);
    // Settings are checked before waiting for a database: a mistake in them stops at once.
    let settings = settings(&config, public_url.clone())?;
    let outbound = outbound(&config)?;
    let proxies = Arc::new(trusted_proxies(&config)?);
    let ready = Arc::new(OnceLock::new());
    let router = watchword_http::ops::until_ready(ready.clone())
        .into_make_service_with_connect_info::<SocketAddr>();
    let (shutdown, mut rx) = watch::channel(false);
    let server = tokio::spawn(async move {
        let stop = async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "server failed");
        }
    });
    Ok(Starting {
        config,
        addr,
        public_url,
        settings,
        outbound,
        proxies,
        ready,
        shutdown,
        server,
    })
}

impl Starting {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Opens and migrates the database, then serves everything. While the database server is
    /// away, calls `wait` with the reason and tries again (1 s, doubling to 10 s) as long as it
    /// returns true; any other failure stops the node.
    pub async fn ready(self, mut wait: impl FnMut(&str) -> bool) -> Result<Running, String> {
        let Starting {
            config,
            addr,
            public_url,
            settings,
            outbound,
            proxies,
            ready,
            shutdown,
            server,
        } = self;
        let mut pause = Duration::from_secs(1);
        let store = loop {
            match open_store_once(&config).await {
                Ok(store) => break store,
                Err(OpenError::Unavailable(e)) if wait(&e) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    let _ = shutdown.send(true);
                    let _ = server.await;
                    return Err(e.to_string());
                }
            }
        };
        // The CLI renders mails with the URL the server is reached at.
        let mut tx = store.begin().await.map_err(|e| e.to_string())?;
        watchword_store::instance::set(&mut tx, "public_url", &public_url, Millis::now())
            .await
            .map_err(|e| format!("cannot record the public URL: {e}"))?;
        tx.commit().await.map_err(|e| e.to_string())?;
        let app = App::new(store, settings);
        app.watch_key_changes()
            .await
            .map_err(|e| format!("cannot listen for API key changes: {e}"))?;
        let expiry = tokio::spawn(app.clone().run_key_expiry(Duration::from_secs(
            config.api_key_expiry_check_interval_secs,
        )));
        let checks = tokio::spawn(app.clone().run_contact_checks(Duration::from_secs(
            config.security_contact_check_interval_secs,
        )));
        let streams = tokio::spawn(app.clone().run_audit_streams(Duration::from_secs(1)));
        let advisories = tokio::spawn(app.clone().run_advisories(Duration::from_secs(60)));
        let posture = tokio::spawn(app.clone().run_posture_snapshots(Duration::from_secs(600)));
        let state = watchword_http::AppState {
            app: app.clone(),
            trusted_proxies: proxies,
            metrics: Some(metrics_render(app.store().clone())),
        };
        let _ = ready.set(watchword_http::router(state));
        let outbox = tokio::spawn(app.clone().run_outbox(
            outbound,
            Duration::from_millis(config.outbox_poll_ms.max(50)),
        ));
        Ok(Running {
            addr,
            app,
            public_url,
            shutdown,
            server,
            outbox,
            checks,
            expiry,
            streams,
            advisories,
            posture,
        })
    }
}
