//! Devices and new sign-ins, on SQLite and PostgreSQL: a browser's device cookie, the email of a
//! sign-in from a browser or API client not seen before (none for a first sign-in ever, at most
//! five a day, never folded by kind of browser), "This wasn't me" (a button page, single use: the browser's sessions end, the
//! password must be reset, audited, the Security Contact alerted), and a person's devices.

use reqwest::StatusCode;
use serde_json::{Value, json};
use watchword_testkit::mail::link_token;
use watchword_testkit::{Backend, Login, PASSWORD, TestApp, code};

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
    Chrome/120.0.0.0 Safari/537.36";
const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";
const SUBJECT: &str = "New sign-in to watchword";

/// A browser login: the session and device cookies it was given (`name=value`), or the error.
async fn browser_login(
    app: &TestApp,
    email: &str,
    user_agent: &str,
    device: Option<&str>,
) -> (StatusCode, Option<String>, Option<String>, Value) {
    let mut req = app
        .client
        .post(app.url("/api/v1/login"))
        .header("user-agent", user_agent)
        .json(&json!({"email": email, "password": PASSWORD, "session_mode": "cookie"}));
    if let Some(d) = device {
        req = req.header("cookie", d);
    }
    let res = req.send().await.unwrap();
    let cookie = |name: &str| {
        res.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(name))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    };
    let session = cookie("__Host-watchword_session=");
    let device = cookie("__Host-watchword_device=");
    (
        res.status(),
        session,
        device,
        res.json().await.unwrap_or_default(),
    )
}

fn sign_in_emails(app: &TestApp, to: &str) -> usize {
    app.emails()
        .iter()
        .filter(|m| m.to.contains(to) && m.subject == SUBJECT)
        .count()
}

async fn whoami(app: &TestApp, session_cookie: &str) -> StatusCode {
    app.client
        .get(app.url("/api/v1/whoami"))
        .header("cookie", session_cookie)
        .send()
        .await
        .unwrap()
        .status()
}

/// Waits (bounded) until Ada got `n` new sign-in emails.
async fn wait_sign_in_emails(app: &TestApp, n: usize) {
    for _ in 0..200 {
        if sign_in_emails(app, "ada@example.com") >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(sign_in_emails(app, "ada@example.com"), n);
}

async fn new_sign_ins_are_emailed(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // Signing up is Ada's first sign-in: no email for it.
    let (ada, _) = app.ada_with_grace_as_contact().await;
    // Ada signed in before (at signup): a browser not seen before is emailed.
    let (s, session, device, v) = browser_login(&app, "ada@example.com", CHROME, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let device = device.expect("a browser that signs in gets a device cookie");
    assert!(session.is_some());
    let mail = app.wait_for_email("ada@example.com", SUBJECT).await;
    assert!(mail.text.contains("Chrome on Linux"), "{}", mail.text);
    assert!(mail.text.contains("/sign-ins/not-me?token="));
    // The same browser again: known, no email, no new cookie.
    let (s, _, again, _) = browser_login(&app, "ada@example.com", CHROME, Some(&device)).await;
    assert_eq!((s, again), (StatusCode::OK, None));
    // The same kind of browser with its cookie cleared (or a second one of that kind): a new
    // device, a second email — an attacker's Chrome is not folded into the person's own.
    let (s, _, _, _) = browser_login(&app, "ada@example.com", CHROME, None).await;
    assert_eq!(s, StatusCode::OK);
    // Another browser: a third email.
    let (s, _, _, _) = browser_login(&app, "ada@example.com", FIREFOX, None).await;
    assert_eq!(s, StatusCode::OK);
    wait_sign_in_emails(&app, 3).await;
    // Only the device cookie's digest is stored.
    let token = device.split_once('=').unwrap().1;
    assert_eq!(token.len(), 43);
    assert_eq!(
        app.sql(
            "UPDATE devices SET label = label WHERE LENGTH(token_hash) = 32",
            &[]
        )
        .await,
        5
    );
    // Her devices: the three browsers and the API client she signed up with.
    let (s, list) = app.get("/api/v1/me/devices", &ada.token).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let labels: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels.len(), 4, "{list}");
    assert!(labels.contains(&"Firefox on Windows 10"), "{labels:?}");
    // A person's first sign-in ever (here: Grace's record of signing in cleared) sends
    // nothing; her next new browser does (awaited: then the count is exact).
    app.sql(
        "UPDATE persons SET last_login_at = NULL WHERE email = 'grace@example.com'",
        &[],
    )
    .await;
    browser_login(&app, "grace@example.com", CHROME, None).await;
    browser_login(&app, "grace@example.com", FIREFOX, None).await;
    let mail = app.wait_for_email("grace@example.com", SUBJECT).await;
    assert!(mail.text.contains("Firefox"), "{}", mail.text);
    assert_eq!(sign_in_emails(&app, "grace@example.com"), 1);
    // A scripted client (token mode) from a new user agent is announced too, once.
    for _ in 0..2 {
        let body =
            json!({"email": "ada@example.com", "password": PASSWORD, "session_mode": "token"});
        let res = app
            .client
            .post(app.url("/api/v1/login"))
            .header("user-agent", "python-requests/2.32")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    wait_sign_in_emails(&app, 4).await;
    // At most five a day: more new browsers, one more email.
    for _ in 0..3 {
        let (s, _, _, _) = browser_login(&app, "ada@example.com", CHROME, None).await;
        assert_eq!(s, StatusCode::OK);
    }
    wait_sign_in_emails(&app, 5).await;
    app.wait_outbox_empty().await;
    assert_eq!(sign_in_emails(&app, "ada@example.com"), 5);
}
watchword_testkit::on_both_backends!(devices_new_sign_in, new_sign_ins_are_emailed);

async fn this_was_not_me(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (ada, _) = app.ada_with_grace_as_contact().await;
    let (_, stolen, device, _) = browser_login(&app, "ada@example.com", CHROME, None).await;
    let (stolen, device) = (stolen.unwrap(), device.unwrap());
    // A second session of the same browser, and Ada's own session elsewhere.
    let (_, stolen_too, _, _) = browser_login(&app, "ada@example.com", CHROME, Some(&device)).await;
    let stolen_too = stolen_too.unwrap();
    let mail = app.wait_for_email("ada@example.com", SUBJECT).await;
    let token = link_token(&mail.text).expect("the link");
    // Opening the link changes nothing (mail scanners open links): a page with a button.
    let page = app
        .client
        .get(app.url(&format!("/sign-ins/not-me?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("id=\"not-me\"") && html.contains("Chrome on Linux"),
        "{html}"
    );
    assert_eq!(whoami(&app, &stolen).await, StatusCode::OK);
    // Pressed: that browser's sessions end, Ada's other session stays.
    let press = || async {
        app.client
            .post(app.url("/sign-ins/not-me"))
            .header("origin", app.url(""))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(press().await, StatusCode::OK);
    assert_eq!(whoami(&app, &stolen).await, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(&app, &stolen_too).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/api/v1/whoami", &ada.token).await.0,
        StatusCode::OK
    );
    // Single use.
    assert_eq!(press().await, StatusCode::NOT_FOUND);
    // The password no longer signs in, even right (after the check: nothing is revealed to a
    // wrong one), until it is reset.
    let (s, v) = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "password_reset_required")
    );
    let (s, v) = app
        .login("ada@example.com", "not-the-password-at-all")
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    // Audited in the account; the Security Contact (Grace) is told.
    let e = app
        .wait_event(&ada, "security.unrecognised_sign_in_reported")
        .await;
    assert_eq!(e["actor_email"], "ada@example.com", "{e}");
    assert_eq!(e["details"]["sessions_ended"], 2, "{e}");
    let alert = app.wait_for_email("grace@example.com", "not theirs").await;
    assert!(alert.text.contains("ada@example.com"), "{}", alert.text);
    // A reset lifts it.
    reset_password(&app, "ada@example.com", "a-brand-new-passphrase-42").await;
    let (s, v) = app
        .login("ada@example.com", "a-brand-new-passphrase-42")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // An unknown or malformed link: the same refusal.
    for t in ["forged", &"x".repeat(300)] {
        let res = app
            .client
            .get(app.url(&format!("/sign-ins/not-me?token={t}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}
watchword_testkit::on_both_backends!(devices_not_me, this_was_not_me);

async fn reset_password(app: &TestApp, email: &str, new: &str) {
    let (s, _) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/password-reset",
            None,
            Some(json!({ "email": email })),
        )
        .await;
    assert!(s.is_success(), "{s}");
    let mail = app
        .wait_for_email(email, "Reset your watchword password")
        .await;
    let token = link_token(&mail.text).unwrap();
    let (s, v) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/password-reset/confirm",
            None,
            Some(json!({ "token": token, "new_password": new })),
        )
        .await;
    assert!(s.is_success(), "{s} {v}");
}

/// A person forgets a device: its sessions end; another person's device is not theirs (404).
async fn forgetting_a_device(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let eve: Login = app.signup("Evil", "Eve", "eve@example.com").await;
    let (_, session, _, _) = browser_login(&app, "ada@example.com", CHROME, None).await;
    let session = session.unwrap();
    let (_, list) = app.get("/api/v1/me/devices", &ada.token).await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/me/devices/{id}");
    let (s, v) = app
        .call(reqwest::Method::DELETE, &path, Some(&eve.token), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(whoami(&app, &session).await, StatusCode::OK);
    let (s, _) = app
        .call(reqwest::Method::DELETE, &path, Some(&ada.token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(whoami(&app, &session).await, StatusCode::UNAUTHORIZED);
    // What is left is the API client Ada signed up with (token mode: its user agent and network).
    let (_, list) = app.get("/api/v1/me/devices", &ada.token).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["current"], true, "{list}");
    app.wait_event(&ada, "device.forgotten").await;
}
watchword_testkit::on_both_backends!(devices_forget, forgetting_a_device);

/// The console in Chromium: My sessions lists the devices (this one marked) and forgets one;
/// the "This wasn't me" page's button reports the sign-in.
async fn devices_in_the_console(backend: Backend) {
    use watchword_testkit::browser::Browser;
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let b = Browser::start().await;
    b.sign_up_ada(&app).await;
    let (s, _, _, _) = browser_login(&app, "ada@example.com", FIREFOX, None).await;
    assert_eq!(s, StatusCode::OK);
    b.goto(&app.url("/me/sessions")).await;
    let text = b.text().await;
    assert!(
        text.contains("My devices") && text.contains("this device"),
        "{text}"
    );
    assert!(text.contains("Firefox on Windows 10"), "{text}");
    b.click("tr[data-device='Firefox on Windows 10'] form button")
        .await;
    let text = b.text().await;
    assert!(text.contains("The device is forgotten"), "{text}");
    assert!(!text.contains("Firefox on Windows 10"), "{text}");
    let mail = app.wait_for_email("ada@example.com", SUBJECT).await;
    let token = link_token(&mail.text).unwrap();
    b.goto(&app.url(&format!("/sign-ins/not-me?token={token}")))
        .await;
    assert!(b.text().await.contains("Was this sign-in not you?"));
    b.click("#not-me").await;
    let text = b.text().await;
    assert!(text.contains("Done: that browser is signed out"), "{text}");
    b.close().await;
    let (s, v) = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "password_reset_required")
    );
}
watchword_testkit::on_both_backends!(devices_console, devices_in_the_console);
