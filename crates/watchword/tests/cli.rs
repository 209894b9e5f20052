//! The binary as a newcomer uses it: help, first start with no flags, migrate, bad config.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_watchword");

#[test]
fn help_is_available_on_every_command() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage"), "{args:?}: {text}");
    }
    let text = String::from_utf8(
        Command::new(BIN)
            .arg("serve")
            .arg("--help")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(text.contains("--database-url") && text.contains("--listen"));
}

#[test]
fn serve_creates_the_data_directory_migrates_and_prints_the_url() {
    let dir = tempfile::tempdir().unwrap();
    // The only setting changed is the port, so parallel test runs do not collide on 8080.
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env("WATCHWORD_LISTEN", "127.0.0.1:0")
        .env_remove("WATCHWORD_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    // On loopback the URL says localhost: passkeys need a host name, not an IP address.
    assert!(url.starts_with("http://localhost:"), "{url}");
    let db = dir.path().join("watchword-data").join("watchword.db");
    assert!(db.exists(), "SQLite file created in ./watchword-data");
    let addr = url
        .trim_start_matches("http://localhost")
        .trim_end_matches('/')
        .to_owned();
    let addr = format!("127.0.0.1{addr}");
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn migrate_applies_the_schema_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = Command::new(BIN)
            .args(["migrate", "--data-dir"])
            .arg(dir.path())
            .env_remove("WATCHWORD_DATABASE_URL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    }
    assert!(dir.path().join("watchword.db").exists());
}

#[test]
fn bad_configuration_stops_with_a_message_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("watchword.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nargon2_memory_kib = 1024\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("OWASP") && !err.contains("panicked"), "{err}");
    std::fs::write(&cfg, "lisen = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lisen"));
    let out = Command::new(BIN)
        .args(["migrate", "--database-url", "mysql://x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite: or postgres://"));
}

/// An unreachable PostgreSQL is named for what failed, at once — not a pool timeout after 10 s.
#[test]
fn an_unreachable_database_says_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    for (url, says) in [
        ("postgres://postgres@127.0.0.1:1/x", "refused"),
        ("postgres://postgres@no-such-host.invalid:5432/x", "lookup"),
    ] {
        let out = Command::new(BIN)
            .args(["migrate", "--database-url", url, "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot connect to PostgreSQL") && err.contains(says),
            "{url}: {err}"
        );
        assert!(!err.contains("pool timed out"), "{err}");
    }
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        Some(commit) => assert!(text.contains(&format!("(commit {commit})")), "{text}"),
        None => assert!(text.contains("(commit "), "{text}"),
    }
}
