//! Reading sent SMS: the JSON files of the embedded provider, or what a real HTTP SMS gateway
//! (a small Python server started per test) accepted. The gateway checks each POST's HMAC
//! signature with Python's own `hmac`, refuses a bad one with 401, and can be told to fail the
//! first requests with 503 so that retries can be seen.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const GATEWAY: &str = r#"
import hashlib, hmac, http.server, itertools, json, os, sys
port, out, secret, fail = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
seen = itertools.count()
class Gateway(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        n = next(seen)
        with open(os.path.join(out, "requests.log"), "a") as log:
            log.write("%d\n" % n)
        if n < fail:
            self.send_response(503); self.end_headers(); return
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(self.headers.get("x-watchword-signature", ""), want):
            self.send_response(401); self.end_headers(); return
        msg = json.loads(body)
        msg["idempotency_key"] = self.headers.get("idempotency-key")
        with open(os.path.join(out, "%04d.json" % n), "w") as f:
            json.dump(msg, f)
        self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Gateway).serve_forever()
"#;

/// Every message in `dir` (`*.json`), in name order (the embedded provider names files by
/// time-ordered message id; the gateway by arrival).
pub fn read_dir(dir: &Path) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

/// The six-digit code a message carries.
pub fn code_of(msg: &Value) -> String {
    let text = msg["text"].as_str().unwrap_or_default();
    let code: String = text.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "no code in {text:?}");
    code
}

/// A real HTTP SMS gateway on a free loopback port.
pub struct SmsGateway {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl SmsGateway {
    pub async fn start(secret: &str, fail_first: usize) -> Self {
        let dir = tempfile::tempdir().expect("gateway dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("python3")
            .args(["-c", GATEWAY, &port.to_string()])
            .arg(dir.path())
            .args([secret, &fail_first.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the SMS gateway");
        assert!(
            crate::mail::listening(port).await,
            "SMS gateway did not start on port {port}"
        );
        Self { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/send", self.port)
    }

    /// How many POSTs arrived, accepted or not.
    pub fn requests(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("requests.log"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    /// The messages it accepted (signature checked).
    pub fn messages(&self) -> Vec<Value> {
        read_dir(self.dir.path())
    }
}

impl Drop for SmsGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
