//! Hostile XML at the SAML ACS of a live `watchword serve` process (its own process, so a crash
//! or a memory blow-up shows): every variant an outside attacker posts with a live RelayState
//! and state cookie — a reference to /dev/zero, to a listener that accepts and never answers, a
//! Manifest, a UTF-7 and a UTF-16 DOCTYPE, a processing instruction — is refused with a 4xx in
//! bounded time, no connection reaches the listener, the process stays up with flat memory and
//! answers other requests meanwhile, and the real answer to the same request still signs in.
//! Metadata with 60 or 5 signing certificates, or only expired ones, is refused.

use super::failures as reasons;
use super::setup::SamlWorld;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use watchword_testkit::sso::SamlIdp;
use watchword_testkit::{Backend, code, first_cookie, watchword_bin};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `watchword serve` on `db`, as its own process.
    fn start(dir: &std::path::Path, db: &str) -> Self {
        let mut child = Command::new(watchword_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", db])
            .arg("--data-dir")
            .arg(dir)
            .env("WATCHWORD_LOG_LEVEL", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("URL printed")
            .trim_end_matches('/')
            .to_owned();
        Self { child, base }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Resident memory, KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

/// A listener that accepts and never answers, counting connections.
fn tarpit() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    (port, count)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn utf16le(text: &str, bom: bool) -> Vec<u8> {
    let mut out = if bom { vec![0xff, 0xfe] } else { Vec::new() };
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

/// The hostile variants of a genuine response `xml`, each with the reason it is refused for.
fn variants(xml: &str, tarpit: u16) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let url = format!("http://127.0.0.1:{tarpit}/");
    let start = xml.find("URI=\"#").expect("a same-document reference");
    let end = start + 5 + xml[start + 5..].find('"').unwrap() + 1;
    let reference = |uri: &str| format!("{}URI=\"{uri}\"{}", &xml[..start], &xml[end..]);
    let body = &xml[xml.find("?>").map_or(0, |i| i + 2)..];
    let manifest = format!(
        "<ns2:Object><ns2:Manifest><ns2:Reference URI=\"{url}m\"><ns2:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ns2:DigestValue>AA==</ns2:DigestValue></ns2:Reference></ns2:Manifest></ns2:Object></ns2:Signature>"
    );
    let doctype = format!("<!DOCTYPE r [<!ENTITY x SYSTEM \"{url}e\">]>");
    vec![
        ("file", reference("file:///dev/zero").into_bytes(), "reference_forbidden"),
        ("http tarpit", reference(&url).into_bytes(), "reference_forbidden"),
        (
            "manifest",
            xml.replacen("</ns2:Signature>", &manifest, 1).into_bytes(),
            "reference_forbidden",
        ),
        (
            "UTF-7 DOCTYPE",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-7\"?>+ADw-!DOCTYPE r +AFs-+ADw-!ENTITY x SYSTEM +ACI-{url}e+ACI-+AD4-+AF0-+AD4-{body}"
            )
            .into_bytes(),
            "encoding_forbidden",
        ),
        (
            "UTF-16 DOCTYPE",
            utf16le(&format!("<?xml version=\"1.0\" encoding=\"UTF-16\"?>{doctype}{body}"), true),
            "encoding_forbidden",
        ),
        (
            "UTF-16 DOCTYPE without BOM",
            utf16le(&format!("<?xml version=\"1.0\" encoding=\"UTF-16\"?>{doctype}{body}"), false),
            "encoding_forbidden",
        ),
        (
            "UTF-8 DOCTYPE",
            format!("<?xml version=\"1.0\"?>{doctype}{body}").into_bytes(),
            "dtd_forbidden",
        ),
        (
            "processing instruction",
            format!("<?xml version=\"1.0\"?><?xml-stylesheet type=\"text/xsl\" href=\"{url}x\"?>{body}")
                .into_bytes(),
            "processing_instruction_forbidden",
        ),
    ]
}

async fn hostile_documents_are_refused_before_any_parser(backend: Backend) {
    let Some(mut w) = SamlWorld::new(backend).await else {
        return;
    };
    // The in-process node set the account up; the process serves from here on (one SQLite
    // writer at a time).
    w.app.running.take().unwrap().stop().await;
    let dir = w.app.data_dir().join("process");
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = Server::start(&dir, &w.app.database_url);
    let base = server.base.clone();
    let (port, connections) = tarpit();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // A sign-in started by anyone at a verified domain: a live RelayState and state cookie.
    let start = client
        .post(format!("{base}/api/v1/sso/start"))
        .json(&json!({"email": "grace@acme.test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::OK);
    let cookie = first_cookie(&start).unwrap();
    let started: Value = start.json().await.unwrap();
    let request = w
        .idp
        .request(started["redirect_url"].as_str().unwrap())
        .await;
    let genuine = w.idp.mint(request.answer("grace@acme.test")).await;
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&genuine)
            .unwrap(),
    )
    .unwrap();
    let post = |body: String| {
        let form = [
            ("SAMLResponse", body),
            ("RelayState", request.relay_state.clone()),
        ];
        client
            .post(&request.acs)
            .header("cookie", &cookie)
            .form(&form)
            .send()
    };
    let healthz = || client.get(format!("{base}/healthz")).send();
    assert_eq!(healthz().await.unwrap().status(), StatusCode::OK);
    let hostile = variants(&xml, port);
    // Warm up (the first refusal loads what a refusal needs), then the baseline.
    let _ = post(b64(&hostile[0].1)).await.unwrap();
    let rss_before = server.rss_kib();
    // Every variant three times at once, with health checks among them.
    for _ in 0..3 {
        let posts = hostile.iter().map(|(_, doc, _)| post(b64(doc)));
        let (answers, health) = tokio::join!(futures_util::future::join_all(posts), healthz());
        assert_eq!(
            health.unwrap().status(),
            StatusCode::OK,
            "answered meanwhile"
        );
        for ((what, _, _), res) in hostile.iter().zip(answers) {
            let res = res.unwrap_or_else(|e| panic!("{what}: answered in time: {e}"));
            let status = res.status();
            assert!(status.is_client_error(), "{what}: {status}");
            assert!(
                first_cookie(&res).is_none_or(|c| !c.contains("session")),
                "{what}: no session"
            );
        }
    }
    assert!(server.alive(), "the process is alive");
    let grown = server.rss_kib().saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "memory flat: grew {grown} KiB");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "nothing fetched");
    // Each refusal was for its reason (audited: the request was live).
    let audited = || async {
        let url = format!(
            "{base}/api/v1/accounts/{}/audit-events?action=sso.login_failed",
            w.ada.account
        );
        let res = client
            .get(url)
            .bearer_auth(&w.ada.token)
            .send()
            .await
            .unwrap();
        let v: Value = res.json().await.unwrap();
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e["details"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect::<Vec<String>>()
    };
    let got = audited().await;
    for (what, _, reason) in &hostile {
        assert!(
            got.iter().any(|g| g == reason),
            "{what}: {reason} in {got:?}"
        );
    }
    // The refused posts left the request live: the real answer signs Grace in, once.
    let res = post(genuine.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{:?}", audited().await);
    let res = post(genuine).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(audited().await[0], "invalid_state");
    // Metadata: too many certificates, or only expired ones.
    let metadata = w.idp.metadata().await;
    let a = metadata.find("<ns0:KeyDescriptor").unwrap();
    let b = metadata.find("</ns0:KeyDescriptor>").unwrap() + "</ns0:KeyDescriptor>".len();
    let times = |n: usize| {
        format!(
            "{}{}{}",
            &metadata[..a],
            metadata[a..b].repeat(n),
            &metadata[b..]
        )
    };
    let expired = SamlIdp::with_cert_days(0).metadata().await;
    let patch = |xml: String| {
        let url = format!(
            "{base}/api/v1/accounts/{}/sso/connections/{}",
            w.ada.account,
            w.id()
        );
        client
            .patch(url)
            .bearer_auth(&w.ada.token)
            .json(&json!({"saml_metadata": xml}))
            .send()
    };
    // Sixty RSA certificates exceed the request body limit before the count is read.
    let res = patch(times(60)).await.unwrap();
    assert!(
        res.status().is_client_error(),
        "60 certificates: {}",
        res.status()
    );
    for (xml, why) in [(times(5), "5 certificates"), (expired, "expired")] {
        let res = patch(xml).await.unwrap();
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        assert_eq!(
            (status, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_metadata"),
            "{why}: {v}"
        );
    }
    let res = patch(times(4)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "4 certificates are read");
    assert!(server.alive());
}
watchword_testkit::on_both_backends!(
    saml_hostile_xml,
    hostile_documents_are_refused_before_any_parser
);

/// A verification that does not finish in time is refused as such (the limit set to nothing).
async fn a_slow_verification_is_refused(backend: Backend) {
    let tweak = |c: &mut watchword::Config| c.saml_verify_timeout_ms = 0;
    let Some(w) = SamlWorld::tweaked(backend, SamlIdp::start(), tweak).await else {
        return;
    };
    let res = w.app.saml_sign_in(&w.idp, "grace@acme.test").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(reasons(&w.app, &w.ada).await, ["saml_verification_timeout"]);
}
watchword_testkit::on_both_backends!(saml_verify_timeout, a_slow_verification_is_refused);

/// The email comes from one source: the NameID when it is an email address (an attribute
/// saying otherwise is not read), else the attribute the connection names.
async fn the_email_is_the_signed_subject(backend: Backend) {
    let Some(w) = SamlWorld::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    // The `mail` attribute names Mallory, the emailAddress NameID Grace: Grace.
    let (cookie, url) = app.saml_start("grace@acme.test").await;
    let r = w.idp.request(&url).await;
    let mut p = r.answer("mallory@acme.test");
    p["name_id"] = json!("grace@acme.test");
    let res = app
        .saml_post(&r.post(w.idp.mint(p).await), Some(&cookie))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        reasons(app, ada).await
    );
    let grace = app.member(ada, "grace@acme.test").await;
    assert_eq!(grace["email"], "grace@acme.test");
    let members = app.members(ada).await;
    assert!(!members.iter().any(|m| m["email"] == "mallory@acme.test"));
    // A persistent NameID: the email is the named attribute (default `email`, which this IdP
    // does not send), so nobody until the connection names `mail`.
    let persistent = |email: &'static str| {
        let idp = &w.idp;
        async move {
            let (cookie, url) = app.saml_start(email).await;
            let r = idp.request(&url).await;
            let mut p = r.answer(email);
            p["name_id"] = json!("u-7f3a");
            p["name_id_format"] = json!("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
            app.saml_post(&r.post(idp.mint(p).await), Some(&cookie))
                .await
        }
    };
    let res = persistent("heidi@acme.test").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (s, v) = app
        .update_sso_connection(ada, w.id(), json!({"email_attribute": "mail"}))
        .await;
    assert_eq!(
        (s, v["email_attribute"].as_str()),
        (StatusCode::OK, Some("mail")),
        "{v}"
    );
    let res = persistent("heidi@acme.test").await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        reasons(app, ada).await
    );
    assert_eq!(
        app.member(ada, "heidi@acme.test").await["email"],
        "heidi@acme.test"
    );
}
watchword_testkit::on_both_backends!(saml_email_source, the_email_is_the_signed_subject);
