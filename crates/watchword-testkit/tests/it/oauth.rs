//! OAuth 2.0 for integrations, on SQLite and PostgreSQL, driven by PyPI `authlib` and npm
//! `openid-client` (clients nobody here wrote) and Chromium: an account's private apps, the client credentials grant with both client
//! authentication methods, access tokens on the API keys' hot path (scopes, introspection,
//! revocation), secret rotation, disabling and deleting an app, and the token endpoint's RFC 6749
//! errors.

use reqwest::StatusCode;
use serde_json::{Value, json};
use watchword_testkit::{Backend, Login, TestApp, code};

const OPERATOR_SECRET: &str = "operator-secret-0123456789abcdef-0123";

/// Runs `scripts/oauth/authlib_client.py` (PyPI authlib) against `app`: the JSON it prints.
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
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(script).arg(app.url(""));
    cmd.arg(client["client_id"].as_str().unwrap());
    cmd.arg(secret).arg(method).args(args);
    peer(cmd).await
}

/// Runs `scripts/sso/oauth-client.mjs` (npm openid-client) against `app`: the JSON it prints.
async fn openid_client(app: &TestApp, client: &Value, secret: &str, args: &[&str]) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/sso/oauth-client.mjs"
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script).arg(app.url(""));
    cmd.arg(client["client_id"].as_str().unwrap());
    cmd.arg(secret).args(args);
    peer(cmd).await
}

/// Runs a client nobody here wrote and reads the one JSON line it prints.
async fn peer(mut cmd: tokio::process::Command) -> Value {
    let out = cmd
        .output()
        .await
        .expect("the client runs (scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|_| {
        panic!(
            "the client printed {text:?}; stderr {}",
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

/// An access token is sealed, not stored: what is not sealed by this deployment's keyring for a
/// live grant, or has expired, is refused like an unknown key.
async fn forged_tokens_are_refused(app: &TestApp, ada: &Login) {
    use watchword_domain::oauth::{AccessClaims, mint_access};
    use watchword_domain::sealed::Keyring;
    let path = format!("/api/v1/accounts/{}/authorized-apps", ada.account);
    let (_, list) = app.get(&path, &ada.token).await;
    let grant = list[0]["id"].as_str().unwrap().to_owned();
    let now = u32::try_from(app.app().now().0 / 1000).unwrap();
    let claims = |grant: &str, expires_at| AccessClaims {
        grant_id: grant.to_owned(),
        scopes: watchword_domain::scope::ScopeSet::parse_all(["members:read"]).unwrap(),
        expires_at,
    };
    let ring = &app.app().settings().mfa_keyring;
    let good = mint_access(ring, &claims(&grant, now + 60)).unwrap();
    assert_eq!(members_with(app, ada, &good).await, StatusCode::OK);
    let other_ring = Keyring::parse(&Keyring::new_entry("k1")).unwrap();
    let other_grant = format!("grant_{}", uuid::Uuid::now_v7().simple());
    for (why, forged) in [
        ("expired", mint_access(ring, &claims(&grant, now - 1))),
        (
            "another keyring",
            mint_access(&other_ring, &claims(&grant, now + 60)),
        ),
        (
            "no such grant",
            mint_access(ring, &claims(&other_grant, now + 60)),
        ),
    ] {
        let forged = forged.unwrap();
        assert_eq!(
            members_with(app, ada, &forged).await,
            StatusCode::UNAUTHORIZED,
            "{why}"
        );
        assert_eq!(introspect(app, &forged).await["active"], false, "{why}");
    }
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
    forged_tokens_are_refused(&app, &ada).await;
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
    assert_eq!(
        meta["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
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

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// The member's consent in their browser session: the consent page read, Allow (or Deny)
/// posted, and the URL the page then sends the browser to (the client's redirect URI).
async fn consent(app: &TestApp, cookie: &str, url: &str, decision: &str) -> String {
    let page = app
        .client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Authorize"), "{html}");
    let mut form: Vec<(String, String)> = html
        .split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|s| {
            let name = s.split("name=\"").nth(1)?.split('"').next()?;
            let value = s.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_owned(), unescape(value)))
        })
        .collect();
    let account = html
        .split("name=\"account_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an account to choose")
        .to_owned();
    form.push(("account_id".into(), account));
    form.push(("decision".into(), decision.into()));
    let res = app
        .client
        .post(app.url("/oauth/authorize"))
        .header("cookie", cookie)
        .header("origin", app.url(""))
        .form(&form)
        .send()
        .await
        .unwrap();
    let html = res.text().await.unwrap();
    let href = html
        .split("id=\"idp-link\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("a way back to the client: {html}"));
    unescape(href)
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
}

fn query(url: &str, key: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// One client of the code flow, driven by authlib, and a member's browser session.
struct Flow<'a> {
    app: &'a TestApp,
    client: &'a Value,
    secret: &'a str,
    method: &'a str,
    cookie: &'a str,
}

impl Flow<'_> {
    async fn run(&self, args: &[&str]) -> Value {
        authlib(self.app, self.client, self.secret, self.method, args).await
    }

    /// An authorization request for `scope` and the member's decision: the request (its
    /// `url`, `state`, `verifier`) and where the browser went back to.
    async fn consented(&self, scope: &str, decision: &str) -> (Value, String) {
        let auth = self.run(&["authorize", REDIRECT, scope]).await;
        let url = auth["url"].as_str().unwrap().to_owned();
        let back = consent(self.app, self.cookie, &url, decision).await;
        (auth, back)
    }

    /// The code in `back` exchanged with `verifier` (authlib checks the state).
    async fn exchange(&self, auth: &Value, back: &str, verifier: &str) -> Value {
        let state = auth["state"].as_str().unwrap();
        self.run(&["exchange", REDIRECT, state, verifier, back])
            .await
    }

    /// Consent, then the code exchanged: the token response.
    async fn tokens(&self, scope: &str) -> Value {
        let (auth, back) = self.consented(scope, "allow").await;
        let verifier = auth["verifier"].as_str().unwrap().to_owned();
        self.exchange(&auth, &back, &verifier).await
    }
}

/// Authorization code with PKCE through authlib and the consent page, refresh tokens that
/// rotate (a retry gets the same pair, a later reuse revokes the grant and alerts), a code used
/// twice ends what it gave, and a denial goes back as `access_denied`.
async fn code_flow_with_consent_and_rotating_refresh_tokens(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let grace = app
        .invite_and_accept(&ada, "grace@example.com", "admin")
        .await;
    let (s, v) = app.put_security_contact(&ada, &grace.membership).await;
    assert!(s.is_success(), "{v}");
    let (_, client) = create_app(
        &app,
        &ada,
        json!({"name": "BI tool", "developer": "Charts Inc.", "redirect_uris": [REDIRECT],
               "scopes": ["members:read", "members:write"]}),
    )
    .await;
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let cookie = watchword_testkit::first_cookie(&app.cookie_login("ada@example.com").await)
        .expect("a session cookie");
    let flow = Flow {
        app: &app,
        client: &client,
        secret: &secret,
        method: "client_secret_basic",
        cookie: &cookie,
    };
    let (auth, back) = flow.consented("members:read members:write", "allow").await;
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query(&back, "state").as_deref(), auth["state"].as_str());
    assert!(query(&back, "iss").is_some());
    let verifier = auth["verifier"].as_str().unwrap();
    let t = flow.exchange(&auth, &back, verifier).await;
    let access = t["access_token"].as_str().unwrap_or_else(|| panic!("{t}"));
    assert!(t["refresh_token"].as_str().unwrap().starts_with("wwrt_"));
    assert_eq!(members_with(&app, &ada, access).await, StatusCode::OK);
    let authorized = app.wait_event(&ada, "oauth.authorized").await;
    // Write includes read: the scope set names members:write alone.
    assert_eq!(authorized["details"]["scopes"], json!(["members:write"]));
    // members:write is administrative: the Security Contact (Grace) is told.
    app.wait_for_email("grace@example.com", "administrative access")
        .await;
    // The code again: refused, and what it gave is revoked.
    let code = query(&back, "code").unwrap();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}&code_verifier={verifier}"
    );
    let id = client["client_id"].as_str().unwrap();
    let (s, v, _) = token(&app, Some((id, &secret)), &body).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{v}"
    );
    assert_eq!(
        members_with(&app, &ada, access).await,
        StatusCode::UNAUTHORIZED
    );
    // A new consent, then a refresh rotates the pair.
    let t = flow.tokens("members:read").await;
    let refresh = t["refresh_token"].as_str().unwrap_or_else(|| panic!("{t}"));
    let next = flow.run(&["refresh", refresh]).await;
    let next_refresh = next["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{next}"));
    assert_ne!(next_refresh, refresh);
    assert_eq!(next["scope"], "members:read");
    // A retry within seconds gets the same pair, not a second chain.
    let retry = flow.run(&["refresh", refresh]).await;
    assert_eq!(retry["refresh_token"], next["refresh_token"]);
    assert_eq!(retry["access_token"], next["access_token"]);
    // Later, the old token again: a reuse. The whole grant ends; audited and alerted.
    app.advance_clock(30);
    let reused = flow.run(&["refresh", refresh]).await;
    assert_eq!(reused["error"], "invalid_grant", "{reused}");
    let newest = next["access_token"].as_str().unwrap();
    assert_eq!(
        members_with(&app, &ada, newest).await,
        StatusCode::UNAUTHORIZED
    );
    let after = flow.run(&["refresh", next_refresh]).await;
    assert_eq!(after["error"], "invalid_grant");
    app.wait_event(&ada, "oauth.refresh_token_reused").await;
    app.wait_for_email("grace@example.com", "used twice").await;
    // A disabled app's refresh tokens give nothing.
    let t = flow.tokens("members:read").await;
    let live = t["refresh_token"].as_str().unwrap_or_else(|| panic!("{t}"));
    let path = format!("/api/v1/accounts/{}/oauth-apps/{id}", ada.account);
    let disable = json!({"disabled": true});
    app.call(
        reqwest::Method::PATCH,
        &path,
        Some(&ada.token),
        Some(disable),
    )
    .await;
    let refused = flow.run(&["refresh", live]).await;
    assert_eq!(refused["error"], "unauthorized_client", "{refused}");
    let enable = json!({"disabled": false});
    app.call(
        reqwest::Method::PATCH,
        &path,
        Some(&ada.token),
        Some(enable),
    )
    .await;
    // Revoking the refresh token (RFC 7009) ends the grant: its access token stops too.
    let t = flow.tokens("members:read").await;
    let (access, refresh) = (
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(members_with(&app, &ada, access).await, StatusCode::OK);
    assert_eq!(flow.run(&["revoke", refresh]).await["status"], 200);
    assert_eq!(
        members_with(&app, &ada, access).await,
        StatusCode::UNAUTHORIZED
    );
    let after = flow.run(&["refresh", refresh]).await;
    assert_eq!(after["error"], "invalid_grant", "{after}");
    // Deny: back to the client with access_denied and its state.
    let (auth, back) = flow.consented("members:read", "deny").await;
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&back, "state").as_deref(), auth["state"].as_str());
}
watchword_testkit::on_both_backends!(
    oauth_code_flow,
    code_flow_with_consent_and_rotating_refresh_tokens
);

/// A grant and an app act within their maker's current permissions: an Admin's consent to
/// `members:write` refreshes to `members:read` once they are a Manager and to nothing once an
/// Analyst; their app's client credentials stop when they are removed, and their grant is
/// revoked.
async fn grants_follow_the_member_who_gave_them(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let grace = app
        .invite_and_accept(&ada, "grace@example.com", "admin")
        .await;
    let (s, client) = create_app(
        &app,
        &grace,
        json!({"name": "BI tool", "developer": "Charts Inc.", "redirect_uris": [REDIRECT],
               "scopes": ["members:read", "members:write"]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{client}");
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let id = client["client_id"].as_str().unwrap().to_owned();
    let cookie = watchword_testkit::first_cookie(&app.cookie_login("grace@example.com").await)
        .expect("a session cookie");
    let flow = Flow {
        app: &app,
        client: &client,
        secret: &secret,
        method: "client_secret_basic",
        cookie: &cookie,
    };
    let t = flow.tokens("members:write").await;
    let refresh = t["refresh_token"].as_str().unwrap_or_else(|| panic!("{t}"));
    let machine = |scope: &str| format!("grant_type=client_credentials&scope={scope}");
    let (s, v, _) = token(&app, Some((&id, &secret)), &machine("members:write")).await;
    assert_eq!(
        (s, v["scope"].as_str()),
        (StatusCode::OK, Some("members:write")),
        "{v}"
    );
    // A Manager reads members but does not manage them: so do her grant and her app.
    app.set_role(&ada, &grace.membership, "manager").await;
    let next = flow.run(&["refresh", refresh]).await;
    assert_eq!(next["scope"], "members:read", "{next}");
    let access = next["access_token"].as_str().unwrap();
    assert_eq!(members_with(&app, &ada, access).await, StatusCode::OK);
    let (s, v, _) = token(&app, Some((&id, &secret)), &machine("members:write")).await;
    assert_eq!(
        (s, v["scope"].as_str()),
        (StatusCode::OK, Some("members:read")),
        "{v}"
    );
    // An Analyst holds none of it: the access token reaches nothing, the refresh gives nothing.
    app.set_role(&ada, &grace.membership, "analyst").await;
    assert_eq!(
        members_with(&app, &ada, access).await,
        StatusCode::FORBIDDEN
    );
    let refresh = next["refresh_token"].as_str().unwrap();
    let refused = flow.run(&["refresh", refresh]).await;
    assert_eq!(refused["error"], "invalid_grant", "{refused}");
    // Removed: the grant is revoked, the app's own tokens stop.
    app.set_role(&ada, &grace.membership, "admin").await;
    let (s, v) = app.remove_member(&ada, &grace.membership).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let after = flow.run(&["refresh", refresh]).await;
    assert_eq!(after["error"], "invalid_grant", "{after}");
    let (s, v, _) = token(&app, Some((&id, &secret)), &machine("members:read")).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client")),
        "{v}"
    );
    let stopped = app
        .audit_events(&ada, "action=member.credentials_stopped")
        .await;
    let targets: Vec<&str> = stopped["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["target_kind"].as_str())
        .collect();
    assert!(
        targets.contains(&"oauth_grant") && targets.contains(&"oauth_app"),
        "{stopped}"
    );
}
watchword_testkit::on_both_backends!(oauth_maker, grants_follow_the_member_who_gave_them);

/// Before the client and its redirect URI are trusted, errors are shown, never redirected;
/// after, they go back to the client. PKCE S256 is required (plain refused); a public client
/// uses PKCE alone.
async fn authorization_request_checks(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let (_, client) = create_app(
        &app,
        &ada,
        json!({"name": "CLI", "kind": "public", "redirect_uris": [REDIRECT], "scopes": ["members:read"]}),
    )
    .await;
    let id = client["client_id"].as_str().unwrap();
    let cookie =
        watchword_testkit::first_cookie(&app.cookie_login("ada@example.com").await).unwrap();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let get = |q: String| {
        let req = app
            .client
            .get(app.url(&format!("/oauth/authorize?{q}")))
            .header("cookie", cookie.clone());
        async move { req.send().await.unwrap() }
    };
    let base = format!("response_type=code&client_id={id}&state=s1&code_challenge={challenge}");
    // Not the app's redirect URI, or an unknown client: shown here.
    for q in [
        format!("{base}&code_challenge_method=S256&redirect_uri=http://127.0.0.1:9/evil"),
        format!("response_type=code&client_id=app_unknown&redirect_uri={REDIRECT}"),
    ] {
        let res = get(q).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.headers().get("location").is_none());
    }
    // plain PKCE, or none: back to the client with invalid_request.
    for q in [
        format!("{base}&code_challenge_method=plain"),
        format!("response_type=code&client_id={id}&state=s1"),
    ] {
        let res = get(q).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(to.starts_with(REDIRECT), "{to}");
        assert_eq!(query(&to, "error").as_deref(), Some("invalid_request"));
        assert_eq!(query(&to, "state").as_deref(), Some("s1"));
    }
    // A public client: consent, then the code with the verifier and no secret.
    let flow = Flow {
        app: &app,
        client: &client,
        secret: "",
        method: "none",
        cookie: &cookie,
    };
    let t = flow.tokens("members:read").await;
    let access = t["access_token"].as_str().unwrap_or_else(|| panic!("{t}"));
    assert_eq!(members_with(&app, &ada, access).await, StatusCode::OK);
    // It revokes its own access token by its client id alone (RFC 7009 for public clients).
    assert_eq!(flow.run(&["revoke", access]).await["status"], 200);
    assert_eq!(
        members_with(&app, &ada, access).await,
        StatusCode::UNAUTHORIZED
    );
    // A wrong verifier is refused.
    let (auth, back) = flow.consented("members:read", "allow").await;
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let t = flow.exchange(&auth, &back, wrong).await;
    assert_eq!(t["error"], "invalid_grant", "{t}");
}
watchword_testkit::on_both_backends!(oauth_authorize_checks, authorization_request_checks);

/// The account sees every installed app (scopes, installer, last use) and revokes one: its
/// tokens stop at once.
async fn the_account_sees_and_revokes_integrations(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let (_, client) = create_app(
        &app,
        &ada,
        json!({"name": "BI tool", "redirect_uris": [REDIRECT], "scopes": ["members:read"]}),
    )
    .await;
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let cookie =
        watchword_testkit::first_cookie(&app.cookie_login("ada@example.com").await).unwrap();
    let flow = Flow {
        app: &app,
        client: &client,
        secret: &secret,
        method: "client_secret_post",
        cookie: &cookie,
    };
    let t = flow.tokens("members:read").await;
    let access = t["access_token"].as_str().unwrap_or_else(|| panic!("{t}"));
    let machine = flow.run(&["token"]).await;
    assert!(machine["access_token"].is_string(), "{machine}");
    assert_eq!(members_with(&app, &ada, access).await, StatusCode::OK);
    app.app().flush_key_uses().await;
    let path = format!("/api/v1/accounts/{}/authorized-apps", ada.account);
    let (s, list) = app.get(&path, &ada.token).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    let by_ada = list
        .iter()
        .find(|g| g["installed_by"] == "ada@example.com")
        .expect("Ada's install");
    assert_eq!(by_ada["scopes"], json!(["members:read"]));
    assert_eq!(by_ada["name"], "BI tool");
    assert!(by_ada["last_used_at"].is_string(), "{by_ada}");
    assert!(
        list.iter().any(|g| g["installed_by"].is_null()),
        "the client credentials grant"
    );
    // The console's Integrations page shows both, and the API keys page points to it.
    for (page, expected) in [
        ("integrations", "the account's own client"),
        ("integrations", "by ada@example.com"),
        ("api-keys", "prefer it: see"),
    ] {
        let res = app
            .client
            .get(app.url(&format!("/accounts/{}/{page}", ada.account)))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains(expected), "{page}: {expected}");
    }
    // Revoke Ada's install: its token stops, the other grant stays.
    let grant = by_ada["id"].as_str().unwrap();
    let (s, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("{path}/{grant}"),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        members_with(&app, &ada, access).await,
        StatusCode::UNAUTHORIZED
    );
    let other = machine["access_token"].as_str().unwrap();
    assert_eq!(members_with(&app, &ada, other).await, StatusCode::OK);
    let (_, list) = app.get(&path, &ada.token).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let revoked = app.wait_event(&ada, "oauth.revoked").await;
    assert_eq!(revoked["details"]["by"], "account");
}
watchword_testkit::on_both_backends!(
    oauth_installed_apps,
    the_account_sees_and_revokes_integrations
);

/// Registers the catalogue app "Charts" (redirect URI `REDIRECT`, `members:read`, and `more`
/// options) with `watchword apps create`: its client id and secret as printed.
fn catalogue_app(app: &TestApp, more: &[&str]) -> (String, String) {
    let mut args = vec![
        "apps",
        "create",
        "--name",
        "Charts",
        "--redirect-uri",
        REDIRECT,
    ];
    args.extend(["--scope", "members:read"]);
    args.extend(more);
    let (ok, out, err) = crate::operator_cli::run(app, &args);
    assert!(ok, "{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {out}"))
            .to_owned()
    };
    (field("client_id"), field("client_secret"))
}

/// The operator's catalogue (`watchword apps`): an app any account may install through the
/// consent page, never by client credentials; disabled, its tokens stop everywhere.
async fn the_operator_catalogue(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let run = |args: &[&str]| crate::operator_cli::run(&app, args);
    let (id, secret) = catalogue_app(&app, &["--developer", "Charts Inc."]);
    let client = json!({"client_id": id});

    let (ok, listed, _) = run(&["apps", "list", "--json"]);
    assert!(ok);
    let line: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(
        (line["name"].as_str(), line["disabled"].as_bool()),
        (Some("Charts"), Some(false))
    );
    let cookie =
        watchword_testkit::first_cookie(&app.cookie_login("ada@example.com").await).unwrap();
    let flow = Flow {
        app: &app,
        client: &client,
        secret: &secret,
        method: "client_secret_basic",
        cookie: &cookie,
    };
    let t = flow.tokens("members:read").await;
    let access = t["access_token"].as_str().unwrap_or_else(|| panic!("{t}"));
    assert_eq!(members_with(&app, &ada, access).await, StatusCode::OK);
    let t = flow.run(&["token"]).await;
    assert_eq!(t["error"], "unauthorized_client", "{t}");
    let (ok, out, err) = run(&["apps", "disable", client["client_id"].as_str().unwrap()]);
    assert!(ok && out.contains("disabled"), "{out}{err}");
    // PostgreSQL servers hear of it by NOTIFY, delivered asynchronously (waited for here, at
    // most five seconds); a SQLite server, from another process, within api_key_cache_ttl_ms:
    // here its cache is dropped by hand.
    if backend == Backend::Sqlite {
        app.app().invalidate_caches();
    }
    let mut status = members_with(&app, &ada, access).await;
    for _ in 0..50 {
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status = members_with(&app, &ada, access).await;
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
watchword_testkit::on_both_backends!(oauth_catalogue, the_operator_catalogue);

/// The consent page clicked in Chromium: Allow sends the browser back to the app with a code,
/// which the app exchanges with its PKCE verifier.
async fn consent_in_chromium(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let (id, secret) = catalogue_app(&app, &[]);
    let b = watchword_testkit::browser::Browser::start().await;
    b.sign_up_ada(&app).await;
    // RFC 7636's example verifier and challenge.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let url = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={id}&redirect_uri={REDIRECT}\
         &scope=members:read&state=st4te&code_challenge={challenge}&code_challenge_method=S256"
    ));
    b.goto(&url).await;
    let text = b.text().await;
    assert!(
        text.contains("Authorize Charts") && text.contains("See the account's members"),
        "{text}"
    );
    b.click("#allow").await;
    let mut at = String::new();
    for _ in 0..200 {
        at = b.client.current_url().await.unwrap().to_string();
        if at.starts_with(REDIRECT) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(at.starts_with(REDIRECT), "back at the app, not {at}");
    assert_eq!(query(&at, "state").as_deref(), Some("st4te"));
    let code = query(&at, "code").expect("a code");
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}&code_verifier={verifier}"
    );
    let (s, t, _) = token(&app, Some((&id, &secret)), &body).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (s, who) = app
        .get("/api/v1/whoami", t["access_token"].as_str().unwrap())
        .await;
    assert_eq!(s, StatusCode::OK, "{who}");
    b.close().await;
}
watchword_testkit::on_both_backends!(oauth_consent_in_chromium, consent_in_chromium);

/// npm openid-client, from the RFC 8414 document: code + PKCE (with RFC 9207 `iss`), refresh,
/// client credentials, introspection by the app's own client, revocation.
async fn openid_client_end_to_end(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let body = json!({"name": "Sync", "redirect_uris": [REDIRECT], "scopes": ["members:read"]});
    let (_, client) = create_app(&app, &ada, body.clone()).await;
    let (_, other) = create_app(
        &app,
        &ada,
        json!({"name": "Other", "scopes": ["members:read"]}),
    )
    .await;
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let cookie =
        watchword_testkit::first_cookie(&app.cookie_login("ada@example.com").await).unwrap();
    let run = |args: Vec<String>| {
        let (app, client, secret) = (&app, &client, &secret);
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            openid_client(app, client, secret, &args).await
        }
    };
    let auth = run(vec![
        "authorize".into(),
        REDIRECT.into(),
        "members:read".into(),
    ])
    .await;
    let back = consent(&app, &cookie, auth["url"].as_str().unwrap(), "allow").await;
    let (state, verifier) = (
        auth["state"].as_str().unwrap(),
        auth["verifier"].as_str().unwrap(),
    );
    let t = run(vec![
        "exchange".into(),
        REDIRECT.into(),
        state.into(),
        verifier.into(),
        back,
    ])
    .await;
    let access = t["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{t}"))
        .to_owned();
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(members_with(&app, &ada, &access).await, StatusCode::OK);
    let i = run(vec!["introspect".into(), access.clone()]).await;
    assert_eq!(
        (i["active"].as_bool(), &i["client_id"]),
        (Some(true), &client["client_id"]),
        "{i}"
    );
    // Another app's client learns nothing of this token.
    let other_secret = other["client_secret"].as_str().unwrap();
    let i = openid_client(&app, &other, other_secret, &["introspect", &access]).await;
    assert_eq!(i["active"], false, "{i}");
    let next = run(vec!["refresh".into(), refresh]).await;
    assert!(next["access_token"].is_string(), "{next}");
    let cc = run(vec!["token".into()]).await;
    assert!(
        cc["access_token"].as_str().unwrap().starts_with("wwat_"),
        "{cc}"
    );
    let r = run(vec!["revoke".into(), access.clone()]).await;
    assert_eq!(r["revoked"], true, "{r}");
    let i = run(vec!["introspect".into(), access.clone()]).await;
    assert_eq!(i["active"], false, "{i}");
    // A wrong client secret at introspection: 401 in the API's envelope (it is under /api/v1).
    let id = client["client_id"].as_str().unwrap();
    let res = app
        .client
        .post(app.url("/api/v1/introspect"))
        .basic_auth(id, Some("wwcs_wrong"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(&res.json().await.unwrap()), "invalid_client");
}
watchword_testkit::on_both_backends!(oauth_openid_client, openid_client_end_to_end);

/// An access token reported exposed by a scanning partner: its grant is revoked at once and
/// the Security Contact is told.
async fn exposed_access_tokens_are_revoked(backend: Backend) {
    use crate::api_keys::{PARTNER_SECRET, exposure};
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.exposure_report_secret = Some(PARTNER_SECRET.into())
    })
    .await
    else {
        return;
    };
    let (ada, _) = app.ada_with_grace_as_contact().await;
    let (_, client) = create_app(
        &app,
        &ada,
        json!({"name": "Sync", "scopes": ["members:read"]}),
    )
    .await;
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    let (_, t, _) = token(&app, Some((id, secret)), "grant_type=client_credentials").await;
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(members_with(&app, &ada, access).await, StatusCode::OK);
    let body = json!({"token": access, "url": "https://paste.example/abc", "source": "pastebin"});
    let signature = exposure::sign(&serde_json::to_vec(&body).unwrap(), PARTNER_SECRET);
    let (s, _) = exposure::report(&app, &body, &signature).await;
    assert!(s.is_success(), "{s}");
    assert_eq!(
        members_with(&app, &ada, access).await,
        StatusCode::UNAUTHORIZED
    );
    let e = app.wait_event(&ada, "oauth.revoked").await;
    assert_eq!(e["details"]["by"], "exposure_report");
    app.wait_for_email("grace@example.com", "found exposed")
        .await;
}
watchword_testkit::on_both_backends!(oauth_exposed_tokens, exposed_access_tokens_are_revoked);
