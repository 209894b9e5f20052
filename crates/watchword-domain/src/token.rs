//! Opaque random tokens (sessions, invitations) and their at-rest form: only a SHA-256 digest is
//! stored. Tokens carry 256 bits of entropy, so a fast hash is the right tool (no Argon2 here).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 random bytes from the OS, base64url without padding.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_key())
}

/// 32 bytes from the operating system's random source (a signing key).
pub fn random_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// A token's SHA-256 digest: its form at rest and its cache key.
pub type TokenHash = [u8; 32];

pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Derives a value bound to `token` for another purpose (e.g. the CSRF token of a session).
pub fn derive(purpose: &str, token: &str) -> String {
    let mut h = Sha256::new();
    h.update(purpose.as_bytes());
    h.update([0u8]);
    h.update(token.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert!(constant_time_eq(&hash_token(&a), &hash_token(&a)));
        assert!(!constant_time_eq(&hash_token(&a), &hash_token(&b)));
        assert_ne!(derive("csrf", &a), derive("other", &a));
    }
}
