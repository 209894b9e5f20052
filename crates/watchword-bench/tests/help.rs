//! `watchword-bench --help` lists its modes and runs nothing.

#[test]
fn help_lists_the_modes_and_runs_nothing() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_watchword-bench"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for mode in ["nodes", "keys", "oauth", "sweep", "--trials"] {
        assert!(text.contains(mode), "{mode} missing: {text}");
    }
    // The default mode prints requests per second; help prints no figure.
    assert!(!text.contains("requests/s"), "a benchmark ran: {text}");
}
