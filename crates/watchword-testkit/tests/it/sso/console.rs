//! The console end to end in headless Chromium: the login page's "Sign in with SSO", the
//! provider's own login and consent pages, and back into watchword signed in.

use super::setup::World;
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
    b.wait_for_path("/app").await;
    let text = b.text().await;
    assert!(text.contains("Grace Example"), "{text}");
    let login = w.app.wait_event(&w.ada, "sso.login").await;
    assert_eq!(login["details"]["subject"], "grace@acme.test");
    b.close().await;
}
watchword_testkit::on_both_backends!(console_sso, console_signs_in_through_the_idps_own_pages);

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
