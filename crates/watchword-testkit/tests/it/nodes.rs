//! Several nodes on one PostgreSQL: a change that ends or narrows access is refused on every
//! node by notification, not by waiting out a cache (the caches here keep entries for ten
//! minutes); a node that loses its listening connection stops serving from its caches.

use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use watchword::Config;
use watchword_testkit::{Backend, TestApp};

fn long_caches(c: &mut Config) {
    c.auth_cache_ttl_ms = 600_000;
    c.api_key_cache_ttl_ms = 600_000;
}

async fn status(app: &TestApp, base: &str, path: &str, token: &str) -> StatusCode {
    app.client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Asks `base` until it refuses (bounded: a notification takes milliseconds, the cache ten
/// minutes); the refusal.
async fn refused(app: &TestApp, base: &str, path: &str, token: &str) -> StatusCode {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = status(app, base, path, token).await;
        if s != StatusCode::OK {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{path} still answered 200 on {base}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_every_node_by_notification() {
    let Some(app) = TestApp::spawn_with(Backend::Postgres, long_caches).await else {
        return;
    };
    let second = app.spawn_node_with(long_caches).await;
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let grace = app
        .invite_and_accept(&ada, "grace@example.com", "manager")
        .await;
    let members = format!("/api/v1/accounts/{}/members", ada.account);
    // A session logged out on the first node.
    let (s, v) = app
        .login("grace@example.com", watchword_testkit::PASSWORD)
        .await;
    assert_eq!(s, StatusCode::OK);
    let session = v["session_token"].as_str().unwrap().to_owned();
    assert_eq!(
        status(&app, &second.base, "/api/v1/whoami", &session).await,
        StatusCode::OK
    );
    let (s, _) = app.post("/api/v1/logout", &session, json!({})).await;
    assert!(s.is_success(), "{s}");
    assert_eq!(
        refused(&app, &second.base, "/api/v1/whoami", &session).await,
        StatusCode::UNAUTHORIZED
    );
    // A role narrowed: Manager → Analyst lists no members.
    assert_eq!(
        status(&app, &second.base, &members, &grace.token).await,
        StatusCode::OK
    );
    let path = format!(
        "/api/v1/accounts/{}/members/{}",
        ada.account, grace.membership
    );
    let (s, v) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&ada.token),
            Some(json!({"role": "analyst"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        refused(&app, &second.base, &members, &grace.token).await,
        StatusCode::FORBIDDEN
    );
    // The account's policy: the paid plan requires a second factor Grace does not have.
    let (s, _) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&ada.token),
            Some(json!({"role": "manager"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    app.enrol_totp(&ada).await;
    assert_eq!(
        status(&app, &second.base, &members, &grace.token).await,
        StatusCode::OK
    );
    app.set_plan(&ada, "paid").await;
    assert_eq!(
        refused(&app, &second.base, &members, &grace.token).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_hearing_does_not_serve_from_its_caches() {
    let Some(app) = TestApp::spawn_with(Backend::Postgres, long_caches).await else {
        return;
    };
    let second = app.spawn_node_with(long_caches).await;
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let grace = app
        .invite_and_accept(&ada, "grace@example.com", "manager")
        .await;
    assert_eq!(
        status(&app, &second.base, "/api/v1/whoami", &grace.token).await,
        StatusCode::OK
    );
    // Every listening connection dropped (as a failover or a network cut does), then Grace's
    // sessions ended by hand: no notification tells of it.
    app.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        &[],
    )
    .await;
    app.sql(
        "UPDATE sessions SET revoked_at = 1 WHERE person_id = $1",
        &[grace.person.as_str()],
    )
    .await;
    assert_eq!(
        refused(&app, &second.base, "/api/v1/whoami", &grace.token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_wrong_passwords_over_three_nodes_are_checked_ten_times() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let nodes = [app.spawn_node().await, app.spawn_node().await];
    app.signup("Acme", "Ada", "ada@example.com").await;
    let bases = [
        app.base.clone(),
        nodes[0].base.clone(),
        nodes[1].base.clone(),
    ];
    let wrong = json!({"email": "ada@example.com", "password": "not-the-password-1!", "session_mode": "token"});
    let calls = (0..40).map(|i| {
        let url = format!("{}/api/v1/login", bases[i % 3]);
        let req = app.client.post(url).json(&wrong);
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let statuses: Vec<u16> = futures_util::future::join_all(calls).await;
    let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
    assert_eq!(count(401), 10, "{statuses:?}");
    assert_eq!(count(429), 30, "{statuses:?}");
    // The limit holds on every node afterwards, the right password included.
    for base in &bases {
        let res = app
            .client
            .post(format!("{base}/api/v1/login"))
            .json(&json!({"email": "ada@example.com", "password": watchword_testkit::PASSWORD, "session_mode": "token"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{base}");
    }
}
