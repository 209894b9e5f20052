//! Single sign-on on SQLite and PostgreSQL against peers nobody here wrote: npm `oidc-provider`
//! as the OIDC provider and a `dnslib` DNS server on loopback for domain verification.

mod console;
mod enforcement;
mod hostile_xml;
mod oidc;
mod saml;
mod scim;
pub(crate) mod setup;
mod setup_link;

use reqwest::StatusCode;
use serde_json::json;
use watchword_testkit::sso::Dns;
use watchword_testkit::{Backend, TestApp, code};

/// The reasons of the account's `sso.login_failed` events, newest first.
async fn failures(app: &TestApp, by: &watchword_testkit::Login) -> Vec<String> {
    let v = app.audit_events(by, "action=sso.login_failed").await;
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
        .collect()
}

const OPERATOR_SECRET: &str = "operator-secret-0123456789abcdef-0123";

/// A server asking `dns` for TXT records, with the operator API on.
async fn spawn(backend: Backend, dns: &Dns) -> Option<TestApp> {
    spawn_tweaked(backend, dns, |_| {}).await
}

/// [`spawn`], with the configuration adjusted by `tweak`.
async fn spawn_tweaked(
    backend: Backend,
    dns: &Dns,
    tweak: impl FnOnce(&mut watchword::Config),
) -> Option<TestApp> {
    let addr = dns.addr.clone();
    TestApp::spawn_with(backend, move |c| {
        c.dns_resolver = Some(addr);
        c.operator_secret = Some(OPERATOR_SECRET.into());
        tweak(c);
    })
    .await
}

async fn plans_gate_sso_and_the_operator_sets_them(backend: Backend) {
    let dns = Dns::start();
    let Some(app) = spawn(backend, &dns).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    let domains = format!("/api/v1/accounts/{}/sso/domains", ada.account);
    let (s, v) = app.get(&domains, &ada.token).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "plan_required"));
    // The operator API: no secret, a wrong one, then the right one.
    let plan = format!("/api/v1/operator/accounts/{}/plan", ada.account);
    let put = |token: Option<&'static str>, plan_name: &'static str| {
        let req = app
            .client
            .put(app.url(&plan))
            .json(&json!({"plan": plan_name}));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
        .send()
    };
    assert_eq!(
        put(None, "paid").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong = "operator-secret-0123456789abcdef-0124";
    assert_eq!(
        put(Some(wrong), "paid").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let res = put(Some(OPERATOR_SECRET), "gold").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = put(Some(OPERATOR_SECRET), "paid").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (v["plan"].as_str(), v["changed"].as_bool()),
        (Some("paid"), Some(true))
    );
    // Paid plans require MFA of every member.
    app.enrol_totp(&ada).await;
    let e = app.wait_event(&ada, "account.plan_changed").await;
    assert_eq!(
        (e["details"]["from"].as_str(), e["details"]["to"].as_str()),
        (Some("free"), Some("paid"))
    );
    // Paid: the Owner reads the domains; an analyst does not.
    let (s, v) = app.get(&domains, &ada.token).await;
    assert_eq!((s, v), (StatusCode::OK, json!([])));
    let lin = app
        .invite_and_accept(&ada, "lin@example.com", "analyst")
        .await;
    app.enrol_totp(&lin).await;
    let (s, _) = app.get(&domains, &lin.token).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
watchword_testkit::on_both_backends!(plans_gate_sso, plans_gate_sso_and_the_operator_sets_them);

async fn domains_are_proven_by_dns_and_held_by_one_account(backend: Backend) {
    let dns = Dns::start();
    let Some(app) = spawn(backend, &dns).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    app.set_plan(&ada, "paid").await;
    app.enrol_totp(&ada).await;
    for bad in ["127.0.0.1", "acme", "-acme.test", "acme..test", " "] {
        let (s, v) = app.add_sso_domain(&ada, bad).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_domain"),
            "{bad}"
        );
    }
    let (s, d) = app.add_sso_domain(&ada, "Acme.TEST").await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    assert_eq!(
        (d["domain"].as_str(), d["verified"].as_bool()),
        (Some("acme.test"), Some(false))
    );
    let record = d["txt_record"].as_str().unwrap().to_owned();
    assert!(record.starts_with("watchword-verification="), "{record}");
    let (s, v) = app.add_sso_domain(&ada, "acme.test").await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "domain_exists"));
    // Not published yet, or published with another token: refused.
    let id = d["id"].as_str().unwrap();
    let (s, v) = app.verify_sso_domain(&ada, id).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "verification_failed")
    );
    dns.publish(json!({"acme.test": ["watchword-verification=not-the-token", "v=spf1 -all"]}));
    let (s, v) = app.verify_sso_domain(&ada, id).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "verification_failed")
    );
    dns.publish(json!({"acme.test": ["v=spf1 -all", record]}));
    let (s, v) = app.verify_sso_domain(&ada, id).await;
    assert_eq!(
        (s, v["verified"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{v}"
    );
    app.wait_event(&ada, "sso.domain_verified").await;
    // Another account can claim the name but never verify it, even with its own record.
    let bob = app.signup("Bobs", "Bob Builder", "bob@example.com").await;
    app.set_plan(&bob, "paid").await;
    app.enrol_totp(&bob).await;
    let (s, b) = app.add_sso_domain(&bob, "acme.test").await;
    assert_eq!(s, StatusCode::CREATED);
    let theirs = b["txt_record"].as_str().unwrap().to_owned();
    dns.publish(json!({"acme.test": [record, theirs]}));
    let (s, v) = app.verify_sso_domain(&bob, b["id"].as_str().unwrap()).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "domain_taken"));
    // Nothing of one account's domains is visible to the other.
    let path = format!("/api/v1/accounts/{}/sso/domains/{id}/verify", ada.account);
    let (s, _) = app.post(&path, &bob.token, json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
watchword_testkit::on_both_backends!(
    domains_by_dns,
    domains_are_proven_by_dns_and_held_by_one_account
);
