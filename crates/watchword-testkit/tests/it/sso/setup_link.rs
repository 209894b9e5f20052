//! The Owner's setup link in headless Chromium: the customer's IT admin, who is not a member,
//! configures a SAML connection and a SCIM token through it and nothing else; the link opens
//! once; the Security Contact is told; revoking it ends the setup session.

use super::setup::paid_acme_for_scim;
use super::spawn;
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;
use watchword_testkit::browser::Browser;
use watchword_testkit::sso::{Dns, SamlIdp};
use watchword_testkit::{Backend, code};

const IT: &str = "it@partner.test";

async fn an_it_admin_sets_sso_up_through_the_link_and_nothing_else(backend: Backend) {
    let dns = Dns::start();
    let Some(app) = spawn(backend, &dns).await else {
        return;
    };
    let ada = paid_acme_for_scim(&app, &dns).await;
    let links = format!("/api/v1/accounts/{}/sso/setup-links", ada.account);
    // Only the Owner sends one.
    let bob = app.invite_and_accept(&ada, "bob@acme.test", "admin").await;
    app.enrol_totp(&bob).await;
    let (s, v) = app.post(&links, &bob.token, json!({ "email": IT })).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "owner_only"), "{v}");
    let (s, link) = app.post(&links, &ada.token, json!({ "email": IT })).await;
    assert_eq!(
        (s, link["state"].as_str()),
        (StatusCode::CREATED, Some("unused")),
        "{link}"
    );
    let token = app.mail_token(IT, "Set up single sign-on for").await;

    let idp = SamlIdp::start();
    let b = Browser::start().await;
    b.goto(&app.url(&format!("/setup?token={token}"))).await;
    b.click("#setup-start").await;
    assert_eq!(b.path().await, "/setup/sso", "{}", b.text().await);
    assert!(b.text().await.contains(IT), "{}", b.text().await);
    // A SAML connection, its metadata pasted (set by script: it is long).
    b.fill("saml-name", "Partner SAML").await;
    let area = b.client.find(Locator::Id("saml-metadata")).await.unwrap();
    b.client
        .execute(
            "arguments[0].value = arguments[1]",
            vec![
                serde_json::to_value(&area).unwrap(),
                json!(idp.metadata().await),
            ],
        )
        .await
        .unwrap();
    b.click("#add-saml-connection").await;
    assert!(
        b.text().await.contains("Connection added"),
        "{}",
        b.text().await
    );
    let acs = b
        .text_of("div[data-connection='Partner SAML'] .acs-url")
        .await;
    assert!(acs.contains("/sso/saml/"), "{acs}");
    // A test sign-in through the provider's own page: what it said, no session.
    b.click("div[data-connection='Partner SAML'] button.test-sign-in")
        .await;
    b.wait_for_path("/sso/redirect").await;
    b.fill("username", "grace@acme.test").await;
    b.click("#login").await;
    b.wait_for_text("The connection works").await;
    assert!(
        b.text().await.contains("grace@acme.test"),
        "{}",
        b.text().await
    );
    b.goto(&app.url("/setup/sso")).await;
    // The SCIM token, shown once, works.
    b.click("#setup-scim-token").await;
    let secret = b.text_of("#new-scim-token").await;
    let users = format!("/scim/v2/accounts/{}/Users", ada.account);
    assert_eq!(app.get(&users, &secret).await.0, StatusCode::OK);
    // Made with the Owner's authority, audited with the link's address, the contact told.
    let created = app.wait_event(&ada, "sso.connection_created").await;
    assert_eq!(created["actor_email"], IT, "{created}");
    assert!(created["actor_person_id"].is_null(), "{created}");
    app.wait_for_email(
        "ada@example.com",
        &format!("setup link sent to {IT} was opened"),
    )
    .await;
    app.wait_for_email("ada@example.com", "Partner SAML").await;
    // Nothing else: no members page, no API.
    b.goto(&app.url(&format!("/accounts/{}/members", ada.account)))
        .await;
    assert!(b.path().await.starts_with("/login"), "{}", b.path().await);
    // The link a second time: refused.
    b.goto(&app.url(&format!("/setup?token={token}"))).await;
    b.click("#setup-start").await;
    assert!(
        b.text().await.contains("already used"),
        "{}",
        b.text().await
    );
    // Revoked by the Owner: the setup session ends at once.
    b.goto(&app.url("/setup/sso")).await;
    assert!(b.text().await.contains("Set up single sign-on"));
    let revoke = format!("{links}/{}", link["id"].as_str().unwrap());
    assert_eq!(
        app.delete(&revoke, &ada.token).await.0,
        StatusCode::NO_CONTENT
    );
    b.goto(&app.url("/setup/sso")).await;
    let text = b.text().await;
    assert!(
        text.contains("This setup session has ended") && !text.contains("Verify the company"),
        "{text}"
    );
    let (_, list) = app.get(&links, &ada.token).await;
    assert_eq!(list[0]["state"], "revoked", "{list}");
    b.close().await;
}
watchword_testkit::on_both_backends!(
    setup_link,
    an_it_admin_sets_sso_up_through_the_link_and_nothing_else
);

/// An account emails at most 10 setup links a day (5 working at once).
async fn setup_links_are_limited(backend: Backend) {
    let dns = Dns::start();
    let Some(app) = spawn(backend, &dns).await else {
        return;
    };
    let ada = paid_acme_for_scim(&app, &dns).await;
    let links = format!("/api/v1/accounts/{}/sso/setup-links", ada.account);
    for i in 0..10 {
        let (s, l) = app.post(&links, &ada.token, json!({ "email": IT })).await;
        assert_eq!(s, StatusCode::CREATED, "link {i}: {l}");
        // Four stay working; the rest are revoked so the live cap (5) never binds.
        if i >= 4 {
            let revoke = format!("{links}/{}", l["id"].as_str().unwrap());
            assert_eq!(
                app.delete(&revoke, &ada.token).await.0,
                StatusCode::NO_CONTENT
            );
        }
    }
    let (s, v) = app.post(&links, &ada.token, json!({ "email": IT })).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_setup_links"),
        "{v}"
    );
}
watchword_testkit::on_both_backends!(setup_link_limit, setup_links_are_limited);
