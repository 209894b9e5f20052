//! SSO cannot be turned against the people it signs in. An Admin cannot manage SSO (it is the
//! Owner's `sso:manage`), nor hand it to themselves in a custom role; an IdP's answer for an email
//! that has a login of its own signs nobody in until that person links it from their own
//! session; the person's own second factor is still asked whatever the IdP claims; and a session
//! opened through an account's IdP acts in that account alone.

use crate::sso::setup::World;
use reqwest::StatusCode;
use serde_json::json;
use watchword_testkit::{Backend, TestApp, challenge_in, code, first_cookie};

async fn status_with_cookie(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let res = app
        .client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let s = res.status();
    let v: serde_json::Value = res.json().await.unwrap_or_default();
    (s, code(&v).to_owned())
}

async fn insiders_cannot_sign_in_as_someone_else_through_sso(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    // The connection trusts its IdP's MFA: still not a way around a person's own factor.
    app.update_sso_connection(ada, &w.connection, json!({"trust_idp_mfa": true}))
        .await;
    // Grace: a member of Acme in its verified domain, with her own TOTP, who owns another
    // (paid: MFA required) account.
    let grace = app
        .invite_and_accept(ada, "mfagrace@acme.test", "manager")
        .await;
    let secret = app.enrol_totp(&grace).await;
    let grace_co = app.create_account(&grace, "Grace Co").await;
    app.set_plan(&grace_co, "paid").await;

    // An Admin neither manages SSO nor grants themselves the permission.
    let mallory = app
        .invite_and_accept(ada, "mallory@example.com", "admin")
        .await;
    app.enrol_totp(&mallory).await;
    let (s, v) = app
        .create_sso_connection(
            &mallory,
            super::super::sso::setup::connection_body(&w.idp, true),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (s, v) = app
        .post(
            &format!("/api/v1/accounts/{}/roles", ada.account),
            &mallory.token,
            json!({"name": "IdP admin", "permissions": ["sso:manage"]}),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "privilege_escalation"),
        "{v}"
    );

    // The IdP (whoever runs it) answers for Grace: no session, her login is not linked.
    let res = app
        .sso_sign_in(&w.idp, "mfagrace@acme.test", "mfagrace@acme.test")
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(first_cookie(&res).is_none_or(|c| !c.starts_with("ww_session")));
    assert!(res.text().await.unwrap().contains("sso_link_required"));

    // Linking is Grace's own act, and only for her own identity at the IdP.
    let res = app.sso_link(&grace, &w.idp, "mfaother@acme.test").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("link_mismatch"));
    let res = app.sso_link(&grace, &w.idp, "mfagrace@acme.test").await;
    // Linked; and her own factor is asked although the IdP reported MFA and is trusted.
    assert_eq!(res.status(), StatusCode::OK);
    assert!(challenge_in(&res.text().await.unwrap()).is_some());
    app.wait_event(ada, "sso.identity_linked").await;
    let res = app
        .sso_sign_in(&w.idp, "mfagrace@acme.test", "mfagrace@acme.test")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(challenge_in(&page).is_some(), "her own factor asked");
    let res = app.answer_login_page(&page, &secret).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = first_cookie(&res).expect("a session");
    // The session Acme's IdP opened acts in Acme alone.
    let acme = format!("/api/v1/accounts/{}/members", ada.account);
    assert_eq!(
        status_with_cookie(app, &acme, &cookie).await.0,
        StatusCode::OK
    );
    let other = format!("/api/v1/accounts/{}/members", grace_co.account);
    assert_eq!(
        status_with_cookie(app, &other, &cookie).await,
        (StatusCode::FORBIDDEN, "sso_session_scope".to_owned())
    );
    // Her password session still opens both.
    let (s, _) = app.get(&other, &grace.token).await;
    assert_eq!(s, StatusCode::OK);
}
watchword_testkit::on_both_backends!(
    sso_insiders,
    insiders_cannot_sign_in_as_someone_else_through_sso
);

/// Domains: another account cannot claim a subdomain of a verified domain, and a verified
/// domain whose record disappears is reported to the Security Contact, then after 7 days stops
/// routing sign-ins.
async fn domains_stay_with_who_proves_them(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let eve = app.signup("Evil", "Eve", "eve@example.net").await;
    app.set_plan(&eve, "paid").await;
    app.enrol_totp(&eve).await;
    let (s, v) = app.add_sso_domain(&eve, "login.acme.test").await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "domain_taken"), "{v}");
    // The record goes away: the daily check tells the contact (Ada), routing goes on a while.
    w.dns.publish(json!({}));
    let now = app.app().now();
    // A day and an hour apart, so each call finds the domain due again.
    let day = |n: i64| watchword_domain::Millis(now.0 + n * 25 * 3_600_000);
    assert_eq!(app.app().sso_domain_checks_once(day(1)).await.unwrap(), 1);
    app.wait_event(ada, "sso.domain_check_failed").await;
    app.wait_for_email("ada@example.com", "acme.test").await;
    let routed = |v: serde_json::Value| v["redirect_url"].is_string();
    let start = app.sso_start("grace@acme.test").await;
    assert!(routed(start.json().await.unwrap()));
    // Checked once a day: nothing due again at once.
    assert_eq!(app.app().sso_domain_checks_once(day(1)).await.unwrap(), 0);
    for n in 2..=8 {
        app.app().sso_domain_checks_once(day(n)).await.unwrap();
    }
    app.wait_event(ada, "sso.domain_unverified").await;
    let start = app.sso_start("grace@acme.test").await;
    assert!(!routed(start.json().await.unwrap()));
}
watchword_testkit::on_both_backends!(sso_domains, domains_stay_with_who_proves_them);
