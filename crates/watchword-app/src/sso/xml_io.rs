//! The XML stack's own input and output, switched off for the whole process.
//!
//! libxml2 (the parser) and libxmlsec1 (the signature library under `samael`) can open files
//! and URLs a document names: external entities, and a signature's references through
//! libxmlsec1's I/O callbacks (`file:`, `http:`, `ftp:`). Responses are screened before they
//! reach either (`watchword_domain::saml_xml`), and beyond that screen nothing may be read: the
//! external entity loader answers nothing, libxml2's input and output callbacks are removed,
//! and libxmlsec1's I/O callback list is emptied, so a reference that got past the screen fails
//! to open instead of being fetched. libxmlsec1's error output (several lines on stderr per
//! refused signature, which anyone could cause) is off too: refusals are audited.

use samael::crypto::{CertificateDer, CryptoProvider, XmlSec};
use std::sync::Once;

unsafe extern "C" {
    /// libxmlsec1 (`xmlsec/io.h`): removes every I/O callback (its defaults read files and
    /// URLs); a reference URI that is not in the document then opens nothing.
    fn xmlSecIOCleanupCallbacks();
    /// libxmlsec1 (`xmlsec/errors.h`): whether its errors are printed to stderr (a refused
    /// signature prints several lines; watchword audits refusals itself).
    fn xmlSecErrorsDefaultCallbackEnableOutput(enabled: std::os::raw::c_int);
}

/// An external entity loader that loads nothing.
unsafe extern "C" fn load_nothing(
    _url: *const std::os::raw::c_char,
    _id: *const std::os::raw::c_char,
    _ctxt: libxml::bindings::xmlParserCtxtPtr,
) -> libxml::bindings::xmlParserInputPtr {
    std::ptr::null_mut()
}

static LOCKDOWN: Once = Once::new();

/// Switches the XML stack's input and output off, once per process, after `samael` has
/// initialised libxmlsec1 (whose initialisation registers the default I/O callbacks).
pub fn lockdown() {
    LOCKDOWN.call_once(|| {
        // SAFETY: sets a flag of libxmlsec1.
        unsafe { xmlSecErrorsDefaultCallbackEnableOutput(0) };
        // Loading a key makes samael initialise libxml2 and libxmlsec1 (the key itself is
        // empty and refused).
        let _ = XmlSec::verify_signed_xml("<x/>", &CertificateDer::from(Vec::new()), None);
        // SAFETY: process-wide settings of the two C libraries, made once, before any
        // document is parsed by this process (every verification calls this first).
        unsafe {
            xmlSecErrorsDefaultCallbackEnableOutput(0);
            xmlSecIOCleanupCallbacks();
            libxml::bindings::xmlCleanupInputCallbacks();
            libxml::bindings::xmlCleanupOutputCallbacks();
            libxml::bindings::xmlSetExternalEntityLoader(Some(load_nothing));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use samael::crypto::ReduceMode;
    use std::net::TcpListener;

    /// A self-signed RSA-2048 certificate, DER.
    fn certificate() -> CertificateDer {
        use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "test IdP").unwrap();
        let name = name.build();
        let mut b = x509::X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        CertificateDer::from(b.build().to_der().unwrap())
    }

    /// A response with a made-up signature whose reference names `uri`, as an attacker posts it.
    fn forged(uri: &str) -> String {
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="{uri}"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature></samlp:Response>"#
        )
    }

    /// The text of `xml`'s document element, parsed with entities substituted (which libxml2
    /// does only when asked: XML_PARSE_NOENT).
    fn substituted(xml: &str) -> String {
        use libxml::bindings as x;
        const XML_PARSE_NOENT: i32 = 2;
        // SAFETY: a document parsed from memory, read and freed here.
        unsafe {
            let doc = x::xmlReadMemory(
                xml.as_ptr().cast(),
                xml.len() as i32,
                std::ptr::null(),
                std::ptr::null(),
                XML_PARSE_NOENT,
            );
            if doc.is_null() {
                return String::new();
            }
            let root = x::xmlDocGetRootElement(doc);
            let text = if root.is_null() {
                String::new()
            } else {
                let c = x::xmlNodeGetContent(root);
                let t = if c.is_null() {
                    String::new()
                } else {
                    std::ffi::CStr::from_ptr(c.cast())
                        .to_string_lossy()
                        .into_owned()
                };
                if let Some(free) = x::xmlFree {
                    free(c.cast())
                }
                t
            };
            x::xmlFreeDoc(doc);
            text
        }
    }

    fn reduce(xml: &str, cert: &CertificateDer) -> bool {
        XmlSec::reduce_xml_to_signed(xml, std::slice::from_ref(cert), ReduceMode::default()).is_ok()
    }

    /// Past the screen (called here without it), libxmlsec1 still opens nothing a reference
    /// names: no connection reaches a listener, /dev/zero is not read (without the lockdown the
    /// first connects and the second fills the memory until the process dies).
    #[test]
    fn references_outside_the_document_open_nothing() {
        lockdown();
        let cert = certificate();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        for uri in [
            format!("http://127.0.0.1:{port}/x"),
            format!("ftp://127.0.0.1:{port}/x"),
        ] {
            assert!(!reduce(&forged(&uri), &cert), "{uri} refused");
        }
        let arrived = listener.accept();
        assert!(
            matches!(&arrived, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "no connection: {arrived:?}"
        );
        for uri in ["file:///dev/zero", "/dev/zero"] {
            assert!(!reduce(&forged(uri), &cert), "{uri} refused");
        }
        // An external entity is not loaded either (a DTD the screen would have refused).
        let path = std::env::temp_dir().join(format!("ww-entity-{port}"));
        std::fs::write(&path, "SECRET-CONTENT").unwrap();
        let doc = format!(
            "<!DOCTYPE r [<!ENTITY e SYSTEM \"file://{}\">]><r>&e;</r>",
            path.display()
        );
        let parsed = substituted(&doc);
        let _ = std::fs::remove_file(&path);
        assert!(!parsed.contains("SECRET-CONTENT"), "{parsed}");
    }
}
