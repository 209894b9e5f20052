//! Assisted recovery as an insider would try it: a request after the password only; approval by
//! an Owner or the Security Contact with a recent sign-in — never the requester, never someone
//! the requester made an administrator this week —, once however many approve at once; a delay
//! anyone told can cancel (the person with "This wasn't me"); then the password alone removes
//! every factor, ends every session and leaves a session that can only add a factor. Every step
//! is in every one of the person's accounts' audit logs.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::{Login, PASSWORD, TestApp, both_backends, code};

async fn file(app: &TestApp, email: &str) -> (StatusCode, Value) {
    let ch = app.challenge(email).await;
    app.call(
        Method::POST,
        "/api/v1/login/recovery",
        None,
        Some(json!({"challenge_id": ch["challenge_id"]})),
    )
    .await
}

async fn act(
    app: &TestApp,
    by: &Login,
    account: &str,
    id: &str,
    what: &str,
) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/accounts/{account}/recovery-requests/{id}/{what}"),
        &by.token,
        json!({}),
    )
    .await
}

both_backends!(assisted_recovery_insiders, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let cleo = app
        .invite_and_accept(&ada, "cleo@example.com", "analyst")
        .await;
    let mallory = app
        .invite_and_accept(&ada, "mallory@example.com", "admin")
        .await;
    app.enrol_totp(&cleo).await;
    let mallory_totp = app.enrol_totp(&mallory).await;
    // Cleo is also in Bob's account.
    let bob = app.signup("Bobco", "Bob", "bob@example.com").await;
    let (s, v) = app.invite(&bob, "cleo@example.com", "analyst").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let token = app
        .mail_token("cleo@example.com", "Bob invited you to Bobco")
        .await;
    let (s, v) = app
        .post(
            "/api/v1/invitations/accept",
            &cleo.token,
            json!({"token": token}),
        )
        .await;
    assert!(s.is_success(), "{v}");

    // Only the password's holder files one: a made-up challenge is refused.
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/login/recovery",
            None,
            Some(json!({"challenge_id": "nope"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = file(&app, "cleo@example.com").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["status"], "pending");
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, v) = file(&app, "cleo@example.com").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "recovery_pending"),
        "{v}"
    );
    let mail = app
        .wait_for_email("cleo@example.com", "Account recovery requested")
        .await;
    let cancel_link = mail
        .text
        .split_whitespace()
        .find(|w| w.contains("/recovery/cancel?token="))
        .unwrap()
        .to_owned();
    app.wait_for_email("ada@example.com", "Account recovery")
        .await;
    app.wait_for_email("bob@example.com", "Account recovery")
        .await;

    // Not the requester, not a member who is neither Owner nor Security Contact, not another
    // account's Owner for a request of this one.
    let (s, v) = act(&app, &cleo, &ada.account, &id, "approve").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "recovery_approver_required"),
        "{v}"
    );
    let (s, v) = act(&app, &mallory, &ada.account, &id, "approve").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "recovery_approver_required"),
        "{v}"
    );
    let (s, _) = act(&app, &bob, &ada.account, &id, "approve").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Without a recent sign-in of her own, the Owner cannot approve.
    app.make_sign_ins_old();
    let (s, v) = act(&app, &ada, &ada.account, &id, "approve").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "reauthentication_required"),
        "{v}"
    );
    let ada = app.relogin(&ada).await;
    let ada2 = app.relogin(&ada).await;
    // The Owner sees it; two approvals at once: one wins.
    let (_, list) = app
        .get(
            &format!("/api/v1/accounts/{}/recovery-requests", ada.account),
            &ada.token,
        )
        .await;
    assert_eq!(list[0]["email"], "cleo@example.com", "{list}");
    let (a, b) = tokio::join!(
        act(&app, &ada, &ada.account, &id, "approve"),
        act(&app, &ada2, &ada.account, &id, "approve")
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    let approved = if a.0 == StatusCode::OK { a.1 } else { b.1 };
    assert_eq!(approved["status"], "approved");
    // Every account of Cleo's hears of it, and logs it.
    app.wait_for_email("bob@example.com", "Account recovery")
        .await;
    for (by, account) in [(&ada, &ada.account), (&bob, &bob.account)] {
        let v = app
            .audit_events(by, "action=security.recovery_approved")
            .await;
        assert_eq!(v["events"].as_array().unwrap().len(), 1, "{account}: {v}");
    }
    // During the delay the password changes nothing; "This wasn't me" cancels.
    let ch = app.challenge("cleo@example.com").await;
    assert_eq!(ch["mfa_required"], true);
    let token = cancel_link.split("token=").nth(1).unwrap();
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/recovery/cancel",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app
        .call(
            Method::POST,
            "/api/v1/recovery/cancel",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "once");
    app.advance_clock(25 * 3600);
    let ch = app.challenge("cleo@example.com").await;
    assert_eq!(
        ch["mfa_required"], true,
        "a cancelled recovery is never used"
    );

    // An Owner never approves her own request.
    let bob = app.relogin(&bob).await;
    let bob_totp = app.enrol_totp(&bob).await;
    let (s, v) = file(&app, "bob@example.com").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let bid = v["id"].as_str().unwrap().to_owned();
    let (s, v) = act(&app, &bob, &bob.account, &bid, "approve").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "recovery_self_approval"),
        "{v}"
    );
    let (s, _) = act(&app, &bob, &bob.account, &bid, "cancel").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "the person may cancel their own");

    // Mallory makes Trent an Admin and the Security Contact; Trent may not approve Mallory's
    // request this week; the Owner may.
    let ada = app.relogin(&ada).await;
    let ch = app.challenge("mallory@example.com").await;
    let (s, v) = app
        .finish_login(
            &ch,
            "totp",
            &crate::policies::factor_policy::totp_now(&app, &mallory_totp),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mallory = Login {
        token: v["session_token"].as_str().unwrap().to_owned(),
        ..mallory
    };
    let trent = app
        .invite_and_accept(&mallory, "trent@example.com", "admin")
        .await;
    app.enrol_totp(&trent).await;
    let (s, v) = app.put_security_contact(&mallory, &trent.membership).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = file(&app, "mallory@example.com").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let mid = v["id"].as_str().unwrap().to_owned();
    let (s, v) = act(&app, &trent, &ada.account, &mid, "approve").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "recovery_approver_too_new"),
        "{v}"
    );
    // The Security Contact may cancel it.
    let (s, _) = act(&app, &trent, &ada.account, &mid, "cancel").await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Cleo again, approved by the Owner, used after the delay.
    let (s, v) = file(&app, "cleo@example.com").await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, _) = act(&app, &ada, &ada.account, &id, "approve").await;
    assert_eq!(s, StatusCode::OK);
    app.advance_clock(24 * 3600 + 60);
    let (s, v) = app.login("cleo@example.com", PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("challenge_id").is_none(), "{v}");
    let token = v["session_token"].as_str().unwrap().to_owned();
    let (s, _) = app.whoami(&cleo.token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "every old session ended");
    let (_, mfa) = app.get("/api/v1/me/mfa", &token).await;
    assert_eq!(mfa["factors"], json!([]), "{mfa}");
    let (s, v) = app
        .get(&format!("/api/v1/accounts/{}", ada.account), &token)
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "mfa_enrollment_required"),
        "{v}"
    );
    let cleo = Login { token, ..cleo };
    app.enrol_totp(&cleo).await;
    let (s, v) = app
        .get(&format!("/api/v1/accounts/{}", ada.account), &cleo.token)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ch = app.challenge("bob@example.com").await;
    let (s, v) = app
        .finish_login(
            &ch,
            "totp",
            &crate::policies::factor_policy::totp_now(&app, &bob_totp),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let bob = Login {
        token: v["session_token"].as_str().unwrap().to_owned(),
        ..bob
    };
    let v = app
        .audit_events(&bob, "action=security.recovery_completed")
        .await;
    assert_eq!(v["events"].as_array().unwrap().len(), 1, "{v}");
});

both_backends!(
    assisted_recovery_in_the_console,
    |app: TestApp| async move {
        use watchword_testkit::browser::Browser;
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let cleo = app
            .invite_and_accept(&ada, "cleo@example.com", "analyst")
            .await;
        app.enrol_totp(&cleo).await;
        let b = Browser::start().await;
        // Cleo, at the second step: "Lost every factor".
        b.goto(&app.url("/login")).await;
        b.fill("email", "cleo@example.com").await;
        b.fill("password", PASSWORD).await;
        b.click("form button[type=submit]").await;
        b.click("#lost-factors").await;
        b.wait_for_text("Recovery requested").await;
        let mail = app
            .wait_for_email("cleo@example.com", "Account recovery requested")
            .await;
        let link = mail
            .text
            .split_whitespace()
            .find(|w| w.contains("/recovery/cancel?token="))
            .unwrap()
            .to_owned();
        // Ada approves on the account's recovery page, with her password.
        let (_, list) = app
            .get(
                &format!("/api/v1/accounts/{}/recovery-requests", ada.account),
                &ada.token,
            )
            .await;
        let id = list[0]["id"].as_str().unwrap().to_owned();
        b.sign_in(&app, "ada@example.com").await;
        b.goto(&app.url(&format!("/accounts/{}/recovery", ada.account)))
            .await;
        assert!(
            b.text().await.contains("cleo@example.com"),
            "{}",
            b.text().await
        );
        b.fill(&format!("password-{id}"), PASSWORD).await;
        b.click(".approve").await;
        b.wait_for_text("Recovery approved").await;
        // Cleo's "This wasn't me" button cancels it (the link alone changes nothing).
        b.goto(&link).await;
        let (_, list) = app
            .get(
                &format!("/api/v1/accounts/{}/recovery-requests", ada.account),
                &ada.token,
            )
            .await;
        assert_eq!(
            list.as_array().unwrap().len(),
            1,
            "opening the link cancels nothing"
        );
        b.click("#cancel-recovery").await;
        b.wait_for_text("cancelled").await;
        let (_, list) = app
            .get(
                &format!("/api/v1/accounts/{}/recovery-requests", ada.account),
                &ada.token,
            )
            .await;
        assert_eq!(list, json!([]));
        b.close().await;
    }
);
