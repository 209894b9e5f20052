//! OAuth 2.0 for integrations, on SQLite and PostgreSQL, driven by PyPI `authlib` (a client
//! nobody here wrote): an account's private apps, the client credentials grant with both client
//! authentication methods, access tokens on the API keys' hot path (scopes, introspection,
//! revocation), secret rotation, disabling and deleting an app, and the token endpoint's RFC 6749
//! errors.

use reqwest::StatusCode;
use serde_json::{Value, json};
use watchword_testkit::{Backend, Login, TestApp, code};

const OPERATOR_SECRET: &str = "operator-secret-0123456789abcdef-0123";

/// Runs `scripts/oauth/authlib_client.py` against `app` and returns the JSON it prints.
async fn authlib(
    app: &TestApp,
    client: &Value,
    secret: &str,
    method: &str,
    args: &[&str],
) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/oauth/authlib_client.py"
    );
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(app.url(""))
        .arg(client["client_id"].as_str().unwrap())
        .arg(secret)
        .arg(method)
        .args(args)
        .output()
        .await
        .expect("python3 runs (scripts/test installs authlib)");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|_| {
        panic!(
            "authlib printed {text:?}; stderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

async fn create_app(app: &TestApp, by: &Login, body: Value) -> (StatusCode, Value) {
    let path = format!("/api/v1/accounts/{}/oauth-apps", by.account);
    app.post(&path, &by.token, body).await
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let res = app
        .client
        .post(app.url("/api/v1/introspect"))
        .bearer_auth(OPERATOR_SECRET)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn members_with(app: &TestApp, by: &Login, token: &str) -> StatusCode {
    let path = format!("/api/v1/accounts/{}/members", by.account);
    app.get(&path, token).await.0
}

async fn spawn(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| {
        c.introspection_secret = Some(OPERATOR_SECRET.into())
    })
    .await
}

async fn client_credentials_through_authlib(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let (s, client) = create_app(
        &app,
        &ada,
        json!({"name": "Warehouse sync", "developer": "Acme data team", "scopes": ["members:read"]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{client}");
    let secret = client["client_secret"]
        .as_str()
        .expect("shown once")
        .to_owned();
    assert!(secret.starts_with("wwcs_"));
    let (_, listed) = app
        .get(
            &format!("/api/v1/accounts/{}/oauth-apps", ada.account),
            &ada.token,
        )
        .await;
    assert_eq!(listed[0]["client_secret"], Value::Null, "never shown again");
    // Both client authentication methods.
    for method in ["client_secret_basic", "client_secret_post"] {
        let t = authlib(&app, &client, &secret, method, &["token"]).await;
        assert_eq!(t["token_type"], "Bearer", "{method}: {t}");
        assert_eq!(t["expires_in"], 3600);
        assert_eq!(t["scope"], "members:read");
        assert!(t["access_token"].as_str().unwrap().starts_with("wwat_"));
    }
    let t = authlib(&app, &client, &secret, "client_secret_basic", &["token"]).await;
    let token = t["access_token"].as_str().unwrap().to_owned();
    // The token works like a key with the app's scopes, in its account only.
    assert_eq!(members_with(&app, &ada, &token).await, StatusCode::OK);
    let (s, e) = app
        .get(&format!("/api/v1/accounts/{}/roles", ada.account), &token)
        .await;
    assert_eq!((s, code(&e)), (StatusCode::FORBIDDEN, "insufficient_scope"));
    let i = introspect(&app, &token).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["token_type"], "access_token");
    assert_eq!(i["client_id"], client["client_id"]);
    assert_eq!(i["scope"], "members:read");
    assert!(i["exp"].as_i64().is_some());
    // Access tokens are not API keys in the account's key list.
    let (_, keys) = app
        .get(
            &format!("/api/v1/accounts/{}/api-keys", ada.account),
            &ada.token,
        )
        .await;
    assert_eq!(keys.as_array().map(Vec::len), Some(0), "{keys}");
    // More than the registration, or a wrong secret: refused, no token.
    let t = authlib(
        &app,
        &client,
        &secret,
        "client_secret_basic",
        &["token", "members:write"],
    )
    .await;
    assert_eq!(t["error"], "invalid_scope", "{t}");
    let t = authlib(
        &app,
        &client,
        "wwcs_wrong",
        "client_secret_basic",
        &["token"],
    )
    .await;
    assert_eq!(t["error"], "invalid_client", "{t}");
    // Revocation (RFC 7009): the token and its grant end; unknown tokens answer the same.
    let r = authlib(
        &app,
        &client,
        &secret,
        "client_secret_basic",
        &["revoke", &token],
    )
    .await;
    assert_eq!(r["status"], 200);
    assert_eq!(
        members_with(&app, &ada, &token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(introspect(&app, &token).await, json!({"active": false}));
    let r = authlib(
        &app,
        &client,
        &secret,
        "client_secret_post",
        &["revoke", "wwat_unknown"],
    )
    .await;
    assert_eq!(r["status"], 200);
    let revoked = app.wait_event(&ada, "oauth.revoked").await;
    assert_eq!(revoked["details"]["app"], client["client_id"]);
    // A new token comes under a new grant.
    let t = authlib(&app, &client, &secret, "client_secret_basic", &["token"]).await;
    let token = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(members_with(&app, &ada, &token).await, StatusCode::OK);
    // A rotation with no grace: the old secret stops, the new one works.
    let id = client["client_id"].as_str().unwrap();
    let (s, rotated) = app
        .post(
            &format!(
                "/api/v1/accounts/{}/oauth-apps/{id}/secret/rotate",
                ada.account
            ),
            &ada.token,
            json!({"grace_period_secs": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let new_secret = rotated["client_secret"].as_str().unwrap();
    let t = authlib(&app, &client, &secret, "client_secret_basic", &["token"]).await;
    assert_eq!(t["error"], "invalid_client");
    let t = authlib(&app, &client, new_secret, "client_secret_basic", &["token"]).await;
    assert!(t["access_token"].is_string(), "{t}");
    // Disabled: no token, and the ones it holds stop at once.
    let path = format!("/api/v1/accounts/{}/oauth-apps/{id}", ada.account);
    let (s, v) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&ada.token),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!((s, v["disabled"].as_bool()), (StatusCode::OK, Some(true)));
    assert_eq!(
        members_with(&app, &ada, &token).await,
        StatusCode::UNAUTHORIZED
    );
    let t = authlib(&app, &client, new_secret, "client_secret_basic", &["token"]).await;
    assert_eq!(t["error"], "unauthorized_client", "{t}");
    let denied = app.wait_event(&ada, "oauth.token_denied").await;
    assert_eq!(denied["details"]["reason"], "unauthorized_client");
    // Deleted: gone.
    let (s, _) = app
        .call(reqwest::Method::DELETE, &path, Some(&ada.token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let t = authlib(&app, &client, new_secret, "client_secret_basic", &["token"]).await;
    assert_eq!(t["error"], "invalid_client");
    for action in [
        "oauth.app_created",
        "oauth.app_secret_rotated",
        "oauth.app_updated",
        "oauth.app_deleted",
    ] {
        app.wait_event(&ada, action).await;
    }
}
watchword_testkit::on_both_backends!(oauth_client_credentials, client_credentials_through_authlib);

async fn token(
    app: &TestApp,
    auth: Option<(&str, &str)>,
    body: &str,
) -> (StatusCode, Value, String) {
    let mut req = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some((id, secret)) = auth {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let cache = res
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, res.json().await.unwrap_or(Value::Null), cache)
}

/// A token request (client credentials, body) and the status and error it gets.
type Case<'a> = (Option<(&'a str, &'a str)>, &'a str, StatusCode, &'a str);

/// RFC 6749 errors with the RFC's status codes and `no-store`; never a token on a failed check;
/// wrong secrets throttled per client (then even the right one is refused for a while).
async fn token_endpoint_errors(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let (_, client) = create_app(
        &app,
        &ada,
        json!({"name": "Sync", "scopes": ["members:read"]}),
    )
    .await;
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    let (_, public) = create_app(
        &app,
        &ada,
        json!({"name": "CLI", "scopes": ["members:read"], "kind": "public", "redirect_uris": ["http://127.0.0.1:8765/cb"]}),
    )
    .await;
    assert_eq!(public["client_secret"], Value::Null, "{public}");
    let ok = Some((id, secret));
    let cases: [Case; 7] = [
        (ok, "", StatusCode::BAD_REQUEST, "invalid_request"),
        (
            ok,
            "grant_type=password&username=a&password=b",
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            ok,
            "grant_type=client_credentials&grant_type=client_credentials",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            ok,
            "grant_type=client_credentials&scope=nonsense",
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            None,
            "grant_type=client_credentials",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some((public["client_id"].as_str().unwrap(), "x")),
            "grant_type=client_credentials",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            ok,
            &format!("grant_type=client_credentials&client_secret={secret}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (auth, body, status, error) in cases {
        let (s, v, cache) = token(&app, auth, body).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (status, Some(error)),
            "{body}: {v}"
        );
        assert!(v["error_description"].is_string() && v.get("access_token").is_none());
        assert_eq!(cache, "no-store");
    }
    let (s, v, _) = token(&app, ok, "grant_type=client_credentials").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Twenty wrong secrets, then the right one is refused too (throttled per client).
    for _ in 0..20 {
        let (s, _, _) = token(
            &app,
            Some((id, "wwcs_guess")),
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, v, _) = token(&app, ok, "grant_type=client_credentials").await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{v}"
    );
    // The metadata document names the endpoints and methods.
    let res = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    let meta: Value = res.json().await.unwrap();
    assert!(
        meta["token_endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/oauth/token")
    );
    assert_eq!(meta["grant_types_supported"], json!(["client_credentials"]));
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
}
watchword_testkit::on_both_backends!(oauth_token_errors, token_endpoint_errors);

/// Apps are managed by `api_keys:manage` holders, within their own permissions.
async fn apps_need_api_keys_manage(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let bob = app
        .invite_and_accept(&ada, "bob@example.com", "analyst")
        .await;
    let (s, v) = create_app(
        &app,
        &bob,
        json!({"name": "Mine", "scopes": ["members:read"]}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    for (body, expected) in [
        (
            json!({"name": "X", "scopes": ["nope:read"]}),
            "unknown_scope",
        ),
        (json!({"name": "X", "scopes": []}), "scopes_empty"),
        (
            json!({"name": "X", "scopes": ["members:read"], "redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"name": "X", "scopes": ["members:read"], "kind": "other"}),
            "invalid_kind",
        ),
    ] {
        let (s, v) = create_app(&app, &ada, body.clone()).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, expected),
            "{body}: {v}"
        );
    }
    let (_, list) = app
        .get(
            &format!("/api/v1/accounts/{}/oauth-apps", ada.account),
            &ada.token,
        )
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "nothing saved");
}
watchword_testkit::on_both_backends!(oauth_apps_access, apps_need_api_keys_manage);
