//! The screen (`watchword_domain::saml_xml`, a quick-xml parse) against libxml2, the parser the
//! signature library reads with: over documents generated from a signed response's shape with
//! hostile pieces inserted anywhere, every document the screen lets through is one in which
//! libxml2 sees no document type, entity, processing instruction or XInclude, and whose
//! signatures reference only the element they sit in, with the allowed transforms. A
//! difference between the two parsers is what an attacker would use.

use libxml::tree::{Node, NodeType};
use proptest::prelude::*;
use watchword_domain::saml_xml::screen;

const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";

const SEED: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1"><saml:Issuer>i</saml:Issuer><saml:Assertion ID="_a1"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_a1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature><saml:Subject><saml:NameID>grace@acme.test</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>"##;

/// Pieces an attacker would try, inserted at any byte.
const PIECES: &[&str] = &[
    "<!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
    "<!ENTITY e \"x\">",
    "&e;",
    "&#60;",
    "&#x3C;!DOCTYPE",
    "&amp;",
    "&#0;",
    "<?pi x?>",
    "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
    " encoding=\"UTF-7\"",
    "+ADw-!DOCTYPE",
    "<ds:Reference URI=\"http://127.0.0.1:9/\"/>",
    "<Reference xmlns=\"http://www.w3.org/2000/09/xmldsig#\" URI=\"file:///dev/zero\"/>",
    " URI=\"file:///dev/zero\"",
    " x:URI=\"http://a/\" xmlns:x=\"urn:x\"",
    " URI=\"&#x66;ile:///x\"",
    " URI=\"#_r1\"",
    " ID=\"_a1\"",
    " ID=\"_z\"",
    " xml:id=\"_a1\"",
    " xml:base=\"http://x/\"",
    " xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"",
    " xmlns=\"http://www.w3.org/2000/09/xmldsig#\"",
    " xmlns:ds=\"\"",
    " xmlns:ds=\"urn:other\"",
    "<ds:Signature>",
    "</ds:Signature>",
    "<ds:SignedInfo>",
    "<ds:Object><ds:Manifest><ds:Reference URI=\"http://x/\"/></ds:Manifest></ds:Object>",
    "<ds:RetrievalMethod URI=\"http://x/\"/>",
    "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>1</ds:XPath></ds:Transform>",
    "<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"/etc/passwd\"/>",
    "<![CDATA[<ds:Reference URI=\"http://x/\"/>]]>",
    "<!--",
    "-->",
    "<!-- a -->",
    "]]>",
    "\"",
    "'",
    "<",
    ">",
    "&",
    "=",
    "/",
    "\0",
    "\u{feff}",
    "\r\n",
    "&#10;",
    "\u{85}",
    "<a>",
    "</a>",
    "<a/>",
];

fn dsig(n: &Node, name: &str) -> bool {
    n.get_type() == Some(NodeType::ElementNode)
        && n.get_name() == name
        && n.get_namespace().is_some_and(|ns| ns.get_href() == DSIG)
}

fn children(n: &Node) -> Vec<Node> {
    let mut out = Vec::new();
    let mut c = n.get_first_child();
    while let Some(x) = c {
        c = x.get_next_sibling();
        out.push(x);
    }
    out
}

/// What libxml2 sees of an accepted document, checked against the screen's rules.
fn libxml_agrees(doc: &str) -> Result<(), String> {
    let parsed = libxml::parser::Parser::default()
        .parse_string(doc)
        .map_err(|_| "libxml2 read nothing".to_owned())?;
    // SAFETY: reads a field of a live document.
    if unsafe { !(*parsed.doc_ptr()).intSubset.is_null() } {
        return Err("a DTD".into());
    }
    let root = parsed.get_root_element().ok_or("no root")?;
    let mut todo: Vec<Node> = root.get_parent().map(|d| children(&d)).unwrap_or_default();
    let mut signatures = 0;
    while let Some(n) = todo.pop() {
        match n.get_type() {
            Some(NodeType::ElementNode) => {}
            Some(NodeType::TextNode | NodeType::CommentNode | NodeType::CDataSectionNode) => {
                continue;
            }
            other => return Err(format!("a node of type {other:?}")),
        }
        if n.get_namespace()
            .is_some_and(|ns| ns.get_href().contains("XInclude"))
        {
            return Err("XInclude".into());
        }
        for bad in ["Object", "Manifest", "RetrievalMethod"] {
            if dsig(&n, bad) {
                return Err(format!("ds:{bad}"));
            }
        }
        if dsig(&n, "Signature") {
            signatures += 1;
        }
        if dsig(&n, "Reference") {
            let uri = n.get_attribute("URI").ok_or("a reference without URI")?;
            let info = n
                .get_parent()
                .filter(|p| dsig(p, "SignedInfo"))
                .ok_or("Reference outside SignedInfo")?;
            let signature = info
                .get_parent()
                .filter(|p| dsig(p, "Signature"))
                .ok_or("SignedInfo outside Signature")?;
            let signed = signature.get_parent().ok_or("a signature without parent")?;
            let id = signed.get_attribute("ID").unwrap_or_default();
            let whole = uri.is_empty()
                && signed.get_parent().and_then(|p| p.get_type()) == Some(NodeType::DocumentNode);
            if !(whole || (!id.is_empty() && uri == format!("#{id}"))) {
                return Err(format!("the reference {uri:?} (signed element ID {id:?})"));
            }
        }
        if dsig(&n, "Transform") || dsig(&n, "CanonicalizationMethod") {
            let alg = n.get_attribute("Algorithm").unwrap_or_default();
            let ok = alg == "http://www.w3.org/2001/10/xml-exc-c14n#"
                || (dsig(&n, "Transform")
                    && alg == "http://www.w3.org/2000/09/xmldsig#enveloped-signature");
            if !ok {
                return Err(format!("the transform {alg:?}"));
            }
        }
        todo.extend(children(&n));
    }
    if signatures > 2 {
        return Err(format!("{signatures} signatures"));
    }
    Ok(())
}

fn mutate(insertions: &[(usize, usize)]) -> String {
    let mut doc = SEED.to_owned();
    for &(at, piece) in insertions {
        let at = at % (doc.len() + 1);
        let at = (0..=at)
            .rev()
            .find(|&i| doc.is_char_boundary(i))
            .unwrap_or(0);
        doc.insert_str(at, PIECES[piece % PIECES.len()]);
    }
    doc
}

#[test]
fn the_seed_passes_both() {
    assert_eq!(screen(SEED).map(|_| ()), Ok(()));
    libxml_agrees(SEED).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn what_the_screen_accepts_libxml2_reads_the_same(
        insertions in proptest::collection::vec((any::<usize>(), any::<usize>()), 1..4)
    ) {
        let doc = mutate(&insertions);
        if let Ok(accepted) = screen(&doc)
            && let Err(why) = libxml_agrees(accepted) {
                prop_assert!(false, "accepted, but libxml2 sees {}: {:?}", why, accepted);
            }
    }
}
