//! Reading delivered mail: `.eml` files of the embedded mailer, or a real SMTP server (Python's
//! aiosmtpd with its Maildir handler) started per test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    /// When it was delivered (the file's modification time).
    pub received: Option<std::time::SystemTime>,
}

fn parse(raw: &[u8]) -> Option<Email> {
    let m = mail_parser::MessageParser::default().parse(raw)?;
    let to = m
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_owned();
    Some(Email {
        to,
        subject: m.subject().unwrap_or_default().to_owned(),
        text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: m.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        message_id: m.message_id().unwrap_or_default().to_owned(),
        received: None,
    })
}

/// Every parsable message in `dir` (recursively), oldest file first.
pub fn read_dir(dir: &Path) -> Vec<Email> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .parent()
                .and_then(|d| d.file_name())
                .is_none_or(|n| n != "tmp")
            {
                // Maildir's tmp/ holds messages still being written.
                files.push(p);
            }
        }
    }
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files
        .iter()
        .filter_map(|p| {
            let received = std::fs::metadata(p).and_then(|m| m.modified()).ok();
            let mut email = parse(&std::fs::read(p).ok()?)?;
            email.received = received;
            Some(email)
        })
        .collect()
}

/// The `token=` value of the first link in a text body.
pub fn link_token(text: &str) -> Option<String> {
    let start = text.find("token=")? + "token=".len();
    Some(
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect(),
    )
}

/// Waits (bounded, 5 s) until something listens on a loopback port.
pub(crate) async fn listening(port: u16) -> bool {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    false
}

/// A real SMTP server that stores what it receives in a Maildir.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("maildir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(dir.path().join("Maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd)");
        assert!(
            listening(port).await,
            "aiosmtpd did not start on port {port}"
        );
        Self { child, port, dir }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn emails(&self) -> Vec<Email> {
        read_dir(&self.dir.path().join("Maildir"))
    }

    /// The token of the link in the first email to `to`, waited for (bounded).
    pub async fn link_to(&self, to: &str) -> String {
        for _ in 0..200 {
            if let Some(m) = self.emails().into_iter().find(|m| m.to == to) {
                return link_token(&m.text).expect("a link in the email");
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("no email to {to}");
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
