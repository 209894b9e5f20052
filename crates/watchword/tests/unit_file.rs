//! The systemd unit in `deploy/` is hardened: `systemd-analyze security` rates its exposure at
//! 2.0 or less (offline: no systemd needs to run), and its command line is one the binary takes.

use std::process::Command;

const UNIT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/watchword.service"
);

#[test]
fn the_unit_is_hardened() {
    let Ok(out) = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", UNIT])
        .output()
    else {
        assert!(std::env::var("CI").is_err(), "systemd-analyze is missing");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exposure above 2.0:\n{text}");
    assert!(text.contains("Overall exposure level"), "{text}");
}

#[test]
fn the_units_command_line_is_the_binarys() {
    let unit = std::fs::read_to_string(UNIT).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    assert_eq!(args.first(), Some(&"serve"));
    // The same arguments with --help: clap refuses any flag it does not know.
    let out = Command::new(env!("CARGO_BIN_EXE_watchword"))
        .args(&args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
