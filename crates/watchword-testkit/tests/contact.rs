//! The Security Contact (seed 002), on SQLite and PostgreSQL: default Owner, who sees it,
//! eligibility reasons, changes and their two emails, re-authentication, ownership transfer,
//! immediate and periodic reverts, lapse warnings, concurrent schedulers.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_domain::Millis;
use watchword_testkit::{Backend, Login, PASSWORD, TestApp, both_backends};

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

fn contact_path(l: &Login) -> String {
    format!("/api/v1/accounts/{}/security-contact", l.account)
}

async fn contact(app: &TestApp, by: &Login) -> Value {
    let (s, v) = app.get(&contact_path(by), &by.token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn set_role(app: &TestApp, member: &str, by: &Login, role: &str) -> (StatusCode, Value) {
    app.call(
        Method::PATCH,
        member,
        Some(&by.token),
        Some(json!({ "role": role })),
    )
    .await
}

async fn put_contact(app: &TestApp, by: &Login, member: &str) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        &contact_path(by),
        Some(&by.token),
        Some(json!({"member_id": member})),
    )
    .await
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
        let v = contact(&app, &ada).await;
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
            let (s, _) = put_contact(&app, &m, &m.membership).await;
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
        app.post(
            &format!(
                "/api/v1/accounts/{}/members/{}/deactivate",
                ada.account, gone.membership
            ),
            &ada.token,
            json!({}),
        )
        .await;
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
            let (s, v) = put_contact(&app, &ada, member).await;
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
            contact(&app, &ada).await["source"],
            "default",
            "nothing changed"
        );
        let (s, v) = put_contact(&app, &ada, &editor.membership).await;
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
        let (_, members) = app
            .get(
                &format!("/api/v1/accounts/{}/members", ada.account),
                &ada.token,
            )
            .await;
        let sam = members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == "sam@operator.example")
            .unwrap()
            .clone();
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
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    let grace = app
        .invite_and_accept(&ada, "grace@example.com", "admin")
        .await;
    let (s, v) = put_contact(&app, &ada, &grace.membership).await;
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
    let (_, events) = app
        .get(
            &format!(
                "/api/v1/accounts/{}/audit-events?action=security_contact.changed",
                ada.account
            ),
            &ada.token,
        )
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
    let (s, _) = put_contact(&app, &ada, &grace.membership).await;
    assert_eq!(s, StatusCode::OK);
    app.wait_outbox_empty().await;
    assert_eq!(contact_mails(&app).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_emails_previous_and_new_contact_over_smtp_sqlite() {
    both_emails_over_smtp(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_emails_previous_and_new_contact_over_smtp_postgres() {
    both_emails_over_smtp(Backend::Postgres).await
}

both_backends!(same_person_gets_one_email, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    // Picking the default Owner makes the pick manual: a change, but one person.
    let (s, v) = put_contact(&app, &ada, &ada.membership).await;
    assert_eq!((s, v["source"].as_str()), (StatusCode::OK, Some("manual")));
    let mails = wait_contact_mails(&app, 1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "ada@example.com");
});

both_backends!(
    changing_the_contact_needs_a_recent_authentication,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let grace = app
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        let old = Millis::now().minus_secs(16 * 60).0.to_string();
        app.sql(
            "UPDATE sessions SET authenticated_at = CAST($1 AS BIGINT)",
            &[&old],
        )
        .await;
        let (s, v) = put_contact(&app, &ada, &grace.membership).await;
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
        let (s, _) = app
            .post(
                "/api/v1/me/reauthenticate",
                &ada.token,
                json!({"password": PASSWORD}),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = put_contact(&app, &ada, &grace.membership).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
);

both_backends!(
    a_default_contact_follows_the_owner_a_picked_one_stays,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let grace = app
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        let lin = app
            .invite_and_accept(&ada, "lin@example.com", "admin")
            .await;
        let transfer = format!("/api/v1/accounts/{}/ownership-transfer", ada.account);
        let (s, _) = app
            .post(
                &transfer,
                &ada.token,
                json!({"member_id": grace.membership}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let v = contact(&app, &grace).await;
        assert_eq!(
            (v["email"].as_str(), v["source"].as_str()),
            (Some("grace@example.com"), Some("default"))
        );
        let mails = wait_contact_mails(&app, 2).await;
        assert!(
            mails.iter().any(|m| m.to == "ada@example.com")
                && mails.iter().any(|m| m.to == "grace@example.com")
        );
        // Grace picks Lin; a later transfer back to Ada leaves Lin in place.
        let (s, _) = put_contact(&app, &grace, &lin.membership).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app
            .post(
                &transfer,
                &grace.token,
                json!({"member_id": ada.membership}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let v = contact(&app, &ada).await;
        assert_eq!(
            (v["email"].as_str(), v["source"].as_str()),
            (Some("lin@example.com"), Some("manual"))
        );
    }
);

both_backends!(
    deactivating_removing_or_demoting_the_contact_reverts_it_at_once,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let members = format!("/api/v1/accounts/{}/members", ada.account);
        let mut sent = 0;
        for (i, how) in ["deactivate", "role", "remove"].iter().enumerate() {
            let m = app
                .invite_and_accept(&ada, &format!("admin{i}@example.com"), "admin")
                .await;
            let (s, _) = put_contact(&app, &ada, &m.membership).await;
            assert_eq!(s, StatusCode::OK);
            sent += 2;
            let path = format!("{members}/{}", m.membership);
            let (s, _) = match *how {
                "deactivate" => {
                    app.post(&format!("{path}/deactivate"), &ada.token, json!({}))
                        .await
                }
                "role" => {
                    app.call(
                        Method::PATCH,
                        &path,
                        Some(&ada.token),
                        Some(json!({"role": "analyst"})),
                    )
                    .await
                }
                _ => {
                    app.call(Method::DELETE, &path, Some(&ada.token), None)
                        .await
                }
            };
            assert!(s.is_success(), "{how}");
            let v = contact(&app, &ada).await;
            assert_eq!(
                (v["email"].as_str(), v["source"].as_str()),
                (Some("ada@example.com"), Some("default")),
                "{how}"
            );
            sent += 2;
            let mails = wait_contact_mails(&app, sent).await;
            let last = mails
                .iter()
                .rev()
                .find(|m| m.to == format!("admin{i}@example.com"))
                .unwrap();
            assert!(
                last.text.contains("automatic check") && last.text.contains("Why:"),
                "{}",
                last.text
            );
        }
        let (_, history) = app
            .get(&format!("{}/history", contact_path(&ada)), &ada.token)
            .await;
        assert_eq!(history.as_array().unwrap().len(), 6);
        let reasons: Vec<_> = history
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|h| h["reason"].as_str())
            .collect();
        assert_eq!(reasons.len(), 3);
        assert!(
            reasons.iter().any(|r| r.contains("removed"))
                && reasons.iter().any(|r| r.contains("not active"))
                && reasons.iter().any(|r| r.contains("account_settings:edit")),
            "{reasons:?}"
        );
    }
);

both_backends!(
    the_periodic_check_reverts_as_of_an_instant_and_dry_runs_change_nothing,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let grace = app
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        put_contact(&app, &ada, &grace.membership).await;
        wait_contact_mails(&app, 2).await;
        let now = Millis::now();
        let report = app.app().contact_check_once(now, false).await.unwrap();
        assert!(report.reverted.is_empty(), "valid today");
        let later = now.plus_secs(400 * 86_400);
        let dry = app.app().contact_check_once(later, true).await.unwrap();
        assert_eq!(dry.reverted.len(), 1);
        assert_eq!(dry.reverted[0].reasons, vec!["no_recent_login"]);
        assert_eq!(
            contact(&app, &ada).await["email"],
            "grace@example.com",
            "dry run changed nothing"
        );
        let real = app.app().contact_check_once(later, false).await.unwrap();
        assert_eq!(real.reverted.len(), 1);
        let v = contact(&app, &ada).await;
        assert_eq!(
            (v["email"].as_str(), v["source"].as_str()),
            (Some("ada@example.com"), Some("default"))
        );
        let mails = wait_contact_mails(&app, 4).await;
        assert!(
            mails[2..]
                .iter()
                .all(|m| m.text.contains("has not logged in"))
        );
        let (_, events) = app
            .get(
                &format!(
                    "/api/v1/accounts/{}/audit-events?action=security_contact.changed",
                    ada.account
                ),
                &ada.token,
            )
            .await;
        assert_eq!(events["events"][0]["actor_kind"], "system");
        assert_eq!(events["events"][0]["details"]["actor"], "automatic check");
    }
);

both_backends!(
    a_contact_about_to_lapse_is_warned_once,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let grace = app
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        put_contact(&app, &ada, &grace.membership).await;
        app.set_last_login_days_ago("grace@example.com", 340).await;
        let first = app
            .app()
            .contact_check_once(Millis::now(), false)
            .await
            .unwrap();
        assert_eq!((first.warned.len(), first.reverted.len()), (1, 0));
        let second = app
            .app()
            .contact_check_once(Millis::now(), false)
            .await
            .unwrap();
        assert_eq!(second.warned.len(), 0, "one warning only");
        let w = app
            .wait_for_email("grace@example.com", "Log in to stay the Security Contact")
            .await;
        assert!(w.text.contains("/login") && !w.text.contains("token="));
        let v = contact(&app, &ada).await;
        assert_eq!(v["lapse_warning"], true);
    }
);

/// Two schedulers (two nodes) on one database: the account is reverted and notified once.
async fn two_schedulers(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    let grace = app
        .invite_and_accept(&ada, "grace@example.com", "admin")
        .await;
    put_contact(&app, &ada, &grace.membership).await;
    wait_contact_mails(&app, 2).await;
    let config = watchword::Config {
        listen: "127.0.0.1:0".into(),
        data_dir: app.data_dir(),
        database_url: Some(app.database_url.clone()),
        ..Default::default()
    };
    let second = watchword::start(config).await.unwrap();
    let later = Millis::now().plus_secs(400 * 86_400);
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            app.app().contact_check_once(later, false),
            second.app.contact_check_once(later, false)
        );
        let _ = (a.unwrap(), b.unwrap());
    }
    let mails = wait_contact_mails(&app, 4).await;
    // Give both dispatchers a chance to (wrongly) send more, then count.
    for _ in 0..3 {
        app.app()
            .dispatch_outbox_once(&watchword_app::outbox::Outbound {
                mail: watchword_app::mail::Mailer::files(
                    app.data_dir().join("mail"),
                    "w <w@example.com>",
                )
                .unwrap(),
                sms: watchword_app::sms::SmsSender::files(app.data_dir().join("sms")),
            })
            .await
            .unwrap();
    }
    assert_eq!(
        contact_mails(&app).len(),
        4,
        "one pair for the pick, one pair for the revert: {:?}",
        mails.iter().map(|m| &m.to).collect::<Vec<_>>()
    );
    let (_, history) = app
        .get(&format!("{}/history", contact_path(&ada)), &ada.token)
        .await;
    assert_eq!(history.as_array().unwrap().len(), 2, "one pick, one revert");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_schedulers_revert_once_sqlite() {
    two_schedulers(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_schedulers_revert_once_postgres() {
    two_schedulers(Backend::Postgres).await
}

both_backends!(
    changes_that_widen_administration_alert_the_contact,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let grace = app
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        let (s, v) = put_contact(&app, &ada, &grace.membership).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let alerts = |app: &TestApp| -> Vec<watchword_testkit::mail::Email> {
            app.emails()
                .into_iter()
                .filter(|m| m.subject.starts_with("Security activity in Acme"))
                .collect()
        };
        // Work roles widen nothing: no alert.
        let bob = app
            .invite_and_accept(&ada, "bob@example.com", "analyst")
            .await;
        app.wait_outbox_empty().await;
        assert!(alerts(&app).is_empty(), "analyst invitation alerted");

        // Bob made Admin: the contact is told who, what and by whom.
        let member = format!(
            "/api/v1/accounts/{}/members/{}",
            ada.account, bob.membership
        );
        let (s, v) = set_role(&app, &member, &ada, "admin").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let m = app
            .wait_for_email(
                "grace@example.com",
                "bob@example.com was given the role Admin",
            )
            .await;
        for needle in [
            "users:manage",
            "Ada Lovelace <ada@example.com>",
            "127.0.0.1",
            "/audit",
        ] {
            assert!(m.text.contains(needle), "{needle} missing: {}", m.text);
        }
        // Back to a work role: nothing widened, no alert.
        let (s, _) = set_role(&app, &member, &ada, "analyst").await;
        assert_eq!(s, StatusCode::OK);
        // An invitation as Admin is reported too.
        let (s, v) = app
            .post(
                &format!("/api/v1/accounts/{}/invitations", ada.account),
                &ada.token,
                json!({"email": "carol@example.com", "role": "admin"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        app.wait_for_email(
            "grace@example.com",
            "carol@example.com was invited as Admin",
        )
        .await;
        // What the contact does herself is not reported to her.
        let (s, _) = set_role(&app, &member, &grace, "admin").await;
        assert_eq!(s, StatusCode::OK);
        // An ownership transfer is reported to a picked contact.
        let (s, v) = app
            .post(
                &format!("/api/v1/accounts/{}/ownership-transfer", ada.account),
                &ada.token,
                json!({"member_id": bob.membership}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        app.wait_for_email(
            "grace@example.com",
            "Ownership was transferred to bob@example.com",
        )
        .await;
        app.wait_outbox_empty().await;
        assert_eq!(
            alerts(&app).len(),
            3,
            "one alert each: promotion, invitation, transfer"
        );
    }
);
