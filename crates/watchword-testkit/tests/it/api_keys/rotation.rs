//! Clone and rotate with a grace period, revocation, last use, flags for old and unused keys,
//! and concurrent cold verifications.

use super::*;

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
        assert_eq!(app.whoami(new_key).await.0, StatusCode::OK);
        assert_eq!(app.whoami(&old_key).await.0, StatusCode::OK);
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
        let e = app.wait_event(&ada, "api_key.rotated").await;
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
        let (s, e) = app.whoami(&k2).await;
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
            app.wait_event(&ada, "api_key.expired").await["target_id"],
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
        assert_eq!(app.whoami(&key).await.0, StatusCode::OK);
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
        let (s, e) = app.whoami(&key).await;
        assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, "api_key_revoked"));
        let e = app.wait_event(&ada, "api_key.revoked").await;
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
        assert_eq!(app.whoami(&key).await.0, StatusCode::OK);
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
    assert_eq!(app.whoami(&key).await.0, StatusCode::OK);
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
        app.wait_event(&ada, "account.settings_changed").await["details"]["api_key_rotation_days"]
            ["to"],
        Value::Null
    );
});

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
