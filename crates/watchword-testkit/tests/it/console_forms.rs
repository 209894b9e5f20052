//! Forms keep what was typed when the server refuses them (never a password), with the error by
//! its field; the audit log filters by action, actor and dates, says when nothing matches, and
//! opens each event with its raw ids.

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;
use watchword_testkit::browser::Browser;
use watchword_testkit::{TestApp, both_backends, first_cookie};

/// Sets a field's value by script (for values a person could paste but typing would take long).
async fn set(b: &Browser, id: &str, script_value: &str) {
    let el = b.client.find(Locator::Id(id)).await.unwrap();
    b.client
        .execute(
            &format!("arguments[0].value = {script_value}"),
            vec![serde_json::to_value(&el).unwrap()],
        )
        .await
        .unwrap();
}

async fn value(b: &Browser, id: &str) -> String {
    b.client
        .find(Locator::Id(id))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

both_backends!(forms_keep_what_was_typed, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    let b = Browser::start().await;
    b.sign_in(&app, "ada@example.com").await;
    let a = &ada.account;
    // A report whose headers are too long: the description and sender stay, the error sits
    // by the headers.
    b.goto(&app.url(&format!("/accounts/{a}/report"))).await;
    b.fill(
        "report-description",
        "A look-alike login page asked for my password.",
    )
    .await;
    b.fill("report-sender", "payroll@evil.example").await;
    set(&b, "report-headers", "'X-Long: ' + 'x'.repeat(70000)").await;
    b.click("#send-report").await;
    assert!(
        b.client.find(Locator::Id("headers-error")).await.is_ok(),
        "{}",
        b.text().await
    );
    assert_eq!(
        value(&b, "report-description").await,
        "A look-alike login page asked for my password."
    );
    assert_eq!(value(&b, "report-sender").await, "payroll@evil.example");
    // Sent, the advice's "Change my password" leads to the password form.
    set(&b, "report-headers", "''").await;
    b.click("#send-report").await;
    b.click("#change-password-link").await;
    assert_eq!(b.path().await, "/me/security");
    assert!(b.client.find(Locator::Id("password-change")).await.is_ok());
    // An app registration with a wrong password: everything but the password stays.
    b.goto(&app.url(&format!("/accounts/{a}/integrations")))
        .await;
    b.fill("app-name", "Sync").await;
    b.fill("app-developer", "Acme IT").await;
    b.fill("app-redirects", "https://sync.example/callback")
        .await;
    b.client
        .find(Locator::Css("input[value='members:read']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.fill("app-password", "not my password at all").await;
    b.click("#register-app").await;
    assert!(b.text().await.contains("password"), "{}", b.text().await);
    assert_eq!(value(&b, "app-name").await, "Sync");
    assert_eq!(value(&b, "app-developer").await, "Acme IT");
    assert_eq!(
        value(&b, "app-redirects").await,
        "https://sync.example/callback"
    );
    assert_eq!(value(&b, "app-password").await, "", "never a password");
    let ticked = b
        .client
        .find(Locator::Css("input[value='members:read']"))
        .await
        .unwrap()
        .prop("checked")
        .await
        .unwrap();
    assert_eq!(ticked.as_deref(), Some("true"));
    // An invitation to an address that is not one: the address and the role stay.
    b.goto(&app.url(&format!("/accounts/{a}/members"))).await;
    set(&b, "invite-email", "'grace@'").await;
    b.client
        .find(Locator::Css("#invite-role option[value='manager']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let form = b
        .client
        .find(Locator::Css("form[action$='/members/invite']"))
        .await
        .unwrap();
    // Past the browser's own check, as a person with an old browser would send it.
    b.client
        .execute(
            "arguments[0].noValidate = true",
            vec![serde_json::to_value(&form).unwrap()],
        )
        .await
        .unwrap();
    b.click("form[action$='/members/invite'] button").await;
    assert_eq!(value(&b, "invite-email").await, "grace@");
    assert_eq!(value(&b, "invite-role").await, "manager");
    // An API key with an expiry that is not a number of days: the name stays.
    b.goto(&app.url(&format!("/accounts/{a}/api-keys"))).await;
    b.fill("key-name", "Zapier").await;
    set(&b, "key-expiry", "'4000'").await;
    b.click("form[action$='/api-keys'] button[type=submit]")
        .await;
    assert!(b.text().await.contains("expir"), "{}", b.text().await);
    assert_eq!(value(&b, "key-name").await, "Zapier");
    assert_eq!(value(&b, "key-expiry").await, "4000");
    b.close().await;
});

both_backends!(
    the_audit_log_filters_and_opens_events,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let grace = app
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        let (s, _) = app.invite(&grace, "alan@example.com", "analyst").await;
        assert!(s.is_success());
        let cookie = first_cookie(&app.cookie_login("ada@example.com").await).unwrap();
        let get = |path: String| {
            let app = &app;
            let cookie = cookie.clone();
            async move {
                let res = app
                    .client
                    .get(app.url(&path))
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                (res.status(), res.text().await.unwrap())
            }
        };
        let a = &ada.account;
        let rows = |html: &str| html.matches("<tr data-action=").count();
        // Everything, then only what Grace did (part of her email, any case).
        let (s, all) = get(format!("/accounts/{a}/audit")).await;
        assert_eq!(s, StatusCode::OK);
        let (_, graces) = get(format!("/accounts/{a}/audit?actor=GRACE%40")).await;
        assert!(rows(&graces) >= 2 && rows(&graces) < rows(&all), "{graces}");
        assert!(graces.contains("Member invited") && graces.contains("alan@example.com"));
        assert!(!graces.contains(r#"data-action="account.created""#));
        // A LIKE wildcard is a character, not "anything".
        let (_, none) = get(format!("/accounts/{a}/audit?actor=%25")).await;
        assert!(none.contains(r#"id="no-events""#), "{none}");
        assert!(none.contains("No event matches these filters"));
        // Dates: today holds everything; a day in the past holds nothing; a bad date is a 400.
        let today = watchword_domain::Millis::now().rfc3339()[..10].to_owned();
        let (_, today_rows) = get(format!("/accounts/{a}/audit?from={today}&to={today}")).await;
        assert_eq!(rows(&today_rows), rows(&all));
        let (_, old) = get(format!("/accounts/{a}/audit?to=2020-01-01")).await;
        assert_eq!(rows(&old), 0);
        let (s, bad) = get(format!("/accounts/{a}/audit?from=yesterday")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(bad.contains("write it as"), "{bad}");
        // The picker groups actions under headings; the filter keeps its choice.
        assert!(
            all.contains(r#"<optgroup label="Members and roles">"#),
            "{all}"
        );
        let (_, invited) = get(format!("/accounts/{a}/audit?action=member.invited")).await;
        assert!(invited.contains(r#"<option value="member.invited" selected>"#));
        assert_eq!(
            rows(&invited),
            invited.matches(r#"data-action="member.invited""#).count()
        );
        // An event's detail: the target by name, with its raw id.
        let detail = invited
            .split(&format!("/accounts/{a}/audit/"))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned();
        let (s, page) = get(format!("/accounts/{a}/audit/{detail}")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            page.contains("Member invited") && page.contains("alan@example.com"),
            "{page}"
        );
        assert!(page.contains(r#"id="target-id">membership "#), "{page}");
        // Another account's event is not found from this one.
        let eve = app.signup("Evil", "Eve", "eve@example.com").await;
        let (s, _) = get(format!("/accounts/{}/audit/{detail}", eve.account)).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = get(format!("/accounts/{a}/audit/not-an-id")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
);

both_backends!(
    removing_a_member_hands_their_keys_over_by_email,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let grace = app
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        app.invite_and_accept(&ada, "alan@example.com", "admin")
            .await;
        let (s, key) = app
            .post(
                &format!("/api/v1/accounts/{}/api-keys", ada.account),
                &grace.token,
                json!({"name": "sync", "scopes": ["members:read"]}),
            )
            .await;
        assert!(s.is_success(), "{key}");
        let secret = key["secret"].as_str().unwrap().to_owned();
        let cookie = first_cookie(&app.cookie_login("ada@example.com").await).unwrap();
        let members = format!("/accounts/{}/members", ada.account);
        let html = app
            .client
            .get(app.url(&members))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // One list of candidates for the page, not one per member.
        assert_eq!(html.matches("<datalist").count(), 1, "{html}");
        let marker = r#"name="csrf_token" value=""#;
        let rest = &html[html.find(marker).unwrap() + marker.len()..];
        let csrf = rest[..rest.find('"').unwrap()].to_owned();
        let remove = |to: &'static str| {
            let form = [
                ("csrf_token", csrf.as_str()),
                ("confirm", "yes"),
                ("transfer_to", to),
            ];
            app.client
                .post(app.url(&format!("{members}/{}/remove", grace.membership)))
                .header("cookie", &cookie)
                .header("origin", app.url(""))
                .form(&form)
                .send()
        };
        // An address that is no active member: refused, nothing removed.
        let res = remove("nobody@example.com").await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("no active member"));
        assert_eq!(app.whoami(&secret).await.0, StatusCode::OK);
        // Alan takes the key over: it goes on working, now his.
        let res = remove("Alan@Example.com").await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        app.wait_event(&ada, "member.credentials_transferred").await;
        assert_eq!(app.whoami(&secret).await.0, StatusCode::OK);
    }
);
