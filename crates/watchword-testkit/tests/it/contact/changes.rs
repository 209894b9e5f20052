//! Changes the Security Contact follows: a default follows the owner, deactivation, removal
//! or demotion reverts it, the periodic check and its warnings, concurrent schedulers, alerts.

use super::*;

both_backends!(
    a_default_contact_follows_the_owner_a_picked_one_stays,
    |app: TestApp| async move {
        let (ada, grace) = app.ada_and_grace().await;
        let lin = app
            .invite_and_accept(&ada, "lin@example.com", "admin")
            .await;
        let (s, _) = app.transfer_ownership(&ada, &grace.membership).await;
        assert_eq!(s, StatusCode::OK);
        assert_contact(&app, &grace, "grace@example.com", "default").await;
        let mails = wait_contact_mails(&app, 2).await;
        assert!(
            mails.iter().any(|m| m.to == "ada@example.com")
                && mails.iter().any(|m| m.to == "grace@example.com")
        );
        // Grace picks Lin; a later transfer back to Ada leaves Lin in place.
        let (s, _) = app.put_security_contact(&grace, &lin.membership).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.transfer_ownership(&grace, &ada.membership).await;
        assert_eq!(s, StatusCode::OK);
        assert_contact(&app, &ada, "lin@example.com", "manual").await;
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
            let (s, _) = app.put_security_contact(&ada, &m.membership).await;
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
            let v = app.security_contact(&ada).await;
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
        let (ada, grace) = app.ada_and_grace().await;
        app.put_security_contact(&ada, &grace.membership).await;
        wait_contact_mails(&app, 2).await;
        let now = Millis::now();
        let report = app.app().contact_check_once(now, false).await.unwrap();
        assert!(report.reverted.is_empty(), "valid today");
        let later = now.plus_secs(400 * 86_400);
        let dry = app.app().contact_check_once(later, true).await.unwrap();
        assert_eq!(dry.reverted.len(), 1);
        assert_eq!(dry.reverted[0].reasons, vec!["no_recent_login"]);
        assert_eq!(
            app.security_contact(&ada).await["email"],
            "grace@example.com",
            "dry run changed nothing"
        );
        let real = app.app().contact_check_once(later, false).await.unwrap();
        assert_eq!(real.reverted.len(), 1);
        assert_contact(&app, &ada, "ada@example.com", "default").await;
        let mails = wait_contact_mails(&app, 4).await;
        assert!(
            mails[2..]
                .iter()
                .all(|m| m.text.contains("has not logged in"))
        );
        let events = app
            .audit_events(&ada, "action=security_contact.changed")
            .await;
        assert_eq!(events["events"][0]["actor_kind"], "system");
        assert_eq!(events["events"][0]["details"]["actor"], "automatic check");
    }
);

both_backends!(
    a_contact_about_to_lapse_is_warned_once,
    |app: TestApp| async move {
        let (ada, grace) = app.ada_and_grace().await;
        app.put_security_contact(&ada, &grace.membership).await;
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
        let v = app.security_contact(&ada).await;
        assert_eq!(v["lapse_warning"], true);
    }
);

/// Two schedulers (two nodes) on one database: the account is reverted and notified once.
async fn two_schedulers(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (ada, grace) = app.ada_and_grace().await;
    app.put_security_contact(&ada, &grace.membership).await;
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

watchword_testkit::on_both_backends!(two_concurrent_schedulers_revert_once, two_schedulers);

both_backends!(
    changes_that_widen_administration_alert_the_contact,
    |app: TestApp| async move {
        let (ada, grace) = app.ada_and_grace().await;
        let (s, v) = app.put_security_contact(&ada, &grace.membership).await;
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
        let (s, v) = app.set_role(&ada, &bob.membership, "admin").await;
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
        let (s, _) = app.set_role(&ada, &bob.membership, "analyst").await;
        assert_eq!(s, StatusCode::OK);
        // An invitation as Admin is reported too.
        let (s, v) = app.invite(&ada, "carol@example.com", "admin").await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        app.wait_for_email(
            "grace@example.com",
            "carol@example.com was invited as Admin",
        )
        .await;
        // What the contact does herself is not reported to her.
        let (s, _) = app.set_role(&grace, &bob.membership, "admin").await;
        assert_eq!(s, StatusCode::OK);
        // An ownership transfer is reported to a picked contact.
        let (s, v) = app.transfer_ownership(&ada, &bob.membership).await;
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
