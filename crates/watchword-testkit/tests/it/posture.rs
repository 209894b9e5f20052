//! The security overview, on SQLite and PostgreSQL: a score from the checks' weights that moves
//! with what the account does (MFA, enforcement, administrators, exposed keys, stale
//! invitations), Owners and Admins only; the daily snapshots (one run a day, a row only when the
//! score changed, resumed after a crash, kept a year) and their SVG trend; the console's first
//! page of an account in headless Chromium.

use crate::api_keys::PARTNER_SECRET;
use crate::api_keys::exposure::{report, sign};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_domain::Millis;
use watchword_testkit::browser::Browser;
use watchword_testkit::{Backend, TestApp, both_backends, code};

fn check<'a>(o: &'a Value, code: &str) -> &'a Value {
    o["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == code)
        .unwrap_or_else(|| panic!("{code} not in {o}"))
}

fn state(o: &Value, code: &str) -> String {
    check(o, code)["state"].as_str().unwrap().to_owned()
}

fn score(o: &Value) -> i64 {
    o["score"].as_i64().unwrap()
}

async fn overview(app: &TestApp, token: &str, account: &str) -> Value {
    let (s, o) = app
        .get(
            &format!("/api/v1/accounts/{account}/security-overview"),
            token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{o}");
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_score_follows_what_the_account_does() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with_smtp_and(backend, |c| {
            c.exposure_report_secret = Some(PARTNER_SECRET.into())
        })
        .await
        else {
            continue;
        };
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let acct = ada.account.clone();
        let o = overview(&app, &ada.token, &acct).await;
        // Every check is there with why it matters and the page that fixes it.
        assert_eq!(o["checks"].as_array().unwrap().len(), 13, "{o}");
        let weights: i64 = o["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["weight"].as_i64().unwrap())
            .sum();
        assert_eq!(weights, 100);
        for c in o["checks"].as_array().unwrap() {
            assert!(!c["why"].as_str().unwrap().is_empty(), "{c}");
            let fix = c["fix_url"].as_str().unwrap();
            assert!(fix.starts_with(&format!("/accounts/{acct}/")), "{c}");
        }
        assert_eq!(state(&o, "mfa_coverage"), "fail");
        assert_eq!(state(&o, "mfa_enforced"), "fail");
        assert_eq!(state(&o, "sso"), "not_applicable", "free plan");
        assert_eq!(state(&o, "administrators"), "pass");
        assert_eq!(state(&o, "security_contact"), "pass");
        assert_eq!(state(&o, "access_review"), "pass", "a new account");
        assert_eq!(state(&o, "exposed_api_keys"), "pass");
        // Free plan without SSO: 90 applicable points; no MFA (20+5) nor enforcement (10) lost.
        assert_eq!(score(&o), (100.0_f64 * 55.0 / 90.0).round() as i64, "{o}");
        let start = score(&o);

        // MFA for everyone, then required: both checks pass.
        app.enrol_totp(&ada).await;
        let o = overview(&app, &ada.token, &acct).await;
        assert_eq!(state(&o, "mfa_coverage"), "pass");
        // The person's kept MFA level follows a factor's removal, and a new enrolment.
        {
            let store = app.app().store().clone();
            let mut tx = store.begin().await.unwrap();
            let (id,): (String,) =
                sqlx::query_as("SELECT id FROM mfa_factors WHERE person_id = $1")
                    .bind(&ada.person)
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
            let person = watchword_domain::PersonId::parse(&ada.person).unwrap();
            assert!(
                watchword_store::mfa::delete_factor(&mut tx, person, &id)
                    .await
                    .unwrap()
            );
            tx.commit().await.unwrap();
        }
        let o = overview(&app, &ada.token, &acct).await;
        assert_eq!(state(&o, "mfa_coverage"), "fail", "{o}");
        app.enrol_totp(&ada).await;
        let o = overview(&app, &ada.token, &acct).await;
        assert_eq!(state(&o, "mfa_coverage"), "pass");
        let (s, v) = app
            .call(
                Method::PATCH,
                &format!("/api/v1/accounts/{acct}/settings"),
                Some(&ada.token),
                Some(json!({"mfa_required": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let o = overview(&app, &ada.token, &acct).await;
        assert_eq!(state(&o, "mfa_enforced"), "pass");
        let enforced = score(&o);
        assert_eq!(enforced, (100.0_f64 * 85.0 / 90.0).round() as i64, "{o}");
        assert!(enforced > start);

        // A key reported exposed and left active costs its 15 points; revoked, they return.
        let (s, key) = app
            .post(
                &format!("/api/v1/accounts/{acct}/api-keys"),
                &ada.token,
                json!({"name": "Leaky", "preset": "read_only"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{key}");
        assert_eq!(score(&overview(&app, &ada.token, &acct).await), enforced);
        let body =
            json!([{"token": key["secret"], "url": "https://github.com/x", "source": "github"}]);
        let signed = sign(&serde_json::to_vec(&body).unwrap(), PARTNER_SECRET);
        assert_eq!(report(&app, &body, &signed).await.0, StatusCode::OK);
        let o = overview(&app, &ada.token, &acct).await;
        assert_eq!(state(&o, "exposed_api_keys"), "fail");
        assert_eq!(check(&o, "exposed_api_keys")["found"], "1 of 1 key");
        assert_eq!(score(&o), (100.0_f64 * 70.0 / 90.0).round() as i64, "{o}");
        let id = key["id"].as_str().unwrap();
        let (s, v) = app
            .call(
                Method::DELETE,
                &format!("/api/v1/accounts/{acct}/api-keys/{id}"),
                Some(&ada.token),
                None,
            )
            .await;
        assert!(s.is_success(), "{s} {v}");
        assert_eq!(score(&overview(&app, &ada.token, &acct).await), enforced);

        // A stale invitation is a finding; four more administrators are one too.
        let (s, v) = app.invite(&ada, "carol@example.com", "analyst").await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let old = (Millis::now().0 - 15 * 86_400_000).to_string();
        app.sql(
            "UPDATE memberships SET created_at = CAST($1 AS BIGINT) WHERE email = 'carol@example.com'",
            &[&old],
        )
        .await;
        let o = overview(&app, &ada.token, &acct).await;
        assert_eq!(state(&o, "stale_invitations"), "warn");
        let (s, v) = app.invite(&ada, "pending@example.com", "admin").await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        // An invited admin is not an administrator until they accept.
        assert_eq!(
            state(&overview(&app, &ada.token, &acct).await, "administrators"),
            "pass"
        );
        for n in 0..3 {
            app.invite_and_accept(&ada, &format!("admin{n}@example.com"), "admin")
                .await;
        }
        let o = overview(&app, &ada.token, &acct).await;
        assert_eq!(
            check(&o, "administrators")["found"],
            "4 administrators",
            "{o}"
        );
        assert_eq!(state(&o, "administrators"), "warn");
        app.stop().await;
    }
}

both_backends!(
    only_owners_and_admins_see_the_overview,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let bob = app
            .invite_and_accept(&ada, "bob@example.com", "analyst")
            .await;
        let grace = app
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        let path = format!("/api/v1/accounts/{}/security-overview", ada.account);
        let (s, v) = app.get(&path, &bob.token).await;
        assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
        let (s, v) = app.get(&path, &grace.token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let eve = app.signup("Evil", "Eve", "eve@example.com").await;
        let (s, _) = app.get(&path, &eve.token).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = app.call(Method::GET, &path, None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
);

both_backends!(
    a_member_brings_their_factor_and_sign_ins_to_every_account,
    |app: TestApp| async move {
        // The overview counts each membership's copy of its person's MFA level and last login
        // (migration 0021): every path that makes a membership or moves them must keep it.
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let bob = app.signup("Bobs Agency", "Bob", "bob@example.com").await;
        app.enrol_totp(&bob).await;
        let (s, _) = app.invite(&ada, "bob@example.com", "manager").await;
        assert_eq!(s, StatusCode::CREATED);
        let token = app.invitation_token("bob@example.com").await;
        let (s, v) = app
            .call(
                Method::POST,
                "/api/v1/invitations/accept",
                Some(&bob.token),
                Some(json!({"token": token})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // Bob's factor and recent sign-in came with him into Acme.
        let o = overview(&app, &ada.token, &ada.account).await;
        assert_eq!(check(&o, "mfa_coverage")["found"], "1 of 2 members", "{o}");
        assert_eq!(check(&o, "inactive_members")["found"], "none of 2 members");
        // And into an account he creates.
        let bobs_second = app.create_account(&bob, "Bob Two").await;
        let o = overview(&app, &bob.token, &bobs_second.account).await;
        assert_eq!(state(&o, "mfa_coverage"), "pass", "{o}");

        // A sign-in moves every membership's copy.
        app.set_last_login_days_ago("ada@example.com", 200).await;
        let o = overview(&app, &ada.token, &ada.account).await;
        assert_eq!(check(&o, "inactive_members")["found"], "1 of 2 members");
        let ada = app.relogin(&ada).await;
        let o = overview(&app, &ada.token, &ada.account).await;
        assert_eq!(check(&o, "inactive_members")["found"], "none of 2 members");
    }
);

both_backends!(
    a_factor_added_while_a_membership_is_activated_is_counted,
    |app: TestApp| async move {
        // Two transactions at once: Bob's invitation into Acme being activated, and a passkey
        // of Bob's being added. Whichever commits last must see the other's row (the store
        // serialises them per person), or Acme would count Bob without his passkey.
        use watchword_domain::{AccountId, MembershipId, PersonId};
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let bob = app.signup("Bobs Agency", "Bob", "bob@example.com").await;
        let (s, inv) = app.invite(&ada, "bob@example.com", "manager").await;
        assert_eq!(s, StatusCode::CREATED, "{inv}");
        let account = AccountId::parse(&ada.account).unwrap();
        let membership = MembershipId::parse(inv["id"].as_str().unwrap()).unwrap();
        let person = PersonId::parse(&bob.person).unwrap();
        let store = app.app().store().clone();
        let mut activating = store.begin().await.unwrap();
        watchword_store::members::activate_for(
            &mut activating,
            account,
            membership,
            person,
            Millis::now(),
        )
        .await
        .unwrap();
        let adding = tokio::spawn({
            let store = store.clone();
            async move {
                let mut tx = store.begin().await.unwrap();
                let factor = watchword_store::mfa::NewFactor {
                    id: "factor-race",
                    person,
                    kind: "passkey",
                    name: "Key",
                    sealed: None,
                    passkey: Some(("{}", "cred-race")),
                    phone_hint: None,
                };
                watchword_store::mfa::insert_factor(&mut tx, factor, Millis::now())
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        });
        // Give the factor's transaction every chance to finish first (unserialised, it would).
        let mut adding = adding;
        let done = tokio::time::timeout(std::time::Duration::from_millis(500), &mut adding).await;
        activating.commit().await.unwrap();
        if done.is_err() {
            adding.await.unwrap();
        }
        let o = overview(&app, &ada.token, &ada.account).await;
        assert_eq!(
            check(&o, "phishing_resistant_mfa")["found"],
            "1 of 2 members",
            "{o}"
        );
    }
);

both_backends!(
    daily_snapshots_write_changes_resume_and_keep_a_year,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let other = app.signup("Other", "Olga", "olga@example.com").await;
        let third = app.signup("Third", "Tom", "tom@example.com").await;
        let core = app.app();
        let day = |app: &TestApp| watchword_domain::posture::day_of(app.app().now());
        let snapshots = || async { app.count_rows("SELECT 1 FROM posture_snapshots", &[]).await };

        // The first run of a day snapshots every account; a second run that day does nothing.
        let run = core
            .posture_snapshots_once(core.now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((run.accounts, run.written, run.finished), (3, 3, true));
        assert!(
            core.posture_snapshots_once(core.now())
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(snapshots().await, 3);

        // The next day, nothing changed: nothing is written. A change is written the day after.
        app.advance_clock(86_400);
        let run = core
            .posture_snapshots_once(core.now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((run.accounts, run.written), (3, 0));
        app.advance_clock(86_400);
        let ada = app.relogin(&ada).await;
        let (s, v) = app.invite(&ada, "carol@example.com", "analyst").await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        app.sql(
            "UPDATE memberships SET created_at = 0 WHERE email = 'carol@example.com'",
            &[],
        )
        .await;
        let run = core
            .posture_snapshots_once(core.now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((run.accounts, run.written), (3, 1));
        let o = overview(&app, &ada.token, &ada.account).await;
        let trend = o["trend"].as_array().unwrap();
        assert_eq!(trend.len(), 2, "{o}");
        assert!(
            trend[1]["score"].as_i64() < trend[0]["score"].as_i64(),
            "{o}"
        );
        assert_eq!(trend[1]["score"], o["score"]);

        // A run that stopped after the first account (its lease ran out) resumes after it.
        app.advance_clock(86_400);
        let mut ids = [
            ada.account.clone(),
            other.account.clone(),
            third.account.clone(),
        ];
        ids.sort();
        let today = day(&app).to_string();
        app.sql(
            "INSERT INTO posture_runs (day, cursor, lease_until, accounts) VALUES (CAST($1 AS BIGINT), $2, 0, 1)",
            &[&today, &ids[0]],
        )
        .await;
        let run = core
            .posture_snapshots_once(core.now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((run.accounts, run.finished), (2, true));
        // A run another node holds (lease not over) is left alone.
        app.advance_clock(86_400);
        let today = day(&app).to_string();
        let later = (core.now().0 + 60_000).to_string();
        app.sql(
            "INSERT INTO posture_runs (day, cursor, lease_until) VALUES (CAST($1 AS BIGINT), '', CAST($2 AS BIGINT))",
            &[&today, &later],
        )
        .await;
        assert!(
            core.posture_snapshots_once(core.now())
                .await
                .unwrap()
                .is_none()
        );

        // A year on, older snapshots go, except each account's latest (the score carried in).
        app.advance_clock(400 * 86_400);
        let run = core
            .posture_snapshots_once(core.now())
            .await
            .unwrap()
            .unwrap();
        assert!(run.finished);
        let cutoff = (day(&app) - 365).to_string();
        assert_eq!(
            app.count_rows(
                "SELECT 1 FROM posture_snapshots WHERE day < CAST($1 AS BIGINT)",
                &[&cutoff]
            )
            .await,
            3,
            "one carried row per account"
        );
        let today = day(&app).to_string();
        assert_eq!(
            app.count_rows(
                "SELECT 1 FROM posture_snapshots WHERE account_id = $1 AND day = CAST($2 AS BIGINT)",
                &[&ada.account, &today]
            )
            .await,
            1,
            "a year without sign-ins changed the score"
        );
    }
);

both_backends!(
    the_console_opens_an_account_on_its_overview,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        app.invite_and_accept(&ada, "bob@example.com", "analyst")
            .await;
        let core = app.app();
        core.posture_snapshots_once(core.now()).await.unwrap();
        let b = Browser::start().await;
        b.sign_in(&app, "ada@example.com").await;
        b.goto(&app.url(&format!("/accounts/{}", ada.account)))
            .await;
        let text = b.text().await;
        assert!(
            text.contains("Security overview") && text.contains("Security score"),
            "{text}"
        );
        let o = overview(&app, &ada.token, &ada.account).await;
        assert_eq!(b.text_of("#score").await, o["score"].to_string());
        // The trend is an SVG in the page itself, with a text alternative.
        let title = b.text_of("#trend-title").await;
        assert!(title.contains(&format!("{} today", o["score"])), "{title}");
        // A failing check links to the page that fixes it.
        b.click("tr[data-check='mfa_enforced'] a").await;
        assert!(
            b.path().await.ends_with("/settings/security"),
            "{}",
            b.path().await
        );
        b.close().await;

        let b = Browser::start().await;
        b.sign_in(&app, "bob@example.com").await;
        b.goto(&app.url(&format!("/accounts/{}", ada.account)))
            .await;
        assert!(
            b.path().await.ends_with("/report"),
            "an Analyst: {}",
            b.path().await
        );
        assert!(!b.text().await.contains("Security overview"));
        b.goto(&app.url(&format!("/accounts/{}/security", ada.account)))
            .await;
        assert!(!b.text().await.contains("Security score"));
        b.close().await;
    }
);
