//! What a SAML document (a response, or an IdP's metadata) may contain before any XML library
//! sees it. libxml2 and libxmlsec1 can read files and URLs a document names (a DTD, an entity,
//! a signature's `Reference`, a `Manifest`, a `RetrievalMethod`, an XSLT transform), and honour
//! a declared encoding; nothing of that is needed by SAML. This screen, a pure-Rust parse
//! (quick-xml) of the exact text the XML library will get, lets through only:
//!
//! - UTF-8 text of XML 1.0 characters, an XML declaration only at the start, its encoding
//!   UTF-8 or none, no byte order mark inside;
//! - no document type, no entity other than the five predefined ones and character
//!   references, no processing instruction, no XInclude, no `xml:id`, prefixes all bound;
//! - at most two `ds:Signature`s (the response's and the assertion's), each with one
//!   `ds:Reference` whose `URI` is `#` + the `ID` of the element the signature sits in (or `""`
//!   when that element is the document's), the transforms SAML uses (enveloped signature,
//!   exclusive canonicalization without comments), no `ds:Object` (so no `ds:Manifest`), no
//!   `ds:RetrievalMethod` and no other `URI` attribute in the signature or encryption
//!   namespaces;
//! - `ID` values unique, at most one per element, and a nesting depth of 48.
//!
//! Attributes are matched by local name whatever their prefix, as libxml2's `xmlGetProp` (which
//! the signature library reads them with) matches them.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use std::collections::HashSet;

const DSIG: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
/// Namespaces whose elements may name something to fetch (a `URI` attribute).
const FETCHING: [&[u8]; 5] = [
    DSIG,
    b"http://www.w3.org/2009/xmldsig11#",
    b"http://www.w3.org/2001/04/xmlenc#",
    b"http://www.w3.org/2009/xmlenc11#",
    b"http://www.w3.org/2001/04/xmldsig-more#",
];
const XINCLUDE: &[u8] = b"http://www.w3.org/2001/XInclude";
const XML_NS: &[u8] = b"http://www.w3.org/XML/1998/namespace";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const MAX_DEPTH: usize = 48;
const MAX_SIGNATURES: usize = 2;

/// Why a document was refused: a machine-readable reason and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

fn refuse(reason: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        reason,
        message: message.into(),
    }
}

fn malformed(why: impl std::fmt::Display) -> Refusal {
    refuse(
        "malformed_xml",
        format!("the XML is not well-formed: {why}"),
    )
}

fn forbidden_reference(what: &str) -> Refusal {
    refuse(
        "reference_forbidden",
        format!("{what}: a signature may reference only the element it signs, in this document"),
    )
}

/// One open element, as far as the rules need it.
struct Open {
    dsig: Option<String>,
    id: Option<String>,
}

/// The signature being read.
struct Signature {
    /// The `ID` of the element the signature sits in.
    parent_id: Option<String>,
    parent_is_root: bool,
    references: usize,
}

/// Checks `xml` and returns the text to hand to the XML library: the document without a leading
/// byte order mark and surrounding white space.
pub fn screen(xml: &str) -> Result<&str, Refusal> {
    let doc = xml.strip_prefix('\u{feff}').unwrap_or(xml).trim();
    if let Some(c) = doc.chars().find(|&c| !is_xml_char(c)) {
        return Err(refuse(
            "encoding_forbidden",
            format!(
                "the XML holds the character U+{:04X}, which XML 1.0 does not allow (only UTF-8 is read)",
                c as u32
            ),
        ));
    }
    let mut reader = NsReader::from_str(doc);
    let config = reader.config_mut();
    config.check_comments = true;
    config.check_end_names = true;
    let mut stack: Vec<Open> = Vec::new();
    let mut signatures: Vec<Signature> = Vec::new();
    let mut signature_count = 0usize;
    let mut ids = HashSet::new();
    let mut roots = 0usize;
    let mut first = true;
    loop {
        let at_start = reader.buffer_position() == 0;
        let (ns, event) = reader.read_resolved_event().map_err(malformed)?;
        let ns = match ns {
            ResolveResult::Bound(n) => Some(n.into_inner().to_vec()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(p) => {
                return Err(malformed(format!(
                    "the prefix {:?} is not bound to a namespace",
                    String::from_utf8_lossy(&p)
                )));
            }
        };
        let was_first = std::mem::replace(&mut first, false);
        match event {
            Event::Decl(d) => {
                if !(was_first && at_start) {
                    return Err(refuse(
                        "processing_instruction_forbidden",
                        "an XML declaration is allowed only at the very start",
                    ));
                }
                if !plain_declaration(d.as_ref()) {
                    return Err(malformed(
                        "the XML declaration is not version, encoding and standalone only",
                    ));
                }
                let version = d.version().map_err(malformed)?;
                if version.as_ref() != b"1.0" {
                    return Err(refuse("encoding_forbidden", "only XML 1.0 is read"));
                }
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(malformed)?;
                    let utf8 =
                        enc.eq_ignore_ascii_case(b"utf-8") || enc.eq_ignore_ascii_case(b"utf8");
                    if !utf8 {
                        return Err(refuse(
                            "encoding_forbidden",
                            format!(
                                "the XML declares the encoding {:?}; only UTF-8 is read",
                                String::from_utf8_lossy(&enc)
                            ),
                        ));
                    }
                }
            }
            Event::DocType(_) => {
                return Err(refuse(
                    "dtd_forbidden",
                    "the XML declares a document type or entities",
                ));
            }
            Event::PI(_) => {
                return Err(refuse(
                    "processing_instruction_forbidden",
                    "the XML holds a processing instruction",
                ));
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(malformed)?;
                let known = matches!(&*name, "lt" | "gt" | "amp" | "apos" | "quot");
                if !known && !r.is_char_ref() {
                    return Err(refuse(
                        "dtd_forbidden",
                        format!("the XML refers to the undeclared entity &{name};"),
                    ));
                }
                if let Some(c) = r.resolve_char_ref().map_err(malformed)?
                    && !is_xml_char(c)
                {
                    return Err(malformed(format!("the character reference &{name};")));
                }
                if stack.is_empty() {
                    return Err(malformed("text outside the document element"));
                }
            }
            Event::Text(t) if stack.is_empty() => {
                if t.iter().any(|b| !b.is_ascii_whitespace()) {
                    return Err(malformed("text outside the document element"));
                }
            }
            Event::CData(_) if stack.is_empty() => {
                return Err(malformed("text outside the document element"));
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                if stack.is_empty() {
                    roots += 1;
                    if roots > 1 {
                        return Err(malformed("more than one document element"));
                    }
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed(format!("elements nest deeper than {MAX_DEPTH}")));
                }
                let open = element(
                    &reader,
                    e,
                    ns.as_deref(),
                    &stack,
                    &mut signatures,
                    &mut signature_count,
                    &mut ids,
                )?;
                if empty {
                    close(&open, &mut signatures)?;
                } else {
                    stack.push(open);
                }
            }
            Event::End(_) => {
                let open = stack
                    .pop()
                    .ok_or_else(|| malformed("an end tag without a start"))?;
                close(&open, &mut signatures)?;
            }
            Event::Eof => break,
            Event::Text(_) | Event::CData(_) | Event::Comment(_) => {}
        }
    }
    if roots != 1 || !stack.is_empty() {
        return Err(malformed("no complete document element"));
    }
    Ok(doc)
}

/// XML 1.0's Char production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..=char::MAX)
        && c != '\u{feff}'
}

/// The attributes the rules read, by local name.
#[derive(Default)]
struct Attributes {
    id: Option<String>,
    uris: Vec<String>,
    algorithms: Vec<String>,
}

fn attributes(reader: &NsReader<&[u8]>, e: &BytesStart<'_>) -> Result<Attributes, Refusal> {
    if !is_name(e.name().into_inner()) {
        return Err(malformed("an element name that is not an XML name"));
    }
    if !attributes_separated(e.as_ref()) {
        return Err(malformed(
            "attributes not separated by white space, or a < in a value",
        ));
    }
    let mut out = Attributes::default();
    let mut id_count = 0;
    for attr in e.attributes().with_checks(true) {
        let attr = attr.map_err(malformed)?;
        if !is_name(attr.key.into_inner()) {
            return Err(malformed("an attribute name that is not an XML name"));
        }
        let (ns, local) = reader.resolver().resolve_attribute(attr.key);
        if let ResolveResult::Unknown(p) = ns {
            return Err(malformed(format!(
                "the prefix {:?} is not bound to a namespace",
                String::from_utf8_lossy(&p)
            )));
        }
        let is_xml = matches!(ns, ResolveResult::Bound(n) if n.into_inner() == XML_NS);
        let local = local.into_inner();
        if is_xml && local == b"id" {
            return Err(refuse(
                "reference_forbidden",
                "xml:id attributes are not read (SAML names elements by ID)",
            ));
        }
        if is_xml && local == b"base" {
            return Err(forbidden_reference("an xml:base attribute"));
        }
        // quick-xml reads a namespace declaration's value as written, libxml2 with its
        // references replaced: none are allowed there.
        let key = attr.key.into_inner();
        if (key == b"xmlns" || key.starts_with(b"xmlns:")) && attr.value.contains(&b'&') {
            return Err(malformed("a reference in a namespace declaration"));
        }
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(malformed)?;
        if value.chars().any(|c| !is_xml_char(c)) {
            return Err(malformed(
                "a character reference to a character XML does not allow",
            ));
        }
        match local {
            b"ID" => {
                id_count += 1;
                out.id = Some(value.into_owned());
            }
            b"URI" => out.uris.push(value.into_owned()),
            b"Algorithm" => out.algorithms.push(value.into_owned()),
            _ => {}
        }
    }
    if id_count > 1 {
        return Err(malformed("an element with more than one ID attribute"));
    }
    Ok(out)
}

/// Whether an XML declaration's text (`xml version="1.0" …`) is the version, then optionally an
/// encoding name and a standalone flag, each after white space (quick-xml reads past anything
/// else).
fn plain_declaration(raw: &[u8]) -> bool {
    let Some(mut rest) = raw.strip_prefix(b"xml") else {
        return false;
    };
    let mut seen = Vec::new();
    loop {
        let trimmed = rest.trim_ascii_start();
        if trimmed.is_empty() {
            break;
        }
        if trimmed.len() == rest.len() {
            return false;
        }
        let Some(eq) = trimmed.iter().position(|&b| b == b'=') else {
            return false;
        };
        let key = trimmed[..eq].trim_ascii_end();
        let value = trimmed[eq + 1..].trim_ascii_start();
        let Some(&q @ (b'"' | b'\'')) = value.first() else {
            return false;
        };
        let Some(end) = value[1..].iter().position(|&b| b == q) else {
            return false;
        };
        let v = &value[1..=end];
        let ok = match key {
            b"version" => {
                seen.is_empty()
                    && !v.is_empty()
                    && v.iter().all(|b| b.is_ascii_digit() || *b == b'.')
            }
            b"encoding" => {
                seen == [&b"version"[..]]
                    && !v.is_empty()
                    && v.iter()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            }
            b"standalone" => {
                seen.first() == Some(&&b"version"[..])
                    && !seen.contains(&&b"standalone"[..])
                    && matches!(v, b"yes" | b"no")
            }
            _ => false,
        };
        if !ok {
            return false;
        }
        seen.push(key);
        rest = &value[end + 2..];
    }
    seen.first() == Some(&&b"version"[..])
}

/// Whether `name` is an ASCII XML name (letters, digits, `-._:`, not starting with a digit, `-`
/// or `.`; SAML and XML-DSig use no other): quick-xml takes whatever stands before `=` or white
/// space as a name, libxml2 stops at the first character that is not a name character.
fn is_name(name: &[u8]) -> bool {
    let ok = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':');
    name.first()
        .is_some_and(|b| !b.is_ascii_digit() && !matches!(b, b'-' | b'.'))
        && name.iter().all(ok)
}

/// Whether every attribute value in a start tag's text is free of `<` and followed by white
/// space or the end of the tag (quick-xml reads `a="1"b="2"` as two attributes and lets `<`
/// through; libxml2 recovers from either in its own way).
fn attributes_separated(raw: &[u8]) -> bool {
    let mut quote = None;
    for (i, &b) in raw.iter().enumerate() {
        match quote {
            Some(q) if b == q => {
                quote = None;
                let next = raw.get(i + 1).copied();
                if !matches!(next, None | Some(b' ' | b'\t' | b'\n' | b'\r' | b'/')) {
                    return false;
                }
            }
            Some(_) if b == b'<' => return false,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None => {}
        }
    }
    quote.is_none()
}

/// The checks of one start tag; returns what is kept of it while it is open.
fn element(
    reader: &NsReader<&[u8]>,
    e: &BytesStart<'_>,
    ns: Option<&[u8]>,
    stack: &[Open],
    signatures: &mut Vec<Signature>,
    signature_count: &mut usize,
    ids: &mut HashSet<String>,
) -> Result<Open, Refusal> {
    let attrs = attributes(reader, e)?;
    if let Some(id) = &attrs.id
        && !ids.insert(id.clone())
    {
        return Err(malformed(format!("the ID {id:?} is used twice")));
    }
    let local = String::from_utf8_lossy(e.local_name().into_inner()).into_owned();
    if ns == Some(XINCLUDE) {
        return Err(forbidden_reference("an XInclude element"));
    }
    if attrs.algorithms.len() > 1 {
        return Err(malformed(format!("{local} has more than one Algorithm")));
    }
    let in_fetching = ns.is_some_and(|n| FETCHING.contains(&n));
    if ns != Some(DSIG) {
        if in_fetching && !attrs.uris.is_empty() {
            return Err(forbidden_reference(&format!("a URI on {local}")));
        }
        // exc-c14n's InclusiveNamespaces is the only foreign child a transform may have.
        let parent = stack.last().and_then(|o| o.dsig.as_deref());
        if matches!(parent, Some("Transform" | "CanonicalizationMethod"))
            && !(ns == Some(EXC_C14N.as_bytes()) && local == "InclusiveNamespaces")
        {
            return Err(refuse(
                "transform_forbidden",
                format!("{local} inside a transform"),
            ));
        }
        return Ok(Open {
            dsig: None,
            id: attrs.id,
        });
    }
    let parent = stack.last().and_then(|o| o.dsig.as_deref());
    let algorithm = attrs.algorithms.first().map(String::as_str);
    match local.as_str() {
        "Object" | "Manifest" | "RetrievalMethod" => {
            return Err(forbidden_reference(&format!("a ds:{local}")));
        }
        "Signature" => {
            *signature_count += 1;
            if *signature_count > MAX_SIGNATURES {
                return Err(refuse(
                    "reference_forbidden",
                    format!("more than {MAX_SIGNATURES} signatures"),
                ));
            }
            let parent = stack
                .last()
                .ok_or_else(|| forbidden_reference("a signature as the document"))?;
            signatures.push(Signature {
                parent_id: parent.id.clone(),
                parent_is_root: stack.len() == 1,
                references: 0,
            });
        }
        "Reference" => {
            let signature = signatures
                .last_mut()
                .filter(|_| parent == Some("SignedInfo"))
                .ok_or_else(|| forbidden_reference("a ds:Reference outside a SignedInfo"))?;
            signature.references += 1;
            if signature.references > 1 {
                return Err(forbidden_reference("a second ds:Reference"));
            }
            let [uri] = attrs.uris.as_slice() else {
                return Err(forbidden_reference(
                    "a ds:Reference without exactly one URI",
                ));
            };
            let ok = if uri.is_empty() {
                signature.parent_is_root
            } else {
                uri.strip_prefix('#')
                    .is_some_and(|id| signature.parent_id.as_deref() == Some(id))
            };
            if !ok {
                return Err(forbidden_reference(&format!("the reference {uri:?}")));
            }
        }
        "Transform"
            if (parent != Some("Transforms")
                || !matches!(algorithm, Some(ENVELOPED | EXC_C14N))) =>
        {
            return Err(refuse(
                "transform_forbidden",
                format!(
                    "the transform {:?}: only enveloped-signature and exclusive canonicalization are read",
                    algorithm.unwrap_or_default()
                ),
            ));
        }
        "CanonicalizationMethod" if algorithm != Some(EXC_C14N) => {
            return Err(refuse(
                "transform_forbidden",
                format!(
                    "the canonicalization {:?}: only exclusive canonicalization without comments is read",
                    algorithm.unwrap_or_default()
                ),
            ));
        }
        _ => {}
    }
    if !attrs.uris.is_empty() && local != "Reference" {
        return Err(forbidden_reference(&format!("a URI on ds:{local}")));
    }
    if matches!(parent, Some("Transform" | "CanonicalizationMethod")) {
        return Err(refuse(
            "transform_forbidden",
            format!("ds:{local} inside a transform"),
        ));
    }
    Ok(Open {
        dsig: Some(local),
        id: attrs.id,
    })
}

/// The checks when an element ends.
fn close(open: &Open, signatures: &mut Vec<Signature>) -> Result<(), Refusal> {
    if open.dsig.as_deref() == Some("Signature") {
        let s = signatures.pop().expect("a signature was opened");
        if s.references != 1 {
            return Err(forbidden_reference("a signature without one ds:Reference"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0">
  <saml:Issuer>https://idp.example/</saml:Issuer>
  <saml:Assertion ID="_a1" Version="2.0">
    <saml:Issuer>https://idp.example/</saml:Issuer>
    <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
      <ds:SignedInfo>
        <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
        <ds:Reference URI="#_a1">
          <ds:Transforms>
            <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
            <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform>
          </ds:Transforms>
          <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
          <ds:DigestValue>AAAA</ds:DigestValue>
        </ds:Reference>
      </ds:SignedInfo>
      <ds:SignatureValue>AAAA</ds:SignatureValue>
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </ds:Signature>
    <saml:Subject><saml:NameID>grace&#64;acme.test &amp; co</saml:NameID></saml:Subject>
  </saml:Assertion>
</samlp:Response>"##;

    fn reason(xml: &str) -> &'static str {
        screen(xml).err().map_or("accepted", |r| r.reason)
    }

    #[test]
    fn a_genuine_shape_passes_trimmed() {
        let padded = format!("\u{feff}\n {SIGNED}\n");
        assert_eq!(screen(&padded), Ok(SIGNED));
    }

    #[test]
    fn every_hostile_variant_is_refused() {
        let cases: Vec<(String, &str)> = vec![
            (SIGNED.replace("URI=\"#_a1\"", "URI=\"file:///dev/zero\""), "reference_forbidden"),
            (SIGNED.replace("URI=\"#_a1\"", "URI=\"http://10.0.0.1/\""), "reference_forbidden"),
            (SIGNED.replace("URI=\"#_a1\"", "URI=\"&#x66;ile:///etc/passwd\""), "reference_forbidden"),
            (SIGNED.replace("URI=\"#_a1\"", "URI=\"#xpointer(/)\""), "reference_forbidden"),
            // The response's ID, not the enclosing assertion's.
            (SIGNED.replace("URI=\"#_a1\"", "URI=\"#_r1\""), "reference_forbidden"),
            (SIGNED.replace("URI=\"#_a1\"", "URI=\"\""), "reference_forbidden"),
            (SIGNED.replace("URI=\"#_a1\"", "URI=\"#_a1\" xmlns:x=\"urn:x\" x:URI=\"file:///dev/zero\""), "reference_forbidden"),
            (SIGNED.replace("URI=\"#_a1\"", ""), "reference_forbidden"),
            (SIGNED.replace("<ds:SignatureValue>", "<ds:Object><ds:Manifest><ds:Reference URI=\"http://x/\"/></ds:Manifest></ds:Object><ds:SignatureValue>"), "reference_forbidden"),
            (SIGNED.replace("<ds:X509Data>", "<ds:RetrievalMethod URI=\"http://x/\"/><ds:X509Data>"), "reference_forbidden"),
            (SIGNED.replace("</ds:Reference>", "</ds:Reference><ds:Reference URI=\"#_a1\"/>"), "reference_forbidden"),
            (SIGNED.replace("xmldsig#enveloped-signature", "xmldsig#base64"), "transform_forbidden"),
            (SIGNED.replace("<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>", "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\"><xsl:stylesheet xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\"/></ds:Transform>"), "transform_forbidden"),
            (SIGNED.replace("ec:InclusiveNamespaces xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\"", "ds:XPath"), "transform_forbidden"),
            (SIGNED.replacen("xml-exc-c14n#\"/>", "xml-exc-c14n#WithComments\"/>", 1), "transform_forbidden"),
            (SIGNED.replace("?>\n", "?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"), "dtd_forbidden"),
            (SIGNED.replace("&#64;", "&x;"), "dtd_forbidden"),
            (SIGNED.replace("?>\n", "?><?xml-stylesheet href=\"http://x/\"?>\n"), "processing_instruction_forbidden"),
            (format!("<!-- c -->{SIGNED}"), "processing_instruction_forbidden"),
            (SIGNED.replace("encoding=\"UTF-8\"", "encoding=\"UTF-7\""), "encoding_forbidden"),
            (SIGNED.replace("encoding=\"UTF-8\"", "encoding=\"UTF-16\""), "encoding_forbidden"),
            (SIGNED.replace("version=\"1.0\"", "version=\"1.1\""), "encoding_forbidden"),
            (SIGNED.replace('<', "\0<"), "encoding_forbidden"),
            ("<?xml version=\"1.0\" encoding=\"UTF-7\"?>+ADw-!DOCTYPE r+AD4-<r/>".into(), "encoding_forbidden"),
            (SIGNED.replace("ID=\"_r1\"", "ID=\"_a1\""), "malformed_xml"),
            (SIGNED.replace("ID=\"_r1\"", "ID=\"_r1\" xmlns:y=\"urn:y\" y:ID=\"_r2\""), "malformed_xml"),
            (SIGNED.replace("ID=\"_r1\"", "xml:id=\"_r1\""), "reference_forbidden"),
            (SIGNED.replace("<saml:Issuer>", "<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"file:///etc/passwd\"/><saml:Issuer>"), "reference_forbidden"),
            (SIGNED.replace("<saml:Issuer>", "<q:Issuer>"), "malformed_xml"),
            (format!("{SIGNED}<x/>"), "malformed_xml"),
            (SIGNED.replace("</samlp:Response>", ""), "malformed_xml"),
            (SIGNED.replace("<saml:Subject>", "<x:EncryptedData xmlns:x=\"http://www.w3.org/2001/04/xmlenc#\"><x:CipherReference URI=\"http://x/\"/></x:EncryptedData><saml:Subject>"), "reference_forbidden"),
            (format!("{}{}", "<a>".repeat(60), "</a>".repeat(60)), "malformed_xml"),
        ];
        for (xml, expected) in &cases {
            assert_eq!(reason(xml), *expected, "{xml}");
        }
        // More than two signatures.
        let third = SIGNED.replace(
            "<saml:Subject>",
            "<saml:Advice ID=\"_b\"><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo><ds:Reference URI=\"#_b\"/></ds:SignedInfo></ds:Signature></saml:Advice><saml:Subject>",
        );
        assert_eq!(reason(&third), "accepted", "two signatures pass");
        let fourth = third.replace("<saml:Issuer>https://idp.example/</saml:Issuer>\n    <ds:Signature", "<saml:Issuer>https://idp.example/</saml:Issuer><x ID=\"_c\"><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo><ds:Reference URI=\"#_c\"/></ds:SignedInfo></ds:Signature></x>\n    <ds:Signature");
        assert_eq!(reason(&fourth), "reference_forbidden");
    }

    #[test]
    fn a_whole_document_reference_needs_the_signature_under_the_root() {
        let root = SIGNED
            .replace("URI=\"#_a1\"", "URI=\"\"")
            .replace("<saml:Assertion ID=\"_a1\" Version=\"2.0\">", "")
            .replace("</saml:Assertion>", "");
        assert_eq!(reason(&root), "accepted");
    }
}
