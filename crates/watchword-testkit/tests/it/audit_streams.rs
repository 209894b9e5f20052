//! Audit streaming to an account's SIEM, on SQLite and PostgreSQL, against a real HTTP endpoint
//! that checks every signature with Python's own `hmac`: events in order with their ids, retried
//! with backoff, paused after 24 hours of failures (the Security Contact told), creation and
//! deletion audited and alerted, URLs checked, other accounts kept out.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::siem::Siem;
use watchword_testkit::{Backend, Login, PASSWORD, TestApp, code};

async fn invite(app: &TestApp, by: &Login, email: &str) {
    let path = format!("/api/v1/accounts/{}/invitations", by.account);
    let (s, v) = app
        .post(&path, &by.token, json!({"email": email, "role": "analyst"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

/// Runs deliveries until the SIEM holds `n` events (bounded).
async fn delivered(app: &TestApp, siem: &Siem, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        app.app().deliver_audit_streams_once().await.unwrap();
        if siem.events().len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    siem.events()
}

async fn stream(app: &TestApp, by: &Login) -> Value {
    let path = format!("/api/v1/accounts/{}/audit-streams", by.account);
    let (s, list) = app.get(&path, &by.token).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list[0].clone()
}

async fn streaming_the_audit_log(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (ada, _) = app.ada_with_grace_as_contact().await;
    let siem = Siem::start().await;
    let path = format!("/api/v1/accounts/{}/audit-streams", ada.account);
    for bad in [
        "http://siem.example.com/events".to_owned(),
        "ftp://siem.example.com/".to_owned(),
        "https://user:pw@siem.example.com/".to_owned(),
        format!("https://siem.example.com/{}", "a".repeat(2100)),
    ] {
        let (s, v) = app.post(&path, &ada.token, json!({ "url": bad })).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_url"),
            "{bad}"
        );
    }
    // Never the operator's internal network (an address literal here; names resolving there
    // are refused when connecting).
    for internal in [
        "https://10.0.0.5/events",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/events",
    ] {
        let (s, v) = app
            .post(&path, &ada.token, json!({ "url": internal }))
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "private_address"),
            "{internal}"
        );
    }
    let (s, created) = app
        .post(&path, &ada.token, json!({ "url": siem.url() }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().expect("shown once");
    assert!(secret.starts_with("whsec_"), "a Standard Webhooks secret");
    siem.set_secret(secret);
    assert_eq!(
        stream(&app, &ada).await["secret"],
        Value::Null,
        "never again"
    );
    // Creating it is an administrative change: audited, the Security Contact told.
    app.wait_event(&ada, "audit_stream.created").await;
    app.wait_for_email("grace@example.com", "now streamed")
        .await;
    // Every event from then on, in order, signed, with its id.
    for who in ["a@example.com", "b@example.com", "c@example.com"] {
        invite(&app, &ada, who).await;
    }
    let got = delivered(&app, &siem, 4).await;
    let actions: Vec<&str> = got.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "audit_stream.created",
            "member.invited",
            "member.invited",
            "member.invited"
        ]
    );
    let ids: Vec<&str> = got.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
    assert!(got.iter().all(|e| e["header_event_id"] == e["id"]));
    // Signed over id, timestamp and body: the same delivery at another time does not verify.
    assert!(got.iter().all(|e| e["replay_refused"] == true));
    assert_eq!(got[1]["account_id"], ada.account.as_str());
    assert_eq!(got[1]["details"]["email"], "a@example.com", "{}", got[1]);
    // The endpoint fails: retried with backoff, nothing skipped, then delivered in order.
    siem.fail(true);
    invite(&app, &ada, "d@example.com").await;
    invite(&app, &ada, "e@example.com").await;
    app.app().deliver_audit_streams_once().await.unwrap();
    let s = stream(&app, &ada).await;
    assert_eq!(
        (s["status"].as_str(), s["pending"].as_i64()),
        (Some("failing"), Some(2)),
        "{s}"
    );
    assert!(s["last_error"].as_str().unwrap().contains("503"), "{s}");
    siem.fail(false);
    app.advance_clock(601);
    let got = delivered(&app, &siem, 6).await;
    let emails: Vec<&str> = got[4..]
        .iter()
        .map(|e| e["details"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["d@example.com", "e@example.com"]);
    assert_eq!(stream(&app, &ada).await["status"], "active");
    // Failing for 24 hours: paused, audited, the Security Contact told; nothing more queued.
    siem.fail(true);
    invite(&app, &ada, "f@example.com").await;
    // The failure is recorded (by this call, or by the node's own delivery loop when it got there
    // first) before the day passes.
    for _ in 0..400 {
        app.app().deliver_audit_streams_once().await.unwrap();
        if stream(&app, &ada).await["status"] == "failing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(stream(&app, &ada).await["status"], "failing");
    app.advance_clock(24 * 3600 + 1);
    // (A day later Ada's session has ended: she signs in again.)
    let (_, v) = app.login("ada@example.com", PASSWORD).await;
    let ada = Login {
        token: v["session_token"].as_str().unwrap().to_owned(),
        ..ada
    };
    for _ in 0..400 {
        app.app().deliver_audit_streams_once().await.unwrap();
        if stream(&app, &ada).await["status"] == "paused" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let s = stream(&app, &ada).await;
    assert_eq!(
        (s["status"].as_str(), s["pending"].as_i64()),
        (Some("paused"), Some(0)),
        "{s}"
    );
    app.wait_event(&ada, "audit_stream.paused").await;
    app.wait_for_email("grace@example.com", "is paused").await;
    invite(&app, &ada, "g@example.com").await;
    assert_eq!(stream(&app, &ada).await["pending"], 0);
    // Deleting it: audited and alerted.
    let id = s["id"].as_str().unwrap();
    let (st, _) = app
        .call(
            Method::DELETE,
            &format!("{path}/{id}"),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    app.wait_event(&ada, "audit_stream.deleted").await;
    app.wait_for_email("grace@example.com", "no longer streamed")
        .await;
    let (_, list) = app.get(&path, &ada.token).await;
    assert_eq!(list, json!([]));
}
watchword_testkit::on_both_backends!(audit_streams, streaming_the_audit_log);

/// Another account's streams are not there (404); an Analyst may not manage them (403).
async fn streams_are_the_accounts_own(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let eve = app.signup("Evil", "Eve", "eve@example.com").await;
    let ana = app
        .invite_and_accept(&ada, "ana@example.com", "analyst")
        .await;
    let siem = Siem::start().await;
    let path = format!("/api/v1/accounts/{}/audit-streams", ada.account);
    let (_, created) = app
        .post(&path, &ada.token, json!({ "url": siem.url() }))
        .await;
    let id = created["id"].as_str().unwrap();
    let (s, _) = app.get(&path, &eve.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("{path}/{id}"),
            Some(&eve.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .post(&path, &ana.token, json!({ "url": siem.url() }))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let eve_path = format!("/api/v1/accounts/{}/audit-streams/{id}", eve.account);
    let (s, _) = app
        .call(Method::DELETE, &eve_path, Some(&eve.token), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = app.get(&path, &ada.token).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Eight creations at once: the cap of five holds (counted under the account's lock).
    let body = serde_json::json!({ "url": siem.url() });
    let answers =
        futures_util::future::join_all((0..8).map(|_| app.post(&path, &ada.token, body.clone())))
            .await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 4, "{answers:?}");
    assert!(
        answers
            .iter()
            .filter(|(s, _)| *s != StatusCode::CREATED)
            .all(|(s, v)| (*s, code(v)) == (StatusCode::CONFLICT, "too_many_streams")),
        "{answers:?}"
    );
}
watchword_testkit::on_both_backends!(audit_streams_isolation, streams_are_the_accounts_own);

/// The console in Chromium: from the audit log to its Streaming page, a stream added (the
/// password confirms it, the secret shown once), events arriving, then the stream deleted.
async fn streams_in_the_console(backend: Backend) {
    use fantoccini::Locator;
    use watchword_testkit::browser::Browser;
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let siem = Siem::start().await;
    let b = Browser::start().await;
    b.sign_up_ada(&app).await;
    b.click("a[href$='/audit']").await;
    b.click("a[href$='/audit-streams']").await;
    assert!(b.text().await.contains("not streamed anywhere"));
    b.fill("stream-url", &siem.url()).await;
    b.fill("stream-password", PASSWORD).await;
    b.click("#add-stream").await;
    let secret = b.text_of("#stream-secret").await;
    assert!(secret.starts_with("whsec_"), "{}", b.text().await);
    siem.set_secret(&secret);
    let got = delivered(&app, &siem, 1).await;
    assert_eq!(got[0]["action"], "audit_stream.created");
    b.goto(b.client.current_url().await.unwrap().as_str()).await;
    let row = b.text_of("tr[data-stream]").await;
    assert!(row.contains("Active") && row.contains(&siem.url()), "{row}");
    let find = |css: &'static str| b.client.find(Locator::Css(css));
    find("tr[data-stream] summary")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    find("tr[data-stream] input[name=password]")
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    b.click("tr[data-stream] button:not(.show-password)").await;
    assert!(
        b.text().await.contains("no longer streamed there"),
        "{}",
        b.text().await
    );
    b.close().await;
}
watchword_testkit::on_both_backends!(audit_streams_console, streams_in_the_console);
