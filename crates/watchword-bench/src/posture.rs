//! `watchword-bench posture [--members N] [--keys K] [--requests R] [--accounts A] [--database-url URL]`
//! (defaults: 10,000 members, 1,000 keys, 300 requests; `--members 0` skips part 1)
//!
//! 1. The security overview of one large account through the release server: an Owner signs up,
//!    N − 1 more members (1 % administrators, 80 % with a factor, 10 % with a passkey,
//!    logins spread over a year, 2 % invited long ago) and K API keys (half used) are written
//!    into the account set-based, then R overview requests are timed one after another: p50,
//!    p99, max.
//! 2. With `--accounts A`: the daily snapshot of A seeded accounts (the sweep's seeding, 5
//!    members each): the first run (every account written), the next day's (nothing changed,
//!    nothing written), with the process's peak memory.

use crate::sweep::{peak_rss_mib, reset_peak_rss, seeded};
use std::time::Instant;
use watchword_domain::Millis;

fn seed_sql(postgres: bool) -> Vec<String> {
    let id = |prefix: &str, expr: &str| {
        if postgres {
            format!("'{prefix}' || lpad(({expr})::text, 12, '0')")
        } else {
            format!("'{prefix}' || printf('%012d', {expr})")
        }
    };
    let digest = if postgres {
        "decode(md5('k' || n), 'hex')"
    } else {
        "randomblob(16)"
    };
    let seq = "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1)";
    let day = "CAST(86400000 AS BIGINT)";
    let login = format!("$3 - (n % 365) * {day}");
    vec![
        format!(
            "{seq} INSERT INTO persons (id, email, name, password_hash, status, is_staff, last_login_at, created_at, updated_at) \
             SELECT {}, 'm' || n || '@bench.example', 'Member ' || n, 'x', 'active', 0, {login}, $3, $3 FROM seq",
            id("00000000-0000-7000-9001-", "n")
        ),
        format!(
            "{seq} INSERT INTO memberships (id, account_id, person_id, email, role, status, created_at, updated_at, mfa_level, last_login_at) \
             SELECT {}, $2, CASE WHEN n % 50 = 7 THEN NULL ELSE {} END, 'm' || n || '@bench.example', \
               CASE WHEN n % 100 = 0 THEN 'admin' ELSE 'analyst' END, \
               CASE WHEN n % 50 = 7 THEN 'invited' ELSE 'active' END, $3 - (n % 40) * {day}, $3, \
               CASE WHEN n % 50 = 7 OR n % 5 = 1 THEN 0 WHEN n % 10 = 0 THEN 2 ELSE 1 END, \
               CASE WHEN n % 50 = 7 THEN NULL ELSE {login} END FROM seq",
            id("00000000-0000-7000-9002-", "n"),
            id("00000000-0000-7000-9001-", "n")
        ),
        format!(
            "{seq} INSERT INTO mfa_factors (id, person_id, kind, name, credential_id, created_at, confirmed_at) \
             SELECT {}, {}, CASE WHEN n % 10 = 0 THEN 'passkey' ELSE 'totp' END, 'Factor', \
               CASE WHEN n % 10 = 0 THEN 'cred-' || n ELSE NULL END, $3, $3 FROM seq WHERE n % 5 <> 1",
            id("00000000-0000-7000-9003-", "n"),
            id("00000000-0000-7000-9001-", "n")
        ),
        format!(
            "{seq} INSERT INTO api_keys (id, account_id, name, secret_hash, scopes, created_by_email, created_at) \
             SELECT 'key' || n, $2, 'Key ' || n, {digest}, 'audit_log:read', 'owner@bench.example', \
               $3 - (n % 200) * {day} FROM seq WHERE n <= $4",
        ),
        format!(
            "{seq} INSERT INTO api_key_uses (key_id, last_used_at, last_used_ip) \
             SELECT 'key' || n, $3 - (n % 120) * {day}, '127.0.0.1' FROM seq WHERE n <= $4 AND n % 2 = 0",
        ),
    ]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn overview(members: i64, keys: i64, requests: usize) {
    let (mut server, base, client, dir) = crate::start_server().await;
    let signup = crate::signup(&client, &base, dir.path(), "owner@bench.example", "Big").await;
    let token = signup["session_token"].as_str().expect("signup").to_owned();
    let account = signup["account"]["id"].as_str().unwrap().to_owned();
    let app = crate::sweep::open_app(dir.path(), crate::arg("--database-url")).await;
    let postgres = app.store().dialect() == watchword_store::Dialect::Postgres;
    let t = Instant::now();
    let mut tx = app.store().begin().await.unwrap();
    for sql in seed_sql(postgres) {
        sqlx::query(&sql)
            .bind(members - 1)
            .bind(&account)
            .bind(Millis::now().0)
            .bind(keys)
            .execute(&mut *tx)
            .await
            .expect("seed");
    }
    tx.commit().await.unwrap();
    crate::sweep::settle(&app).await;
    let seeding = t.elapsed().as_secs_f64();
    let url = format!("{base}/api/v1/accounts/{account}/security-overview");
    let get = || async {
        let t = Instant::now();
        let res = client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), 200, "overview answered");
        let body: serde_json::Value = res.json().await.unwrap();
        (t.elapsed(), body)
    };
    let (_, body) = get().await;
    for _ in 0..10 {
        get().await;
    }
    let mut ms: Vec<f64> = Vec::with_capacity(requests);
    for _ in 0..requests {
        let (d, _) = get().await;
        ms.push(d.as_secs_f64() * 1000.0);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    let found = |code: &str| {
        body["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["code"] == code))
            .map(|c| c["found"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    println!(
        "{backend:<10} overview of {members} members and {keys} keys (seeded in {seeding:.1} s; score {}, MFA {}, keys unused {}): \
         {requests} requests one by one: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (targets 20 / 50 ms)",
        body["score"],
        found("mfa_coverage"),
        found("unused_api_keys"),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or_default(),
    );
    let _ = server.kill();
    let _ = server.wait();
}

async fn snapshots(accounts: i64) {
    let (app, _dir, seeding) = seeded(accounts, crate::arg("--database-url")).await;
    let backend = match app.store().dialect() {
        watchword_store::Dialect::Postgres => "PostgreSQL",
        watchword_store::Dialect::Sqlite => "SQLite",
    };
    let before = reset_peak_rss() / 1024;
    let now = Millis::now();
    let t = Instant::now();
    let first = app
        .posture_snapshots_once(now)
        .await
        .expect("run")
        .expect("claimed");
    let first_s = t.elapsed().as_secs_f64();
    let peak_first = peak_rss_mib();
    let next_day = Millis(now.0 + 86_400_000);
    let t = Instant::now();
    let second = app
        .posture_snapshots_once(next_day)
        .await
        .expect("run")
        .expect("claimed");
    let second_s = t.elapsed().as_secs_f64();
    let peak_second = peak_rss_mib();
    assert!(first.finished && second.finished);
    println!(
        "{backend:<10} daily snapshots of {accounts} accounts (seeded in {:.0} s): first run {first_s:.1} s \
         ({} written, {:.0} accounts/s; target < 60 s for 1,000,000 on PostgreSQL), next day {second_s:.1} s \
         ({} written); RSS before {before} MiB, peak {peak_first} MiB / {peak_second} MiB",
        seeding.as_secs_f64(),
        first.written,
        accounts as f64 / first_s,
        second.written,
    );
}

/// The overview unless `members` is 0; the snapshots when `accounts` is given.
pub async fn run(members: i64, keys: i64, requests: usize, accounts: Option<i64>) {
    if members > 0 {
        overview(members, keys, requests).await;
    }
    if let Some(a) = accounts {
        snapshots(a).await;
    }
}
