//! `watchword serve` as a process of its own (this build or another release's binary), for
//! tests that kill nodes or run two releases side by side.

use crate::mail::{self, Email};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A serving process, killed on drop.
pub struct Served {
    child: Child,
    pub base: String,
}

impl Served {
    /// Starts `bin serve` on `database_url` with `data_dir` (nodes of one cluster share it: the
    /// same MFA keys and password peppers) on a free loopback port, plus `WATCHWORD_*` settings
    /// in `env`; returns once it says it is running (at most 60 s). Blocking.
    pub fn start(bin: &Path, database_url: &str, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = crate::topology::free_port();
        let mut cmd = Command::new(bin);
        // Only the settings given here: another release refuses variables it does not know
        // (the test suite's own, such as WATCHWORD_PREVIOUS_BIN).
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("WATCHWORD_")) {
            cmd.env_remove(name);
        }
        let mut child = cmd
            .arg("serve")
            .env("WATCHWORD_DATABASE_URL", database_url)
            .env("WATCHWORD_DATA_DIR", data_dir)
            .env("WATCHWORD_LISTEN", format!("127.0.0.1:{port}"))
            .env("WATCHWORD_LOG_LEVEL", "error")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("watchword is running") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{} serve never said it was running", bin.display()));
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// SIGKILL: no shutdown, no flush, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Signs up on `base` as `email`, Owner of a new account "Acme": the session token and the
/// account id. The link is read from the outbox (database `db`), or from `mails` once the
/// outbox has blanked the delivered body.
pub async fn signup(
    client: &reqwest::Client,
    base: &str,
    db: &str,
    email: &str,
    mails: impl Fn() -> Vec<Email>,
) -> (String, String) {
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).json(&body).send();
    let body =
        json!({"account_name": "Acme", "name": "Ada", "email": email, "password": crate::PASSWORD});
    let r = post("/api/v1/signup", body).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let text: String = {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(db).await.unwrap();
        sqlx::query_scalar(
            "SELECT body_text FROM outbox WHERE recipient = $1 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(email)
        .fetch_one(&mut c)
        .await
        .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        if !text.is_empty() {
            break text;
        }
        if let Some(m) = mails().into_iter().find(|m| m.to == email) {
            break m.text;
        }
        assert!(Instant::now() < deadline, "no signup mail to {email}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let token = mail::link_token(&text).unwrap();
    let r = post(
        "/api/v1/signup/confirm",
        json!({"token": token, "session_mode": "token"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    (
        v["session_token"].as_str().unwrap().to_owned(),
        v["account"]["id"].as_str().unwrap().to_owned(),
    )
}
