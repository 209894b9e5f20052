//! The audit log (filters, cursor pagination, export, who may read it) and delivery through a
//! real SMTP server, on SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use watchword_testkit::{Backend, TestApp, both_backends, event_actions};

async fn page(app: &TestApp, token: &str, account: &str, query: &str) -> Value {
    let (s, v) = app
        .get(
            &format!("/api/v1/accounts/{account}/audit-events?{query}"),
            token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{query}: {v}");
    v
}

both_backends!(
    audit_log_filters_paginates_and_exports,
    |app: TestApp| async move {
        let (ada, grace) = app.ada_and_grace().await;
        for i in 0..5 {
            let (s, _) = app
                .post(
                    &format!("/api/v1/accounts/{}/invitations", ada.account),
                    &grace.token,
                    json!({"email": format!("p{i}@example.com"), "role": "support"}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED);
        }
        let all = page(&app, &ada.token, &ada.account, "limit=1000").await;
        let every = event_actions(&all);
        assert_eq!(
            every.first().map(String::as_str),
            Some("member.invited"),
            "newest first"
        );
        assert_eq!(every.last().map(String::as_str), Some("account.created"));
        // Each event carries actor, action, target, IP, user agent, time and details.
        let e = &all["events"][0];
        assert_eq!(e["actor_person_id"], grace.person.as_str());
        assert_eq!(e["actor_kind"], "person");
        assert_eq!(e["target_kind"], "membership");
        assert_eq!(e["details"]["role"], "support");
        assert!(e["ip"].as_str().unwrap().starts_with("127.0.0.1"));
        assert!(e["created_at"].as_str().unwrap().ends_with('Z'));
        // Filter by action and by actor.
        let invited = page(&app, &ada.token, &ada.account, "action=member.invited").await;
        assert_eq!(event_actions(&invited).len(), 6);
        let by_grace = page(
            &app,
            &ada.token,
            &ada.account,
            &format!("actor={}&action=member.invited", grace.person),
        )
        .await;
        assert_eq!(event_actions(&by_grace).len(), 5);
        // Cursor pagination visits every event once.
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let q = if cursor.is_empty() {
                "limit=3".to_owned()
            } else {
                format!("limit=3&cursor={cursor}")
            };
            let p = page(&app, &ada.token, &ada.account, &q).await;
            seen.extend(
                p["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["id"].as_str().unwrap().to_owned()),
            );
            match p["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        let ids: Vec<_> = all["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(seen, ids);
        // Time range: nothing before the epoch of 2000, everything up to far in the future.
        assert_eq!(
            event_actions(&page(&app, &ada.token, &ada.account, "to=2000-01-01T00:00:00Z").await)
                .len(),
            0
        );
        assert_eq!(
            event_actions(
                &page(
                    &app,
                    &ada.token,
                    &ada.account,
                    "from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&limit=1000"
                )
                .await
            )
            .len(),
            ids.len()
        );
        let first_time = all["events"].as_array().unwrap().last().unwrap()["created_at"]
            .as_str()
            .unwrap()
            .to_owned();
        let (s, v) = app
            .get(
                &format!(
                    "/api/v1/accounts/{}/audit-events?from=yesterday",
                    ada.account
                ),
                &ada.token,
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query"))
        );
        assert!(!first_time.is_empty());
        // Exports.
        let res = app.export_audit(&ada, "jsonl").await;
        assert_eq!(res.headers()["content-type"], "application/jsonl");
        let body = res.text().await.unwrap();
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), ids.len());
        let res = app
            .client
            .get(app.url(&format!(
                "/api/v1/accounts/{}/audit-events?format=csv&action=member.invited",
                ada.account
            )))
            .bearer_auth(&ada.token)
            .send()
            .await
            .unwrap();
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let csv = res.text().await.unwrap();
        assert!(csv.starts_with("id,created_at,action,"));
        assert_eq!(csv.lines().count(), 1 + 6);
    }
);

both_backends!(
    audit_log_is_for_owners_admins_and_audit_log_read,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let admin = app
            .invite_and_accept(&ada, "admin@example.com", "admin")
            .await;
        let analyst = app
            .invite_and_accept(&ada, "analyst@example.com", "analyst")
            .await;
        let path = format!("/api/v1/accounts/{}/audit-events", ada.account);
        assert_eq!(app.get(&path, &admin.token).await.0, StatusCode::OK);
        let (s, v) = app.get(&path, &analyst.token).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden"))
        );
        // There is no way to change or delete events through the API.
        for m in [
            reqwest::Method::DELETE,
            reqwest::Method::PUT,
            reqwest::Method::PATCH,
        ] {
            let (s, _) = app.call(m, &path, Some(&ada.token), Some(json!({}))).await;
            assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        }
    }
);

async fn smtp_delivery(backend: Backend) {
    let Some(app) = TestApp::spawn_with_smtp(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    let grace = app
        .invite_and_accept(&ada, "grace@example.com", "support")
        .await;
    let mails: Vec<_> = app
        .emails()
        .into_iter()
        .filter(|m| !m.subject.contains("Confirm your email to create"))
        .collect();
    assert_eq!(
        mails.len(),
        1,
        "exactly one invitation delivered (besides the signup link): {mails:?}"
    );
    assert_eq!(mails[0].to, "grace@example.com");
    assert!(mails[0].message_id.ends_with("@watchword"));
    assert!(!mails[0].html.is_empty() && !mails[0].text.is_empty());
    assert!(!grace.token.is_empty());

    // Delivered, a message keeps no body (its single-use link) — only who and what was sent.
    app.wait_outbox_empty().await;
    let kept = "SELECT id FROM outbox WHERE recipient = 'grace@example.com' \
         AND subject LIKE '%invited you%' AND status = 'sent' AND body_text = '' AND body_html = ''";
    assert_eq!(app.count_rows(kept, &[]).await, 1);
    let bodies = "SELECT id FROM outbox WHERE body_text <> '' OR body_html <> ''";
    assert_eq!(
        app.count_rows(bodies, &[]).await,
        0,
        "every message was sent"
    );
    // Records go after the retention (30 days); a message still pending stays whatever its age.
    assert_eq!(app.app().prune_outbox().await.unwrap(), 0, "all recent");
    let old = (watchword_domain::Millis::now().0 - 31 * 86_400_000).to_string();
    let n = app
        .sql("UPDATE outbox SET created_at = CAST($1 AS BIGINT)", &[&old])
        .await;
    assert!(n >= 2, "{n}");
    let pending = app
        .sql(
            "UPDATE outbox SET status = 'pending', next_attempt_at = CAST($1 AS BIGINT) \
             WHERE recipient = 'grace@example.com'",
            &[&(watchword_domain::Millis::now().0 + 86_400_000).to_string()],
        )
        .await;
    assert!(pending >= 1);
    assert_eq!(app.app().prune_outbox().await.unwrap(), n - pending);
    let left = app.count_rows("SELECT id FROM outbox", &[]).await;
    assert_eq!(left as u64, pending);
}

watchword_testkit::on_both_backends!(smtp_delivery, smtp_delivery);

/// An unreachable mail server does not lose the message: it stays pending and is delivered once
/// the server is back (same database, new process).
async fn outbox_survives_a_mail_outage(backend: Backend) {
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(mut app) = TestApp::spawn_with(backend, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{dead_port}"))
    })
    .await
    else {
        return;
    };
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    // Only the invitation below waits in the outbox (the signup link was read from it).
    app.sql("DELETE FROM outbox", &[]).await;
    let (s, _) = app.invite(&ada, "grace@example.com", "support").await;
    assert_eq!(s, StatusCode::CREATED);
    // Wait until the dispatcher has tried and failed at least once.
    let store = app.running.as_ref().unwrap().app.store().clone();
    let mut attempts = 0;
    for _ in 0..200 {
        let mut c = store.read().await.unwrap();
        let row: (i64,) = sqlx_attempts(&mut c).await;
        attempts = row.0;
        if attempts > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(attempts > 0, "the dispatcher never tried");
    let sink = watchword_testkit::mail::SmtpSink::start().await;
    let url = sink.url();
    let (dir, db) = (app.dir.path().to_path_buf(), app.database_url.clone());
    // The first process stops (server and dispatcher); its database and directory stay.
    app.running.take().unwrap().stop().await;
    // A second process on the same database with a working mail server, retrying at once.
    let mut config = watchword::Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir,
        database_url: Some(db),
        smtp_url: Some(url),
        outbox_poll_ms: 100,
        ..Default::default()
    };
    config.mail_from = "watchword <no-reply@example.com>".into();
    let second = watchword::start(config).await.unwrap();
    {
        let mut tx = second.app.store().begin().await.unwrap();
        force_due(&mut tx).await;
        tx.commit().await.unwrap();
    }
    for _ in 0..200 {
        if !sink.emails().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got = sink.emails();
    assert_eq!(got.len(), 1, "delivered exactly once after the outage");
    assert_eq!(got[0].to, "grace@example.com");
    second.stop().await;
}

async fn sqlx_attempts(c: &mut watchword_store::Conn) -> (i64,) {
    watchword_store::outbox::attempts_total(c).await.unwrap()
}

async fn force_due(c: &mut watchword_store::Conn) {
    watchword_store::outbox::make_all_due(c).await.unwrap()
}

watchword_testkit::on_both_backends!(outbox_survives_a_mail_outage, outbox_survives_a_mail_outage);
