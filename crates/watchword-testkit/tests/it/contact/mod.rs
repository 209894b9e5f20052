//! The Security Contact (seed 002), on SQLite and PostgreSQL: default Owner, who sees it,
//! eligibility reasons, changes and their two emails, re-authentication, ownership transfer,
//! immediate and periodic reverts, lapse warnings, concurrent schedulers.

mod changes;

use reqwest::{Method, StatusCode};
use serde_json::json;
use watchword_domain::Millis;
use watchword_testkit::{Backend, Login, TestApp, both_backends, code};

fn contact_path(l: &Login) -> String {
    format!("/api/v1/accounts/{}/security-contact", l.account)
}

/// Checks who the account's Security Contact is and how they came to be it.
async fn assert_contact(app: &TestApp, by: &Login, email: &str, source: &str) {
    let v = app.security_contact(by).await;
    let got = (v["email"].as_str(), v["source"].as_str());
    assert_eq!(got, (Some(email), Some(source)), "{v}");
}

fn contact_mails(app: &TestApp) -> Vec<watchword_testkit::mail::Email> {
    app.emails()
        .into_iter()
        .filter(|m| m.subject.contains("Security Contact of"))
        .collect()
}

/// Waits until `n` contact-change emails were delivered in all, then returns them.
async fn wait_contact_mails(app: &TestApp, n: usize) -> Vec<watchword_testkit::mail::Email> {
    for _ in 0..200 {
        let got = contact_mails(app);
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!(
        "expected {n} contact emails, got {:?}",
        contact_mails(app).iter().map(|m| &m.to).collect::<Vec<_>>()
    );
}

both_backends!(
    every_account_starts_with_its_owner_as_default_contact,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let v = app.security_contact(&ada).await;
        assert_eq!(v["member_id"], ada.membership.as_str());
        assert_eq!(
            (v["email"].as_str(), v["source"].as_str()),
            (Some("ada@example.com"), Some("default"))
        );
        assert!(v["since"].is_string() && v["set_by"].is_null());
        assert_eq!(v["lapse_warning"], false);
    }
);

both_backends!(
    only_owners_and_admins_see_the_contact,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let admin = app
            .invite_and_accept(&ada, "admin@example.com", "admin")
            .await;
        assert_eq!(
            app.get(&contact_path(&admin), &admin.token).await.0,
            StatusCode::OK
        );
        let roles = app
            .post(
                &format!("/api/v1/accounts/{}/roles", ada.account),
                &ada.token,
                json!({"name": "Settings editor", "permissions": ["account_settings:edit"]}),
            )
            .await
            .1;
        let editor = app
            .invite_and_accept(&ada, "editor@example.com", roles["key"].as_str().unwrap())
            .await;
        for role in ["manager", "analyst", "support"] {
            let m = app
                .invite_and_accept(&ada, &format!("{role}@example.com"), role)
                .await;
            for suffix in ["", "/candidates?q=a", "/history"] {
                let (s, v) = app
                    .get(&format!("{}{suffix}", contact_path(&m)), &m.token)
                    .await;
                assert_eq!(
                    (s, code(&v)),
                    (StatusCode::NOT_FOUND, "not_found"),
                    "{role} {suffix}"
                );
            }
            let (s, _) = app.put_security_contact(&m, &m.membership).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{role}");
        }
        // A custom role may be eligible as contact, yet it is not Owner or Admin: it does not see the field.
        assert_eq!(
            app.get(&contact_path(&editor), &editor.token).await.0,
            StatusCode::NOT_FOUND
        );
    }
);

both_backends!(
    each_ineligibility_has_its_reason,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let analyst = app
            .invite_and_accept(&ada, "analyst@example.com", "analyst")
            .await;
        let gone = app
            .invite_and_accept(&ada, "gone@example.com", "admin")
            .await;
        let stale = app
            .invite_and_accept(&ada, "stale@example.com", "admin")
            .await;
        let staff = app
            .signup("Operator", "Sam Staff", "sam@operator.example")
            .await;
        let roles = app.post(&format!("/api/v1/accounts/{}/roles", ada.account), &ada.token, json!({"name": "Settings editor", "permissions": ["account_settings:edit", "users:read"]})).await.1;
        let editor = app
            .invite_and_accept(&ada, "editor@example.com", roles["key"].as_str().unwrap())
            .await;
        app.set_member_active(&ada, &gone.membership, false).await;
        app.set_last_login_days_ago("stale@example.com", 366).await;
        let account = watchword_domain::AccountId::parse(&ada.account).unwrap();
        let staff_member = app
            .app()
            .grant_staff(account, "sam@operator.example", None)
            .await
            .unwrap()
            .to_string();
        let _ = staff;
        let cases = [
            (analyst.membership.as_str(), vec!["not_privileged"]),
            (gone.membership.as_str(), vec!["inactive"]),
            (stale.membership.as_str(), vec!["no_recent_login"]),
            (staff_member.as_str(), vec!["blocked_staff_role"]),
        ];
        for (member, want) in cases {
            let (s, v) = app.put_security_contact(&ada, member).await;
            assert_eq!(
                (s, code(&v)),
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "ineligible_security_contact"
                ),
                "{v}"
            );
            let got: Vec<&str> = v["error"]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["code"].as_str().unwrap())
                .collect();
            assert_eq!(got, want);
        }
        assert_eq!(
            app.security_contact(&ada).await["source"],
            "default",
            "nothing changed"
        );
        let (s, v) = app.put_security_contact(&ada, &editor.membership).await;
        assert_eq!(
            s,
            StatusCode::OK,
            "account_settings:edit makes a custom role eligible: {v}"
        );
        // Candidates: eligible first, the rest with reasons; prefix search on name or email.
        let (_, all) = app
            .get(&format!("{}/candidates?q=", contact_path(&ada)), &ada.token)
            .await;
        let list = all.as_array().unwrap();
        let first_ineligible = list.iter().position(|c| c["eligible"] == false).unwrap();
        assert!(
            list[..first_ineligible]
                .iter()
                .all(|c| c["eligible"] == true)
        );
        assert!(
            list[first_ineligible..]
                .iter()
                .all(|c| c["eligible"] == false && !c["reasons"].as_array().unwrap().is_empty())
        );
        let (_, st) = app
            .get(
                &format!("{}/candidates?q=STAL", contact_path(&ada)),
                &ada.token,
            )
            .await;
        let emails: Vec<_> = st
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["email"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(emails, vec!["stale@example.com"]);
        let (_, by_name) = app
            .get(
                &format!("{}/candidates?q=sam", contact_path(&ada)),
                &ada.token,
            )
            .await;
        assert_eq!(by_name[0]["reasons"][0]["code"], "blocked_staff_role");
        // Staff are marked as such for Owners and Admins, with their grant.
        let sam = app.member(&ada, "sam@operator.example").await;
        assert_eq!(
            (sam["staff"].as_bool(), sam["role"]["key"].as_str()),
            (Some(true), Some("staff_access"))
        );
    }
);

async fn both_emails_over_smtp(backend: Backend) {
    let Some(app) = TestApp::spawn_with_smtp(backend).await else {
        return;
    };
    let (ada, grace) = app.ada_and_grace().await;
    let (s, v) = app.put_security_contact(&ada, &grace.membership).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["email"].as_str(), v["source"].as_str()),
        (Some("grace@example.com"), Some("manual"))
    );
    assert_eq!(v["set_by"], ada.person.as_str());
    let mails = wait_contact_mails(&app, 2).await;
    let mut to: Vec<_> = mails.iter().map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, vec!["ada@example.com", "grace@example.com"]);
    for m in &mails {
        for needle in [
            "Acme",
            "Ada Lovelace",
            "grace@example.com",
            "/settings/security",
        ] {
            assert!(m.text.contains(needle), "{needle} missing: {}", m.text);
        }
        assert!(
            !m.text.contains("token=") && !m.html.contains("token="),
            "no credentials in links"
        );
        assert!(m.html.contains("Acme"));
    }
    // The audit event and the history say who, what and from whom.
    let events = app
        .audit_events(&ada, "action=security_contact.changed")
        .await;
    let d = &events["events"][0]["details"];
    assert_eq!(
        (d["previous"]["email"].as_str(), d["new"]["email"].as_str()),
        (Some("ada@example.com"), Some("grace@example.com"))
    );
    assert!(d["actor"].as_str().unwrap().contains("ada@example.com"));
    let (_, history) = app
        .get(&format!("{}/history", contact_path(&ada)), &ada.token)
        .await;
    assert_eq!(history.as_array().unwrap().len(), 1);
    // Saving the same pick again changes nothing and sends nothing.
    let (s, _) = app.put_security_contact(&ada, &grace.membership).await;
    assert_eq!(s, StatusCode::OK);
    app.wait_outbox_empty().await;
    assert_eq!(contact_mails(&app).len(), 2);
}

watchword_testkit::on_both_backends!(
    a_change_emails_previous_and_new_contact_over_smtp,
    both_emails_over_smtp
);

both_backends!(same_person_gets_one_email, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    // Picking the default Owner makes the pick manual: a change, but one person.
    let (s, v) = app.put_security_contact(&ada, &ada.membership).await;
    assert_eq!((s, v["source"].as_str()), (StatusCode::OK, Some("manual")));
    let mails = wait_contact_mails(&app, 1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "ada@example.com");
});

both_backends!(
    changing_the_contact_needs_a_recent_authentication,
    |app: TestApp| async move {
        let (ada, grace) = app.ada_and_grace().await;
        let old = Millis::now().minus_secs(16 * 60).0.to_string();
        app.sql(
            "UPDATE sessions SET authenticated_at = CAST($1 AS BIGINT)",
            &[&old],
        )
        .await;
        let (s, v) = app.put_security_contact(&ada, &grace.membership).await;
        let (s, v) = if s == StatusCode::OK {
            panic!("changed with a stale authentication: {v}")
        } else {
            (s, v)
        };
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "reauthentication_required")
        );
        let (s, v) = app
            .post(
                "/api/v1/me/reauthenticate",
                &ada.token,
                json!({"password": "wrong-Password-1!"}),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
        let s = app.reauthenticate(&ada.token).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = app.put_security_contact(&ada, &grace.membership).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
);
