//! Expiry reminders: 14 and 2 days before an API key expires its creator and the Security
//! Contact are emailed once each — by the server's job or `watchword jobs run reminders`, however
//! many run at once — with a link to rotate; the access review and the posture score list the
//! keys that expire within 14 days.

use crate::operator_cli::run;
use reqwest::StatusCode;
use serde_json::{Value, json};
use watchword_testkit::{Login, TestApp, both_backends};

async fn key(app: &TestApp, by: &Login, name: &str, days: i64) -> String {
    let (s, v) = app
        .post(
            &format!("/api/v1/accounts/{}/api-keys", by.account),
            &by.token,
            json!({"name": name, "scopes": ["members:read"], "expires_in_days": days}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

/// Who was reminded of the key `name` (ada, bob), one entry per email, sorted.
fn reminders_of(app: &TestApp, name: &str) -> Vec<&'static str> {
    let mut to: Vec<&'static str> = app
        .emails()
        .iter()
        .filter(|m| m.subject.contains(&format!("The API key \"{name}\"")))
        .map(|m| {
            if m.to.contains("ada@example.com") {
                "ada"
            } else {
                "bob"
            }
        })
        .collect();
    to.sort();
    to
}

both_backends!(expiry_reminders_once_each, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let bob = app
        .invite_and_accept(&ada, "bob@example.com", "admin")
        .await;
    let ci = key(&app, &bob, "CI", 10).await;
    let soon = key(&app, &bob, "Soon", 1).await;
    let old = key(&app, &ada, "Old", 30).await;

    // The operator's command: the 14-day reminder of CI, the 2-day one of Soon; Old waits.
    let (ok, out, err) = run(&app, &["jobs", "run", "reminders"]);
    assert!(ok, "{err}");
    assert!(out.contains("expiry reminders: 2 keys"), "{out}");
    let (ok, out, err) = run(&app, &["jobs", "run", "reminders"]);
    assert!(ok, "{err}");
    assert!(out.contains("expiry reminders: 0 keys"), "once: {out}");
    app.wait_outbox_empty().await;
    assert_eq!(reminders_of(&app, "CI"), ["ada", "bob"]);
    assert_eq!(reminders_of(&app, "Soon"), ["ada", "bob"]);
    assert!(reminders_of(&app, "Old").is_empty());
    let mail = app
        .emails()
        .into_iter()
        .find(|m| m.subject.contains("\"CI\""))
        .unwrap();
    assert!(mail.subject.contains("within 14 days"), "{}", mail.subject);
    assert!(
        mail.text
            .contains(&format!("/accounts/{}/api-keys", ada.account)),
        "{}",
        mail.text
    );

    // The access review and the posture score list what expires within 14 days.
    let (_, review) = app
        .get(
            &format!("/api/v1/accounts/{}/access-review", ada.account),
            &ada.token,
        )
        .await;
    let ids: Vec<&str> = review["expiring"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [soon.as_str(), ci.as_str()], "{review}");
    let (_, overview) = app
        .get(
            &format!("/api/v1/accounts/{}/security-overview", ada.account),
            &ada.token,
        )
        .await;
    let rotation = overview["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "api_key_rotation")
        .cloned()
        .unwrap_or(Value::Null);
    assert!(
        rotation["found"]
            .as_str()
            .unwrap_or_default()
            .contains("2 expire within 14 days"),
        "{rotation}"
    );

    // Nine days on, CI's 2-day reminder; seventeen days on, Old's 14-day one — claimed once
    // though two runs race for it.
    let now = app.app().now();
    assert_eq!(
        app.app()
            .expiry_reminders_once(now.plus_secs(9 * 86_400))
            .await
            .unwrap(),
        1
    );
    let later = now.plus_secs(17 * 86_400);
    let (a, b) = tokio::join!(
        app.app().expiry_reminders_once(later),
        app.app().expiry_reminders_once(later)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    app.wait_outbox_empty().await;
    assert_eq!(reminders_of(&app, "CI").len(), 4);
    // Ada made Old and is the Security Contact: one email, not two.
    assert_eq!(reminders_of(&app, "Old"), ["ada"]);
    let events = app
        .audit_events(&ada, "action=account.credential_expiring")
        .await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 4, "{events:?}");
    assert!(events.iter().any(|e| e["target_id"] == old.as_str()));
});
