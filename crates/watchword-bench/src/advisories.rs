//! `watchword-bench advisories --accounts N [--batches B] [--database-url URL]`: seeds N
//! accounts (the sweep's seeding: 5 members each, a Security Contact), then times an advisory's
//! set-based enqueue of every account as a recipient, and the writing of the first B batches of
//! 500 emails to the outbox (emails/s), with the process's peak memory of each phase; then the
//! delivery of those emails by one node's outbox dispatcher to a real SMTP server (aiosmtpd's
//! sink on loopback) for `--deliver-seconds S` (default 10): messages/s per node.

use crate::sweep::{peak_rss_mib, reset_peak_rss, seeded};
use std::time::Instant;
use watchword_app::advisories::Audience;

/// Delivers what the outbox holds to an aiosmtpd sink for `secs` seconds; messages/s.
async fn deliver(app: &watchword_app::App, secs: u64) -> (usize, f64) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut sink = std::process::Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Sink",
        ])
        .spawn()
        .expect("python3 -m aiosmtpd (pip install aiosmtpd)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let config = watchword::Config {
        smtp_url: Some(format!("smtp://127.0.0.1:{port}")),
        ..Default::default()
    };
    let out = watchword::outbound(&config).expect("smtp");
    let t = Instant::now();
    let mut sent = 0;
    while t.elapsed().as_secs() < secs {
        let n = app.dispatch_outbox_once(&out).await.expect("dispatch");
        if n == 0 {
            break;
        }
        sent += n;
    }
    let rate = sent as f64 / t.elapsed().as_secs_f64();
    let _ = sink.kill();
    let _ = sink.wait();
    (sent, rate)
}

pub async fn run(accounts: i64, batches: usize, database_url: Option<String>) {
    let (app, _dir, seeding) = seeded(accounts, database_url).await;
    let backend = match app.store().dialect() {
        watchword_store::Dialect::Postgres => "PostgreSQL",
        watchword_store::Dialect::Sqlite => "SQLite",
    };
    let before = reset_peak_rss() / 1024;
    let t = Instant::now();
    let id = app
        .enqueue_advisory(
            "Rotate your API keys",
            "A dependency we use was compromised.\nRotate every API key by Friday.",
            Audience::All,
            true,
        )
        .await
        .expect("enqueue");
    let enqueue = t.elapsed().as_secs_f64();
    let peak_enqueue = peak_rss_mib();
    let t = Instant::now();
    let mut written = 0;
    for _ in 0..batches {
        written += app.write_advisory_batch().await.expect("batch");
    }
    let writing = t.elapsed().as_secs_f64();
    let peak_writing = peak_rss_mib();
    let secs = crate::arg("--deliver-seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let (sent, rate) = deliver(&app, secs).await;
    let (_, counts) = app.advisory_status(&id).await.expect("status");
    println!(
        "{backend:<10} accounts {accounts:>9} (seeded in {:.0} s): recipients {} enqueued in \
         {enqueue:.2} s ({:.0}/s, target < 30 s for 1,000,000); {written} emails written to the \
         outbox in {writing:.2} s ({:.0}/s); RSS before {before} MiB, peak {peak_enqueue} MiB \
         (enqueue) / {peak_writing} MiB (emails); delivered {sent} to an SMTP server (aiosmtpd) \
         at {rate:.0} messages/s on one node",
        seeding.as_secs_f64(),
        counts.recipients,
        counts.recipients as f64 / enqueue,
        written as f64 / writing,
    );
}
