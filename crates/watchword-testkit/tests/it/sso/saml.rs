//! SAML 2.0 sign-in through PyPI `pysaml2` (with Debian's `xmlsec1`) as the IdP: SP-initiated
//! sign-in with just-in-time members and group mappings, every check of the response against
//! genuine responses the IdP signs and tampered copies of them, IdP-initiated sign-in and
//! assertion replays, metadata checks, and certificate expiry warnings.

use super::failures as reasons;
use super::setup::SamlWorld;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use watchword_testkit::sso::{SamlIdp, SamlPost};
use watchword_testkit::{Backend, TestApp, code, first_cookie};

fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

fn xml_of(response: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(response)
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

async fn email_of_session(app: &TestApp, res: &reqwest::Response) -> Option<String> {
    let cookie = first_cookie(res).filter(|c| {
        c.starts_with("watchword_session") || c.starts_with("__Host-watchword_session")
    })?;
    let me = app
        .client
        .get(app.url("/api/v1/whoami"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let v: Value = me.json().await.ok()?;
    v["person"]["email"].as_str().map(str::to_owned)
}

async fn sign_in_provisions_maps_groups_and_refuses_replays(backend: Backend) {
    let Some(w) = SamlWorld::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    // The connection shows both sides: the IdP's metadata as read, the values to copy.
    let saml = &w.connection["saml"];
    assert_eq!(saml["idp_entity_id"], w.idp.entity_id());
    assert_eq!(saml["certificates"].as_array().unwrap().len(), 1, "{saml}");
    assert!(saml["certificate_expires_at"].is_string());
    let sp_entity = saml["sp_entity_id"].as_str().unwrap();
    let acs = saml["acs_url"].as_str().unwrap();
    assert_eq!(acs, app.url(&format!("/sso/saml/{}/acs", w.id())));
    // watchword's metadata, at its entity id, names the ACS.
    let res = app.client.get(sp_entity).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let metadata = res.text().await.unwrap();
    assert!(
        metadata.contains(acs) && metadata.contains(sp_entity),
        "{metadata}"
    );
    // Grace has no login: the IdP vouches for her, she becomes an Analyst.
    let (cookie, url) = app.saml_start("grace@acme.test").await;
    let post = w.idp.sign_in(&url, "grace@acme.test").await;
    assert_eq!(post.acs, acs);
    let res = app.saml_post(&post, Some(&cookie)).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        reasons(app, ada).await
    );
    assert_eq!(res.headers()["location"], "/app");
    assert_eq!(
        email_of_session(app, &res).await.as_deref(),
        Some("grace@acme.test")
    );
    let grace = app.member(ada, "grace@acme.test").await;
    assert_eq!(grace["role"]["key"], "analyst", "{grace}");
    let login = app.wait_event(ada, "sso.login").await;
    assert_eq!(login["details"]["subject"], "grace@acme.test");
    let contexts = &login["details"]["idp"]["authn_context"];
    assert!(
        contexts.to_string().contains("PasswordProtectedTransport"),
        "{login}"
    );
    // The same answer again: its request is spent.
    let res = app.saml_post(&post, Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(first_cookie(&res).is_none_or(|c| !c.contains("session")));
    assert_eq!(reasons(app, ada).await, ["invalid_state"]);
    // A person in the IdP's "admins" group is provisioned with the mapped role.
    let res = app.saml_sign_in(&w.idp, "boss@acme.test").await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        reasons(app, ada).await
    );
    let boss = app.member(ada, "boss@acme.test").await;
    assert_eq!(boss["role"]["key"], "admin", "{boss}");
    // The answer must come back to the browser that started it.
    let (_, url) = app.saml_start("grace@acme.test").await;
    let post = w.idp.sign_in(&url, "grace@acme.test").await;
    let res = app.saml_post(&post, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        reasons(app, ada)
            .await
            .contains(&"state_mismatch".to_owned())
    );
}
watchword_testkit::on_both_backends!(
    saml_sign_in,
    sign_in_provisions_maps_groups_and_refuses_replays
);

/// Answers one fresh request with `response(request)` and returns the ACS's answer.
async fn answer_with<F, Fut>(w: &SamlWorld, response: F) -> reqwest::Response
where
    F: FnOnce(watchword_testkit::sso::SamlRequest) -> Fut,
    Fut: Future<Output = SamlPost>,
{
    let (cookie, url) = w.app.saml_start("grace@acme.test").await;
    let request = w.idp.request(&url).await;
    let post = response(request).await;
    w.app.saml_post(&post, Some(&cookie)).await
}

/// Every check of the response, against genuine responses the IdP signed and tampered copies:
/// each refused with its reason audited, and never a session.
async fn every_check_of_the_response_refuses(backend: Backend) {
    let Some(w) = SamlWorld::new(backend).await else {
        return;
    };
    let (app, ada, idp) = (&w.app, &w.ada, &w.idp);
    let stranger = SamlIdp::start();
    let mut expected: Vec<&str> = Vec::new();
    let mut check = |res: reqwest::Response, reason: &'static str| {
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{reason}");
        assert!(
            first_cookie(&res).is_none_or(|c| !c.contains("session")),
            "{reason}: no session"
        );
        expected.push(reason);
    };
    // A response changed after signing (the NameID and the email attribute).
    let res = answer_with(&w, |r| async move {
        let xml = xml_of(&idp.mint(r.answer("grace@acme.test")).await);
        r.post(b64(&xml.replace("grace@acme.test", "ada@acme.test")))
    })
    .await;
    check(res, "invalid_signature");
    // The signature stripped.
    let res = answer_with(&w, |r| async move {
        let xml = xml_of(&idp.mint(r.answer("grace@acme.test")).await);
        let start = xml.find("<ns2:Signature").unwrap();
        let end = xml.find("</ns2:Signature>").unwrap() + "</ns2:Signature>".len();
        r.post(b64(&format!("{}{}", &xml[..start], &xml[end..])))
    })
    .await;
    check(res, "invalid_signature");
    // Signed, but for another service provider.
    let res = answer_with(&w, |r| async move {
        let mut p = r.answer("grace@acme.test");
        p["sp"] = json!("https://other.example/sp");
        r.post(idp.mint(p).await)
    })
    .await;
    check(res, "audience_mismatch");
    // Expired an hour ago.
    let res = answer_with(&w, |r| async move {
        let mut p = r.answer("grace@acme.test");
        p["lifetime"] = json!(-3600);
        r.post(idp.mint(p).await)
    })
    .await;
    check(res, "expired");
    // Signed with SHA-1.
    let res = answer_with(&w, |r| async move {
        let mut p = r.answer("grace@acme.test");
        p["alg"] = json!("sha1");
        r.post(idp.mint(p).await)
    })
    .await;
    check(res, "weak_algorithm");
    // Answering another request.
    let res = answer_with(&w, |r| async move {
        let mut p = r.answer("grace@acme.test");
        p["in_response_to"] = json!("_another-request");
        r.post(idp.mint(p).await)
    })
    .await;
    check(res, "in_response_to_mismatch");
    // Signed by another IdP.
    let res = answer_with(&w, |r| async move {
        r.post(stranger.mint(r.answer("grace@acme.test")).await)
    })
    .await;
    check(res, "invalid_signature");
    // An email outside the account's verified domains.
    let res = answer_with(&w, |r| async move {
        r.post(idp.mint(r.answer("mallory@evil.test")).await)
    })
    .await;
    check(res, "unverified_domain");
    // A document type (entity expansion) is refused before any parser sees it.
    let res = answer_with(&w, |r| async move {
        let xml = xml_of(&idp.mint(r.answer("grace@acme.test")).await);
        let evil = xml.replacen(
            "?>",
            "?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>",
            1,
        );
        r.post(b64(&evil))
    })
    .await;
    check(res, "dtd_forbidden");
    // Oversized.
    let res = answer_with(&w, |r| async move { r.post("A".repeat(140 * 1024)) }).await;
    check(res, "response_too_large");
    // Signature wrapping: an unsigned assertion for Mallory beside (then in place of) Grace's
    // signed one. Only what the signature covers is read: never Mallory.
    for variant in 0..2 {
        let res = answer_with(&w, |r| async move {
            let xml = xml_of(&idp.mint(r.answer("grace@acme.test")).await);
            let a0 = xml.find("<ns1:Assertion").unwrap();
            let a1 = xml.find("</ns1:Assertion>").unwrap() + "</ns1:Assertion>".len();
            let signed = &xml[a0..a1];
            let s0 = signed.find("<ns2:Signature").unwrap();
            let s1 = signed.find("</ns2:Signature>").unwrap() + "</ns2:Signature>".len();
            let evil = format!("{}{}", &signed[..s0], &signed[s1..])
                .replace("grace@acme.test", "mallory@acme.test");
            let wrapped = if variant == 0 {
                format!("{}{evil}{}", &xml[..a0], &xml[a0..])
            } else {
                // The signed assertion hidden in the response's Extensions, the evil one in its
                // place (same ID).
                let ext = format!("<ns0:Extensions>{signed}</ns0:Extensions>");
                let status = xml.find("<ns0:Status>").unwrap();
                let moved = format!("{}{ext}{}", &xml[..status], &xml[status..a0]);
                format!("{moved}{evil}{}", &xml[a1..])
            };
            r.post(b64(&wrapped))
        })
        .await;
        let status = res.status();
        let who = email_of_session(app, &res).await;
        assert_ne!(
            who.as_deref(),
            Some("mallory@acme.test"),
            "wrapping {variant}"
        );
        assert!(
            status == StatusCode::FORBIDDEN || who.as_deref() == Some("grace@acme.test"),
            "wrapping {variant}: {status}"
        );
    }
    let got = reasons(app, ada).await;
    for reason in &expected {
        assert!(got.iter().any(|g| g == reason), "{reason} audited: {got:?}");
    }
    // Nobody was provisioned by any of them.
    let members = app.members(ada).await;
    let emails: Vec<&str> = members.iter().filter_map(|m| m["email"].as_str()).collect();
    assert!(
        !emails
            .iter()
            .any(|e| e.ends_with("@acme.test") || e.ends_with("@evil.test")),
        "{emails:?}"
    );
}
watchword_testkit::on_both_backends!(saml_checks, every_check_of_the_response_refuses);

/// IdP-initiated sign-in is off unless the connection turns it on; then each assertion is
/// accepted once, and an unsolicited response must not answer a request.
async fn idp_initiated_is_opt_in_and_assertions_are_single_use(backend: Backend) {
    let Some(w) = SamlWorld::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let saml = &w.connection["saml"];
    let unsolicited =
        |email: &str| json!({"email": email, "sp": saml["sp_entity_id"], "acs": saml["acs_url"]});
    let post = |response: String| SamlPost {
        acs: saml["acs_url"].as_str().unwrap().to_owned(),
        saml_response: response,
        relay_state: String::new(),
    };
    let first = post(w.idp.mint(unsolicited("grace@acme.test")).await);
    // Anyone may post to the public ACS: refused every time, audited once a minute.
    for _ in 0..5 {
        let res = app.saml_post(&first, None).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(reasons(app, ada).await, ["unsolicited_response"]);
    let (s, v) = app
        .update_sso_connection(ada, w.id(), json!({"idp_initiated": true}))
        .await;
    assert_eq!(
        (s, v["idp_initiated"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let res = app.saml_post(&first, None).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        reasons(app, ada).await
    );
    assert_eq!(
        email_of_session(app, &res).await.as_deref(),
        Some("grace@acme.test")
    );
    // The same assertion again, on any node: refused.
    let res = app.saml_post(&first, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        reasons(app, ada)
            .await
            .contains(&"replayed_assertion".to_owned())
    );
    // A response that answers a request is not unsolicited.
    let mut p = unsolicited("grace@acme.test");
    p["in_response_to"] = json!("_some-request");
    let res = app.saml_post(&post(w.idp.mint(p).await), None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        reasons(app, ada)
            .await
            .contains(&"in_response_to_mismatch".to_owned())
    );
}
watchword_testkit::on_both_backends!(
    saml_idp_initiated,
    idp_initiated_is_opt_in_and_assertions_are_single_use
);

/// Metadata is checked before a connection is saved; OIDC fields do not apply to SAML.
async fn metadata_is_checked(backend: Backend) {
    let Some(w) = SamlWorld::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let metadata = w.idp.metadata().await;
    let no_cert = {
        let a = metadata.find("<ns0:KeyDescriptor").unwrap();
        let b = metadata.find("</ns0:KeyDescriptor>").unwrap() + "</ns0:KeyDescriptor>".len();
        format!("{}{}", &metadata[..a], &metadata[b..])
    };
    let doctype = format!(
        "<!DOCTYPE m [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
        metadata.trim_start_matches(|c| c != '<')
    );
    let unprocessable = (StatusCode::UNPROCESSABLE_ENTITY, "invalid_metadata");
    for (xml, why, expected) in [
        ("not xml".to_owned(), "not XML", unprocessable),
        (no_cert, "no signing certificate", unprocessable),
        (doctype, "a DOCTYPE", unprocessable),
        (
            "<x/>".repeat(20_000),
            "oversized",
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        ),
    ] {
        let body = json!({"kind": "saml", "name": "Bad", "saml_metadata": xml});
        let (s, v) = app.create_sso_connection(ada, body).await;
        assert_eq!((s, code(&v)), expected, "{why}: {v}");
    }
    let (_, v) = app
        .get(
            &format!("/api/v1/accounts/{}/sso/connections", ada.account),
            &ada.token,
        )
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1, "nothing saved: {v}");
    let body =
        json!({"kind": "saml", "name": "Mixed", "saml_metadata": metadata, "client_id": "x"});
    let (s, v) = app.create_sso_connection(ada, body).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "not_for_this_kind"),
        "{v}"
    );
    // Two signing certificates (a rotation with an overlap) are both kept and shown.
    let other = SamlIdp::start().metadata().await;
    let key = |m: &str| {
        let a = m.find("<ns0:KeyDescriptor").unwrap();
        let b = m.find("</ns0:KeyDescriptor>").unwrap() + "</ns0:KeyDescriptor>".len();
        m[a..b].to_owned()
    };
    let both = metadata.replacen(
        &key(&metadata),
        &format!("{}{}", key(&metadata), key(&other)),
        1,
    );
    let (s, v) = app
        .update_sso_connection(ada, w.id(), json!({"saml_metadata": both}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["saml"]["certificates"].as_array().unwrap().len(),
        2,
        "{v}"
    );
    // Signing in still works with the same IdP key.
    let res = app.saml_sign_in(&w.idp, "grace@acme.test").await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        reasons(app, ada).await
    );
}
watchword_testkit::on_both_backends!(saml_metadata, metadata_is_checked);

/// The Security Contact is warned 30 and 7 days before the IdP's certificate expires, once
/// each, and the connection shows the expiry.
async fn certificate_expiry_is_warned_once_per_window(backend: Backend) {
    let Some(w) = SamlWorld::with(backend, SamlIdp::with_cert_days(60)).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let expires = w.connection["saml"]["certificate_expires_at"]
        .as_str()
        .unwrap();
    let expires = watchword_domain::Millis::parse_rfc3339(expires).unwrap().0;
    let day = 86_400_000;
    let warn = |at: i64| async move {
        app.app()
            .saml_certificate_warnings_once(watchword_domain::Millis(at))
            .await
            .unwrap()
            .len()
    };
    assert_eq!(warn(expires - 40 * day).await, 0);
    assert_eq!(warn(expires - 29 * day).await, 1);
    assert_eq!(warn(expires - 28 * day).await, 0, "once");
    assert_eq!(warn(expires - 6 * day).await, 1);
    assert_eq!(warn(expires - 5 * day).await, 0, "once");
    assert_eq!(warn(expires - day).await, 1, "the 2-day warning");
    assert_eq!(warn(expires - day / 2).await, 0, "once");
    let warnings = app
        .audit_events(ada, "action=sso.certificate_expiring")
        .await;
    let days: Vec<i64> = warnings["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["details"]["days"].as_i64().unwrap())
        .collect();
    assert_eq!(days.len(), 3, "{warnings}");
    assert!(
        days.contains(&30) && days.contains(&7) && days.contains(&2),
        "{days:?}"
    );
    // To the Security Contact (Ada), one email per warning.
    for days in ["within 30 days", "within 7 days", "within 2 days"] {
        app.wait_for_email("ada@example.com", days).await;
    }
    let mails = app
        .emails()
        .into_iter()
        .filter(|m| m.subject.contains("SAML certificate"));
    assert_eq!(mails.count(), 3);
}
watchword_testkit::on_both_backends!(
    saml_certificates,
    certificate_expiry_is_warned_once_per_window
);
