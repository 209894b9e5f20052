//! Second factors: authenticator-app codes (RFC 6238 through `totp-rs`: SHA-1, 6 digits, 30 s,
//! one step of drift, each step accepted once) and recovery codes (single use, only a SHA-256
//! digest stored: 80 random bits make a fast hash right).

use crate::token::constant_time_eq;
use sha2::{Digest, Sha256};
use totp_rs::{Builder, Totp};

/// Issuer shown in authenticator apps.
pub const ISSUER: &str = "watchword";
pub const RECOVERY_CODE_COUNT: usize = 10;
/// The console and an email warn when this few recovery codes remain.
pub const RECOVERY_CODES_LOW: usize = 3;
const BASE32: &[u8; 32] = b"ABCDEFGHJKMNPQRSTVWXYZ0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    Totp,
    Passkey,
    Sms,
}

impl FactorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Passkey => "passkey",
            FactorKind::Sms => "sms",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [FactorKind::Totp, FactorKind::Passkey, FactorKind::Sms]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A way to answer a second-factor challenge or a step-up: a factor, or a recovery code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Passkey,
    Totp,
    Sms,
    RecoveryCode,
}

impl Method {
    /// In the order they are offered (strongest first).
    pub const ALL: [Method; 4] = [
        Method::Passkey,
        Method::Totp,
        Method::Sms,
        Method::RecoveryCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Passkey => "passkey",
            Method::Totp => "totp",
            Method::Sms => "sms",
            Method::RecoveryCode => "recovery_code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The factor this method answers with (none for recovery codes).
    pub fn factor(self) -> Option<FactorKind> {
        match self {
            Method::Passkey => Some(FactorKind::Passkey),
            Method::Totp => Some(FactorKind::Totp),
            Method::Sms => Some(FactorKind::Sms),
            Method::RecoveryCode => None,
        }
    }
}

/// A new authenticator secret: 160 random bits, as RFC 4226 recommends.
pub fn new_totp_secret() -> Vec<u8> {
    let mut b = vec![0u8; 20];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

fn totp(secret: &[u8], label: &str) -> Totp {
    Builder::new()
        .with_secret(secret.to_vec())
        .with_issuer(Some(ISSUER))
        .with_account_name(label.replace(':', " "))
        .build()
        .expect("a 160-bit secret with default parameters is valid")
}

/// The base32 secret people type into an app.
pub fn totp_secret_base32(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret.to_vec()).to_base32()
}

/// The `otpauth://totp/…` URI that QR codes carry.
pub fn totp_uri(secret: &[u8], label: &str) -> String {
    totp(secret, label)
        .to_url()
        .expect("a TOTP with an issuer has a URL")
}

/// The time step a code matches (within one step of `unix_secs`), when it is later than
/// `last_step`, the step last accepted for this secret: a code is accepted once.
pub fn check_totp(
    secret: &[u8],
    code: &str,
    unix_secs: u64,
    last_step: Option<u64>,
) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = totp(secret, "").check(&code, unix_secs)?;
    (last_step.is_none_or(|last| step > last)).then_some(step)
}

/// Characters of a recovery code: 24 of 32 symbols, 120 bits (ASVS 2.6.2 asks for 112 when the
/// digest is unsalted).
const RECOVERY_CODE_CHARS: usize = 24;
/// Characters of the recovery codes issued before (80 bits); those still unused keep working.
const RECOVERY_CODE_CHARS_BEFORE: usize = 16;

/// Ten new recovery codes, `xxxx-xxxx-xxxx-xxxx-xxxx-xxxx` over an unambiguous alphabet.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut b = [0u8; RECOVERY_CODE_CHARS];
            getrandom::fill(&mut b).expect("the operating system's random source failed");
            let chars: Vec<char> = b
                .iter()
                .map(|x| BASE32[(x & 31) as usize] as char)
                .collect();
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// A typed recovery code in its canonical form (case, spaces and dashes ignored), if it could
/// be one.
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    let c: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    ([RECOVERY_CODE_CHARS, RECOVERY_CODE_CHARS_BEFORE].contains(&c.len())
        && c.bytes().all(|b| BASE32.contains(&b)))
    .then_some(c)
}

/// The stored digest of a recovery code (given in either form).
pub fn hash_recovery_code(code: &str) -> Option<Vec<u8>> {
    normalize_recovery_code(code).map(|c| Sha256::digest(c.as_bytes()).to_vec())
}

/// True when two digests are equal, in constant time.
pub fn same_digest(a: &[u8], b: &[u8]) -> bool {
    constant_time_eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_matches_rfc6238_sha1_vectors_and_refuses_replay_and_drift() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", 8 digits truncated to the
        // last 6 (HOTP truncation keeps the low digits).
        let secret = b"12345678901234567890";
        assert_eq!(check_totp(secret, "287082", 59, None), Some(1));
        assert_eq!(
            check_totp(secret, "081804", 1111111109, None),
            Some(37037036)
        );
        // One step either side is accepted, two are not.
        assert!(check_totp(secret, "081804", 1111111109 + 30, None).is_some());
        assert!(check_totp(secret, "081804", 1111111109 + 60, None).is_none());
        // Accepted once: the same step again, or an older one, is refused.
        assert_eq!(
            check_totp(secret, "081804", 1111111109, Some(37037036)),
            None
        );
        assert_eq!(
            check_totp(secret, "08 1804", 1111111109, Some(37037035)),
            Some(37037036)
        );
        assert_eq!(check_totp(secret, "81804", 1111111109, None), None);
        assert_eq!(check_totp(secret, "o81804", 1111111109, None), None);
    }

    #[test]
    fn uri_and_base32_carry_the_secret() {
        let s = new_totp_secret();
        let b32 = totp_secret_base32(&s);
        assert_eq!(b32.len(), 32);
        let uri = totp_uri(&s, "ada@example.com");
        assert!(
            uri.starts_with("otpauth://totp/watchword:ada%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={b32}")), "{uri}");
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalise() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let mut set = std::collections::HashSet::new();
        for c in &codes {
            assert_eq!(c.len(), 29, "{c}");
            assert!(set.insert(hash_recovery_code(c).unwrap()));
            let typed = c.to_lowercase().replace('-', " ");
            assert_eq!(hash_recovery_code(&typed), hash_recovery_code(c));
        }
        assert_eq!(hash_recovery_code("not a code"), None);
        assert_eq!(hash_recovery_code("IIII-IIII-IIII-IIII"), None);
        // A code of the earlier, 16-character form still answers; other lengths do not.
        assert!(hash_recovery_code("ABCD-EFGH-JKMN-PQRS").is_some());
        assert_eq!(hash_recovery_code("ABCD-EFGH-JKMN-PQRS-T"), None);
    }
}
