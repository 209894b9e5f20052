//! OIDC sign-in through npm `oidc-provider`: routing by domain, just-in-time members, identities
//! linked by subject, replays and foreign browsers refused, assertions outside the verified
//! domains refused, ID token checks against genuine and tampered tokens, connection management.

use super::setup::{World, connection_body};
use super::{OPERATOR_SECRET, failures, spawn};
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use watchword_testkit::sso::{CLIENT_ID, CLIENT_SECRET, Dns, OTHER_CLIENT_ID, OidcIdp};
use watchword_testkit::{Backend, TestApp, code, first_cookie};

async fn whoami_by_cookie(app: &TestApp, cookie: &str) -> Value {
    let res = app
        .client
        .get(app.url("/api/v1/whoami"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn sign_in_provisions_links_and_refuses_replays(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    // Routed by the domain alone: an existing login elsewhere and a stranger get the same.
    for email in ["ada@example.com", "nobody@example.org"] {
        let form = app
            .client
            .post(app.url("/sso/start"))
            .form(&[("email", email)]);
        let res = form.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("Single sign-on is not set up")
        );
        let res = app.sso_start(email).await;
        assert!(first_cookie(&res).is_none());
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["redirect_url"], Value::Null);
    }
    // Grace has no login: the IdP vouches for her and she becomes an Analyst.
    let res = app
        .sso_sign_in(&w.idp, "grace@acme.test", "grace@acme.test")
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        failures(app, ada).await
    );
    assert_eq!(res.headers()["location"], "/app");
    let cookie = first_cookie(&res).expect("a session cookie");
    let me = whoami_by_cookie(app, &cookie).await;
    assert_eq!(me["person"]["email"], "grace@acme.test");
    let grace = app.member(ada, "grace@acme.test").await;
    assert_eq!(grace["role"]["key"], "analyst", "{grace}");
    let provisioned = app.wait_event(ada, "sso.member_provisioned").await;
    assert_eq!(provisioned["details"]["email"], "grace@acme.test");
    let login = app.wait_event(ada, "sso.login").await;
    assert_eq!(login["details"]["subject"], "grace@acme.test");
    // Again: the same person by (connection, subject), not a second member.
    let res = app
        .sso_sign_in(&w.idp, "grace@acme.test", "grace@acme.test")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let graces = app
        .members(ada)
        .await
        .into_iter()
        .filter(|m| m["email"] == "grace@acme.test")
        .count();
    assert_eq!(graces, 1);
    // The provider's answer works once, and only in the browser that started the sign-in.
    let start = app.sso_start("grace@acme.test").await;
    let state = first_cookie(&start).unwrap();
    let to_idp: Value = start.json().await.unwrap();
    let to_idp = to_idp["redirect_url"].as_str().unwrap();
    let back = w.idp.sign_in(to_idp, "grace@acme.test").await;
    assert!(
        back.contains("&iss="),
        "the provider names itself (RFC 9207): {back}"
    );
    // An answer naming another provider (a mix-up) is refused, before anything else is used.
    let mixed = back.replace("&iss=", "&iss=https%3A%2F%2Fother.example&was=");
    let res = app
        .client
        .get(&mixed)
        .header("cookie", state.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        failures(app, ada)
            .await
            .contains(&"issuer_mismatch".to_owned())
    );
    let start = app.sso_start("grace@acme.test").await;
    let state = first_cookie(&start).unwrap();
    let to_idp: Value = start.json().await.unwrap();
    let back = w
        .idp
        .sign_in(to_idp["redirect_url"].as_str().unwrap(), "grace@acme.test")
        .await;
    let get = |cookie: Option<String>| {
        let req = app.client.get(&back);
        match cookie {
            Some(c) => req.header("cookie", c),
            None => req,
        }
        .send()
    };
    let foreign = get(None).await.unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(foreign.text().await.unwrap().contains("another browser"));
    let replay = get(Some(state)).await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        failures(app, ada)
            .await
            .contains(&"state_mismatch".to_owned())
    );
}
watchword_testkit::on_both_backends!(oidc_sign_in, sign_in_provisions_links_and_refuses_replays);

async fn foreign_assertions_and_deactivated_members_are_refused(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let persons = || {
        let q = "SELECT COUNT(*) AS n FROM persons WHERE email = $1";
        crate::hardening::count(app, q, &["mallory@evil.test"])
    };
    // Routed for grace@acme.test, but the IdP says mallory@evil.test: not trusted.
    let res = app
        .sso_sign_in(&w.idp, "grace@acme.test", "mallory@evil.test")
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(first_cookie(&res).is_none_or(|c| !c.starts_with("__Host-watchword_session=")));
    assert_eq!(persons().await, 0, "nobody was created");
    assert!(
        failures(app, ada)
            .await
            .contains(&"unverified_domain".to_owned())
    );
    // A deactivated member stays out whatever the IdP says.
    let res = app
        .sso_sign_in(&w.idp, "grace@acme.test", "grace@acme.test")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let grace = app.member(ada, "grace@acme.test").await;
    let (s, _) = app
        .set_member_active(ada, grace["id"].as_str().unwrap(), false)
        .await;
    assert_eq!(s, StatusCode::OK);
    let res = app
        .sso_sign_in(&w.idp, "grace@acme.test", "grace@acme.test")
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        failures(app, ada)
            .await
            .contains(&"member_deactivated".to_owned())
    );
    // Without just-in-time provisioning a stranger is refused; a disabled connection routes
    // nobody.
    let (s, v) = app
        .update_sso_connection(ada, &w.connection, json!({"jit": false}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let res = app
        .sso_sign_in(&w.idp, "lin@acme.test", "lin@acme.test")
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        failures(app, ada)
            .await
            .contains(&"not_provisioned".to_owned())
    );
    let (s, _) = app
        .update_sso_connection(ada, &w.connection, json!({"enabled": false}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let res = app.sso_start("lin@acme.test").await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["redirect_url"], Value::Null, "no redirect once disabled");
}
watchword_testkit::on_both_backends!(
    oidc_refusals,
    foreign_assertions_and_deactivated_members_are_refused
);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn reason(
    r: Result<watchword_app::sso::oidc::IdClaims, watchword_app::sso::oidc::Failure>,
) -> &'static str {
    match r {
        Ok(_) => "accepted",
        Err(f) => f.reason,
    }
}

/// The ID token checks, on genuine tokens from the provider and on tampered ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_are_checked() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let redirect = app.url("/sso/oidc/callback");
    let idp = OidcIdp::start(&redirect);
    let settings = watchword_app::sso::oidc::Settings {
        issuer: &idp.issuer,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET.into(),
        scopes: "openid email profile",
        redirect_uri: &redirect,
    };
    let oidc = app.app().oidc();
    let token = idp
        .id_token(CLIENT_ID, &redirect, "grace@acme.test", "n-1")
        .await;
    let ok = oidc.verify_id_token(&settings, &token, "n-1", now()).await;
    let subject = ok
        .as_ref()
        .map(|c| c.subject.as_str())
        .map_err(|f| &f.message);
    assert_eq!(subject, Ok("grace@acme.test"));
    assert_eq!(ok.unwrap().email.as_deref(), Some("grace@acme.test"));
    let check = |raw: String, nonce: &'static str, at: i64| {
        let settings = &settings;
        async move { reason(oidc.verify_id_token(settings, &raw, nonce, at).await) }
    };
    assert_eq!(check(token.clone(), "n-2", now()).await, "nonce_mismatch");
    assert_eq!(
        check(token.clone(), "n-1", now() + 2 * 3600).await,
        "expired"
    );
    // Claims changed after signing.
    let parts: Vec<&str> = token.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["email"] = json!("mallory@acme.test");
    claims["sub"] = json!("mallory@acme.test");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(check(forged, "n-1", now()).await, "invalid_signature");
    // The signature stripped, with and without `alg: none`.
    let none = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    for stripped in [
        format!("{none}.{}.", parts[1]),
        format!("{}.{}.", parts[0], parts[1]),
    ] {
        assert_ne!(check(stripped, "n-1", now()).await, "accepted");
    }
    // A genuine token for another client of the same provider.
    let other = idp
        .id_token(OTHER_CLIENT_ID, &redirect, "grace@acme.test", "n-1")
        .await;
    assert_eq!(check(other, "n-1", now()).await, "audience_mismatch");
    // A genuine token from another provider (other keys, other issuer).
    let idp2 = OidcIdp::start(&redirect);
    let foreign = idp2
        .id_token(CLIENT_ID, &redirect, "grace@acme.test", "n-1")
        .await;
    assert_ne!(check(foreign, "n-1", now()).await, "accepted");
    assert_ne!(check("not-a-jwt".into(), "n-1", now()).await, "accepted");
}

async fn connections_are_checked_sealed_and_alerted(backend: Backend) {
    let dns = Dns::start();
    let Some(app) = spawn(backend, &dns).await else {
        return;
    };
    let idp = OidcIdp::start(&app.url("/sso/oidc/callback"));
    let (ada, grace) = app.ada_and_grace().await;
    // SSO is the Owner's (`sso:manage`): an Admin does not manage it…
    let (s, v) = app
        .create_sso_connection(&grace, connection_body(&idp, false))
        .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "forbidden"), "{v}");
    let (s, v) = app
        .create_sso_connection(&ada, connection_body(&idp, false))
        .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "plan_required"));
    // …until the Owner gives them a role that holds it.
    super::setup::grant_sso_manage(&app, &ada, &grace.membership).await;
    let plan = format!("/api/v1/operator/accounts/{}/plan", ada.account);
    let res = app
        .client
        .put(app.url(&plan))
        .bearer_auth(OPERATOR_SECRET)
        .json(&json!({"plan": "paid"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.enrol_totp(&ada).await;
    app.enrol_totp(&grace).await;
    let with = |k: &str, v: Value| {
        let mut b = connection_body(&idp, false);
        b[k] = v;
        b
    };
    for (body, want) in [
        (
            with("issuer", json!("http://idp.example.com")),
            "invalid_issuer",
        ),
        (
            with("issuer", json!("https://user@idp.example.com")),
            "invalid_issuer",
        ),
        (
            with("issuer", json!("http://127.0.0.1:9")),
            "discovery_failed",
        ),
        (with("client_secret", json!("")), "required"),
        (with("kind", json!("ldap")), "invalid_kind"),
        (with("scopes", json!("email profile")), "invalid_scopes"),
        (with("name", json!("\u{202e}IdP")), "invalid_name"),
        (with("default_role", json!("owner")), "owner_not_assignable"),
    ] {
        let (s, v) = app.create_sso_connection(&grace, body).await;
        assert_eq!((s.as_u16() / 100, code(&v)), (4, want), "{v}");
    }
    assert_eq!(
        app.audit_actions(&ada.token, &ada.account)
            .await
            .iter()
            .filter(|a| a.starts_with("sso."))
            .count(),
        0,
        "nothing written"
    );
    let (s, c) = app
        .create_sso_connection(&grace, connection_body(&idp, false))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert!(c.get("client_secret").is_none());
    assert_eq!(c["has_client_secret"], true);
    assert!(
        c["redirect_uri"]
            .as_str()
            .unwrap()
            .ends_with("/sso/oidc/callback")
    );
    let id = c["id"].as_str().unwrap().to_owned();
    let sealed = "SELECT COUNT(*) AS n FROM sso_connections WHERE id = $1 AND client_secret_sealed IS NOT NULL";
    assert_eq!(crate::hardening::count(&app, sealed, &[&id]).await, 1);
    let plain = "SELECT COUNT(*) AS n FROM sso_connections WHERE scopes LIKE $1 OR name LIKE $1 OR client_id LIKE $1";
    let pattern = format!("%{CLIENT_SECRET}%");
    assert_eq!(crate::hardening::count(&app, plain, &[&pattern]).await, 0);
    // The Security Contact (Ada) hears of a change she did not make.
    app.wait_for_email("ada@example.com", "Acme IdP").await;
    // Changes need a recent sign-in.
    app.make_sign_ins_old();
    let (s, v) = app
        .update_sso_connection(&grace, &id, json!({"enabled": true}))
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "reauthentication_required")
    );
    app.reauthenticate(&grace.token).await;
    let (s, v) = app
        .update_sso_connection(&grace, &id, json!({"kind": "saml"}))
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "immutable_field")
    );
    let (s, v) = app
        .update_sso_connection(&grace, &id, json!({"enabled": true, "trust_idp_mfa": true}))
        .await;
    assert_eq!(
        (s, v["enabled"].as_bool(), v["trust_idp_mfa"].as_bool()),
        (StatusCode::OK, Some(true), Some(true))
    );
    let (s, _) = app
        .delete(
            &format!("/api/v1/accounts/{}/sso/connections/{id}", ada.account),
            &grace.token,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let actions = app.audit_actions(&ada.token, &ada.account).await;
    for a in [
        "sso.connection_created",
        "sso.connection_updated",
        "sso.connection_deleted",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a}: {actions:?}");
    }
}
watchword_testkit::on_both_backends!(oidc_connections, connections_are_checked_sealed_and_alerted);

/// Sign-ins started from one IP are limited (each writes a request row): 70 at once, 60 pass.
async fn starts_are_limited_per_ip(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let starts = (0..70).map(|_| w.app.sso_start("grace@acme.test"));
    let statuses: Vec<u16> = futures_util::future::join_all(starts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
    assert_eq!((count(200), count(429)), (60, 10), "{statuses:?}");
}
watchword_testkit::on_both_backends!(oidc_start_limit, starts_are_limited_per_ip);

/// Groups from the ID token pick the role of a person provisioned; a mapping never grants more
/// than its author could.
async fn groups_map_to_roles_at_provisioning(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let owner =
        json!({"groups_claim": "groups", "group_mappings": [{"group": "admins", "role": "owner"}]});
    let (s, v) = app.update_sso_connection(ada, &w.connection, owner).await;
    assert_eq!(
        (s.as_u16() / 100, code(&v)),
        (4, "owner_not_assignable"),
        "{v}"
    );
    let admins =
        json!({"groups_claim": "groups", "group_mappings": [{"group": "admins", "role": "admin"}]});
    let (s, v) = app.update_sso_connection(ada, &w.connection, admins).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["group_mappings"][0]["role"], "admin");
    for (login, role) in [("boss@acme.test", "admin"), ("grace@acme.test", "analyst")] {
        let res = app.sso_sign_in(&w.idp, login, login).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let m = app.member(ada, login).await;
        assert_eq!(m["role"]["key"], role, "{login}: {m}");
    }
}
watchword_testkit::on_both_backends!(oidc_groups, groups_map_to_roles_at_provisioning);

/// A provider that leaves email and name out of the ID token: they come from its userinfo answer.
async fn claims_missing_from_the_id_token_come_from_userinfo(backend: Backend) {
    let Some(w) = World::with(backend, true).await else {
        return;
    };
    let res = w
        .app
        .sso_sign_in(&w.idp, "grace@acme.test", "grace@acme.test")
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        failures(&w.app, &w.ada).await
    );
    let m = w.app.member(&w.ada, "grace@acme.test").await;
    assert_eq!(m["name"], "Grace Example");
}
watchword_testkit::on_both_backends!(
    oidc_userinfo,
    claims_missing_from_the_id_token_come_from_userinfo
);

/// The provider's MFA (`amr`) counts for a paid account's "require MFA" only on a connection
/// that trusts it; otherwise the person must add watchword's own second factor.
async fn the_idps_mfa_counts_only_when_trusted(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let members = |cookie: String| {
        let url = app.url(&format!("/api/v1/accounts/{}", ada.account));
        let req = app.client.get(url).header("cookie", cookie);
        async move {
            let res = req.send().await.unwrap();
            let s = res.status();
            let v: Value = res.json().await.unwrap();
            (s, code(&v).to_owned())
        }
    };
    let idp = &w.idp;
    let sign_in = |login: &'static str| async move {
        let res = app.sso_sign_in(idp, login, login).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{login}");
        first_cookie(&res).expect("a session")
    };
    // Not trusted (the default): even a provider that did MFA leaves it to watchword.
    let (s, c) = members(sign_in("mfa1@acme.test").await).await;
    assert_eq!(
        (s, c.as_str()),
        (StatusCode::FORBIDDEN, "mfa_enrollment_required")
    );
    let (s, _) = app
        .update_sso_connection(ada, &w.connection, json!({"trust_idp_mfa": true}))
        .await;
    assert_eq!(s, StatusCode::OK);
    // Trusted: amr ["pwd", "otp"] satisfies it; amr ["pwd"] does not.
    let trusted = members(sign_in("mfa2@acme.test").await).await;
    let last = app.wait_event(ada, "sso.login").await;
    assert_eq!(trusted.0, StatusCode::OK, "{trusted:?} {last}");
    let (s, c) = members(sign_in("grace@acme.test").await).await;
    assert_eq!(
        (s, c.as_str()),
        (StatusCode::FORBIDDEN, "mfa_enrollment_required")
    );
    let login = app.wait_event(ada, "sso.login").await;
    assert_eq!(login["details"]["idp_mfa"], false, "{login}");
}
watchword_testkit::on_both_backends!(oidc_idp_mfa, the_idps_mfa_counts_only_when_trusted);

/// A connection's test sign-in, enabled or not: the page shows the claims that came back and
/// the first problem found; no session opens and nobody is provisioned.
async fn a_test_sign_in_shows_the_claims_and_opens_no_session(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let off = json!({"enabled": false});
    let (s, _) = app.update_sso_connection(ada, &w.connection, off).await;
    assert_eq!(s, StatusCode::OK);
    let test = format!(
        "/api/v1/accounts/{}/sso/connections/{}/test",
        ada.account, w.connection
    );
    let cases = [
        ("grace@acme.test", "The connection works"),
        ("mallory@evil.test", "unverified_domain"),
    ];
    for (login, shown) in cases {
        let (s, v) = app.post(&test, &ada.token, json!({})).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let back = w
            .idp
            .sign_in(v["redirect_url"].as_str().unwrap(), login)
            .await;
        let res = app.client.get(&back).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let session = first_cookie(&res).filter(|c| c.starts_with("__Host-watchword_session="));
        assert!(session.is_none(), "a test opens no session");
        let page = res.text().await.unwrap();
        assert!(page.contains(shown) && page.contains(login), "{page}");
    }
    let members = app.members(ada).await;
    assert!(members.iter().all(|m| m["email"] != "grace@acme.test"));
}
watchword_testkit::on_both_backends!(
    oidc_test_sign_in,
    a_test_sign_in_shows_the_claims_and_opens_no_session
);
