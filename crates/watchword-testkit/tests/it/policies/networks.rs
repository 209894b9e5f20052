//! Trusted networks: only the Owner sets them, never leaving their own address outside; then
//! sessions, API keys and OAuth tokens acting in the account from elsewhere get `403
//! network_not_allowed` (whoami leaves the account out), refusals are audited once a minute per
//! credential and the Security Contact told once a day; Owners may be exempted (break-glass).

use super::{behind_proxy, from};
use reqwest::{Method, StatusCode};
use serde_json::json;
use watchword_testkit::{Backend, TestApp, code};

const INSIDE: &str = "203.0.113.9";
const OUTSIDE: &str = "198.51.100.7";
/// The test's own calls without a forwarded address (audit reads, logins).
const LOOPBACK: &str = "127.0.0.1";

async fn trusted_networks(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, behind_proxy).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let bob = app
        .invite_and_accept(&ada, "bob@example.com", "admin")
        .await;
    let path = format!("/api/v1/accounts/{}/settings/networks", ada.account);
    let members = format!("/api/v1/accounts/{}/members", ada.account);
    let (s, key) = app
        .post(
            &format!("/api/v1/accounts/{}/api-keys", ada.account),
            &ada.token,
            json!({"name": "CI", "scopes": ["members:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let key = key["secret"].as_str().unwrap().to_owned();

    // Bad ranges are a 422 naming the range; more than 100 are refused; nothing is written.
    let put = |ip: &'static str, who: String, body| {
        let (app, path) = (&app, path.clone());
        async move { from(app, ip, Method::PUT, &path, &who, Some(body)).await }
    };
    let (s, v) = put(
        INSIDE,
        ada.token.clone(),
        json!({"ranges": ["10.0.0.0/33"]}),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_network"),
        "{v}"
    );
    let many: Vec<String> = (0..101).map(|i| format!("10.{i}.0.0/16")).collect();
    let (s, v) = put(INSIDE, ada.token.clone(), json!({ "ranges": many })).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "too_many_networks"),
        "{v}"
    );
    // An Admin may not set them; the Owner may not leave her own address outside.
    let (s, v) = put(
        INSIDE,
        bob.token.clone(),
        json!({"ranges": ["203.0.113.0/24"]}),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "owner_required"),
        "{v}"
    );
    let (s, v) = put(
        OUTSIDE,
        ada.token.clone(),
        json!({"ranges": ["203.0.113.0/24"]}),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "network_not_in_list"),
        "{v}"
    );
    let (_, v) = app.get(&path, &ada.token).await;
    assert_eq!(v["ranges"], json!([]), "{v}");

    let (s, v) = put(
        INSIDE,
        ada.token.clone(),
        json!({"ranges": ["203.0.113.7/24", "2001:db8::/32", LOOPBACK, "::1"]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["ranges"],
        json!(["203.0.113.0/24", "2001:db8::/32", "127.0.0.1/32", "::1/128"])
    );

    // Inside: sessions and keys work. Outside: refused, for a session and a key alike.
    for token in [&ada.token, &bob.token, &key] {
        let (s, v) = from(&app, INSIDE, Method::GET, &members, token, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = from(&app, OUTSIDE, Method::GET, &members, token, None).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "network_not_allowed"),
            "{v}"
        );
    }
    let (s, v) = from(&app, OUTSIDE, Method::GET, "/api/v1/whoami", &key, None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "network_not_allowed"),
        "{v}"
    );
    let (s, v) = from(
        &app,
        "2001:db8::5",
        Method::GET,
        "/api/v1/whoami",
        &key,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // whoami by session lists the account only where its networks admit the session.
    let (_, v) = from(
        &app,
        OUTSIDE,
        Method::GET,
        "/api/v1/whoami",
        &bob.token,
        None,
    )
    .await;
    assert_eq!(v["accounts"], json!([]), "{v}");
    let (_, v) = from(
        &app,
        INSIDE,
        Method::GET,
        "/api/v1/whoami",
        &bob.token,
        None,
    )
    .await;
    assert_eq!(
        v["accounts"][0]["account"]["id"],
        ada.account.as_str(),
        "{v}"
    );

    // Many refusals of one credential from one address: one audit event a minute.
    for _ in 0..5 {
        let (s, _) = from(&app, OUTSIDE, Method::GET, &members, &key, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    app.wait_event(&ada, "account.network_refused").await;
    let events = loop {
        let v = app
            .audit_events(&ada, "action=account.network_refused")
            .await;
        let n = v["events"].as_array().map_or(0, Vec::len);
        if n >= 3 {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let events = events["events"].as_array().unwrap().clone();
    // Ada's session, Bob's session and the key: one each.
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events.iter().all(|e| e["ip"] == OUTSIDE), "{events:?}");
    // The Security Contact (Ada) is told once that day, however many were refused.
    let mail = app
        .wait_for_email("ada@example.com", "outside the account's trusted networks")
        .await;
    assert!(mail.text.contains(OUTSIDE), "{}", mail.text);
    app.wait_outbox_empty().await;
    let told = app
        .emails()
        .iter()
        .filter(|m| m.subject.contains("outside the account's trusted networks"))
        .count();
    assert_eq!(told, 1);

    // Break-glass: with Owners exempt, Ada's own password + MFA session works from anywhere;
    // a session without MFA, an Admin and a key do not.
    let (s, _) = put(
        INSIDE,
        ada.token.clone(),
        json!({"ranges": ["203.0.113.0/24", LOOPBACK, "::1"], "owner_exempt": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = from(&app, OUTSIDE, Method::GET, &members, &ada.token, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no MFA on this session");
    let secret = app.enrol_totp(&ada).await;
    let ch = app.challenge("ada@example.com").await;
    let (s, v) = app
        .finish_login(&ch, "totp", &super::factor_policy::totp_now(&app, &secret))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ada_mfa = v["session_token"].as_str().unwrap().to_owned();
    let (s, v) = from(&app, OUTSIDE, Method::GET, &members, &ada_mfa, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for token in [&bob.token, &key] {
        let (s, _) = from(&app, OUTSIDE, Method::GET, &members, token, None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }

    // Cleared: anywhere again; every change is audited.
    let (s, _) = put(INSIDE, ada_mfa.clone(), json!({"ranges": []})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = from(&app, OUTSIDE, Method::GET, &members, &key, None).await;
    assert_eq!(s, StatusCode::OK);
    let v = app
        .audit_events(&ada, "action=account.networks_changed")
        .await;
    assert_eq!(v["events"].as_array().unwrap().len(), 3, "{v}");
}
watchword_testkit::on_both_backends!(trusted_networks_enforced, trusted_networks);
