//! The console end to end in headless Chromium: the login page's "Sign in with SSO", the
//! provider's own login and consent pages, and back into watchword signed in.

use super::setup::{SamlWorld, World};
use fantoccini::Locator;
use watchword_testkit::browser::Browser;
use watchword_testkit::{Backend, TestApp, first_cookie};

async fn console_signs_in_through_the_idps_own_pages(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let b = Browser::start().await;
    b.goto(&w.app.url("/login")).await;
    b.fill("sso-email", "grace@acme.test").await;
    b.click("#sso-submit").await;
    let at = b.path().await;
    assert!(
        at.starts_with("/interaction/"),
        "at the provider's login page, not {at}: {}",
        b.text().await
    );
    let login = b
        .client
        .find(Locator::Css("input[name=login]"))
        .await
        .unwrap();
    login.send_keys("grace@acme.test").await.unwrap();
    let password = b
        .client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap();
    password.send_keys("anything").await.unwrap();
    b.click("button[type=submit]").await;
    // The provider's consent page, then back to watchword.
    if b.path().await.starts_with("/interaction/") {
        b.click("button[type=submit]").await;
    }
    b.wait_signed_in().await;
    let text = b.text().await;
    assert!(text.contains("Grace Example"), "{text}");
    let login = w.app.wait_event(&w.ada, "sso.login").await;
    assert_eq!(login["details"]["subject"], "grace@acme.test");
    b.close().await;
}
watchword_testkit::on_both_backends!(console_sso, console_signs_in_through_the_idps_own_pages);

/// The same through a SAML IdP: its own login page, its auto-posting form to the ACS, and back
/// into watchword signed in.
async fn console_signs_in_through_the_saml_idps_own_page(backend: Backend) {
    let Some(w) = SamlWorld::new(backend).await else {
        return;
    };
    let b = Browser::start().await;
    b.goto(&w.app.url("/login")).await;
    b.fill("sso-email", "grace@acme.test").await;
    b.click("#sso-submit").await;
    b.wait_for_path("/sso/redirect").await;
    b.fill("username", "grace@acme.test").await;
    b.click("#login").await;
    b.wait_signed_in().await;
    let text = b.text().await;
    assert!(text.contains("grace"), "{text}");
    let login = w.app.wait_event(&w.ada, "sso.login").await;
    assert_eq!(login["details"]["subject"], "grace@acme.test");
    b.close().await;
}
watchword_testkit::on_both_backends!(
    console_saml,
    console_signs_in_through_the_saml_idps_own_page
);

/// Settings › Single sign-on on the free plan says SSO comes with the paid plan.
async fn the_settings_page_says_sso_needs_the_paid_plan(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    let res = app.cookie_login("ada@example.com").await;
    let cookie = first_cookie(&res).expect("a session cookie");
    let url = app.url(&format!("/accounts/{}/settings/sso", ada.account));
    let res = app
        .client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains("comes with the paid plan"), "{text}");
    assert!(!text.contains("Add an OIDC connection"));
}
watchword_testkit::on_both_backends!(
    settings_page_plan,
    the_settings_page_says_sso_needs_the_paid_plan
);

/// Ada signs up in the browser; the operator puts Acme on the paid plan; she adds an
/// authenticator app from My security (paid plans require MFA). Acme's id.
async fn paid_owner_in_browser(app: &TestApp, b: &Browser) -> String {
    b.sign_up_ada(app).await;
    let href = b
        .client
        .find(Locator::Css("a[href$='/settings/security']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let account = href.split('/').nth(2).unwrap().to_owned();
    let ada = watchword_testkit::Login {
        token: String::new(),
        account: account.clone(),
        person: String::new(),
        membership: String::new(),
        email: "ada@example.com".into(),
    };
    app.set_plan(&ada, "paid").await;
    b.goto(&app.url("/me/security")).await;
    b.click("#totp-start").await;
    let secret = b.text_of("#totp-secret").await;
    b.fill("totp-code", &watchword_testkit::oathtool(&secret))
        .await;
    b.click("#totp-confirm").await;
    account
}

/// Settings › Single sign-on in Chromium, no script needed: an Owner with MFA on the paid plan
/// goes through the ordered steps — adds and verifies a domain, adds and enables an OIDC
/// connection, maps a group to a role and turns SSO-only on — confirming with the password once
/// for the page when the sign-in is no longer recent.
async fn the_settings_page_sets_sso_up(backend: Backend) {
    let dns = watchword_testkit::sso::Dns::start();
    let Some(app) = super::spawn(backend, &dns).await else {
        return;
    };
    let idp = watchword_testkit::sso::OidcIdp::start(&app.url("/sso/oidc/callback"));
    let b = Browser::start().await;
    let account = paid_owner_in_browser(&app, &b).await;
    b.goto(&app.url(&format!("/accounts/{account}/settings/sso")))
        .await;
    let type_in = |css: &'static str, text: &'static str| {
        let b = &b;
        async move {
            let el = b.client.find(Locator::Css(css)).await.unwrap();
            el.send_keys(text).await.unwrap();
        }
    };
    // Ordered steps: domain, connection, test, require.
    let steps = b
        .client
        .find_all(Locator::Css("ol.steps > li"))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for s in &steps {
        ids.push(s.attr("id").await.unwrap().unwrap_or_default());
    }
    assert_eq!(
        ids,
        [
            "step-domain",
            "step-connection",
            "step-test",
            "step-require"
        ]
    );
    // Just signed in (the app's code refreshed it): no password asked, on any form.
    assert!(b.client.find(Locator::Id("sso-confirmed")).await.is_ok());
    let passwords = b
        .client
        .find_all(Locator::Css("ol.steps input[type=password][name=password]"))
        .await
        .unwrap();
    assert!(
        passwords.is_empty(),
        "one step-up for the page, not one per form"
    );
    b.fill("domain", "acme.test").await;
    b.click("#add-domain").await;
    assert!(
        b.text().await.contains("Domain added"),
        "{}",
        b.text().await
    );
    let record = b.text_of("tr[data-domain='acme.test'] code").await;
    dns.publish(serde_json::json!({"acme.test": [record]}));
    // Later: the sign-in is no longer recent. A change is refused until Ada confirms once.
    app.make_sign_ins_old();
    b.goto(&app.url(&format!("/accounts/{account}/settings/sso")))
        .await;
    assert!(b.client.find(Locator::Id("sso-confirm")).await.is_ok());
    b.click("tr[data-domain='acme.test'] button").await;
    assert!(
        b.text().await.contains("Confirm it is you first")
            && !b.text().await.contains("Domain verified."),
        "{}",
        b.text().await
    );
    b.fill("sso-password", watchword_testkit::PASSWORD).await;
    b.click("#sso-confirm-submit").await;
    assert!(b.text().await.contains("Confirmed"), "{}", b.text().await);
    b.click("tr[data-domain='acme.test'] button").await;
    assert!(
        b.text().await.contains("Domain verified."),
        "{}",
        b.text().await
    );
    assert!(b.text_of("#step-domain h2").await.contains("Done"));
    b.fill("conn-name", "Acme IdP").await;
    b.fill("conn-issuer", &idp.issuer).await;
    b.fill("conn-client", watchword_testkit::sso::CLIENT_ID)
        .await;
    b.fill("conn-secret", watchword_testkit::sso::CLIENT_SECRET)
        .await;
    b.click("#add-connection").await;
    assert!(
        b.text().await.contains("connection saved"),
        "{}",
        b.text().await
    );
    let row = "tr[data-connection='Acme IdP']";
    assert!(b.text_of(row).await.contains("Disabled"));
    b.click("tr[data-connection='Acme IdP'] form[action$='/enable'] button[type=submit]")
        .await;
    assert!(
        b.text_of(row).await.contains("Enabled"),
        "{}",
        b.text_of(row).await
    );
    assert!(
        b.text_of("#redirect-uri")
            .await
            .ends_with("/sso/oidc/callback")
    );
    // Group mappings, one `group = role` per line.
    let mappings = "tr[data-connection='Acme IdP'] form[action$='/mappings']";
    b.press("tr[data-connection='Acme IdP'] details summary")
        .await;
    type_in(
        "tr[data-connection='Acme IdP'] form[action$='/mappings'] textarea",
        "admins = admin",
    )
    .await;
    b.click(&format!("{mappings} button[type=submit]")).await;
    assert!(
        b.text().await.contains("connection saved"),
        "{}",
        b.text().await
    );
    let saved = b
        .client
        .find(Locator::Css(&format!("{mappings} textarea")))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(saved.trim(), "admins = admin");
    // SSO-only on, break-glass kept.
    b.client
        .find(Locator::Id("sso-required"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("#save-enforcement").await;
    assert!(
        b.text().await.contains("SSO-only setting saved."),
        "{}",
        b.text().await
    );
    let checked = |id: &'static str| {
        let b = &b;
        async move {
            let el = b.client.find(Locator::Id(id)).await.unwrap();
            el.prop("checked").await.unwrap().as_deref() == Some("true")
        }
    };
    assert!(checked("sso-required").await && checked("break-glass").await);
    b.close().await;
}
watchword_testkit::on_both_backends!(settings_page_setup, the_settings_page_sets_sso_up);

/// Settings › Single sign-on › Provisioning in Chromium: the Owner turns SCIM on (the token shown
/// once), the IdP provisions and suspends a member, the page lists what it did and the members
/// page marks the member; revoking the token there stops it at once.
async fn the_scim_page_turns_provisioning_on(backend: Backend) {
    let dns = watchword_testkit::sso::Dns::start();
    let Some(app) = super::spawn(backend, &dns).await else {
        return;
    };
    let b = Browser::start().await;
    let account = paid_owner_in_browser(&app, &b).await;
    b.goto(&app.url(&format!("/accounts/{account}/settings/sso")))
        .await;
    b.fill("domain", "acme.test").await;
    b.click("#add-domain").await;
    let record = b.text_of("tr[data-domain='acme.test'] code").await;
    dns.publish(serde_json::json!({"acme.test": [record]}));
    b.click("tr[data-domain='acme.test'] button").await;
    assert!(
        b.text().await.contains("Domain verified."),
        "{}",
        b.text().await
    );
    b.click("#scim-link").await;
    assert_eq!(b.text_of("#scim-state").await, "off");
    let base = b.text_of("#scim-base-url").await;
    assert!(
        base.ends_with(&format!("/scim/v2/accounts/{account}")),
        "{base}"
    );
    b.click("#create-scim-token").await;
    assert!(
        b.text().await.contains("shown this once"),
        "{}",
        b.text().await
    );
    let token = b.text_of("#new-scim-token").await;
    assert!(token.starts_with("ww_"), "{token}");
    assert_eq!(b.text_of("#scim-state").await, "on");
    // The IdP provisions Grace, then suspends her.
    let users = format!("/scim/v2/accounts/{account}/Users");
    let body = serde_json::json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "grace@acme.test" });
    let (s, grace) = app.post(&users, &token, body).await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{grace}");
    let off = serde_json::json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "replace", "path": "active", "value": false }] });
    let path = format!("{users}/{}", grace["id"].as_str().unwrap());
    let (s, v) = app
        .call(reqwest::Method::PATCH, &path, Some(&token), Some(off))
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    b.goto(&app.url(&format!("/accounts/{account}/settings/sso/scim")))
        .await;
    let events = b.text_of("#scim-events").await;
    assert!(
        events.contains("Member provisioned by SCIM")
            && events.contains("Member suspended by SCIM")
            && events.contains("grace@acme.test"),
        "{events}"
    );
    assert_eq!(b.text_of("#scim-provisioned").await, "1");
    b.goto(&app.url(&format!("/accounts/{account}/members")))
        .await;
    let text = b.text().await;
    assert!(
        text.contains("Suspended by your identity provider") && text.contains("SCIM"),
        "{text}"
    );
    // Revoked on the page: the IdP's next request is refused.
    b.goto(&app.url(&format!("/accounts/{account}/settings/sso/scim")))
        .await;
    b.click("form input[value='revoke'] ~ button[type=submit]")
        .await;
    assert!(
        b.text().await.contains("SCIM token revoked"),
        "{}",
        b.text().await
    );
    assert_eq!(
        app.get(&users, &token).await.0,
        reqwest::StatusCode::UNAUTHORIZED
    );
    b.close().await;
}
watchword_testkit::on_both_backends!(scim_page, the_scim_page_turns_provisioning_on);
