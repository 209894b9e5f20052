//! Every console page, signed out and signed in, at a laptop's width (1280 px) and a phone's
//! (390 px): axe-core finds no serious or critical accessibility violation, nothing makes the
//! page scroll sideways on the phone, the navigation marks the current page (`aria-current`) and
//! folds into one "Menu" button on the phone.

use fantoccini::Locator;
use serde_json::json;
use watchword_testkit::browser::Browser;
use watchword_testkit::{Backend, TestApp};

const WIDTHS: [(u32, u32); 2] = [(1280, 900), (390, 844)];

/// Opens `path`, runs axe-core and (on the phone) the sideways-scroll check; returns what failed.
async fn check(b: &Browser, app: &TestApp, path: &str, width: u32) -> Vec<String> {
    b.goto(&app.url(path)).await;
    here(b, path, width).await
}

/// The checks of [`check`] on the page the browser is on (`path` names it in the failures).
async fn here(b: &Browser, path: &str, width: u32) -> Vec<String> {
    let name: String = path
        .trim_start_matches('/')
        .split('?')
        .next()
        .unwrap_or_default()
        .split('/')
        .filter(|p| p.len() < 30)
        .collect::<Vec<_>>()
        .join("-");
    b.screenshot(&format!(
        "{}-{width}.png",
        if name.is_empty() { "page" } else { &name }
    ))
    .await;
    let mut failed: Vec<String> = b
        .axe()
        .await
        .into_iter()
        .map(|v| {
            format!(
                "{path} @{width}: {} ({}) {}: {:?}",
                v.id, v.impact, v.help, v.nodes
            )
        })
        .collect();
    if width < 600 {
        let over = b.overflow_x().await;
        if over > 0 {
            failed.push(format!("{path} @{width}: the page is {over} px too wide"));
        }
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_accessible_at_both_widths() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    app.invite_and_accept(&ada, "grace@example.com", "manager")
        .await;
    let a = &ada.account;
    let (s, _) = app
        .post(
            &format!("/api/v1/accounts/{a}/api-keys"),
            &ada.token,
            json!({"name": "Zapier", "scopes": ["members:read"]}),
        )
        .await;
    assert!(s.is_success(), "{s}");
    let (s, _) = app
        .post(
            &format!("/api/v1/accounts/{a}/security-reports"),
            &ada.token,
            json!({"kind": "phishing_email", "description": "A look-alike login page."}),
        )
        .await;
    assert!(s.is_success(), "{s}");
    let (s, _) = app.invite(&ada, "alan@example.com", "analyst").await;
    assert!(s.is_success(), "{s}");
    let invitation = app.invitation_token("alan@example.com").await;
    let signup = app
        .request_signup("Babbage Ltd", "Charles Babbage", "charles@example.com")
        .await;
    // The paid plan's pages (single sign-on): it requires MFA, so Ada has an authenticator app.
    let secret = app.enrol_totp(&ada).await;
    app.set_plan(&ada, "paid").await;
    let signed_out = [
        "/login".to_owned(),
        "/signup".to_owned(),
        "/password-reset".to_owned(),
        format!("/signup/confirm?token={signup}"),
        format!("/invitations/accept?token={invitation}"),
    ];
    let signed_in = [
        "/app?list=1".to_owned(),
        format!("/accounts/{a}/security?welcome=1"),
        format!("/accounts/{a}/security-reports"),
        format!("/accounts/{a}/members"),
        format!("/accounts/{a}/access-review"),
        format!("/accounts/{a}/roles"),
        format!("/accounts/{a}/audit"),
        format!("/accounts/{a}/audit?actor=nobody"),
        format!("/accounts/{a}/report"),
        format!("/accounts/{a}/api-keys"),
        format!("/accounts/{a}/integrations"),
        format!("/accounts/{a}/audit-streams"),
        format!("/accounts/{a}/settings/security"),
        format!("/accounts/{a}/settings/sso"),
        "/me/security".to_owned(),
        "/me/sessions".to_owned(),
    ];
    let b = Browser::start().await;
    let mut failed = Vec::new();
    for (w, h) in WIDTHS {
        b.resize(w, h).await;
        for path in &signed_out {
            failed.extend(check(&b, &app, path, w).await);
        }
    }
    b.goto(&app.url("/login")).await;
    b.fill("email", "ada@example.com").await;
    b.fill("password", watchword_testkit::PASSWORD).await;
    b.click("form button[type=submit]").await;
    // The second-factor step of the login, as it comes.
    failed.extend(here(&b, "/login (second factor)", 1280).await);
    // The next time step's code: the current one was spent confirming the app.
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let code = watchword_testkit::oathtool_at(&secret, Some(unix + 30));
    b.fill("code", &code).await;
    b.click("form button[type=submit]").await;
    b.wait_signed_in().await;
    for (w, h) in WIDTHS {
        b.resize(w, h).await;
        for path in &signed_in {
            failed.extend(check(&b, &app, path, w).await);
        }
        // An event's detail view, from the log.
        b.goto(&app.url(&format!("/accounts/{a}/audit"))).await;
        if w < 600 {
            b.press("#menu summary").await;
        }
        b.click("#events a").await;
        let detail = b.path().await;
        assert!(detail.contains("/audit/"), "{detail}");
        failed.extend(check(&b, &app, &detail, w).await);
    }
    // A member without a second factor in an account that requires one: the refused page.
    b.resize(1280, 900).await;
    b.goto(&app.url("/app?list=1")).await;
    b.click("header form.logout button").await;
    b.sign_in(&app, "grace@example.com").await;
    assert!(
        b.text()
            .await
            .contains("This account needs a second factor")
    );
    for (w, h) in WIDTHS {
        b.resize(w, h).await;
        b.goto(&app.url(&format!("/accounts/{a}/members"))).await;
        failed.extend(here(&b, "refused", w).await);
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_navigation_marks_the_page_and_folds_on_a_phone() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    let b = Browser::start().await;
    b.resize(1280, 900).await;
    b.sign_in(&app, "ada@example.com").await;
    b.goto(&app.url(&format!("/accounts/{}/members", ada.account)))
        .await;
    let current = b
        .text_of("nav[aria-label=Sections] a[aria-current=page]")
        .await;
    assert_eq!(current, "Members");
    let marked = b
        .client
        .find_all(Locator::Css("a[aria-current=page]"))
        .await
        .unwrap();
    assert_eq!(marked.len(), 1, "one current page");
    // The event detail marks the log it belongs to.
    b.goto(&app.url(&format!("/accounts/{}/audit", ada.account)))
        .await;
    b.click("#events a").await;
    assert_eq!(
        b.text_of("nav[aria-label=Sections] a[aria-current=page]")
            .await,
        "Audit log"
    );
    // Wide: the menu's links show; no "Menu" button.
    assert!(
        !b.client
            .find(Locator::Css("#menu summary"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    // A phone: one "Menu" button, the links hidden until it is pressed.
    b.resize(390, 844).await;
    b.goto(&app.url(&format!("/accounts/{}/members", ada.account)))
        .await;
    let link = b
        .client
        .find(Locator::Css("nav[aria-label=Sections] a[href$='/roles']"))
        .await
        .unwrap();
    assert!(!link.is_displayed().await.unwrap(), "folded");
    b.press("#menu summary").await;
    assert!(link.is_displayed().await.unwrap(), "unfolded");
    b.click("nav[aria-label=Sections] a[href$='/roles']").await;
    assert!(b.path().await.ends_with("/roles"));
    b.close().await;
}
