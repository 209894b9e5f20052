//! Reports of suspicious activity, on SQLite and PostgreSQL: any member reports (kind,
//! description, sender, headers, attachments checked by content), the Security Contact and the
//! operator's inbox are emailed, headers and attachments are sealed at rest, Owners and Admins
//! follow up (status, note; audited), attachments are only ever downloads, bad input is refused
//! whole, reports are limited per person even in parallel, nothing crosses accounts; and the
//! console in headless Chromium.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::browser::Browser;
use watchword_testkit::{Backend, Login, TestApp, code};

const INBOX: &str = "soc@operator.example";
/// The start of a PNG (what the content check looks at) and some pixels.
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 1, 2, 3,
];
const EML: &str = "From: Payroll <payroll@evil.example>\r\nSubject: Urgent: confirm your password\r\n\r\nMARKER-EML-BODY click here";
const HEADERS: &str = "Received: from mx.evil.example (203.0.113.9)\r\nX-Marker: MARKER-HEADERS\r\nFrom: payroll@evil.example";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn reports(account: &str) -> String {
    format!("/api/v1/accounts/{account}/security-reports")
}

fn phishing() -> Value {
    json!({
        "kind": "phishing_email",
        "description": "An email asked me to log in at a look-alike site.\nI typed my password.",
        "sender": "payroll@evil.example",
        "headers": HEADERS,
        "attachments": [
            {"filename": "screenshot.png", "content_base64": b64(PNG)},
            {"filename": "C:\\mail\\message.eml", "content_base64": b64(EML.as_bytes())}
        ]
    })
}

async fn spawn(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with_smtp_and(backend, |c| c.security_reports_to = Some(INBOX.into())).await
}

async fn ada_and_bob(app: &TestApp) -> (Login, Login) {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let bob = app
        .invite_and_accept(&ada, "bob@example.com", "analyst")
        .await;
    (ada, bob)
}

async fn a_report_reaches_the_contact_and_the_inbox(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let (ada, bob) = ada_and_bob(&app).await;
    let (s, v) = app
        .post(&reports(&ada.account), &bob.token, phishing())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(
        v["advice"]
            .as_str()
            .unwrap()
            .contains("change your password"),
        "{v}"
    );
    let report = &v["report"];
    assert_eq!(
        (report["status"].as_str(), report["kind"].as_str()),
        (Some("open"), Some("phishing_email"))
    );
    let att = report["attachments"].as_array().unwrap();
    assert_eq!(att.len(), 2);
    assert_eq!(
        (
            att[0]["content_type"].as_str(),
            att[1]["content_type"].as_str()
        ),
        (Some("image/png"), Some("message/rfc822"))
    );
    assert_eq!(att[1]["filename"], "message.eml", "path parts dropped");

    // The Security Contact (Ada) and the operator's inbox are told what was reported.
    for to in ["ada@example.com", INBOX] {
        let m = app
            .wait_for_email(to, "Suspicious activity reported in Acme")
            .await;
        assert!(
            m.text.contains("bob@example.com")
                && m.text.contains("payroll@evil.example")
                && m.text.contains("look-alike site")
                && m.text.contains("screenshot.png")
                && m.text.contains("MARKER-HEADERS"),
            "{}",
            m.text
        );
        assert!(
            !m.text.contains("MARKER-EML-BODY"),
            "attachments are not mailed"
        );
    }
    let e = app.wait_event(&ada, "security_report.submitted").await;
    assert_eq!(e["actor_email"], "bob@example.com", "{e}");

    // Headers and attachments are sealed at rest.
    assert_eq!(
        app.count_rows("SELECT 1 FROM security_report_attachments", &[])
            .await,
        2
    );
    let sealed = sealed_bytes(&app).await;
    assert!(
        !contains(&sealed, b"MARKER-HEADERS") && !contains(&sealed, b"MARKER-EML-BODY"),
        "plaintext at rest"
    );

    // Owners and Admins read and follow up; an Analyst (even the reporter) cannot.
    let (s, list) = app.get(&reports(&ada.account), &ada.token).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["headers"], Value::Null, "headers only one by one");
    let (s, v) = app.get(&reports(&ada.account), &bob.token).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "forbidden"));
    let id = report["id"].as_str().unwrap();
    let one = format!("{}/{id}", reports(&ada.account));
    let (s, r) = app.get(&one, &ada.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["headers"], HEADERS);

    // An attachment is a download of the very bytes, never rendered.
    let url = att[1]["url"].as_str().unwrap();
    let res = app
        .client
        .get(app.url(url))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let disposition = h["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("message.eml"),
        "{disposition}"
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), EML.as_bytes());
    let (s, _) = app.get(url, &bob.token).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Status and note; audited; a wrong status is refused.
    let patch = |body: Value| app.call(Method::PATCH, &one, Some(&ada.token), Some(body));
    let (s, v) = patch(json!({"status": "closed"})).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_status")
    );
    let (s, v) = patch(json!({"status": "acknowledged", "note": "Blocked the domain."})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["status"].as_str(),
            v["note"].as_str(),
            v["updated_by_email"].as_str()
        ),
        (
            Some("acknowledged"),
            Some("Blocked the domain."),
            Some("ada@example.com")
        )
    );
    let e = app.wait_event(&ada, "security_report.updated").await;
    assert_eq!(e["details"]["status"], "acknowledged", "{e}");
    app.stop().await;
}
watchword_testkit::on_both_backends!(
    security_report_flow,
    a_report_reaches_the_contact_and_the_inbox
);

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn sealed_bytes(app: &TestApp) -> Vec<u8> {
    let store = app.app().store().clone();
    let mut c = store.read().await.unwrap();
    let mut out = Vec::new();
    for q in [
        "SELECT headers_sealed AS b FROM security_reports WHERE headers_sealed IS NOT NULL",
        "SELECT content_sealed AS b FROM security_report_attachments",
    ] {
        for row in sqlx::query(q).fetch_all(&mut *c).await.unwrap() {
            let b: Vec<u8> = sqlx::Row::get(&row, "b");
            out.extend(b);
        }
    }
    out
}

async fn bad_reports_are_refused_whole(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let (ada, bob) = ada_and_bob(&app).await;
    let path = reports(&ada.account);
    let with = |k: &str, v: Value| {
        let mut b = phishing();
        b[k] = v;
        b
    };
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
    let cases = [
        (with("kind", json!("ransom")), "invalid_kind"),
        (with("description", json!("   ")), "invalid_description"),
        (
            with("headers", json!("x".repeat(64 * 1024 + 1))),
            "headers_too_large",
        ),
        (
            with(
                "attachments",
                json!([{"filename": "shot.png", "content_base64": b64(svg)}]),
            ),
            "unsupported_attachment",
        ),
        (
            with(
                "attachments",
                json!([{"filename": "m.eml", "content_base64": b64(b"<html><script>x</script>")}]),
            ),
            "unsupported_attachment",
        ),
        (
            with(
                "attachments",
                json!([{"filename": "shot.png", "content_base64": "%%%not base64"}]),
            ),
            "invalid_attachment",
        ),
        (
            with(
                "attachments",
                json!([{"filename": "big.png", "content_base64": b64(&[PNG, &vec![0u8; 5 * 1024 * 1024]].concat())}]),
            ),
            "attachments_too_large",
        ),
        (
            with(
                "attachments",
                json!(
                    (0..11)
                        .map(
                            |i| json!({"filename": format!("{i}.png"), "content_base64": b64(PNG)})
                        )
                        .collect::<Vec<_>>()
                ),
            ),
            "too_many_attachments",
        ),
    ];
    for (body, want) in cases {
        let (s, v) = app.post(&path, &bob.token, body).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, want),
            "{v}"
        );
    }
    // A body over the route's 8 MiB is refused before it is read: a 413, or — when the server
    // answered and closed while the client was still sending — a broken pipe.
    let huge = with("description", json!("x".repeat(9 * 1024 * 1024)));
    let sent = app
        .client
        .post(app.url(&path))
        .bearer_auth(&bob.token)
        .json(&huge)
        .send()
        .await;
    match sent {
        Ok(res) => assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => assert!(
            e.is_request() && format!("{e:?}").contains("BodyWrite"),
            "{e:?}"
        ),
    }
    assert_eq!(
        app.count_rows("SELECT 1 FROM security_reports", &[]).await,
        0
    );
    assert_eq!(
        app.count_rows("SELECT 1 FROM security_report_attachments", &[])
            .await,
        0
    );
    app.wait_outbox_empty().await;
    assert!(
        !app.emails()
            .iter()
            .any(|m| m.subject.contains("Suspicious")),
        "nothing was sent"
    );
    app.stop().await;
}
watchword_testkit::on_both_backends!(security_report_bad_input, bad_reports_are_refused_whole);

async fn reports_are_limited_per_person_and_stay_in_their_account(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let (ada, bob) = ada_and_bob(&app).await;
    let path = reports(&ada.account);
    let body = json!({"kind": "other", "description": "Odd."});
    // Twelve at once: exactly ten pass.
    let calls = (0..12).map(|_| app.post(&path, &bob.token, body.clone()));
    let answers = futures_util::future::join_all(calls).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let limited = answers
        .iter()
        .filter(|(s, v)| *s == StatusCode::TOO_MANY_REQUESTS && code(v) == "too_many_reports")
        .count();
    assert_eq!((created, limited), (10, 2), "{answers:?}");
    // Ada's own limit is hers.
    let (s, _) = app.post(&path, &ada.token, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED);

    // Another account's Owner reaches none of it: 404 everywhere, even with real ids.
    let (_, list) = app.get(&path, &ada.token).await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let eve = app.signup("Evil", "Eve", "eve@example.com").await;
    for (m, p, body) in [
        (Method::GET, path.clone(), None),
        (Method::POST, path.clone(), Some(body.clone())),
        (Method::GET, format!("{path}/{id}"), None),
        (
            Method::PATCH,
            format!("{path}/{id}"),
            Some(json!({"status": "resolved"})),
        ),
        (Method::GET, format!("{path}/{id}/attachments/att_x"), None),
    ] {
        let (s, v) = app.call(m.clone(), &p, Some(&eve.token), body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {p}: {v}");
    }
    // A report id of one account under another of the same Owner: not found either.
    let (s, v) = app
        .get(&format!("{}/{id}", reports(&eve.account)), &eve.token)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    app.stop().await;
}
watchword_testkit::on_both_backends!(
    security_report_limits,
    reports_are_limited_per_person_and_stay_in_their_account
);

async fn reports_in_the_console(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let (ada, _bob) = ada_and_bob(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shot.png");
    std::fs::write(&shot, PNG).unwrap();

    let b = Browser::start().await;
    b.sign_in(&app, "bob@example.com").await;
    b.goto(&app.url(&format!("/accounts/{}", ada.account)))
        .await;
    b.click("a[href$='/report']").await;
    b.fill(
        "report-description",
        "A pop-up asked for my password again.",
    )
    .await;
    b.client
        .find(fantoccini::Locator::Css(
            "#report-kind option[value='unexpected_password_prompt']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client
        .find(fantoccini::Locator::Id("report-files"))
        .await
        .unwrap()
        .send_keys(shot.to_str().unwrap())
        .await
        .unwrap();
    b.click("#send-report").await;
    let advice = b.text_of("#report-advice").await;
    assert!(advice.contains("change your password"), "{advice}");
    b.close().await;
    app.wait_for_email(INBOX, "Suspicious activity").await;

    let b = Browser::start().await;
    b.sign_in(&app, "ada@example.com").await;
    b.goto(&app.url(&format!("/accounts/{}/security-reports", ada.account)))
        .await;
    assert_eq!(b.text_of("#reports td.status").await, "Open");
    b.click("#reports a").await;
    assert_eq!(
        b.text_of("#report-kind").await,
        "An unexpected password prompt"
    );
    assert!(b.text().await.contains("shot.png"));
    b.client
        .find(fantoccini::Locator::Css(
            "#report-new-status option[value='resolved']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.fill("report-new-note", "It was the VPN client.").await;
    b.click("#save-report").await;
    let text = b.text().await;
    assert!(text.contains("are saved"), "{text}");
    assert!(b.text_of("#report-status").await.starts_with("Resolved"));
    assert_eq!(b.text_of("#report-note").await, "It was the VPN client.");
    b.close().await;
    app.stop().await;
}
watchword_testkit::on_both_backends!(security_report_console, reports_in_the_console);
