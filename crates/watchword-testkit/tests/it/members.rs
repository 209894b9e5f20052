//! Invitations, roles, least privilege, tenant isolation, deactivation and ownership, on SQLite
//! and PostgreSQL.

use reqwest::{Method, StatusCode};
use serde_json::json;
use watchword_testkit::{PASSWORD, TestApp, both_backends, code};

both_backends!(
    invitation_by_email_creates_the_person_and_a_membership,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let (s, inv) = app.invite(&ada, "Grace@Example.com", "analyst").await;
        assert_eq!(s, StatusCode::CREATED, "{inv}");
        assert_eq!(
            (inv["status"].as_str(), inv["role"]["key"].as_str()),
            (Some("invited"), Some("analyst"))
        );
        let (_, pending) = app
            .get(
                &format!("/api/v1/accounts/{}/invitations", ada.account),
                &ada.token,
            )
            .await;
        assert_eq!(pending.as_array().unwrap().len(), 1);
        let mail = app.wait_for_email("grace@example.com", "invited you").await;
        assert!(
            mail.text.contains("Acme") && mail.text.contains("Analyst"),
            "{}",
            mail.text
        );
        assert!(mail.html.contains("Acme"));
        let token = watchword_testkit::mail::link_token(&mail.text).unwrap();
        // A new person must choose an acceptable password.
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/invitations/accept",
                None,
                Some(json!({"token": token, "name": "Grace Hopper", "password": "short"})),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "password_policy")
        );
        let (s, v) = app.call(Method::POST, "/api/v1/invitations/accept", None, Some(json!({"token": token, "name": "Grace Hopper", "password": PASSWORD, "session_mode": "token"}))).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let grace = v["session_token"].as_str().unwrap().to_owned();
        let (_, who) = app.whoami(&grace).await;
        assert_eq!(who["accounts"][0]["role"]["key"], "analyst");
        // Single use.
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/invitations/accept",
                None,
                Some(json!({"token": token, "name": "Mallory", "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invitation_invalid")
        );
        let (_, members) = app
            .get(
                &format!("/api/v1/accounts/{}/members", ada.account),
                &ada.token,
            )
            .await;
        let statuses: Vec<_> = members
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["email"].as_str().unwrap(), m["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            statuses,
            vec![
                ("ada@example.com", "active"),
                ("grace@example.com", "active")
            ]
        );
        let a = app.audit_actions(&ada.token, &ada.account).await;
        assert!(
            a.contains(&"member.invited".into()) && a.contains(&"invitation.accepted".into()),
            "{a:?}"
        );
        // Inviting the same address again is a conflict.
        let (s, v) = app.invite(&ada, "grace@example.com", "support").await;
        assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "already_member"));
    }
);

both_backends!(
    an_existing_person_joins_a_second_account_and_logs_in_as_usual,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let bob = app
            .signup("Bobs Agency", "Bob Builder", "bob@example.com")
            .await;
        let (s, _) = app.invite(&ada, "bob@example.com", "manager").await;
        assert_eq!(s, StatusCode::CREATED);
        let token = app.invitation_token("bob@example.com").await;
        // Bob accepts signed in as himself (the link alone is refused: the hardening module).
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/invitations/accept",
                Some(&bob.token),
                Some(json!({"token": token})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["login_required"], true);
        assert!(v.get("session_token").is_none());
        let (_, who) = app.whoami(&bob.token).await;
        let mut roles: Vec<_> = who["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["role"]["key"].as_str().unwrap().to_owned())
            .collect();
        roles.sort();
        assert_eq!(roles, vec!["manager", "owner"]);
    }
);

both_backends!(
    nobody_grants_what_they_do_not_hold,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let admin = app
            .invite_and_accept(&ada, "admin@example.com", "admin")
            .await;
        let manager = app
            .invite_and_accept(&ada, "manager@example.com", "manager")
            .await;
        let invites = format!("/api/v1/accounts/{}/invitations", ada.account);
        // A Manager lacks users:manage.
        let (s, v) = app
            .post(
                &invites,
                &manager.token,
                json!({"email": "x@example.com", "role": "analyst"}),
            )
            .await;
        assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "forbidden"));
        // Nobody invites an Owner.
        let (s, v) = app
            .post(
                &invites,
                &ada.token,
                json!({"email": "x@example.com", "role": "owner"}),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "owner_not_assignable")
        );
        let (s, v) = app
            .post(
                &invites,
                &ada.token,
                json!({"email": "x@example.com", "role": "superuser"}),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "unknown_role")
        );
        // An Admin lacks billing:manage, so cannot create a role carrying it…
        let roles = format!("/api/v1/accounts/{}/roles", ada.account);
        let (s, v) = app
            .post(
                &roles,
                &admin.token,
                json!({"name": "Billing", "permissions": ["billing:manage"]}),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "privilege_escalation")
        );
        // …while the Owner can, and then the Admin cannot hand that role out.
        let (s, billing) = app
            .post(
                &roles,
                &ada.token,
                json!({"name": "Billing", "permissions": ["billing:manage", "users:read"]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{billing}");
        let billing_key = billing["key"].as_str().unwrap();
        let (s, v) = app
            .post(
                &invites,
                &admin.token,
                json!({"email": "y@example.com", "role": billing_key}),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "privilege_escalation")
        );
        let member = format!(
            "/api/v1/accounts/{}/members/{}",
            ada.account, manager.membership
        );
        let (s, v) = app
            .call(
                Method::PATCH,
                &member,
                Some(&admin.token),
                Some(json!({"role": billing_key})),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "privilege_escalation")
        );
        // An Admin cannot touch the Owner, and nobody changes their own role.
        let owner = format!(
            "/api/v1/accounts/{}/members/{}",
            ada.account, ada.membership
        );
        let (s, v) = app
            .call(
                Method::PATCH,
                &owner,
                Some(&admin.token),
                Some(json!({"role": "analyst"})),
            )
            .await;
        assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "owner_protected"));
        let (s, v) = app
            .post(&format!("{owner}/deactivate"), &admin.token, json!({}))
            .await;
        assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "owner_protected"));
        let own = format!(
            "/api/v1/accounts/{}/members/{}",
            ada.account, admin.membership
        );
        let (s, v) = app
            .call(
                Method::PATCH,
                &own,
                Some(&admin.token),
                Some(json!({"role": "owner"})),
            )
            .await;
        assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "cannot_modify_self"));
        // A custom role inside the Admin's permissions works end to end.
        let (s, reader) = app
            .post(
                &roles,
                &admin.token,
                json!({"name": "Auditor", "permissions": ["audit_log:read", "users:read"]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, v) = app
            .call(
                Method::PATCH,
                &member,
                Some(&admin.token),
                Some(json!({"role": reader["key"]})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["role"]["name"], "Auditor");
        let (s, _) = app
            .get(
                &format!("/api/v1/accounts/{}/audit-events", ada.account),
                &manager.token,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "the Auditor role grants audit_log:read");
        let (s, v) = app
            .post(
                &roles,
                &ada.token,
                json!({"name": "Odd", "permissions": ["users:fly"]}),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "unknown_permission")
        );
        let (s, v) = app
            .post(
                &roles,
                &ada.token,
                json!({"name": "admin", "permissions": ["users:read"]}),
            )
            .await;
        assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "role_name_taken"));
        let (_, list) = app.get(&roles, &ada.token).await;
        assert_eq!(list.as_array().unwrap().len(), 7);
        let a = app.audit_actions(&ada.token, &ada.account).await;
        assert!(
            a.contains(&"role.created".into()) && a.contains(&"member.role_changed".into()),
            "{a:?}"
        );
    }
);

both_backends!(
    another_accounts_resources_are_indistinguishable_from_missing_ones,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let eve = app.signup("Evil", "Eve Example", "eve@example.com").await;
        let other = app
            .invite_and_accept(&ada, "grace@example.com", "analyst")
            .await;
        let missing = "01a20000-0000-7000-8000-000000000000";
        for account in [ada.account.as_str(), missing] {
            let (s1, v1) = app
                .get(&format!("/api/v1/accounts/{account}"), &eve.token)
                .await;
            let (s2, v2) = app
                .get(&format!("/api/v1/accounts/{account}/members"), &eve.token)
                .await;
            let (s3, v3) = app
                .post(
                    &format!("/api/v1/accounts/{account}/invitations"),
                    &eve.token,
                    json!({"email": "m@example.com", "role": "admin"}),
                )
                .await;
            let (s4, v4) = app
                .get(
                    &format!("/api/v1/accounts/{account}/audit-events"),
                    &eve.token,
                )
                .await;
            for (s, v) in [(s1, v1), (s2, v2), (s3, v3), (s4, v4)] {
                assert_eq!(
                    (s, code(&v)),
                    (StatusCode::NOT_FOUND, "not_found"),
                    "{account}"
                );
            }
        }
        // A member id of account A addressed through account B (where Eve is Owner) is missing too.
        let path = format!(
            "/api/v1/accounts/{}/members/{}",
            eve.account, other.membership
        );
        let (s, v) = app
            .call(
                Method::PATCH,
                &path,
                Some(&eve.token),
                Some(json!({"role": "admin"})),
            )
            .await;
        assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
        let (s, _) = app
            .call(Method::DELETE, &path, Some(&eve.token), None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, who) = app.whoami(&other.token).await;
        assert_eq!(who["accounts"][0]["role"]["key"], "analyst", "unchanged");
    }
);

both_backends!(
    deactivating_or_removing_a_member_ends_their_access_at_once,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let grace = app
            .invite_and_accept(&ada, "grace@example.com", "manager")
            .await;
        let account = format!("/api/v1/accounts/{}", ada.account);
        assert_eq!(app.get(&account, &grace.token).await.0, StatusCode::OK);
        let member = format!("{account}/members/{}", grace.membership);
        let (s, v) = app
            .post(&format!("{member}/deactivate"), &ada.token, json!({}))
            .await;
        assert_eq!(
            (s, v["status"].as_str()),
            (StatusCode::OK, Some("deactivated"))
        );
        assert_eq!(
            app.get(&account, &grace.token).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.get(&format!("{account}/members"), &grace.token).await.0,
            StatusCode::NOT_FOUND
        );
        let (_, who) = app.whoami(&grace.token).await;
        assert_eq!(who["accounts"].as_array().unwrap().len(), 0);
        let (s, v) = app
            .post(&format!("{member}/deactivate"), &ada.token, json!({}))
            .await;
        assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "invalid_state"));
        let (s, _) = app
            .post(&format!("{member}/reactivate"), &ada.token, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(app.get(&account, &grace.token).await.0, StatusCode::OK);
        let (s, _) = app
            .call(Method::DELETE, &member, Some(&ada.token), None)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(
            app.get(&account, &grace.token).await.0,
            StatusCode::NOT_FOUND
        );
        let (_, members) = app.get(&format!("{account}/members"), &ada.token).await;
        assert_eq!(members.as_array().unwrap().len(), 1);
        let a = app.audit_actions(&ada.token, &ada.account).await;
        for x in ["member.deactivated", "member.reactivated", "member.removed"] {
            assert!(a.contains(&x.to_string()), "{x}: {a:?}");
        }
    }
);

both_backends!(
    ownership_moves_to_an_active_member_and_there_is_exactly_one_owner,
    |app: TestApp| async move {
        let (ada, grace) = app.ada_and_grace().await;
        let lin = app
            .invite_and_accept(&ada, "lin@example.com", "analyst")
            .await;
        let (s, v) = app.transfer_ownership(&grace, &lin.membership).await;
        assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "owner_only"));
        app.set_member_active(&ada, &lin.membership, false).await;
        let (s, v) = app.transfer_ownership(&ada, &lin.membership).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "member_not_active")
        );
        let (s, v) = app.transfer_ownership(&ada, &grace.membership).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["role"]["key"], "owner");
        let (_, members) = app
            .get(
                &format!("/api/v1/accounts/{}/members", ada.account),
                &grace.token,
            )
            .await;
        let owners: Vec<_> = members
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"]["key"] == "owner")
            .map(|m| m["email"].clone())
            .collect();
        assert_eq!(owners, vec![json!("grace@example.com")]);
        let (_, who) = app.whoami(&ada.token).await;
        assert_eq!(who["accounts"][0]["role"]["key"], "admin");
        assert!(
            app.audit_actions(&grace.token, &grace.account)
                .await
                .contains(&"ownership.transferred".into())
        );
    }
);

/// An invitation link stops working when its lifetime ends (here: at once).
async fn expired_invitation(backend: watchword_testkit::Backend) {
    let Some(app) = TestApp::spawn_with(backend, |c| c.invitation_ttl_secs = 0).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    let (s, _) = app.invite(&ada, "grace@example.com", "analyst").await;
    assert_eq!(s, StatusCode::CREATED);
    let token = app.invitation_token("grace@example.com").await;
    let body = json!({"token": token, "name": "Grace Hopper", "password": PASSWORD});
    let (s, v) = app
        .call(Method::POST, "/api/v1/invitations/accept", None, Some(body))
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invitation_invalid")
    );
    assert_eq!(
        app.login("grace@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED,
        "no person was created"
    );
}

watchword_testkit::on_both_backends!(an_expired_invitation_is_refused, expired_invitation);
