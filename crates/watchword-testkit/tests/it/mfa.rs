//! MFA on SQLite and PostgreSQL: authenticator enrolment and login with codes from Debian's
//! `oathtool` (an independent TOTP implementation), replayed and expired codes refused, recovery
//! codes single use, enforcement by accounts and paid plans, the last factor kept, and password
//! reset answering alike for known and unknown emails.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::{Login, TestApp, both_backends, code, oathtool_at};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Enrols an authenticator for `who`; returns the base32 secret, the time its code was taken
/// at, and the confirmation body.
async fn enrol(app: &TestApp, who: &Login) -> (String, i64, Value) {
    let (s, v) = app
        .post("/api/v1/me/mfa/totp", &who.token, json!({"name": "Phone"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let secret = v["secret"].as_str().unwrap().to_owned();
    assert!(
        v["otpauth_uri"]
            .as_str()
            .unwrap()
            .contains(&format!("secret={secret}"))
    );
    let t = now();
    let (s, c) = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            &who.token,
            json!({"code": oathtool_at(&secret, Some(t))}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    (secret, t, c)
}

both_backends!(
    authenticator_login_replay_and_recovery_codes,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let (s, v) = app.get("/api/v1/me/mfa", &ada.token).await;
        assert_eq!((s, v["factors"].clone()), (StatusCode::OK, json!([])));
        // Enrolment is confirmed only by a valid code.
        let (s, v) = app.post("/api/v1/me/mfa/totp", &ada.token, json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let secret = v["secret"].as_str().unwrap().to_owned();
        let wrong = format!(
            "{:06}",
            (oathtool_at(&secret, Some(now())).parse::<u32>().unwrap() + 1) % 1_000_000
        );
        let (s, v) = app
            .post(
                "/api/v1/me/mfa/totp/confirm",
                &ada.token,
                json!({"code": wrong}),
            )
            .await;
        assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "invalid_code"));
        assert_eq!(
            app.get("/api/v1/me/mfa", &ada.token).await.1["factors"],
            json!([])
        );
        let (secret, t0, confirmed) = enrol(&app, &ada).await;
        let recovery: Vec<String> =
            serde_json::from_value(confirmed["recovery_codes"].clone()).unwrap();
        assert_eq!(recovery.len(), 10);
        // Sealed at rest under the data directory's key file, readable by its owner only.
        assert_eq!(app.sql("UPDATE mfa_factors SET key_id = key_id WHERE key_id = 'k1' AND secret_sealed IS NOT NULL AND confirmed_at IS NOT NULL", &[]).await, 1);
        let key_file = app.data_dir().join("mfa-keys");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            !std::fs::read_to_string(&key_file)
                .unwrap()
                .contains(&secret)
        );
        let (_, m) = app.get("/api/v1/me/mfa", &ada.token).await;
        assert_eq!(
            (
                m["factors"][0]["kind"].clone(),
                m["recovery_codes_left"].clone()
            ),
            (json!("totp"), json!(10))
        );

        // The password alone no longer opens a session.
        let ch = app.challenge("ada@example.com").await;
        assert_eq!(ch["methods"], json!(["totp", "recovery_code"]));
        // The enrolment's code was accepted once: replay refused; an expired code refused.
        assert_eq!(
            code(
                &app.finish_login(&ch, "totp", &oathtool_at(&secret, Some(t0)))
                    .await
                    .1
            ),
            "invalid_code"
        );
        assert_eq!(
            code(
                &app.finish_login(&ch, "totp", &oathtool_at(&secret, Some(t0 - 90)))
                    .await
                    .1
            ),
            "invalid_code"
        );
        let (s, v) = app.finish_login(&ch, "fax", "123456").await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "unknown_method")
        );
        let (s, v) = app.finish_login(&ch, "sms", "123456").await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "method_not_enrolled")
        );
        // The next step's code (one step of drift) works, once.
        let next = oathtool_at(&secret, Some(t0 + 30));
        let (s, v) = app.finish_login(&ch, "totp", &next).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let token = v["session_token"].as_str().unwrap().to_owned();
        assert_eq!(app.whoami(&token).await.0, StatusCode::OK);
        assert_eq!(
            code(&app.finish_login(&ch, "totp", &next).await.1),
            "invalid_code",
            "a challenge is used once"
        );
        let ch2 = app.challenge("ada@example.com").await;
        assert_eq!(
            code(&app.finish_login(&ch2, "totp", &next).await.1),
            "invalid_code",
            "a code is accepted once"
        );
        // Two replays (the enrolment's code, then the login's): each marked in the audit log,
        // and the holder told once (at most one such email an hour); an expired or wrong code
        // is no replay and tells nobody.
        let replays = "SELECT id FROM audit_events WHERE action = 'mfa.code_failed' \
             AND details LIKE '%\"replayed\":true%'";
        assert_eq!(app.count_rows(replays, &[]).await, 2);
        app.wait_outbox_empty().await;
        let told: Vec<_> = app
            .emails()
            .into_iter()
            .filter(|m| m.subject.contains("authenticator code was used again"))
            .collect();
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0].to, "ada@example.com");
        let text = &told[0].text;
        assert!(text.contains("seen or intercepted") && text.contains("reset your password"));

        // Recovery codes: single use, typed in any case.
        let (s, _) = app
            .finish_login(&ch2, "recovery_code", &recovery[0].to_lowercase())
            .await;
        assert_eq!(s, StatusCode::OK);
        let ch3 = app.challenge("ada@example.com").await;
        assert_eq!(
            code(
                &app.finish_login(&ch3, "recovery_code", &recovery[0])
                    .await
                    .1
            ),
            "invalid_code"
        );
        assert_eq!(
            app.get("/api/v1/me/mfa", &ada.token).await.1["recovery_codes_left"],
            9
        );
        // Regenerating voids the old set.
        let (s, r) = app
            .post("/api/v1/me/recovery-codes", &ada.token, json!({}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        assert_eq!(
            code(
                &app.finish_login(&ch3, "recovery_code", &recovery[1])
                    .await
                    .1
            ),
            "invalid_code"
        );
        let fresh = r["recovery_codes"][0].as_str().unwrap();
        assert_eq!(
            app.finish_login(&ch3, "recovery_code", fresh).await.0,
            StatusCode::OK
        );

        // Audited and told by email.
        let (_, ev) = app
            .get(
                &format!("/api/v1/accounts/{}/audit-events", ada.account),
                &ada.token,
            )
            .await;
        let actions: Vec<&str> = ev["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        for a in [
            "mfa.factor_added",
            "mfa.recovery_code_used",
            "mfa.recovery_codes_regenerated",
            "mfa.code_failed",
        ] {
            assert!(actions.contains(&a), "{a} missing from {actions:?}");
        }
        app.wait_for_email("ada@example.com", "A second factor was added")
            .await;
        app.wait_for_email("ada@example.com", "A recovery code was used")
            .await;
    }
);

both_backends!(
    accounts_enforce_mfa_and_the_last_factor_stays,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let bob = app
            .invite_and_accept(&ada, "bob@example.com", "admin")
            .await;
        let settings = format!("/api/v1/accounts/{}/settings", ada.account);
        let members = format!("/api/v1/accounts/{}/members", ada.account);
        let patch = |on: bool| {
            app.call(
                Method::PATCH,
                &settings,
                Some(&ada.token),
                Some(json!({"mfa_required": on})),
            )
        };
        // Requiring MFA needs MFA of whoever turns it on.
        let (s, v) = patch(true).await;
        assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "enroll_mfa_first"));
        enrol(&app, &ada).await;
        let (s, v) = patch(true).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            (v["mfa_required"].clone(), v["members_without_mfa"].clone()),
            (json!(true), json!(1))
        );
        // Bob reaches nothing in the account until enrolled; his own security page works.
        let (s, v) = app.get(&members, &bob.token).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "mfa_enrollment_required")
        );
        let (_, m) = app.get("/api/v1/me/mfa", &bob.token).await;
        assert_eq!(m["enforced_by"], json!([ada.account]));
        let (_, _, c) = enrol(&app, &bob).await;
        assert_eq!(app.get(&members, &bob.token).await.0, StatusCode::OK);
        let (_, m) = app.get("/api/v1/me/mfa", &bob.token).await;
        assert_eq!(
            m["add_backup"], true,
            "one method: nudged to add a second (recovery codes are a last resort)"
        );
        // His only factor cannot go while the account enforces MFA.
        let fid = c["factor"]["id"].as_str().unwrap();
        let (s, v) = app
            .delete(&format!("/api/v1/me/mfa/{fid}"), &bob.token)
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::CONFLICT, "last_factor_required")
        );
        // A session that never passed a factor is refused even for an enrolled person.
        let ada_pw_only = app
            .sql(
                "UPDATE sessions SET mfa_at = NULL WHERE person_id = $1",
                &[&ada.person],
            )
            .await;
        assert!(ada_pw_only >= 1);
        let (s, v) = app.get(&members, &ada.token).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "mfa_verification_required")
        );
        // Paid plans always enforce, whatever the setting says.
        app.sql(
            "UPDATE accounts SET plan = 'paid', mfa_required = 0 WHERE id = $1",
            &[&ada.account],
        )
        .await;
        let (_, v) = app.get(&settings, &bob.token).await;
        assert_eq!(v["mfa_required"], true, "{v}");
        // Off with the factor on a free plan: then removal is allowed.
        app.sql(
            "UPDATE accounts SET plan = 'free' WHERE id = $1",
            &[&ada.account],
        )
        .await;
        let (s, _) = app
            .delete(&format!("/api/v1/me/mfa/{fid}"), &bob.token)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (_, m) = app.get("/api/v1/me/mfa", &bob.token).await;
        assert_eq!(
            (m["factors"].clone(), m["recovery_codes_left"].clone()),
            (json!([]), json!(0))
        );
        app.wait_for_email("bob@example.com", "A second factor was removed")
            .await;
    }
);

both_backends!(
    turning_mfa_off_alerts_the_security_contact,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let bob = app
            .invite_and_accept(&ada, "bob@example.com", "admin")
            .await;
        let (s, v) = app.put_security_contact(&ada, &bob.membership).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        enrol(&app, &ada).await;
        let settings = format!("/api/v1/accounts/{}/settings", ada.account);
        for on in [true, false] {
            let (s, v) = app
                .call(
                    Method::PATCH,
                    &settings,
                    Some(&ada.token),
                    Some(json!({"mfa_required": on})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        let m = app
            .wait_for_email("bob@example.com", "\"Require MFA\" was turned off")
            .await;
        assert!(m.text.contains("Ada <ada@example.com>"), "{}", m.text);
        // Turning it on weakened nothing: that was not reported.
        app.wait_outbox_empty().await;
        let alerts = app
            .emails()
            .into_iter()
            .filter(|m| m.to.contains("bob@") && m.subject.starts_with("Security activity"))
            .count();
        assert_eq!(alerts, 1);
    }
);

both_backends!(
    password_reset_is_single_use_and_tells_nothing,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let ask = |email: &'static str| {
            app.call(
                Method::POST,
                "/api/v1/password-reset",
                None,
                Some(json!({"email": email})),
            )
        };
        let known = ask("ada@example.com").await;
        let unknown = ask("nobody@example.com").await;
        assert_eq!(known.0, StatusCode::ACCEPTED);
        assert_eq!(known, unknown, "same answer for known and unknown emails");
        let msg = app
            .wait_for_email("ada@example.com", "Reset your watchword password")
            .await;
        let token = watchword_testkit::mail::link_token(&msg.text).expect("link");
        app.wait_outbox_empty().await;
        assert!(app.emails().iter().all(|m| !m.to.contains("nobody")));
        let confirm = |pw: &'static str| {
            let body = json!({"token": token.clone(), "new_password": pw});
            app.call(
                Method::POST,
                "/api/v1/password-reset/confirm",
                None,
                Some(body),
            )
        };
        let (s, v) = confirm("short").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_ne!(
            code(&v),
            "invalid_reset_token",
            "a refused password leaves the link usable"
        );
        let (s, v) = confirm("Brand-new-horse-battery-42!").await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        assert_eq!(
            app.whoami(&ada.token).await.0,
            StatusCode::UNAUTHORIZED,
            "sessions end"
        );
        let (s, v) = confirm("Another-new-horse-battery-43!").await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_reset_token")
        );
        assert_eq!(
            app.login("ada@example.com", "Brand-new-horse-battery-42!")
                .await
                .0,
            StatusCode::OK
        );
        app.wait_for_email("ada@example.com", "password was reset")
            .await;
    }
);

both_backends!(
    few_recovery_codes_left_are_warned_by_email,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let (_, _, confirmed) = enrol(&app, &ada).await;
        let codes: Vec<String> =
            serde_json::from_value(confirmed["recovery_codes"].clone()).unwrap();
        for (i, c) in codes.iter().take(7).enumerate() {
            let ch = app.challenge("ada@example.com").await;
            assert_eq!(
                app.finish_login(&ch, "recovery_code", c).await.0,
                StatusCode::OK
            );
            let left = 9 - i;
            let warned = app
                .emails()
                .iter()
                .any(|m| m.subject.contains("only") && m.subject.contains(&format!("{left} left")));
            if left > 3 {
                assert!(!warned, "no warning with {left} left");
            }
        }
        let m = app
            .wait_for_email("ada@example.com", "A recovery code was used: only 3 left")
            .await;
        assert!(
            m.text.contains("Only 3 recovery codes are left"),
            "{}",
            m.text
        );
        let (_, s) = app.get("/api/v1/me/mfa", &ada.token).await;
        assert_eq!(
            (
                s["recovery_codes_left"].clone(),
                s["recovery_codes_low"].clone()
            ),
            (json!(3), json!(true))
        );
    }
);

both_backends!(one_code_wins_a_concurrent_race, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let (secret, t0, _) = enrol(&app, &ada).await;
    // The next step's code (within the step of drift), sent on eight challenges at once:
    // exactly one login gets it.
    let code = oathtool_at(&secret, Some(t0 + 30));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let ch = app.challenge("ada@example.com").await;
        let (client, url) = (app.client.clone(), app.url("/api/v1/login/mfa"));
        let body = json!({"challenge_id": ch["challenge_id"], "method": "totp", "code": code});
        set.spawn(async move { client.post(url).json(&body).send().await.unwrap().status() });
    }
    let statuses = set.join_all().await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{statuses:?}");
});
