//! The anti-phishing phrase: words a person chooses on My security, shown at the top of every
//! email watchword sends them, so a copy made by someone else (who does not know the phrase)
//! stands out. Sealed at rest like authenticator seeds; never in logs, audit details or the API
//! except to its owner.

use crate::events;
use crate::{Actor, App, AppError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use watchword_domain::DomainError;
use watchword_domain::audit::AuditAction;
use watchword_store::{audit, outbox, persons};

/// Longest phrase, in characters.
pub const PHRASE_MAX: usize = 60;

impl App {
    /// Sets (or, with None or blank, removes) the actor's phrase, from a sign-in of their own.
    pub async fn set_phrase(&self, actor: &Actor, phrase: Option<&str>) -> Result<(), AppError> {
        self.require_own_sign_in(actor, "change your anti-phishing phrase")
            .await?;
        let phrase = phrase.map(str::trim).filter(|p| !p.is_empty());
        if let Some(p) = phrase {
            let n = p.chars().count();
            if !(3..=PHRASE_MAX).contains(&n) || p.chars().any(char::is_control) {
                return Err(DomainError::invalid(
                    "invalid_phrase",
                    format!("a phrase is 3 to {PHRASE_MAX} characters, on one line"),
                )
                .into());
            }
        }
        let sealed = phrase.map(|p| {
            let (key_id, sealed) = self.keyring().seal(p.as_bytes(), &bound(actor));
            format!("{key_id}:{}", STANDARD.encode(sealed))
        });
        let now = self.now();
        let mut tx = self.store().begin().await?;
        persons::set_phrase(&mut tx, actor.person, sealed.as_deref()).await?;
        let mut event = events::by_self(actor, AuditAction::PersonPhraseChanged);
        event.details = serde_json::json!({ "set": phrase.is_some() });
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    /// The actor's own phrase.
    pub async fn phrase(&self, actor: &Actor) -> Result<Option<String>, AppError> {
        let mut c = self.store().read().await?;
        let Some((person, sealed)) = persons::phrase_by_email(&mut c, &actor.email).await? else {
            return Ok(None);
        };
        Ok(self.open_phrase(person, &sealed))
    }

    fn open_phrase(&self, person: watchword_domain::PersonId, sealed: &str) -> Option<String> {
        let (key_id, b64) = sealed.split_once(':')?;
        let raw = STANDARD.decode(b64).ok()?;
        let plain = self
            .open_sealed(key_id, &raw, &format!("phrase:{person}"))
            .ok()?;
        String::from_utf8(plain).ok()
    }

    /// `m` with its recipient's phrase at the top of both bodies, when they set one.
    pub(crate) async fn with_phrase(&self, m: &outbox::Message) -> outbox::Message {
        let mut out = m.clone();
        let found = match self.store().read().await {
            Ok(mut c) => persons::phrase_by_email(&mut c, &m.recipient.to_lowercase())
                .await
                .ok()
                .flatten(),
            Err(_) => None,
        };
        let Some(phrase) = found.and_then(|(person, sealed)| self.open_phrase(person, &sealed))
        else {
            return out;
        };
        out.body_text = format!("Your anti-phishing phrase: {phrase}\n\n{}", m.body_text);
        let banner = format!(
            "<p style=\"border:1px solid #999;padding:6px\">Your anti-phishing phrase: <strong>{}</strong></p>",
            escape_html(&phrase)
        );
        out.body_html = match m.body_html.find("<body") {
            Some(at) => match m.body_html[at..].find('>') {
                Some(end) => {
                    let cut = at + end + 1;
                    format!("{}{banner}{}", &m.body_html[..cut], &m.body_html[cut..])
                }
                None => format!("{banner}{}", m.body_html),
            },
            None => format!("{banner}{}", m.body_html),
        };
        out
    }
}

fn bound(actor: &Actor) -> String {
    format!("phrase:{}", actor.person)
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
