//! `watchword-bench memory [--logins N] [--concurrency N] [--settle SECS] [--database-url URL]`
//!
//! The server's resident memory under a password-login flood: idle, the peak while `--logins`
//! (default 1,000) right-password logins run `--concurrency` (default 32) at once, and again
//! `--settle` (default 30) seconds after the flood. Printed with the bound the README states:
//! peak ≤ hash_concurrency × Argon2 memory + 64 MiB, and afterwards within 10 % of idle plus the
//! caches' share.

use crate::{PASSWORD, arg, signup, start_server};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Resident set size of a process in KiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub async fn run() {
    let logins: usize = arg("--logins").and_then(|v| v.parse().ok()).unwrap_or(1000);
    let conc: usize = arg("--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let settle: u64 = arg("--settle").and_then(|v| v.parse().ok()).unwrap_or(30);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let (mut server, base, client, dir) = start_server().await;
    let pid = server.id();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fresh = rss_kib(pid);
    // One person per concurrent caller: a flood of many people (one person's parallel attempts
    // beyond 10 are refused by the login limit, right password or not).
    let mut bodies = Vec::new();
    for i in 0..conc {
        let email = format!("memory-{i}-{}@example.com", std::process::id());
        signup(&client, &base, dir.path(), &email, "Memory").await;
        bodies.push(
            serde_json::json!({"email": email, "password": PASSWORD, "session_mode": "token"}),
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Idle after the signups (each hashed a password: Argon2's working memory is in use already).
    let idle = rss_kib(pid);

    let peak = Arc::new(AtomicU64::new(idle));
    let flooding = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, flooding) = (peak.clone(), flooding.clone());
        tokio::spawn(async move {
            while flooding.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let (client, base, next) = (client.clone(), base.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < logins {
                    let r = client
                        .post(format!("{base}/api/v1/login"))
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success(), "login: {}", r.status());
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let flood_secs = start.elapsed().as_secs_f64();
    flooding.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let peak = peak.load(Ordering::Relaxed);
    let right_after = rss_kib(pid);
    let logins_per_sec = logins as f64 / flood_secs;
    tokio::time::sleep(Duration::from_secs(settle)).await;
    let settled = rss_kib(pid);
    let _ = server.kill();
    let _ = server.wait();

    // The server's defaults: Argon2 19 MiB, hash_concurrency = cores.
    let argon = 19.0 * cores as f64;
    let bound_peak = argon + 64.0;
    println!(
        "memory under a login flood ({logins} password logins by {conc} people at once, {flood_secs:.1} s = {logins_per_sec:.1} logins/s, {cores} cores)"
    );
    println!(
        "  RSS at start         {:8.1} MiB  (before any password was hashed)",
        mib(fresh)
    );
    println!(
        "  RSS idle             {:8.1} MiB  (after {conc} signups)",
        mib(idle)
    );
    println!(
        "  RSS peak             {:8.1} MiB  (peak − idle {:.1} MiB; bound hash_concurrency × 19 MiB + 64 MiB = {bound_peak:.0} MiB)",
        mib(peak),
        mib(peak) - mib(idle)
    );
    println!("  RSS right after      {:8.1} MiB", mib(right_after));
    println!(
        "  RSS {settle:>2} s after       {:8.1} MiB  (settled / idle = {:.2}; settled − start = {:.1} MiB, Argon2 memory kept for reuse = {argon:.0} MiB)",
        mib(settled),
        settled as f64 / idle.max(1) as f64,
        mib(settled) - mib(fresh)
    );
}
