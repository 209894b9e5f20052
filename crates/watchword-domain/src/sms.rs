//! SMS as a second factor: phone numbers in E.164 form and the one-time codes sent to them.
//! SMS is the weakest method (numbers can be ported or intercepted); the console says so.

use crate::DomainError;
use sha2::{Digest, Sha256};

/// How long a sent code works.
pub const CODE_TTL_SECS: i64 = 5 * 60;
/// Wrong tries one code survives.
pub const CODE_MAX_FAILURES: i64 = 5;

/// A phone number in E.164 form: `+`, a country code and up to 15 digits in all.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts `+` and digits, with spaces, dashes, dots and brackets as separators.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let bad = || {
            DomainError::field(
                "invalid_phone",
                "phone",
                "enter the number in international form, e.g. +44 20 7946 0958",
            )
        };
        let raw = raw.trim();
        let rest = raw.strip_prefix('+').ok_or_else(bad)?;
        if rest
            .chars()
            .any(|c| !(c.is_ascii_digit() || " -.()".contains(c)))
        {
            return Err(bad());
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(bad());
        }
        Ok(Self(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What lists and messages show: the last two digits only.
    pub fn hint(&self) -> String {
        format!("•••{}", &self.0[self.0.len() - 2..])
    }
}

impl std::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhoneNumber({})", self.hint())
    }
}

/// Six random digits, uniformly drawn.
pub fn new_code() -> String {
    loop {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).expect("the operating system's random source failed");
        let n = u32::from_le_bytes(b);
        // Reject the top sliver so every code is equally likely.
        if n < u32::MAX - u32::MAX % 1_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// What is stored of a code: SHA-256 over its row id and the digits (spaces ignored).
pub fn hash_code(id: &str, code: &str) -> Vec<u8> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    h.update(b":");
    h.update(digits.as_bytes());
    h.finalize().to_vec()
}

/// The text of the message: the code, who sends it, and the warning never to hand it out.
pub fn message(code: &str) -> String {
    format!(
        "{code} is your watchword code. It expires in 5 minutes. Never share it: watchword staff will never ask you for it."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_e164() {
        let p = PhoneNumber::parse(" +44 (20) 7946-0958 ").unwrap();
        assert_eq!(p.as_str(), "+442079460958");
        assert_eq!(p.hint(), "•••58");
        assert!(!format!("{p:?}").contains("7946"));
        for bad in [
            "442079460958",
            "+0 20 7946 0958",
            "+1234567",
            "+1234567890123456",
            "+44 20 79x6",
            "",
            "+",
        ] {
            assert_eq!(
                PhoneNumber::parse(bad).unwrap_err(),
                PhoneNumber::parse("x").unwrap_err(),
                "{bad}"
            );
        }
        assert!(PhoneNumber::parse("+12345678").is_ok());
        assert!(PhoneNumber::parse("+123456789012345").is_ok());
    }

    #[test]
    fn codes_are_six_digits_and_hash_per_row() {
        let codes: std::collections::HashSet<String> = (0..200).map(|_| new_code()).collect();
        assert!(codes.len() > 190, "codes repeat too often");
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert_eq!(hash_code("a", "123 456"), hash_code("a", "123456"));
        assert_ne!(hash_code("a", "123456"), hash_code("b", "123456"));
        assert_ne!(hash_code("a", "123456"), hash_code("a", "123457"));
        assert!(message("123456").contains("Never share it"));
    }
}
