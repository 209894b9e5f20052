//! The factor policy, in headless Chromium with a virtual passkey authenticator where a person
//! clicks: the Owner cannot turn on a policy she cannot meet; once on, an administrator's
//! session that passed a code (TOTP, recovery code) gets `403 factor_policy` on the API and a
//! page saying what to do in the console, and her passkey sign-in (or passkey step-up) passes;
//! members are held to the allowed list after the grace period, emailed at its start and two
//! days before its end.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::browser::Browser;
use watchword_testkit::{Login, PASSWORD, TestApp, both_backends, code, oathtool_at};

/// A session opened with the password and `method`'s `answer`.
async fn login_with(app: &TestApp, email: &str, method: &str, answer: &str) -> String {
    let ch = app.challenge(email).await;
    let (s, v) = app.finish_login(&ch, method, answer).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["session_token"].as_str().unwrap().to_owned()
}

/// A code no earlier login used: the server's clock moves to the next 30-second step first.
pub(crate) fn totp_now(app: &TestApp, secret: &str) -> String {
    app.advance_clock(30);
    oathtool_at(secret, Some(app.app().now().0 / 1000))
}

async fn put_policy(app: &TestApp, token: &str, account: &str, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        &format!("/api/v1/accounts/{account}/settings/factor-policy"),
        Some(token),
        Some(body),
    )
    .await
}

both_backends!(
    factor_policy_for_administrators,
    |app: TestApp| async move {
        let base = app.base.clone();
        let url = |p: &str| format!("{base}{p}");
        let b = Browser::start().await;
        b.add_virtual_authenticator().await;
        b.sign_up_ada_at(&app, &base).await;
        b.wait_signed_in().await;

        // Ada (Owner) with an authenticator app only cannot require passkeys of administrators.
        let (s, v) = app.login("ada@example.com", PASSWORD).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let first = v["session_token"].as_str().unwrap().to_owned();
        let (_, who) = app.whoami(&first).await;
        let account = who["accounts"][0]["account"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let ada = Login {
            token: first,
            account: account.clone(),
            person: who["person"]["id"].as_str().unwrap().to_owned(),
            membership: who["accounts"][0]["membership_id"]
                .as_str()
                .unwrap()
                .to_owned(),
            email: "ada@example.com".into(),
        };
        let ada_totp = app.enrol_totp(&ada).await;
        let strict =
            json!({"allowed": ["passkey", "totp"], "admin_passkey": true, "grace_days": 0});
        let (s, v) = put_policy(&app, &ada.token, &account, strict.clone()).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::CONFLICT, "owner_cannot_meet_policy"),
            "{v}"
        );
        // Bad input is a 4xx, nothing written.
        for bad in [
            json!({"allowed": ["email"]}),
            json!({"allowed": []}),
            json!({"allowed": ["totp"], "grace_days": 31}),
        ] {
            let (s, v) = put_policy(&app, &ada.token, &account, bad).await;
            assert!(s.is_client_error(), "{s} {v}");
        }

        // She adds a passkey in the browser; now she can, and an Admin cannot.
        b.goto(&url("/me/security")).await;
        b.fill("passkey-name", "Laptop").await;
        b.press("#passkey-add").await;
        b.wait_for_text("Passkey added.").await;
        let bob = app
            .invite_and_accept(&ada, "bob@example.com", "admin")
            .await;
        let bob_totp = app.enrol_totp(&bob).await;
        let cleo = app
            .invite_and_accept(&ada, "cleo@example.com", "analyst")
            .await;
        let cleo_totp = app.enrol_totp(&cleo).await;
        let (s, v) = put_policy(&app, &bob.token, &account, strict.clone()).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "owner_required"),
            "{v}"
        );
        let ada_code =
            login_with(&app, "ada@example.com", "totp", &totp_now(&app, &ada_totp)).await;
        let (s, v) = put_policy(&app, &ada_code, &account, strict.clone()).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["admin_passkey"], true, "{v}");
        assert!(v["enforced_from"].is_string(), "{v}");

        // Enforced at once (no grace): a code is not enough for an administrator, on any path.
        let members = format!("/api/v1/accounts/{account}/members");
        for token in [&ada_code, &bob.token] {
            let (s, v) = app.get(&members, token).await;
            assert_eq!(
                (s, code(&v)),
                (StatusCode::FORBIDDEN, "factor_policy"),
                "{v}"
            );
        }
        let bob_code =
            login_with(&app, "bob@example.com", "totp", &totp_now(&app, &bob_totp)).await;
        let (s, v) = app.get(&members, &bob_code).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "factor_policy"),
            "{v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains("passkey"),
            "{v}"
        );
        // A member (no administrative permission) with an authenticator app is within the list.
        let cleo_code = login_with(
            &app,
            "cleo@example.com",
            "totp",
            &totp_now(&app, &cleo_totp),
        )
        .await;
        let (s, v) = app
            .get(&format!("/api/v1/accounts/{account}"), &cleo_code)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");

        // The console: signing in with the passkey opens the account.
        b.click("header form button").await;
        b.press("#passkey-login").await;
        b.wait_signed_in().await;
        b.goto(&url(&format!("/accounts/{account}/members"))).await;
        assert!(
            b.text().await.contains("bob@example.com"),
            "{}",
            b.text().await
        );
        // A session that signed in with the authenticator app meets a page saying what to do.
        b.click("header form button").await;
        b.goto(&url("/login")).await;
        b.fill("email", "ada@example.com").await;
        b.fill("password", PASSWORD).await;
        b.click("form button[type=submit]").await;
        b.fill("code", &totp_now(&app, &ada_totp)).await;
        b.click("section.auth form button[type=submit]").await;
        b.wait_signed_in().await;
        b.goto(&url(&format!("/accounts/{account}/members"))).await;
        assert_eq!(b.attr("#refused", "data-code").await, "factor_policy");
        assert!(b.text().await.contains("passkey"), "{}", b.text().await);
        b.close().await;
        // Nor may a code-only session of the Owner undo the policy.
        let (s, v) = put_policy(&app, &ada_code, &account, json!({"allowed": null})).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "factor_policy"),
            "{v}"
        );
    }
);

both_backends!(factor_policy_grace_and_notices, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let ada_totp = app.enrol_totp(&ada).await;
    let cleo = app
        .invite_and_accept(&ada, "cleo@example.com", "analyst")
        .await;
    let cleo_totp = app.enrol_totp(&cleo).await;
    let ada_code = login_with(&app, "ada@example.com", "totp", &totp_now(&app, &ada_totp)).await;
    // Only authenticator apps, in 7 days: Cleo has one, Dan has no second factor.
    let dan = app
        .invite_and_accept(&ada, "dan@example.com", "analyst")
        .await;
    let (s, v) = put_policy(
        &app,
        &ada_code,
        &ada.account,
        json!({"allowed": ["totp"], "grace_days": 7}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Dan, who cannot meet it, is emailed at the start; Cleo, who can, is not.
    let start = app
        .wait_for_email("dan@example.com", "require a stronger second factor")
        .await;
    assert!(start.text.contains("/me/security"), "{}", start.text);
    app.wait_outbox_empty().await;
    let notices = |to: &str| {
        app.emails()
            .iter()
            .filter(|m| m.to.contains(to) && m.subject.contains("stronger second factor"))
            .count()
    };
    assert_eq!(notices("cleo@example.com"), 0);

    // Within the grace period nobody is refused.
    let (s, _) = app
        .get(&format!("/api/v1/accounts/{}", ada.account), &dan.token)
        .await;
    assert_eq!(s, StatusCode::OK);
    // Two days before: one reminder, however often the job runs (and on however many nodes).
    let five_days = app.app().now().plus_secs(5 * 86_400 + 60);
    let sent = app
        .app()
        .factor_policy_notices_once(five_days)
        .await
        .unwrap();
    assert_eq!(sent, 1);
    let again = app
        .app()
        .factor_policy_notices_once(five_days)
        .await
        .unwrap();
    assert_eq!(again, 0);
    app.wait_outbox_empty().await;
    assert_eq!(notices("dan@example.com"), 2);

    // After it: Dan (no second factor at all) is refused; Cleo's app passes.
    app.advance_clock(7 * 86_400 + 60);
    let dan = app.relogin(&dan).await;
    let (s, v) = app
        .get(&format!("/api/v1/accounts/{}", ada.account), &dan.token)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "factor_policy"),
        "{v}"
    );
    let cleo_code = login_with(
        &app,
        "cleo@example.com",
        "totp",
        &totp_now(&app, &cleo_totp),
    )
    .await;
    let (s, v) = app
        .get(&format!("/api/v1/accounts/{}", cleo.account), &cleo_code)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
});
