//! `watchword-bench sso [--seconds N] [--sign-ins N]`, against npm `oidc-provider` (started
//! from `scripts/sso`, as the tests do):
//!
//! 1. ID token verification in process: a genuine RS256 ID token verified again and again by
//!    the SSO relying party with its keys cached (signature, issuer, audience, expiry, nonce).
//!    Two tasks per core; figures per core.
//! 2. SAML response verification in process, against a genuine response of PyPI `pysaml2`.
//! 3. The callback's own cost: a release server (`target/release/watchword`) with a paid
//!    account, a domain verified through the `dnslib` DNS server and an enabled connection;
//!    first sign-ins of new people (just-in-time members) one after another, the callback timed,
//!    minus the provider's token round trip (timed by exchanging codes the same way for another
//!    client). Beside it, the same server's password-less session issue with the same writes:
//!    `POST /api/v1/signup/confirm` (a new person, account and session; the password was hashed
//!    when the signup was asked for). Medians.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use watchword_app::sso::oidc::{Oidc, Settings};
use watchword_testkit::sso::{CLIENT_ID, CLIENT_SECRET, OidcIdp};

const REDIRECT: &str = "http://127.0.0.1:9/sso/oidc/callback";

pub async fn run(secs: u64, sign_ins: usize) {
    verification(secs).await;
    saml_verification(secs).await;
    callback(sign_ins).await;
}

/// SAML response verification in process: one genuine response signed by the pysaml2 IdP
/// (RSA-2048, RSA-SHA256, the assertion signed) verified again and again by the service
/// provider (signature through libxmlsec1, issuer, audience, recipient, InResponseTo, times;
/// not the database's replay check). One thread per core; figures per core.
async fn saml_verification(secs: u64) {
    use watchword_app::sso::saml::{SamlSp, parse_metadata};
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let idp = watchword_testkit::sso::SamlIdp::start();
    let metadata = parse_metadata(&idp.metadata().await).expect("the IdP's metadata reads");
    let sp = SamlSp {
        entity_id: "http://127.0.0.1:9/sso/saml/bench/metadata".into(),
        acs_url: "http://127.0.0.1:9/sso/saml/bench/acs".into(),
    };
    let response = idp
        .mint(serde_json::json!({
            "email": "grace@acme.test", "sp": sp.entity_id, "acs": sp.acs_url,
            "in_response_to": "_bench-request",
        }))
        .await;
    let now = || watchword_domain::Millis::now();
    metadata
        .verify(&sp, &response, Some("_bench-request"), now())
        .expect("the genuine response verifies");
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let (metadata, sp, response, done) =
                (metadata.clone(), sp.clone(), response.clone(), done.clone());
            std::thread::spawn(move || {
                while Instant::now() < until {
                    let r = metadata.verify(&sp, &response, Some("_bench-request"), now());
                    assert!(r.is_ok());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!("SAML response verification in process ({cores} cores, RSA-2048, RSA-SHA256)");
    println!(
        "{:<48}{:>10.0}  per core {:>8.0}  (target per core >= 2,000)",
        "SAML responses verified/s",
        rate,
        rate / cores as f64
    );
}

async fn verification(secs: u64) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let idp = OidcIdp::start(REDIRECT);
    let token = idp
        .id_token(CLIENT_ID, REDIRECT, "grace@acme.test", "bench-nonce")
        .await;
    let oidc = Arc::new(Oidc::new(true));
    let issuer: &'static str = Box::leak(idp.issuer.clone().into_boxed_str());
    let settings = || Settings {
        issuer,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET.into(),
        scopes: "openid email profile",
        redirect_uri: REDIRECT,
    };
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    // The first check fetches discovery and keys; the rest use the cache.
    oidc.verify_id_token(&settings(), &token, "bench-nonce", now())
        .await
        .expect("the genuine token verifies");
    let done = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..cores * 2)
        .map(|_| {
            let (oidc, done, token) = (oidc.clone(), done.clone(), token.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let r = oidc
                        .verify_id_token(&settings(), &token, "bench-nonce", now())
                        .await;
                    assert!(r.is_ok());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!("SSO ID token verification in process ({cores} cores, RS256, keys cached)");
    println!(
        "{:<48}{:>10.0}  per core {:>8.0}  (target per core >= 20,000)",
        "ID tokens verified/s",
        rate,
        rate / cores as f64
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

const OPERATOR: &str = "bench-operator-secret-0123456789abcdef";

async fn callback(n: usize) {
    use serde_json::{Value, json};
    let dns = watchword_testkit::sso::Dns::start();
    let (mut server, base, client, dir) = crate::start_server_with(&[
        ("WATCHWORD_DNS_RESOLVER", dns.addr.as_str()),
        ("WATCHWORD_OPERATOR_SECRET", OPERATOR),
    ])
    .await;
    let redirect = format!("{base}/sso/oidc/callback");
    let idp = OidcIdp::start(&redirect);
    let ada = crate::signup(&client, &base, dir.path(), "ada@bench.example", "Acme").await;
    let token = ada["session_token"].as_str().unwrap().to_owned();
    let account = ada["account"]["id"].as_str().unwrap().to_owned();
    let call = |method: reqwest::Method, path: String, body: Value| {
        let req = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            let v: Value = res.json().await.unwrap_or_default();
            assert!(status.is_success(), "{status}: {v}");
            v
        }
    };
    let plan = client
        .put(format!("{base}/api/v1/operator/accounts/{account}/plan"))
        .bearer_auth(OPERATOR)
        .json(&json!({"plan": "paid"}))
        .send()
        .await
        .unwrap();
    assert!(plan.status().is_success());
    // Paid plans require MFA: an authenticator for Ada (codes from totp-rs).
    let t = call(
        reqwest::Method::POST,
        "/api/v1/me/mfa/totp".into(),
        json!({"name": "Phone"}),
    )
    .await;
    let totp = totp_rs::Totp::from_url(t["otpauth_uri"].as_str().unwrap()).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = totp.generate(now).to_string();
    call(
        reqwest::Method::POST,
        "/api/v1/me/mfa/totp/confirm".into(),
        json!({"code": code}),
    )
    .await;
    let sso = format!("/api/v1/accounts/{account}/sso");
    let d = call(
        reqwest::Method::POST,
        format!("{sso}/domains"),
        json!({"domain": "acme.test"}),
    )
    .await;
    dns.publish(json!({"acme.test": [d["txt_record"]]}));
    let id = d["id"].as_str().unwrap();
    call(
        reqwest::Method::POST,
        format!("{sso}/domains/{id}/verify"),
        json!({}),
    )
    .await;
    call(
        reqwest::Method::POST,
        format!("{sso}/connections"),
        json!({"name": "Bench IdP", "issuer": idp.issuer, "client_id": CLIENT_ID,
               "client_secret": CLIENT_SECRET, "enabled": true}),
    )
    .await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (mut callbacks, mut round_trips, mut confirms) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let email = format!("person{i}@acme.test");
        let start = client
            .post(format!("{base}/api/v1/sso/start"))
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap();
        let cookie = watchword_testkit::first_cookie(&start).expect("state cookie");
        let v: Value = start.json().await.unwrap();
        let back = idp
            .sign_in(v["redirect_url"].as_str().unwrap(), &email)
            .await;
        let get = no_redirects.get(&back).header("cookie", cookie);
        let started = Instant::now();
        let res = get.send().await.unwrap();
        callbacks.push(started.elapsed());
        if res.status() != 303 {
            panic!(
                "the callback did not sign {email} in: {}",
                res.text().await.unwrap_or_default()
            );
        }
        let login = format!("rt{i}@acme.test");
        let (_, rt) = idp
            .id_token_timed(
                watchword_testkit::sso::OTHER_CLIENT_ID,
                &redirect,
                &login,
                "n",
            )
            .await;
        round_trips.push(rt);
        let email = format!("confirm{i}@bench.example");
        let body = json!({"account_name": "Bench", "name": "Bench Person", "email": email, "password": crate::PASSWORD});
        client
            .post(format!("{base}/api/v1/signup"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let token = loop {
            if let Some(t) = crate::signup_token(&dir.path().join("mail"), &email) {
                break t;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let confirm = client
            .post(format!("{base}/api/v1/signup/confirm"))
            .json(&json!({"token": token, "session_mode": "token"}));
        let started = Instant::now();
        let res = confirm.send().await.unwrap();
        confirms.push(started.elapsed());
        assert_eq!(res.status(), 201);
    }
    let (cb, rt, confirm) = (median(callbacks), median(round_trips), median(confirms));
    let own = cb.saturating_sub(rt);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "SSO callback against a password-less session issue ({n} each, one at a time, SQLite)"
    );
    println!(
        "{:<48}{:>10.2} ms",
        "callback (first sign-in, new member), median",
        ms(cb)
    );
    println!(
        "{:<48}{:>10.2} ms",
        "  the provider's token round trip, median",
        ms(rt)
    );
    println!("{:<48}{:>10.2} ms", "  the callback's own cost", ms(own));
    println!(
        "{:<48}{:>10.2} ms",
        "signup confirmation (new person + session)",
        ms(confirm)
    );
    println!(
        "{:<48}{:>10.2}  (target <= 2)",
        "callback's own cost / session issue",
        ms(own) / ms(confirm)
    );
    let _ = server.kill();
    let _ = server.wait();
}
