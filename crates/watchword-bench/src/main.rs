//! `cargo run --release -p watchword-bench -- [--seconds N] [--database-url URL]`
//! `cargo run --release -p watchword-bench -- sweep --accounts N [--database-url URL]`
//! `cargo run --release -p watchword-bench -- keys [--keys N] [--seconds N] [--database-url URL]`
//! `cargo run --release -p watchword-bench -- mfa [--persons N] [--seconds N] [--database-url URL]`
//! `cargo run --release -p watchword-bench -- oauth [--seconds N] [--concurrency N] [--rounds N] [--database-url URL]`
//! `cargo run --release -p watchword-bench -- advisories --accounts N [--batches B] [--database-url URL]`
//! `cargo run --release -p watchword-bench -- devices [--logins N] [--rounds N]`
//! `cargo run --release -p watchword-bench -- posture [--members N] [--keys K] [--requests R] [--accounts A] [--database-url URL]`
//! `cargo run --release -p watchword-bench -- memory [--logins N] [--concurrency N] [--settle S] [--database-url URL]`
//! `cargo run --release -p watchword-bench -- nodes [--nodes N] [--trials T] [--database-url URL]`
//! `cargo run --release -p watchword-bench -- counters [--calls N]`
//! `cargo run --release -p watchword-bench -- networks [--seconds N] [--rounds R]`
//! `cargo run --release -p watchword-bench -- scim [--users N] [--members M] [--concurrency C] [--reads R] [--database-url URL]`
//!
//! Starts the release `watchword` binary as its own process, then measures side by side in one
//! run: requests/s of `GET /healthz` (the floor) and of `GET /api/v1/whoami` with a bearer session
//! and with an API key, and password logins/s against the limit `cores / single Argon2id verify
//! time`.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use watchword_domain::password::{HashParams, Password};

const PASSWORD: &str = "vivid-Lantern-47-orbit!";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Runs `concurrency` loops of `make` for `secs` seconds; returns completed requests per second.
async fn load<F, Fut>(concurrency: usize, secs: u64, make: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let make = Arc::new(make);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (done, failed, make) = (done.clone(), failed.clone(), make.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    if make().await {
                        done.fetch_add(1, Ordering::Relaxed)
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed)
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let f = failed.load(Ordering::Relaxed);
    assert_eq!(f, 0, "{f} requests failed during the benchmark");
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

mod advisories;
mod counters;
mod devices;
mod keys;
mod memory;
mod mfa;
mod networks;
mod nodes;
mod oauth;
mod posture;
mod scim;
mod sso;
mod sweep;

/// Starts the release server on a free port with a fresh data directory (and `--database-url`
/// when given); returns it with its base URL and a client.
/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat` (Linux; `self` for
/// this one): a phase's cost apart from time the machine gave to other processes.
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Argon2id at the server's default parameters: seconds per verify on one core, and verifies/s
/// with every core hashing at once (what the machine sustains: Argon2 is memory-bound, so cores
/// slow each other down).
fn argon2_rates(cores: usize) -> (f64, f64) {
    let params = HashParams::OWASP_MIN;
    let pw = Password::new(PASSWORD.into());
    let phc = params.hash(&pw);
    let n = 20;
    let t = Instant::now();
    for _ in 0..n {
        params.verify(&pw, &phc);
    }
    let verify = t.elapsed().as_secs_f64() / n as f64;
    let t = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let (pw, phc) = (pw.clone(), phc.clone());
            std::thread::spawn(move || {
                (0..n).for_each(|_| {
                    params.verify(&pw, &phc);
                })
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    (verify, (cores * n) as f64 / t.elapsed().as_secs_f64())
}

/// Signs a new person up: asks, reads the link from the server's mail folder, confirms it.
/// Returns the confirmation's body (a token session).
async fn signup(
    client: &reqwest::Client,
    base: &str,
    data_dir: &std::path::Path,
    email: &str,
    account: &str,
) -> serde_json::Value {
    let res = client
        .post(format!("{base}/api/v1/signup"))
        .json(&serde_json::json!({"account_name": account, "name": "Bench Person", "email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "signup asked");
    let token = loop {
        if let Some(t) = signup_token(&data_dir.join("mail"), email) {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    client
        .post(format!("{base}/api/v1/signup/confirm"))
        .json(&serde_json::json!({"token": token, "session_mode": "token"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The signup link's token in a `.eml` file to `email` (quoted-printable undone).
fn signup_token(dir: &std::path::Path, email: &str) -> Option<String> {
    link_token(dir, email, "signup/confirm?token=")
}

/// The token of the first link containing `marker` in a `.eml` file to `email`.
fn link_token(dir: &std::path::Path, email: &str, marker: &str) -> Option<String> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let text = text
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        if !text.contains(&format!("To: {email}")) {
            continue;
        }
        if let Some(i) = text.find(marker) {
            let rest = &text[i + marker.len()..];
            let t: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            return Some(t);
        }
    }
    None
}

/// The server binary: beside this one, or `WATCHWORD_BENCH_SERVER` (another build, to compare
/// two builds side by side).
fn server_exe() -> std::path::PathBuf {
    let exe = std::env::var_os("WATCHWORD_BENCH_SERVER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::current_exe().unwrap().with_file_name("watchword"));
    assert!(
        exe.exists(),
        "build the server first: cargo build --release -p watchword"
    );
    exe
}

async fn start_server() -> (
    std::process::Child,
    String,
    reqwest::Client,
    tempfile::TempDir,
) {
    start_server_with(&[]).await
}

/// [`start_server`] with more environment settings.
async fn start_server_with(
    env: &[(&str, &str)],
) -> (
    std::process::Child,
    String,
    reqwest::Client,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(server_exe());
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(dir.path());
    if let Some(url) = arg("--database-url") {
        cmd.args(["--database-url", &url]);
    }
    cmd.envs(env.iter().copied());
    let server = cmd
        .env("WATCHWORD_LOG_LEVEL", "warn")
        // The benches sign up hundreds of people from one address.
        .env("WATCHWORD_SIGNUPS_PER_IP_PER_HOUR", "1000000")
        .stdout(Stdio::null())
        .spawn()
        .expect("start watchword");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    for _ in 0..200 {
        // Ready: the database opened and migrated (/healthz answers before that).
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (server, base, client, dir)
}

const HELP: &str = "watchword-bench: measurements printed side by side, against the release server
(cargo build --release -p watchword -p watchword-bench; WATCHWORD_BENCH_SERVER=PATH for another build)

usage: watchword-bench [MODE] [FLAGS]

modes:
  (none)      [--seconds N] [--database-url URL]  healthz floor vs whoami (session, API key), logins vs the Argon2 limit
  nodes       [--nodes N] [--trials T] [--database-url URL]  N servers on one PostgreSQL: change -> refused on the others, p50/p99/max
  keys        [--keys N] [--seconds N] [--database-url URL]  API key verification, cold and cached
  mfa         [--persons N] [--seconds N]  logins with a second factor
  oauth       [--seconds N] [--concurrency N] [--rounds N]  token endpoint and verification vs npm oidc-provider
  sso         [--seconds N] [--sign-ins N]  SSO sign-ins
  sweep       --accounts N [--database-url URL]  the Security Contact sweep
  advisories  --accounts N [--batches B] [--database-url URL]  advisory fan-out and delivery
  devices     [--logins N] [--rounds N]  new-device notices
  posture     [--members N] [--keys K] [--requests R] [--accounts A]  the security overview
  memory      [--logins N] [--concurrency N] [--settle S] [--database-url URL]  memory under load
  counters    [--calls N]  the hot path's metrics counter per check: looked up vs kept (in process)
  networks    [--seconds N] [--rounds R]  whoami by API key without and with 100 trusted ranges
  scim        [--users N] [--members M] [--concurrency C] [--reads R] [--database-url URL]  SCIM provisioning vs PyPI scim2-server

Figures and how they were obtained: docs/performance.md.
";

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return;
    }
    watchword_app::install_crypto_provider();
    if std::env::args().nth(1).as_deref() == Some("counters") {
        let calls = arg("--calls")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000_000);
        counters::run(calls);
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("nodes") {
        let n = arg("--nodes").and_then(|v| v.parse().ok()).unwrap_or(3);
        let trials = arg("--trials").and_then(|v| v.parse().ok()).unwrap_or(1000);
        return nodes::run(n, trials, arg("--database-url")).await;
    }
    if std::env::args().nth(1).as_deref() == Some("scim") {
        let num =
            |name: &str, default: usize| arg(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        let (users, members) = (num("--users", 10_000), num("--members", 100_000));
        let (concurrency, reads) = (num("--concurrency", 16), num("--reads", 1_000));
        return scim::run(users, members as i64, concurrency.max(1), reads.max(1)).await;
    }
    if std::env::args().nth(1).as_deref() == Some("sweep") {
        let n = arg("--accounts")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        return sweep::run(n, arg("--database-url")).await;
    }
    if std::env::args().nth(1).as_deref() == Some("sso") {
        let secs = arg("--seconds").and_then(|v| v.parse().ok()).unwrap_or(5);
        let n = arg("--sign-ins").and_then(|v| v.parse().ok()).unwrap_or(40);
        return sso::run(secs, n).await;
    }
    if std::env::args().nth(1).as_deref() == Some("oauth") {
        let secs = arg("--seconds").and_then(|v| v.parse().ok()).unwrap_or(5);
        let n = arg("--concurrency")
            .and_then(|v| v.parse().ok())
            .unwrap_or(32);
        let rounds = arg("--rounds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3usize)
            .max(1);
        return oauth::run(secs, n, rounds).await;
    }
    if std::env::args().nth(1).as_deref() == Some("advisories") {
        let n = arg("--accounts")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let b = arg("--batches").and_then(|v| v.parse().ok()).unwrap_or(20);
        return advisories::run(n, b, arg("--database-url")).await;
    }
    if std::env::args().nth(1).as_deref() == Some("posture") {
        let members = arg("--members")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let keys = arg("--keys").and_then(|v| v.parse().ok()).unwrap_or(1_000);
        let requests = arg("--requests")
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let accounts = arg("--accounts").and_then(|v| v.parse().ok());
        return posture::run(members, keys, requests, accounts).await;
    }
    if std::env::args().nth(1).as_deref() == Some("devices") {
        let n = arg("--logins").and_then(|v| v.parse().ok()).unwrap_or(30);
        let rounds = arg("--rounds").and_then(|v| v.parse().ok()).unwrap_or(3);
        return devices::run(n, rounds).await;
    }
    if std::env::args().nth(1).as_deref() == Some("memory") {
        return memory::run().await;
    }
    if std::env::args().nth(1).as_deref() == Some("mfa") {
        let n = arg("--persons").and_then(|v| v.parse().ok()).unwrap_or(400);
        let secs = arg("--seconds").and_then(|v| v.parse().ok()).unwrap_or(5);
        return mfa::run(n, secs).await;
    }
    if std::env::args().nth(1).as_deref() == Some("networks") {
        let secs = arg("--seconds").and_then(|v| v.parse().ok()).unwrap_or(5);
        let rounds = arg("--rounds").and_then(|v| v.parse().ok()).unwrap_or(3);
        return networks::run(secs, rounds).await;
    }
    if std::env::args().nth(1).as_deref() == Some("keys") {
        let n = arg("--keys").and_then(|v| v.parse().ok()).unwrap_or(50_000);
        let secs = arg("--seconds").and_then(|v| v.parse().ok()).unwrap_or(5);
        return keys::run(n, arg("--database-url"), secs).await;
    }
    let secs: u64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let (server, base, client, _dir) = start_server().await;
    let email = format!("bench-{}@example.com", std::process::id());
    let signup = signup(&client, &base, _dir.path(), &email, "Bench").await;
    let token = signup["session_token"]
        .as_str()
        .expect("signup worked")
        .to_owned();

    let account = signup["account"]["id"].as_str().unwrap();
    let key: serde_json::Value = client
        .post(format!("{base}/api/v1/accounts/{account}/api-keys"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "bench", "preset": "full"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["secret"].as_str().expect("key created").to_owned();

    let (verify, parallel) = argon2_rates(cores);
    let limit = cores as f64 / verify;

    let conc = 32;
    let (c1, b1) = (client.clone(), base.clone());
    let healthz = load(conc, secs, move || {
        let (c, u) = (c1.clone(), format!("{b1}/healthz"));
        async move { c.get(u).send().await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    let (c2, b2, tk) = (client.clone(), base.clone(), token.clone());
    let whoami = load(conc, secs, move || {
        let (c, u, t) = (c2.clone(), format!("{b2}/api/v1/whoami"), tk.clone());
        async move {
            c.get(u)
                .bearer_auth(t)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    let (c4, b4, k4) = (client.clone(), base.clone(), key.clone());
    let key_whoami = load(conc, secs, move || {
        let (c, u, k) = (c4.clone(), format!("{b4}/api/v1/whoami"), k4.clone());
        async move {
            c.get(u)
                .bearer_auth(k)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    let (c3, b3, em) = (client.clone(), base.clone(), email.clone());
    let logins = load(cores * 4, secs, move || {
        let (c, u) = (c3.clone(), format!("{b3}/api/v1/login"));
        let body = serde_json::json!({"email": em, "password": PASSWORD, "session_mode": "token"});
        async move {
            c.post(u)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    let mut server = server;
    let _ = server.kill();
    let _ = server.wait();

    let backend = if arg("--database-url").is_some_and(|u| u.starts_with("postgres")) {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "watchword benchmark ({backend}, {cores} cores, {secs} s per run, client and server on this machine)"
    );
    println!("{:<44} {:>12}", "measure", "value");
    println!("{:<44} {:>12.0}", "GET /healthz req/s (floor)", healthz);
    println!(
        "{:<44} {:>12.0}",
        "GET /api/v1/whoami req/s (bearer session)", whoami
    );
    println!(
        "{:<44} {:>12.2}  (target >= 0.85)",
        "whoami / healthz",
        whoami / healthz
    );
    println!(
        "{:<44} {:>12.0}",
        "GET /api/v1/whoami req/s (API key)", key_whoami
    );
    println!(
        "{:<44} {:>12.2}  (target >= 0.9)",
        "key whoami / healthz",
        key_whoami / healthz
    );
    println!(
        "{:<44} {:>12.1}",
        "Argon2id verify ms (m=19456,t=2,p=1)",
        verify * 1000.0
    );
    println!(
        "{:<44} {:>12.1}",
        "limit = cores / verify (logins/s)", limit
    );
    println!(
        "{:<44} {:>12.1}",
        "verifies/s with every core hashing at once", parallel
    );
    println!("{:<44} {:>12.1}", "POST /api/v1/login logins/s", logins);
    println!(
        "{:<44} {:>12.2}  (target >= 0.9)",
        "logins / limit",
        logins / limit
    );
    println!(
        "{:<44} {:>12.2}",
        "logins / parallel verifies/s",
        logins / parallel
    );
}
