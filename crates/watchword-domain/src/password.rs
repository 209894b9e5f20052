//! The password policy (seed 000: at least 12 characters with letters, numbers and symbols, not
//! common, not about the person) and Argon2id hashing to PHC strings.

use crate::sealed::Keyring;
use crate::{DomainError, EmailAddress, FieldError};
use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, KeyId, Params, ParamsBuilder, Version};
use std::fmt;

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 256;

/// A password as typed. Its Debug never prints it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(raw: String) -> Self {
        Self(raw)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A rule of the policy that a candidate password broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyRule {
    TooShort,
    TooLong,
    NeedsLetter,
    NeedsNumber,
    NeedsSymbol,
    ContainsPersonalInfo,
    Common,
    TooGuessable,
}

impl PolicyRule {
    pub fn code(self) -> &'static str {
        match self {
            PolicyRule::TooShort => "password_too_short",
            PolicyRule::TooLong => "password_too_long",
            PolicyRule::NeedsLetter => "password_needs_letter",
            PolicyRule::NeedsNumber => "password_needs_number",
            PolicyRule::NeedsSymbol => "password_needs_symbol",
            PolicyRule::ContainsPersonalInfo => "password_contains_personal_info",
            PolicyRule::Common => "password_common",
            PolicyRule::TooGuessable => "password_too_guessable",
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            PolicyRule::TooShort => "use at least 12 characters",
            PolicyRule::TooLong => "use at most 256 characters",
            PolicyRule::NeedsLetter => "include at least one letter",
            PolicyRule::NeedsNumber => "include at least one number",
            PolicyRule::NeedsSymbol => "include at least one symbol",
            PolicyRule::ContainsPersonalInfo => {
                "do not use your name or email address in your password"
            }
            PolicyRule::Common => {
                "this password is too common; it appears in lists of leaked passwords"
            }
            PolicyRule::TooGuessable => {
                "this password is too easy to guess; add more unrelated words or characters"
            }
        }
    }
}

/// Checks a candidate password for a person; returns every rule it breaks (empty when accepted).
pub fn policy_violations(pw: &Password, email: &EmailAddress, name: &str) -> Vec<PolicyRule> {
    let s = pw.expose();
    let len = s.chars().count();
    let mut out = Vec::new();
    if len < MIN_LEN {
        out.push(PolicyRule::TooShort);
    }
    if len > MAX_LEN {
        // Do not run the estimator on huge inputs; its cost grows with length.
        out.push(PolicyRule::TooLong);
        return out;
    }
    if !s.chars().any(char::is_alphabetic) {
        out.push(PolicyRule::NeedsLetter);
    }
    if !s.chars().any(|c| c.is_numeric()) {
        out.push(PolicyRule::NeedsNumber);
    }
    if !s
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
    {
        out.push(PolicyRule::NeedsSymbol);
    }
    let lower = s.to_lowercase();
    let mut personal: Vec<String> = vec![email.as_str().to_owned(), email.local_part().to_owned()];
    personal.extend(name.to_lowercase().split_whitespace().map(str::to_owned));
    personal.push(name.to_lowercase().replace(' ', ""));
    if personal
        .iter()
        .any(|p| p.chars().count() >= 3 && lower.contains(p.as_str()))
    {
        out.push(PolicyRule::ContainsPersonalInfo);
    }
    if len == 0 {
        return out;
    }
    let inputs: Vec<&str> = personal.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(s, &inputs);
    if is_common(s, estimate.sequence()) {
        out.push(PolicyRule::Common);
    } else if estimate.score() < zxcvbn::Score::Three {
        out.push(PolicyRule::TooGuessable);
    }
    out
}

/// A password is common when, stripped of leading and trailing digits and symbols (the usual
/// decorations that satisfy composition rules), its core is one entry of the leaked-password list.
fn is_common(s: &str, sequence: &[zxcvbn::Match]) -> bool {
    let core: &str = s.trim_matches(|c: char| !c.is_alphabetic());
    if core.chars().count() < 3 {
        return false;
    }
    sequence.iter().any(|m| match &m.pattern {
        zxcvbn::matching::patterns::MatchPattern::Dictionary(d) => {
            // zxcvbn does not export its dictionary enum; its default variant is the
            // leaked-password list.
            d.dictionary_name == Default::default()
                && m.token.to_lowercase().contains(&core.to_lowercase())
        }
        _ => false,
    })
}

/// Validates a new password, turning every broken rule into a field error.
pub fn check_policy(pw: &Password, email: &EmailAddress, name: &str) -> Result<(), DomainError> {
    let broken = policy_violations(pw, email, name);
    if broken.is_empty() {
        return Ok(());
    }
    let fields = broken
        .iter()
        .map(|r| FieldError {
            field: "password",
            code: r.code(),
            message: r.message().to_owned(),
        })
        .collect();
    let message = broken
        .iter()
        .map(|r| r.message())
        .collect::<Vec<_>>()
        .join("; ");
    Err(DomainError::Invalid {
        code: "password_policy",
        message: format!("password rejected: {message}"),
        fields,
    })
}

/// Argon2id parameters; the OWASP minimum is the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl HashParams {
    pub const OWASP_MIN: HashParams = HashParams {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };

    pub fn new(m_kib: u32, t: u32, p: u32) -> Result<Self, String> {
        let min = Self::OWASP_MIN;
        if m_kib < min.m_kib || t < min.t || p < min.p {
            return Err(format!(
                "argon2 parameters m={m_kib} t={t} p={p} are below the OWASP minimum m={} t={} p={}",
                min.m_kib, min.t, min.p
            ));
        }
        Ok(Self { m_kib, t, p })
    }

    fn argon2(self) -> Argon2<'static> {
        let params =
            Params::new(self.m_kib, self.t, self.p, None).expect("parameters validated in new");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Hashes to a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), without a pepper.
    pub fn hash(self, pw: &Password) -> String {
        self.hash_in(pw, &mut Memory::default(), None)
    }

    /// Verifies with the parameters recorded in the PHC string, without a pepper.
    pub fn verify(self, pw: &Password, phc: &str) -> Verified {
        self.verify_in(pw, phc, &mut Memory::default(), None)
    }

    /// [`Self::hash`] in `memory`, which is grown as needed and kept for the next hash. With
    /// `peppers`, the ring's current key is Argon2's secret input and its id is recorded in the
    /// string (`m=…,t=…,p=…,keyid=…`): a copy of the database alone cannot test guesses.
    pub fn hash_in(self, pw: &Password, memory: &mut Memory, peppers: Option<&Keyring>) -> String {
        let plain = self.argon2();
        let peppered = peppers.map(|ring| {
            let (id, key) = ring.current_key();
            let params = ParamsBuilder::new()
                .m_cost(self.m_kib)
                .t_cost(self.t)
                .p_cost(self.p)
                .keyid(KeyId::new(id.as_bytes()).expect("pepper ids are checked at load"))
                .build()
                .expect("parameters validated in new");
            Argon2::new_with_secret(key, Algorithm::Argon2id, Version::V0x13, params)
                .expect("a 32-byte pepper is a valid Argon2 secret")
        });
        let argon = peppered.as_ref().unwrap_or(&plain);
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the operating system gives random bytes");
        let mut out = [0u8; 32];
        argon
            .hash_password_into_with_memory(
                pw.expose().as_bytes(),
                &salt,
                &mut out,
                memory.blocks(argon.params().block_count()),
            )
            .expect("argon2 hashing with validated parameters cannot fail");
        PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: argon
                .params()
                .try_into()
                .expect("validated parameters encode"),
            salt: Some(Salt::new(&salt).expect("16 bytes is a valid salt")),
            hash: Some(Output::new(&out).expect("32 bytes is a valid output")),
        }
        .to_string()
    }

    /// [`Self::verify`] in `memory`: recomputes the hash with the string's own algorithm,
    /// version, parameters, salt and pepper (the ring's key named by `keyid`; a string naming a
    /// key the ring lacks verifies nothing), and compares the outputs in constant time. A hash
    /// without the current pepper asks for a rehash.
    pub fn verify_in(
        self,
        pw: &Password,
        phc: &str,
        memory: &mut Memory,
        peppers: Option<&Keyring>,
    ) -> Verified {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return Verified::No;
        };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Verified::No;
        };
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm.as_str()),
            Params::try_from(&parsed),
        ) else {
            return Verified::No;
        };
        let version = match parsed.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(v)) => v,
            Some(Err(_)) => return Verified::No,
        };
        let keyid = params.keyid().to_vec();
        let argon = if keyid.is_empty() {
            Argon2::new(algorithm, version, params)
        } else {
            let key = std::str::from_utf8(&keyid)
                .ok()
                .and_then(|id| peppers.and_then(|ring| ring.key(id)));
            match key.map(|k| Argon2::new_with_secret(k, algorithm, version, params)) {
                Some(Ok(argon)) => argon,
                _ => return Verified::No,
            }
        };
        let mut out = vec![0u8; expected.len()];
        let computed = argon.hash_password_into_with_memory(
            pw.expose().as_bytes(),
            salt.as_ref(),
            &mut out,
            memory.blocks(argon.params().block_count()),
        );
        if computed.is_err() || Output::new(&out).ok().as_ref() != Some(expected) {
            return Verified::No;
        }
        let current = argon.params();
        let peppered_now = peppers.is_none_or(|ring| keyid == ring.current_key().0.as_bytes());
        let up_to_date = algorithm == Algorithm::Argon2id
            && current.m_cost() >= self.m_kib
            && current.t_cost() >= self.t
            && current.p_cost() >= self.p
            && peppered_now;
        if up_to_date {
            Verified::Yes
        } else {
            Verified::YesNeedsRehash
        }
    }
}

/// The id of the pepper a PHC string names (`keyid`), if any.
pub fn pepper_id(phc: &str) -> Option<String> {
    let parsed = PasswordHash::new(phc).ok()?;
    let params = Params::try_from(&parsed).ok()?;
    let id = std::str::from_utf8(params.keyid()).ok()?;
    (!id.is_empty()).then(|| id.to_owned())
}

/// Argon2's working memory (`m` KiB), kept between hashes: a server reuses one per concurrent
/// hash instead of asking the allocator for 19 MiB each time (which glibc keeps in its arenas
/// once freed, so a login flood would leave the process holding many of them).
#[derive(Default)]
pub struct Memory(Vec<Block>);

impl Memory {
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0 = vec![Block::default(); count];
        }
        &mut self.0[..count]
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.0.len() * Block::SIZE
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    YesNeedsRehash,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pw: &str) -> Vec<PolicyRule> {
        let email = EmailAddress::parse("ada.lovelace@example.com").unwrap();
        policy_violations(&Password::new(pw.into()), &email, "Ada Lovelace")
    }

    #[test]
    fn each_rule_is_reported() {
        use PolicyRule::*;
        assert!(rules("Sh0rt!x").contains(&TooShort));
        assert_eq!(rules(&"aB3$".repeat(65)), vec![TooLong]);
        assert!(rules("1234567890123!!").contains(&NeedsLetter));
        assert!(rules("correct-horse-battery").contains(&NeedsNumber));
        assert!(rules("correct7horse7battery").contains(&NeedsSymbol));
        assert!(rules("lovelace#2024-rocks").contains(&ContainsPersonalInfo));
        assert!(rules("ada.lovelace@example.com1").contains(&ContainsPersonalInfo));
        assert!(rules("Password123!").contains(&Common));
        assert!(
            rules("qwertyuiop1!")
                .iter()
                .any(|r| *r == Common || *r == TooGuessable)
        );
        assert_eq!(rules("vivid-Lantern-47-orbit!"), vec![]);
    }

    #[test]
    fn debug_never_shows_the_password() {
        assert_eq!(
            format!("{:?}", Password::new("hunter2".into())),
            "Password(<redacted>)"
        );
    }

    #[test]
    fn hash_verify_and_rehash() {
        let pw = Password::new("vivid-Lantern-47-orbit!".into());
        let p = HashParams::OWASP_MIN;
        let phc = p.hash(&pw);
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(p.verify(&pw, &phc), Verified::Yes);
        assert_eq!(p.verify(&Password::new("other".into()), &phc), Verified::No);
        let stronger = HashParams::new(19 * 1024, 3, 1).unwrap();
        assert_eq!(stronger.verify(&pw, &phc), Verified::YesNeedsRehash);
        assert!(HashParams::new(4096, 2, 1).is_err());
        assert_eq!(p.verify(&pw, "not a phc"), Verified::No);
    }
}

#[cfg(test)]
mod hashing_tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hashes_in_reused_memory_agree_with_argon2s_own_api() {
        let params = HashParams::OWASP_MIN;
        let pw = Password::new("vivid-Lantern-47-orbit!".into());
        let mut memory = Memory::default();
        // Ours, checked by argon2's own verifier; and argon2's, checked by ours.
        let ours = params.hash_in(&pw, &mut memory, None);
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            params
                .argon2()
                .verify_password(b"vivid-Lantern-47-orbit!", &parsed)
                .is_ok()
        );
        let theirs = params
            .argon2()
            .hash_password(b"vivid-Lantern-47-orbit!")
            .unwrap()
            .to_string();
        assert_eq!(
            params.verify_in(&pw, &theirs, &mut memory, None),
            Verified::Yes
        );
        // The same memory serves every later hash; wrong passwords and strings are refused.
        let held = memory.size();
        assert_eq!(held, 19 * 1024 * 1024);
        assert_eq!(
            params.verify_in(&pw, &ours, &mut memory, None),
            Verified::Yes
        );
        let wrong = Password::new("vivid-Lantern-47-orbit?".into());
        assert_eq!(
            params.verify_in(&wrong, &ours, &mut memory, None),
            Verified::No
        );
        assert_eq!(
            params.verify_in(&pw, "$argon2id$v=19$garbage", &mut memory, None),
            Verified::No
        );
        assert_eq!(memory.size(), held);
        // Weaker stored parameters verify, and ask for a rehash.
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(b"vivid-Lantern-47-orbit!")
        .unwrap()
        .to_string();
        assert_eq!(
            params.verify_in(&pw, &weak, &mut memory, None),
            Verified::YesNeedsRehash
        );
    }

    #[test]
    fn a_pepper_is_needed_to_verify_and_rotates_by_rehash() {
        let params = HashParams::OWASP_MIN;
        let pw = Password::new("vivid-Lantern-47-orbit!".into());
        let mut memory = Memory::default();
        let p1 = Keyring::parse(&Keyring::new_entry("p1")).unwrap();
        let hash = params.hash_in(&pw, &mut memory, Some(&p1));
        assert!(hash.contains(",keyid="), "{hash}");
        assert_eq!(
            params.verify_in(&pw, &hash, &mut memory, Some(&p1)),
            Verified::Yes
        );
        // Without the pepper, or with another key under the same id, nothing verifies.
        assert_eq!(
            params.verify_in(&pw, &hash, &mut memory, None),
            Verified::No
        );
        let other = Keyring::parse(&Keyring::new_entry("p1")).unwrap();
        assert_eq!(
            params.verify_in(&pw, &hash, &mut memory, Some(&other)),
            Verified::No
        );
        // A new current pepper: the old hash still verifies, and asks to be rehashed under it.
        let both =
            Keyring::parse(&format!("{},{}", p1_entry(&p1), Keyring::new_entry("p2"))).unwrap();
        assert_eq!(
            params.verify_in(&pw, &hash, &mut memory, Some(&both)),
            Verified::YesNeedsRehash
        );
        // A hash from before peppers verifies, and asks for a rehash.
        assert_eq!(pepper_id(&hash).as_deref(), Some("p1"));
        let plain = params.hash_in(&pw, &mut memory, None);
        assert_eq!(pepper_id(&plain), None);
        assert_eq!(
            params.verify_in(&pw, &plain, &mut memory, Some(&p1)),
            Verified::YesNeedsRehash
        );
        let wrong = Password::new("vivid-Lantern-47-orbit?".into());
        assert_eq!(
            params.verify_in(&wrong, &hash, &mut memory, Some(&p1)),
            Verified::No
        );
    }

    fn p1_entry(ring: &Keyring) -> String {
        use base64::Engine;
        let (id, key) = ring.current_key();
        format!(
            "{id}:{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    }
}
