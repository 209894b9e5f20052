//! `watchword-bench keys [--keys N] [--database-url URL]`: in-process API key verification, cold
//! (every key read from the database once, cache empty: first uses, so each also queues a
//! last-use write), cold again (cache emptied, keys used this minute: reads alone, as after a
//! restart) and warm (from this node's cache), as verifications per second in all and per core.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use watchword_app::{App, Meta};
use watchword_domain::scope::{Preset, ScopeSet};
use watchword_domain::{AccountId, Millis, PermissionSet, PersonId, Plan, api_key, token};
use watchword_store::api_keys::{self, NewKey};

/// Rounds of the "cold again" phase.
const AGAIN: usize = 5;

/// Verifies every key of `keys` once, split over `tasks` tasks; returns verifications/s.
async fn once_each(app: &App, keys: &Arc<Vec<String>>, tasks: usize) -> f64 {
    let t = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let (app, keys) = (app.clone(), keys.clone());
            tokio::spawn(async move {
                let meta = Meta::new("127.0.0.1", "bench");
                for k in keys.iter().skip(i).step_by(tasks) {
                    app.verify_api_key(k, &meta).await.expect("key verifies");
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    keys.len() as f64 / t.elapsed().as_secs_f64()
}

/// How many keys have a recorded use (a count of the narrow use table: cheap next to the
/// writes it waits for).
async fn used_keys(app: &App) -> usize {
    let mut c = app.store().read().await.unwrap();
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_key_uses")
        .fetch_one(&mut *c)
        .await
        .unwrap();
    count as usize
}

pub async fn run(n: usize, database_url: Option<String>, secs: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = crate::sweep::open_app(dir.path(), database_url).await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let now = Millis::now();
    let account = AccountId::new();
    let scopes = ScopeSet::preset(Preset::ReadOnly, PermissionSet::all());
    let mut keys = Vec::with_capacity(n);
    let mut tx = app.store().begin().await.unwrap();
    watchword_store::accounts::insert(&mut tx, account, "Bench", Plan::Free, now)
        .await
        .unwrap();
    for _ in 0..n {
        let secret = api_key::generate("ww_");
        api_keys::insert(
            &mut tx,
            NewKey {
                id: &api_key::public_id(&secret),
                account,
                name: "bench",
                secret_hash: &token::hash_token(&secret),
                scopes,
                created_by: PersonId::new(),
                created_by_email: "bench@example.com",
                lifetime_secs: None,
                cloned_from: None,
                kind: api_key::KeyKind::Api,
            },
            now,
        )
        .await
        .unwrap();
        keys.push(secret);
    }
    tx.commit().await.unwrap();
    let keys = Arc::new(keys);
    let used_before = used_keys(&app).await;

    // Cold: nothing cached, each key read from the database once, by 256 concurrent callers (as
    // on a loaded node) so that misses arriving together are read together.
    app.invalidate_caches();
    let cpu0 = crate::cpu_secs("self");
    let cold = once_each(&app, &keys, 256).await;
    // Wait for those first uses to be written (work the cold phase caused), then read every key
    // cold again, as after a node restart: keys in use were used within the minute, so no
    // last-use write is due and the phase is reads alone.
    let t = Instant::now();
    while used_keys(&app).await < used_before + n {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "last uses never written"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let written = t.elapsed().as_secs_f64();
    // CPU per key of the first cold phase, its writes included (the wait polls, a little extra).
    let cpu1 = crate::cpu_secs("self");
    let per_cpu = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > a => n as f64 / (b - a),
        _ => f64::NAN,
    };
    let cold_cpu = per_cpu(cpu0, cpu1);
    // Reads alone can be repeated: AGAIN rounds, reported by their median (the machine's noise
    // moves single rounds by a third).
    let mut rounds = Vec::with_capacity(AGAIN);
    for _ in 0..AGAIN {
        app.invalidate_caches();
        let before = crate::cpu_secs("self");
        let rate = once_each(&app, &keys, 256).await;
        rounds.push((rate, per_cpu(before, crate::cpu_secs("self"))));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let cold_again = median(rounds.iter().map(|r| r.0).collect());
    let again_cpu = median(rounds.iter().map(|r| r.1).collect());
    // Warm: every key cached; `cores` tasks verify round-robin for `secs` seconds.
    once_each(&app, &keys, cores).await;
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let t = Instant::now();
    let handles: Vec<_> = (0..cores)
        .map(|i| {
            let (app, keys, done) = (app.clone(), keys.clone(), done.clone());
            tokio::spawn(async move {
                let meta = Meta::new("127.0.0.1", "bench");
                let mut j = i;
                let mut count = 0u64;
                while !count.is_multiple_of(4096) || Instant::now() < deadline {
                    app.verify_api_key(&keys[j % keys.len()], &meta)
                        .await
                        .expect("key verifies");
                    j += cores;
                    count += 1;
                }
                done.fetch_add(count, Ordering::Relaxed);
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let warm = done.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64();
    let backend = match app.store().dialect() {
        watchword_store::Dialect::Postgres => "PostgreSQL",
        watchword_store::Dialect::Sqlite => "SQLite",
    };
    println!("API key verification in process ({backend}, {cores} cores, {n} keys)");
    println!(
        "{:<44} {:>12.0}  per core {:>10.0}  (target per core >= {})",
        "cold (database) verifications/s",
        cold,
        cold / cores as f64,
        if backend == "SQLite" {
            "100,000"
        } else {
            "20,000"
        }
    );
    println!(
        "{:<44} {:>12.1}  (after the cold phase returned)",
        "  ... its last-use writes done within s", written
    );
    println!(
        "{:<44} {:>12.0}  per core {:>10.0}  (median of {AGAIN}; per core {:.0}–{:.0})",
        "cold again, keys used this minute",
        cold_again.0,
        cold_again.0 / cores as f64,
        cold_again.1 / cores as f64,
        cold_again.2 / cores as f64
    );
    println!(
        "{:<44} {:>12.0}  = {:.1} µs of CPU each (target >= {})",
        "cold per CPU-second of this process, writes in",
        cold_cpu,
        1e6 / cold_cpu,
        if backend == "SQLite" {
            "100,000"
        } else {
            "20,000"
        }
    );
    println!(
        "{:<44} {:>12.0}  = {:.1} µs of CPU each (rounds {:.1}–{:.1} µs)",
        "cold again per CPU-second of this process",
        again_cpu.0,
        1e6 / again_cpu.0,
        1e6 / again_cpu.2,
        1e6 / again_cpu.1
    );
    println!(
        "{:<44} {:>12.0}  per core {:>10.0}  (target per core >= 1,000,000)",
        "warm (cache) verifications/s",
        warm,
        warm / cores as f64
    );
}
