//! The API keys page in real headless Chromium, on SQLite and PostgreSQL: create with custom
//! scopes, the secret shown once, rotate after confirming the password, revoke with confirmation.

use fantoccini::Locator;
use reqwest::StatusCode;
use watchword_domain::Millis;
use watchword_testkit::browser::Browser;
use watchword_testkit::{TestApp, both_backends};

both_backends!(api_keys_page_end_to_end, |app: TestApp| async move {
    let b = Browser::start().await;
    b.sign_up_ada(&app).await;
    b.click("a[href$='/api-keys']").await;
    let keys_path = b.path().await;
    assert!(b.text().await.contains("No API keys yet."));
    // Create a key with one custom scope.
    b.fill("key-name", "Zapier").await;
    for css in ["#preset-custom", "input[value='members:read']"] {
        b.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    b.click("form[action$='/api-keys'] button[type=submit]")
        .await;
    assert!(
        b.text().await.contains("shown this once"),
        "{}",
        b.text().await
    );
    let secret = b.text_of("#new-key").await;
    assert!(secret.starts_with("ww_"), "{secret}");
    let copy = b
        .client
        .find(Locator::Css("button[data-copy]"))
        .await
        .unwrap();
    assert!(
        copy.is_displayed().await.unwrap(),
        "copy button shown by script"
    );
    let (s, who) = app.whoami(&secret).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        who["api_key"]["scopes"],
        serde_json::json!(["members:read"])
    );
    let id = who["api_key"]["id"].as_str().unwrap().to_owned();
    // Never shown again.
    b.goto(&app.url(&keys_path)).await;
    let source = b.client.source().await.unwrap();
    assert!(source.contains(&id) && source.contains("Zapier"));
    assert!(!source.contains(&secret[3..]));
    // Rotating needs a recent sign-in: the page asks for the password, then completes.
    let old = (Millis::now().0 - 20 * 60 * 1000).to_string();
    app.sql(
        "UPDATE sessions SET authenticated_at = CAST($1 AS BIGINT)",
        &[&old],
    )
    .await;
    b.click(&format!("#row-{id} form[action$='/rotate'] button"))
        .await;
    b.confirm_it_is_you("form.reauth button:not(.show-password)")
        .await;
    let text = b.text().await;
    assert!(
        text.contains("API key rotated") && text.contains("Zapier (2)"),
        "{text}"
    );
    let new_secret = b.text_of("#new-key").await;
    assert_eq!(app.whoami(&new_secret).await.0, StatusCode::OK);
    assert_eq!(app.whoami(&secret).await.0, StatusCode::OK);
    // Revoke the old key after confirming.
    b.goto(&app.url(&keys_path)).await;
    assert!(b.text().await.contains("Expiring soon"));
    b.client
        .find(Locator::Css(&format!("#row-{id} summary")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click(&format!("#row-{id} button.danger")).await;
    assert!(
        b.text().await.contains("API key revoked"),
        "{}",
        b.text().await
    );
    assert_eq!(app.whoami(&secret).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.whoami(&new_secret).await.0, StatusCode::OK);
    b.close().await;
});
