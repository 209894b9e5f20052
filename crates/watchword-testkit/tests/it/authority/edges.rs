//! Edges an insider (or anyone) reaches: an OAuth client cannot be locked out by someone who
//! knows its public id, and a control character in a form body is a 400 before any handler.

use reqwest::StatusCode;
use serde_json::{Value, json};
use watchword_testkit::{Backend, TestApp, code};

async fn token_from(app: &TestApp, ip: &str, id: &str, secret: &str) -> StatusCode {
    app.client
        .post(app.url("/oauth/token"))
        .header("x-forwarded-for", ip)
        .header("content-type", "application/x-www-form-urlencoded")
        .basic_auth(id, Some(secret))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap()
        .status()
}

async fn nobody_locks_out_a_client_by_its_id(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1".into(), "::1".into()];
    })
    .await
    else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let (s, client) = app
        .post(
            &format!("/api/v1/accounts/{}/oauth-apps", ada.account),
            &ada.token,
            json!({"name": "Sync", "scopes": ["members:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{client}");
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    for _ in 0..25 {
        let s = token_from(&app, "203.0.113.9", id, "wwcs_guess").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // The guessing address is refused even with the right secret; the client itself is not.
    assert_eq!(
        token_from(&app, "203.0.113.9", id, secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_from(&app, "198.51.100.7", id, secret).await,
        StatusCode::OK
    );
}
watchword_testkit::on_both_backends!(oauth_client_lockout, nobody_locks_out_a_client_by_its_id);

watchword_testkit::both_backends!(
    a_control_character_in_a_form_is_refused_at_the_edge,
    |app: TestApp| async move {
        for (path, body) in [
            (
                "/oauth/token",
                "grant_type=client_credentials&client_id=a%00b",
            ),
            ("/oauth/revoke", "token=x%00&client_id=a"),
            ("/api/v1/introspect", "token=ww_%00"),
            (
                "/oauth/token",
                "grant_type=refresh_token&refresh_token=\u{1}",
            ),
            ("/login", "email=a%00%40example.com&password=x"),
        ] {
            let res = app
                .client
                .post(app.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let v: Value = res.json().await.unwrap_or_default();
            assert_eq!(
                (status, code(&v)),
                (StatusCode::BAD_REQUEST, "invalid_characters"),
                "{path} {body}"
            );
        }
        // Tab and line breaks are text.
        let res = app
            .client
            .post(app.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=a%0D%0Ab%09")
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), StatusCode::BAD_REQUEST);
    }
);

/// A URL an account supplies names no internal address in any spelling the URL parser
/// canonicalises, and no loopback address unless the operator allows it (tests do elsewhere).
async fn tenant_urls_reach_no_internal_address(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.outbound_allow_loopback = false).await
    else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let path = format!("/api/v1/accounts/{}/audit-streams", ada.account);
    for internal in [
        "https://0:8443/",
        "https://0x0:8443/",
        "https://0.0:8443/",
        "https://0.0.0.0:8443/",
        "https://10.1/",
        "https://0x0a000001/",
        "https://167772161/",
        "https://127.1:8443/",
        "https://127.0.0.1:8443/",
        "https://[::1]:8443/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:a00:1]/",
    ] {
        let (s, v) = app
            .post(&path, &ada.token, json!({ "url": internal }))
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "private_address"),
            "{internal}: {v}"
        );
    }
    let (s, v) = app
        .post(
            &path,
            &ada.token,
            json!({ "url": "https://siem.example.com/events" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}
watchword_testkit::on_both_backends!(outbound_addresses, tenant_urls_reach_no_internal_address);
