//! ID token verification in process (`watchword-bench sso [--seconds N]`): a genuine RS256 ID
//! token from npm `oidc-provider` (started from `scripts/sso`, as the tests do), verified again
//! and again by the SSO relying party with its keys cached: signature, issuer, audience, expiry,
//! nonce. Two tasks per core; figures per core.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use watchword_app::sso::oidc::{Oidc, Settings};
use watchword_testkit::sso::{CLIENT_ID, CLIENT_SECRET, OidcIdp};

const REDIRECT: &str = "http://127.0.0.1:9/sso/oidc/callback";

pub async fn run(secs: u64) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let idp = OidcIdp::start(REDIRECT);
    let token = idp
        .id_token(CLIENT_ID, REDIRECT, "grace@acme.test", "bench-nonce")
        .await;
    let oidc = Arc::new(Oidc::new());
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
