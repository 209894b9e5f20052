//! Password + authenticator-code logins against the Argon2 limit, and what the TOTP check adds.
//!
//! A TOTP code is accepted once per person and 30-second step, so each of `persons` people (all
//! enrolled first, codes from totp-rs) logs in once: password (`POST /api/v1/login`, a
//! challenge) then code (`POST /api/v1/login/mfa`). Password-only logins of one person run in
//! the same process for the side-by-side ratio.

use crate::{PASSWORD, load, start_server};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use watchword_domain::mfa::{check_totp, new_totp_secret};
use watchword_domain::sealed::Keyring;

fn unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn post(
    c: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: serde_json::Value,
) -> serde_json::Value {
    let mut r = c.post(url).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap().json().await.unwrap_or_default()
}

/// Signs up `n` people with an authenticator app each; returns (email, otpauth URI).
async fn enrol(
    c: &reqwest::Client,
    base: &str,
    dir: &std::path::Path,
    n: usize,
) -> Vec<(String, String)> {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (c, base, next, dir) = (c.clone(), base.to_owned(), next.clone(), dir.to_owned());
            tokio::spawn(async move {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return out;
                    }
                    let email = format!("mfa-{i}-{}@example.com", std::process::id());
                    let s = crate::signup(&c, &base, &dir, &email, &format!("A{i}")).await;
                    let token = s["session_token"].as_str().expect("signup").to_owned();
                    let e = post(
                        &c,
                        format!("{base}/api/v1/me/mfa/totp"),
                        Some(&token),
                        serde_json::json!({}),
                    )
                    .await;
                    let uri = e["otpauth_uri"].as_str().expect("enrolment").to_owned();
                    let code = totp_rs::Totp::from_url(&uri)
                        .unwrap()
                        .generate(unix())
                        .to_string();
                    let ok = post(
                        &c,
                        format!("{base}/api/v1/me/mfa/totp/confirm"),
                        Some(&token),
                        serde_json::json!({"code": code}),
                    )
                    .await;
                    assert!(ok["factor"].is_object(), "confirm: {ok}");
                    out.push((email, uri));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

pub async fn run(persons: usize, secs: u64) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let (mut server, base, client, dir) = start_server().await;
    let t = Instant::now();
    let people = Arc::new(enrol(&client, &base, dir.path(), persons).await);
    eprintln!(
        "enrolled {} people in {:.1} s",
        people.len(),
        t.elapsed().as_secs_f64()
    );
    // Enrolment spent the current step of each person: start in the next one.
    let wait = 30 - unix() % 30;
    tokio::time::sleep(Duration::from_secs(wait)).await;

    let next = Arc::new(AtomicUsize::new(0));
    let pid = server.id().to_string();
    let cpu0 = crate::cpu_secs(&pid);
    let start = Instant::now();
    let (c, b, p, nx) = (client.clone(), base.clone(), people.clone(), next.clone());
    let workers: Vec<_> = (0..cores * 4)
        .map(|_| {
            let (c, b, p, nx) = (c.clone(), b.clone(), p.clone(), nx.clone());
            tokio::spawn(async move {
                let mut done = 0usize;
                loop {
                    let i = nx.fetch_add(1, Ordering::Relaxed);
                    if i >= p.len() {
                        return done;
                    }
                    let (email, uri) = &p[i];
                    let ch = post(&c, format!("{b}/api/v1/login"), None, serde_json::json!({"email": email, "password": PASSWORD, "session_mode": "token"})).await;
                    let challenge = ch["challenge_id"].as_str().expect("a challenge");
                    let code = totp_rs::Totp::from_url(uri)
                        .unwrap()
                        .generate(unix())
                        .to_string();
                    let s = post(&c, format!("{b}/api/v1/login/mfa"), None, serde_json::json!({"challenge_id": challenge, "method": "totp", "code": code})).await;
                    assert!(s["session_token"].is_string(), "login/mfa: {s}");
                    done += 1;
                }
            })
        })
        .collect();
    let mut done = 0;
    for w in workers {
        done += w.await.unwrap();
    }
    let mfa_logins = done as f64 / start.elapsed().as_secs_f64();
    // The server's own CPU per password + TOTP login (the load generator's excluded).
    let server_cpu = match (cpu0, crate::cpu_secs(&pid)) {
        (Some(a), Some(b)) if b > a => (b - a) / done as f64,
        _ => f64::NAN,
    };

    // Password-only logins, side by side: a person without a factor.
    let email = format!("plain-{}@example.com", std::process::id());
    crate::signup(&client, &base, dir.path(), &email, "Plain").await;
    let (c3, b3) = (client.clone(), base.clone());
    let plain = load(cores * 4, secs, move || {
        let (c, u) = (c3.clone(), format!("{b3}/api/v1/login"));
        let body =
            serde_json::json!({"email": email, "password": PASSWORD, "session_mode": "token"});
        async move {
            c.post(u)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    let _ = server.kill();
    let _ = server.wait();

    // The in-process cost of one code check (open the sealed secret, try three steps) against
    // one Argon2id verify.
    let (verify, parallel) = crate::argon2_rates(cores);
    let ring = Keyring::parse(&Keyring::new_entry("k1")).unwrap();
    let secret = new_totp_secret();
    let (kid, sealed) = ring.seal(&secret, "f1");
    let m = 20_000;
    let t = Instant::now();
    for i in 0..m {
        let plain = ring.open(&kid, &sealed, "f1").unwrap();
        std::hint::black_box(check_totp(&plain, "000000", 1_700_000_000 + i, None));
    }
    let check = t.elapsed().as_secs_f64() / m as f64;
    let limit = cores as f64 / verify;

    let backend = if crate::arg("--database-url").is_some_and(|u| u.starts_with("postgres")) {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "watchword MFA login benchmark ({backend}, {cores} cores, {} people, client and server on this machine)",
        people.len()
    );
    println!("{:<48} {:>12}", "measure", "value");
    println!(
        "{:<48} {:>12.1}",
        "Argon2id verify ms (m=19456,t=2,p=1)",
        verify * 1000.0
    );
    println!(
        "{:<48} {:>12.1}",
        "limit = cores / verify (logins/s)", limit
    );
    println!(
        "{:<48} {:>12.1}",
        "verifies/s, every core hashing at once", parallel
    );
    println!("{:<48} {:>12.1}", "password-only logins/s", plain);
    println!(
        "{:<48} {:>12.1}",
        "password + TOTP logins/s (2 requests each)", mfa_logins
    );
    println!(
        "{:<48} {:>12.2}  (target >= 0.9)",
        "password + TOTP logins / limit",
        mfa_logins / limit
    );
    println!(
        "{:<48} {:>12.2}",
        "password + TOTP logins / parallel verifies/s",
        mfa_logins / parallel
    );
    println!(
        "{:<48} {:>12.1}",
        "server CPU ms per password + TOTP login",
        server_cpu * 1000.0
    );
    println!(
        "{:<48} {:>12.2}",
        "verify CPU (both cores hashing) / login CPU",
        cores as f64 / parallel / server_cpu
    );
    println!(
        "{:<48} {:>12.2}",
        "verify CPU (one core) / login CPU",
        verify / server_cpu
    );
    println!(
        "{:<48} {:>12.2}",
        "password + TOTP / password-only logins",
        mfa_logins / plain
    );
    println!(
        "{:<48} {:>12.2}",
        "TOTP check µs (unseal + 3 steps)",
        check * 1e6
    );
    println!(
        "{:<48} {:>11.4}%  (target < 1%)",
        "TOTP check / Argon2id verify",
        check / verify * 100.0
    );
}
