//! A SIEM's HTTP endpoint for audit streams (a small Python server per test): it verifies each
//! POST with PyPI `standardwebhooks` (unmodified) against the secret written to its directory
//! (`set_secret`, once the stream is created), checks that the same delivery under a fresh
//! timestamp does not verify (a replay), answers 503 while told to fail, and keeps what it
//! accepted in arrival order.

use serde_json::Value;
use std::process::{Child, Command, Stdio};

const SIEM: &str = r#"
import http.server, itertools, json, os, sys, time
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
port, out = int(sys.argv[1]), sys.argv[2]
seen = itertools.count()
class Siem(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        n = next(seen)
        if os.path.exists(os.path.join(out, "fail")):
            self.send_response(503); self.end_headers(); return
        with open(os.path.join(out, "secret")) as f:
            secret = f.read().strip()
        headers = {k.lower(): v for k, v in self.headers.items()}
        hook = Webhook(secret)
        try:
            hook.verify(body, headers)
        except WebhookVerificationError:
            self.send_response(401); self.end_headers(); return
        replayed = dict(headers, **{"webhook-timestamp": str(int(time.time()) + 1)})
        try:
            hook.verify(body, replayed)
            replay_refused = False
        except WebhookVerificationError:
            replay_refused = True
        event = json.loads(body)
        event["header_event_id"] = headers.get("webhook-id")
        event["replay_refused"] = replay_refused
        with open(os.path.join(out, "%05d.json" % n), "w") as f:
            json.dump(event, f)
        self.send_response(204); self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Siem).serve_forever()
"#;

pub struct Siem {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Siem {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("siem dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("python3")
            .args(["-c", SIEM, &port.to_string()])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the SIEM endpoint");
        assert!(
            crate::mail::listening(port).await,
            "SIEM endpoint did not start on port {port}"
        );
        Self { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.port)
    }

    pub fn set_secret(&self, secret: &str) {
        std::fs::write(self.dir.path().join("secret"), secret).expect("write the secret");
    }

    /// Answer 503 to every POST (true) or accept again (false).
    pub fn fail(&self, on: bool) {
        let flag = self.dir.path().join("fail");
        if on {
            std::fs::write(flag, "").expect("fail flag");
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// The events it accepted (signature checked), in arrival order.
    pub fn events(&self) -> Vec<Value> {
        crate::sms::read_dir(self.dir.path())
    }
}

impl Drop for Siem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
