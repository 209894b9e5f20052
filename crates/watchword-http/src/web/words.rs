//! Words and times for people: an instant as "5 minutes ago" with the exact time on hover, and
//! a label for every machine word a page would otherwise show (states, kinds, scopes).

use std::fmt;
use watchword_domain::Millis;
use watchword_domain::oauth::scope_words;
use watchword_domain::posture::State;
use watchword_domain::report::{ReportKind, ReportStatus};

/// An instant on a page: `<time datetime="…" title="exact">relative</time>`. The text is how
/// long ago it was; the title the exact time (UTC, which `time.js` turns into the reader's
/// local time). Only digits and fixed words: safe to put in HTML as is.
#[derive(Debug, Clone, Copy)]
pub struct When(pub Millis);

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"<time datetime="{}" title="{}">{}</time>"#,
            self.0.rfc3339_secs(),
            self.0.human_utc(),
            self.0.relative_to(Millis::now())
        )
    }
}

impl askama::filters::HtmlSafe for When {}

/// An instant however a template holds it: by value or behind references.
pub trait Instant {
    fn millis(&self) -> Millis;
}

impl Instant for Millis {
    fn millis(&self) -> Millis {
        *self
    }
}

impl<T: Instant + ?Sized> Instant for &T {
    fn millis(&self) -> Millis {
        (**self).millis()
    }
}

/// [`When`] of an instant as a template holds it.
pub fn when(t: impl Instant) -> When {
    When(t.millis())
}

/// An optional instant: [`When`], or `none` words (e.g. "never").
pub struct MaybeWhen(pub Option<Millis>, pub &'static str);

impl fmt::Display for MaybeWhen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => When(t).fmt(f),
            None => f.write_str(self.1),
        }
    }
}

impl askama::filters::HtmlSafe for MaybeWhen {}

/// An instant the API's DTOs carry as RFC 3339 text, for a page (empty when it is not one).
pub fn at(rfc3339: &str) -> MaybeWhen {
    MaybeWhen(Millis::parse_rfc3339(rfc3339), "")
}

/// A state, kind or status stored as a machine word, in words for people.
pub fn label(raw: &str) -> String {
    if let Some(k) = ReportKind::parse(raw) {
        return k.label().to_owned();
    }
    if let Some(s) = ReportStatus::parse(raw) {
        return s.label().to_owned();
    }
    let fixed = match raw {
        "pass" => State::Pass.label(),
        "warn" => State::Warn.label(),
        "fail" => State::Fail.label(),
        "not_applicable" => State::NotApplicable.label(),
        "active" => "Active",
        "expired" => "Expired",
        "revoked" => "Revoked",
        "expiring" => "Expiring soon",
        "deactivated" => "Deactivated",
        "confidential" => "Server app (keeps a secret)",
        "public" => "Browser or mobile app (no secret)",
        "paused" => "Paused",
        "failing" => "Failing",
        "delivering" => "Delivering",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_owned();
    }
    let spaced = raw.replace(['_', '.'], " ");
    let mut chars = spaced.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A permission's code in words (`audit_log:read` → "Read the audit log"); the code itself when
/// it is not one.
pub fn permission(code: &str) -> String {
    watchword_domain::Permission::parse(code)
        .map_or_else(|| code.to_owned(), |p| p.label().to_owned())
}

/// A scope as the consent page says it (`members:read` → "See the account's members").
pub fn scope(s: &str) -> String {
    scope_words(s)
}

/// "1 administrator", "3 administrators".
pub fn count(n: impl fmt::Display, one: &str, many: &str) -> String {
    let n = n.to_string();
    let one_of = n == "1";
    format!("{n} {}", if one_of { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_words_become_words() {
        assert_eq!(label("not_applicable"), "Does not apply");
        assert_eq!(label("phishing_email"), "A phishing email");
        assert_eq!(label("open"), "Open");
        assert_eq!(label("something_new"), "Something new");
        assert_eq!(count(1, "member", "members"), "1 member");
        assert_eq!(count(2, "member", "members"), "2 members");
        let html = When(Millis(1_795_000_000_123)).to_string();
        assert!(
            html.starts_with(
                r#"<time datetime="2026-11-18T11:06:40Z" title="18 Nov 2026, 11:06 UTC">"#
            ),
            "{html}"
        );
        assert!(!html.contains(".123"), "no milliseconds: {html}");
    }
}
