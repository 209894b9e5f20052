//! Bytes in, bytes out.

use super::*;

both_backends!(
    hostile_bytes_are_refused_at_the_edge,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let acct = &ada.account;
        // NUL and other control characters in query parameters and path ids: 400 on both
        // databases, before any query runs.
        for path in [
            format!("/api/v1/accounts/{acct}/audit-events?action=login%00x"),
            format!("/api/v1/accounts/{acct}/audit-events?actor=%01"),
            format!("/api/v1/accounts/{acct}/security-contact/candidates?q=a%00b"),
            format!("/api/v1/accounts/{acct}/api-keys/%00"),
            "/api/v1/me/mfa/ab%00cd".to_owned(),
        ] {
            let (s, v) = app.get(&path, &ada.token).await;
            assert_eq!(
                (s, code(&v)),
                (StatusCode::BAD_REQUEST, "invalid_characters"),
                "{path}"
            );
        }
        // Bodies must be JSON objects, with no control characters in their texts.
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/login",
                None,
                Some(json!(["ada@example.com", PASSWORD, "token"])),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
        );
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/login",
                None,
                Some(json!({"email": "ada@example.com\u{0}", "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters")
        );
        let (s, v) = app
            .post(
                &format!("/api/v1/accounts/{acct}/access-review"),
                &ada.token,
                json!({"note": "line one\nline two\u{1b}[31m"}),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters")
        );
        // Look-alike and invisible characters make no login; names refuse direction overrides.
        for email in [
            "ad\u{200B}a@example.com",
            "p\u{0430}ypal@example.com",
            "ada@exa\u{202E}mple.com",
        ] {
            let body =
                json!({"account_name": "X", "name": "X", "email": email, "password": PASSWORD});
            let (s, v) = app
                .call(Method::POST, "/api/v1/signup", None, Some(body))
                .await;
            assert_eq!(
                (s, code(&v)),
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email"),
                "{email:?}"
            );
        }
        let body = json!({"account_name": "X", "name": "Ada\u{202E}ecalevol", "email": "x@example.com", "password": PASSWORD});
        let (s, v) = app
            .call(Method::POST, "/api/v1/signup", None, Some(body))
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_characters")
        );
        // An internationalised domain is one login in its ASCII form.
        let body = json!({"account_name": "Bücher", "name": "Rene", "email": "rene@b\u{00FC}cher.example", "password": PASSWORD});
        let (s, _) = app
            .call(Method::POST, "/api/v1/signup", None, Some(body))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        assert!(
            !app.signup_token("rene@xn--bcher-kva.example")
                .await
                .is_empty()
        );
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM signup_requests WHERE email = 'rene@xn--bcher-kva.example'", &[]).await,
            1
        );
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM persons", &[]).await,
            1,
            "nothing else was written"
        );
    }
);

both_backends!(
    exports_neutralise_formulas_and_credentials_are_not_cached,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        // A failed login whose user agent is a spreadsheet formula.
        let res = app
            .client
            .post(app.url("/api/v1/login"))
            .header("user-agent", "=HYPERLINK(\"http://evil.example\",\"x\")")
            .json(&json!({"email": "ada@example.com", "password": "not-the-password-1!"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let csv = app.export_audit(&ada, "csv").await.text().await.unwrap();
        assert!(csv.contains("'=HYPERLINK"), "{csv}");
        assert!(
            !csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"),
            "{csv}"
        );
        // Every answer that carries a credential, and authenticated pages, say no-store.
        let res = app.cookie_login("ada@example.com").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let res = app
            .client
            .get(app.url("/app?list=1"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let res = app
            .client
            .get(app.url("/api/v1/whoami"))
            .bearer_auth(&ada.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
);
