//! Single sign-on rules: which domains an account may claim, how a claim is proven (a DNS TXT
//! record), where an identity provider may live, and when an IdP's word on MFA is enough.

use crate::DomainError;

/// The TXT record an account publishes at its domain to prove it holds it.
pub const TXT_PREFIX: &str = "watchword-verification=";

/// The scopes asked of an OIDC provider when a connection names none.
pub const DEFAULT_SCOPES: &str = "openid email profile";

/// A sign-in sent to an identity provider must come back within this long.
pub const REQUEST_TTL_SECS: i64 = 10 * 60;

/// Largest text accepted from or about an IdP (metadata, an ID token, a claim set).
pub const MAX_IDP_DOCUMENT: usize = 256 * 1024;

/// The record's full text for a claim's token.
pub fn txt_record(token: &str) -> String {
    format!("{TXT_PREFIX}{token}")
}

/// A domain an account claims: trimmed, lower case, IDNA ASCII, at least two labels of letters,
/// digits and inner hyphens, not an IP address. `invalid_domain` otherwise.
pub fn parse_domain(raw: &str) -> Result<String, DomainError> {
    let bad = || {
        DomainError::field(
            "invalid_domain",
            "domain",
            "enter a domain name such as example.com",
        )
    };
    let s = raw.trim().trim_end_matches('.').to_lowercase();
    if s.is_empty() || s.len() > 253 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let ascii = idna::domain_to_ascii_strict(&s).map_err(|_| bad())?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let tld_alpha = labels
        .last()
        .is_some_and(|t| t.chars().any(|c| c.is_ascii_alphabetic()));
    if labels.len() < 2 || !labels.iter().all(label_ok) || !tld_alpha {
        return Err(bad());
    }
    Ok(ascii)
}

/// The domains `domain` lies under, nearest first, down to its registrable-looking last two
/// labels (`a.b.example.com` → `b.example.com`, `example.com`).
pub fn parent_domains(domain: &str) -> impl Iterator<Item = &str> {
    let dots = domain.matches('.').count();
    domain
        .match_indices('.')
        .take(dots.saturating_sub(1))
        .map(move |(i, _)| &domain[i + 1..])
}

/// The domain of a normalised email address (`ada@example.com` → `example.com`).
pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
}

/// An identity provider's URL: `https`, or `http` on a loopback address (development and tests).
pub fn check_idp_url(raw: &str, field: &'static str) -> Result<(), DomainError> {
    let bad = |why: &str| DomainError::field("invalid_issuer", field, why.to_owned());
    if raw.len() > 2048 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("a URL without spaces, at most 2,048 characters"));
    }
    let (scheme, rest) = raw
        .split_once("://")
        .ok_or_else(|| bad("an absolute https URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.contains('@') || host.is_empty() {
        return Err(bad("an absolute https URL without credentials"));
    }
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        _ => Err(bad("https (http only on a loopback address)")),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether an ID token's `amr` says the person passed more than one factor at the IdP (RFC 8176:
/// `mfa`, or two distinct kinds of factor).
pub fn amr_is_mfa(amr: &[String]) -> bool {
    const FACTORS: &[&str] = &[
        "pwd", "pin", "otp", "sms", "tel", "hwk", "swk", "sc", "fpt", "face", "iris", "retina",
        "vbm", "kba",
    ];
    if amr.iter().any(|m| m == "mfa") {
        return true;
    }
    let mut kinds: Vec<&str> = amr
        .iter()
        .map(String::as_str)
        .filter(|m| FACTORS.contains(m))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds.len() >= 2
}

/// Whether an OIDC `amr` (RFC 8176, and the values Okta and Entra ID send) says the person used
/// a phishing-resistant method: a hardware-bound key, FIDO, a smart card.
pub fn amr_is_phishing_resistant(amr: &[String]) -> bool {
    const PHR: &[&str] = &["hwk", "sc", "phr", "phrh", "fido"];
    amr.iter().any(|m| PHR.contains(&m.as_str()))
}

/// Whether a SAML AuthnContextClassRef names a phishing-resistant method.
pub fn authn_context_is_phishing_resistant(class_ref: &str) -> bool {
    const PHR: &[&str] = &[
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:X509",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient",
        "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/x509",
        "urn:rsa:names:tc:SAML:2.0:ac:classes:FIDO",
        "https://refeds.org/profile/mfa-phr",
    ];
    PHR.contains(&class_ref.trim())
}

/// Largest `SAMLResponse` form field accepted (base64); a larger one is refused
/// (`response_too_large`) before it is decoded or parsed.
pub const MAX_SAML_RESPONSE: usize = 128 * 1024;

/// Clock skew allowed on a SAML assertion's `NotBefore` and `NotOnOrAfter`.
pub const SAML_SKEW_SECS: i64 = 60;

/// The certificate expiry warnings, in days before expiry, sent once each.
pub const CERT_WARNINGS: [i64; 4] = [30, 14, 7, 2];

/// Whether a SAML `AuthnContextClassRef` names a multi-factor authentication.
pub fn authn_context_is_mfa(class_ref: &str) -> bool {
    const MFA: &[&str] = &[
        "http://schemas.microsoft.com/claims/multipleauthn",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
        "https://refeds.org/profile/mfa",
    ];
    MFA.contains(&class_ref.trim())
}

/// The kind of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Oidc,
    Saml,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Oidc => "oidc",
            Protocol::Saml => "saml",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oidc" => Some(Protocol::Oidc),
            "saml" => Some(Protocol::Saml),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_of_a_domain() {
        let p: Vec<&str> = parent_domains("a.b.example.com").collect();
        assert_eq!(p, ["b.example.com", "example.com"]);
        assert_eq!(parent_domains("example.com").count(), 0);
    }

    #[test]
    fn domains_are_normalised_and_refused_when_not_names() {
        assert_eq!(parse_domain(" Example.COM. ").unwrap(), "example.com");
        assert_eq!(
            parse_domain("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "",
            "com",
            "127.0.0.1",
            "exa mple.com",
            "-a.com",
            "a-.com",
            "a..com",
            "a_b.com",
            "http://a.com",
        ] {
            assert!(parse_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn idp_urls_are_https_or_loopback_http() {
        for ok in [
            "https://idp.example.com",
            "http://127.0.0.1:9000/oidc",
            "http://localhost:3000",
            "http://[::1]:3000/",
        ] {
            assert!(check_idp_url(ok, "issuer").is_ok(), "{ok}");
        }
        for bad in [
            "http://idp.example.com",
            "ftp://idp.example.com",
            "idp.example.com",
            "https://user@idp.example.com",
            "http://127.0.0.1.evil.example",
            "http://localhost@evil.example",
        ] {
            assert!(check_idp_url(bad, "issuer").is_err(), "{bad}");
        }
    }

    #[test]
    fn only_two_factors_or_mfa_count_as_mfa() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(amr_is_mfa(&v(&["mfa"])));
        assert!(amr_is_mfa(&v(&["pwd", "otp"])));
        assert!(!amr_is_mfa(&v(&["pwd"])));
        assert!(!amr_is_mfa(&v(&["pwd", "pwd"])));
        assert!(!amr_is_mfa(&v(&[])));
    }

    #[test]
    fn only_multi_factor_contexts_count_as_mfa() {
        assert!(authn_context_is_mfa("https://refeds.org/profile/mfa"));
        assert!(authn_context_is_mfa(
            "http://schemas.microsoft.com/claims/multipleauthn"
        ));
        assert!(!authn_context_is_mfa(
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        ));
    }
}
