//! API keys, on SQLite and PostgreSQL: shown once, scopes and accounts enforced, escalation
//! refused, step-up, clone and rotate with grace, revocation (also seen by a second node),
//! expiry, flags, introspection, and exposed-key reports with their emails over real SMTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_domain::Millis;
use watchword_testkit::{Backend, Login, TestApp, both_backends};

const PARTNER_SECRET: &str = "partner-secret-0123456789abcdef-0123";
const OPERATOR_SECRET: &str = "operator-secret-0123456789abcdef-0123";

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

fn keys_path(l: &Login) -> String {
    format!("/api/v1/accounts/{}/api-keys", l.account)
}

async fn create(app: &TestApp, by: &Login, body: Value) -> (StatusCode, Value) {
    app.post(&keys_path(by), &by.token, body).await
}

async fn create_ok(app: &TestApp, by: &Login, body: Value) -> (String, Value) {
    let (s, v) = create(app, by, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (v["secret"].as_str().expect("secret").to_owned(), v)
}

/// Waits (bounded) for an audit event with this action and returns it.
async fn wait_event(app: &TestApp, by: &Login, action: &str) -> Value {
    for _ in 0..200 {
        let (s, v) = app
            .get(
                &format!(
                    "/api/v1/accounts/{}/audit-events?action={action}",
                    by.account
                ),
                &by.token,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if let Some(e) = v["events"].as_array().and_then(|a| a.first()) {
            return e.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no {action} event");
}

async fn count_events(app: &TestApp, by: &Login, action: &str) -> usize {
    let (_, v) = app
        .get(
            &format!(
                "/api/v1/accounts/{}/audit-events?action={action}",
                by.account
            ),
            &by.token,
        )
        .await;
    v["events"].as_array().map_or(0, Vec::len)
}

both_backends!(
    a_key_is_shown_once_and_only_a_hash_is_stored,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let (secret, v) = create_ok(
            &app,
            &ada,
            json!({"name": "Zapier", "scopes": ["members:read"]}),
        )
        .await;
        assert!(secret.starts_with("ww_") && secret.len() == 51, "{secret}");
        let id = v["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("key_") && !secret.contains(&id[4..]));
        assert_eq!(v["scopes"], json!(["members:read"]));
        assert_eq!(v["state"], "active");
        // Never again: not in the list, not in the key, not in the audit log.
        let (_, list) = app.get(&keys_path(&ada), &ada.token).await;
        let (_, one) = app
            .get(&format!("{}/{id}", keys_path(&ada)), &ada.token)
            .await;
        let (_, log) = app
            .get(
                &format!("/api/v1/accounts/{}/audit-events", ada.account),
                &ada.token,
            )
            .await;
        for body in [&list, &one, &log] {
            assert!(
                !body.to_string().contains(&secret[3..]),
                "secret leaked: {body}"
            );
        }
        assert_eq!(list[0]["id"], id.as_str());
        assert_eq!(
            wait_event(&app, &ada, "api_key.created").await["target_id"],
            id.as_str()
        );
        // The database holds the SHA-256 of the key and nothing from which it could be read.
        let mut c = app.app().store().read().await.unwrap();
        let row: (Vec<u8>, String) =
            sqlx::query_as("SELECT secret_hash, scopes FROM api_keys WHERE id = $1")
                .bind(&id)
                .fetch_one(&mut *c)
                .await
                .unwrap();
        assert_eq!(row.0, watchword_domain::token::hash_token(&secret));
        let dump: Vec<(String,)> =
            sqlx::query_as("SELECT id || name || scopes || created_by_email FROM api_keys")
                .fetch_all(&mut *c)
                .await
                .unwrap();
        assert!(dump.iter().all(|(t,)| !t.contains(&secret[3..])));
    }
);

both_backends!(
    a_key_reaches_only_its_scopes_and_its_account,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let bob = app.signup("Other", "Bob", "bob@example.com").await;
        let (key, v) = create_ok(
            &app,
            &ada,
            json!({"name": "Sync", "scopes": ["members:read"]}),
        )
        .await;
        let (s, who) = app.get("/api/v1/whoami", &key).await;
        assert_eq!(s, StatusCode::OK, "{who}");
        assert_eq!(who["api_key"]["id"], v["id"]);
        assert_eq!(who["api_key"]["account_id"], ada.account.as_str());
        let members = format!("/api/v1/accounts/{}/members", ada.account);
        let (s, m) = app.get(&members, &key).await;
        assert_eq!(
            (s, m.as_array().map(Vec::len)),
            (StatusCode::OK, Some(1)),
            "{m}"
        );
        // Outside its scopes: 403 insufficient_scope.
        let (s, e) = app
            .get(
                &format!("/api/v1/accounts/{}/audit-events", ada.account),
                &key,
            )
            .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::FORBIDDEN, "insufficient_scope"),
            "{e}"
        );
        let (s, e) = app.get(&keys_path(&ada), &key).await;
        assert_eq!((s, code(&e)), (StatusCode::FORBIDDEN, "insufficient_scope"));
        // Person-only endpoints refuse keys.
        let (s, e) = app
            .post(
                &format!("/api/v1/accounts/{}/invitations", ada.account),
                &key,
                json!({"email": "x@example.com", "role": "analyst"}),
            )
            .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::FORBIDDEN, "insufficient_scope"),
            "{e}"
        );
        let (s, e) = create(
            &app,
            &Login {
                token: key.clone(),
                ..ada.clone()
            },
            json!({"name": "k"}),
        )
        .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::FORBIDDEN, "insufficient_scope"),
            "{e}"
        );
        // Another account does not exist for this key.
        let (s, _) = app
            .get(&format!("/api/v1/accounts/{}/members", bob.account), &key)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        // A key-shaped string that is no key, and a broken checksum.
        let fake = watchword_domain::api_key::generate("ww_");
        let (s, e) = app.get("/api/v1/whoami", &fake).await;
        assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, "invalid_api_key"));
        let mut broken = key.clone();
        broken.replace_range(10..11, if &key[10..11] == "a" { "b" } else { "a" });
        // A broken checksum is not a key at all (and no session either).
        let (s, e) = app.get("/api/v1/whoami", &broken).await;
        assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
        // Failed uses are audited (coalesced); successful ones are not.
        let e = denied_event(&app, &ada, "insufficient_scope")
            .await
            .expect("audited");
        assert_eq!(e["actor_kind"], "api_key");
        assert_eq!(e["actor_key_id"], v["id"]);
        assert_eq!(e["details"]["detail"]["scope"], "audit_log:read");
        assert!(denied_event(&app, &ada, "other_account").await.is_some());
        // Coalesced: the second refusal of the same kind within a minute adds no event.
        let (_, log) = app
            .get(
                &format!(
                    "/api/v1/accounts/{}/audit-events?action=api_key.denied",
                    ada.account
                ),
                &ada.token,
            )
            .await;
        let scope_events = log["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["details"]["reason"] == "insufficient_scope")
            .count();
        assert_eq!(scope_events, 1);
    }
);

/// Waits (bounded) for an `api_key.denied` event with this reason.
async fn denied_event(app: &TestApp, by: &Login, reason: &str) -> Option<Value> {
    for _ in 0..200 {
        let (_, v) = app
            .get(
                &format!(
                    "/api/v1/accounts/{}/audit-events?action=api_key.denied",
                    by.account
                ),
                &by.token,
            )
            .await;
        let found = v["events"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["details"]["reason"] == reason).cloned());
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    None
}

both_backends!(
    scopes_default_to_read_only_and_never_exceed_the_creator,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let (_, v) = create_ok(&app, &ada, json!({"name": "Reader"})).await;
        let scopes: Vec<String> = serde_json::from_value(v["scopes"].clone()).unwrap();
        assert!(
            !scopes.is_empty() && scopes.iter().all(|s| s.ends_with(":read")),
            "{scopes:?}"
        );
        let admin = app
            .invite_and_accept(&ada, "admin@example.com", "admin")
            .await;
        let (s, e) = create(
            &app,
            &admin,
            json!({"name": "Billing", "scopes": ["billing:read"]}),
        )
        .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::FORBIDDEN, "privilege_escalation"),
            "{e}"
        );
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("billing:read")
        );
        let (_, full) = create_ok(&app, &admin, json!({"name": "Full", "preset": "full"})).await;
        let full: Vec<String> = serde_json::from_value(full["scopes"].clone()).unwrap();
        assert!(
            full.contains(&"members:write".to_owned())
                && !full.iter().any(|s| s.starts_with("billing"))
        );
        // An admin cannot clone the owner's key that holds billing.
        let (_, owners) = create_ok(
            &app,
            &ada,
            json!({"name": "Money", "scopes": ["billing:write"]}),
        )
        .await;
        let (s, e) = app
            .post(
                &format!(
                    "{}/{}/clone",
                    keys_path(&admin),
                    owners["id"].as_str().unwrap()
                ),
                &admin.token,
                json!({}),
            )
            .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::FORBIDDEN, "privilege_escalation"),
            "{e}"
        );
        // Roles without api_keys:manage create nothing.
        let analyst = app
            .invite_and_accept(&ada, "analyst@example.com", "analyst")
            .await;
        let (s, e) = create(&app, &analyst, json!({"name": "x"})).await;
        assert_eq!((s, code(&e)), (StatusCode::FORBIDDEN, "forbidden"), "{e}");
        // Bad input: 422 with a code, nothing written.
        for (body, c) in [
            (
                json!({"name": "x", "scopes": ["members:delete"]}),
                "unknown_scope",
            ),
            (json!({"name": "x", "scopes": []}), "scopes_empty"),
            (json!({"name": "x", "preset": "all"}), "unknown_preset"),
            (
                json!({"name": "", "scopes": ["members:read"]}),
                "invalid_name",
            ),
            (json!({"name": "x", "expires_in_days": 0}), "invalid_expiry"),
        ] {
            let (s, e) = create(&app, &ada, body).await;
            assert_eq!((s, code(&e)), (StatusCode::UNPROCESSABLE_ENTITY, c), "{e}");
        }
        let (_, list) = app.get(&keys_path(&ada), &ada.token).await;
        assert_eq!(list.as_array().unwrap().len(), 3);
    }
);

both_backends!(
    creating_a_key_needs_a_recent_authentication,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let old = Millis::now().0 - 16 * 60 * 1000;
        app.sql(
            "UPDATE sessions SET authenticated_at = CAST($1 AS BIGINT)",
            &[&old.to_string()],
        )
        .await;
        let (s, e) = create(&app, &ada, json!({"name": "x"})).await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::FORBIDDEN, "reauthentication_required")
        );
        let (s, _) = app
            .post(
                "/api/v1/me/reauthenticate",
                &ada.token,
                json!({"password": watchword_testkit::PASSWORD}),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        create_ok(&app, &ada, json!({"name": "x"})).await;
    }
);

both_backends!(
    clone_keeps_scopes_and_expiry_policy_and_rotate_honours_the_grace_period,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let (old_key, old) = create_ok(
            &app,
            &ada,
            json!({"name": "Zapier", "scopes": ["members:read", "audit_log:read"], "expires_in_days": 30}),
        )
        .await;
        let old_id = old["id"].as_str().unwrap();
        let (s, c) = app
            .post(
                &format!("{}/{old_id}/clone", keys_path(&ada)),
                &ada.token,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        assert_eq!(c["name"], "Zapier (2)");
        assert_eq!(c["scopes"], old["scopes"]);
        assert_eq!(c["lifetime_days"], 30);
        assert_eq!(c["cloned_from"], old_id);
        assert!(c["expires_at"].is_string());
        // Rotate with one hour of grace: both keys work, the old one is expiring.
        let before = Millis::now();
        let (s, r) = app
            .post(
                &format!("{}/{old_id}/rotate", keys_path(&ada)),
                &ada.token,
                json!({"grace_period_seconds": 3600}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        assert_eq!(r["name"], "Zapier (3)");
        let new_key = r["secret"].as_str().unwrap();
        assert_eq!(app.get("/api/v1/whoami", new_key).await.0, StatusCode::OK);
        assert_eq!(app.get("/api/v1/whoami", &old_key).await.0, StatusCode::OK);
        let (_, o) = app
            .get(&format!("{}/{old_id}", keys_path(&ada)), &ada.token)
            .await;
        assert_eq!(o["state"], "expiring");
        assert_eq!(o["replaced_by"], r["id"]);
        let ends = Millis::parse_rfc3339(o["expires_at"].as_str().unwrap()).unwrap();
        assert!(
            (ends.0 - before.0 - 3_600_000).abs() < 60_000,
            "grace ends at {ends:?}"
        );
        let e = wait_event(&app, &ada, "api_key.rotated").await;
        assert_eq!(e["details"]["new_key_id"], r["id"]);
        let (s, e) = app
            .post(
                &format!("{}/{old_id}/rotate", keys_path(&ada)),
                &ada.token,
                json!({}),
            )
            .await;
        assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "already_rotated"));
        // Grace 0: the old key stops at once; its expiry is audited once.
        let (k2, v2) = create_ok(&app, &ada, json!({"name": "Now"})).await;
        let (s, _) = app
            .post(
                &format!("{}/{}/rotate", keys_path(&ada), v2["id"].as_str().unwrap()),
                &ada.token,
                json!({"grace_period_seconds": 0}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, e) = app.get("/api/v1/whoami", &k2).await;
        assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, "api_key_expired"));
        assert_eq!(
            app.app().record_key_expiries(Millis::now()).await.unwrap(),
            1
        );
        assert_eq!(
            app.app().record_key_expiries(Millis::now()).await.unwrap(),
            0
        );
        assert_eq!(
            wait_event(&app, &ada, "api_key.expired").await["target_id"],
            v2["id"]
        );
        let (s, e) = app
            .post(
                &format!("{}/{}/rotate", keys_path(&ada), v2["id"].as_str().unwrap()),
                &ada.token,
                json!({}),
            )
            .await;
        assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "key_not_active"));
        let (s, e) = app
            .post(
                &format!("{}/{}/rotate", keys_path(&ada), r["id"].as_str().unwrap()),
                &ada.token,
                json!({"grace_period_seconds": -1}),
            )
            .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_grace_period")
        );
        // A rotation with no body uses the default grace of 24 hours.
        let (s, d) = app
            .call(
                Method::POST,
                &format!("{}/{}/rotate", keys_path(&ada), r["id"].as_str().unwrap()),
                Some(&ada.token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{d}");
        let (_, o) = app
            .get(
                &format!("{}/{}", keys_path(&ada), r["id"].as_str().unwrap()),
                &ada.token,
            )
            .await;
        let ends = Millis::parse_rfc3339(o["expires_at"].as_str().unwrap()).unwrap();
        assert!(ends.0 - Millis::now().0 > 23 * 3_600_000);
    }
);

both_backends!(
    revocation_is_immediate_and_keys_with_write_scope_may_revoke,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let (key, v) = create_ok(
            &app,
            &ada,
            json!({"name": "Sync", "scopes": ["members:read"]}),
        )
        .await;
        let id = v["id"].as_str().unwrap();
        assert_eq!(app.get("/api/v1/whoami", &key).await.0, StatusCode::OK);
        let (reader, _) = create_ok(
            &app,
            &ada,
            json!({"name": "R", "scopes": ["api_keys:read"]}),
        )
        .await;
        let (writer, w) = create_ok(
            &app,
            &ada,
            json!({"name": "W", "scopes": ["api_keys:write"]}),
        )
        .await;
        let (s, e) = app
            .delete(&format!("{}/{id}", keys_path(&ada)), &reader)
            .await;
        assert_eq!((s, code(&e)), (StatusCode::FORBIDDEN, "insufficient_scope"));
        let (s, list) = app.get(&keys_path(&ada), &reader).await;
        assert_eq!(
            (s, list.as_array().map(Vec::len)),
            (StatusCode::OK, Some(3))
        );
        let (s, _) = app
            .delete(&format!("{}/{id}", keys_path(&ada)), &writer)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, e) = app.get("/api/v1/whoami", &key).await;
        assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, "api_key_revoked"));
        let e = wait_event(&app, &ada, "api_key.revoked").await;
        assert_eq!(
            (e["actor_kind"].as_str(), e["actor_key_id"].as_str()),
            (Some("api_key"), w["id"].as_str())
        );
        assert!(denied_event(&app, &ada, "revoked").await.is_some());
        // Again: nothing changes.
        let (s, _) = app
            .delete(&format!("{}/{id}", keys_path(&ada)), &ada.token)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(count_events(&app, &ada, "api_key.revoked").await, 1);
        let (_, one) = app
            .get(&format!("{}/{id}", keys_path(&ada)), &ada.token)
            .await;
        assert_eq!(one["state"], "revoked");
        let (s, _) = app
            .delete(&format!("{}/key_00", keys_path(&ada)), &ada.token)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
);

both_backends!(a_last_use_never_moves_back, |app: TestApp| async move {
    use watchword_store::api_keys::KeyUse;
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let (_, v) = create_ok(&app, &ada, json!({"name": "Job"})).await;
    let id = v["id"].as_str().unwrap().to_owned();
    let used = |at: i64, ip: &str| KeyUse {
        id: id.clone(),
        at: Millis(at),
        ip: ip.into(),
    };
    let store = app.app().store();
    // Two uses of one key in one batch: the later wins, in either order.
    store
        .touch_keys(vec![used(2_000, "10.0.0.2"), used(1_000, "10.0.0.1")])
        .await
        .unwrap();
    let path = format!("{}/{id}", keys_path(&ada));
    assert_eq!(
        app.get(&path, &ada.token).await.1["last_used_ip"],
        "10.0.0.2"
    );
    // An older use written later changes nothing; a newer one does.
    store
        .touch_keys(vec![used(1_500, "10.0.0.3")])
        .await
        .unwrap();
    assert_eq!(
        app.get(&path, &ada.token).await.1["last_used_ip"],
        "10.0.0.2"
    );
    store
        .touch_keys(vec![used(3_000, "10.0.0.4")])
        .await
        .unwrap();
    assert_eq!(
        app.get(&path, &ada.token).await.1["last_used_ip"],
        "10.0.0.4"
    );
});

both_backends!(
    a_use_still_queued_is_written_at_a_clean_stop,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let (key, v) = create_ok(&app, &ada, json!({"name": "Job"})).await;
        let id = v["id"].as_str().unwrap().to_owned();
        assert_eq!(app.get("/api/v1/whoami", &key).await.0, StatusCode::OK);
        // The use waits a second for others to share its write; stopping at once must not lose it.
        let mut app = app;
        app.running.take().unwrap().stop().await;
        let store = watchword_store::Store::connect(&app.database_url, 1)
            .await
            .unwrap();
        let mut c = store.read().await.unwrap();
        let ip: Option<(String,)> =
            sqlx::query_as("SELECT last_used_ip FROM api_key_uses WHERE key_id = $1")
                .bind(&id)
                .fetch_optional(&mut *c)
                .await
                .unwrap();
        assert_eq!(ip.map(|r| r.0).as_deref(), Some("127.0.0.1"));
    }
);

both_backends!(old_and_unused_keys_are_flagged, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let (key, v) = create_ok(&app, &ada, json!({"name": "Old"})).await;
    let id = v["id"].as_str().unwrap();
    let day = 24 * 3600 * 1000;
    let long_ago = (Millis::now().0 - 100 * day).to_string();
    app.sql(
        "UPDATE api_keys SET created_at = CAST($1 AS BIGINT)",
        &[&long_ago],
    )
    .await;
    let path = format!("{}/{id}", keys_path(&ada));
    assert_eq!(
        app.get(&path, &ada.token).await.1["flags"],
        json!(["unused"])
    );
    let settings = format!("/api/v1/accounts/{}/settings", ada.account);
    let (s, st) = app
        .call(
            Method::PATCH,
            &settings,
            Some(&ada.token),
            Some(json!({"api_key_rotation_days": 90})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["api_key_rotation_days"], 90);
    assert_eq!(
        app.get(&path, &ada.token).await.1["flags"],
        json!(["unused", "rotation_due"])
    );
    // Use clears `unused` (the coalesced write lands off the request path).
    assert_eq!(app.get("/api/v1/whoami", &key).await.0, StatusCode::OK);
    let mut flags = Value::Null;
    for _ in 0..200 {
        flags = app.get(&path, &ada.token).await.1["flags"].clone();
        if flags == json!(["rotation_due"]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(flags, json!(["rotation_due"]));
    assert!(app.get(&path, &ada.token).await.1["last_used_at"].is_string());
    let (s, st) = app
        .call(
            Method::PATCH,
            &settings,
            Some(&ada.token),
            Some(json!({"api_key_rotation_days": null})),
        )
        .await;
    assert_eq!(
        (s, st["api_key_rotation_days"].clone()),
        (StatusCode::OK, Value::Null)
    );
    let (s, e) = app
        .call(
            Method::PATCH,
            &settings,
            Some(&ada.token),
            Some(json!({"api_key_rotation_days": 0})),
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_rotation_period")
    );
    assert_eq!(
        wait_event(&app, &ada, "account.settings_changed").await["details"]["api_key_rotation_days"]
            ["to"],
        Value::Null
    );
});

async fn introspect(app: &TestApp, credential: Option<&str>, token: &str) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url("/api/v1/introspect"))
        .form(&[("token", token)]);
    if let Some(c) = credential {
        req = req.bearer_auth(c);
    }
    let res = req.send().await.unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_answers_for_keys_and_sessions() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, |c| {
            c.introspection_secret = Some(OPERATOR_SECRET.into())
        })
        .await
        else {
            continue;
        };
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let (key, v) = create_ok(
            &app,
            &ada,
            json!({"name": "Sync", "scopes": ["members:write"], "expires_in_days": 10}),
        )
        .await;
        let (s, e) = introspect(&app, None, &key).await;
        assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, "invalid_client"));
        let (s, e) = introspect(&app, Some("wrong"), &key).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
        let (s, i) = introspect(&app, Some(OPERATOR_SECRET), &key).await;
        assert_eq!(s, StatusCode::OK, "{i}");
        assert_eq!(i["active"], true);
        assert_eq!(i["token_type"], "api_key");
        assert_eq!(i["client_id"], v["id"]);
        assert_eq!(i["account_id"], ada.account.as_str());
        assert_eq!(i["scope"], "members:write");
        assert!(
            i["permissions"]
                .as_array()
                .unwrap()
                .contains(&json!("users:manage"))
        );
        assert!(i["exp"].as_i64().unwrap() > Millis::now().0 / 1000);
        let (_, i) = introspect(&app, Some(OPERATOR_SECRET), &ada.token).await;
        assert_eq!(
            (i["active"].as_bool(), i["token_type"].as_str()),
            (Some(true), Some("session"))
        );
        assert_eq!(i["sub"], ada.person.as_str());
        assert_eq!(i["accounts"][0]["account"]["id"], ada.account.as_str());
        app.delete(
            &format!("{}/{}", keys_path(&ada), v["id"].as_str().unwrap()),
            &ada.token,
        )
        .await;
        for t in [
            key.as_str(),
            "nonsense",
            &watchword_domain::api_key::generate("ww_"),
        ] {
            let (s, i) = introspect(&app, Some(OPERATOR_SECRET), t).await;
            assert_eq!((s, i), (StatusCode::OK, json!({"active": false})));
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_another_node_within_a_second() {
    // Nodes share PostgreSQL; SQLite is one node (its revoking node is covered above).
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let second = app.spawn_node().await;
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let (key, v) = create_ok(&app, &ada, json!({"name": "Sync"})).await;
    let on_second = || {
        app.client
            .get(format!("{}/api/v1/whoami", second.base))
            .bearer_auth(&key)
            .send()
    };
    // The second node has the key in its cache (TTL 60 s by default).
    assert_eq!(on_second().await.unwrap().status(), StatusCode::OK);
    assert_eq!(on_second().await.unwrap().status(), StatusCode::OK);
    let revoked_at = std::time::Instant::now();
    let (s, _) = app
        .delete(
            &format!("{}/{}", keys_path(&ada), v["id"].as_str().unwrap()),
            &ada.token,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    loop {
        if on_second().await.unwrap().status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_secs(1),
            "the second node still accepts the key a second after revocation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn sign(body: &[u8], secret: &str) -> String {
    // An independent HMAC implementation: Python's standard library.
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())",
            secret,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(body)?;
            c.wait_with_output()
        })
        .expect("python3 runs");
    format!("sha256={}", String::from_utf8(out.stdout).unwrap().trim())
}

async fn report(app: &TestApp, body: &Value, signature: &str) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let res = app
        .client
        .post(app.url("/api/v1/exposed-keys"))
        .header("content-type", "application/json")
        .header("x-watchword-signature", signature)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposed_keys_are_reported_to_the_contact_and_the_creator() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with_smtp_and(backend, |c| {
            c.exposure_report_secret = Some(PARTNER_SECRET.into())
        })
        .await
        else {
            continue;
        };
        let ada = app.signup("Acme", "Ada Owner", "ada@example.com").await; // Security Contact
        let admin = app
            .invite_and_accept(&ada, "admin@example.com", "admin")
            .await;
        let (key, v) = create_ok(&app, &admin, json!({"name": "Leaky"})).await;
        let id = v["id"].as_str().unwrap();
        let body = json!([
            {"token": key, "url": "https://github.com/acme/app/blob/main/.env", "source": "github"},
            {"token": watchword_domain::api_key::generate("ww_"), "url": "https://x", "source": "github"},
            {"token": "not a key", "url": "https://y", "source": "github"}
        ]);
        let (s, e) = report(
            &app,
            &body,
            &sign(&serde_json::to_vec(&body).unwrap(), "wrong-secret"),
        )
        .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::UNAUTHORIZED, "invalid_signature")
        );
        let (s, e) = report(&app, &body, "").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
        assert_eq!(count_events(&app, &ada, "api_key.exposed").await, 0);
        let (s, ack) = report(
            &app,
            &body,
            &sign(&serde_json::to_vec(&body).unwrap(), PARTNER_SECRET),
        )
        .await;
        assert_eq!((s, ack), (StatusCode::OK, json!({"received": 3})));
        for to in ["ada@example.com", "admin@example.com"] {
            let m = app.wait_for_email(to, "was exposed").await;
            assert!(
                m.text
                    .contains("https://github.com/acme/app/blob/main/.env"),
                "{}",
                m.text
            );
            assert!(
                m.text.contains(id) && m.text.contains("Rotate it now"),
                "{}",
                m.text
            );
            assert!(!m.text.contains(&key[3..]) && !m.html.contains(&key[3..]));
        }
        let e = wait_event(&app, &ada, "api_key.exposed").await;
        assert_eq!(
            (
                e["target_id"].as_str(),
                e["details"]["auto_revoked"].as_bool()
            ),
            (Some(id), Some(false))
        );
        assert_eq!(app.get("/api/v1/whoami", &key).await.0, StatusCode::OK);
        // With auto-revoke on, the next report ends the key at once.
        let settings = format!("/api/v1/accounts/{}/settings", ada.account);
        let (s, _) = app
            .call(
                Method::PATCH,
                &settings,
                Some(&ada.token),
                Some(json!({"api_key_auto_revoke_exposed": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let one =
            json!({"token": key, "url": "https://pastebin.example/abc", "source": "pastebin"});
        let (s, _) = report(
            &app,
            &one,
            &sign(&serde_json::to_vec(&one).unwrap(), PARTNER_SECRET),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (s, e) = app.get("/api/v1/whoami", &key).await;
        assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, "api_key_revoked"));
        app.wait_outbox_empty().await;
        let revoked_mails: Vec<_> = app
            .emails()
            .into_iter()
            .filter(|m| m.subject.contains("was exposed") && m.text.contains("no longer works"))
            .collect();
        assert_eq!(revoked_mails.len(), 2);
        // A revoked key is acknowledged alike and changes nothing more.
        let (s, ack) = report(
            &app,
            &one,
            &sign(&serde_json::to_vec(&one).unwrap(), PARTNER_SECRET),
        )
        .await;
        assert_eq!((s, ack), (StatusCode::OK, json!({"received": 1})));
        assert_eq!(count_events(&app, &ada, "api_key.exposed").await, 2);
        app.stop().await;
    }
}

both_backends!(
    concurrent_cold_verifications_each_get_their_own_key,
    |app: TestApp| async move {
        // Cache misses arriving together are read in batches; every caller must still get the
        // row of its own key (or a refusal for an unknown or revoked one).
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let mut keys = Vec::new();
        for i in 0..5 {
            let (secret, v) = create_ok(&app, &ada, json!({"name": format!("k{i}")})).await;
            keys.push((secret, Some(v["id"].as_str().unwrap().to_owned())));
        }
        let revoked = &keys[4].1.clone().unwrap();
        let (s, _) = app
            .call(
                Method::DELETE,
                &format!("{}/{revoked}", keys_path(&ada)),
                Some(&ada.token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        keys.push((watchword_domain::api_key::generate("ww_"), None));
        app.app().invalidate_caches();
        let tasks: Vec<_> = (0..150)
            .map(|i| {
                let (core, (secret, id)) = (app.app().clone(), keys[i % keys.len()].clone());
                tokio::spawn(async move {
                    let meta = watchword_app::Meta::new("127.0.0.1", "test");
                    (
                        core.verify_api_key(&secret, &meta)
                            .await
                            .map(|k| k.row.id.clone()),
                        id,
                    )
                })
            })
            .collect();
        for t in tasks {
            let (got, want) = t.await.unwrap();
            match (got, want) {
                (Ok(got), Some(want)) => {
                    assert_eq!(got, want);
                    assert_ne!(&want, revoked, "revoked key accepted");
                }
                (Err(watchword_app::AppError::ApiKey(why)), want) => {
                    let expected = if want.as_ref() == Some(revoked) {
                        watchword_app::api_keys::KeyRejected::Revoked
                    } else {
                        assert!(want.is_none(), "real key {want:?} refused: {why:?}");
                        watchword_app::api_keys::KeyRejected::Unknown
                    };
                    assert_eq!(why, expected);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
);
