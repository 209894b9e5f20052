//! `watchword-bench nodes [--nodes N] [--trials T] [--database-url URL]`: N release servers
//! (separate processes) on one PostgreSQL; for each kind of change that ends or narrows access,
//! T trials of: warm the credential in every node's cache, make the change on node 1, then ask
//! every other node back to back until it refuses. Prints p50/p99/max of "change answered →
//! refused on the other node" per kind. The caches' TTLs are set to 10 minutes, so only the
//! notification can explain a refusal within milliseconds.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = super::PASSWORD;
const LONG_TTL_MS: &str = "600000";

struct Node {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(url: &str, env: &[(&str, String)], client: &reqwest::Client) -> Node {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(super::server_exe());
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(dir.path())
    .args(["--database-url", url])
    .env("WATCHWORD_LOG_LEVEL", "warn")
    .env("WATCHWORD_SIGNUPS_PER_IP_PER_HOUR", "1000000")
    .env("WATCHWORD_AUTH_CACHE_TTL_MS", LONG_TTL_MS)
    .env("WATCHWORD_API_KEY_CACHE_TTL_MS", LONG_TTL_MS)
    .stdout(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start watchword");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..400 {
        // Ready: the database opened and migrated (/healthz answers before that).
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Node {
        child,
        base,
        _dir: dir,
    }
}

/// The status of `GET path` on `base` with `token`.
async fn status(client: &reqwest::Client, base: &str, path: &str, token: &str) -> u16 {
    client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Asks every node but the first until each refuses `path` for `token`; the milliseconds from
/// `since` to each refusal.
async fn refused_after(
    client: &reqwest::Client,
    nodes: &[Node],
    path: &str,
    token: &str,
    since: Instant,
) -> Vec<f64> {
    let mut out = Vec::new();
    let waits = nodes[1..].iter().map(|n| {
        let (client, base) = (client.clone(), n.base.clone());
        let (path, token) = (path.to_owned(), token.to_owned());
        tokio::spawn(async move {
            loop {
                let s = status(&client, &base, &path, &token).await;
                if s != 200 {
                    return since.elapsed().as_secs_f64() * 1000.0;
                }
                if since.elapsed() > Duration::from_secs(30) {
                    return f64::INFINITY;
                }
            }
        })
    });
    for w in waits.collect::<Vec<_>>() {
        out.push(w.await.unwrap());
    }
    out
}

/// Warms `path` with `token` on every node (200 everywhere, now cached).
async fn warm(client: &reqwest::Client, nodes: &[Node], path: &str, token: &str) {
    for n in nodes {
        let s = status(client, &n.base, path, token).await;
        assert_eq!(s, 200, "{path} on {} before the change", n.base);
    }
}

async fn json(res: reqwest::Response) -> serde_json::Value {
    let status = res.status();
    let v: serde_json::Value = res.json().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {v}");
    v
}

async fn login(client: &reqwest::Client, base: &str, email: &str) -> String {
    login_with(client, base, email, PASSWORD).await
}

async fn login_with(client: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let v = json(
        client
            .post(format!("{base}/api/v1/login"))
            .json(
                &serde_json::json!({"email": email, "password": password, "session_mode": "token"}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    v["session_token"].as_str().expect("a session").to_owned()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(kind: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{kind:<24} {:>6} refusals   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>7.2} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or_default()
    );
}

pub async fn run(n: usize, trials: usize, database_url: Option<String>) {
    let n = n.max(2);
    let url = match database_url {
        Some(u) => u,
        None => {
            watchword_testkit::fresh_pg_database()
                .await
                .expect("PostgreSQL at WATCHWORD_TEST_PG_URL (or pass --database-url)")
                .0
        }
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let first = start(&url, &[], &client).await;
    // Every node seals and peppers with the same keys.
    let shared = |f: &str| {
        std::fs::read_to_string(first._dir.path().join(f))
            .map(|t| t.trim().replace('\n', ","))
            .unwrap_or_default()
    };
    let env = [
        ("WATCHWORD_MFA_KEYS", shared("mfa-keys")),
        ("WATCHWORD_PASSWORD_PEPPERS", shared("password-peppers")),
    ];
    let mut nodes = vec![first];
    for _ in 1..n {
        nodes.push(start(&url, &env, &client).await);
    }
    let a = &nodes[0].base;
    let owner = super::signup(
        &client,
        a,
        nodes[0]._dir.path(),
        "owner@example.com",
        "Nodes",
    )
    .await;
    let owner_token = owner["session_token"].as_str().unwrap().to_owned();
    let account = owner["account"]["id"].as_str().unwrap().to_owned();
    // A member whose role and status the trials move back and forth.
    let invite = json(
        client
            .post(format!("{a}/api/v1/accounts/{account}/invitations"))
            .bearer_auth(&owner_token)
            .json(&serde_json::json!({"email": "member@example.com", "role": "manager"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let _ = invite;
    let mail = nodes[0]._dir.path().join("mail");
    let token = loop {
        if let Some(t) = super::link_token(&mail, "member@example.com", "invitations/accept?token=")
        {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let accepted = json(
        client
            .post(format!("{a}/api/v1/invitations/accept"))
            .json(&serde_json::json!({"token": token, "name": "Member", "password": PASSWORD, "session_mode": "token"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let member_id = accepted["membership_id"]
        .as_str()
        .expect("membership id")
        .to_owned();
    let members_path = format!("/api/v1/accounts/{account}/members");
    println!(
        "{n} nodes on one PostgreSQL, {trials} trials per kind; caches' TTL {LONG_TTL_MS} ms (only a notification explains a fast refusal)"
    );

    // A session ends (logout on node 1).
    let mut ms = Vec::new();
    for _ in 0..trials {
        let t = login(&client, a, "member@example.com").await;
        warm(&client, &nodes, "/api/v1/whoami", &t).await;
        json(
            client
                .post(format!("{a}/api/v1/logout"))
                .bearer_auth(&t)
                .send()
                .await
                .unwrap(),
        )
        .await;
        ms.extend(refused_after(&client, &nodes, "/api/v1/whoami", &t, Instant::now()).await);
    }
    report("session logged out", ms);

    // "Log out everywhere".
    let mut ms = Vec::new();
    for _ in 0..trials {
        let t = login(&client, a, "member@example.com").await;
        warm(&client, &nodes, "/api/v1/whoami", &t).await;
        json(
            client
                .post(format!("{a}/api/v1/me/sessions/revoke-all"))
                .bearer_auth(&t)
                .send()
                .await
                .unwrap(),
        )
        .await;
        ms.extend(refused_after(&client, &nodes, "/api/v1/whoami", &t, Instant::now()).await);
    }
    report("logged out everywhere", ms);

    // A session that lives through the rest ("log out everywhere" above ended the others).
    let member = login(&client, a, "member@example.com").await;
    // A role narrows (Manager → Analyst: members no longer listed), then widens back.
    let role = |r: &'static str| {
        client
            .patch(format!("{a}/api/v1/accounts/{account}/members/{member_id}"))
            .bearer_auth(&owner_token)
            .json(&serde_json::json!({"role": r}))
            .send()
    };
    let mut ms = Vec::new();
    for _ in 0..trials {
        warm(&client, &nodes, &members_path, &member).await;
        json(role("analyst").await.unwrap()).await;
        ms.extend(refused_after(&client, &nodes, &members_path, &member, Instant::now()).await);
        json(role("manager").await.unwrap()).await;
    }
    report("role narrowed", ms);

    // A member deactivated, then reactivated.
    let op = |what: &'static str| {
        client
            .post(format!(
                "{a}/api/v1/accounts/{account}/members/{member_id}/{what}"
            ))
            .bearer_auth(&owner_token)
            .send()
    };
    let mut ms = Vec::new();
    for _ in 0..trials {
        let t = login(&client, a, "member@example.com").await;
        warm(&client, &nodes, &members_path, &t).await;
        json(op("deactivate").await.unwrap()).await;
        ms.extend(refused_after(&client, &nodes, &members_path, &t, Instant::now()).await);
        json(op("reactivate").await.unwrap()).await;
    }
    report("member deactivated", ms);

    // A password changed: the person's other sessions end.
    let passwords = [PASSWORD, "another-Lantern-48-orbit!"];
    let mut ms = Vec::new();
    for i in 0..trials {
        let (current, new) = (passwords[i % 2], passwords[(i + 1) % 2]);
        let keep = login_with(&client, a, "member@example.com", current).await;
        let other = login_with(&client, a, "member@example.com", current).await;
        warm(&client, &nodes, "/api/v1/whoami", &other).await;
        json(
            client
                .post(format!("{a}/api/v1/me/password"))
                .bearer_auth(&keep)
                .json(&serde_json::json!({"current_password": current, "new_password": new}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        ms.extend(refused_after(&client, &nodes, "/api/v1/whoami", &other, Instant::now()).await);
    }
    report("password changed", ms);

    // An API key revoked.
    let mut ms = Vec::new();
    for i in 0..trials {
        let key = json(
            client
                .post(format!("{a}/api/v1/accounts/{account}/api-keys"))
                .bearer_auth(&owner_token)
                .json(&serde_json::json!({"name": format!("k{i}"), "scopes": ["members:read"]}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let (id, secret) = (key["id"].as_str().unwrap(), key["secret"].as_str().unwrap());
        warm(&client, &nodes, "/api/v1/whoami", secret).await;
        let res = client
            .delete(format!("{a}/api/v1/accounts/{account}/api-keys/{id}"))
            .bearer_auth(&owner_token)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
        ms.extend(refused_after(&client, &nodes, "/api/v1/whoami", secret, Instant::now()).await);
    }
    report("API key revoked", ms);
}
