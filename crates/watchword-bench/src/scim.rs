//! `watchword-bench scim [--users N] [--members M] [--concurrency C] [--reads R] [--database-url URL]`
//! (defaults: 10,000 users, 100,000 members, 16 at once, 1,000 reads)
//!
//! 1. N users created by `POST /Users` (C at once), then each read back by
//!    `filter=userName eq "…"`, against watchword (release server, one account on the paid plan
//!    with a verified domain and a SCIM token) and PyPI `scim2-server` (the reference server, in
//!    memory) with the same client in the same run: users/s of each phase, of both together, and
//!    the ratios.
//! 2. The account topped up to M members (written set-based), then R filter reads one after
//!    another: p50, p99, max.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use watchword_domain::api_key::{self, KeyKind};
use watchword_domain::scope::ScopeSet;
use watchword_domain::{AccountId, Millis, PersonId, token};
use watchword_store::api_keys::{self, NewKey};

const DOMAIN: &str = "acme.bench";
const PEER_TOKEN: &str = "bench-scim-token-0123456789";

fn user(i: usize) -> serde_json::Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("u{i}@{DOMAIN}"),
        "name": { "givenName": "User", "familyName": format!("Number {i}") },
        "emails": [{ "value": format!("u{i}@{DOMAIN}"), "type": "work", "primary": true }],
        "externalId": format!("ext-{i}"),
        "active": true,
    })
}

/// PyPI `scim2-server` on a free port: its process and base URL.
fn start_peer() -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("scim2-server")
        .args(["--port", &port.to_string(), "--bearer-token", PEER_TOKEN])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("scim2-server runs (pip install scim2-server)");
    (child, format!("http://127.0.0.1:{port}"))
}

async fn wait_up(client: &reqwest::Client, base: &str, token: &str) {
    for _ in 0..200 {
        let res = client
            .get(format!("{base}/ServiceProviderConfig"))
            .bearer_auth(token)
            .send()
            .await;
        if res.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{base} did not answer");
}

/// `n` requests made by `make(i)`, `concurrency` at once: requests per second.
async fn phase<F, Fut>(n: usize, concurrency: usize, make: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let t = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, make) = (next.clone(), make.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    assert!(make(i).await, "request {i} failed");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// Creates then reads back `n` users at `base`: (creates/s, reads/s, both/s).
async fn create_and_read(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    n: usize,
    concurrency: usize,
) -> (f64, f64, f64) {
    let (c, url, t) = (client.clone(), format!("{base}/Users"), token.to_owned());
    let creates = phase(n, concurrency, move |i| {
        let req = c.post(&url).bearer_auth(&t).json(&user(i));
        async move { req.send().await.is_ok_and(|r| r.status().as_u16() == 201) }
    })
    .await;
    let (c, url, t) = (client.clone(), format!("{base}/Users"), token.to_owned());
    let reads = phase(n, concurrency, move |i| {
        let filter = format!("userName eq \"u{i}@{DOMAIN}\"");
        let req = c
            .get(format!("{url}?filter={}", url_encode(&filter)))
            .bearer_auth(&t);
        async move {
            match req.send().await {
                Ok(r) if r.status().is_success() => r
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|v| v["totalResults"] == 1),
                _ => false,
            }
        }
    })
    .await;
    let both = 2.0 / (1.0 / creates + 1.0 / reads);
    (creates, reads, both)
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Turns Acme on for SCIM behind the server's back: the paid plan, `acme.bench` verified, a SCIM
/// token made by its Owner. Returns the token.
async fn provision(app: &watchword_app::App, account: AccountId, owner: PersonId) -> String {
    let now = Millis::now();
    let mut tx = app.store().begin().await.unwrap();
    sqlx::query("UPDATE accounts SET plan = 'paid' WHERE id = $1")
        .bind(account.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO sso_domains (id, account_id, domain, token, created_at, verified_at) \
         VALUES ('bench-domain', $1, $2, 'bench', $3, $3)",
    )
    .bind(account.to_string())
    .bind(DOMAIN)
    .bind(now.0)
    .execute(&mut *tx)
    .await
    .unwrap();
    let secret = api_key::generate(api_key::DEFAULT_PREFIX);
    let key = NewKey {
        id: &api_key::public_id(&secret),
        account,
        name: "SCIM token",
        secret_hash: &token::hash_token(&secret),
        scopes: ScopeSet::EMPTY,
        created_by: owner,
        created_by_email: "owner@bench.example",
        lifetime_secs: None,
        cloned_from: None,
        kind: KeyKind::Scim,
    };
    api_keys::insert(&mut tx, key, now).await.unwrap();
    tx.commit().await.unwrap();
    secret
}

/// Tops the account up to `total` members (persons and memberships in the verified domain).
async fn top_up(app: &watchword_app::App, account: &str, from: i64, total: i64) {
    let postgres = app.store().dialect() == watchword_store::Dialect::Postgres;
    let id = |prefix: &str| {
        if postgres {
            format!("'{prefix}' || lpad(n::text, 12, '0')")
        } else {
            format!("'{prefix}' || printf('%012d', n)")
        }
    };
    let seq = "WITH RECURSIVE seq(n) AS (SELECT $1 UNION ALL SELECT n + 1 FROM seq WHERE n < $2)";
    let statements = [
        format!(
            "{seq} INSERT INTO persons (id, email, name, password_hash, status, is_staff, created_at, updated_at) \
             SELECT {}, 'm' || n || '@{DOMAIN}', 'Member ' || n, '!sso', 'active', 0, $4, $4 FROM seq",
            id("00000000-0000-7000-9101-")
        ),
        format!(
            "{seq} INSERT INTO memberships (id, account_id, person_id, email, role, status, created_at, updated_at) \
             SELECT {}, $3, {}, 'm' || n || '@{DOMAIN}', 'analyst', 'active', $4, $4 FROM seq",
            id("00000000-0000-7000-9102-"),
            id("00000000-0000-7000-9101-")
        ),
    ];
    let mut tx = app.store().begin().await.unwrap();
    for sql in statements {
        sqlx::query(&sql)
            .bind(from)
            .bind(total)
            .bind(account)
            .bind(Millis::now().0)
            .execute(&mut *tx)
            .await
            .expect("seed");
    }
    tx.commit().await.unwrap();
    crate::sweep::settle(app).await;
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn run(users: usize, members: i64, concurrency: usize, reads: usize) {
    let (mut server, base, client, dir) = crate::start_server().await;
    let signup = crate::signup(&client, &base, dir.path(), "owner@bench.example", "Acme").await;
    let account = signup["account"]["id"].as_str().expect("signup").to_owned();
    let owner = signup["person"]["id"].as_str().unwrap().to_owned();
    let app = crate::sweep::open_app(dir.path(), crate::arg("--database-url")).await;
    let secret = provision(
        &app,
        AccountId::parse(&account).unwrap(),
        PersonId::parse(&owner).unwrap(),
    )
    .await;
    let ours = format!("{base}/scim/v2/accounts/{account}");
    wait_up(&client, &ours, &secret).await;
    let (mut peer, theirs) = start_peer();
    wait_up(&client, &theirs, PEER_TOKEN).await;
    let backend = match app.store().dialect() {
        watchword_store::Dialect::Postgres => "PostgreSQL",
        watchword_store::Dialect::Sqlite => "SQLite",
    };

    let (oc, or, ob) = create_and_read(&client, &ours, &secret, users, concurrency).await;
    let (tc, tr, tb) = create_and_read(&client, &theirs, PEER_TOKEN, users, concurrency).await;
    println!(
        "{backend:<10} {users} users, {concurrency} at once: created {oc:.0}/s vs scim2-server {tc:.0}/s ({:.1}x); \
         read back by filter {or:.0}/s vs {tr:.0}/s ({:.1}x); both {ob:.0}/s vs {tb:.0}/s ({:.1}x, target >= 5x)",
        oc / tc,
        or / tr,
        ob / tb,
    );
    let _ = peer.kill();
    let _ = peer.wait();

    // Part 2: the filter read one by one at `members` members.
    let have = users as i64 + 1;
    if members > have {
        top_up(&app, &account, have, members).await;
    }
    let url = format!("{ours}/Users");
    let mut ms = Vec::with_capacity(reads);
    for r in 0..reads {
        // Seeded members and provisioned users alternately, spread over the account.
        let who = if r % 2 == 0 && members > have {
            format!("m{}@{DOMAIN}", have + (r as i64 * 7919) % (members - have))
        } else {
            format!("u{}@{DOMAIN}", (r * 7919) % users)
        };
        let filter = format!("userName eq \"{who}\"");
        let t = Instant::now();
        let res = client
            .get(format!("{url}?filter={}", url_encode(&filter)))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = res.json().await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(v["totalResults"], 1, "{who}: {v}");
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "{backend:<10} filter userName eq at {} members, {reads} reads one by one: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 10 ms)",
        members.max(have),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or_default(),
    );
    let _ = server.kill();
    let _ = server.wait();
}
