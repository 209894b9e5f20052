//! Secrets encrypted at rest (authenticator seeds): XChaCha20-Poly1305 with a random 192-bit
//! nonce per value, under a keyring of named 256-bit keys. The last key seals; every key opens,
//! so keys rotate by adding one and re-sealing. The associated data binds a value to its row, so
//! a ciphertext copied to another row does not open.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Key)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "Keyring({ids:?})")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("no key {0:?} in the keyring")]
    UnknownKey(String),
    #[error("the value does not open with its key (tampered, or sealed for another row)")]
    Tampered,
    #[error("invalid keyring: {0}")]
    Invalid(String),
}

impl Keyring {
    /// Parses `id:base64key` entries, one per line or separated by commas; the last one seals.
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let mut keys = Vec::new();
        for entry in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (id, b64) = entry
                .split_once(':')
                .ok_or_else(|| SealError::Invalid("an entry is id:base64key".into()))?;
            let raw = STANDARD
                .decode(b64.trim())
                .map_err(|_| SealError::Invalid(format!("key {id:?} is not base64")))?;
            let key = Key::try_from(raw.as_slice())
                .map_err(|_| SealError::Invalid(format!("key {id:?} is not 32 bytes")))?;
            let id = id.trim();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(SealError::Invalid(format!("bad key id {id:?}")));
            }
            if keys.iter().any(|(k, _)| k == id) {
                return Err(SealError::Invalid(format!("key id {id:?} appears twice")));
            }
            keys.push((id.to_owned(), key));
        }
        if keys.is_empty() {
            return Err(SealError::Invalid("no key".into()));
        }
        Ok(Self { keys })
    }

    /// A new `id:base64key` entry with a fresh random key.
    pub fn new_entry(id: &str) -> String {
        format!("{id}:{}", STANDARD.encode(Key::generate()))
    }

    pub fn current_id(&self) -> &str {
        &self.keys[self.keys.len() - 1].0
    }

    /// The current key's id and bytes (e.g. to pepper a password hash).
    pub fn current_key(&self) -> (&str, &[u8]) {
        let (id, key) = &self.keys[self.keys.len() - 1];
        (id, key.as_slice())
    }

    /// The bytes of key `id`, when the ring holds it.
    pub fn key(&self, id: &str) -> Option<&[u8]> {
        self.keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, key)| key.as_slice())
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }

    /// Seals `plain` for the row named by `bound_to`: the current key's id and nonce‖ciphertext.
    pub fn seal(&self, plain: &[u8], bound_to: &str) -> (String, Vec<u8>) {
        let (id, key) = &self.keys[self.keys.len() - 1];
        let nonce = XNonce::generate();
        let ct = XChaCha20Poly1305::new(key)
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: bound_to.as_bytes(),
                },
            )
            .expect("encryption of a short value cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        (id.clone(), out)
    }

    /// Opens a value sealed by [`Keyring::seal`] whose key id was not kept (a short-lived
    /// value such as an OAuth access token): each key is tried, newest first.
    pub fn open_any(&self, sealed: &[u8], bound_to: &str) -> Option<Vec<u8>> {
        self.keys
            .iter()
            .rev()
            .find_map(|(id, _)| self.open(id, sealed, bound_to).ok())
    }

    pub fn open(&self, key_id: &str, sealed: &[u8], bound_to: &str) -> Result<Vec<u8>, SealError> {
        let key = self
            .keys
            .iter()
            .find(|(id, _)| id == key_id)
            .map(|(_, k)| k)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_owned()))?;
        if sealed.len() < 24 {
            return Err(SealError::Tampered);
        }
        let (nonce, ct) = sealed.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealError::Tampered)?;
        XChaCha20Poly1305::new(key)
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: bound_to.as_bytes(),
                },
            )
            .map_err(|_| SealError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_rotates() {
        let old = Keyring::parse(&Keyring::new_entry("k1")).unwrap();
        let (id, sealed) = old.seal(b"seed", "row-1");
        assert_eq!(id, "k1");
        assert_eq!(old.open(&id, &sealed, "row-1").unwrap(), b"seed");
        assert_ne!(
            old.seal(b"seed", "row-1").1,
            sealed,
            "fresh nonce each time"
        );
        // Bound to its row, and tamper-evident.
        assert_eq!(old.open(&id, &sealed, "row-2"), Err(SealError::Tampered));
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(old.open(&id, &bad, "row-1"), Err(SealError::Tampered));
        // A second key seals from now on; the first still opens old values.
        let text = format!("{}\n{}", Keyring::new_entry("k1"), Keyring::new_entry("k2"));
        assert!(Keyring::parse(&text).is_ok());
        let both = Keyring::parse(&format!(
            "{},{}",
            Keyring::new_entry("k0"),
            Keyring::new_entry("k2")
        ))
        .unwrap();
        assert_eq!(both.current_id(), "k2");
        assert!(matches!(
            both.open("k1", &sealed, "row-1"),
            Err(SealError::UnknownKey(_))
        ));
    }

    #[test]
    fn refuses_bad_keyrings() {
        for bad in ["", "k1", "k1:notbase64!", "k1:AAAA", "a b:AAAA"] {
            assert!(Keyring::parse(bad).is_err(), "{bad}");
        }
        let e = Keyring::new_entry("k1");
        assert!(Keyring::parse(&format!("{e},{e}")).is_err());
    }
}
