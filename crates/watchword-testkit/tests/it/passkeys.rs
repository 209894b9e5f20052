//! Passkeys in real headless Chromium with its WebDriver virtual authenticator, on SQLite and
//! PostgreSQL: register one on My security (recovery codes come with the first factor), use it
//! as the second step of a password login, sign in with it alone, see it refused from another
//! origin, and remove it. The API's refusals are checked directly.

use reqwest::StatusCode;
use serde_json::json;
use watchword_testkit::browser::Browser;
use watchword_testkit::{PASSWORD, TestApp, both_backends};

/// An assertion that parses but no authenticator made.
fn forged_assertion() -> serde_json::Value {
    json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA"}})
}

/// Whether this ceremony has been spent.
async fn spent(app: &TestApp, ceremony: &str) -> bool {
    let hash = watchword_domain::token::hash_token(ceremony).to_vec();
    let mut c = app.app().store().read().await.unwrap();
    let (used,): (Option<i64>,) =
        sqlx::query_as("SELECT used_at FROM webauthn_ceremonies WHERE token_hash = $1")
            .bind(hash)
            .fetch_one(&mut *c)
            .await
            .unwrap();
    used.is_some()
}

both_backends!(passkey_register_and_sign_in, |app: TestApp| async move {
    // Passkeys are bound to a host name: a loopback server's URL is localhost.
    let base = app.base.clone();
    assert!(base.starts_with("http://localhost:"), "{base}");
    let url = |p: &str| format!("{base}{p}");
    let b = Browser::start().await;
    b.add_virtual_authenticator().await;
    b.sign_up_ada_at(&app, &base).await;

    // Register a passkey: the browser's authenticator answers watchword's options.
    b.goto(&url("/me/security")).await;
    b.fill("passkey-name", "Laptop").await;
    b.press("#passkey-add").await;
    b.wait_for_text("Passkey added.").await;
    let text = b.text().await;
    assert!(
        text.contains("Laptop") && text.contains("Passkey"),
        "{text}"
    );
    let codes = b
        .client
        .find(fantoccini::Locator::Id("new-recovery-codes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        codes.lines().count(),
        10,
        "first factor brings 10 codes: {codes}"
    );
    assert!(text.contains("10 unused recovery codes"), "{text}");

    // Password, then the passkey as the second step.
    b.click("header form button").await;
    b.fill("email", "ada@example.com").await;
    b.fill("password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    assert!(b.text().await.contains("Two-step verification"));
    b.press("#passkey-verify").await;
    b.wait_signed_in().await;

    // The passkey alone.
    b.click("header form button").await;
    assert_eq!(b.path().await, "/login");
    b.press("#passkey-login").await;
    b.wait_signed_in().await;

    // From another origin the browser will not use it: the credential is bound to localhost.
    b.click("header form button").await;
    let ip = app.base.replace("localhost", "127.0.0.1");
    b.goto(&format!("{ip}/login")).await;
    b.press("#passkey-login").await;
    b.wait_for_text("Passkey failed").await;
    assert_eq!(b.path().await, "/login");

    // Both logins are audited as passkey logins; the counter moved.
    let (s, v) = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["mfa_required"], true, "{v}");
    assert_eq!(v["methods"], json!(["passkey", "recovery_code"]), "{v}");
    let challenge = v["challenge_id"].as_str().unwrap().to_owned();
    // A wrong answer to a passkey ceremony spends it: one ceremony, one answer.
    let (s, v) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/login/mfa/passkey-options",
            None,
            Some(json!({"challenge_id": challenge})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ceremony = v["ceremony_id"].as_str().unwrap().to_owned();
    assert!(!spent(&app, &ceremony).await);
    let (s, v) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/login/mfa",
            None,
            Some(json!({"challenge_id": challenge, "method": "passkey",
                "ceremony_id": ceremony, "credential": forged_assertion()})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        spent(&app, &ceremony).await,
        "a refused answer spends the ceremony"
    );
    let first_code = codes.lines().next().unwrap().to_owned();
    let (s, v) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/login/mfa",
            None,
            Some(json!({"challenge_id": challenge, "method": "recovery_code", "code": first_code})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let token = v["session_token"].as_str().unwrap().to_owned();
    // The same for step-up.
    let (s, v) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/me/reauthenticate/passkey-options",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ceremony = v["ceremony_id"].as_str().unwrap().to_owned();
    let (s, v) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/me/reauthenticate",
            Some(&token),
            Some(json!({"method": "passkey", "ceremony_id": ceremony,
                "credential": forged_assertion()})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        spent(&app, &ceremony).await,
        "a refused step-up spends the ceremony"
    );
    let (_, mfa) = app.get("/api/v1/me/mfa", &token).await;
    let passkey = &mfa["factors"][0];
    assert_eq!(passkey["kind"], "passkey");
    assert!(passkey["last_used_at"].is_string(), "{mfa}");
    let account = app.whoami(&token).await.1["accounts"][0]["account"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, audit) = app
        .get(
            &format!("/api/v1/accounts/{account}/audit-events?action=login.succeeded"),
            &token,
        )
        .await;
    let passkey_logins = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["mfa"] == "passkey")
        .count();
    assert_eq!(passkey_logins, 2, "{audit}");

    // Renamed, then removed on the page (this session is fresh).
    let id = passkey["id"].as_str().unwrap();
    let (s, v) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/me/mfa/{id}"),
            Some(&token),
            Some(json!({"name": "  "})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_name"))
    );
    let (s, _) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/me/mfa/{id}"),
            Some(&token),
            Some(json!({"name": "Work laptop"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    b.goto(&url("/login")).await;
    b.press("#passkey-login").await;
    b.wait_signed_in().await;
    b.goto(&url("/me/security")).await;
    assert!(b.text().await.contains("Work laptop"));
    b.click("#factors form button").await;
    assert!(
        b.text().await.contains("Factor removed."),
        "{}",
        b.text().await
    );
    let (_, mfa) = app.get("/api/v1/me/mfa", &token).await;
    assert_eq!(mfa["factors"], json!([]), "{mfa}");
    b.close().await;
});

both_backends!(passkey_api_refusals, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let post = |path: &'static str, token: Option<String>, body: serde_json::Value| {
        let app = &app;
        async move {
            app.call(reqwest::Method::POST, path, token.as_deref(), Some(body))
                .await
        }
    };
    // Options for registration carry this site as relying party and exclude nothing yet.
    let (s, v) = post(
        "/api/v1/me/mfa/passkeys",
        Some(ada.token.clone()),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["options"]["publicKey"]["rp"]["id"], "localhost", "{v}");
    assert_eq!(
        v["options"]["publicKey"]["authenticatorSelection"]["userVerification"],
        "required"
    );
    let ceremony = v["ceremony_id"].as_str().unwrap().to_owned();
    // A forged answer is refused, and spends the ceremony.
    let forged = json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"}});
    let (s, v) = post(
        "/api/v1/me/mfa/passkeys/confirm",
        Some(ada.token.clone()),
        json!({"ceremony_id": ceremony, "credential": forged}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "invalid_credential");
    let (s, _) = post(
        "/api/v1/me/mfa/passkeys/confirm",
        Some(ada.token.clone()),
        json!({"ceremony_id": ceremony, "credential": forged}),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a ceremony is used once");
    // Not JSON of a credential at all.
    let (s, v) = post(
        "/api/v1/me/mfa/passkeys/confirm",
        Some(ada.token.clone()),
        json!({"ceremony_id": "x", "credential": {"nope": 1}}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Passwordless: a wrong answer spends the ceremony.
    let (s, v) = post("/api/v1/login/passkey/options", None, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ceremony = v["ceremony_id"].as_str().unwrap().to_owned();
    let (s, v) = post(
        "/api/v1/login/passkey",
        None,
        json!({"ceremony_id": ceremony, "credential": forged_assertion()}),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(
        spent(&app, &ceremony).await,
        "a refused sign-in spends the ceremony"
    );
    // Passwordless with an unknown ceremony.
    let (s, v) = post(
        "/api/v1/login/passkey",
        None,
        json!({"ceremony_id": "unknown", "credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA"}}}),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"]["code"], "invalid_code");
    // Second-step options need a live challenge; no passkey means nothing to ask.
    let (s, _) = post(
        "/api/v1/login/mfa/passkey-options",
        None,
        json!({"challenge_id": "unknown"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Registration needs a recent authentication.
    app.make_sign_ins_old();
    let (s, v) = post(
        "/api/v1/me/mfa/passkeys",
        Some(ada.token.clone()),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "reauthentication_required");
});

both_backends!(
    passwordless_options_are_limited_per_ip,
    |app: TestApp| async move {
        // Anyone may start a passwordless sign-in, so each stores state: one IP gets 30 open
        // ceremonies (their 5-minute lifetime), then 429.
        let options = || {
            app.call(
                reqwest::Method::POST,
                "/api/v1/login/passkey/options",
                None,
                None,
            )
        };
        for i in 0..30 {
            let (s, v) = options().await;
            assert_eq!(s, reqwest::StatusCode::OK, "call {i}: {v}");
        }
        let (s, v) = options().await;
        assert_eq!(s, reqwest::StatusCode::TOO_MANY_REQUESTS, "{v}");
        assert_eq!(v["error"]["code"], "too_many_ceremonies");
        // Once those are older than the lifetime, sign-ins can start again.
        app.sql(
            "UPDATE webauthn_ceremonies SET created_at = created_at - 300001",
            &[],
        )
        .await;
        assert_eq!(options().await.0, reqwest::StatusCode::OK);
    }
);
