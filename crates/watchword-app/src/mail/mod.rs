//! Outbound email: templates (plain text + HTML), the outbox they are written to inside the
//! change's transaction, and delivery by SMTP or to `.eml` files (the dispatcher is `outbox`).
//!
//! Each email is one struct in `emails` with a plain-text and an HTML template in `templates/`.

mod emails;

pub use emails::*;

use crate::AppError;
use lettre::message::{Mailbox, MultiPart, header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;
use watchword_domain::{AccountId, MessageId, Millis};
use watchword_store::Conn;
use watchword_store::outbox;

/// Writes an email to the outbox on the caller's transaction.
pub(crate) async fn enqueue(
    c: &mut Conn,
    account: Option<AccountId>,
    to: &str,
    email: &dyn Email,
    now: Millis,
) -> Result<(), AppError> {
    enqueue_returning_id(c, account, to, email, now)
        .await
        .map(|_| ())
}

/// [`enqueue`], answering the message's id (to follow its delivery).
pub(crate) async fn enqueue_returning_id(
    c: &mut Conn,
    account: Option<AccountId>,
    to: &str,
    email: &dyn Email,
    now: Millis,
) -> Result<String, AppError> {
    let subject = email.subject();
    let (body_text, body_html) = email
        .bodies()
        .map_err(|e| AppError::internal(format!("template: {e}")))?;
    let m = outbox::Message {
        id: MessageId::new(),
        account,
        channel: "email",
        recipient: to.to_owned(),
        subject,
        body_text,
        body_html,
        attempts: 0,
    };
    outbox::enqueue(c, &m, now).await?;
    Ok(m.id.to_string())
}

/// Where delivered mail goes.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// The embedded default: one `.eml` file per message in this directory.
    Files { dir: PathBuf, from: Mailbox },
}

impl Mailer {
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS) or `smtps://host:port`.
    pub fn smtp(url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("invalid SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(15)))
            .build();
        Ok(Mailer::Smtp {
            transport,
            from: parse_from(from)?,
        })
    }

    pub fn files(dir: PathBuf, from: &str) -> Result<Self, String> {
        Ok(Mailer::Files {
            dir,
            from: parse_from(from)?,
        })
    }

    fn from(&self) -> &Mailbox {
        match self {
            Mailer::Smtp { from, .. } | Mailer::Files { from, .. } => from,
        }
    }

    pub(crate) async fn deliver(&self, m: &outbox::Message) -> Result<(), String> {
        let to: Mailbox = m
            .recipient
            .parse()
            .map_err(|e| format!("bad recipient: {e}"))?;
        let email = Message::builder()
            .from(self.from().clone())
            .to(to)
            .subject(&m.subject)
            .message_id(Some(format!("<{}@watchword>", m.id)))
            .header(header::MIME_VERSION_1_0)
            .multipart(MultiPart::alternative_plain_html(
                m.body_text.clone(),
                m.body_html.clone(),
            ))
            .map_err(|e| format!("cannot build message: {e}"))?;
        match self {
            Mailer::Smtp { transport, .. } => transport
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| format!("smtp: {e}")),
            Mailer::Files { dir, .. } => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("mail dir: {e}"))?;
                let path = dir.join(format!("{}.eml", m.id));
                tokio::fs::write(&path, email.formatted())
                    .await
                    .map_err(|e| format!("write {}: {e}", path.display()))?;
                // Development delivery: the message's first link is printed too, so a signup
                // or reset works from the log alone (the file holds it in clear anyway).
                let link = m
                    .body_text
                    .split_whitespace()
                    .find(|w| w.starts_with("http://") || w.starts_with("https://"))
                    .unwrap_or_default();
                tracing::info!(to = %m.recipient, subject = %m.subject, file = %path.display(), link, "email written to file");
                Ok(())
            }
        }
    }
}

fn parse_from(from: &str) -> Result<Mailbox, String> {
    from.parse()
        .map_err(|e| format!("invalid sender address {from:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_html_but_not_text() {
        let t = Invitation {
            inviter: "<b>Eve</b>",
            account: "Acme",
            role: "Admin",
            link: "http://x/?token=a",
        };
        let subject = t.subject();
        let (text, html) = t.bodies().unwrap();
        assert!(subject.contains("<b>Eve</b>"));
        assert!(text.contains("<b>Eve</b> invited you"));
        assert!(
            html.contains("&#60;b&#62;Eve") || html.contains("&lt;b&gt;Eve"),
            "{html}"
        );
        assert!(text.contains("never ask you for your password"));
    }

    #[test]
    fn every_email_renders_its_fields_in_both_bodies() {
        let at = Millis(1_700_000_000_000);
        let when = at.rfc3339();
        let emails: Vec<(Box<dyn Email>, &str)> = vec![
            (
                Box::new(ContactChanged {
                    account: "Acme",
                    new_name: "Ada",
                    new_email: "ada@acme.test",
                    previous: Some("Bob <bob@acme.test>".into()),
                    actor: "Carol".into(),
                    at,
                    reason: Some("left the company".into()),
                    review_url: "http://x/review".into(),
                }),
                "left the company",
            ),
            (
                Box::new(KeyExposed {
                    name: "Ada",
                    account: "Acme",
                    key_name: "ci",
                    key_id: "key_1",
                    url: "http://leak",
                    source: "scanner",
                    revoked: true,
                    keys_url: "http://x/keys",
                }),
                "key_1",
            ),
            (
                Box::new(ContactWarning {
                    name: "Ada",
                    account: "Acme",
                    window_days: 90,
                    last_login: at,
                    lapses_at: at,
                    login_url: "http://x/login",
                }),
                &when,
            ),
            (
                Box::new(SecurityNotice {
                    name: "Ada",
                    subject: "A factor was removed",
                    what: "Your authenticator app was removed",
                    advice: "",
                    ip: "192.0.2.1",
                    at,
                }),
                "192.0.2.1",
            ),
        ];
        for (email, expected) in &emails {
            let (text, html) = email.bodies().unwrap();
            assert!(text.contains(expected), "{text}");
            assert!(html.contains(expected), "{html}");
            assert!(!email.subject().is_empty());
        }
    }
}
