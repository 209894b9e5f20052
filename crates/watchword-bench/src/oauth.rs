//! `watchword-bench oauth [--seconds N] [--concurrency N] [--rounds N]`: watchword's OAuth
//! endpoints side by side with npm `oidc-provider` (started from `scripts/sso`, as the tests do)
//! on this machine in the same run, each client authenticated with `client_secret_basic`. Each
//! pair is measured `--rounds` times (default 3), the two sides alternating, and the median of
//! each side and of the rounds' ratios is printed (this machine's runs spread by 10–20 %):
//!
//! 1. client credentials tokens issued per second (watchword seals each token, no row;
//!    oidc-provider keeps them in its in-memory store);
//! 2. introspections per second of a live access token;
//! 3. an API call with an OAuth access token (`GET /api/v1/whoami`) against the `/healthz` floor
//!    of the same server.
//!
//! 4. refresh-token rotations per second, each with its reuse check (`--concurrency` chains, each
//!    started by a member's consent and a code exchange; watchword only).

use crate::load;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const INTROSPECTION: &str = "bench-introspection-secret-0123456789";
const AS_CLIENT: (&str, &str) = ("bench-client", "bench-client-secret-0123456789abcdef");

/// npm `oidc-provider` as an authorization server: its process and base URL.
fn start_peer() -> (std::process::Child, String) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/sso/oauth-as.mjs"
    );
    let mut child = Command::new("node")
        .arg(script)
        .env("AS_CLIENT_ID", AS_CLIENT.0)
        .env("AS_CLIENT_SECRET", AS_CLIENT.1)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs (scripts/test installs oidc-provider in scripts/sso)");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let base = line
        .trim()
        .strip_prefix("listening ")
        .expect("the peer started")
        .to_owned();
    (child, base)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `a` and `b` loaded in turn, `rounds` times: the median rate of each and of the ratios a/b.
async fn pair<A, FA, B, FB>(
    rounds: usize,
    concurrency: usize,
    secs: u64,
    a: A,
    b: B,
) -> (f64, f64, f64)
where
    A: Fn() -> FA + Clone + Send + Sync + 'static,
    FA: std::future::Future<Output = bool> + Send,
    B: Fn() -> FB + Clone + Send + Sync + 'static,
    FB: std::future::Future<Output = bool> + Send,
{
    let (mut xs, mut ys, mut rs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let x = load(concurrency, secs, a.clone()).await;
        let y = load(concurrency, secs, b.clone()).await;
        xs.push(x);
        ys.push(y);
        rs.push(ratio(x, y));
    }
    (median(xs), median(ys), median(rs))
}

pub async fn run(secs: u64, concurrency: usize, rounds: usize) {
    let (mut server, base, client, dir) =
        crate::start_server_with(&[("WATCHWORD_INTROSPECTION_SECRET", INTROSPECTION)]).await;
    let ada = crate::signup(&client, &base, dir.path(), "ada@bench.example", "Acme").await;
    let token = ada["session_token"].as_str().unwrap().to_owned();
    let account = ada["account"]["id"].as_str().unwrap().to_owned();
    let res = client
        .post(format!("{base}/api/v1/accounts/{account}/oauth-apps"))
        .bearer_auth(&token)
        .json(&json!({"name": "Bench", "scopes": ["members:read"]}))
        .send()
        .await
        .unwrap();
    let app: Value = res.json().await.unwrap();
    let id = app["client_id"].as_str().expect("an app").to_owned();
    let secret = app["client_secret"].as_str().unwrap().to_owned();
    let (mut peer, peer_base) = start_peer();

    let ours = {
        let (c, url, id, secret) = (
            client.clone(),
            format!("{base}/oauth/token"),
            id.clone(),
            secret.clone(),
        );
        move || {
            let req = c
                .post(&url)
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")]);
            async move { req.send().await.is_ok_and(|r| r.status().is_success()) }
        }
    };
    let theirs = {
        let (c, url) = (client.clone(), format!("{peer_base}/token"));
        move || {
            let req = c
                .post(&url)
                .basic_auth(AS_CLIENT.0, Some(AS_CLIENT.1))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", "members:read"),
                ]);
            async move { req.send().await.is_ok_and(|r| r.status().is_success()) }
        }
    };
    let (token_ours, token_theirs, token_ratio) =
        pair(rounds, concurrency, secs, ours, theirs).await;

    let fetch =
        |url: String, user: String, pass: String, extra: Vec<(&'static str, &'static str)>| {
            let c = client.clone();
            async move {
                let mut form = vec![("grant_type", "client_credentials")];
                form.extend(extra);
                let v: Value = c
                    .post(url)
                    .basic_auth(user, Some(pass))
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                v["access_token"].as_str().unwrap().to_owned()
            }
        };
    let at_ours = fetch(
        format!("{base}/oauth/token"),
        id.clone(),
        secret.clone(),
        vec![],
    )
    .await;
    let at_theirs = fetch(
        format!("{peer_base}/token"),
        AS_CLIENT.0.into(),
        AS_CLIENT.1.into(),
        vec![("scope", "members:read")],
    )
    .await;
    let introspect_ours = {
        let (c, url, t) = (
            client.clone(),
            format!("{base}/api/v1/introspect"),
            at_ours.clone(),
        );
        move || {
            let req = c
                .post(&url)
                .bearer_auth(INTROSPECTION)
                .form(&[("token", t.as_str())]);
            async move {
                match req.send().await {
                    Ok(r) => r.json::<Value>().await.is_ok_and(|v| v["active"] == true),
                    Err(_) => false,
                }
            }
        }
    };
    let introspect_theirs = {
        let (c, url, t) = (
            client.clone(),
            format!("{peer_base}/token/introspection"),
            at_theirs.clone(),
        );
        move || {
            let req = c
                .post(&url)
                .basic_auth(AS_CLIENT.0, Some(AS_CLIENT.1))
                .form(&[("token", t.as_str())]);
            async move {
                match req.send().await {
                    Ok(r) => r.json::<Value>().await.is_ok_and(|v| v["active"] == true),
                    Err(_) => false,
                }
            }
        }
    };
    let (intro_ours, intro_theirs, intro_ratio) = pair(
        rounds,
        concurrency,
        secs,
        introspect_ours,
        introspect_theirs,
    )
    .await;

    let healthz = {
        let (c, url) = (client.clone(), format!("{base}/healthz"));
        move || {
            let req = c.get(&url);
            async move { req.send().await.is_ok_and(|r| r.status().is_success()) }
        }
    };
    let whoami = {
        let (c, url, t) = (
            client.clone(),
            format!("{base}/api/v1/whoami"),
            at_ours.clone(),
        );
        move || {
            let req = c.get(&url).bearer_auth(&t);
            async move { req.send().await.is_ok_and(|r| r.status().is_success()) }
        }
    };
    let (api, floor, api_ratio) = pair(rounds, concurrency, secs, whoami, healthz).await;
    let refreshes = refresh_rate(&client, &base, &token, &account, concurrency, secs).await;

    let _ = peer.kill();
    let _ = server.kill();
    println!(
        "OAuth side by side with npm oidc-provider ({concurrency} concurrent, {secs} s each, \
         medians of {rounds} alternating rounds, SQLite unless --database-url)"
    );
    println!(
        "{:<48}{:>10.0}  oidc-provider {:>8.0}  ratio {:>5.2}  (target >= 5)",
        "client credentials tokens/s", token_ours, token_theirs, token_ratio
    );
    println!(
        "{:<48}{:>10.0}  oidc-provider {:>8.0}  ratio {:>5.2}  (target >= 5)",
        "introspections/s", intro_ours, intro_theirs, intro_ratio
    );
    println!(
        "{:<48}{:>10.0}  /healthz      {:>8.0}  ratio {:>5.2}  (target >= 0.9)",
        "API calls with an OAuth access token/s", api, floor, api_ratio
    );
    println!(
        "{:<48}{:>10.0}  (reported)",
        "refresh-token rotations/s (with reuse check)", refreshes
    );
}

const REDIRECT: &str = "http://127.0.0.1:9/cb";
/// RFC 7636's example verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Rotations per second over `chains` refresh-token chains, each started by the member's
/// consent (the form posted with their session) and a code exchange.
async fn refresh_rate(
    client: &reqwest::Client,
    base: &str,
    session: &str,
    account: &str,
    chains: usize,
    secs: u64,
) -> f64 {
    let res = client
        .post(format!("{base}/api/v1/accounts/{account}/oauth-apps"))
        .bearer_auth(session)
        .json(
            &json!({"name": "Refresher", "redirect_uris": [REDIRECT], "scopes": ["members:read"]}),
        )
        .send()
        .await
        .unwrap();
    let app: Value = res.json().await.unwrap();
    let id = app["client_id"].as_str().unwrap().to_owned();
    let secret = app["client_secret"].as_str().unwrap().to_owned();
    let csrf = watchword_domain::token::derive("csrf", session);
    let mut tokens = Vec::new();
    for _ in 0..chains {
        let form = [
            ("csrf_token", csrf.as_str()),
            ("response_type", "code"),
            ("client_id", &id),
            ("redirect_uri", REDIRECT),
            ("scope", "members:read"),
            ("state", "s"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("account_id", account),
            ("decision", "allow"),
        ];
        let page = client
            .post(format!("{base}/oauth/authorize"))
            .bearer_auth(session)
            .header("origin", base)
            .form(&form)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let code = page
            .split("code=")
            .nth(1)
            .and_then(|s| s.split(['&', '"']).next())
            .expect("a code in the way back to the app")
            .to_owned();
        let v: Value = client
            .post(format!("{base}/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(
            v["refresh_token"]
                .as_str()
                .expect("a refresh token")
                .to_owned(),
        );
    }
    let pool = std::sync::Arc::new(std::sync::Mutex::new(tokens));
    let (c, url) = (client.clone(), format!("{base}/oauth/token"));
    load(chains, secs, move || {
        let (c, url, id, secret, pool) = (
            c.clone(),
            url.clone(),
            id.clone(),
            secret.clone(),
            pool.clone(),
        );
        async move {
            let Some(old) = pool.lock().unwrap().pop() else {
                return false;
            };
            let res = c
                .post(&url)
                .basic_auth(&id, Some(&secret))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", old.as_str()),
                ])
                .send()
                .await;
            let Ok(res) = res else { return false };
            let Ok(v) = res.json::<Value>().await else {
                return false;
            };
            match v["refresh_token"].as_str() {
                Some(next) => {
                    pool.lock().unwrap().push(next.to_owned());
                    true
                }
                None => false,
            }
        }
    })
    .await
}
