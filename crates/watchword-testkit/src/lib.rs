//! Test harness: a real watchword server per test on port 0 with its own database (a SQLite file
//! in a temp dir, or a fresh PostgreSQL database), a real mail sink, and helpers per endpoint.

pub mod browser;
mod client;
pub use client::{challenge_in, first_cookie};
pub mod mail;
pub mod process;
pub mod siem;
pub mod sms;
pub mod sso;
pub mod topology;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;
use watchword::{Config, Running};

pub const PASSWORD: &str = "vivid-Lantern-47-orbit!";

/// The machine-readable code of an error answer (`{"error": {"code"}}`), or "".
pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

/// The TOTP code of a base32 secret now, from Debian's `oathtool` (an implementation independent
/// of watchword's).
pub fn oathtool(secret: &str) -> String {
    oathtool_at(secret, None)
}

/// The TOTP code of a base32 secret at `unix` seconds (now when `None`), from `oathtool`.
pub fn oathtool_at(secret: &str, unix: Option<i64>) -> String {
    let mut cmd = std::process::Command::new("oathtool");
    cmd.args(["--totp", "-b"]);
    if let Some(unix) = unix {
        cmd.args(["-N", &format!("@{unix}")]);
    }
    let out = cmd
        .arg(secret)
        .output()
        .expect("oathtool runs (apt-get install oathtool)");
    assert!(out.status.success(), "oathtool: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($(#[$m:meta])* $name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let Some(app) = $crate::TestApp::spawn($crate::Backend::Sqlite).await else {
                    return;
                };
                ($body)(app).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await else {
                    return;
                };
                ($body)(app).await
            }
        }
    };
}

/// Runs `f(backend)`, a test that starts what it needs itself, as two tests: `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $f:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$f($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$f($crate::Backend::Postgres).await
            }
        }
    };
}

/// The `watchword` binary built next to this test executable (`cargo test --workspace` builds
/// it for the binary's own tests).
pub fn watchword_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("watchword");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build -p watchword` or `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// Base URL of the PostgreSQL server tests create databases on.
pub fn pg_admin_url() -> String {
    std::env::var("WATCHWORD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Creates an empty PostgreSQL database; None (skip) when PostgreSQL is unreachable outside CI.
pub async fn fresh_pg_database() -> Option<(String, String)> {
    use sqlx::Connection;
    let admin = pg_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "PostgreSQL is required in CI but {admin} is unreachable: {e}. Start it or set WATCHWORD_TEST_PG_URL."
                );
            }
            eprintln!(
                "SKIPPED on PostgreSQL: {admin} unreachable ({e}); CI=true makes this a failure"
            );
            return None;
        }
    };
    let name = format!("wwt_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin);
    Some((format!("{base}/{name}"), name))
}

pub fn drop_pg_database(name: String) {
    // Runs on its own thread and runtime: Drop may happen inside or outside a runtime.
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            use sqlx::Connection;
            if let Ok(mut c) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut c)
                    .await;
            }
        })
    })
    .join();
}

/// A running server and what it needs, cleaned up on drop.
pub struct TestApp {
    pub running: Option<Running>,
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    pub database_url: String,
    pg_name: Option<String>,
    pub smtp: Option<mail::SmtpSink>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.shutdown_handle().send(true);
        }
        if let Some(name) = self.pg_name.take() {
            drop_pg_database(name);
        }
    }
}

/// A further server on a test's database; stopped on drop.
pub struct Node {
    pub base: String,
    running: Option<Running>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.shutdown_handle().send(true);
        }
    }
}

/// The `action` of each event of an audit page.
pub fn event_actions(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// The result of a signup: a person holding a session in an account.
#[derive(Debug, Clone)]
pub struct Login {
    pub token: String,
    pub account: String,
    pub person: String,
    pub membership: String,
    pub email: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with a config adjusted by `tweak` (after the test defaults are set).
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, pg_name) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("watchword.db").display()),
                None,
            ),
            Backend::Postgres => {
                let (url, name) = fresh_pg_database().await?;
                (url, Some(name))
            }
        };
        let mut config = Config {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            database_url: Some(database_url.clone()),
            outbox_poll_ms: 200,
            // The tests' IdPs and stream receivers listen on loopback.
            outbound_allow_loopback: true,
            ..Config::default()
        };
        tweak(&mut config);
        let running = watchword::start(config).await.expect("server starts");
        // As people open it: a loopback server is `localhost` (passkeys need a host name).
        let base = running.public_url.clone();
        Some(Self {
            running: Some(running),
            base,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            dir,
            backend,
            database_url,
            pg_name,
            smtp: None,
        })
    }

    /// Spawns with a real SMTP server (aiosmtpd) as the mail transport.
    pub async fn spawn_with_smtp(backend: Backend) -> Option<Self> {
        Self::spawn_with_smtp_and(backend, |_| {}).await
    }

    /// A real SMTP server and a config adjusted by `tweak`.
    pub async fn spawn_with_smtp_and(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
    ) -> Option<Self> {
        let sink = mail::SmtpSink::start().await;
        let url = sink.url();
        let mut app = Self::spawn_with(backend, |c| {
            c.smtp_url = Some(url);
            tweak(c)
        })
        .await?;
        app.smtp = Some(sink);
        Some(app)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with an optional bearer token and JSON body; returns status and JSON
    /// (Null when the body is empty or not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Signs up as a new person: asks, reads the emailed link, confirms it (token session).
    pub async fn signup(&self, account: &str, name: &str, email: &str) -> Login {
        let token = self.request_signup(account, name, email).await;
        let (status, v) = self
            .call(
                Method::POST,
                "/api/v1/signup/confirm",
                None,
                Some(json!({"token": token, "session_mode": "token"})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "signup confirmation failed: {v}"
        );
        Login {
            token: v["session_token"].as_str().expect("token").to_owned(),
            account: v["account"]["id"].as_str().expect("account").to_owned(),
            person: v["person"]["id"].as_str().expect("person").to_owned(),
            membership: v["membership"]["id"]
                .as_str()
                .expect("membership")
                .to_owned(),
            email: email.to_owned(),
        }
    }

    /// Asks for a signup (202) and returns the token of the link emailed to `email`.
    pub async fn request_signup(&self, account: &str, name: &str, email: &str) -> String {
        let body =
            json!({"account_name": account, "name": name, "email": email, "password": PASSWORD});
        let (status, v) = self
            .call(Method::POST, "/api/v1/signup", None, Some(body))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "signup failed: {v}");
        assert_eq!(v["status"], "verification_sent");
        self.signup_token(email).await
    }

    /// The token of the newest signup link to `email`, read from the outbox (it is written in
    /// the request's transaction, so it is there whether or not mail is delivered), or from the
    /// delivered email once the outbox has blanked its body.
    pub async fn signup_token(&self, email: &str) -> String {
        self.mail_token(email, "Confirm your email to create").await
    }

    /// The `token=` of the newest email to `email` whose subject starts with `subject`, from
    /// the outbox (written in the request's transaction) or, once the outbox blanked its body,
    /// from the delivered email.
    pub async fn mail_token(&self, email: &str, subject: &str) -> String {
        use sqlx::Row;
        let mut c = self.app().store().read().await.expect("read");
        let rows = sqlx::query(
            "SELECT body_text FROM outbox WHERE recipient = $1 AND subject LIKE $2 ORDER BY created_at DESC",
        )
        .bind(email.to_lowercase())
        .bind(format!("{subject}%"))
        .fetch_all(&mut *c)
        .await
        .expect("outbox read");
        let text: String = rows
            .first()
            .unwrap_or_else(|| panic!("an email {subject:?} to {email} in the outbox"))
            .get("body_text");
        let text = if text.is_empty() {
            self.wait_for_email(&email.to_lowercase(), subject)
                .await
                .text
        } else {
            text
        };
        mail::link_token(&text).expect("a link with a token")
    }

    /// A signed-in person creates a further account they own; returns its login view.
    pub async fn create_account(&self, by: &Login, name: &str) -> Login {
        let (status, v) = self
            .post("/api/v1/accounts", &by.token, json!({"name": name}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "account creation failed: {v}");
        Login {
            account: v["id"].as_str().expect("account").to_owned(),
            membership: v["membership"]["id"]
                .as_str()
                .expect("membership")
                .to_owned(),
            ..by.clone()
        }
    }

    /// The actions of an account's audit events, newest first, as `by` sees them.
    pub async fn audit_actions(&self, by: &str, account: &str) -> Vec<String> {
        let path = format!("/api/v1/accounts/{account}/audit-events?limit=1000");
        let (s, v) = self.get(&path, by).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        event_actions(&v)
    }

    /// A new session for `who` (without a second factor), e.g. after the clock moved past the
    /// last one's end.
    pub async fn relogin(&self, who: &Login) -> Login {
        let (s, v) = self.login(&who.email, PASSWORD).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        Login {
            token: v["session_token"].as_str().expect("token").to_owned(),
            ..who.clone()
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        let body = json!({"email": email, "password": password, "session_mode": "token"});
        self.call(Method::POST, "/api/v1/login", None, Some(body))
            .await
    }

    /// Invites `email` with `role` into `by`'s account, reads the emailed link, accepts it as a new
    /// person, and returns their login.
    /// Ada, Owner of Acme (signed up), and Grace, an Admin she invited, its Security Contact.
    pub async fn ada_with_grace_as_contact(&self) -> (Login, Login) {
        let ada = self.signup("Acme", "Ada", "ada@example.com").await;
        let grace = self
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        let (s, v) = self.put_security_contact(&ada, &grace.membership).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        (ada, grace)
    }

    pub async fn invite_and_accept(&self, by: &Login, email: &str, role: &str) -> Login {
        let (status, v) = self
            .post(
                &format!("/api/v1/accounts/{}/invitations", by.account),
                &by.token,
                json!({"email": email, "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "invite failed: {v}");
        let token = self.invitation_token(email).await;
        let body = json!({"token": token, "name": format!("Member {role}"), "password": PASSWORD, "session_mode": "token"});
        let (status, a) = self
            .call(Method::POST, "/api/v1/invitations/accept", None, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "accept failed: {a}");
        Login {
            token: a["session_token"]
                .as_str()
                .expect("session token")
                .to_owned(),
            account: by.account.clone(),
            person: a["person_id"].as_str().unwrap().to_owned(),
            membership: a["membership_id"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
        }
    }

    /// Waits for the invitation email to `to` and extracts the token from its link.
    pub async fn invitation_token(&self, to: &str) -> String {
        let msg = self.wait_for_email(to, "invited you").await;
        mail::link_token(&msg.text).expect("invitation link in email")
    }

    /// Waits (bounded) until an email to `to` whose subject contains `subject` was delivered.
    pub async fn wait_for_email(&self, to: &str, subject: &str) -> mail::Email {
        for _ in 0..200 {
            let all = self.emails();
            if let Some(m) = all
                .into_iter()
                .find(|m| m.to.contains(to) && m.subject.contains(subject))
            {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "no email to {to} with subject containing {subject:?}; have: {:?}",
            self.emails()
                .iter()
                .map(|m| (&m.to, &m.subject))
                .collect::<Vec<_>>()
        );
    }

    /// Every email delivered so far (SMTP sink when used, otherwise the .eml files).
    pub fn emails(&self) -> Vec<mail::Email> {
        match &self.smtp {
            Some(s) => s.emails(),
            None => mail::read_dir(&self.dir.path().join("mail")),
        }
    }

    /// The number of rows a query returns.
    pub async fn count_rows(&self, query: &str, binds: &[&str]) -> usize {
        let store = self.running.as_ref().expect("running").app.store().clone();
        let mut c = store.read().await.expect("read");
        let mut q = sqlx::query(query);
        for b in binds {
            q = q.bind(*b);
        }
        q.fetch_all(&mut *c).await.expect("query").len()
    }

    /// Runs one statement on the server's database (to set up states the API cannot reach, such
    /// as a login long ago).
    pub async fn sql(&self, statement: &str, binds: &[&str]) -> u64 {
        let store = self.running.as_ref().expect("running").app.store().clone();
        let mut tx = store.begin().await.expect("begin");
        let mut q = sqlx::query(statement);
        for b in binds {
            q = q.bind(*b);
        }
        let n = q
            .execute(&mut *tx)
            .await
            .expect("statement")
            .rows_affected();
        tx.commit().await.expect("commit");
        // As every use case does after a commit: this node forgets what it cached.
        self.app().invalidate_caches();
        n
    }

    /// Sets a person's last interactive login `days_ago` days back.
    pub async fn set_last_login_days_ago(&self, email: &str, days_ago: i64) {
        let at = watchword_domain::Millis::now()
            .minus_secs(days_ago * 86_400)
            .0
            .to_string();
        let n = self
            .sql(
                "UPDATE persons SET last_login_at = CAST($1 AS BIGINT) WHERE email = $2",
                &[&at, email],
            )
            .await;
        assert_eq!(n, 1);
        // And the copies the memberships keep (as the store's record_login).
        self.sql(
            "UPDATE memberships SET last_login_at = CAST($1 AS BIGINT) \
             WHERE person_id = (SELECT id FROM persons WHERE email = $2)",
            &[&at, email],
        )
        .await;
    }

    /// Waits (bounded) until the outbox has nothing pending.
    pub async fn wait_outbox_empty(&self) {
        for _ in 0..400 {
            let mut c = self.app().store().read().await.expect("read");
            if watchword_store::outbox::pending_count(&mut c)
                .await
                .expect("count")
                == 0
            {
                return;
            }
            drop(c);
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("outbox never emptied");
    }

    /// Moves every session's last authentication an hour back, so sensitive actions ask for a
    /// fresh one (`reauthentication_required`).
    /// Moves the server's clock `secs` forward: every time-based rule of its use cases sees the
    /// later time (sign-ins grow old, codes and links expire) with no row edited.
    pub fn advance_clock(&self, secs: i64) {
        self.app().clock().advance(secs);
    }

    /// Past the step-up window (`recent_auth_secs`, 15 minutes): sign-ins are no longer recent.
    pub fn make_sign_ins_old(&self) {
        self.advance_clock(15 * 60 + 1);
    }

    /// Ages sign-ins by editing rows, for a test whose codes must stay fresh meanwhile.
    pub async fn age_sign_ins(&self) {
        self.sql(
            "UPDATE sessions SET authenticated_at = authenticated_at - 3600000",
            &[],
        )
        .await;
    }

    /// Every SMS the embedded provider wrote (the server's `data_dir/sms`).
    pub fn sms_sent(&self) -> Vec<Value> {
        sms::read_dir(&self.dir.path().join("sms"))
    }

    /// Waits (bounded) until the embedded provider wrote `n` SMS; returns the `n`th.
    pub async fn wait_for_sms(&self, n: usize) -> Value {
        for _ in 0..200 {
            if let Some(m) = self.sms_sent().into_iter().nth(n - 1) {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("SMS number {n} never came; have {:?}", self.sms_sent());
    }

    /// Moves every sent SMS code `secs` into the past (their rate limits and expiry with them).
    pub async fn age_sms_codes(&self, secs: i64) {
        let ms = (secs * 1000).to_string();
        self.sql(
            "UPDATE sms_codes SET created_at = created_at - CAST($1 AS BIGINT), expires_at = expires_at - CAST($1 AS BIGINT)",
            &[&ms],
        )
        .await;
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Another server on the same database, as a second node of a cluster.
    pub async fn spawn_node(&self) -> Node {
        self.spawn_node_with(|_| {}).await
    }

    /// [`Self::spawn_node`] with its config adjusted by `tweak`.
    pub async fn spawn_node_with(&self, tweak: impl FnOnce(&mut Config)) -> Node {
        let dir = self
            .dir
            .path()
            .join(format!("node-{}", uuid::Uuid::new_v4()));
        // As the README asks of several nodes: the same MFA keys and password peppers.
        let shared = |file: &str| {
            std::fs::read_to_string(self.data_dir().join(file))
                .ok()
                .map(|t| t.trim().replace('\n', ","))
        };
        let mut config = Config {
            listen: "127.0.0.1:0".into(),
            data_dir: dir,
            database_url: Some(self.database_url.clone()),
            mfa_keys: shared("mfa-keys"),
            password_peppers: shared("password-peppers"),
            outbound_allow_loopback: true,
            // Nodes behind one address: the first node's.
            public_url: Some(self.base.clone()),
            ..Config::default()
        };
        tweak(&mut config);
        let running = watchword::start(config).await.expect("second node starts");
        Node {
            base: format!("http://{}", running.addr),
            running: Some(running),
        }
    }

    pub fn app(&self) -> &watchword_app::App {
        &self.running.as_ref().expect("running").app
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}
