//! `/metrics` answers the operators' questions — sign-ins by second factor, limits hit, credential
//! checks by cache hit or miss, the changes listener, jobs, the outbox and the database pools —
//! in the Prometheus text format that Debian's `promtool check metrics` accepts, with no id or
//! email in a label.

use serde_json::json;
use watchword_testkit::{Backend, PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_operators_and_pass_promtool() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    for _ in 0..2 {
        let (s, _) = app.whoami(&ada.token).await;
        assert!(s.is_success());
    }
    let (s, key) = app
        .post(
            &format!("/api/v1/accounts/{}/api-keys", ada.account),
            &ada.token,
            json!({"name": "probe", "scopes": ["members:read"]}),
        )
        .await;
    assert!(s.is_success(), "{key}");
    let (s, _) = app.whoami(key["secret"].as_str().unwrap()).await;
    assert!(s.is_success());
    // Wrong passwords until the per-email limit refuses.
    for _ in 0..15 {
        app.login("ada@example.com", "not the password at all")
            .await;
    }
    let (s, _) = app.login("ada@example.com", PASSWORD).await;
    assert!(s.is_client_error() || s.is_success());
    // A logout is announced to every node, this one included (it hears its own).
    let (s, _) = app.post("/api/v1/logout", &ada.token, json!({})).await;
    assert!(s.is_success());
    let wanted = [
        "watchword_change_notifications_sent_total",
        "watchword_change_notification_lag_seconds_count",
        "watchword_audit_stream_lag_seconds",
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let text = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if wanted.iter().all(|w| text.contains(w)) || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    for series in wanted.into_iter().chain([
        r#"watchword_sign_ins_total{factor="none"}"#,
        r#"watchword_credential_checks_total{kind="session",cache="hit"}"#,
        r#"watchword_credential_checks_total{kind="api_key",cache="miss"}"#,
        "watchword_limits_hit_total{limit=",
        r#"watchword_db_connections{pool="write",state="idle"}"#,
        "watchword_http_requests_total",
    ]) {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    // Bounded labels: no email, no account id, no key.
    assert!(
        !text.contains("example.com") && !text.contains(&ada.account),
        "{text}"
    );
    // Debian's promtool, when installed (scripts/test installs it).
    let file = app.data_dir().join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    if let Ok(out) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
    {
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "promtool is missing (apt-get install prometheus)"
        );
    }
}
