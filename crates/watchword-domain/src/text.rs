use crate::DomainError;
use std::fmt;
use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

/// A normalised (trimmed, lower-cased) email address with a plausible shape. Deliverability is
/// proven by the emails watchword sends, not by parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// One address, one form: trimmed, NFC, lower case, its domain in IDNA ASCII form
    /// (`bücher.example` → `xn--bcher-kva.example`). Refused: control, invisible and
    /// bidirectional formatting characters, and a local part or domain label that mixes scripts
    /// (a Cyrillic `а` among Latin letters looks like an `a`).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::field("invalid_email", "email", "enter a valid email address");
        let s: String = raw.trim().nfc().collect::<String>().to_lowercase();
        if s.len() > 254
            || s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
        {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || local.contains('@')
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !local.is_single_script()
            || domain.split('.').any(|label| !label.is_single_script())
        {
            return Err(bad());
        }
        let ascii = idna::domain_to_ascii_strict(domain).map_err(|_| bad())?;
        if ascii.len() < 3
            || !ascii.contains('.')
            || ascii.starts_with('.')
            || ascii.ends_with('.')
            || ascii.contains("..")
            || ascii
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        {
            return Err(bad());
        }
        Ok(Self(format!("{local}@{ascii}")))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn display_name(raw: &str, field: &'static str, what: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(DomainError::field(
            "required",
            field,
            format!("{what} is required"),
        ));
    }
    if s.chars().count() > 100 {
        return Err(DomainError::field(
            "too_long",
            field,
            format!("{what} must be at most 100 characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(DomainError::field(
            "invalid_characters",
            field,
            format!("{what} contains control, invisible or text-direction characters"),
        ));
    }
    Ok(s.to_owned())
}

/// A label a person gives a thing (a key, a factor, a connection): 1–100 characters once
/// trimmed, no control, invisible or direction characters; `invalid_name` otherwise.
pub fn label(raw: &str, what: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    let bad = |c: char| c.is_control() || is_invisible(c);
    if s.is_empty() || s.chars().count() > 100 || s.chars().any(bad) {
        return Err(DomainError::field(
            "invalid_name",
            "name",
            format!("{what} has 1 to 100 characters and no control or invisible characters"),
        ));
    }
    Ok(s.to_owned())
}

/// Characters that show nothing or change the direction of the text around them (Unicode's
/// default-ignorable code points and bidirectional controls): refused in emails and names, where
/// they make one text look like another.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// A person's display name: 1–100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        display_name(raw, "name", "name").map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An account's display name: 1–100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        display_name(raw, "account_name", "account name").map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            EmailAddress::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.io",
            "a b@x.io",
            "ada@x",
            "ada@.x.io",
            "ada@x..io",
            "a@b@x.io",
            "ad\u{200B}a@example.com",
            "ada@exa\u{202E}mple.com",
            "\u{FEFF}ada@example.com",
            "p\u{0430}ypal@example.com",
            "ada@p\u{0430}ypal.com",
            "ada\u{0}@example.com",
            ".ada@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
        // One address, one form: NFC and the domain in IDNA ASCII form.
        let composed = EmailAddress::parse("Ren\u{00E9}@B\u{00FC}cher.example").unwrap();
        let decomposed = EmailAddress::parse("rene\u{0301}@bu\u{0308}cher.example").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(composed.as_str(), "ren\u{e9}@xn--bcher-kva.example");
        // A single non-Latin script is fine.
        assert!(EmailAddress::parse("\u{0438}\u{0432}\u{0430}\u{043D}@example.com").is_ok());
    }

    #[test]
    fn names() {
        assert!(PersonName::parse("  ").is_err());
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
        assert!(PersonName::parse("a\u{7}b").is_err());
        assert!(PersonName::parse("Ada\u{202E}ecalevol").is_err());
        assert!(PersonName::parse("A\u{200B}da").is_err());
        assert_eq!(
            PersonName::parse("Zoë Ångström").unwrap().as_str(),
            "Zoë Ångström"
        );
        assert_eq!(AccountName::parse(" Acme ").unwrap().as_str(), "Acme");
    }
}
