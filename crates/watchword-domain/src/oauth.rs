//! OAuth 2.0 for integrations: the text of tokens and client secrets, redirect URIs, app kinds,
//! lifetimes, and the RFC 6749 errors of the token endpoint.
//!
//! Tokens and secrets have the API key format (`api_key::generate`: 40 random base62 characters
//! and a checksum) under their own prefixes, so a scanner recognises each kind with no database
//! and the hot path refuses a malformed one before any look-up.

use crate::DomainError;

/// Access tokens (1 hour).
pub const ACCESS_PREFIX: &str = "wwat_";
/// Refresh tokens.
pub const REFRESH_PREFIX: &str = "wwrt_";
/// Client secrets of confidential apps.
pub const SECRET_PREFIX: &str = "wwcs_";

pub const ACCESS_TTL_SECS: i64 = 3600;
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

    #[test]
    fn each_kind_of_token_has_its_own_prefix() {
        let t = crate::api_key::generate(ACCESS_PREFIX);
        assert!(crate::api_key::is_well_formed(ACCESS_PREFIX, &t));
        assert!(!crate::api_key::is_well_formed(REFRESH_PREFIX, &t));
        assert!(!crate::api_key::is_well_formed(
            crate::api_key::DEFAULT_PREFIX,
            &t
        ));
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
