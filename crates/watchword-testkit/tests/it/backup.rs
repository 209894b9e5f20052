//! `watchword backup` copies a SQLite database while the server writes to it, and `watchword
//! restore` puts the copy back: every row committed before the backup began is there, and what
//! is there has no gap (the copy is one instant of the database).

use crate::operator_cli::run;
use serde_json::json;
use sqlx::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use watchword_testkit::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_writes_restores_every_committed_row() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let app = Arc::new(app);
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let path = format!("/api/v1/accounts/{}/api-keys", ada.account);
    // One writer, one key at a time: key k<n> commits before k<n+1> begins.
    let (stop, made) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let writer = {
        let (app, token, path) = (app.clone(), ada.token.clone(), path.clone());
        let (stop, made) = (stop.clone(), made.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Acquire) && n < 5_000 {
                let (s, v) = app
                    .post(
                        &path,
                        &token,
                        json!({"name": format!("k{n}"), "scopes": ["members:read"]}),
                    )
                    .await;
                assert!(s.is_success(), "{v}");
                n += 1;
                made.store(n, Ordering::Release);
            }
        })
    };
    while made.load(Ordering::Acquire) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let committed_before = made.load(Ordering::Acquire);
    let file = app.data_dir().join("backup.db");
    let (ok, out, err) = {
        let (app, file) = (app.clone(), file.clone());
        tokio::task::spawn_blocking(move || run(&app, &["backup", file.to_str().unwrap()]))
            .await
            .unwrap()
    };
    assert!(ok, "{out}{err}");
    // Writes went on meanwhile.
    while made.load(Ordering::Acquire) < committed_before + 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Release);
    writer.await.unwrap();
    // A second backup to the same file is refused (never overwritten).
    let (ok, _, err) = run(&app, &["backup", file.to_str().unwrap()]);
    assert!(!ok && err.contains("exists"), "{err}");

    // Restored elsewhere, as after losing the machine.
    let dir = tempfile::tempdir().unwrap();
    let restored = dir.path().join("watchword.db");
    let url = format!("sqlite://{}", restored.display());
    let out = restore(&file, &url, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM api_keys")
        .fetch_all(&mut c)
        .await
        .unwrap();
    let mut numbers: Vec<usize> = names
        .iter()
        .map(|(n,)| n.trim_start_matches('k').parse().unwrap())
        .collect();
    numbers.sort_unstable();
    assert!(
        numbers.len() >= committed_before,
        "{} keys restored, {committed_before} committed before the backup",
        numbers.len()
    );
    assert_eq!(numbers, (0..numbers.len()).collect::<Vec<_>>(), "no gap");
    // Restoring over a database keeps the one it replaces.
    let out = restore(&file, &url, dir.path());
    assert!(out.status.success());
    let kept = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".before-restore-"));
    assert!(kept);
    // Not a database: refused, nothing moved.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "not sqlite").unwrap();
    let out = restore(&junk, &url, dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a SQLite database"));
}

/// `watchword restore FILE` onto the SQLite database at `url`.
fn restore(file: &std::path::Path, url: &str, data: &std::path::Path) -> std::process::Output {
    std::process::Command::new(watchword_testkit::watchword_bin())
        .arg("restore")
        .arg(file)
        .args(["--database-url", url, "--data-dir"])
        .arg(data)
        .env("WATCHWORD_LOG_LEVEL", "warn")
        .output()
        .unwrap()
}
