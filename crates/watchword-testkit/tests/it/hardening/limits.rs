//! Limits and single-use links under parallel requests.

use super::*;

/// Asks for a password reset for `email` and returns the emailed link's token.
async fn reset_link(app: &TestApp, email: &str) -> String {
    let body = json!({"email": email});
    let (s, _) = app
        .call(Method::POST, "/api/v1/password-reset", None, Some(body))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let mail = app.wait_for_email(email, "Reset").await;
    watchword_testkit::mail::link_token(&mail.text).unwrap()
}

both_backends!(
    parallel_wrong_passwords_are_checked_up_to_the_limit_exactly,
    |app: TestApp| async move {
        app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let wrong = json!({"email": "ada@example.com", "password": "not-the-password-1!", "session_mode": "token"});
        let statuses = burst(&app, 40, "/api/v1/login", None, wrong).await;
        assert_eq!(tally(&statuses, 401), 10, "{statuses:?}");
        assert_eq!(tally(&statuses, 429), 30, "{statuses:?}");
        // The right password after the burst is refused too: the limit holds.
        let (s, v) = app.login("ada@example.com", PASSWORD).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
        );
        // One alert for the limit reached, not one per racing request.
        app.wait_outbox_empty().await;
        let alerts = app
            .emails()
            .iter()
            .filter(|m| m.subject.contains("Repeated failed sign-ins"))
            .count();
        assert_eq!(alerts, 1);
        // Per IP: 50 attempts in all, whatever the emails.
        let calls = (0..45).map(|i| {
            let body =
                json!({"email": format!("u{i}@example.com"), "password": "not-the-password-1!"});
            app.call(Method::POST, "/api/v1/login", None, Some(body))
        });
        let statuses: Vec<u16> = join_all(calls)
            .await
            .into_iter()
            .map(|(s, _)| s.as_u16())
            .collect();
        assert_eq!(tally(&statuses, 401), 40, "{statuses:?}");
        assert_eq!(tally(&statuses, 429), 5, "{statuses:?}");
    }
);

both_backends!(
    parallel_answers_to_one_challenge_are_checked_five_times_at_most,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        app.enrol_totp(&ada).await;
        let (s, ch) = app.login("ada@example.com", PASSWORD).await;
        assert_eq!(s, StatusCode::OK);
        let body = json!({"challenge_id": ch["challenge_id"], "method": "recovery_code", "code": "aaaa-bbbb-cccc"});
        let statuses = burst(&app, 20, "/api/v1/login/mfa", None, body).await;
        assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'mfa.code_failed'",
                &[]
            )
            .await,
            5,
            "five answers were checked"
        );
        // Step-up: ten wrong codes a person in 15 minutes (five were spent above).
        let body = json!({"method": "recovery_code", "code": "aaaa-bbbb-cccc"});
        let statuses = burst(
            &app,
            20,
            "/api/v1/me/reauthenticate",
            Some(&ada.token),
            body,
        )
        .await;
        assert_eq!(tally(&statuses, 401), 5, "{statuses:?}");
        assert_eq!(tally(&statuses, 429), 15, "{statuses:?}");
    }
);

both_backends!(
    current_password_checks_are_limited,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let wrong = json!({"password": "not-the-password-1!"});
        let statuses = burst(
            &app,
            40,
            "/api/v1/me/reauthenticate",
            Some(&ada.token),
            wrong,
        )
        .await;
        assert_eq!(tally(&statuses, 401), 10, "{statuses:?}");
        assert_eq!(tally(&statuses, 429), 30, "{statuses:?}");
        let body = json!({"current_password": "not-the-password-1!", "new_password": "another-Lantern-99-orbit!"});
        let (s, v) = app.post("/api/v1/me/password", &ada.token, body).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
        );
    }
);

both_backends!(
    mails_are_limited_per_address_and_per_ip,
    |app: TestApp| async move {
        app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let before = app.emails().len();
        let statuses = burst(
            &app,
            30,
            "/api/v1/password-reset",
            None,
            json!({"email": "ada@example.com"}),
        )
        .await;
        assert_eq!(tally(&statuses, 202), 20, "{statuses:?}");
        assert_eq!(tally(&statuses, 429), 10, "{statuses:?}");
        // Let the off-path work finish, then count.
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            if count(
                &app,
                "SELECT COUNT(*) AS n FROM rate_slots WHERE bucket LIKE 'reset-email:%'",
                &[],
            )
            .await
                == 3
            {
                break;
            }
        }
        app.wait_outbox_empty().await;
        let resets: Vec<_> = app
            .emails()
            .into_iter()
            .skip(before)
            .filter(|m| m.subject.contains("Reset"))
            .collect();
        assert_eq!(resets.len(), 3);
        // Only the newest link works.
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM password_resets WHERE used_at IS NULL",
                &[]
            )
            .await,
            1
        );
        // Signups: ten from one IP in an hour.
        let calls = (0..12).map(|i| {
            let body = json!({"account_name": "X", "name": "Xavier", "email": format!("x{i}@example.com"), "password": PASSWORD});
            app.call(Method::POST, "/api/v1/signup", None, Some(body))
        });
        let statuses: Vec<u16> = join_all(calls)
            .await
            .into_iter()
            .map(|(s, _)| s.as_u16())
            .collect();
        // Ada's own signup took one slot of this IP.
        assert_eq!(tally(&statuses, 202), 9, "{statuses:?}");
        assert_eq!(tally(&statuses, 429), 3, "{statuses:?}");
    }
);

both_backends!(
    invitations_are_limited_per_account,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let path = format!("/api/v1/accounts/{}/invitations", ada.account);
        let calls = (0..55).map(|i| {
            app.post(
                &path,
                &ada.token,
                json!({"email": format!("p{i}@example.com"), "role": "analyst"}),
            )
        });
        let statuses: Vec<u16> = join_all(calls)
            .await
            .into_iter()
            .map(|(s, _)| s.as_u16())
            .collect();
        assert_eq!(tally(&statuses, 201), 50, "{statuses:?}");
        assert_eq!(tally(&statuses, 429), 5, "{statuses:?}");
    }
);

both_backends!(
    a_taken_address_hears_of_email_change_attempts_once_a_day,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        app.signup("Bobs", "Bob Builder", "bob@example.com").await;
        for _ in 0..4 {
            let (s, v) = app
                .post(
                    "/api/v1/me/email",
                    &ada.token,
                    json!({"email": "bob@example.com"}),
                )
                .await;
            assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        }
        app.wait_outbox_empty().await;
        let notices = app
            .emails()
            .iter()
            .filter(|m| m.to.contains("bob@example.com") && m.subject.contains("Someone tried"))
            .count();
        assert_eq!(notices, 1);
        // A person asks for five changes an hour at most.
        let (s, v) = app
            .post(
                "/api/v1/me/email",
                &ada.token,
                json!({"email": "ada2@example.com"}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let (s, v) = app
            .post(
                "/api/v1/me/email",
                &ada.token,
                json!({"email": "ada3@example.com"}),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
        );
    }
);

both_backends!(
    a_password_change_ends_outstanding_reset_links,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let token = reset_link(&app, "ada@example.com").await;
        let body =
            json!({"current_password": PASSWORD, "new_password": "another-Lantern-99-orbit!"});
        let (s, v) = app.post("/api/v1/me/password", &ada.token, body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let body = json!({"token": token, "new_password": "third-Lantern-77-orbit!"});
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/password-reset/confirm",
                None,
                Some(body),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_reset_token")
        );
    }
);

both_backends!(
    emailed_links_work_once_under_parallel_use,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        // A password reset link, eight times at once.
        let token = reset_link(&app, "ada@example.com").await;
        let body = json!({"token": token, "new_password": "another-Lantern-99-orbit!"});
        let statuses = burst(&app, 8, "/api/v1/password-reset/confirm", None, body).await;
        assert_eq!(tally(&statuses, 204), 1, "{statuses:?}");
        assert_eq!(tally(&statuses, 422), 7, "{statuses:?}");
        // An invitation link, eight new people at once.
        let (s, v) = app
            .login("ada@example.com", "another-Lantern-99-orbit!")
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let token_ada = v["session_token"].as_str().unwrap().to_owned();
        let (s, _) = app
            .post(
                &format!("/api/v1/accounts/{}/invitations", ada.account),
                &token_ada,
                json!({"email": "grace@example.com", "role": "analyst"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let token = app.invitation_token("grace@example.com").await;
        let body = json!({"token": token, "name": "Grace Hopper", "password": PASSWORD, "session_mode": "token"});
        let statuses = burst(&app, 8, "/api/v1/invitations/accept", None, body).await;
        assert_eq!(tally(&statuses, 200), 1, "{statuses:?}");
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM persons WHERE email = 'grace@example.com'",
                &[]
            )
            .await,
            1
        );
        // An email change link, eight times at once.
        let (s, _) = app
            .post(
                "/api/v1/me/email",
                &token_ada,
                json!({"email": "ada.l@example.com"}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let mail = app
            .wait_for_email("ada.l@example.com", "Confirm your new")
            .await;
        let token = watchword_testkit::mail::link_token(&mail.text).unwrap();
        let statuses = burst(
            &app,
            8,
            "/api/v1/me/email/confirm",
            None,
            json!({"token": token}),
        )
        .await;
        assert_eq!(tally(&statuses, 200), 1, "{statuses:?}");
        assert_eq!(tally(&statuses, 422), 7, "{statuses:?}");
    }
);

both_backends!(
    a_person_creates_ten_accounts_a_day,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let calls = (0..14).map(|i| {
            app.post(
                "/api/v1/accounts",
                &ada.token,
                json!({"name": format!("Acme {i}")}),
            )
        });
        let statuses: Vec<u16> = join_all(calls)
            .await
            .into_iter()
            .map(|(s, _)| s.as_u16())
            .collect();
        assert_eq!(tally(&statuses, 201), 10, "{statuses:?}");
        assert_eq!(tally(&statuses, 429), 4, "{statuses:?}");
        let (_, v) = app.get("/api/v1/accounts", &ada.token).await;
        assert_eq!(v.as_array().unwrap().len(), 11);
    }
);
