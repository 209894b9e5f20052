//! API keys: their text format, their public id and their state.
//!
//! A key is `<prefix><body><checksum>`: the operator's prefix (default `ww_`), 40 random base62
//! characters (238 bits) and 8 base62 characters holding 47 bits of SHA-256 over the body. A
//! scanner recognises a real key from the prefix, the exact length and the checksum, with no
//! database look-up; random text passes the checksum once in 1.4 × 10^14 tries. Only the key's
//! SHA-256 is stored. Its public id is derived from the key by another hash, so a scanner can name
//! a found key without the database and the id reveals nothing of the secret.

use crate::Millis;
use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const BODY_LEN: usize = 40;
pub const CHECKSUM_LEN: usize = 8;
pub const DEFAULT_PREFIX: &str = "ww_";

/// A new key with the given prefix.
pub fn generate(prefix: &str) -> String {
    let mut body = String::with_capacity(BODY_LEN);
    // Rejection sampling keeps every character uniform over the 62-letter alphabet.
    while body.len() < BODY_LEN {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        for b in bytes {
            if b < 248 && body.len() < BODY_LEN {
                body.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    with_checksum(prefix, &body)
}

/// `prefix`, `body` (base62) and the body's checksum: the text of a key or token.
pub fn with_checksum(prefix: &str, body: &str) -> String {
    let checksum = checksum(body.as_bytes());
    let checksum = std::str::from_utf8(&checksum).expect("alphabet is ASCII");
    format!("{prefix}{body}{checksum}")
}

/// A base62 digit's value.
pub(crate) fn base62_value(b: u8) -> Option<u64> {
    ALPHABET.iter().position(|a| *a == b).map(|i| i as u64)
}

pub(crate) fn base62_digit(n: u64) -> char {
    ALPHABET[(n % 62) as usize] as char
}

fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let d = Sha256::digest(body);
    let mut n = u64::from_be_bytes([0, 0, d[0], d[1], d[2], d[3], d[4], d[5]]) >> 1; // 47 bits
    let mut out = [b'0'; CHECKSUM_LEN];
    for c in out.iter_mut().rev() {
        *c = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// True when `s` is a well-formed key with this prefix and a correct checksum.
pub fn is_well_formed(prefix: &str, s: &str) -> bool {
    is_well_formed_len(prefix, BODY_LEN, s)
}

/// As [`is_well_formed`], for a format whose body has `body_len` characters.
pub fn is_well_formed_len(prefix: &str, body_len: usize, s: &str) -> bool {
    let Some(rest) = s.strip_prefix(prefix) else {
        return false;
    };
    if rest.len() != body_len + CHECKSUM_LEN || !rest.bytes().all(is_base62) {
        return false;
    }
    let (body, sum) = rest.split_at(body_len);
    crate::token::constant_time_eq(&checksum(body.as_bytes()), sum.as_bytes())
}

/// The key's public id, e.g. `key_5f0c2a9b41d7e3a86c10`: for lists, logs and scanner reports.
pub fn public_id(key: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"watchword api key id\0");
    h.update(key.as_bytes());
    let d = h.finalize();
    let hex: String = d[..10].iter().map(|b| format!("{b:02x}")).collect();
    format!("key_{hex}")
}

/// Every well-formed key in `text`, with its byte offset. A key must not be glued to further
/// letters or digits on either side.
pub fn find_all<'a>(
    prefix: &'a str,
    text: &'a [u8],
) -> impl Iterator<Item = (usize, &'a str)> + 'a {
    find_all_len(prefix, BODY_LEN, text)
}

/// As [`find_all`], for a format whose body has `body_len` characters.
pub fn find_all_len<'a>(
    prefix: &'a str,
    body_len: usize,
    text: &'a [u8],
) -> impl Iterator<Item = (usize, &'a str)> + 'a {
    let len = prefix.len() + body_len + CHECKSUM_LEN;
    let p = prefix.as_bytes();
    let mut from = 0;
    std::iter::from_fn(move || {
        while from + len <= text.len() {
            let at = from + text[from..].windows(p.len()).position(|w| w == p)?;
            from = at + 1;
            if at + len > text.len() {
                return None;
            }
            let glued_before =
                at > 0 && is_base62(text[at - 1]) && p.first().is_some_and(|b| is_base62(*b));
            let glued_after = text.get(at + len).is_some_and(|b| is_base62(*b));
            if glued_before || glued_after {
                continue;
            }
            let Ok(candidate) = std::str::from_utf8(&text[at..at + len]) else {
                continue;
            };
            if is_well_formed_len(prefix, body_len, candidate) {
                from = at + len;
                return Some((at, candidate));
            }
        }
        None
    })
}

/// What a key is for: the account's API, or its SCIM provisioning endpoint alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Api,
    Scim,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Api => "api",
            KeyKind::Scim => "scim",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "api" => Some(KeyKind::Api),
            "scim" => Some(KeyKind::Scim),
            _ => None,
        }
    }
}

/// What a key is now, from its stored instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    /// Works, but not for long: replaced by a rotation, or expiring within a week.
    Expiring,
    Expired,
    Revoked,
}

impl KeyState {
    pub const EXPIRING_WITHIN_MS: i64 = 7 * 24 * 3600 * 1000;

    pub fn of(
        now: Millis,
        expires_at: Option<Millis>,
        revoked_at: Option<Millis>,
        replaced: bool,
    ) -> Self {
        match (revoked_at, expires_at) {
            (Some(_), _) => KeyState::Revoked,
            (None, Some(e)) if e.0 <= now.0 => KeyState::Expired,
            (None, Some(e)) if replaced || e.0 - now.0 <= Self::EXPIRING_WITHIN_MS => {
                KeyState::Expiring
            }
            _ => KeyState::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Expiring => "expiring",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }

    pub fn works(self) -> bool {
        matches!(self, KeyState::Active | KeyState::Expiring)
    }
}

/// Days without use after which a key is flagged.
pub const UNUSED_FLAG_DAYS: i64 = 90;

/// Attention flags shown in lists: `unused` (no use in 90 days) and `rotation_due` (older than
/// the account's rotation period).
pub fn flags(
    now: Millis,
    created_at: Millis,
    last_used_at: Option<Millis>,
    rotation_days: Option<i64>,
) -> Vec<&'static str> {
    const DAY: i64 = 24 * 3600 * 1000;
    let mut out = Vec::new();
    if now.0 - last_used_at.unwrap_or(created_at).0 >= UNUSED_FLAG_DAYS * DAY {
        out.push("unused");
    }
    if rotation_days.is_some_and(|d| now.0 - created_at.0 >= d * DAY) {
        out.push("rotation_due");
    }
    out
}

/// The name of a clone: the base name with the next free ` (n)` suffix among `existing`.
pub fn clone_name(name: &str, existing: &[String]) -> String {
    let base = strip_suffix(name);
    let n = existing
        .iter()
        .filter_map(|e| {
            if e == base {
                Some(1)
            } else {
                e.strip_prefix(base)?
                    .strip_prefix(" (")?
                    .strip_suffix(')')?
                    .parse::<u32>()
                    .ok()
            }
        })
        .max()
        .unwrap_or(1);
    format!("{base} ({})", n + 1)
}

fn strip_suffix(name: &str) -> &str {
    if let Some(open) = name.rfind(" (")
        && let Some(inner) = name[open + 2..].strip_suffix(')')
        && !inner.is_empty()
        && inner.bytes().all(|b| b.is_ascii_digit())
    {
        return &name[..open];
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_distinct() {
        let a = generate("ww_");
        let b = generate("ww_");
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + BODY_LEN + CHECKSUM_LEN);
        assert!(is_well_formed("ww_", &a));
        assert!(!is_well_formed("xx_", &a));
        assert_ne!(public_id(&a), public_id(&b));
        assert!(!public_id(&a).contains(&a[3..15]));
    }

    #[test]
    fn any_changed_character_breaks_the_checksum() {
        let key = generate("ww_");
        for i in 3..key.len() {
            let mut bytes = key.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(bytes).unwrap();
            assert!(!is_well_formed("ww_", &changed), "position {i}");
        }
        assert!(!is_well_formed("ww_", &key[..key.len() - 1]));
        assert!(!is_well_formed("ww_", &format!("{key}0")));
    }

    #[test]
    fn finds_keys_in_text_but_not_glued_or_broken_ones() {
        let key = generate("ww_");
        let text = format!("token = \"{key}\"\nx{key}\n{key}z\nww_{}\n", "A".repeat(48));
        let found: Vec<_> = find_all("ww_", text.as_bytes()).collect();
        assert_eq!(found, vec![(9, key.as_str())]);
    }

    #[test]
    fn states_from_instants() {
        let now = Millis(1_000_000_000_000);
        let day = 24 * 3600 * 1000;
        assert_eq!(KeyState::of(now, None, None, false), KeyState::Active);
        assert_eq!(
            KeyState::of(now, Some(Millis(now.0 + 30 * day)), None, false),
            KeyState::Active
        );
        assert_eq!(
            KeyState::of(now, Some(Millis(now.0 + 30 * day)), None, true),
            KeyState::Expiring
        );
        assert_eq!(
            KeyState::of(now, Some(Millis(now.0 + day)), None, false),
            KeyState::Expiring
        );
        assert_eq!(KeyState::of(now, Some(now), None, true), KeyState::Expired);
        assert_eq!(KeyState::of(now, None, Some(now), false), KeyState::Revoked);
    }

    #[test]
    fn flags_unused_and_rotation_due() {
        let day = 24 * 3600 * 1000;
        let now = Millis(1_000_000_000_000);
        let created = Millis(now.0 - 100 * day);
        assert_eq!(flags(now, created, None, None), vec!["unused"]);
        assert!(flags(now, created, Some(Millis(now.0 - day)), None).is_empty());
        assert_eq!(
            flags(now, created, Some(now), Some(90)),
            vec!["rotation_due"]
        );
        assert!(flags(now, created, Some(now), Some(101)).is_empty());
    }

    #[test]
    fn clone_names_count_up() {
        let existing = vec![
            "Zapier".to_owned(),
            "Zapier (2)".to_owned(),
            "Other".to_owned(),
        ];
        assert_eq!(clone_name("Zapier", &existing), "Zapier (3)");
        assert_eq!(clone_name("Zapier (2)", &existing), "Zapier (3)");
        assert_eq!(clone_name("Other", &existing), "Other (2)");
        assert_eq!(
            clone_name("Sync (v2)", &["Sync (v2)".to_owned()]),
            "Sync (v2) (2)"
        );
    }
}
