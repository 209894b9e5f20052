//! Introspection, revocation seen by a second node, and exposed keys reported by a partner.

use super::*;

async fn introspect(app: &TestApp, credential: Option<&str>, token: &str) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url("/api/v1/introspect"))
        .form(&[("token", token)]);
    if let Some(c) = credential {
        req = req.bearer_auth(c);
    }
    let res = req.send().await.unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_answers_for_keys_and_sessions() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, |c| {
            c.introspection_secret = Some(OPERATOR_SECRET.into())
        })
        .await
        else {
            continue;
        };
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let (key, v) = create_ok(
            &app,
            &ada,
            json!({"name": "Sync", "scopes": ["members:write"], "expires_in_days": 10}),
        )
        .await;
        let (s, e) = introspect(&app, None, &key).await;
        assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, "invalid_client"));
        let (s, e) = introspect(&app, Some("wrong"), &key).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
        let (s, i) = introspect(&app, Some(OPERATOR_SECRET), &key).await;
        assert_eq!(s, StatusCode::OK, "{i}");
        assert_eq!(i["active"], true);
        assert_eq!(i["token_type"], "api_key");
        assert_eq!(i["client_id"], v["id"]);
        assert_eq!(i["account_id"], ada.account.as_str());
        assert_eq!(i["scope"], "members:write");
        assert!(
            i["permissions"]
                .as_array()
                .unwrap()
                .contains(&json!("users:manage"))
        );
        assert!(i["exp"].as_i64().unwrap() > Millis::now().0 / 1000);
        let (_, i) = introspect(&app, Some(OPERATOR_SECRET), &ada.token).await;
        assert_eq!(
            (i["active"].as_bool(), i["token_type"].as_str()),
            (Some(true), Some("session"))
        );
        assert_eq!(i["sub"], ada.person.as_str());
        assert_eq!(i["accounts"][0]["account"]["id"], ada.account.as_str());
        app.delete(
            &format!("{}/{}", keys_path(&ada), v["id"].as_str().unwrap()),
            &ada.token,
        )
        .await;
        for t in [
            key.as_str(),
            "nonsense",
            &watchword_domain::api_key::generate("ww_"),
        ] {
            let (s, i) = introspect(&app, Some(OPERATOR_SECRET), t).await;
            assert_eq!((s, i), (StatusCode::OK, json!({"active": false})));
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_another_node_within_a_second() {
    // Nodes share PostgreSQL; SQLite is one node (its revoking node is covered above).
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let second = app.spawn_node().await;
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let (key, v) = create_ok(&app, &ada, json!({"name": "Sync"})).await;
    let on_second = || {
        app.client
            .get(format!("{}/api/v1/whoami", second.base))
            .bearer_auth(&key)
            .send()
    };
    // The second node has the key in its cache (TTL 60 s by default).
    assert_eq!(on_second().await.unwrap().status(), StatusCode::OK);
    assert_eq!(on_second().await.unwrap().status(), StatusCode::OK);
    let revoked_at = std::time::Instant::now();
    let (s, _) = app
        .delete(
            &format!("{}/{}", keys_path(&ada), v["id"].as_str().unwrap()),
            &ada.token,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    loop {
        if on_second().await.unwrap().status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_secs(1),
            "the second node still accepts the key a second after revocation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

pub(crate) fn sign(body: &[u8], secret: &str) -> String {
    // An independent HMAC implementation: Python's standard library.
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())",
            secret,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(body)?;
            c.wait_with_output()
        })
        .expect("python3 runs");
    format!("sha256={}", String::from_utf8(out.stdout).unwrap().trim())
}

pub(crate) async fn report(app: &TestApp, body: &Value, signature: &str) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let res = app
        .client
        .post(app.url("/api/v1/exposed-keys"))
        .header("content-type", "application/json")
        .header("x-watchword-signature", signature)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposed_keys_are_reported_to_the_contact_and_the_creator() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with_smtp_and(backend, |c| {
            c.exposure_report_secret = Some(PARTNER_SECRET.into())
        })
        .await
        else {
            continue;
        };
        let ada = app.signup("Acme", "Ada Owner", "ada@example.com").await; // Security Contact
        let admin = app
            .invite_and_accept(&ada, "admin@example.com", "admin")
            .await;
        let (key, v) = create_ok(&app, &admin, json!({"name": "Leaky"})).await;
        let id = v["id"].as_str().unwrap();
        let body = json!([
            {"token": key, "url": "https://github.com/acme/app/blob/main/.env", "source": "github"},
            {"token": watchword_domain::api_key::generate("ww_"), "url": "https://x", "source": "github"},
            {"token": "not a key", "url": "https://y", "source": "github"}
        ]);
        let (s, e) = report(
            &app,
            &body,
            &sign(&serde_json::to_vec(&body).unwrap(), "wrong-secret"),
        )
        .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::UNAUTHORIZED, "invalid_signature")
        );
        let (s, e) = report(&app, &body, "").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
        assert_eq!(count_events(&app, &ada, "api_key.exposed").await, 0);
        let (s, ack) = report(
            &app,
            &body,
            &sign(&serde_json::to_vec(&body).unwrap(), PARTNER_SECRET),
        )
        .await;
        assert_eq!((s, ack), (StatusCode::OK, json!({"received": 3})));
        for to in ["ada@example.com", "admin@example.com"] {
            let m = app.wait_for_email(to, "was exposed").await;
            assert!(
                m.text
                    .contains("https://github.com/acme/app/blob/main/.env"),
                "{}",
                m.text
            );
            assert!(
                m.text.contains(id) && m.text.contains("Rotate it now"),
                "{}",
                m.text
            );
            assert!(!m.text.contains(&key[3..]) && !m.html.contains(&key[3..]));
        }
        let e = app.wait_event(&ada, "api_key.exposed").await;
        assert_eq!(
            (
                e["target_id"].as_str(),
                e["details"]["auto_revoked"].as_bool()
            ),
            (Some(id), Some(false))
        );
        assert_eq!(app.whoami(&key).await.0, StatusCode::OK);
        // With auto-revoke on, the next report ends the key at once.
        let settings = format!("/api/v1/accounts/{}/settings", ada.account);
        let (s, _) = app
            .call(
                Method::PATCH,
                &settings,
                Some(&ada.token),
                Some(json!({"api_key_auto_revoke_exposed": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let one =
            json!({"token": key, "url": "https://pastebin.example/abc", "source": "pastebin"});
        let (s, _) = report(
            &app,
            &one,
            &sign(&serde_json::to_vec(&one).unwrap(), PARTNER_SECRET),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (s, e) = app.whoami(&key).await;
        assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, "api_key_revoked"));
        app.wait_outbox_empty().await;
        let revoked_mails: Vec<_> = app
            .emails()
            .into_iter()
            .filter(|m| m.subject.contains("was exposed") && m.text.contains("no longer works"))
            .collect();
        assert_eq!(revoked_mails.len(), 2);
        // A revoked key is acknowledged alike and changes nothing more.
        let (s, ack) = report(
            &app,
            &one,
            &sign(&serde_json::to_vec(&one).unwrap(), PARTNER_SECRET),
        )
        .await;
        assert_eq!((s, ack), (StatusCode::OK, json!({"received": 1})));
        assert_eq!(count_events(&app, &ada, "api_key.exposed").await, 2);
        app.stop().await;
    }
}
