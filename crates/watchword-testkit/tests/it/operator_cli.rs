//! The operator's commands against a real database, on SQLite and PostgreSQL: the Security Contact
//! job (`--as-of`, `--dry-run`, `--json`), staff grants, MFA key rotation, and a crash between a
//! change and the delivery of its emails.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use watchword_domain::Millis;
use watchword_testkit::{Backend, TestApp, both_backends, watchword_bin};

pub(crate) fn run(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(watchword_bin())
        .args(args)
        .args(["--database-url", &app.database_url, "--data-dir"])
        .arg(app.data_dir())
        .env("WATCHWORD_LOG_LEVEL", "warn")
        .output()
        .expect("run watchword");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

both_backends!(
    contact_check_job_previews_and_applies,
    |app: TestApp| async move {
        let (ada, grace) = app.ada_and_grace().await;
        let path = format!("/api/v1/accounts/{}/security-contact", ada.account);
        let (s, _) = app
            .call(
                Method::PUT,
                &path,
                Some(&ada.token),
                Some(json!({"member_id": grace.membership})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let later = Millis::now().plus_secs(400 * 86_400).rfc3339();
        let (ok, out, err) = run(
            &app,
            &[
                "jobs",
                "run",
                "security-contact-check",
                "--as-of",
                &later,
                "--dry-run",
                "--json",
            ],
        );
        assert!(ok, "{err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["dry_run"], true);
        assert_eq!(report["reverted"][0]["account_id"], ada.account.as_str());
        assert_eq!(report["reverted"][0]["reasons"], json!(["no_recent_login"]));
        assert_eq!(
            app.get(&path, &ada.token).await.1["email"],
            "grace@example.com",
            "dry run changes nothing"
        );
        let (ok, out, err) = run(
            &app,
            &["jobs", "run", "security-contact-check", "--as-of", &later],
        );
        assert!(ok, "{err}");
        assert!(
            out.contains("reverted") && out.contains(&ada.account) && out.contains("1 reverted"),
            "{out}"
        );
        assert_eq!(
            app.get(&path, &ada.token).await.1["email"],
            "ada@example.com"
        );
        let (ok, _, err) = run(
            &app,
            &["jobs", "run", "security-contact-check", "--as-of", "soon"],
        );
        assert!(!ok && err.contains("RFC 3339"), "{err}");
    }
);

both_backends!(
    staff_grants_are_marked_expire_and_revoke,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let sam = app
            .signup("Operator", "Sam Staff", "sam@operator.example")
            .await;
        let (ok, out, err) = grant_sam(&app, &ada);
        assert!(ok, "{err}");
        assert!(out.contains("granted staff_access"), "{out}");
        let row = app.member(&ada, "sam@operator.example").await;
        assert_eq!(
            (row["staff"].as_bool(), row["staff_expires_at"].as_str()),
            (Some(true), Some("2099-01-01T00:00:00Z"))
        );
        let (s, _) = app
            .get(&format!("/api/v1/accounts/{}", ada.account), &sam.token)
            .await;
        assert_eq!(s, StatusCode::OK, "staff can reach the account");
        // Customers cannot hand out the staff role themselves.
        let (s, v) = app.invite(&ada, "x@example.com", "staff_access").await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("staff_role_not_assignable")
            )
        );
        let (ok, out, err) = run(
            &app,
            &["staff", "revoke", &ada.account, "sam@operator.example"],
        );
        assert!(ok, "{err}");
        assert!(out.contains("revoked"));
        assert_eq!(
            app.get(&format!("/api/v1/accounts/{}", ada.account), &sam.token)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        let (_, events) = app
            .get(
                &format!("/api/v1/accounts/{}/audit-events", ada.account),
                &ada.token,
            )
            .await;
        let actions: Vec<_> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            actions.contains(&"staff.granted".into()) && actions.contains(&"staff.revoked".into())
        );
        // An expired grant no longer opens the account.
        let (ok, _, err) = grant_sam(&app, &ada);
        assert!(ok, "{err}");
        app.sql(
            "UPDATE memberships SET staff_expires_at = 1 WHERE email = $1",
            &["sam@operator.example"],
        )
        .await;
        // (Checked on the account itself: whoami may answer from this node's 1 s session cache, and
        // the grant was changed by another process.)
        let (s, _) = app
            .get(&format!("/api/v1/accounts/{}", ada.account), &sam.token)
            .await;
        assert_eq!(
            s,
            StatusCode::NOT_FOUND,
            "an expired staff grant opens nothing"
        );
        let (ok, _, err) = run(
            &app,
            &["staff", "grant", "not-an-id", "sam@operator.example"],
        );
        assert!(!ok && err.contains("not an account id"), "{err}");
    }
);

/// A child process killed when dropped, so a failing test leaves nothing running.
struct Process(Child);

impl Process {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `watchword serve` as its own process and returns it with its base URL.
/// Grants Sam of the operator's staff access to Ada's account until 2099.
fn grant_sam(app: &TestApp, ada: &watchword_testkit::Login) -> (bool, String, String) {
    let args = ["staff", "grant", &ada.account, "sam@operator.example"];
    let until = ["--expires", "2099-01-01T00:00:00Z"];
    run(app, &[&args[..], &until[..]].concat())
}

fn serve(dir: &std::path::Path, db: &str, smtp: &str) -> (Process, String) {
    let mut child = Command::new(watchword_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            db,
            "--data-dir",
        ])
        .arg(dir)
        .env("WATCHWORD_SMTP_URL", smtp)
        .env("WATCHWORD_OUTBOX_POLL_MS", "100")
        .env("WATCHWORD_OUTBOX_LEASE_SECS", "20")
        .env("WATCHWORD_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("URL printed")
        .trim_end_matches('/')
        .to_owned();
    (Process(child), url)
}

/// The change commits with its emails; the process dies before delivering them; the next start
/// delivers them, once.
async fn crash_between_change_and_delivery(backend: Backend) {
    let Some(mut app) = TestApp::spawn(backend).await else {
        return;
    };
    // The in-process server only provides the database (migrated, dropped afterwards); it stops
    // so that its own dispatcher does not deliver what the processes below leave pending.
    app.running.take().unwrap().stop().await;
    let (dir, db) = (app.data_dir().join("node"), app.database_url.clone());
    std::fs::create_dir_all(&dir).unwrap();
    let sink = watchword_testkit::mail::SmtpSink::start().await;
    let (mut first, base) = serve(&dir, &db, &sink.url());
    let client = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut r = client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let pw = watchword_testkit::PASSWORD;
    let res = post("/api/v1/signup", None, json!({"account_name": "Acme", "name": "Ada Lovelace", "email": "ada@example.com", "password": pw})).await.unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let link = sink.link_to("ada@example.com").await;
    let confirm = json!({"token": link, "session_mode": "token"});
    let signup: Value = post("/api/v1/signup/confirm", None, confirm)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (token, account) = (
        signup["session_token"].as_str().unwrap().to_owned(),
        signup["account"]["id"].as_str().unwrap().to_owned(),
    );
    let res = post(
        &format!("/api/v1/accounts/{account}/invitations"),
        Some(&token),
        json!({"email": "grace@example.com", "role": "admin"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let invite = sink.link_to("grace@example.com").await;
    let accepted: Value = post(
        "/api/v1/invitations/accept",
        None,
        json!({"token": invite, "name": "Grace Hopper", "password": pw}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let grace = accepted["membership_id"].as_str().unwrap().to_owned();
    // The mail server goes away; the change commits; the process is killed.
    drop(sink);
    let res = client
        .put(format!("{base}/api/v1/accounts/{account}/security-contact"))
        .bearer_auth(&token)
        .json(&json!({"member_id": grace}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    first.kill();
    // A new process with a working mail server delivers both emails.
    let sink = watchword_testkit::mail::SmtpSink::start().await;
    let (mut second, _) = serve(&dir, &db, &sink.url());
    let mut got = Vec::new();
    // Bounded by the lease (20 s) plus the first retry's backoff (10 s).
    for _ in 0..2000 {
        got = sink
            .emails()
            .into_iter()
            .filter(|m| m.subject.contains("Security Contact of Acme"))
            .collect();
        if got.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let mut to: Vec<_> = got.iter().map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        vec!["ada@example.com", "grace@example.com"],
        "both emails survive the crash, once each"
    );
    second.kill();
}

watchword_testkit::on_both_backends!(
    crash_between_change_and_delivery,
    crash_between_change_and_delivery
);

both_backends!(
    rotate_mfa_key_reseals_every_secret,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let (s, v) = app.post("/api/v1/me/mfa/totp", &ada.token, json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let secret = v["secret"].as_str().unwrap();
        let out = Command::new("oathtool")
            .args(["--totp", "-b", secret])
            .output()
            .expect("oathtool");
        let code = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let (s, v) = app
            .post(
                "/api/v1/me/mfa/totp/confirm",
                &ada.token,
                json!({"code": code}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        const SEALED_UNDER: &str = "UPDATE mfa_factors SET name = name WHERE key_id = $1";
        assert_eq!(app.sql(SEALED_UNDER, &["k1"]).await, 1);
        // A report's headers and attachment are sealed with the same keyring.
        let png = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0],
        );
        let report = json!({"kind": "other", "description": "Odd.", "headers": "X-A: b",
            "attachments": [{"filename": "a.png", "content_base64": png}]});
        let path = format!("/api/v1/accounts/{}/security-reports", ada.account);
        let (s, v) = app.post(&path, &ada.token, report).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        const REPORTS_UNDER: &str = "UPDATE security_reports SET note = note WHERE key_id = $1";
        const FILES_UNDER: &str =
            "UPDATE security_report_attachments SET size = size WHERE key_id = $1";

        let (ok, stdout, stderr) = run(&app, &["rotate-mfa-key"]);
        assert!(ok, "{stderr}");
        assert!(stdout.contains("re-sealed 3 secrets"), "{stdout}");
        assert!(stdout.contains("under key k2"), "{stdout}");
        assert_eq!(app.sql(SEALED_UNDER, &["k1"]).await, 0);
        assert_eq!(app.sql(SEALED_UNDER, &["k2"]).await, 1);
        for q in [REPORTS_UNDER, FILES_UNDER] {
            assert_eq!(
                (app.sql(q, &["k1"]).await, app.sql(q, &["k2"]).await),
                (0, 1),
                "{q}"
            );
        }
        let file = app.data_dir().join("mfa-keys");
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text.lines().filter(|l| !l.trim().is_empty()).count(),
            2,
            "old key kept to open old values"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // The running server was not restarted: it reads the key file again when a secret
        // names a key it lacks, so an authenticator-app login still works.
        let ch = app.challenge("ada@example.com").await;
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let next = watchword_testkit::oathtool_at(secret, Some(unix + 30));
        let (s, v) = app.finish_login(&ch, "totp", &next).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["session_token"].is_string(), "{v}");
    }
);

both_backends!(
    accounts_are_listed_for_the_operator,
    |app: TestApp| async move {
        let (ada, _grace) = app.ada_and_grace().await;
        let eve = app.signup("Evil", "Eve", "eve@example.com").await;
        let (ok, stdout, stderr) = run(&app, &["accounts", "list"]);
        assert!(ok, "{stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert!(lines[0].starts_with(&ada.account), "{stdout}");
        assert!(
            lines[0].contains("owner ada@example.com") && lines[0].contains("2 members"),
            "{stdout}"
        );
        assert!(
            lines[1].contains("Evil") && lines[1].contains("1 member"),
            "{stdout}"
        );
        let (ok, stdout, stderr) = run(&app, &["accounts", "show", &eve.account, "--json"]);
        assert!(ok, "{stderr}");
        let v: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(
            (
                v["name"].as_str(),
                v["plan"].as_str(),
                v["owner"].as_str(),
                v["members"].as_i64()
            ),
            (Some("Evil"), Some("free"), Some("eve@example.com"), Some(1)),
            "{v}"
        );
        let (ok, _, stderr) = run(&app, &["accounts", "show", "not-an-id"]);
        assert!(!ok && stderr.contains("not an account id"), "{stderr}");
    }
);
