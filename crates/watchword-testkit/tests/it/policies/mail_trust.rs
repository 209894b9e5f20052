//! Mail people can trust: watchword signs its mail with DKIM (RSA-2048 or Ed25519) and PyPI
//! dkimpy verifies it against the key published in the test's own DNS server (a changed
//! message fails); a person's anti-phishing phrase heads every mail they get and is sealed at
//! rest; every link in the mail points at `public_url`.

use reqwest::{Method, StatusCode};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use watchword_testkit::sso::Dns;
use watchword_testkit::{Backend, TestApp, both_backends, code};

/// A private key (PEM) and its DKIM record's `k=` and `p=` values.
fn key(kind: &str) -> (String, String, String) {
    use base64::Engine;
    use openssl::pkey::PKey;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match kind {
        "rsa" => {
            let k = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
            let pem = String::from_utf8(k.private_key_to_pem_pkcs8().unwrap()).unwrap();
            (pem, "rsa".into(), b64(&k.public_key_to_der().unwrap()))
        }
        _ => {
            let k = PKey::generate_ed25519().unwrap();
            let pem = String::from_utf8(k.private_key_to_pem_pkcs8().unwrap()).unwrap();
            (pem, "ed25519".into(), b64(&k.raw_public_key().unwrap()))
        }
    }
}

fn dkim_verify(file: &Path, dns: &Dns) -> bool {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mail/dkim_verify.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(file)
        .arg(&dns.addr)
        .output()
        .expect("python3 dkim_verify.py");
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        said == "pass" || said == "fail",
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    said == "pass"
}

/// The delivered `.eml` file whose text contains `needle`.
async fn eml_with(app: &TestApp, needle: &str) -> PathBuf {
    for _ in 0..200 {
        if let Ok(dir) = std::fs::read_dir(app.data_dir().join("mail")) {
            for e in dir.flatten() {
                let raw = std::fs::read_to_string(e.path()).unwrap_or_default();
                if raw.contains(needle) {
                    return e.path();
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no mail with {needle:?}");
}

async fn dkim_signed(backend: Backend, kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (pem, k, p) = key(kind);
    let file = dir.path().join("dkim.pem");
    std::fs::write(&file, pem).unwrap();
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.dkim_selector = Some("ww1".into());
        c.dkim_private_key_file = Some(file.clone());
    })
    .await
    else {
        return;
    };
    let dns = Dns::start();
    dns.publish(json!({ "ww1._domainkey.localhost": [format!("v=DKIM1; k={k}; p={p}")] }));
    app.request_signup("Acme", "Ada", "ada@example.com").await;
    let eml = eml_with(&app, "Confirm your email").await;
    let raw = std::fs::read_to_string(&eml).unwrap();
    assert!(raw.contains("DKIM-Signature:"), "{raw}");
    assert!(
        raw.contains(&format!("a={k}-sha256"))
            && raw.contains("s=ww1")
            && raw.contains("d=localhost"),
        "{raw}"
    );
    assert!(dkim_verify(&eml, &dns), "dkimpy refused the signature");
    // A changed message no longer verifies; nor does one checked against another key.
    let changed = dir.path().join("changed.eml");
    std::fs::write(
        &changed,
        raw.replacen("Confirm your email", "Confirm your e-mail", 1),
    )
    .unwrap();
    assert!(!dkim_verify(&changed, &dns));
    let (_, _, other) = key(kind);
    dns.publish(json!({ "ww1._domainkey.localhost": [format!("v=DKIM1; k={k}; p={other}")] }));
    assert!(!dkim_verify(&eml, &dns));
}

async fn dkim_rsa(backend: Backend) {
    dkim_signed(backend, "rsa").await
}
async fn dkim_ed25519(backend: Backend) {
    dkim_signed(backend, "ed25519").await
}
watchword_testkit::on_both_backends!(dkim_signed_rsa, dkim_rsa);
watchword_testkit::on_both_backends!(dkim_signed_ed25519, dkim_ed25519);

both_backends!(a_short_dkim_key_stops_start_up, |app: TestApp| async move {
    let dir = tempfile::tempdir().unwrap();
    let k = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(1024).unwrap()).unwrap();
    let file = dir.path().join("weak.pem");
    std::fs::write(&file, k.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let mut config = watchword::Config {
        data_dir: dir.path().to_path_buf(),
        dkim_selector: Some("ww1".into()),
        dkim_private_key_file: Some(file),
        ..watchword::Config::default()
    };
    let err = watchword::outbound(&config).err().expect("refused");
    assert!(err.contains("1024 bits"), "{err}");
    config.dkim_private_key_file = None;
    assert!(
        watchword::outbound(&config).is_err(),
        "selector without key"
    );
    drop(app);
});

both_backends!(anti_phishing_phrase, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let bob = app
        .invite_and_accept(&ada, "bob@example.com", "analyst")
        .await;
    let put = |token: String, phrase: serde_json::Value| {
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                "/api/v1/me/phrase",
                Some(&token),
                Some(json!({ "phrase": phrase })),
            )
            .await
        }
    };
    for bad in [json!("ab"), json!("x".repeat(61)), json!("two\nlines")] {
        let (s, v) = put(ada.token.clone(), bad).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_phrase"),
            "{v}"
        );
    }
    let (s, v) = put(ada.token.clone(), json!("  purple walrus at noon ")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["phrase"], "purple walrus at noon");
    let (_, v) = app.get("/api/v1/me/phrase", &bob.token).await;
    assert_eq!(
        v["phrase"],
        serde_json::Value::Null,
        "Bob has none, and never sees Ada's"
    );
    // Sealed at rest.
    assert_eq!(
        app.count_rows(
            "SELECT id FROM persons WHERE phrase_sealed IS NOT NULL AND phrase_sealed NOT LIKE '%walrus%'",
            &[]
        )
        .await,
        1
    );
    // Every mail to Ada now starts with it (both bodies); Bob's mail does not show it.
    app.enrol_totp(&ada).await;
    app.enrol_totp(&bob).await;
    let mail = app
        .wait_for_email("ada@example.com", "second factor was added")
        .await;
    assert!(
        mail.text
            .starts_with("Your anti-phishing phrase: purple walrus at noon"),
        "{}",
        mail.text
    );
    assert!(
        mail.html.contains("<strong>purple walrus at noon</strong>"),
        "{}",
        mail.html
    );
    let mail = app
        .wait_for_email("bob@example.com", "second factor was added")
        .await;
    assert!(!mail.text.contains("walrus") && !mail.text.contains("anti-phishing phrase:"));
    // Removed: mail is plain again.
    let (s, v) = put(ada.token.clone(), serde_json::Value::Null).await;
    assert_eq!(
        (s, &v["phrase"]),
        (StatusCode::OK, &serde_json::Value::Null)
    );
    // The sign-in pages tell people to look for it.
    let page = app
        .client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("anti-phishing phrase"), "{page}");
    // Every link in every mail of this test points at public_url.
    app.wait_outbox_empty().await;
    for m in app.emails() {
        for word in m.text.split_whitespace().filter(|w| w.contains("://")) {
            assert!(word.starts_with(&app.base), "{}: {word}", m.subject);
        }
    }
});
