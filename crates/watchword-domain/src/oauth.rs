//! OAuth 2.0 for integrations: the text of tokens and client secrets, redirect URIs, app kinds,
//! lifetimes, and the RFC 6749 errors of the token endpoint.
//!
//! Tokens and secrets have the API key format (prefix, base62 body, checksum) under their own
//! prefixes, so a scanner recognises each kind with no database and the hot path refuses a
//! malformed one before any look-up. Refresh tokens and client secrets are 40 random characters,
//! stored as their SHA-256. An access token is its grant, scopes and expiry sealed with the
//! keyring (XChaCha20-Poly1305, a random nonce each): opaque to its holder, unforgeable without
//! the key, and checked by any node with no row of its own — its grant (one row, cached) decides
//! whether it is still good, so revoking the grant ends every token of it.

use crate::DomainError;
use crate::api_key;
use crate::scope::ScopeSet;
use crate::sealed::Keyring;

/// Access tokens (1 hour).
pub const ACCESS_PREFIX: &str = "wwat_";
/// Refresh tokens.
pub const REFRESH_PREFIX: &str = "wwrt_";
/// Client secrets of confidential apps.
pub const SECRET_PREFIX: &str = "wwcs_";

pub const ACCESS_TTL_SECS: i64 = 3600;
/// Base62 characters of an access token's body: 64 sealed bytes, 11 characters for each 8.
pub const ACCESS_BODY_LEN: usize = 88;
/// What an access token's seal is bound to (no other sealed value opens as a token).
const ACCESS_SEAL_CONTEXT: &str = "watchword oauth access token v1";
pub const CODE_TTL_SECS: i64 = 600;
/// A refresh token not used within this long expires (each use gives a new one).
pub const REFRESH_TTL_SECS: i64 = 90 * 86_400;
/// A second use of a refresh token this soon after the first is a client's retry: it gets the
/// same successor pair. Later, it is a reuse: the whole grant is revoked.
pub const RETRY_WINDOW_SECS: i64 = 10;

/// Scopes whose grant alerts the Security Contact (they change who administers the account).
pub const ADMIN_SCOPES: [&str; 4] = [
    "members:write",
    "roles:write",
    "api_keys:write",
    "account_settings:write",
];

/// A scope in plain words, for the consent page.
pub fn scope_words(scope: &str) -> String {
    let (resource, access) = scope.split_once(':').unwrap_or((scope, "read"));
    let thing = resource.replace('_', " ");
    match access {
        "write" => format!("See and change the account's {thing}"),
        _ => format!("See the account's {thing}"),
    }
}

/// What an access token carries: the grant it acts under (`grant_<uuid>`), its scopes (the
/// grant's, or fewer) and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub grant_id: String,
    pub scopes: ScopeSet,
    /// Seconds since the Unix epoch.
    pub expires_at: u32,
}

/// Whether `s` has an access token's format (prefix, length, checksum); nothing is opened.
pub fn is_access_token(s: &str) -> bool {
    api_key::is_well_formed_len(ACCESS_PREFIX, ACCESS_BODY_LEN, s)
}

/// A new access token for `claims`, sealed with the keyring's current key. None when the grant
/// id is not a `grant_<uuid>`.
pub fn mint_access(ring: &Keyring, claims: &AccessClaims) -> Option<String> {
    let grant = uuid::Uuid::try_parse(claims.grant_id.strip_prefix("grant_")?).ok()?;
    let mut plain = [0u8; 24];
    plain[..16].copy_from_slice(grant.as_bytes());
    plain[16..20].copy_from_slice(&claims.scopes.bits().to_be_bytes());
    plain[20..].copy_from_slice(&claims.expires_at.to_be_bytes());
    let (_, sealed) = ring.seal(&plain, ACCESS_SEAL_CONTEXT);
    let mut body = String::with_capacity(ACCESS_BODY_LEN);
    for chunk in sealed.chunks(8) {
        let mut n = u64::from_be_bytes(chunk.try_into().ok()?);
        let mut digits = [' '; 11];
        for d in digits.iter_mut().rev() {
            *d = api_key::base62_digit(n);
            n /= 62;
        }
        body.extend(digits);
    }
    (body.len() == ACCESS_BODY_LEN).then(|| api_key::with_checksum(ACCESS_PREFIX, &body))
}

/// What an access token carries, when it is one and opens with a key of the keyring (its expiry
/// is for the caller to check).
pub fn read_access(ring: &Keyring, token: &str) -> Option<AccessClaims> {
    if !is_access_token(token) {
        return None;
    }
    let body = &token.as_bytes()[ACCESS_PREFIX.len()..][..ACCESS_BODY_LEN];
    let mut sealed = Vec::with_capacity(64);
    for chunk in body.chunks(11) {
        let mut n: u128 = 0;
        for b in chunk {
            n = n * 62 + u128::from(api_key::base62_value(*b)?);
        }
        sealed.extend_from_slice(&u64::try_from(n).ok()?.to_be_bytes());
    }
    let plain = ring.open_any(&sealed, ACCESS_SEAL_CONTEXT)?;
    let plain: [u8; 24] = plain.try_into().ok()?;
    let grant = uuid::Uuid::from_slice(&plain[..16]).ok()?;
    let scopes = ScopeSet::from_bits(u32::from_be_bytes(plain[16..20].try_into().ok()?))?;
    Some(AccessClaims {
        grant_id: format!("grant_{}", grant.simple()),
        scopes,
        expires_at: u32::from_be_bytes(plain[20..].try_into().ok()?),
    })
}

/// A PKCE code challenge (S256): 43 base64url characters.
pub fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `verifier` (43 to 128 unreserved characters, RFC 7636) hashes to `challenge` (S256),
/// compared in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use base64::Engine as _;
    use sha2::Digest as _;
    let ok_chars = verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !(43..=128).contains(&verifier.len()) || !ok_chars {
        return false;
    }
    let d = sha2::Sha256::digest(verifier.as_bytes());
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d);
    crate::token::constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// Whether a confidential app's client may keep a secret (`confidential`) or not (`public`,
/// PKCE only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    Confidential,
    Public,
}

impl AppKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Confidential => "confidential",
            AppKind::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confidential" => Some(AppKind::Confidential),
            "public" => Some(AppKind::Public),
            _ => None,
        }
    }
}

/// A redirect URI an app registers: absolute, `https` (or `http` on a loopback address, for
/// native and development clients), no fragment, no credentials; matched exactly later.
pub fn check_redirect_uri(raw: &str) -> Result<String, DomainError> {
    let bad =
        |why: &str| DomainError::field("invalid_redirect_uri", "redirect_uris", why.to_owned());
    let s = raw.trim();
    if s.contains('#') {
        return Err(bad("a redirect URI has no fragment"));
    }
    crate::sso::check_idp_url(s, "redirect_uris")
        .map_err(|_| bad("https, or http on a loopback address, without credentials"))?;
    Ok(s.to_owned())
}

/// An error of the token or revocation endpoint (RFC 6749 §5.2), answered as
/// `{"error", "error_description"}` with `Cache-Control: no-store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub error: &'static str,
    pub description: String,
}

impl TokenError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }

    /// The RFC's status: 401 for a client that failed to authenticate, 503 when the server
    /// could not complete the request, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self.error {
            "invalid_client" => 401,
            "server_error" => 503,
            _ => 400,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_without_fragments() {
        for ok in [
            "https://app.example.com/callback",
            "http://127.0.0.1:8000/cb",
            "http://localhost/cb",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#x",
            "https://user:pw@app.example.com/cb",
            "app.example.com/cb",
            "javascript:alert(1)",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            grant_id: format!("grant_{}", uuid::Uuid::now_v7().simple()),
            scopes: ScopeSet::parse_all(["members:read", "campaigns:write"]).unwrap(),
            expires_at: 1_900_000_000,
        }
    }

    #[test]
    fn each_kind_of_token_has_its_own_prefix() {
        let ring = Keyring::parse(&Keyring::new_entry("k1")).unwrap();
        let t = mint_access(&ring, &claims()).unwrap();
        assert!(t.starts_with(ACCESS_PREFIX) && is_access_token(&t), "{t}");
        assert!(!crate::api_key::is_well_formed(ACCESS_PREFIX, &t));
        let found: Vec<_> =
            crate::api_key::find_all_len(ACCESS_PREFIX, ACCESS_BODY_LEN, t.as_bytes()).collect();
        assert_eq!(found, [(0, t.as_str())]);
        let r = crate::api_key::generate(REFRESH_PREFIX);
        assert!(crate::api_key::is_well_formed(REFRESH_PREFIX, &r));
        assert!(!crate::api_key::is_well_formed(
            crate::api_key::DEFAULT_PREFIX,
            &r
        ));
        assert!(!is_access_token(&r));
    }

    #[test]
    fn access_tokens_open_only_as_minted_under_the_keyring() {
        let ring = Keyring::parse(&Keyring::new_entry("k1")).unwrap();
        let c = claims();
        let t = mint_access(&ring, &c).unwrap();
        assert_eq!(read_access(&ring, &t), Some(c.clone()));
        assert_ne!(
            mint_access(&ring, &c).unwrap(),
            t,
            "a fresh nonce each time"
        );
        // Another keyring (another deployment) opens nothing.
        let other = Keyring::parse(&Keyring::new_entry("k1")).unwrap();
        assert_eq!(read_access(&other, &t), None);
        // A changed character fails the checksum or the seal, never reads as other claims.
        let body = &t[ACCESS_PREFIX.len()..ACCESS_PREFIX.len() + ACCESS_BODY_LEN];
        for at in [0, 40, ACCESS_BODY_LEN - 1] {
            let mut b = body.as_bytes().to_vec();
            b[at] = if b[at] == b'A' { b'B' } else { b'A' };
            let forged =
                crate::api_key::with_checksum(ACCESS_PREFIX, std::str::from_utf8(&b).unwrap());
            assert!(is_access_token(&forged));
            assert_eq!(read_access(&ring, &forged), None, "position {at}");
        }
        // After a rotation the new key seals and the old one still opens.
        let a = Keyring::new_entry("k1");
        let b = Keyring::new_entry("k2");
        let old = Keyring::parse(&a).unwrap();
        let both = Keyring::parse(&format!("{a},{b}")).unwrap();
        let t = mint_access(&old, &c).unwrap();
        assert_eq!(read_access(&both, &t), Some(c.clone()));
        let t2 = mint_access(&both, &c).unwrap();
        assert_eq!(read_access(&old, &t2), None, "sealed with the newest key");
        // Not a grant id: nothing minted.
        let bad = AccessClaims {
            grant_id: "tok_1".into(),
            ..c
        };
        assert_eq!(mint_access(&ring, &bad), None);
    }

    #[test]
    fn pkce_s256_matches_the_rfc_example() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_s256_challenge(challenge));
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
        assert!(!is_s256_challenge("plain-verifier"));
    }

    #[test]
    fn only_a_failed_client_is_401() {
        assert_eq!(TokenError::new("invalid_client", "").status(), 401);
        assert_eq!(TokenError::new("invalid_grant", "").status(), 400);
    }
}
