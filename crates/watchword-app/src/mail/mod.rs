//! Outbound email: templates (plain text + HTML), the outbox they are written to inside the
//! change's transaction, and delivery by SMTP or to `.eml` files (the dispatcher is `outbox`).
//!
//! Each email is one struct in `emails` with a plain-text and an HTML template in `templates/`.

mod emails;

pub use emails::*;

use crate::AppError;
use base64::Engine;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey, dkim_sign,
};
use lettre::message::header::HeaderName;
use lettre::message::{Mailbox, MultiPart, header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::sync::Arc;
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

/// Where delivered mail goes, from whom, and (when configured) signed with DKIM.
#[derive(Clone)]
pub struct Mailer {
    to: Transport,
    from: Mailbox,
    dkim: Option<Arc<DkimConfig>>,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The embedded default: one `.eml` file per message in this directory.
    Files(PathBuf),
}

impl Mailer {
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS) or `smtps://host:port`.
    pub fn smtp(url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("invalid SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(15)))
            .build();
        Ok(Mailer {
            to: Transport::Smtp(transport),
            from: parse_from(from)?,
            dkim: None,
        })
    }

    pub fn files(dir: PathBuf, from: &str) -> Result<Self, String> {
        Ok(Mailer {
            to: Transport::Files(dir),
            from: parse_from(from)?,
            dkim: None,
        })
    }

    /// Signs every message with DKIM for the sender's domain: `pem` is an RSA (2048 bits or
    /// more) or Ed25519 private key, PKCS#1 or PKCS#8, published under `selector`.
    pub fn with_dkim(mut self, selector: &str, pem: &str) -> Result<Self, String> {
        let key = openssl::pkey::PKey::private_key_from_pem(pem.as_bytes())
            .map_err(|_| "the DKIM key is not a PEM private key".to_owned())?;
        let signing = match key.id() {
            openssl::pkey::Id::RSA => {
                if key.bits() < 2048 {
                    return Err(format!(
                        "the DKIM key has {} bits: use RSA-2048 or more, or Ed25519",
                        key.bits()
                    ));
                }
                let pkcs1 = key
                    .rsa()
                    .and_then(|r| r.private_key_to_pem())
                    .map_err(|e| format!("DKIM key: {e}"))?;
                DkimSigningKey::new(&String::from_utf8_lossy(&pkcs1), DkimSigningAlgorithm::Rsa)
            }
            openssl::pkey::Id::ED25519 => {
                let raw = key
                    .raw_private_key()
                    .map_err(|e| format!("DKIM key: {e}"))?;
                DkimSigningKey::new(
                    &base64::engine::general_purpose::STANDARD.encode(raw),
                    DkimSigningAlgorithm::Ed25519,
                )
            }
            _ => return Err("the DKIM key must be RSA or Ed25519".into()),
        }
        .map_err(|e| format!("DKIM key: {e}"))?;
        let selector = selector.trim();
        if selector.is_empty()
            || !selector
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(format!("invalid DKIM selector {selector:?}"));
        }
        let domain = self.from.email.domain().to_owned();
        let headers = ["From", "To", "Subject", "Date", "Message-ID"]
            .into_iter()
            .map(HeaderName::new_from_ascii_str)
            .collect();
        self.dkim = Some(Arc::new(DkimConfig::new(
            selector.to_owned(),
            domain,
            signing,
            headers,
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        )));
        Ok(self)
    }

    pub(crate) async fn deliver(&self, m: &outbox::Message) -> Result<(), String> {
        let to: Mailbox = m
            .recipient
            .parse()
            .map_err(|e| format!("bad recipient: {e}"))?;
        let mut email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&m.subject)
            .message_id(Some(format!("<{}@watchword>", m.id)))
            .header(header::MIME_VERSION_1_0)
            .multipart(MultiPart::alternative_plain_html(
                m.body_text.clone(),
                m.body_html.clone(),
            ))
            .map_err(|e| format!("cannot build message: {e}"))?;
        if let Some(dkim) = &self.dkim {
            dkim_sign(&mut email, dkim);
        }
        match &self.to {
            Transport::Smtp(transport) => transport
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| format!("smtp: {e}")),
            Transport::Files(dir) => {
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

    /// Every template: no link but one built from `public_url` (no address written in a
    /// template, every `href` a variable), never a request for a password or a code, and the
    /// reminder that watchword never asks for them.
    #[test]
    fn no_template_asks_for_a_secret_or_links_elsewhere() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.display();
            let lower = text.to_lowercase();
            seen += 1;
            assert!(
                !lower.contains("http://") && !lower.contains("https://"),
                "{name}: an address written in the template"
            );
            for (i, _) in lower.match_indices("href=\"") {
                assert!(
                    lower[i + 6..].starts_with("{{"),
                    "{name}: a link that is not a variable"
                );
            }
            for asking in [
                "reply with",
                "send us your",
                "send your password",
                "enter your password",
                "type your password",
                "confirm your password",
                "enter the code",
                "enter your code",
                "tell us your",
                "reply to this",
                "verify your password",
                "your password below",
            ] {
                assert!(!lower.contains(asking), "{name}: {asking:?}");
            }
            assert!(
                lower.contains("never ask"),
                "{name}: no reminder that watchword never asks"
            );
        }
        assert!(seen >= 38, "{seen} templates");
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
