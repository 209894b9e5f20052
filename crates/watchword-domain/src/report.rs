//! Reports of suspicious activity (seed 000: "Promptly report security issues … share as much
//! information as you can safely gather — the email address you received content from, the
//! email header, or any screenshots"): what a report may hold, and what an attachment is, judged
//! by its content, never by its name or declared type.

use crate::DomainError;

pub const DESCRIPTION_MAX: usize = 5000;
pub const SENDER_MAX: usize = 320;
pub const HEADERS_MAX: usize = 64 * 1024;
/// All attachments of one report together.
pub const ATTACHMENTS_MAX_BYTES: usize = 5 * 1024 * 1024;
pub const ATTACHMENTS_MAX_COUNT: usize = 10;
pub const FILENAME_MAX: usize = 255;
pub const NOTE_MAX: usize = 2000;

/// What the reporter saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    PhishingEmail,
    UnexpectedPasswordPrompt,
    OddAccountBehaviour,
    Other,
}

impl ReportKind {
    pub const ALL: [ReportKind; 4] = [
        ReportKind::PhishingEmail,
        ReportKind::UnexpectedPasswordPrompt,
        ReportKind::OddAccountBehaviour,
        ReportKind::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::PhishingEmail => "phishing_email",
            ReportKind::UnexpectedPasswordPrompt => "unexpected_password_prompt",
            ReportKind::OddAccountBehaviour => "odd_account_behaviour",
            ReportKind::Other => "other",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ReportKind::PhishingEmail => "A phishing email",
            ReportKind::UnexpectedPasswordPrompt => "An unexpected password prompt",
            ReportKind::OddAccountBehaviour => "Odd behaviour in the account",
            ReportKind::Other => "Something else",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a report stands, as Owners and Admins handle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Open => "open",
            ReportStatus::Acknowledged => "acknowledged",
            ReportStatus::Resolved => "resolved",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ReportStatus::Open => "Open",
            ReportStatus::Acknowledged => "Acknowledged",
            ReportStatus::Resolved => "Resolved",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Acknowledged, Self::Resolved]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

fn invalid(code: &'static str, field: &'static str, msg: impl Into<String>) -> DomainError {
    DomainError::field(code, field, msg.into())
}

fn has_controls(s: &str, allow_newlines: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
}

/// A description: 1 to [`DESCRIPTION_MAX`] characters, lines allowed, no other control
/// characters.
pub fn description(s: &str) -> Result<String, DomainError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > DESCRIPTION_MAX || has_controls(s, true) {
        return Err(invalid(
            "invalid_description",
            "description",
            format!("1 to {DESCRIPTION_MAX} characters, no control characters"),
        ));
    }
    Ok(s.to_owned())
}

/// Raw email headers as pasted: at most [`HEADERS_MAX`] bytes, text only.
pub fn headers(s: &str) -> Result<Option<String>, DomainError> {
    if s.len() > HEADERS_MAX {
        return Err(invalid(
            "headers_too_large",
            "headers",
            format!("at most {HEADERS_MAX} bytes"),
        ));
    }
    if has_controls(s, true) {
        return Err(invalid(
            "invalid_headers",
            "headers",
            "text only, no control characters",
        ));
    }
    let s = s.trim();
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

/// A note of the one handling the report.
pub fn note(s: &str) -> Result<String, DomainError> {
    let s = s.trim();
    if s.chars().count() > NOTE_MAX || has_controls(s, true) {
        return Err(invalid(
            "invalid_note",
            "note",
            format!("at most {NOTE_MAX} characters, no control characters"),
        ));
    }
    Ok(s.to_owned())
}

/// A file name as given, reduced to its last path part; 1 to [`FILENAME_MAX`] characters.
pub fn filename(s: &str) -> Result<String, DomainError> {
    let base = s.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if base.is_empty()
        || base.chars().count() > FILENAME_MAX
        || has_controls(base, false)
        || base.contains('"')
    {
        return Err(invalid(
            "invalid_filename",
            "attachments",
            format!("a file name of 1 to {FILENAME_MAX} characters, no quotes"),
        ));
    }
    Ok(base.to_owned())
}

/// What an attachment is, from its bytes: a PNG, JPEG, GIF or WebP image, or an email message
/// (`.eml`: header lines, then a blank line). Anything else — SVG, HTML, PDF, an executable, an
/// image in disguise — is refused.
pub fn sniff(name: &str, bytes: &[u8]) -> Result<&'static str, DomainError> {
    if let Some(t) = infer::get(bytes) {
        let found = t.mime_type();
        for ok in ["image/png", "image/jpeg", "image/gif", "image/webp"] {
            if found == ok {
                return Ok(ok);
            }
        }
    }
    if name.to_ascii_lowercase().ends_with(".eml") && looks_like_message(bytes) {
        return Ok("message/rfc822");
    }
    Err(invalid(
        "unsupported_attachment",
        "attachments",
        "attachments must be PNG, JPEG, GIF or WebP images, or .eml messages",
    ))
}

/// An RFC 5322 message: text without NUL, whose first line is a header field (`Name: value`).
fn looks_like_message(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    if text.contains('\0') {
        return false;
    }
    let first = text.lines().next().unwrap_or_default();
    match first.split_once(':') {
        Some((name, _)) => {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];

    #[test]
    fn attachments_are_judged_by_content() {
        assert_eq!(sniff("shot.png", PNG).unwrap(), "image/png");
        // The name does not matter for images: a PNG named .txt is a PNG.
        assert_eq!(sniff("shot.txt", PNG).unwrap(), "image/png");
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];
        assert_eq!(sniff("a.jpg", &jpeg).unwrap(), "image/jpeg");
        assert_eq!(sniff("a.gif", b"GIF89a\x01\x00").unwrap(), "image/gif");
        // An SVG, HTML or a script named like an image is refused.
        for bad in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"[..],
            b"<html><script>alert(1)</script></html>",
            b"%PDF-1.7",
            b"MZ\x90\x00",
        ] {
            assert!(sniff("a.png", bad).is_err());
        }
        let eml = b"From: Payroll <pay@evil.example>\r\nSubject: Urgent\r\n\r\nClick here";
        assert_eq!(sniff("mail.eml", eml).unwrap(), "message/rfc822");
        assert!(sniff("mail.txt", eml).is_err(), ".eml only");
        assert!(sniff("mail.eml", b"<html>hi</html>").is_err());
        assert!(sniff("mail.eml", b"From: a\0b").is_err());
    }

    #[test]
    fn fields_have_limits() {
        assert!(description("").is_err());
        assert!(description(&"x".repeat(DESCRIPTION_MAX + 1)).is_err());
        assert_eq!(
            description(" line one\nline two ").unwrap(),
            "line one\nline two"
        );
        assert!(description("a\u{0}b").is_err());
        assert!(headers(&"x".repeat(HEADERS_MAX + 1)).is_err());
        assert_eq!(headers("   ").unwrap(), None);
        assert_eq!(filename("C:\\Users\\me\\shot.png").unwrap(), "shot.png");
        assert!(filename("../").is_err());
        assert!(filename("a\"b.png").is_err());
        assert_eq!(
            ReportKind::parse("phishing_email"),
            Some(ReportKind::PhishingEmail)
        );
        assert_eq!(ReportKind::parse("nope"), None);
    }
}
