//! The one session gate, verified signup and invitations.

use super::*;

both_backends!(
    signup_with_an_existing_email_and_password_opens_no_session,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        app.enrol_totp(&ada).await;
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
        let (s, v) = app.whoami(&victim.token).await;
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
        app.enrol_totp(&bob).await;
        let (s, v) = app.invite(&ada, "bob@example.com", "admin").await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        // Nothing about Bob shows before he accepts: no person, name or last login.
        assert!(
            v["person_id"].is_null() && v["name"].is_null() && v["last_login_at"].is_null(),
            "{v}"
        );
        let invited = app.member(&ada, "bob@example.com").await;
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
    every_way_to_a_session_asks_a_person_with_a_second_factor_for_it,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let bob = app.signup("Bobs", "Bob Builder", "bob@example.com").await;
        app.enrol_totp(&bob).await;
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
        app.invite(&ada, "bob@example.com", "analyst").await;
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
