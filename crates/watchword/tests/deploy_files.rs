//! The deployment files in `deploy/` and `compose.yaml` are ones the tools and the binary take:
//! HAProxy accepts its configuration, and every `WATCHWORD_*` setting compose gives the nodes is
//! a configuration key this binary knows (an unknown one stops a node at start).

use std::process::Command;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const BIN: &str = env!("CARGO_BIN_EXE_watchword");

#[test]
fn haproxy_accepts_its_configuration() {
    let Ok(out) = Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(format!("{ROOT}/deploy/haproxy.cfg"))
        .output()
    else {
        assert!(
            std::env::var("CI").is_err(),
            "haproxy is missing (scripts/test installs it)"
        );
        return;
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compose_gives_the_nodes_only_settings_the_binary_knows() {
    let compose = std::fs::read_to_string(format!("{ROOT}/compose.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    let settings: Vec<(String, String)> = compose
        .lines()
        .filter_map(|l| l.trim().split_once(": "))
        .filter(|(k, _)| k.starts_with("WATCHWORD_"))
        .map(|(k, v)| {
            let v = if k.ends_with("_FILE") {
                key.display().to_string()
            } else {
                v.to_owned()
            };
            (k.to_owned(), v)
        })
        .collect();
    assert!(settings.len() >= 5, "{settings:?}");
    // `scan` loads the whole configuration, then reads the files it is given.
    let out = Command::new(BIN)
        .args(["scan", "/dev/null"])
        .env_clear()
        .envs(settings.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
