//! `watchword serve` as a process of its own (this build or another release's binary), for
//! tests that kill nodes or run two releases side by side.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A serving process, killed on drop.
pub struct Served {
    child: Child,
    pub base: String,
}

impl Served {
    /// Starts `bin serve` on `database_url` with `data_dir` (nodes of one cluster share it: the
    /// same MFA keys and password peppers) on a free loopback port, plus `WATCHWORD_*` settings
    /// in `env`; returns once it says it is running (at most 60 s). Blocking.
    pub fn start(bin: &Path, database_url: &str, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = crate::topology::free_port();
        let mut cmd = Command::new(bin);
        // Only the settings given here: another release refuses variables it does not know
        // (the test suite's own, such as WATCHWORD_PREVIOUS_BIN).
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("WATCHWORD_")) {
            cmd.env_remove(name);
        }
        let mut child = cmd
            .arg("serve")
            .env("WATCHWORD_DATABASE_URL", database_url)
            .env("WATCHWORD_DATA_DIR", data_dir)
            .env("WATCHWORD_LISTEN", format!("127.0.0.1:{port}"))
            .env("WATCHWORD_LOG_LEVEL", "error")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("watchword is running") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{} serve never said it was running", bin.display()));
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// SIGKILL: no shutdown, no flush, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}
