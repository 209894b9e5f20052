//! Completes the generated OpenAPI document with what the per-operation attributes do not say
//! once for all: the security schemes and which ones each operation takes, the error answers
//! every operation can give, and whoami's two shapes.

use serde_json::{Value, json};

/// Operations that need no credential.
const PUBLIC: &[(&str, &str)] = &[
    ("post", "/api/v1/signup"),
    ("post", "/api/v1/signup/confirm"),
    ("post", "/api/v1/login"),
    ("post", "/api/v1/login/mfa"),
    ("post", "/api/v1/login/mfa/sms"),
    ("post", "/api/v1/login/mfa/passkey-options"),
    ("post", "/api/v1/login/passkey"),
    ("post", "/api/v1/login/passkey/options"),
    ("post", "/api/v1/password-reset"),
    ("post", "/api/v1/password-reset/confirm"),
    ("post", "/api/v1/me/email/confirm"),
    ("post", "/api/v1/sso/start"),
    ("get", "/healthz"),
    ("get", "/readyz"),
];

/// Operations an API key may call (besides a person's session).
const KEY_CALLABLE: &[(&str, &str)] = &[
    ("get", "/api/v1/whoami"),
    ("get", "/api/v1/accounts/{account_id}/members"),
    ("get", "/api/v1/accounts/{account_id}/invitations"),
    ("get", "/api/v1/accounts/{account_id}/roles"),
    ("get", "/api/v1/accounts/{account_id}/audit-events"),
    ("get", "/api/v1/accounts/{account_id}/api-keys"),
    ("get", "/api/v1/accounts/{account_id}/api-keys/{key_id}"),
    ("delete", "/api/v1/accounts/{account_id}/api-keys/{key_id}"),
    ("get", "/api/v1/accounts/{account_id}/settings"),
];

/// Request fields the server refuses when empty: documented with `minLength: 1`.
const NON_EMPTY: &[&str] = &[
    "email",
    "password",
    "name",
    "account_name",
    "token",
    "code",
    "challenge_id",
    "new_password",
    "current_password",
    "role",
    "method",
    "ceremony_id",
    "phone",
    "preset",
];

pub fn finish(doc: &mut Value) {
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for schema in schemas.values_mut() {
            // (`get_mut`: indexing a missing key would insert a null.)
            let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
                continue;
            };
            for (name, prop) in props.iter_mut() {
                let is_string = prop["type"] == "string"
                    || prop["type"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t == "string"));
                if NON_EMPTY.contains(&name.as_str())
                    && is_string
                    && prop.get("minLength").is_none()
                {
                    prop["minLength"] = json!(1);
                }
            }
        }
    }
    doc["components"]["securitySchemes"] = json!({
        "session": {"type": "http", "scheme": "bearer", "description": "A session token (`session_mode: token` at login)."},
        "cookie": {"type": "apiKey", "in": "cookie", "name": crate::extract::SESSION_COOKIE, "description": "A browser session (`session_mode: cookie`)."},
        "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token", "description": "With a cookie session, every change carries the session's CSRF token (`csrf_token` of login and whoami)."},
        "api_key": {"type": "http", "scheme": "bearer", "bearerFormat": "ww_…", "description": "An account's API key, within its scopes."},
        "introspection": {"type": "http", "scheme": "bearer", "description": "The operator's `introspection_secret`."},
        "operator": {"type": "http", "scheme": "bearer", "description": "The operator's `operator_secret`."},
        "exposure_signature": {"type": "apiKey", "in": "header", "name": "X-Watchword-Signature", "description": "`sha256=<hex HMAC-SHA256 of the body>` with `exposure_report_secret`."},
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let key = (method.as_str(), path.as_str());
            let person = if method == "get" {
                vec![json!({"session": []}), json!({"cookie": []})]
            } else {
                vec![json!({"session": []}), json!({"cookie": [], "csrf": []})]
            };
            let security = if PUBLIC.contains(&key) {
                vec![]
            } else if path == "/api/v1/introspect" {
                vec![json!({"introspection": []})]
            } else if path.starts_with("/api/v1/operator/") {
                vec![json!({"operator": []})]
            } else if path == "/api/v1/exposed-keys" {
                vec![json!({"exposure_signature": []})]
            } else if path == "/api/v1/invitations/accept" {
                // A new person needs none; an existing login accepts signed in.
                let mut s = vec![json!({})];
                s.extend(person);
                s
            } else if KEY_CALLABLE.contains(&key) {
                let mut s = vec![json!({"api_key": []})];
                s.extend(person);
                s
            } else {
                person
            };
            op["security"] = Value::Array(security);
            // Every operation may answer a 4xx error body (bad bytes, a refused body, a limit,
            // a missing credential); the operation's own entries name the usual ones.
            let has_body = op.get("requestBody").is_some();
            let responses = &mut op["responses"];
            let error = |description: &str| {
                json!({
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                })
            };
            if responses.get("4XX").is_none() {
                responses["4XX"] = error("An error: `{\"error\": {\"code\", \"message\"}}`");
            }
            if responses.get("400").is_none() {
                responses["400"] = error(
                    "`invalid_characters`: a control character in the path, query or form body",
                );
            }
            if has_body && responses.get("422").is_none() {
                responses["422"] = error(
                    "The body could not be read or breaks a rule (`invalid_body`, `invalid_characters`, a field's code)",
                );
            }
            // Every answer is described (OpenAPI requires it).
            if let Some(all) = responses.as_object_mut() {
                for (status, r) in all.iter_mut() {
                    if r.get("description").is_none() {
                        r["description"] = json!(describe(status));
                    }
                }
            }
        }
    }
    // The audit log's vocabulary, listed once in the domain.
    let actions: Vec<&str> = watchword_domain::audit::AuditAction::ALL
        .iter()
        .map(|a| a.as_str())
        .collect();
    if let Some(action) = doc
        .pointer_mut("/components/schemas/AuditEventDto/properties/action")
        .and_then(Value::as_object_mut)
    {
        action.insert("enum".into(), json!(actions));
    }
    // whoami answers a person's view or, for an API key, the key's.
    doc["paths"]["/api/v1/whoami"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = json!({
        "oneOf": [
            {"$ref": "#/components/schemas/WhoamiResponse"},
            {"$ref": "#/components/schemas/KeyWhoamiResponse"}
        ]
    });
}

/// A description for an answer whose operation gave none.
fn describe(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "Done; no body",
        "302" | "303" => "Redirect",
        s if s.starts_with('4') => "An error (`error.code` says which)",
        _ => "Answer",
    }
}
