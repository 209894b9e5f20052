//! My security and Settings › Security in real headless Chromium, on SQLite and PostgreSQL: an
//! authenticator app enrolled from the page (QR code and key shown, code from Debian's
//! oathtool), recovery codes shown once, the backup nudge, the "require MFA" switch with its
//! count of members without MFA, step-up asked on the page and the action completed, "log out
//! everywhere", and password reset through the emailed link.

use fantoccini::Locator;
use reqwest::StatusCode;
use watchword_testkit::browser::Browser;
use watchword_testkit::{PASSWORD, TestApp, both_backends, oathtool};

both_backends!(my_security_and_mfa_settings, |app: TestApp| async move {
    let b = Browser::start().await;
    b.sign_up_ada(&app).await;
    let settings = b
        .client
        .find(Locator::Css("a[href$='/settings/security']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();

    // Enrol an authenticator app from the page.
    b.goto(&app.url("/me/security")).await;
    assert!(b.text().await.contains("password alone"));
    b.click("#totp-start").await;
    let svg = b
        .client
        .find(Locator::Css("#totp-qr svg"))
        .await
        .expect("QR code shown");
    assert!(
        svg.attr("viewBox").await.unwrap().is_some() || svg.attr("width").await.unwrap().is_some()
    );
    let secret = b.text_of("#totp-secret").await;
    b.goto(&app.url("/me/security")).await;
    b.click("#totp-start").await;
    let secret2 = b.text_of("#totp-secret").await;
    assert_ne!(secret, secret2, "a new secret each time");
    b.fill("totp-code", "000000").await;
    b.click("#totp-confirm").await;
    assert!(
        b.text().await.contains("the code is incorrect"),
        "{}",
        b.text().await
    );
    // The same enrolment is shown again (QR code and key), so the code can be retried.
    assert_eq!(b.text_of("#totp-secret").await, secret2);
    b.client
        .find(Locator::Css("#totp-qr svg"))
        .await
        .expect("QR code shown again");
    b.fill("totp-code", &oathtool(&secret2)).await;
    b.click("#totp-confirm").await;
    let text = b.text().await;
    assert!(text.contains("Authenticator app added."), "{text}");
    assert_eq!(b.text_of("#recovery-codes").await.lines().count(), 10);
    assert!(
        text.contains("You have only one method"),
        "backup nudge: {text}"
    );
    b.goto(&app.url("/me/security")).await;
    assert!(
        b.client.find(Locator::Id("recovery-codes")).await.is_err(),
        "codes are shown once"
    );

    // Settings › Security: nobody lacks MFA; require it.
    b.goto(&app.url(&settings)).await;
    assert!(
        b.text_of("#members-without-mfa")
            .await
            .starts_with("0 member")
    );
    b.client
        .find(Locator::Id("mfa-required"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("#save-mfa").await;
    assert!(
        b.text()
            .await
            .contains("Multi-factor authentication setting saved."),
        "{}",
        b.text().await
    );
    let account = settings.split('/').nth(2).unwrap().to_owned();
    let (_, login) = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(login["mfa_required"], true);
    let n = app
        .sql(
            "UPDATE accounts SET name = name WHERE id = $1 AND mfa_required = 1",
            &[&account],
        )
        .await;
    assert_eq!(n, 1, "require MFA stored for {account}");

    // A pending enrolment's key is shown again only while the sign-in is recent (as starting one
    // needs): with an old sign-in, a wrong code shows the error and no key.
    b.goto(&app.url("/me/security")).await;
    b.click("#totp-start").await;
    assert!(!b.text_of("#totp-secret").await.is_empty());
    app.make_sign_ins_old();
    b.fill("totp-code", "000000").await;
    b.click("#totp-confirm").await;
    assert!(b.text().await.contains("the code is incorrect"));
    assert!(
        b.client.find(Locator::Id("totp-secret")).await.is_err(),
        "the key is not shown again after the sign-in went old"
    );

    // Step-up on the page: an old sign-in is asked for the password, then the action completes.
    b.goto(&app.url("/me/security")).await;
    b.click("section[aria-labelledby='recovery-heading'] form button")
        .await;
    b.confirm_it_is_you("#reauth-submit").await;
    let text = b.text().await;
    assert!(text.contains("New recovery codes"), "{text}");
    assert_eq!(b.text_of("#recovery-codes").await.lines().count(), 10);

    // Log out everywhere: this browser too.
    b.click("#logout-all").await;
    assert_eq!(b.path().await, "/login");
    assert!(b.text().await.contains("You were logged out everywhere."));
    b.goto(&app.url("/app?list=1")).await;
    assert_eq!(b.path().await, "/login");

    // Password reset through the emailed link.
    b.goto(&app.url("/password-reset")).await;
    b.fill("email", "ada@example.com").await;
    b.click("form button[type=submit]").await;
    assert!(b.text().await.contains("a reset link is on its way"));
    let mail = app
        .wait_for_email("ada@example.com", "Reset your watchword password")
        .await;
    let token = watchword_testkit::mail::link_token(&mail.text).expect("link");
    b.goto(&app.url(&format!("/reset-password?token={token}")))
        .await;
    b.fill("new_password", "another-Strong-pass-92!").await;
    b.click("form button[type=submit]").await;
    assert_eq!(b.path().await, "/login");
    assert!(b.text().await.contains("Your password was reset."));
    let (s, _) = app
        .login("ada@example.com", "another-Strong-pass-92!")
        .await;
    assert_eq!(s, StatusCode::OK);
    b.close().await;
});

both_backends!(
    phone_and_email_from_my_security,
    |app: TestApp| async move {
        let b = Browser::start().await;
        b.sign_up_ada(&app).await;

        // A phone, labelled the weakest method, confirmed by the texted code.
        b.goto(&app.url("/me/security")).await;
        assert!(b.text().await.contains("the weakest method"));
        b.fill("sms-phone", "+44 20 7946 0958").await;
        b.click("#sms-start").await;
        b.wait_for_text("A code is on its way to your phone ending •••58")
            .await;
        let code = watchword_testkit::sms::code_of(&app.wait_for_sms(1).await);
        b.fill("sms-code", &code).await;
        b.click("#sms-confirm").await;
        b.wait_for_text("Phone added for text-message codes.").await;
        let factors = b.text_of("#factors").await;
        assert!(factors.contains("Text message (SMS)"), "{factors}");
        assert_eq!(b.text_of("#recovery-codes").await.lines().count(), 10);

        // Step-up by SMS on the page: the pending email change then goes ahead.
        app.make_sign_ins_old();
        app.age_sms_codes(31).await;
        b.goto(&app.url("/me/security")).await;
        b.fill("new-email", "ada.new@example.com").await;
        b.click("#email-change").await;
        b.wait_for_text("Confirm it is you").await;
        b.click("#reauth-send-sms").await;
        b.wait_for_text("A code is on its way").await;
        let code = watchword_testkit::sms::code_of(&app.wait_for_sms(2).await);
        b.fill("reauth-code", &code).await;
        b.click("#reauth-submit").await;
        b.wait_for_text("A confirmation link is on its way to the new address")
            .await;

        // The emailed link opens a page whose button confirms.
        let mail = app
            .wait_for_email("ada.new@example.com", "Confirm your new watchword email")
            .await;
        let token = watchword_testkit::mail::link_token(&mail.text).unwrap();
        b.goto(&app.url(&format!("/confirm-email?token={token}")))
            .await;
        assert_eq!(
            app.login("ada@example.com", PASSWORD).await.0,
            StatusCode::OK,
            "opening the link alone changes nothing"
        );
        b.click("#confirm-email").await;
        b.wait_for_text("you now sign in as ada.new@example.com")
            .await;
        assert_eq!(
            app.login("ada.new@example.com", PASSWORD).await.0,
            StatusCode::OK
        );
        b.close().await;

        // Signing in on the login page with a texted code.
        app.age_sms_codes(31).await;
        let b = Browser::start().await;
        b.goto(&app.url("/login")).await;
        b.fill("email", "ada.new@example.com").await;
        b.fill("password", PASSWORD).await;
        b.click("form button[type=submit]").await;
        b.wait_for_text("Two-step verification").await;
        b.click("#send-sms").await;
        b.wait_for_text("A code is on its way to your phone ending •••58")
            .await;
        let code = watchword_testkit::sms::code_of(&app.wait_for_sms(3).await);
        b.fill("code", &code).await;
        b.click("form button[type=submit]").await;
        b.wait_signed_in().await;
        b.close().await;
    }
);
