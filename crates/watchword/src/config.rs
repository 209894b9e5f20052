//! Configuration: defaults → `watchword.toml` (or `--config FILE`) → `WATCHWORD_*` environment
//! variables (with `_FILE` variants for secrets) → command-line flags. Bad values stop start-up
//! with a message that says how to fix them.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Directory for the SQLite file, delivered `.eml` files and other local state.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite file `watchword.db` in `data_dir`.
    pub database_url: Option<String>,
    /// PostgreSQL: where the connection that listens for changes goes when `database_url` goes
    /// through a pooler (LISTEN needs a session of its own: straight to the primary, or its
    /// floating address). Default: `database_url`.
    pub database_listen_url: Option<String>,
    pub database_max_connections: u32,
    /// Base URL people open; links in emails point here. Default: `http://<listen>`, with
    /// `localhost` for a loopback address.
    pub public_url: Option<String>,
    /// `smtp://host:port`, `smtp://host:port?tls=required` or `smtps://host:port`; when unset,
    /// emails are written as `.eml` files under `data_dir/mail`.
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// DKIM: the selector the public key is published under (`SELECTOR._domainkey.DOMAIN`).
    pub dkim_selector: Option<String>,
    /// DKIM: a PEM file with the RSA-2048 (or larger) or Ed25519 private key.
    pub dkim_private_key_file: Option<std::path::PathBuf>,
    /// The operator's SMS gateway: each code is POSTed there as JSON `{"id","to","text"}`
    /// (retried with backoff on failure). Unset: messages are written as JSON files under
    /// `data_dir/sms` (for development; logged, never sent).
    pub sms_webhook_url: Option<String>,
    /// Signs each webhook POST: `X-Watchword-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    pub sms_webhook_secret: Option<String>,
    pub session_idle_timeout_secs: i64,
    pub session_absolute_timeout_secs: i64,
    pub invitation_ttl_secs: i64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Argon2 computations at once; default: number of cores.
    pub hash_concurrency: Option<usize>,
    /// How long a node answers session checks from memory before re-reading the database.
    pub auth_cache_ttl_ms: i64,
    pub outbox_poll_ms: u64,
    /// Seconds a node holds the messages it is delivering; after a crash they are retried once
    /// this passes. At least 20 (it must exceed the 15 s SMTP timeout).
    pub outbox_lease_secs: i64,
    /// Days the record of a sent or given-up message (recipient, subject, status, error) is
    /// kept; its body is blanked as soon as it is delivered or given up on. At least 1.
    pub outbox_retention_days: i64,
    /// Proxies in front of watchword (CIDR list, e.g. `10.0.0.0/8`; environment:
    /// comma-separated). The client IP is the right-most `X-Forwarded-For` address that is not
    /// one of them; empty: the peer address, and the header is ignored.
    pub trusted_proxies: Vec<String>,
    /// Signups asked for from one IP in an hour (each sends an email).
    pub signups_per_ip_per_hour: i64,
    /// `auto` (pretty on a terminal, JSON otherwise), `json` or `pretty`.
    pub log_format: String,
    /// A tracing filter such as `info` or `watchword=debug,info`; `RUST_LOG` wins when set.
    pub log_level: String,
    /// A Security Contact must have logged in within this many days.
    pub security_contact_login_window_days: i64,
    /// Days before that lapse when the contact gets one warning email.
    pub security_contact_warning_days: i64,
    /// How often the background check runs (seconds; at least 1).
    pub security_contact_check_interval_secs: u64,
    /// Staff roles that may not be Security Contact (environment: comma-separated).
    pub blocked_staff_roles: Vec<String>,
    /// Sensitive changes need a login or re-authentication this recent.
    pub reauthentication_window_secs: i64,
    /// Text every API key starts with: 2–16 lowercase letters, digits or `_`, ending in `_`.
    pub api_key_prefix: String,
    /// How long a node answers API key checks from memory without hearing of a change. Nodes
    /// on one PostgreSQL hear of revocations within milliseconds (LISTEN/NOTIFY); this bounds
    /// staleness only if a notification were lost.
    pub api_key_cache_ttl_ms: i64,
    /// Days before a contact who has not acknowledged an advisory that needs it is reminded.
    pub advisory_reminder_days: i64,
    /// The operator's security inbox: every member's report of suspicious activity is emailed
    /// here too (unset: only to the account's Security Contact).
    pub security_reports_to: Option<String>,
    /// How often expired keys are recorded in the audit log (seconds; at least 1).
    pub api_key_expiry_check_interval_secs: u64,
    /// Shared secret of the secret-scanning partner for `POST /api/v1/exposed-keys`; unset:
    /// reports are refused.
    pub exposure_report_secret: Option<String>,
    /// Bearer credential of the operator's backends for `POST /api/v1/introspect`; unset:
    /// introspection is refused.
    pub introspection_secret: Option<String>,
    /// Bearer credential of the operator's billing for `PUT /api/v1/operator/accounts/{id}/plan`;
    /// unset: the operator API is refused.
    pub operator_secret: Option<String>,
    /// DNS server (`IP:PORT`) asked for domain verification TXT records; unset: the system's.
    pub dns_resolver: Option<String>,
    /// Keys sealing authenticator secrets: `id:base64key` entries, comma-separated, the last one
    /// sealing new values. Unset: a key file `mfa-keys` in the data directory, created on first
    /// start (give every node the same keys when several share a database).
    pub mfa_keys: Option<String>,
    /// Peppers of password hashes (Argon2's secret input): `id:base64key` entries (ids of at
    /// most 8 characters), comma-separated, the last one for new hashes; a hash names its pepper,
    /// so keep older ones while hashes use them. Unset: a file `password-peppers` in the data
    /// directory, created on first start (give every node the same).
    pub password_peppers: Option<String>,
    /// SAML responses verified at once per node (1–64); default: the number of cores, at most 4.
    pub saml_verify_concurrency: Option<usize>,
    /// Milliseconds a SAML response may take to verify, waiting for a turn included; past it the
    /// sign-in is refused with `saml_verification_timeout`. Default 2000.
    pub saml_verify_timeout_ms: u64,
    /// URLs an account supplies (audit streams, SSO providers) may name loopback addresses.
    /// Development and tests only; default false.
    pub outbound_allow_loopback: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./watchword-data"),
            database_url: None,
            database_listen_url: None,
            database_max_connections: 10,
            public_url: None,
            smtp_url: None,
            mail_from: "watchword <no-reply@localhost>".into(),
            dkim_selector: None,
            dkim_private_key_file: None,
            sms_webhook_url: None,
            sms_webhook_secret: None,
            session_idle_timeout_secs: 2 * 3600,
            session_absolute_timeout_secs: 24 * 3600,
            invitation_ttl_secs: 7 * 24 * 3600,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hash_concurrency: None,
            auth_cache_ttl_ms: 1000,
            outbox_poll_ms: 2000,
            outbox_lease_secs: 60,
            outbox_retention_days: 30,
            trusted_proxies: Vec::new(),
            signups_per_ip_per_hour: 10,
            log_format: "auto".into(),
            log_level: "info".into(),
            security_contact_login_window_days: 365,
            security_contact_warning_days: 30,
            security_contact_check_interval_secs: 3600,
            blocked_staff_roles: vec!["staff_access".into()],
            reauthentication_window_secs: 15 * 60,
            api_key_prefix: "ww_".into(),
            api_key_cache_ttl_ms: 60_000,
            advisory_reminder_days: 7,
            security_reports_to: None,
            api_key_expiry_check_interval_secs: 60,
            exposure_report_secret: None,
            introspection_secret: None,
            operator_secret: None,
            dns_resolver: None,
            mfa_keys: None,
            password_peppers: None,
            saml_verify_concurrency: None,
            saml_verify_timeout_ms: 2000,
            outbound_allow_loopback: false,
        }
    }
}

/// Keys settable from the environment as `WATCHWORD_<KEY>` (upper case).
const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "database_listen_url",
    "database_max_connections",
    "public_url",
    "smtp_url",
    "mail_from",
    "dkim_selector",
    "dkim_private_key_file",
    "sms_webhook_url",
    "sms_webhook_secret",
    "session_idle_timeout_secs",
    "session_absolute_timeout_secs",
    "invitation_ttl_secs",
    "argon2_memory_kib",
    "argon2_iterations",
    "argon2_parallelism",
    "hash_concurrency",
    "auth_cache_ttl_ms",
    "outbox_poll_ms",
    "outbox_lease_secs",
    "outbox_retention_days",
    "trusted_proxies",
    "signups_per_ip_per_hour",
    "log_format",
    "log_level",
    "security_contact_login_window_days",
    "security_contact_warning_days",
    "security_contact_check_interval_secs",
    "blocked_staff_roles",
    "reauthentication_window_secs",
    "api_key_prefix",
    "api_key_cache_ttl_ms",
    "advisory_reminder_days",
    "security_reports_to",
    "api_key_expiry_check_interval_secs",
    "exposure_report_secret",
    "introspection_secret",
    "operator_secret",
    "dns_resolver",
    "mfa_keys",
    "password_peppers",
    "saml_verify_concurrency",
    "saml_verify_timeout_ms",
    "outbound_allow_loopback",
];

/// Keys holding lists; their environment values are comma-separated.
const LIST_KEYS: &[&str] = &["blocked_staff_roles", "trusted_proxies"];

/// Keys whose value may come from a file named by `WATCHWORD_<KEY>_FILE`.
const SECRET_KEYS: &[&str] = &[
    "database_url",
    "database_listen_url",
    "smtp_url",
    "sms_webhook_url",
    "sms_webhook_secret",
    "exposure_report_secret",
    "introspection_secret",
    "operator_secret",
    "mfa_keys",
    "password_peppers",
];

/// `WATCHWORD_*` variables that are not configuration keys but are read elsewhere (the
/// configuration file's path, the test suite, the benchmarks).
const OTHER_VARIABLES: &[&str] = &[
    "config",
    "test_pg_url",
    "bench_server",
    "fuzz_examples",
    "previous_bin",
];

/// " (did you mean X?)" for the known key nearest to `name`, when one is near.
fn suggestion(name: &str, prefix: &str) -> String {
    KEYS.iter()
        .map(|k| (strsim::levenshtein(name, k), k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| {
            format!(
                " (did you mean {prefix}{}?)",
                if prefix.is_empty() {
                    k.to_string()
                } else {
                    k.to_uppercase()
                }
            )
        })
        .unwrap_or_default()
}

/// A misspelled `WATCHWORD_*` variable stops start-up, naming the nearest key, rather than
/// being ignored.
fn refuse_unknown_variables(names: impl Iterator<Item = String>) -> Result<(), String> {
    for var in names {
        let Some(rest) = var.strip_prefix("WATCHWORD_") else {
            continue;
        };
        let key = rest.to_lowercase();
        let file_of = key
            .strip_suffix("_file")
            .filter(|k| SECRET_KEYS.contains(k));
        if KEYS.contains(&key.as_str())
            || file_of.is_some()
            || OTHER_VARIABLES.contains(&key.as_str())
        {
            continue;
        }
        return Err(format!(
            "unknown environment variable {var}{}",
            suggestion(&key, "WATCHWORD_")
        ));
    }
    Ok(())
}

impl Config {
    /// Loads the file (explicit path must exist; `./watchword.toml` is optional) and the
    /// environment.
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read config file {}: {e}", p.display()))?,
                p.display().to_string(),
            ),
            None => match std::fs::read_to_string("watchword.toml") {
                Ok(t) => (t, "watchword.toml".to_owned()),
                Err(_) => (String::new(), String::new()),
            },
        };
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| format!("{origin}: {e}"))?;
        for key in KEYS {
            let var = format!("WATCHWORD_{}", key.to_uppercase());
            let mut value = std::env::var(&var).ok();
            if SECRET_KEYS.contains(key)
                && let Ok(file) = std::env::var(format!("{var}_FILE"))
            {
                let v = std::fs::read_to_string(&file)
                    .map_err(|e| format!("{var}_FILE: cannot read {file}: {e}"))?;
                value = Some(v.trim().to_owned());
            }
            if let Some(v) = value {
                let value = if LIST_KEYS.contains(key) {
                    toml::Value::Array(
                        v.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(|s| toml::Value::String(s.into()))
                            .collect(),
                    )
                } else {
                    typed(&v)
                };
                table.insert((*key).to_owned(), value);
            }
        }
        refuse_unknown_variables(std::env::vars().map(|(k, _)| k))?;
        let config: Config = table.try_into().map_err(|e: toml::de::Error| {
            // `unknown field `lisen`, expected one of …`: name the nearest key instead.
            let unknown = e
                .message()
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next());
            let what = match unknown {
                Some(k) => format!("unknown key {k:?}{}", suggestion(k, "")),
                None => e.message().to_owned(),
            };
            format!(
                "invalid configuration{}: {what}",
                if origin.is_empty() {
                    String::new()
                } else {
                    format!(" in {origin} or WATCHWORD_* variables")
                }
            )
        })?;
        Ok(config)
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("watchword.db").display()))
    }

    /// The configured public URL, else the listening address — as `localhost` when it is a
    /// loopback address, since browsers refuse passkeys (and share no cookies) across
    /// `127.0.0.1` and `localhost`.
    pub fn public_url(&self, bound: std::net::SocketAddr) -> String {
        self.public_url.clone().unwrap_or_else(|| {
            if bound.ip().is_loopback() {
                format!("http://localhost:{}", bound.port())
            } else {
                format!("http://{bound}")
            }
        })
    }

    /// [`Self::public_url`] before listening (the CLI): from the `listen` setting.
    pub fn configured_public_url(&self) -> String {
        match self.listen.parse::<std::net::SocketAddr>() {
            Ok(addr) => self.public_url(addr),
            Err(_) => self
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", self.listen)),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        watchword_domain::password::HashParams::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
        )?;
        if self.session_idle_timeout_secs <= 0 || self.session_absolute_timeout_secs <= 0 {
            return Err("session timeouts must be positive numbers of seconds".into());
        }
        if self.outbox_lease_secs < 20 {
            return Err(
                "outbox_lease_secs must be at least 20 (longer than the SMTP timeout)".into(),
            );
        }
        if self.outbox_retention_days < 1 {
            return Err("outbox_retention_days must be at least 1".into());
        }
        if self.security_contact_check_interval_secs == 0 {
            return Err("security_contact_check_interval_secs must be at least 1".into());
        }
        if self.security_contact_login_window_days <= 0 || self.security_contact_warning_days < 0 {
            return Err("security_contact_login_window_days must be positive and security_contact_warning_days not negative".into());
        }
        let p = &self.api_key_prefix;
        if !(2..=16).contains(&p.len())
            || !p.ends_with('_')
            || !p
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!(
                "api_key_prefix must be 2 to 16 lowercase letters, digits or _ and end in _, not {p:?}"
            ));
        }
        if let Some(to) = &self.security_reports_to
            && watchword_domain::EmailAddress::parse(to).is_err()
        {
            return Err(format!(
                "security_reports_to must be an email address, not {to:?}"
            ));
        }
        if let Some(u) = &self.public_url {
            let host = u
                .strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"))
                .and_then(|rest| rest.split(['/', '?', '#']).next())
                .filter(|h| !h.is_empty() && !h.contains('@'));
            if host.is_none() || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!(
                    "public_url must be an absolute http(s) URL such as https://security.example.com, not {u:?}"
                ));
            }
        }
        if self.advisory_reminder_days < 1 {
            return Err("advisory_reminder_days must be at least 1".into());
        }
        if self.api_key_expiry_check_interval_secs == 0 || self.api_key_cache_ttl_ms < 0 {
            return Err("api_key_expiry_check_interval_secs must be at least 1 and api_key_cache_ttl_ms not negative".into());
        }
        for (name, v) in [
            ("exposure_report_secret", &self.exposure_report_secret),
            ("introspection_secret", &self.introspection_secret),
            ("operator_secret", &self.operator_secret),
            ("sms_webhook_secret", &self.sms_webhook_secret),
        ] {
            if v.as_ref().is_some_and(|v| v.len() < 32) {
                return Err(format!("{name} must be at least 32 characters"));
            }
        }
        if !["auto", "json", "pretty"].contains(&self.log_format.as_str()) {
            return Err(format!(
                "log_format must be auto, json or pretty, not {:?}",
                self.log_format
            ));
        }
        Ok(())
    }
}

/// Environment values are strings; numbers and booleans are recognised so they match the
/// field types.
fn typed(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match v {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(v.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert!(c.database_url().starts_with("sqlite://./watchword-data/"));
        c.validate().unwrap();
    }

    #[test]
    fn file_values_parse_and_unknown_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("ww-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("w.toml");
        std::fs::write(&p, "listen = \"0.0.0.0:9000\"\nauth_cache_ttl_ms = 0\n").unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(
            (c.listen.as_str(), c.auth_cache_ttl_ms),
            ("0.0.0.0:9000", 0)
        );
        std::fs::write(&p, "lisen = \"x\"\n").unwrap();
        let err = Config::load(Some(&p)).unwrap_err();
        assert!(
            err.contains("lisen") && err.contains("did you mean listen?"),
            "{err}"
        );
    }

    #[test]
    fn misspelled_variables_stop_start_up_with_a_suggestion() {
        let vars = |v: &[&str]| {
            v.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert!(
            refuse_unknown_variables(vars(&[
                "WATCHWORD_LISTEN",
                "HOME",
                "WATCHWORD_SMTP_URL_FILE",
                "WATCHWORD_CONFIG"
            ]))
            .is_ok()
        );
        let err = refuse_unknown_variables(vars(&["WATCHWORD_LISTN"])).unwrap_err();
        assert!(
            err.contains("WATCHWORD_LISTN") && err.contains("did you mean WATCHWORD_LISTEN?"),
            "{err}"
        );
        let err = refuse_unknown_variables(vars(&["WATCHWORD_LISTEN_FILE"])).unwrap_err();
        assert!(err.contains("WATCHWORD_LISTEN_FILE"), "{err}");
    }

    #[test]
    fn a_loopback_server_is_localhost() {
        let c = Config::default();
        let at = |a: &str| c.public_url(a.parse().unwrap());
        assert_eq!(at("127.0.0.1:8080"), "http://localhost:8080");
        assert_eq!(at("[::1]:8080"), "http://localhost:8080");
        assert_eq!(at("10.0.0.5:8080"), "http://10.0.0.5:8080");
        assert_eq!(c.configured_public_url(), "http://localhost:8080");
        let set = Config {
            public_url: Some("https://security.example.com".into()),
            ..Config::default()
        };
        assert_eq!(
            set.public_url("127.0.0.1:1".parse().unwrap()),
            "https://security.example.com"
        );
    }

    #[test]
    fn public_url_is_an_absolute_http_url() {
        let with = |u: &str| Config {
            public_url: Some(u.into()),
            ..Config::default()
        };
        for ok in [
            "https://security.example.com",
            "http://localhost:8080/",
            "https://a.example/ww",
        ] {
            assert!(with(ok).validate().is_ok(), "{ok}");
        }
        for bad in [
            "not a url",
            "security.example.com",
            "ftp://x.example",
            "https://",
            "https:///x",
            "https://u@x.example",
        ] {
            let err = with(bad).validate().unwrap_err();
            assert!(err.contains("public_url"), "{bad}: {err}");
        }
    }

    #[test]
    fn weak_argon2_is_refused() {
        let c = Config {
            argon2_memory_kib: 1024,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("OWASP"));
    }

    #[test]
    fn pepper_ids_fit_argon2s_keyid() {
        let key = watchword_domain::sealed::Keyring::new_entry("id");
        let key = key.split_once(':').unwrap().1;
        let with = |ids: &str| Config {
            password_peppers: Some(format!("{ids}:{key}")),
            ..Config::default()
        };
        assert!(crate::password_peppers(&with("p2026-1")).is_ok());
        let err = crate::password_peppers(&with("pepper-2026")).unwrap_err();
        assert!(err.contains("longer than 8"), "{err}");
    }
}
