//! No dead ends in the console: a page the authority room refuses is a page in the console's
//! frame with the reason and the way out (here: a member without a second factor in an account
//! that requires one), reporting suspicious activity is never blocked, and My security changes
//! the password.

use fantoccini::Locator;
use reqwest::StatusCode;
use watchword_testkit::browser::Browser;
use watchword_testkit::{TestApp, both_backends, first_cookie, oathtool};

async fn page(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String, String) {
    let res = app
        .client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, res.text().await.unwrap())
}

both_backends!(
    a_member_without_a_factor_is_shown_the_way,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        app.enrol_totp(&ada).await;
        app.invite_and_accept(&ada, "grace@example.com", "manager")
            .await;
        app.set_plan(&ada, "paid").await;
        let cookie = first_cookie(&app.cookie_login("grace@example.com").await).unwrap();
        let members = format!("/accounts/{}/members", ada.account);
        let (status, kind, html) = page(&app, &cookie, &members).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(kind.starts_with("text/html"), "{kind}");
        assert!(
            html.contains("This account needs a second factor"),
            "{html}"
        );
        // The way out comes back here.
        let back = format!(
            r#"id="add-factor" href="/me/security?next=/accounts/{}/members""#,
            ada.account
        );
        assert!(html.contains(&back), "{html}");
        // In the frame: the navigation and the way to log out.
        assert!(
            html.contains(r#"action="/logout""#) && html.contains("My security"),
            "{html}"
        );
        assert!(
            !html.contains("POST /api/v1"),
            "no API calls in words for people: {html}"
        );
        // Reporting suspicious activity is never blocked.
        let report = format!("/accounts/{}/report", ada.account);
        let (status, _, html) = page(&app, &cookie, &report).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        // Someone else's account stays indistinguishable from a missing one, in the frame.
        let eve = app.signup("Evil", "Eve", "eve@example.com").await;
        let (status, _, html) =
            page(&app, &cookie, &format!("/accounts/{}/members", eve.account)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!html.contains("Evil"), "{html}");
    }
);

fn csrf_in(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let rest = &html[html.find(marker).expect("a form") + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

both_backends!(
    my_security_changes_the_password,
    |app: TestApp| async move {
        app.signup("Acme", "Ada", "ada@example.com").await;
        let cookie = first_cookie(&app.cookie_login("ada@example.com").await).unwrap();
        let (status, _, html) = page(&app, &cookie, "/me/security").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(r#"id="password-change""#), "{html}");
        let csrf = csrf_in(&html);
        let change = |current: &'static str, new: &'static str| {
            let form = [
                ("csrf_token", csrf.as_str()),
                ("op", "change_password"),
                ("current_password", current),
                ("new_password", new),
            ];
            app.client
                .post(app.url("/me/security"))
                .header("cookie", &cookie)
                .header("origin", app.url(""))
                .form(&form)
                .send()
        };
        let wrong = change("not my password at all", "A new passphrase 42!")
            .await
            .unwrap();
        assert!(wrong.status().is_client_error(), "{}", wrong.status());
        assert!(
            wrong.text().await.unwrap().contains("password"),
            "the error is shown"
        );
        let ok = change(watchword_testkit::PASSWORD, "A new passphrase 42!")
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::SEE_OTHER);
        let to = ok.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(to, "/me/security?done=password_changed");
        let (status, _, html) = page(&app, &cookie, &to).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Password changed."), "{html}");
        let (s, _) = app
            .login("ada@example.com", watchword_testkit::PASSWORD)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = app.login("ada@example.com", "A new passphrase 42!").await;
        assert_eq!(s, StatusCode::OK);
    }
);

both_backends!(
    a_new_client_secret_is_shown_like_a_new_key,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        let cookie = first_cookie(&app.cookie_login("ada@example.com").await).unwrap();
        let path = format!("/accounts/{}/integrations", ada.account);
        let (status, _, html) = page(&app, &cookie, &path).await;
        assert_eq!(status, StatusCode::OK);
        let csrf = csrf_in(&html);
        let form = [
            ("csrf_token", csrf.as_str()),
            ("name", "Sync"),
            ("developer", "Acme IT"),
            ("kind", "confidential"),
            ("scopes", "members:read"),
            ("password", watchword_testkit::PASSWORD),
        ];
        let res = app
            .client
            .post(app.url(&path))
            .header("cookie", &cookie)
            .header("origin", app.url(""))
            .form(&form)
            .send()
            .await
            .unwrap();
        let html = res.text().await.unwrap();
        assert!(html.contains(r#"id="client-secret-warning""#), "{html}");
        assert!(html.contains("shown this once"), "{html}");
        assert!(html.contains(r#"data-copy="client-secret""#), "{html}");
    }
);

both_backends!(
    a_member_is_guided_through_enrolment_and_back,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        app.enrol_totp(&ada).await;
        app.invite_and_accept(&ada, "grace@example.com", "manager")
            .await;
        app.set_plan(&ada, "paid").await;
        let b = Browser::start().await;
        b.sign_in(&app, "grace@example.com").await;
        // Her one account opens on Members, which the account refuses without a factor.
        let members = format!("/accounts/{}/members", ada.account);
        assert_eq!(b.path().await, members);
        assert!(
            b.text()
                .await
                .contains("This account needs a second factor"),
            "{}",
            b.text().await
        );
        b.click("#add-factor").await;
        assert_eq!(b.path().await, "/me/security");
        assert!(
            b.text_of("#guide")
                .await
                .contains("Protect your login to continue")
        );
        // An authenticator app, with a code from an independent TOTP tool.
        b.click("#totp-start").await;
        let secret = b.text_of("#totp-secret").await;
        b.fill("totp-code", &oathtool(&secret)).await;
        b.click("#totp-confirm").await;
        // The recovery codes: copy, download, and "I saved them" before going on.
        let codes = b.text_of("#recovery-codes").await;
        assert_eq!(codes.lines().count(), 10, "{codes}");
        let download = b.attr("#download-codes", "href").await;
        assert!(download.starts_with("data:text/plain"), "{download}");
        let first = codes.lines().next().unwrap().trim();
        assert!(download.contains(first), "{download}");
        assert!(
            !b.attr("button[data-copy=recovery-codes]", "hidden")
                .await
                .eq("true")
        );
        // The box must be ticked: the browser refuses the form without it.
        b.press("#continue").await;
        assert_eq!(b.path().await, "/me/security");
        b.client
            .find(Locator::Id("codes-saved"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.click("#continue").await;
        // Back where she was going, now allowed.
        assert_eq!(b.path().await, members);
        assert!(
            b.text().await.contains("Members of Acme"),
            "{}",
            b.text().await
        );
        b.close().await;
    }
);

/// Percent-encodes every byte but letters and digits.
fn escaped(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_way_back_never_leaves_the_site() {
    let app = TestApp::spawn(watchword_testkit::Backend::Sqlite)
        .await
        .unwrap();
    app.signup("Acme", "Ada", "ada@example.com").await;
    let cookie = first_cookie(&app.cookie_login("ada@example.com").await).unwrap();
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let res = app
            .client
            .get(app.url(&format!("/me/continue?next={}", escaped(next))))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(res.headers()["location"], "/app", "{next}");
        let (_, _, html) = page(
            &app,
            &cookie,
            &format!("/me/security?next={}", escaped(next)),
        )
        .await;
        assert!(!html.contains("evil.example"), "{next}: {html}");
    }
    let res = app
        .client
        .get(app.url("/me/continue?next=%2Faccounts%2Fx%2Fmembers"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/accounts/x/members");
}
