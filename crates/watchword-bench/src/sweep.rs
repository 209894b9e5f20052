//! `watchword-bench sweep --accounts N [--database-url URL]`: seeds N accounts with 5 members
//! each (set-based SQL), then times one Security Contact check over all of them and reports
//! accounts/s and the peak memory of the sweep alone.

use std::time::Instant;
use watchword_domain::Millis;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Seeding is benchmark scaffolding, so it may use each database's own id formatting.
fn seed_sql(postgres: bool) -> Vec<String> {
    let id = |prefix: &str, expr: &str| {
        if postgres {
            format!("'{prefix}' || lpad(({expr})::text, 12, '0')")
        } else {
            format!("'{prefix}' || printf('%012d', {expr})")
        }
    };
    let seq = "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1)";
    let login = "$2 - ((n * 5 + k) % 300) * CAST(86400000 AS BIGINT) - CASE WHEN n % 100 = 0 THEN 400 * CAST(86400000 AS BIGINT) ELSE 0 END";
    let roles = "CASE k WHEN 0 THEN 'owner' WHEN 1 THEN 'admin' WHEN 2 THEN 'manager' WHEN 3 THEN 'analyst' ELSE 'support' END";
    vec![
        format!(
            "{seq}, k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k WHERE k < 4) \
             INSERT INTO persons (id, email, name, password_hash, status, is_staff, last_login_at, created_at, updated_at) \
             SELECT {}, 'p' || (n * 5 + k) || '@bench.example', 'Person ' || (n * 5 + k), 'x', 'active', 0, \
             {login}, $2, $2 FROM seq, k",
            id("00000000-0000-7000-8001-", "n * 5 + k")
        ),
        format!(
            "{seq} INSERT INTO accounts (id, name, plan, created_at, contact_membership_id, contact_source, contact_since) \
             SELECT {}, 'Account ' || n, 'free', $2, {}, 'manual', $2 FROM seq",
            id("00000000-0000-7000-8000-", "n"),
            id("00000000-0000-7000-8002-", "n * 5 + 1")
        ),
        format!(
            "{seq}, k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k WHERE k < 4) \
             INSERT INTO memberships (id, account_id, person_id, email, role, status, created_at, updated_at, last_login_at) \
             SELECT {}, {}, {}, 'p' || (n * 5 + k) || '@bench.example', {roles}, 'active', $2, $2, {login} FROM seq, k",
            id("00000000-0000-7000-8002-", "n * 5 + k"),
            id("00000000-0000-7000-8000-", "n"),
            id("00000000-0000-7000-8001-", "n * 5 + k")
        ),
    ]
}

/// An offline app on a fresh data directory (`database_url` or SQLite there) holding `accounts`
/// seeded accounts of 5 members each, the second one its Security Contact; with the time it took.
pub(crate) async fn seeded(
    accounts: i64,
    database_url: Option<String>,
) -> (watchword_app::App, tempfile::TempDir, std::time::Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = open_app(dir.path(), database_url).await;
    let postgres = app.store().dialect() == watchword_store::Dialect::Postgres;
    let now = Millis::now();
    let t = Instant::now();
    let mut tx = app.store().begin().await.unwrap();
    if !postgres {
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for sql in seed_sql(postgres) {
        sqlx::query(&sql)
            .bind(accounts)
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .expect("seed");
    }
    tx.commit().await.unwrap();
    settle(&app).await;
    (app, dir, t.elapsed())
}

/// An offline app on `data_dir` and `database_url` (or SQLite there).
pub(crate) async fn open_app(
    data_dir: &std::path::Path,
    database_url: Option<String>,
) -> watchword_app::App {
    let config = watchword::Config {
        data_dir: data_dir.to_path_buf(),
        database_url,
        ..Default::default()
    };
    watchword::offline_app(&config)
        .await
        .expect("open database")
}

/// On PostgreSQL, what autovacuum does to freshly seeded tables within a minute or so
/// (statistics, visibility map), done at once so the figures are those of a settled database.
pub(crate) async fn settle(app: &watchword_app::App) {
    if app.store().dialect() == watchword_store::Dialect::Postgres {
        let mut c = app.store().read().await.unwrap();
        sqlx::query("VACUUM ANALYZE")
            .execute(&mut *c)
            .await
            .unwrap();
    }
}

pub(crate) fn reset_peak_rss() -> u64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    rss_kib()
}

pub(crate) fn peak_rss_mib() -> u64 {
    peak_rss_kib() / 1024
}

pub async fn run(accounts: i64, database_url: Option<String>) {
    let (app, _dir, seeded) = seeded(accounts, database_url).await;
    let postgres = app.store().dialect() == watchword_store::Dialect::Postgres;
    let now = Millis::now();
    // Measure the sweep's own peak: reset the high-water mark first.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = rss_kib();
    let t = Instant::now();
    let preview = app.contact_check_once(now, true).await.expect("sweep");
    let dry = t.elapsed().as_secs_f64();
    let peak_dry = peak_rss_kib();
    let t = Instant::now();
    let real = app.contact_check_once(now, false).await.expect("sweep");
    let wet = t.elapsed().as_secs_f64();
    let peak = peak_rss_kib();
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    println!(
        "{backend:<10} accounts {accounts:>9} (members {:>9}, seeded in {:.0} s): dry-run sweep {dry:.2} s = {:.0} accounts/s, {} flagged; \
         real sweep {wet:.2} s = {:.0} accounts/s, {} reverted with 2 emails each; RSS before {} MiB, peak {} MiB (dry) / {} MiB (real)",
        accounts * 5,
        seeded.as_secs_f64(),
        accounts as f64 / dry,
        preview.reverted.len() + preview.warned.len(),
        accounts as f64 / wet,
        real.reverted.len(),
        before / 1024,
        peak_dry / 1024,
        peak / 1024,
    );
}
