//! The SAML 2.0 service provider: the IdP's metadata read and checked, the AuthnRequest sent by
//! HTTP-Redirect, the response verified, and watchword's own metadata for the IdP.
//!
//! XML signatures are verified by `samael` on libxmlsec1 (which also reduces the document to
//! what the signature covers, so a wrapped unsigned assertion is never read). Before either
//! sees a byte, the document passes `watchword_domain::saml_xml::screen` (UTF-8 only, no DTD,
//! entity or processing instruction, every signature reference inside the document, the
//! transforms SAML uses), and the XML stack's own input and output are off for the process
//! (`xml_io`). On top of it, watchword's own guards: metadata without a signing certificate,
//! with more than four, or with all of them expired is refused (samael would accept an unsigned
//! response without one), only certificates valid now verify, the algorithms are an allow-list
//! of SHA-256 or stronger, the response's size is limited, an audience restriction naming this
//! connection is required, and `InResponseTo` is always checked for SP-initiated sign-ins
//! (samael's IdP-initiated switch skips it for every response, so it is set only on the
//! unsolicited path, which refuses a response that answers a request).

use super::oidc::Failure;
use base64::Engine as _;
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer};
use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{
    EntityDescriptor, HTTP_POST_BINDING, HTTP_REDIRECT_BINDING, IndexedEndpoint, KeyDescriptor,
    NameIdFormat, SpSsoDescriptor,
};
use samael::schema::Assertion;
use samael::service_provider::{Error as SpError, ServiceProvider};
use samael::traits::ToXml;
use watchword_domain::saml_xml;
use watchword_domain::sso::{MAX_IDP_DOCUMENT, MAX_SAML_RESPONSE, SAML_SKEW_SECS};
use watchword_domain::{DomainError, Millis};

/// Signature algorithms accepted (RSA or ECDSA with SHA-256 or stronger; SHA-1 is refused).
const ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// An assertion issued longer ago than this is refused.
const MAX_ISSUE_DELAY_SECS: i64 = 5 * 60;

/// Signing certificates a connection's metadata may hold: a rotation's overlap needs two, and
/// each one is a verification per signature.
pub const MAX_CERTIFICATES: usize = 4;

/// A signing certificate of the IdP.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub subject: String,
    pub not_after: Millis,
    /// The DER, base64 (as samael reads a descriptor's certificates).
    base64: String,
}

/// The IdP's metadata, read and checked.
#[derive(Clone)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// Its SingleSignOnService for the HTTP-Redirect binding.
    pub sso_url: String,
    pub certificates: Vec<Certificate>,
    descriptor: EntityDescriptor,
}

/// This service provider, as one connection presents itself to its IdP.
#[derive(Debug, Clone)]
pub struct SamlSp {
    pub entity_id: String,
    pub acs_url: String,
}

/// A verified assertion: what the IdP says about the person.
#[derive(Debug, Clone)]
pub struct Verified {
    pub assertion_id: String,
    pub subject: String,
    pub name_id_format: Option<String>,
    /// Attribute name (and friendly name, when given) → values.
    pub attributes: Vec<(String, Vec<String>)>,
    /// The AuthnContextClassRef of each authentication statement.
    pub contexts: Vec<String>,
    /// Until when the assertion could be presented (its id is remembered that long).
    pub expires_at: Millis,
}

impl Verified {
    /// The values of the first attribute named one of `names`.
    pub fn attribute(&self, names: &[&str]) -> Option<&[String]> {
        names.iter().find_map(|n| {
            self.attributes
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_slice())
        })
    }

    /// Everything the assertion said, for a connection's test sign-in.
    pub fn all(&self) -> serde_json::Value {
        let attributes: serde_json::Map<String, serde_json::Value> = self
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!(v)))
            .collect();
        serde_json::json!({
            "name_id": self.subject,
            "name_id_format": self.name_id_format,
            "authn_context": self.contexts,
            "attributes": attributes,
        })
    }
}

fn invalid(why: impl Into<String>) -> DomainError {
    DomainError::field("invalid_metadata", "saml_metadata", why)
}

/// Reads the IdP's metadata: an EntityDescriptor with an IdP role, its entity id, an
/// HTTP-Redirect sign-in URL (https, or http on loopback) and at least one signing certificate
/// (several allowed, for a rotation with an overlap), each RSA of 2,048 bits or more, or EC.
pub fn parse_metadata(xml: &str) -> Result<IdpMetadata, DomainError> {
    if xml.len() > MAX_IDP_DOCUMENT {
        return Err(invalid("metadata is limited to 256 KiB"));
    }
    let xml = saml_xml::screen(xml).map_err(|r| invalid(r.message))?;
    let descriptor: EntityDescriptor = xml
        .parse()
        .map_err(|_| invalid("not SAML 2.0 metadata (an EntityDescriptor)"))?;
    let entity_id = descriptor
        .entity_id
        .clone()
        .filter(|e| !e.trim().is_empty() && e.len() <= 1024)
        .ok_or_else(|| invalid("the metadata names no entityID"))?;
    let idp = descriptor
        .idp_sso_descriptors
        .as_deref()
        .and_then(|d| d.first())
        .ok_or_else(|| invalid("the metadata describes no identity provider (IDPSSODescriptor)"))?;
    let sso_url = idp
        .single_sign_on_services
        .iter()
        .find(|s| s.binding == HTTP_REDIRECT_BINDING)
        .map(|s| s.location.trim().to_owned())
        .ok_or_else(|| invalid("the IdP offers no HTTP-Redirect SingleSignOnService"))?;
    watchword_domain::sso::check_idp_url(&sso_url, "saml_metadata")?;
    let sp = ServiceProvider {
        idp_metadata: descriptor.clone(),
        ..ServiceProvider::default()
    };
    let ders = sp
        .idp_signing_certs()
        .map_err(|_| invalid("a signing certificate is not valid base64 DER"))?
        .unwrap_or_default();
    if ders.is_empty() {
        return Err(invalid(
            "the metadata holds no signing certificate (KeyDescriptor use=\"signing\")",
        ));
    }
    if ders.len() > MAX_CERTIFICATES {
        return Err(invalid(format!(
            "the metadata holds {} signing certificates; at most {MAX_CERTIFICATES} are read",
            ders.len()
        )));
    }
    let certificates = ders
        .iter()
        .map(certificate)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(IdpMetadata {
        entity_id,
        sso_url,
        certificates,
        descriptor,
    })
}

fn certificate(der: &CertificateDer) -> Result<Certificate, DomainError> {
    use openssl::pkey::Id;
    let x = openssl::x509::X509::from_der(der.der_data())
        .map_err(|_| invalid("a signing certificate is not an X.509 certificate"))?;
    let key = x
        .public_key()
        .map_err(|_| invalid("a signing certificate's key cannot be read"))?;
    let strong = match key.id() {
        Id::RSA => key.bits() >= 2048,
        Id::EC => key.bits() >= 256,
        _ => false,
    };
    if !strong {
        return Err(invalid(
            "a signing certificate's key is too weak (RSA of 2,048 bits or more, or EC P-256 or more)",
        ));
    }
    let epoch = openssl::asn1::Asn1Time::from_unix(0)
        .map_err(|_| invalid("a certificate's dates cannot be read"))?;
    let d = epoch
        .diff(x.not_after())
        .map_err(|_| invalid("a certificate's expiry cannot be read"))?;
    let secs = i64::from(d.days) * 86_400 + i64::from(d.secs);
    let subject = x
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Certificate {
        subject,
        not_after: Millis(secs * 1000),
        base64: base64::engine::general_purpose::STANDARD.encode(der.der_data()),
    })
}

impl IdpMetadata {
    /// When the first of its signing certificates expires.
    pub fn earliest_expiry(&self) -> Option<Millis> {
        self.certificates.iter().map(|c| c.not_after).min()
    }

    /// Whether some signing certificate is still valid at `now`.
    pub fn has_valid_certificate(&self, now: Millis) -> bool {
        self.certificates.iter().any(|c| c.not_after.0 > now.0)
    }

    /// The IdP's descriptor with, as its signing keys, only the certificates valid at `now`
    /// (samael verifies with every signing certificate of the descriptor it is given).
    fn descriptor_at(&self, now: Millis) -> EntityDescriptor {
        let certificates = self
            .certificates
            .iter()
            .filter(|c| c.not_after.0 > now.0)
            .map(|c| c.base64.clone())
            .collect();
        let signing = KeyDescriptor {
            key_use: Some("signing".into()),
            key_info: KeyInfo {
                id: None,
                x509_data: Some(X509Data { certificates }),
            },
            encryption_methods: None,
        };
        let mut descriptor = self.descriptor.clone();
        for idp in descriptor.idp_sso_descriptors.iter_mut().flatten() {
            idp.key_descriptors = vec![signing.clone()];
        }
        descriptor
    }

    fn provider(&self, sp: &SamlSp, unsolicited: bool, now: Millis) -> ServiceProvider {
        ServiceProvider {
            entity_id: Some(sp.entity_id.clone()),
            acs_url: Some(sp.acs_url.clone()),
            metadata_url: Some(sp.entity_id.clone()),
            idp_metadata: self.descriptor_at(now),
            allow_idp_initiated: unsolicited,
            max_clock_skew: chrono::Duration::seconds(SAML_SKEW_SECS),
            max_issue_delay: chrono::Duration::seconds(MAX_ISSUE_DELAY_SECS),
            allowed_signature_algorithms: Some(ALGORITHMS.to_vec()),
            ..ServiceProvider::default()
        }
    }

    /// The URL that sends the browser to the IdP with an AuthnRequest (HTTP-Redirect binding)
    /// whose ID is `request_id`, and `relay_state` to come back with.
    pub fn sign_in_url(
        &self,
        sp: &SamlSp,
        request_id: &str,
        relay_state: &str,
    ) -> Result<String, Failure> {
        let broken = |_| Failure::new("configuration", "the AuthnRequest could not be built");
        let mut request = self
            .provider(sp, false, Millis(0))
            .make_authentication_request(&self.sso_url)
            .map_err(broken)?;
        request.id = request_id.to_owned();
        request.force_authn = None;
        let url = request
            .redirect(relay_state)
            .map_err(broken)?
            .ok_or_else(|| Failure::new("configuration", "the IdP has no sign-in URL"))?;
        Ok(url.to_string())
    }

    /// Verifies a `SAMLResponse` (base64, as posted): for an SP-initiated sign-in `request_id`
    /// is the AuthnRequest's ID it must answer; None accepts an unsolicited response (IdP-
    /// initiated), which must answer no request. `now` is the verifier's clock for the checks
    /// watchword adds and the certificates' expiry (samael checks its own times with the system
    /// clock). Runs the C libraries: call it off the request workers (`App::verify_saml`).
    pub fn verify(
        &self,
        sp: &SamlSp,
        encoded: &str,
        request_id: Option<&str>,
        now: Millis,
    ) -> Result<Verified, Failure> {
        if encoded.len() > MAX_SAML_RESPONSE {
            return Err(Failure::new(
                "response_too_large",
                "the SAML response is larger than 128 KiB",
            ));
        }
        let compact: String = encoded.split_ascii_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| Failure::new("malformed_response", "the SAML response is not base64"))?;
        let xml = std::str::from_utf8(&bytes)
            .map_err(|_| Failure::new("encoding_forbidden", "the SAML response is not UTF-8"))?;
        let xml = saml_xml::screen(xml).map_err(|r| Failure::new(r.reason, r.message))?;
        if !self.has_valid_certificate(now) {
            return Err(Failure::new(
                "certificate_expired",
                "every signing certificate of the IdP's metadata has expired; update the connection's metadata",
            ));
        }
        if xml.contains("xmldsig#rsa-sha1") || xml.contains("xmldsig#sha1") {
            return Err(Failure::new(
                "weak_algorithm",
                "the SAML response is signed with SHA-1; RSA-SHA256 or stronger is required",
            ));
        }
        let ids: Vec<&str> = request_id.into_iter().collect();
        super::xml_io::lockdown();
        let assertion = self
            .provider(sp, request_id.is_none(), now)
            .parse_xml_response(xml, request_id.map(|_| ids.as_slice()))
            .map_err(failure)?;
        verified(assertion, sp, request_id, now)
    }
}

/// watchword's own checks on what samael verified, and the assertion's content.
fn verified(
    a: Assertion,
    sp: &SamlSp,
    request_id: Option<&str>,
    now: Millis,
) -> Result<Verified, Failure> {
    let conditions = a.conditions.as_ref();
    let audiences: Vec<&str> = conditions
        .and_then(|c| c.audience_restrictions.as_deref())
        .unwrap_or_default()
        .iter()
        .flat_map(|r| r.audience.iter().map(String::as_str))
        .collect();
    if !audiences.contains(&sp.entity_id.as_str()) {
        return Err(Failure::new(
            "audience_mismatch",
            "the assertion is not restricted to this connection's entity id",
        ));
    }
    let confirmations = a
        .subject
        .as_ref()
        .and_then(|s| s.subject_confirmations.as_deref())
        .unwrap_or_default();
    let data = confirmations
        .iter()
        .filter_map(|c| c.subject_confirmation_data.as_ref());
    if request_id.is_none() && data.clone().any(|d| d.in_response_to.is_some()) {
        return Err(Failure::new(
            "in_response_to_mismatch",
            "an unsolicited response must not answer a request",
        ));
    }
    let expires = data
        .filter_map(|d| d.not_on_or_after)
        .chain(conditions.and_then(|c| c.not_on_or_after))
        .min()
        .map(|t| Millis(t.timestamp_millis()))
        .ok_or_else(|| Failure::new("expired", "the assertion has no NotOnOrAfter"))?;
    if expires.0 + SAML_SKEW_SECS * 1000 <= now.0 {
        return Err(Failure::new("expired", "the assertion has expired"));
    }
    let name_id = a
        .subject
        .as_ref()
        .and_then(|s| s.name_id.as_ref())
        .filter(|n| !n.value.trim().is_empty() && n.value.len() <= 1024)
        .ok_or_else(|| Failure::new("missing_subject", "the assertion names no subject"))?;
    let mut attributes = Vec::new();
    for statement in a.attribute_statements.iter().flatten() {
        for attr in &statement.attributes {
            let values: Vec<String> = attr.values.iter().filter_map(|v| v.value.clone()).collect();
            for name in [&attr.name, &attr.friendly_name].into_iter().flatten() {
                attributes.push((name.clone(), values.clone()));
            }
        }
    }
    let contexts = a
        .authn_statements
        .iter()
        .flatten()
        .filter_map(|s| s.authn_context.as_ref()?.value.as_ref()?.value.clone())
        .collect();
    Ok(Verified {
        assertion_id: a.id.clone(),
        subject: name_id.value.trim().to_owned(),
        name_id_format: name_id.format.clone(),
        attributes,
        contexts,
        expires_at: Millis(expires.0 + SAML_SKEW_SECS * 1000),
    })
}

/// The reason code of a response samael refused.
fn failure(e: SpError) -> Failure {
    let reason = match &e {
        SpError::FailedToValidateSignature => "invalid_signature",
        SpError::AssertionConditionAudienceRestrictionFailed { .. } => "audience_mismatch",
        SpError::AssertionRecipientMismatch { .. } | SpError::DestinationValidationError { .. } => {
            "recipient_mismatch"
        }
        SpError::AssertionInResponseToInvalid { .. }
        | SpError::ResponseInResponseToInvalid { .. } => "in_response_to_mismatch",
        SpError::AssertionExpired { .. }
        | SpError::ResponseExpired { .. }
        | SpError::AssertionConditionExpired { .. }
        | SpError::AssertionSubjectConfirmationExpired { .. } => "expired",
        SpError::AssertionConditionExpiredBefore { .. }
        | SpError::AssertionSubjectConfirmationExpiredBefore { .. } => "not_yet_valid",
        SpError::AssertionIssuerMismatch { .. } | SpError::ResponseIssuerMismatch { .. } => {
            "issuer_mismatch"
        }
        SpError::ResponseBadStatusCode { .. } => "idp_error",
        SpError::EncryptedAssertionsNotYetSupported
        | SpError::MissingPrivateKeySP
        | SpError::FailedToDecryptAssertion => "encrypted_assertion",
        _ => "malformed_response",
    };
    let message: String = e.to_string().chars().take(300).collect();
    Failure::new(reason, message)
}

/// watchword's metadata for one connection: its entity id, the ACS (HTTP-POST) and the NameID
/// formats it reads. Signed assertions or responses are required.
pub fn sp_metadata(sp: &SamlSp) -> String {
    let descriptor = SpSsoDescriptor {
        protocol_support_enumeration: Some("urn:oasis:names:tc:SAML:2.0:protocol".into()),
        authn_requests_signed: Some(false),
        want_assertions_signed: Some(true),
        name_id_formats: Some(vec![
            NameIdFormat::EmailAddressNameIDFormat.value().to_owned(),
            NameIdFormat::PersistentNameIDFormat.value().to_owned(),
        ]),
        assertion_consumer_services: vec![IndexedEndpoint {
            binding: HTTP_POST_BINDING.to_owned(),
            location: sp.acs_url.clone(),
            index: 0,
            is_default: Some(true),
            ..IndexedEndpoint::default()
        }],
        ..SpSsoDescriptor::default()
    };
    let entity = EntityDescriptor {
        entity_id: Some(sp.entity_id.clone()),
        sp_sso_descriptors: Some(vec![descriptor]),
        ..EntityDescriptor::default()
    };
    entity.to_string().unwrap_or_default()
}
