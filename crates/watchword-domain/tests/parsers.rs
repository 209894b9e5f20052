//! Every parser of untrusted input, over the hostile seeds kept in `tests/seeds/hostile.txt` and
//! over generated input (proptest): none panics, and what one accepts has the promised form.

use proptest::prelude::*;
use watchword_domain::password::{self, Password};
use watchword_domain::scope::ScopeSet;
use watchword_domain::sms::PhoneNumber;
use watchword_domain::text::is_invisible;
use watchword_domain::*;

/// The seeds, unescaped.
fn seeds() -> Vec<String> {
    include_str!("seeds/hostile.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(unescape)
        .collect()
}

fn unescape(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let hex = |n: usize, chars: &mut std::str::Chars<'_>| {
            let h: String = chars.take(n).collect();
            char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap()
        };
        match chars.next() {
            Some('x') => out.push(hex(2, &mut chars)),
            Some('u') => out.push(hex(4, &mut chars)),
            Some('U') => out.push(hex(8, &mut chars)),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Runs every parser on `s`, checking what each accepts.
fn check_all(s: &str) {
    if let Ok(e) = EmailAddress::parse(s) {
        let text = e.as_str();
        assert!(
            text.len() <= 254 && text.matches('@').count() == 1,
            "{text:?}"
        );
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || is_invisible(c)),
            "{text:?}"
        );
        let domain = text.rsplit('@').next().unwrap();
        assert!(domain.is_ascii(), "domain kept in ASCII form: {text:?}");
        assert_eq!(
            EmailAddress::parse(text).as_ref(),
            Ok(&e),
            "one address, one form"
        );
    }
    for name in [
        PersonName::parse(s).map(|n| n.as_str().to_owned()),
        AccountName::parse(s).map(|n| n.as_str().to_owned()),
    ]
    .into_iter()
    .flatten()
    {
        assert!(
            !name.is_empty() && name.chars().count() <= 100 && name == name.trim(),
            "{name:?}"
        );
        assert!(
            !name.chars().any(|c| c.is_control() || is_invisible(c)),
            "{name:?}"
        );
    }
    if let Ok(p) = PhoneNumber::parse(s) {
        let e164 = p.as_str();
        assert!(
            e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()),
            "{e164}"
        );
        assert!((9..=16).contains(&e164.len()), "{e164}");
        assert_eq!(PhoneNumber::parse(e164).unwrap().as_str(), e164);
    }
    assert!(!api_key::is_well_formed(api_key::DEFAULT_PREFIX, s) || s.len() == 51);
    for (_, key) in api_key::find_all(api_key::DEFAULT_PREFIX, s.as_bytes()) {
        assert!(api_key::is_well_formed(api_key::DEFAULT_PREFIX, key));
    }
    if let Ok(set) = ScopeSet::parse_all(s.split(',')) {
        assert_eq!(ScopeSet::decode(&set.encode()), Ok(set));
    }
    let _ = ScopeSet::decode(s);
    if let Ok(set) = PermissionSet::parse_all(s.split(',')) {
        assert_eq!(PermissionSet::decode(&set.encode()), Ok(set));
    }
    let _ = PermissionSet::decode(s);
    if let Some(m) = mfa::Method::parse(s) {
        assert_eq!(m.as_str(), s);
    }
    let _ = mfa::hash_recovery_code(s);
    assert!(mfa::check_totp(&[7u8; 20], s, 1_800_000_000, None).is_none() || s.trim().len() == 6);
    let _ = sealed::Keyring::parse(s);
    let _ = Millis::parse_rfc3339(s);
    let email = EmailAddress::parse("ada@example.com").unwrap();
    let _ = password::policy_violations(&Password::new(s.to_owned()), &email, "Ada");
}

#[test]
fn the_hostile_seeds() {
    let seeds = seeds();
    assert!(seeds.len() > 40);
    for s in &seeds {
        check_all(s);
    }
    // Seeds that must be refused.
    for bad in [
        "ad\u{200B}a@example.com",
        "p\u{0430}ypal@example.com",
        "\u{202E}ada@example.com",
        "ada\u{0}@example.com",
    ] {
        assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_generated_key_is_well_formed_and_any_changed_character_breaks_it() {
    let key = api_key::generate(api_key::DEFAULT_PREFIX);
    assert!(api_key::is_well_formed(api_key::DEFAULT_PREFIX, &key));
    let bytes = key.as_bytes();
    for i in api_key::DEFAULT_PREFIX.len()..bytes.len() {
        let mut changed = bytes.to_vec();
        changed[i] = if changed[i] == b'a' { b'b' } else { b'a' };
        let changed = String::from_utf8(changed).unwrap();
        assert!(
            !api_key::is_well_formed(api_key::DEFAULT_PREFIX, &changed),
            "{changed}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_text(s in any::<String>()) {
        check_all(&s);
    }

    #[test]
    fn email_shaped_text(local in "[a-zA-Z0-9._+\u{0400}-\u{04FF}\u{200B}-\u{200F}-]{0,12}", domain in "[a-z\u{00E0}-\u{00FF}\u{0430}-\u{044F}.-]{0,12}") {
        check_all(&format!("{local}@{domain}"));
    }

    #[test]
    fn phone_shaped_text(s in "[+]?[0-9 ().\u{0660}-\u{0669}-]{0,20}") {
        check_all(&s);
    }

    #[test]
    fn key_shaped_text(body in "[0-9A-Za-z]{40,50}", glue in "[ a-z_]{0,2}") {
        let text = format!("{glue}ww_{body}{glue}");
        check_all(&text);
        let key = api_key::generate(api_key::DEFAULT_PREFIX);
        let found: Vec<_> = api_key::find_all(api_key::DEFAULT_PREFIX, format!("{glue} {key} {glue}").as_bytes()).map(|(_, k)| k.to_owned()).collect();
        prop_assert_eq!(found, vec![key]);
    }
}
