//! Access reviews, on SQLite and PostgreSQL: every member with what to look at (inactive, no MFA,
//! administrator, stale invitation, deactivated), due after 90 days without one, completed with
//! an audit event, Owners and Admins only; and the console page in headless Chromium.

use reqwest::StatusCode;
use serde_json::{Value, json};
use watchword_testkit::browser::Browser;
use watchword_testkit::{TestApp, both_backends, code};

fn flags_of(review: &Value, email: &str) -> Vec<String> {
    review["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .unwrap_or_else(|| panic!("{email} not in {review}"))["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

both_backends!(a_review_shows_what_to_look_at, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let grace = app
        .invite_and_accept(&ada, "grace@example.com", "admin")
        .await;
    let bob = app
        .invite_and_accept(&ada, "bob@example.com", "analyst")
        .await;
    let (s, v) = app.invite(&ada, "carol@example.com", "analyst").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let path = format!("/api/v1/accounts/{}/access-review", ada.account);

    // A fresh account: not due, never reviewed; flags as the facts are.
    let (s, r) = app.get(&path, &ada.token).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["due"].clone(), r["last_review"].clone()),
        (json!(false), Value::Null)
    );
    assert_eq!(flags_of(&r, "ada@example.com"), ["no_mfa", "administrator"]);
    assert_eq!(flags_of(&r, "bob@example.com"), ["no_mfa"]);
    assert!(
        flags_of(&r, "carol@example.com").is_empty(),
        "a fresh invitation"
    );
    assert_eq!(r["members"].as_array().unwrap().len(), 4);
    assert_eq!(r["flagged"], 3);

    // Bob has not logged in for 90 days; Carol's invitation is 14 days old; Grace deactivated.
    app.set_last_login_days_ago("bob@example.com", 90).await;
    let old = (watchword_domain::Millis::now().0 - 14 * 86_400_000).to_string();
    app.sql(
        "UPDATE memberships SET created_at = CAST($1 AS BIGINT) WHERE email = 'carol@example.com'",
        &[&old],
    )
    .await;
    let (s, v) = app.set_member_active(&ada, &grace.membership, false).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, r) = app.get(&path, &ada.token).await;
    assert_eq!(flags_of(&r, "bob@example.com"), ["inactive", "no_mfa"]);
    assert_eq!(flags_of(&r, "carol@example.com"), ["stale_invitation"]);
    assert_eq!(flags_of(&r, "grace@example.com"), ["deactivated"]);

    // Only those who manage members may review.
    let (s, v) = app.get(&path, &bob.token).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (s, _) = app.post(&path, &bob.token, json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Bad notes are refused and record nothing.
    let (s, v) = app
        .post(&path, &ada.token, json!({"note": "x".repeat(2001)}))
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_note")
    );
    // A control character is refused at the edge, before the note's own rule.
    let (s, v) = app
        .post(&path, &ada.token, json!({"note": "a\u{7}b"}))
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters")
    );
    assert_eq!(
        app.get(&path, &ada.token).await.1["last_review"],
        Value::Null
    );

    // Completed: who, what was seen, the note; an audit event.
    let (s, done) = app
        .post(&path, &ada.token, json!({"note": "Bob to be removed"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{done}");
    assert_eq!(
        (
            done["reviewer_email"].clone(),
            done["members"].clone(),
            done["flagged"].clone(),
            done["note"].clone()
        ),
        (
            json!("ada@example.com"),
            json!(4),
            json!(4),
            json!("Bob to be removed")
        )
    );
    let (_, r) = app.get(&path, &ada.token).await;
    assert_eq!(r["last_review"]["id"], done["id"]);
    let audit = app
        .audit_events(&ada, "action=access_review.completed")
        .await;
    let e = &audit["events"][0];
    assert_eq!(
        (e["details"]["flagged"].clone(), e["target_id"].clone()),
        (json!(4), done["id"].clone()),
        "{audit}"
    );

    // Due once the last review is 90 days old.
    app.sql(
        "UPDATE access_reviews SET created_at = created_at - 7776000000",
        &[],
    )
    .await;
    assert_eq!(app.get(&path, &ada.token).await.1["due"], true);
});

both_backends!(the_review_page, |app: TestApp| async move {
    let b = Browser::start().await;
    b.sign_up_ada(&app).await;
    b.click("a[href$='/members']").await;
    b.click("#access-review-link").await;
    let text = b.text().await;
    assert!(text.contains("Never reviewed."), "{text}");
    let flags = b
        .text_of("tr[data-member='ada@example.com'] td.flags")
        .await;
    assert_eq!(flags, "no_mfa, administrator");
    b.fill("note", "All fine").await;
    b.click("#complete-review").await;
    let text = b.text().await;
    assert!(text.contains("Access review recorded."), "{text}");
    assert!(
        text.contains("by ada@example.com (1 members, 1 flagged): All fine"),
        "{text}"
    );
    b.close().await;
});

both_backends!(
    owners_and_admins_are_reminded_once_per_period,
    |app: TestApp| async move {
        use watchword_domain::Millis;
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        app.invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        app.invite_and_accept(&ada, "bob@example.com", "analyst")
            .await;
        let remind = || async {
            app.app()
                .review_reminders_once(Millis::now())
                .await
                .unwrap()
        };
        let reminders = |app: &TestApp| -> Vec<String> {
            let mut to: Vec<String> = app
                .emails()
                .into_iter()
                .filter(|m| m.subject == "An access review of Acme is due")
                .map(|m| m.to)
                .collect();
            to.sort();
            to
        };
        // A new account is not due.
        assert!(remind().await.is_empty());
        // 90 days on, Owners and Admins are reminded (not the analyst), once.
        let ninety_days = "7776000000";
        app.sql(
            "UPDATE accounts SET created_at = created_at - CAST($1 AS BIGINT)",
            &[ninety_days],
        )
        .await;
        assert_eq!(remind().await.len(), 1);
        assert!(remind().await.is_empty(), "reminded once per period");
        app.wait_outbox_empty().await;
        assert_eq!(reminders(&app), ["ada@example.com", "grace@example.com"]);
        let m = app
            .wait_for_email("grace@example.com", "An access review of Acme is due")
            .await;
        assert!(m.text.contains("/access-review"), "{}", m.text);
        // A completed review starts a new period; when that is 90 days old, a new reminder.
        let path = format!("/api/v1/accounts/{}/access-review", ada.account);
        let (s, v) = app.post(&path, &ada.token, json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert!(remind().await.is_empty());
        // 90 days pass: the review and the last reminder move back alike.
        app.sql(
            "UPDATE access_reviews SET created_at = created_at - CAST($1 AS BIGINT)",
            &[ninety_days],
        )
        .await;
        app.sql(
            "UPDATE accounts SET access_review_reminded_at = \
             access_review_reminded_at - CAST($1 AS BIGINT)",
            &[ninety_days],
        )
        .await;
        assert_eq!(remind().await.len(), 1);
        app.wait_outbox_empty().await;
        assert_eq!(reminders(&app).len(), 4);
    }
);
