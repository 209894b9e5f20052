//! API keys, on SQLite and PostgreSQL: shown once, scopes and accounts enforced, escalation
//! refused, step-up, clone and rotate with grace, revocation (also seen by a second node),
//! expiry, flags, introspection, and exposed-key reports with their emails over real SMTP.

pub(crate) mod exposure;
mod rotation;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_domain::Millis;
use watchword_testkit::{Backend, Login, TestApp, both_backends, code};

pub(crate) const PARTNER_SECRET: &str = "partner-secret-0123456789abcdef-0123";
const OPERATOR_SECRET: &str = "operator-secret-0123456789abcdef-0123";

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

async fn count_events(app: &TestApp, by: &Login, action: &str) -> usize {
    let v = app.audit_events(by, &format!("action={action}")).await;
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
            app.wait_event(&ada, "api_key.created").await["target_id"],
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
        let (s, who) = app.whoami(&key).await;
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
        let (s, e) = app.whoami(&fake).await;
        assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, "invalid_api_key"));
        let mut broken = key.clone();
        broken.replace_range(10..11, if &key[10..11] == "a" { "b" } else { "a" });
        // A broken checksum is not a key at all (and no session either).
        let (s, e) = app.whoami(&broken).await;
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
        let log = app.audit_events(&ada, "action=api_key.denied").await;
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
        let v = app.audit_events(by, "action=api_key.denied").await;
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
