//! A rolling upgrade: the previous release (deploy/previous-release, built by
//! scripts/previous-release, passed as WATCHWORD_PREVIOUS_BIN) serves a database; this build
//! migrates it while the old one serves; then both serve it at once, and a smoke suite crosses
//! them both ways: a session, a key, a revocation and a logout made on one are honoured by the
//! other.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use watchword_testkit::process::{Served, signup};
use watchword_testkit::{PASSWORD, drop_pg_database, fresh_pg_database, mail, watchword_bin};

/// The previous release's binary; None (skip) outside CI when it was not built.
fn previous_release() -> Option<PathBuf> {
    match std::env::var_os("WATCHWORD_PREVIOUS_BIN") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "CI needs WATCHWORD_PREVIOUS_BIN (scripts/test sets it from scripts/previous-release)"
            )
        }
        None => {
            eprintln!("SKIPPED: WATCHWORD_PREVIOUS_BIN unset (run scripts/previous-release)");
            None
        }
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = client.request(method, url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn status(client: &reqwest::Client, base: &str, path: &str, token: &str) -> StatusCode {
    call(
        client,
        reqwest::Method::GET,
        format!("{base}{path}"),
        Some(token),
        None,
    )
    .await
    .0
}

/// Asks until `base` refuses (bounded: the other release's change reaches it by notification).
async fn until_refused(client: &reqwest::Client, base: &str, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(client, base, "/api/v1/whoami", token).await == StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "{base} still accepts a revoked credential"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What one release makes, the other honours: `a` makes, `b` checks, and the reverse.
/// The two answers with only the object keys both have, recursively.
fn shared(x: Value, y: Value) -> (Value, Value) {
    match (x, y) {
        (Value::Object(mut a), Value::Object(mut b)) => {
            a.retain(|k, _| b.contains_key(k));
            b.retain(|k, _| a.contains_key(k));
            let keys: Vec<String> = a.keys().cloned().collect();
            for k in keys {
                let (va, vb) = shared(a.remove(&k).unwrap(), b.remove(&k).unwrap());
                a.insert(k.clone(), va);
                b.insert(k, vb);
            }
            (Value::Object(a), Value::Object(b))
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            let (a, b) = a.into_iter().zip(b).map(|(x, y)| shared(x, y)).unzip();
            (Value::Array(a), Value::Array(b))
        }
        other => other,
    }
}

async fn smoke(client: &reqwest::Client, a: &str, b: &str, email: &str, account: &str) {
    // A session opened on `a` works on `b`; logged out on `b`, refused on `a`.
    let body = json!({"email": email, "password": PASSWORD, "session_mode": "token"});
    let (s, v) = call(
        client,
        reqwest::Method::POST,
        format!("{a}/api/v1/login"),
        None,
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let session = v["session_token"].as_str().unwrap().to_owned();
    assert_eq!(
        status(client, b, "/api/v1/whoami", &session).await,
        StatusCode::OK
    );
    // A key made on `a` is accepted on `b`; revoked on `b`, refused on `a`.
    let keys = format!("/api/v1/accounts/{account}/api-keys");
    let (s, v) = call(
        client,
        reqwest::Method::POST,
        format!("{a}{keys}"),
        Some(&session),
        Some(json!({"name": "smoke", "scopes": ["members:read"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (key, id) = (
        v["secret"].as_str().unwrap().to_owned(),
        v["id"].as_str().unwrap().to_owned(),
    );
    let members = format!("/api/v1/accounts/{account}/members");
    assert_eq!(status(client, b, &members, &key).await, StatusCode::OK);
    assert_eq!(status(client, a, &members, &key).await, StatusCode::OK);
    let (s, v) = call(
        client,
        reqwest::Method::DELETE,
        format!("{b}{keys}/{id}"),
        Some(&session),
        None,
    )
    .await;
    assert!(s.is_success(), "{s} {v}");
    until_refused(client, a, &key).await;
    // Both list the same members and the same audit trail.
    let list = |base: String| {
        let session = session.clone();
        async move {
            let (s, v) = call(client, reqwest::Method::GET, base, Some(&session), None).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            v
        }
    };
    // A release may add fields (additive API): the ones both answer must agree.
    let (x, y) = shared(
        list(format!("{a}{members}")).await,
        list(format!("{b}{members}")).await,
    );
    assert_eq!(x, y);
    let audit = format!("/api/v1/accounts/{account}/audit-events?limit=1000");
    assert_eq!(
        list(format!("{a}{audit}")).await,
        list(format!("{b}{audit}")).await
    );
    let (s, _) = call(
        client,
        reqwest::Method::POST,
        format!("{b}/api/v1/logout"),
        Some(&session),
        Some(json!({})),
    )
    .await;
    assert!(s.is_success(), "{s}");
    until_refused(client, a, &session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_release_and_this_one_serve_one_database_at_once() {
    let Some(previous) = previous_release() else {
        return;
    };
    let Some((db, name)) = fresh_pg_database().await else {
        return;
    };
    watchword_app::install_crypto_provider();
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let start = |bin: PathBuf| {
        let (db, data) = (db.clone(), data.clone());
        tokio::task::spawn_blocking(move || Served::start(&bin, &db, &data, &[]))
    };
    // The previous release made the database and holds a signed-up person.
    let old = start(previous.clone()).await.unwrap();
    let mails = || mail::read_dir(&data.join("mail"));
    let (_, account) = signup(&client, &old.base, &db, "ada@example.com", mails).await;

    // This build migrates the database while the old one serves, then serves beside it.
    let out = std::process::Command::new(watchword_bin())
        .args(["migrate", "--database-url", &db, "--data-dir"])
        .arg(&data)
        .env("WATCHWORD_LOG_LEVEL", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        status(&client, &old.base, "/readyz", "").await,
        StatusCode::OK
    );
    let new = start(watchword_bin()).await.unwrap();
    let versions: Vec<String> = [&previous, &watchword_bin()]
        .iter()
        .map(|b| {
            String::from_utf8(
                std::process::Command::new(b)
                    .arg("--version")
                    .output()
                    .unwrap()
                    .stdout,
            )
            .unwrap()
        })
        .collect();
    eprintln!(
        "rolling upgrade: {} and {} on one database",
        versions[0].trim(),
        versions[1].trim()
    );

    smoke(&client, &old.base, &new.base, "ada@example.com", &account).await;
    smoke(&client, &new.base, &old.base, "ada@example.com", &account).await;
    drop((old, new));
    drop_pg_database(name);
}
