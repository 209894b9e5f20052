//! Password guessing, on SQLite and PostgreSQL: ten failed logins of one email within 15 minutes
//! pause its password login (429, alike for emails with and without a login), fifty from one IP
//! pause that IP, and the failure that reaches a person's limit alerts the person and, over real
//! SMTP, the Security Contact of their account, with an audit event.

use reqwest::StatusCode;
use watchword_testkit::{Backend, PASSWORD, TestApp, both_backends, code};

const WRONG: &str = "not-the-Password-00!";

/// `n` failed logins of `email`, each answered 401.
async fn fail(app: &TestApp, email: &str, n: usize) {
    for i in 0..n {
        let (s, v) = app.login(email, WRONG).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}: {v}");
        assert_eq!(code(&v), "invalid_credentials");
    }
}

async fn guessing_is_paused_and_reported(backend: Backend) {
    let Some(app) = TestApp::spawn_with_smtp(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let grace = app
        .invite_and_accept(&ada, "grace@example.com", "admin")
        .await;
    let (s, v) = app.put_security_contact(&ada, &grace.membership).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Nine failures: still answered, no alert yet.
    fail(&app, "ada@example.com", 9).await;
    app.wait_outbox_empty().await;
    let alerts = |app: &TestApp| {
        app.emails()
            .into_iter()
            .filter(|m| m.subject.contains("failed sign-ins") || m.subject.contains("Abnormal"))
            .count()
    };
    assert_eq!(alerts(&app), 0);
    // The tenth reaches the limit: the person and the Security Contact are told, once.
    fail(&app, "ADA@example.com", 1).await;
    let own = app
        .wait_for_email("ada@example.com", "Repeated failed sign-ins")
        .await;
    assert!(own.text.contains("paused for 15 minutes"), "{}", own.text);
    let alert = app
        .wait_for_email("grace@example.com", "Abnormal login attempts in Acme")
        .await;
    for needle in [
        "ada@example.com",
        "Acme",
        "10 failed password sign-ins",
        "127.0.0.1",
        "/audit",
    ] {
        assert!(
            alert.text.contains(needle),
            "{needle} missing: {}",
            alert.text
        );
    }
    let (s, v) = app
        .get(
            &format!(
                "/api/v1/accounts/{}/audit-events?action=login.abnormal_attempts",
                ada.account
            ),
            &grace.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{v}");
    assert_eq!(events[0]["target_id"], ada.person.as_str(), "{v}");
    assert_eq!(events[0]["details"]["failures"], 10);

    // Paused now, even for the right password, and past the limit no further alert.
    let (s, v) = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(code(&v), "too_many_attempts");
    app.wait_outbox_empty().await;
    assert_eq!(alerts(&app), 2);
    // Grace's own login is not affected.
    assert_eq!(
        app.login("grace@example.com", PASSWORD).await.0,
        StatusCode::OK
    );

    // An email without a login is paused the same way (the answer tells nothing), unalerted.
    fail(&app, "nobody@example.com", 10).await;
    let (s, v) = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
    );
    app.wait_outbox_empty().await;
    assert_eq!(alerts(&app), 2);

    // Once the failures are older than the window, the right password works again.
    app.sql("UPDATE rate_slots SET at = at - 900001", &[]).await;
    let (s, v) = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

watchword_testkit::on_both_backends!(
    guessing_is_paused_and_reported,
    guessing_is_paused_and_reported
);

both_backends!(
    one_ip_is_paused_after_fifty_failures,
    |app: TestApp| async move {
        // Fifty failures over many emails (five each, below the per-email limit) from one IP.
        for i in 0..10 {
            fail(&app, &format!("user{i}@example.com"), 5).await;
        }
        let (s, v) = app.login("someone-else@example.com", WRONG).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
        );
        // Old failures stop counting.
        app.sql("UPDATE rate_slots SET at = at - 900001", &[]).await;
        let (s, v) = app.login("someone-else@example.com", WRONG).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
    }
);
