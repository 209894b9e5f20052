//! Changing a login email on SQLite and PostgreSQL: nothing changes until the link sent to the
//! new address is followed (once, within the hour); the old address is told; an address another
//! login holds gets the same answer and no link; the change needs a recent authentication.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::mail::link_token;
use watchword_testkit::{PASSWORD, TestApp, both_backends, code};

async fn confirm(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/v1/me/email/confirm",
        None,
        Some(json!({ "token": token })),
    )
    .await
}

both_backends!(confirmed_from_the_new_address, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let ask = |email: &str| app.post("/api/v1/me/email", &ada.token, json!({ "email": email }));
    let (s, v) = ask("not an email").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email")
    );
    let (s, v) = ask("ADA@example.com").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "same_email")
    );

    let (s, asked) = ask("ada.new@example.com").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{asked}");
    let link = app
        .wait_for_email("ada.new@example.com", "Confirm your new watchword email")
        .await;
    let token = link_token(&link.text).expect("link in the email");
    assert!(link.text.contains("/confirm-email?token="));
    // Nothing changed yet.
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.login("ada.new@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Only the token's hash is stored.
    assert_eq!(
        app.sql(
            "UPDATE email_changes SET new_email = new_email WHERE LENGTH(token_hash) = 32",
            &[]
        )
        .await,
        1
    );

    let (s, v) = confirm(&app, "forged").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email_token")
    );
    let (s, v) = confirm(&app, &token).await;
    assert_eq!(
        (s, v["email"].clone()),
        (StatusCode::OK, json!("ada.new@example.com"))
    );
    // Once only.
    let (s, v) = confirm(&app, &token).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email_token")
    );
    assert_eq!(
        app.login("ada.new@example.com", PASSWORD).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The session goes on, under the new address; the old address was told.
    let (_, me) = app.whoami(&ada.token).await;
    assert_eq!(me["person"]["email"], "ada.new@example.com", "{me}");
    let told = app
        .wait_for_email("ada@example.com", "Your watchword email was changed")
        .await;
    assert!(told.text.contains("ada.new@example.com"), "{}", told.text);
    let (_, ev) = app
        .get(
            &format!("/api/v1/accounts/{}/audit-events", ada.account),
            &ada.token,
        )
        .await;
    let changed = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "person.email_changed")
        .unwrap_or_else(|| panic!("no person.email_changed in {ev}"));
    assert_eq!(changed["details"]["from"], "ada@example.com");
    assert_eq!(changed["details"]["to"], "ada.new@example.com");

    // A newer request voids the older link; an expired link is refused.
    ask("ada.2@example.com").await;
    let first = link_token(
        &app.wait_for_email("ada.2@example.com", "Confirm")
            .await
            .text,
    )
    .unwrap();
    ask("ada.3@example.com").await;
    let second = link_token(
        &app.wait_for_email("ada.3@example.com", "Confirm")
            .await
            .text,
    )
    .unwrap();
    assert_eq!(
        confirm(&app, &first).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    app.sql(
        "UPDATE email_changes SET expires_at = expires_at - 3600001",
        &[],
    )
    .await;
    assert_eq!(
        confirm(&app, &second).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
});

both_backends!(taken_addresses_and_step_up, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let bob = app.signup("Bobs", "Bob", "bob@example.com").await;
    let (s1, free) = app
        .post(
            "/api/v1/me/email",
            &ada.token,
            json!({"email": "free@example.com"}),
        )
        .await;
    let (s2, taken) = app
        .post(
            "/api/v1/me/email",
            &ada.token,
            json!({"email": "bob@example.com"}),
        )
        .await;
    // The same answer either way: the caller learns nothing about bob.
    assert_eq!((s1, &free), (s2, &taken));
    assert_eq!(s2, StatusCode::ACCEPTED);
    let note = app
        .wait_for_email("bob@example.com", "Someone tried to use your email")
        .await;
    assert!(note.text.contains("Hello Bob"), "{}", note.text);
    app.wait_outbox_empty().await;
    assert!(
        !app.emails()
            .iter()
            .any(|m| m.to == "bob@example.com" && m.subject.contains("Confirm your new")),
        "no link goes to an address another login holds"
    );
    // A link for an address that was taken meanwhile does not steal it.
    let link = app.wait_for_email("free@example.com", "Confirm").await;
    app.sql(
        "UPDATE persons SET email = 'free@example.com' WHERE email = 'bob@example.com'",
        &[],
    )
    .await;
    let (s, v) = confirm(&app, &link_token(&link.text).unwrap()).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "email_taken"));
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.0,
        StatusCode::OK
    );
    let _ = bob;

    // An old sign-in must confirm it is you first.
    app.make_sign_ins_old();
    let (s, v) = app
        .post(
            "/api/v1/me/email",
            &ada.token,
            json!({"email": "later@example.com"}),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "reauthentication_required")
    );
    let s = app.reauthenticate(&ada.token).await;
    assert!(s.is_success());
    let (s, _) = app
        .post(
            "/api/v1/me/email",
            &ada.token,
            json!({"email": "later@example.com"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
});
