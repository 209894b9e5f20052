//! The outer surface: the OpenAPI document and operations endpoints, console forms refused
//! across sites or without their token, and password hashes upgraded at login.

use super::*;

both_backends!(
    openapi_and_operations_endpoints,
    |app: TestApp| async move {
        let doc: Value = app
            .client
            .get(app.url("/api/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        // Valid under an independent validator (PyPI openapi-spec-validator).
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("openapi.json");
        std::fs::write(&file, doc.to_string()).unwrap();
        let out = std::process::Command::new("python3")
            .args(["-m", "openapi_spec_validator"])
            .arg(&file)
            .output()
            .expect("python3 runs openapi-spec-validator");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for path in [
            "/api/v1/signup",
            "/api/v1/login",
            "/api/v1/whoami",
            "/api/v1/accounts/{account_id}/members/{member_id}",
            "/api/v1/accounts/{account_id}/audit-events",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} undocumented");
        }
        // A valid, complete document: unique operation ids, path parameters only in their path,
        // a security requirement and an error answer on every operation, the schemes named.
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["in"] == "path" {
                        let name = p["name"].as_str().unwrap();
                        assert!(
                            path.contains(&format!("{{{name}}}")),
                            "{method} {path}: {name} is not in the path"
                        );
                    }
                }
                assert!(op["security"].is_array(), "{method} {path}: no security");
                assert!(
                    op["responses"].get("4XX").is_some(),
                    "{method} {path}: no error answer"
                );
            }
        }
        for scheme in ["session", "cookie", "csrf", "api_key", "introspection"] {
            assert!(
                doc["components"]["securitySchemes"].get(scheme).is_some(),
                "{scheme}"
            );
        }
        let whoami = &doc["paths"]["/api/v1/whoami"]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"];
        assert_eq!(
            whoami["oneOf"].as_array().map(Vec::len),
            Some(2),
            "{whoami}"
        );
        let actions =
            doc["components"]["schemas"]["AuditEventDto"]["properties"]["action"]["enum"].clone();
        assert!(
            actions.as_array().unwrap().contains(&json!("login.failed")),
            "{actions}"
        );
        assert_eq!(
            doc["components"]["schemas"]["SignupRequest"]["properties"]["email"]["minLength"],
            1
        );
        assert_eq!(
            app.client
                .get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        assert_eq!(
            app.client
                .get(app.url("/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        let metrics = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("watchword_http_requests_total"),
            "{metrics}"
        );
        let res = app.client.get(app.url("/login")).send().await.unwrap();
        let csp = res
            .headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    }
);

both_backends!(
    console_forms_refuse_cross_site_posts,
    |app: TestApp| async move {
        app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let form = [("email", "ada@example.com"), ("password", PASSWORD)];
        let res = app
            .client
            .post(app.url("/login"))
            .header("sec-fetch-site", "cross-site")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.headers().get("set-cookie").is_none());
        let res = app
            .client
            .post(app.url("/login"))
            .header("origin", "https://evil.example")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = app
            .client
            .post(app.url("/login"))
            .header("sec-fetch-site", "same-origin")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(
            res.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .starts_with("__Host-watchword_session=")
        );
    }
);

async fn stored_hash(app: &TestApp, email: &str) -> String {
    let store = app.running.as_ref().unwrap().app.store().clone();
    let mut c = store.read().await.unwrap();
    watchword_store::persons::by_email(&mut c, email)
        .await
        .unwrap()
        .unwrap()
        .password_hash
}

/// Passwords are hashed with a pepper kept outside the database; raising the Argon2 parameters,
/// or a new pepper, rehashes a password at its next successful login, as it does a hash from
/// before peppers.
async fn rehash_on_login(backend: watchword_testkit::Backend) {
    use watchword_domain::password::{HashParams, Password, Verified};
    let Some(mut first) = TestApp::spawn(backend).await else {
        return;
    };
    first
        .signup("Acme", "Ada Lovelace", "ada@example.com")
        .await;
    let before = stored_hash(&first, "ada@example.com").await;
    assert!(
        before.starts_with("$argon2id$v=19$m=19456,t=2,p=1,keyid=azE$"),
        "peppered with k1: {before}"
    );
    // The database alone cannot test a guess, not even the right password.
    let pw = Password::new(PASSWORD.into());
    assert_eq!(HashParams::OWASP_MIN.verify(&pw, &before), Verified::No);
    let file = first.data_dir().join("password-peppers");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let k1 = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    // A hash stored before peppers.
    let plain = HashParams::OWASP_MIN.hash(&pw);
    first
        .sql(
            "UPDATE persons SET password_hash = $1 WHERE email = 'ada@example.com'",
            &[&plain],
        )
        .await;
    first.running.take().unwrap().stop().await;
    let (dir, db) = (first.dir.path().to_path_buf(), first.database_url.clone());
    let p2 = watchword_domain::sealed::Keyring::new_entry("p2");
    let config = watchword::Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir,
        database_url: Some(db),
        argon2_iterations: 3,
        password_peppers: Some(format!("{k1},{p2}")),
        ..Default::default()
    };
    first.running = Some(watchword::start(config).await.unwrap());
    first.base = format!("http://{}", first.running.as_ref().unwrap().addr);
    let (s, _) = first.login("ada@example.com", "wrong-Password-1!").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        stored_hash(&first, "ada@example.com").await,
        plain,
        "a failed login changes nothing"
    );
    let (s, _) = first.login("ada@example.com", PASSWORD).await;
    assert_eq!(s, StatusCode::OK);
    let after = stored_hash(&first, "ada@example.com").await;
    assert!(
        after.starts_with("$argon2id$v=19$m=19456,t=3,p=1,keyid=cDI$"),
        "rehashed with the new parameters and pepper p2: {after}"
    );
    assert_eq!(
        first.login("ada@example.com", PASSWORD).await.0,
        StatusCode::OK
    );
}

watchword_testkit::on_both_backends!(rehash_on_login, rehash_on_login);

both_backends!(
    every_signed_in_console_form_checks_session_origin_and_token,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let res = app.cookie_login("ada@example.com").await;
        let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let csrf = res.json::<Value>().await.unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let (a, m, s) = (&ada.account, &ada.membership, uuid::Uuid::new_v4());
        let forms = [
            "/logout".to_owned(),
            "/accounts/new".into(),
            format!("/accounts/{a}/members/invite"),
            format!("/accounts/{a}/members/{m}/remove"),
            format!("/accounts/{a}/roles"),
            format!("/accounts/{a}/api-keys"),
            format!("/accounts/{a}/api-keys/key_x/revoke"),
            format!("/accounts/{a}/settings/security"),
            format!("/accounts/{a}/settings/security/mfa"),
            format!("/accounts/{a}/access-review"),
            "/me/security".into(),
            "/me/sessions/revoke-others".into(),
            format!("/me/sessions/{s}/revoke"),
            format!("/accounts/{a}/settings/sso/domains"),
            format!("/accounts/{a}/settings/sso/domains/dom_x/verify"),
            format!("/accounts/{a}/settings/sso/connections"),
            format!("/accounts/{a}/settings/sso/connections/sso_x/enable"),
        ];
        let audit = format!("/api/v1/accounts/{a}/audit-events?limit=1000");
        let before = app.get(&audit, &ada.token).await.1["events"].to_string();
        let fields = [
            ("name", "Evil"),
            ("email", "eve@example.com"),
            ("role", "owner"),
            ("confirm", "yes"),
            ("op", "remove"),
        ];
        for path in &forms {
            let post = |cookie: Option<&str>, token: Option<&str>, site: &str| {
                let mut form: Vec<(&str, &str)> = fields.to_vec();
                form.extend(token.map(|t| ("csrf_token", t)));
                let mut req = app
                    .client
                    .post(app.url(path))
                    .header("sec-fetch-site", site)
                    .form(&form);
                if let Some(c) = cookie {
                    req = req.header("cookie", c);
                }
                async move { req.send().await.unwrap() }
            };
            let anonymous = post(None, Some(&csrf), "same-origin").await;
            assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "{path}");
            assert_eq!(anonymous.headers()["location"], "/login", "{path}");
            let tokenless = post(Some(&cookie), None, "same-origin").await;
            assert_eq!(tokenless.status(), StatusCode::FORBIDDEN, "{path}");
            let forged = post(Some(&cookie), Some("forged"), "same-origin").await;
            assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{path}");
            let cross = post(Some(&cookie), Some(&csrf), "cross-site").await;
            assert_eq!(cross.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let after = app.get(&audit, &ada.token).await.1["events"].to_string();
        assert_eq!(after, before, "no refused form changed anything");
        let (status, _) = app.whoami(&ada.token).await;
        assert_eq!(status, StatusCode::OK);
    }
);
