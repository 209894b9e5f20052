//! The web console in real headless Chromium, on SQLite and PostgreSQL: sign up, invite with a
//! least-privilege role, accept, log in by keyboard, manage members and roles, see and revoke
//! sessions, read the audit log.

use fantoccini::Locator;
use fantoccini::key::Key;
use watchword_testkit::browser::Browser;
use watchword_testkit::{PASSWORD, TestApp, both_backends};

both_backends!(console_end_to_end, |app: TestApp| async move {
    let b = Browser::start().await;
    // Sign up.
    b.goto(&app.url("/signup")).await;
    b.fill("account_name", "Acme").await;
    b.fill("name", "Ada Lovelace").await;
    b.fill("email", "ada@example.com").await;
    b.fill("password", "abcdefghijkl").await;
    b.click("form button[type=submit]").await;
    assert!(
        b.text().await.contains("include at least one number"),
        "policy message shown: {}",
        b.text().await
    );
    b.fill("password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    assert!(
        b.text().await.contains("Check your email"),
        "{}",
        b.text().await
    );
    // The link's page changes nothing until its button is pressed.
    let token = app.signup_token("ada@example.com").await;
    b.goto(&app.url(&format!("/signup/confirm?token={token}")))
        .await;
    let (s, _) = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(s, reqwest::StatusCode::UNAUTHORIZED);
    b.click("#confirm-signup").await;
    // The first page is the security overview, with a welcome and the next step.
    let text = b.text().await;
    assert!(
        b.path().await.ends_with("/security")
            && text.contains("Welcome to watchword")
            && text.contains("Next: add a second factor"),
        "{text}"
    );
    // The account switcher creates a further account for the signed-in person.
    b.goto(&app.url("/app?list=1")).await;
    b.fill("new_account_name", "Acme Labs").await;
    b.click("#create-account").await;
    // An account opens on its security overview for its Owner.
    assert!(
        b.text().await.contains("Security overview") && b.path().await.ends_with("/security"),
        "{}",
        b.text().await
    );
    b.goto(&app.url("/app?list=1")).await;
    assert!(
        b.text().await.contains("Acme Labs") && b.text().await.contains("Acme"),
        "{}",
        b.text().await
    );
    b.client
        .find(Locator::LinkText("Acme"))
        .await
        .expect("Acme in the switcher")
        .click()
        .await
        .expect("open Acme");
    b.click("a[href$='/members']").await;
    assert!(
        b.text().await.contains("Members of Acme"),
        "{}",
        b.text().await
    );
    // Invite Grace as Analyst.
    b.fill("invite-email", "grace@example.com").await;
    b.click("form[action$='/members/invite'] button").await;
    let text = b.text().await;
    assert!(text.contains("Invitation sent."), "{text}");
    assert!(
        text.contains("grace@example.com") && text.contains("Invited"),
        "{text}"
    );
    // Create a custom role with one permission.
    b.click("a[href$='/roles']").await;
    b.fill("role-name", "Auditor").await;
    let perm = b
        .client
        .find(Locator::Css("input[value='audit_log:read']"))
        .await
        .unwrap();
    perm.click().await.unwrap();
    b.click("form[action$='/roles'] button").await;
    assert!(b.text().await.contains("Role created."));
    assert!(b.text().await.contains("Auditor"));
    // Log out.
    b.click("header form button").await;
    assert_eq!(b.path().await, "/login");
    // Grace accepts from the emailed link and chooses a password.
    let token = app.invitation_token("grace@example.com").await;
    b.goto(&app.url(&format!("/invitations/accept?token={token}")))
        .await;
    b.fill("name", "Grace Hopper").await;
    b.fill("password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    // One account: straight into it (an Analyst's first page is reporting).
    assert!(b.path().await.ends_with("/report"), "{}", b.path().await);
    b.goto(&app.url("/app?list=1")).await;
    let text = b.text().await;
    assert!(text.contains("Acme") && text.contains("Analyst"), "{text}");
    // An Analyst has no Members page: the account opens on reporting suspicious activity.
    b.click("main a").await;
    assert!(
        b.text().await.contains("Report suspicious activity"),
        "{}",
        b.text().await
    );
    b.click("a[href$='/members']").await;
    assert!(
        b.text().await.contains("users:read") || b.text().await.contains("permission"),
        "{}",
        b.text().await
    );
    b.goto(&app.url("/me/sessions")).await;
    assert!(b.text().await.contains("this session"));
    b.goto(&app.url("/app?list=1")).await;
    b.click("header form button").await;
    // Ada logs in with the keyboard only: type, Tab, type, Enter.
    b.goto(&app.url("/login")).await;
    b.fill("email", "ada@example.com").await;
    let email = b.client.find(Locator::Id("email")).await.unwrap();
    email.send_keys(&Key::Tab.to_string()).await.unwrap();
    let active = b.client.active_element().await.unwrap();
    assert_eq!(
        active.attr("id").await.unwrap().as_deref(),
        Some("password")
    );
    active
        .send_keys(&format!("{PASSWORD}{}", Key::Enter))
        .await
        .unwrap();
    b.wait_signed_in().await;
    b.click("main a").await;
    assert!(b.text().await.contains("Security score"));
    b.click("a[href$='/members']").await;
    assert!(b.text().await.contains("Members of Acme"));
    // Change Grace's role to Manager, then deactivate her.
    let select = b
        .client
        .find(Locator::Css("tr[data-member='grace@example.com'] select"))
        .await
        .unwrap();
    select.select_by_value("manager").await.unwrap();
    b.click("tr[data-member='grace@example.com'] form[action$='/role'] button")
        .await;
    assert!(b.text().await.contains("Role changed."));
    // Deactivating opens a dialog that says what happens to her API keys and apps.
    b.press("tr[data-member='grace@example.com'] details:first-of-type summary")
        .await;
    let dialog = b
        .text_of("tr[data-member='grace@example.com'] details:first-of-type")
        .await;
    assert!(dialog.contains("can no longer sign in"), "{dialog}");
    b.click("tr[data-member='grace@example.com'] form[action$='/deactivate'] button")
        .await;
    assert!(b.text().await.contains("Member deactivated."));
    let row = b.text_of("tr[data-member='grace@example.com']").await;
    assert!(
        row.contains("Manager") && row.contains("Deactivated"),
        "{row}"
    );
    // Sessions: two for Ada (the signup one was ended by logout, so one) — revoke others works.
    b.goto(&app.url("/me/sessions")).await;
    assert!(b.text().await.contains("this session"));
    b.click("form[action='/me/sessions/revoke-others'] button")
        .await;
    assert!(
        b.text()
            .await
            .contains("All other sessions were logged out.")
    );
    // Audit log shows what happened, newest first.
    b.goto(&app.url("/app?list=1")).await;
    b.click("main a").await;
    b.click("a[href$='/audit']").await;
    let text = b.text_of("#events").await;
    // In words for people, no raw codes, no milliseconds.
    for action in [
        "Member deactivated",
        "Member's role changed",
        "Invitation accepted",
        "Role created",
        "Member invited",
        "Account created",
        "Logged in",
    ] {
        assert!(
            text.contains(action),
            "{action} missing from the audit page: {text}"
        );
    }
    assert!(
        !text.contains("member.invited") && !text.contains(".000Z"),
        "{text}"
    );
    // Targets by name: the invited member's email, not an id.
    assert!(text.contains("grace@example.com"), "{text}");
    let select = b.client.find(Locator::Id("action")).await.unwrap();
    b.client
        .execute(
            "arguments[0].value = 'member.invited'",
            vec![serde_json::to_value(&select).unwrap()],
        )
        .await
        .unwrap();
    b.click("#filter").await;
    let text = b.text_of("#events").await;
    assert!(
        text.contains("Member invited") && !text.contains("Account created"),
        "{text}"
    );
    b.close().await;
});

both_backends!(
    password_fields_show_what_was_typed_and_tick_off_the_rules,
    |app: TestApp| async move {
        let b = Browser::start().await;
        b.goto(&app.url("/signup")).await;
        b.fill("name", "Ada Lovelace").await;
        b.fill("email", "ada@example.com").await;
        b.fill("password", "lovelace").await;
        let rules = b.text_of("ul.password-rules").await;
        for unmet in [
            "✗ At least 12 characters",
            "✗ A number",
            "✗ A symbol",
            "✗ Not your name or email",
        ] {
            assert!(rules.contains(unmet), "{unmet}: {rules}");
        }
        assert!(rules.contains("✓ A letter"), "{rules}");
        assert_eq!(b.attr("meter.password-meter", "value").await, "1");
        b.fill("password", PASSWORD).await;
        let rules = b.text_of("ul.password-rules").await;
        assert!(!rules.contains('✗'), "{rules}");
        assert_eq!(b.attr("meter.password-meter", "value").await, "5");
        // Show reveals what was typed; pressed again, it hides it.
        assert_eq!(b.attr("#password", "type").await, "password");
        b.press("#password + button.show-password").await;
        assert_eq!(b.attr("#password", "type").await, "text");
        assert_eq!(b.text_of("button.show-password").await, "Hide");
        b.press("#password + button.show-password").await;
        assert_eq!(b.attr("#password", "type").await, "password");
        // A password to confirm an existing login gets the button, not the rules.
        b.goto(&app.url("/login")).await;
        assert!(b.text().await.contains("Show"));
        assert!(!b.text().await.contains("At least 12 characters"));
        b.close().await;
    }
);

both_backends!(
    forms_refuse_missing_csrf_tokens,
    |app: TestApp| async move {
        let b = Browser::start().await;
        b.sign_up_ada(&app).await;
        b.click("a[href$='/members']").await;
        assert!(
            b.text().await.contains("Members of Acme"),
            "{} {}",
            b.path().await,
            b.text().await
        );
        // Blank the token in the page, then submit: refused, and nothing changes.
        let input = b
            .client
            .find(Locator::Css(
                "form[action$='/members/invite'] input[name=csrf_token]",
            ))
            .await
            .unwrap();
        b.client
            .execute(
                "arguments[0].value = 'forged'",
                vec![serde_json::to_value(&input).unwrap()],
            )
            .await
            .unwrap_or_default();
        b.fill("invite-email", "grace@example.com").await;
        b.click("form[action$='/members/invite'] button").await;
        assert!(b.text().await.contains("refused"), "{}", b.text().await);
        b.goto(&app.url("/app?list=1")).await;
        b.click("main a").await;
        assert!(!b.text().await.contains("grace@example.com"));
        b.close().await;
    }
);

both_backends!(
    an_admin_changes_the_security_contact_and_an_analyst_never_sees_it,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let _admin = app
            .invite_and_accept(&ada, "admin@example.com", "admin")
            .await;
        let _grace = app
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        let _analyst = app
            .invite_and_accept(&ada, "gregory@example.com", "analyst")
            .await;
        let b = Browser::start().await;
        let login = |email: &'static str| {
            let b = &b;
            let app = &app;
            async move {
                b.goto(&app.url("/login")).await;
                b.fill("email", email).await;
                b.fill("password", PASSWORD).await;
                b.click("form button[type=submit]").await;
                b.wait_signed_in().await;
                b.goto(&app.url("/app?list=1")).await;
            }
        };
        login("admin@example.com").await;
        b.click("main a").await;
        b.click("a[href$='/settings/security']").await;
        let text = b.text().await;
        assert!(
            text.contains("Security Contact")
                && text.contains("Ada Lovelace")
                && text.contains("Default: the account Owner"),
            "{text}"
        );
        // Type to search: the list follows the typing (script), eligible selectable, ineligible greyed.
        b.fill("contact-search", "gr").await;
        let mut ready = false;
        for _ in 0..200 {
            let items = b
                .client
                .find_all(Locator::Css("#candidates li"))
                .await
                .unwrap();
            if items.len() == 2 {
                ready = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert!(ready, "live search shows grace and gregory");
        let analyst_row = b.text_of("#candidates li.ineligible").await;
        assert!(
            analyst_row.contains("gregory@example.com")
                && analyst_row.contains("account_settings:edit"),
            "{analyst_row}"
        );
        let disabled = b
            .client
            .find(Locator::Css("#candidates li.ineligible input"))
            .await
            .unwrap()
            .attr("disabled")
            .await
            .unwrap();
        assert!(disabled.is_some());
        b.client
            .find(Locator::Css("#candidates li:not(.ineligible) input"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        b.click("#save-contact").await;
        let text = b.text().await;
        assert!(text.contains("Security Contact changed."), "{text}");
        assert!(
            b.text_of("#current-contact")
                .await
                .contains("grace@example.com")
        );
        assert!(text.contains("Picked by"));
        // Both the previous (Ada) and the new contact (Grace) are told.
        app.wait_for_email("ada@example.com", "Security Contact of Acme changed")
            .await;
        app.wait_for_email("grace@example.com", "Security Contact of Acme changed")
            .await;
        b.click("header form button").await;
        // The Analyst sees no Settings link and the page does not exist for them.
        login("gregory@example.com").await;
        b.goto(&app.url(&format!("/accounts/{}/members", ada.account)))
            .await;
        assert!(
            b.client
                .find_all(Locator::Css("a[href$='/settings/security']"))
                .await
                .unwrap()
                .is_empty()
        );
        b.goto(&app.url(&format!("/accounts/{}/settings/security", ada.account)))
            .await;
        let text = b.text().await;
        assert!(
            !text.contains("Security Contact") && !text.contains("grace@example.com"),
            "{text}"
        );
        b.close().await;
    }
);
