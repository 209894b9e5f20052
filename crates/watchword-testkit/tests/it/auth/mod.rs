//! Signup, password policy, login, sessions, CSRF and bad input, on SQLite and PostgreSQL.

mod surface;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::{PASSWORD, TestApp, both_backends};

fn codes(v: &Value) -> Vec<String> {
    v["error"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

both_backends!(
    signup_makes_an_owner_with_a_session,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "Ada@Example.com").await;
        let (s, who) = app.whoami(&ada.token).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(who["person"]["email"], "ada@example.com");
        let acc = &who["accounts"][0];
        assert_eq!(acc["account"]["id"], ada.account.as_str());
        assert_eq!(acc["account"]["plan"], "free");
        assert_eq!(acc["role"]["key"], "owner");
        assert!(
            acc["permissions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "billing:manage")
        );
        assert!(
            who.get("csrf_token").is_none(),
            "bearer sessions need no CSRF token"
        );
        assert_eq!(
            app.audit_actions(&ada.token, &ada.account).await,
            vec!["account.created"]
        );
        let (s, accounts) = app.get("/api/v1/accounts", &ada.token).await;
        assert_eq!((s, accounts.as_array().unwrap().len()), (StatusCode::OK, 1));
    }
);

both_backends!(
    password_policy_names_each_broken_rule,
    |app: TestApp| async move {
        let cases: &[(&str, &str)] = &[
            ("Sh0rt!pass", "password_too_short"),
            ("nonumbers-here-at-all!", "password_needs_number"),
            ("nosymbols4here4atall", "password_needs_symbol"),
            ("1234-5678-9012-3456", "password_needs_letter"),
            ("lovelace#2024-rocks!", "password_contains_personal_info"),
            ("Password123!", "password_common"),
        ];
        for (pw, code) in cases {
            let body = json!({"account_name": "A", "name": "Ada Lovelace", "email": "ada@example.com", "password": pw});
            let (s, v) = app
                .call(Method::POST, "/api/v1/signup", None, Some(body))
                .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{pw}: {v}");
            assert_eq!(v["error"]["code"], "password_policy");
            assert!(
                codes(&v).contains(&code.to_string()),
                "{pw} should break {code}: {v}"
            );
        }
        let long = "aB3$".repeat(65);
        let body = json!({"account_name": "A", "name": "Ada", "email": "ada@example.com", "password": long});
        let (_, v) = app
            .call(Method::POST, "/api/v1/signup", None, Some(body))
            .await;
        assert_eq!(codes(&v), vec!["password_too_long"]);
        // Nothing was written by the refused attempts.
        let (s, _) = app.login("ada@example.com", "Sh0rt!pass").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
);

both_backends!(
    login_answers_the_same_for_unknown_email_and_wrong_password,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let (s1, wrong) = app.login("ada@example.com", "not-the-password-1!").await;
        let (s2, unknown) = app.login("nobody@example.com", "not-the-password-1!").await;
        assert_eq!(
            (s1, s2),
            (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
        );
        assert_eq!(wrong, unknown);
        assert_eq!(wrong["error"]["code"], "invalid_credentials");
        let (s, ok) = app.login("ADA@example.com", PASSWORD).await;
        assert_eq!(s, StatusCode::OK, "{ok}");
        let token = ok["session_token"].as_str().unwrap();
        assert_eq!(app.whoami(token).await.0, StatusCode::OK);
        let actions = app.audit_actions(&ada.token, &ada.account).await;
        assert!(
            actions.contains(&"login.failed".into()) && actions.contains(&"login.succeeded".into()),
            "{actions:?}"
        );
        let page = app.audit_events(&ada, "action=login.failed").await;
        let e = &page["events"][0];
        assert_eq!(e["actor_person_id"], ada.person.as_str());
        assert!(!e["ip"].as_str().unwrap().is_empty() && e["user_agent"].is_string());
    }
);

both_backends!(
    cookie_sessions_are_host_cookies_and_need_csrf_for_changes,
    |app: TestApp| async move {
        app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let res = app.cookie_login("ada@example.com").await;
        assert_eq!(res.status(), StatusCode::OK);
        let cookie = res
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        for attr in [
            "__Host-watchword_session=",
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
        ] {
            assert!(cookie.contains(attr), "{attr} missing from {cookie}");
        }
        let body: Value = res.json().await.unwrap();
        assert!(
            body.get("session_token").is_none(),
            "cookie mode does not expose the token"
        );
        let csrf = body["csrf_token"].as_str().unwrap().to_owned();
        let pair = cookie.split(';').next().unwrap().to_owned();
        let who = app
            .client
            .get(app.url("/api/v1/whoami"))
            .header("cookie", &pair)
            .send()
            .await
            .unwrap();
        assert_eq!(who.status(), StatusCode::OK);
        let refused = app
            .client
            .post(app.url("/api/v1/me/sessions/revoke-others"))
            .header("cookie", &pair)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            refused.json::<Value>().await.unwrap()["error"]["code"],
            "csrf_failed"
        );
        let wrong = app
            .client
            .post(app.url("/api/v1/me/sessions/revoke-others"))
            .header("cookie", &pair)
            .header("x-csrf-token", "forged")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
        let ok = app
            .client
            .post(app.url("/api/v1/me/sessions/revoke-others"))
            .header("cookie", &pair)
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
);

both_backends!(sessions_are_listed_and_revoked, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    let (_, second) = app.login("ada@example.com", PASSWORD).await;
    let (_, third) = app.login("ada@example.com", PASSWORD).await;
    let (second, third) = (
        second["session_token"].as_str().unwrap().to_owned(),
        third["session_token"].as_str().unwrap().to_owned(),
    );
    let (s, list) = app.get("/api/v1/me/sessions", &ada.token).await;
    assert_eq!(s, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    for key in ["device", "ip", "created_at", "last_seen_at"] {
        assert!(list[0][key].is_string(), "{key}");
    }
    let (_, who2) = app.whoami(&second).await;
    let id2 = who2["session"]["id"].as_str().unwrap();
    let s = app.revoke_session(&ada.token, id2).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(app.whoami(&second).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.whoami(&third).await.0, StatusCode::OK);
    // Revoking it again, or someone else's id, is a 404.
    let s = app.revoke_session(&ada.token, id2).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = app
        .post("/api/v1/me/sessions/revoke-others", &ada.token, json!({}))
        .await;
    assert_eq!(
        (s, v["sessions_revoked"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    assert_eq!(app.whoami(&third).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.whoami(&ada.token).await.0, StatusCode::OK);
    let (s, _) = app.post("/api/v1/logout", &ada.token, json!({})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(app.whoami(&ada.token).await.0, StatusCode::UNAUTHORIZED);
    let actions = {
        let (_, l) = app.login("ada@example.com", PASSWORD).await;
        app.audit_actions(l["session_token"].as_str().unwrap(), &ada.account)
            .await
    };
    for a in ["session.revoked", "session.revoked_others", "logout"] {
        assert!(actions.contains(&a.to_string()), "{a} missing: {actions:?}");
    }
});

both_backends!(
    changing_the_password_ends_other_sessions_and_notifies,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let (_, other) = app.login("ada@example.com", PASSWORD).await;
        let other = other["session_token"].as_str().unwrap().to_owned();
        let new_pw = "quartz-Meadow-93-lantern?";
        let (s, v) = app
            .post(
                "/api/v1/me/password",
                &ada.token,
                json!({"current_password": "wrong-Password-1!", "new_password": new_pw}),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("current_password_incorrect")
            )
        );
        let (s, v) = app
            .post(
                "/api/v1/me/password",
                &ada.token,
                json!({"current_password": PASSWORD, "new_password": "short"}),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("password_policy"))
        );
        let (s, v) = app
            .post(
                "/api/v1/me/password",
                &ada.token,
                json!({"current_password": PASSWORD, "new_password": new_pw}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["sessions_revoked"], 1);
        assert_eq!(app.whoami(&other).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(app.whoami(&ada.token).await.0, StatusCode::OK);
        assert_eq!(
            app.login("ada@example.com", PASSWORD).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(app.login("ada@example.com", new_pw).await.0, StatusCode::OK);
        let mail = app
            .wait_for_email("ada@example.com", "password was changed")
            .await;
        assert!(!mail.text.contains(new_pw) && !mail.html.contains(new_pw));
        assert!(
            app.audit_actions(&ada.token, &ada.account)
                .await
                .contains(&"password.changed".into())
        );
    }
);

both_backends!(
    bad_input_is_a_clear_4xx_never_a_500,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let post_raw = |path: &'static str, ct: &'static str, body: Vec<u8>| {
            let req = app
                .client
                .post(app.url(path))
                .header("content-type", ct)
                .body(body);
            async move {
                let r = req.send().await.unwrap();
                let s = r.status();
                (s, r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (s, v) = post_raw(
            "/api/v1/login",
            "application/json",
            b"{\"email\": ".to_vec(),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_json"))
        );
        let (s, v) = post_raw(
            "/api/v1/login",
            "application/json",
            br#"{"email":"a@b.io","password":"x","admin":true}"#.to_vec(),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body"))
        );
        assert!(v["error"]["message"].as_str().unwrap().contains("admin"));
        let (s, v) = post_raw(
            "/api/v1/login",
            "application/json",
            br#"{"email":5,"password":"x"}"#.to_vec(),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body"))
        );
        let (s, v) = post_raw("/api/v1/login", "text/plain", b"{}".to_vec()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("unsupported_media_type")
            )
        );
        let big = format!(
            "{{\"email\":\"{}\",\"password\":\"x\"}}",
            "a".repeat(100_000)
        );
        let (s, v) = post_raw("/api/v1/login", "application/json", big.into_bytes()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
        );
        let (s, v) = app
            .get("/api/v1/accounts/not-a-uuid/members", &ada.token)
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        let (s, v) = app.get("/api/v1/nope", &ada.token).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        let (s, v) = app
            .get(
                &format!("/api/v1/accounts/{}/audit-events?limit=abc", ada.account),
                &ada.token,
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query"))
        );
        let (s, v) = app.whoami("made-up-token").await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
        );
        let (s, v) = app.call(Method::POST, "/api/v1/signup", None, Some(json!({"account_name": "A", "name": "B", "email": "not-an-email", "password": PASSWORD}))).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_email"))
        );
    }
);
