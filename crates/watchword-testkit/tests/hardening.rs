//! Attacks on sign-in and its limits, on SQLite and PostgreSQL: signup never opens a session
//! for an existing person (so never past their second factor), an emailed link proves every new
//! address, invitations bind only the invited login signed in and show nothing about a person
//! before they accept, and every limit holds its exact ceiling under 40 parallel requests.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::{Login, PASSWORD, TestApp, both_backends};

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

/// Counts rows of a query on the server's database (`SELECT COUNT(*) AS n …`).
async fn count(app: &TestApp, sql: &str, binds: &[&str]) -> i64 {
    use sqlx::Row;
    let mut c = app.app().store().read().await.unwrap();
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_one(&mut *c).await.unwrap().get::<i64, _>("n")
}

/// Statuses of `n` copies of one request sent at once.
async fn burst(app: &TestApp, n: usize, path: &str, token: Option<&str>, body: Value) -> Vec<u16> {
    let calls = (0..n).map(|_| app.call(Method::POST, path, token, Some(body.clone())));
    join_all(calls)
        .await
        .into_iter()
        .map(|(s, _)| s.as_u16())
        .collect()
}

fn tally(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// Enrols an authenticator app for `who`, with the current code from Debian's oathtool.
async fn enrol_totp(app: &TestApp, who: &Login) {
    let (s, v) = app
        .post("/api/v1/me/mfa/totp", &who.token, json!({"name": "Phone"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let out = std::process::Command::new("oathtool")
        .args(["--totp", "-b", v["secret"].as_str().unwrap()])
        .output()
        .expect("oathtool runs (apt-get install oathtool)");
    let code = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (s, v) = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            &who.token,
            json!({"code": code}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

both_backends!(
    signup_with_an_existing_email_and_password_opens_no_session,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        enrol_totp(&app, &ada).await;
        app.wait_outbox_empty().await;
        let before = app.emails().len();
        let body = json!({"account_name": "Mine now", "name": "Eve", "email": "ada@example.com", "password": PASSWORD, "session_mode": "token"});
        let res = app
            .client
            .post(app.url("/api/v1/signup"))
            .json(&json!({"account_name": "Mine now", "name": "Eve", "email": "ada@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        assert!(res.headers().get("set-cookie").is_none());
        let v: Value = res.json().await.unwrap();
        assert_eq!(v, json!({"status": "verification_sent"}));
        // The old request shape (with a session mode) is refused outright.
        let (s, _) = app
            .call(Method::POST, "/api/v1/signup", None, Some(body))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        // Ada is told, with no link; no account was made.
        let note = app
            .wait_for_email("ada@example.com", "already have a watchword login")
            .await;
        assert!(!note.text.contains("token="), "{}", note.text);
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM accounts", &[]).await,
            1
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM signup_requests WHERE used_at IS NULL",
                &[]
            )
            .await,
            0
        );
        assert_eq!(
            app.emails().len() - before,
            1,
            "one email, the note: {:?}",
            app.emails().iter().map(|m| &m.subject).collect::<Vec<_>>()
        );
        // Sessions: only the one from Ada's own signup.
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM sessions", &[]).await,
            1
        );
    }
);

both_backends!(
    a_signup_link_creates_the_account_once,
    |app: TestApp| async move {
        let token = app
            .request_signup("Acme", "Ada Lovelace", "ada@example.com")
            .await;
        // Nothing exists before the link is followed.
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM persons", &[]).await,
            0
        );
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM accounts", &[]).await,
            0
        );
        let confirm = json!({"token": token, "session_mode": "token"});
        let statuses = burst(&app, 8, "/api/v1/signup/confirm", None, confirm).await;
        assert_eq!(tally(&statuses, 201), 1, "{statuses:?}");
        assert_eq!(tally(&statuses, 422), 7, "{statuses:?}");
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM persons", &[]).await,
            1
        );
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM accounts", &[]).await,
            1
        );
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/signup/confirm",
                None,
                Some(json!({"token": "forged"})),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_signup_token")
        );
        // The password chosen at signup logs in.
        let (s, v) = app.login("ada@example.com", PASSWORD).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["session_token"].is_string());
        // A further account comes from the signed-in person, not from signup.
        let ada = Login {
            token: v["session_token"].as_str().unwrap().to_owned(),
            account: String::new(),
            person: String::new(),
            membership: String::new(),
            email: "ada@example.com".into(),
        };
        let second = app.create_account(&ada, "Acme Labs").await;
        let (s, v) = app.get("/api/v1/accounts", &ada.token).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
        let (s, v) = app
            .get(
                &format!("/api/v1/accounts/{}/security-contact", second.account),
                &ada.token,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
);

both_backends!(
    a_pending_signup_cannot_take_an_invitation,
    |app: TestApp| async move {
        let corp = app.signup("Corp", "Cora Owner", "cora@corp.example").await;
        // Eve asks for a signup with the victim's address: the link goes to the victim only.
        let body = json!({"account_name": "Evil", "name": "Eve", "email": "victim@corp.example", "password": "another-Lantern-99-orbit!"});
        let (s, _) = app
            .call(Method::POST, "/api/v1/signup", None, Some(body))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let eves_link = app
            .wait_for_email("victim@corp.example", "Confirm your email")
            .await;
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) AS n FROM persons WHERE email = 'victim@corp.example'",
                &[]
            )
            .await,
            0
        );
        // Corp invites the victim, who accepts as a new person with their own password.
        let victim = app
            .invite_and_accept(&corp, "victim@corp.example", "analyst")
            .await;
        let (s, v) = app.get("/api/v1/whoami", &victim.token).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["person"]["email"], "victim@corp.example");
        // Eve's pending link no longer makes anything.
        let token = watchword_testkit::mail::link_token(&eves_link.text).unwrap();
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/signup/confirm",
                None,
                Some(json!({"token": token})),
            )
            .await;
        assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "email_unavailable"));
        assert_eq!(
            count(&app, "SELECT COUNT(*) AS n FROM accounts", &[]).await,
            1
        );
    }
);

both_backends!(
    an_invitation_to_a_login_is_accepted_only_by_that_login_signed_in,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let bob = app.signup("Bobs", "Bob Builder", "bob@example.com").await;
        let eve = app.signup("Evil", "Eve Example", "eve@example.com").await;
        enrol_totp(&app, &bob).await;
        let (s, v) = app
            .post(
                &format!("/api/v1/accounts/{}/invitations", ada.account),
                &ada.token,
                json!({"email": "bob@example.com", "role": "admin"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        // Nothing about Bob shows before he accepts: no person, name or last login.
        assert!(
            v["person_id"].is_null() && v["name"].is_null() && v["last_login_at"].is_null(),
            "{v}"
        );
        let (_, members) = app
            .get(
                &format!("/api/v1/accounts/{}/members", ada.account),
                &ada.token,
            )
            .await;
        let invited = members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == "bob@example.com")
            .unwrap()
            .clone();
        assert!(
            invited["person_id"].is_null()
                && invited["name"].is_null()
                && invited["last_login_at"].is_null(),
            "{invited}"
        );
        let (_, review) = app
            .get(
                &format!("/api/v1/accounts/{}/access-review", ada.account),
                &ada.token,
            )
            .await;
        assert!(!review.to_string().contains("Bob Builder"), "{review}");
        let (_, cands) = app
            .get(
                &format!(
                    "/api/v1/accounts/{}/security-contact/candidates?q=bob",
                    ada.account
                ),
                &ada.token,
            )
            .await;
        assert!(!cands.to_string().contains("Bob Builder"), "{cands}");

        let token = app.invitation_token("bob@example.com").await;
        let accept = json!({"token": token});
        // The link alone does not join Bob's login.
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/invitations/accept",
                None,
                Some(accept.clone()),
            )
            .await;
        assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "login_required"));
        // Another login cannot take it.
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/invitations/accept",
                Some(&eve.token),
                Some(accept.clone()),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "invitation_for_another_login")
        );
        // Bob, signed in (past his second factor), accepts.
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/invitations/accept",
                Some(&bob.token),
                Some(accept.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["person_id"], bob.person.as_str());
        assert!(v.get("session_token").is_none(), "no new session: {v}");
        let (s, _) = app
            .get(&format!("/api/v1/accounts/{}", ada.account), &bob.token)
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app
            .get(&format!("/api/v1/accounts/{}", ada.account), &eve.token)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
);

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
        enrol_totp(&app, &ada).await;
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
        let (s, _) = app
            .call(
                Method::POST,
                "/api/v1/password-reset",
                None,
                Some(json!({"email": "ada@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let link = app.wait_for_email("ada@example.com", "Reset").await;
        let token = watchword_testkit::mail::link_token(&link.text).unwrap();
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
        let csv = app
            .client
            .get(app.url(&format!(
                "/api/v1/accounts/{}/audit-events?format=csv",
                ada.account
            )))
            .bearer_auth(&ada.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(csv.contains("'=HYPERLINK"), "{csv}");
        assert!(
            !csv.contains(",=HYPERLINK") && !csv.contains(",\"=HYPERLINK"),
            "{csv}"
        );
        // Every answer that carries a credential, and authenticated pages, say no-store.
        let res = app
            .client
            .post(app.url("/api/v1/login"))
            .json(&json!({"email": "ada@example.com", "password": PASSWORD, "session_mode": "cookie"}))
            .send()
            .await
            .unwrap();
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
            .get(app.url("/app"))
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

both_backends!(
    every_way_to_a_session_asks_a_person_with_a_second_factor_for_it,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let bob = app.signup("Bobs", "Bob Builder", "bob@example.com").await;
        enrol_totp(&app, &bob).await;
        const SESSIONS: &str = "SELECT COUNT(*) AS n FROM sessions WHERE person_id = $1";
        let before = count(&app, SESSIONS, &[&bob.person]).await;
        // Password login: a challenge, no session.
        let (s, v) = app.login("bob@example.com", PASSWORD).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            v["mfa_required"] == true && v.get("session_token").is_none(),
            "{v}"
        );
        // The challenge without a right code: no session.
        let body = json!({"challenge_id": v["challenge_id"], "method": "totp", "code": "000000"});
        let (s, _) = app
            .call(Method::POST, "/api/v1/login/mfa", None, Some(body))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // Signup with his email and password: 202, no session.
        let body = json!({"account_name": "X", "name": "Bob", "email": "bob@example.com", "password": PASSWORD});
        let (s, v) = app
            .call(Method::POST, "/api/v1/signup", None, Some(body))
            .await;
        assert_eq!(
            (s, v),
            (StatusCode::ACCEPTED, json!({"status": "verification_sent"}))
        );
        // An invitation link alone: refused.
        app.post(
            &format!("/api/v1/accounts/{}/invitations", ada.account),
            &ada.token,
            json!({"email": "bob@example.com", "role": "analyst"}),
        )
        .await;
        let token = app.invitation_token("bob@example.com").await;
        let body =
            json!({"token": token, "name": "Bob", "password": PASSWORD, "session_mode": "token"});
        let (s, v) = app
            .call(Method::POST, "/api/v1/invitations/accept", None, Some(body))
            .await;
        assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "login_required"));
        // A passwordless passkey answer that is not one: no session.
        let (s, o) = app
            .call(
                Method::POST,
                "/api/v1/login/passkey/options",
                None,
                Some(json!({})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{o}");
        let body = json!({"ceremony_id": o["ceremony_id"], "credential": {"id": "x", "rawId": "x", "type": "public-key", "response": {}}});
        let (s, _) = app
            .call(Method::POST, "/api/v1/login/passkey", None, Some(body))
            .await;
        assert!(s.is_client_error());
        assert_eq!(
            count(&app, SESSIONS, &[&bob.person]).await,
            before,
            "no way opened a session for Bob without his second factor"
        );
    }
);

both_backends!(
    emailed_links_work_once_under_parallel_use,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        // A password reset link, eight times at once.
        let (s, _) = app
            .call(
                Method::POST,
                "/api/v1/password-reset",
                None,
                Some(json!({"email": "ada@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let mail = app.wait_for_email("ada@example.com", "Reset").await;
        let token = watchword_testkit::mail::link_token(&mail.text).unwrap();
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
