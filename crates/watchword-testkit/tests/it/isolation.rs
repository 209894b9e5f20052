//! The tenant-isolation matrix, generated from the OpenAPI document on SQLite and PostgreSQL:
//! every operation whose path names an account, a member, a key, a factor or a session is called
//! with another account's Owner session and full API key, aimed at the victim's real ids. Each
//! answer must be 404 (403 when a key is not accepted there at all) and the victim's data must be
//! unchanged afterwards.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::{Login, TestApp, both_backends};

/// A body the operation's schema accepts in shape (required fields with plausible values), so
/// that the answer is decided by who may act, not by a malformed body.
fn body_for(doc: &Value, op: &Value) -> Option<Value> {
    let schema = op.pointer("/requestBody/content/application~1json/schema")?;
    let schema = resolve(doc, schema);
    let mut body = serde_json::Map::new();
    let required = schema["required"].as_array().cloned().unwrap_or_default();
    for name in required {
        let name = name.as_str().unwrap_or_default();
        let prop = resolve(doc, &schema["properties"][name]);
        let value = match (name, prop["type"].as_str()) {
            ("email", _) => json!("someone@example.com"),
            ("role", _) => json!("analyst"),
            ("preset", _) => json!("read_only"),
            ("name" | "note" | "reason", _) => json!("Probe"),
            ("permissions", _) => json!(["users:read"]),
            ("scopes", _) => json!(["audit_log:read"]),
            (_, Some("boolean")) => json!(false),
            (_, Some("integer" | "number")) => json!(1),
            (_, Some("array")) => json!([]),
            (_, Some("object")) => json!({}),
            _ if prop["format"] == "uuid" => json!(uuid::Uuid::now_v7()),
            _ => json!("probe"),
        };
        body.insert(name.to_owned(), value);
    }
    Some(Value::Object(body))
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => doc.pointer(&r.replacen("#", "", 1)).unwrap_or(&Value::Null),
        None => schema,
    }
}

/// What the victim holds: compared before and after the matrix.
async fn snapshot(app: &TestApp, victim: &Login) -> Value {
    let acct = &victim.account;
    let mut out = serde_json::Map::new();
    for path in [
        format!("/api/v1/accounts/{acct}"),
        format!("/api/v1/accounts/{acct}/members"),
        format!("/api/v1/accounts/{acct}/invitations"),
        format!("/api/v1/accounts/{acct}/roles"),
        format!("/api/v1/accounts/{acct}/api-keys"),
        format!("/api/v1/accounts/{acct}/settings"),
        format!("/api/v1/accounts/{acct}/security-contact"),
        format!("/api/v1/accounts/{acct}/access-review"),
        "/api/v1/me/mfa".to_owned(),
        "/api/v1/me/sessions".to_owned(),
    ] {
        let (s, mut v) = app.get(&path, &victim.token).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        strip_volatile(&mut v);
        out.insert(path, v);
    }
    let (_, audit) = app
        .get(
            &format!("/api/v1/accounts/{acct}/audit-events?limit=500"),
            &victim.token,
        )
        .await;
    // Reading the audit log is itself not audited; its size must not move.
    out.insert(
        "audit_events".into(),
        json!(audit["events"].as_array().map(|a| a.len())),
    );
    Value::Object(out)
}

/// Fields that change by the victim's own reads (last use, last seen, a CSRF token).
fn strip_volatile(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for k in [
                "last_seen_at",
                "last_used_at",
                "last_used_ip",
                "due",
                "csrf_token",
            ] {
                o.remove(k);
            }
            o.values_mut().for_each(strip_volatile);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

both_backends!(
    another_accounts_session_and_key_reach_nothing,
    |app: TestApp| async move {
        let victim = app
            .signup("Victim", "Vera Victim", "vera@example.com")
            .await;
        let member = app
            .invite_and_accept(&victim, "max@example.com", "admin")
            .await;
        let (s, key) = app
            .post(
                &format!("/api/v1/accounts/{}/api-keys", victim.account),
                &victim.token,
                json!({"name": "Victim key", "preset": "full"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{key}");
        let (s, factor) = app
            .post(
                "/api/v1/me/mfa/totp",
                &victim.token,
                json!({"name": "Phone"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{factor}");
        let (_, sessions) = app.get("/api/v1/me/sessions", &victim.token).await;
        let ids = [
            ("account_id", victim.account.clone()),
            ("member_id", member.membership.clone()),
            ("key_id", key["id"].as_str().unwrap().to_owned()),
            (
                "factor_id",
                factor["factor_id"].as_str().unwrap().to_owned(),
            ),
            ("session_id", sessions[0]["id"].as_str().unwrap().to_owned()),
        ];

        let eve = app.signup("Evil", "Eve Example", "eve@example.com").await;
        let (s, eve_key) = app
            .post(
                &format!("/api/v1/accounts/{}/api-keys", eve.account),
                &eve.token,
                json!({"name": "Eve key", "preset": "full"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let eve_key = eve_key["secret"].as_str().unwrap().to_owned();

        let before = snapshot(&app, &victim).await;
        let (_, doc) = app.call(Method::GET, "/api/openapi.json", None, None).await;
        let mut probed = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !ids
                .iter()
                .any(|(name, _)| path.contains(&format!("{{{name}}}")))
            {
                continue;
            }
            for (method, op) in item.as_object().unwrap() {
                let mut url = path.clone();
                for (name, id) in &ids {
                    url = url.replace(&format!("{{{name}}}"), id);
                }
                let body = body_for(&doc, op);
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                for (who, token) in [
                    ("Eve's session", eve.token.as_str()),
                    ("Eve's key", eve_key.as_str()),
                ] {
                    let (s, v) = app
                        .call(method.clone(), &url, Some(token), body.clone())
                        .await;
                    let refused = s == StatusCode::NOT_FOUND
                        // The operator's API takes the operator's secret, nobody's session.
                        || (path.starts_with("/api/v1/operator/") && s == StatusCode::UNAUTHORIZED)
                        || (who == "Eve's key"
                            && s == StatusCode::FORBIDDEN
                            && v["error"]["code"] == "insufficient_scope");
                    assert!(refused, "{method} {url} with {who}: {s} {v}");
                    probed += 1;
                }
            }
        }
        assert!(probed >= 50, "the matrix covered only {probed} calls");
        let after = snapshot(&app, &victim).await;
        assert_eq!(before, after, "the victim's data changed");
    }
);
