//! A credential never outlives its maker's rights: an API key made by an Admin shrinks when
//! they are demoted, comes back when they are promoted, stops while they are deactivated, and
//! is revoked (audited per key) when they are removed — unless handed, in the same request, to a
//! member who holds its scopes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::{Login, TestApp, both_backends, code};

async fn make_key(app: &TestApp, by: &Login, scopes: &[&str]) -> (String, String) {
    let path = format!("/api/v1/accounts/{}/api-keys", by.account);
    let (s, v) = app
        .post(&path, &by.token, json!({"name": "sync", "scopes": scopes}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (
        v["secret"].as_str().unwrap().to_owned(),
        v["id"].as_str().unwrap().to_owned(),
    )
}

/// What the key may do now: (list members, revoke a key) statuses and its introspected scope.
async fn reach(
    app: &TestApp,
    account: &str,
    secret: &str,
    victim: &str,
) -> (StatusCode, StatusCode) {
    let (read, _) = app
        .get(&format!("/api/v1/accounts/{account}/members"), secret)
        .await;
    // A revocation of a key that does not exist: 404 when allowed, 403 when not.
    let path = format!("/api/v1/accounts/{account}/api-keys/{victim}");
    let (write, _) = app.call(Method::DELETE, &path, Some(secret), None).await;
    (read, write)
}

async fn events(app: &TestApp, by: &Login, action: &str) -> Vec<Value> {
    let v = app.audit_events(by, &format!("action={action}")).await;
    v["events"].as_array().cloned().unwrap_or_default()
}

both_backends!(
    a_key_acts_within_its_makers_current_role,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let grace = app
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        let (secret, id) = make_key(&app, &grace, &["members:read", "api_keys:write"]).await;
        let nobody = "key_0000000000000000000000000000";
        let ok = (StatusCode::OK, StatusCode::NOT_FOUND);
        assert_eq!(reach(&app, &ada.account, &secret, nobody).await, ok);
        // Demoted to Manager (reads members, no key management): the key shrinks at once.
        let (s, _) = app.set_role(&ada, &grace.membership, "manager").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            reach(&app, &ada.account, &secret, nobody).await,
            (StatusCode::OK, StatusCode::FORBIDDEN)
        );
        let (_, v) = app
            .call(
                Method::DELETE,
                &format!("/api/v1/accounts/{}/api-keys/{nobody}", ada.account),
                Some(&secret),
                None,
            )
            .await;
        assert_eq!(code(&v), "insufficient_scope");
        // Analyst: not even members.
        app.set_role(&ada, &grace.membership, "analyst").await;
        assert_eq!(
            reach(&app, &ada.account, &secret, nobody).await,
            (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN)
        );
        // Admin again: the key's own scopes come back (it narrows, it is not rewritten).
        app.set_role(&ada, &grace.membership, "admin").await;
        assert_eq!(reach(&app, &ada.account, &secret, nobody).await, ok);
        // Deactivated: nothing; reactivated: back.
        let (s, _) = app.set_member_active(&ada, &grace.membership, false).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            reach(&app, &ada.account, &secret, nobody).await,
            (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN)
        );
        let stopped = events(&app, &ada, "member.credentials_stopped").await;
        assert_eq!(stopped.len(), 1, "{stopped:?}");
        assert_eq!(
            stopped[0]["target_id"].as_str(),
            Some(id.as_str()),
            "{stopped:?}"
        );
        app.set_member_active(&ada, &grace.membership, true).await;
        assert_eq!(reach(&app, &ada.account, &secret, nobody).await, ok);
        // Removed: the key is revoked, audited per key.
        let (s, v) = app.remove_member(&ada, &grace.membership).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        let (s, _) = app
            .get(
                &format!("/api/v1/accounts/{}/members", ada.account),
                &secret,
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (_, key) = app
            .get(
                &format!("/api/v1/accounts/{}/api-keys/{id}", ada.account),
                &ada.token,
            )
            .await;
        assert_eq!(key["state"], "revoked", "{key}");
        assert_eq!(
            events(&app, &ada, "member.credentials_stopped").await.len(),
            2
        );
    }
);

both_backends!(
    a_departing_members_keys_move_only_to_someone_who_holds_their_scopes,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let grace = app
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        let lin = app
            .invite_and_accept(&ada, "lin@example.com", "analyst")
            .await;
        let (secret, id) = make_key(&app, &grace, &["members:read", "api_keys:write"]).await;
        let path = |to: &str| {
            format!(
                "/api/v1/accounts/{}/members/{}?transfer_credentials_to={to}",
                ada.account, grace.membership
            )
        };
        // Lin (Analyst) lacks the key's scopes: refused, and nothing changed.
        let (s, v) = app
            .call(
                Method::DELETE,
                &path(&lin.membership),
                Some(&ada.token),
                None,
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "transfer_scope"),
            "{v}"
        );
        let (s, _) = app.whoami(&grace.token).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            app.member(&ada, "grace@example.com").await["status"],
            "active"
        );
        // To Ada: Grace is gone, her key goes on, now Ada's.
        let (s, v) = app
            .call(
                Method::DELETE,
                &path(&ada.membership),
                Some(&ada.token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        let (s, _) = app
            .get(
                &format!("/api/v1/accounts/{}/members", ada.account),
                &secret,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let moved = events(&app, &ada, "member.credentials_transferred").await;
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert_eq!(moved[0]["target_id"].as_str(), Some(id.as_str()));
        let (_, key) = app
            .get(
                &format!("/api/v1/accounts/{}/api-keys/{id}", ada.account),
                &ada.token,
            )
            .await;
        assert_eq!(key["created_by_email"], "ada@example.com", "{key}");
    }
);

/// On PostgreSQL every node follows: a key cached by a second node shrinks there as soon as its
/// maker is demoted on the first (the change is announced to every node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demotion_reaches_another_nodes_cached_key() {
    let Some(app) = watchword_testkit::TestApp::spawn(watchword_testkit::Backend::Postgres).await
    else {
        return;
    };
    let second = app.spawn_node().await;
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let grace = app
        .invite_and_accept(&ada, "grace@example.com", "admin")
        .await;
    let (secret, _) = make_key(&app, &grace, &["members:read"]).await;
    let on_second = || {
        app.client
            .get(format!(
                "{}/api/v1/accounts/{}/members",
                second.base, ada.account
            ))
            .bearer_auth(&secret)
            .send()
    };
    assert_eq!(on_second().await.unwrap().status(), StatusCode::OK);
    let (s, _) = app.set_role(&ada, &grace.membership, "analyst").await;
    assert_eq!(s, StatusCode::OK);
    // Bounded wait (the notification is delivered at commit; the cache TTL would be 60 s).
    let mut refused = false;
    for _ in 0..100 {
        if on_second().await.unwrap().status() == StatusCode::FORBIDDEN {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        refused,
        "the second node still lets the demoted maker's key read members"
    );
}
