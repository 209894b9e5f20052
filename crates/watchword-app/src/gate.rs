//! The one gate: every session opens here, and only for a [`SignInProof`]. A proof has private
//! fields and is built only by the constructors below, each from the evidence its sign-in path
//! produced: a matched password for a person with no second factor, a second factor passed on a
//! login challenge, a verified passkey, an emailed link followed by a new person, or an identity
//! an SSO connection's provider asserted and watchword verified. No other code can open a
//! session.

use crate::limits::{self, Limit};
use crate::mfa::Proof;
use crate::sessions::{IssuedSession, SessionMode};
use crate::{App, AppError, Meta};
use watchword_domain::mfa::Method;
use watchword_domain::password::{Password, Verified};
use watchword_domain::token::{hash_token, random_token};
use watchword_domain::*;
use watchword_store::mfa as store;
use watchword_store::sessions::{self, NewSession};
use watchword_store::{Conn, persons};

/// How long a login challenge lives.
pub(crate) const CHALLENGE_TTL_SECS: i64 = 5 * 60;
/// Answers one login challenge takes (the right one ends it).
pub(crate) const CHALLENGE_MAX_ANSWERS: i64 = 5;
/// Wrong second-factor answers of one person, and from one IP, within 15 minutes.
pub(crate) const CODES_PER_PERSON: Limit = Limit::new("code-person", 10, 15 * 60);
pub(crate) const CODES_PER_IP: Limit = Limit::new("code-ip", 50, 15 * 60);

/// Evidence that a person authenticated as their policy demands. See the module documentation.
pub(crate) struct SignInProof {
    person: PersonId,
    /// The second factor (or passkey) passed, recorded on the session: a method's name, or
    /// `idp` when a connection trusts its provider's MFA and the provider said it was done.
    factor: Option<&'static str>,
}

use watchword_domain::policy::{IDP_MFA, IDP_PHISHING_RESISTANT};

/// The mark of a session opened by an assisted recovery: it may only add a second factor.
pub(crate) const RECOVERED: &str = "recovered";

/// An identity a connection's provider asserted, verified (signature, issuer, audience, expiry,
/// nonce) and mapped to a person: only the SSO sign-in (`sso::signin`) makes one.
pub(crate) struct IdpAsserted {
    pub(crate) person: PersonId,
    /// The connection trusts its provider's MFA and the provider reported MFA.
    pub(crate) mfa: bool,
    /// … and reported a phishing-resistant method (counts as a passkey for the factor policy).
    pub(crate) phishing_resistant: bool,
}

/// A password that matched a person's hash: only [`App::check_password`] makes one.
pub(crate) struct PasswordMatched {
    person: PersonId,
}

/// A second factor answered rightly: only [`App::check_code`] makes one.
pub(crate) struct FactorPassed {
    person: PersonId,
    kind: Method,
}

impl FactorPassed {
    pub(crate) fn kind(&self) -> Method {
        self.kind
    }
}

/// A person inserted in the caller's transaction: only [`App::insert_new_person`] makes one.
pub(crate) struct NewPerson(PersonId);

/// What a matched password leads to.
pub(crate) enum AfterPassword {
    Proven(SignInProof),
    /// A second factor is due: the challenge token (to the client) and the methods.
    SecondFactor {
        challenge_id: String,
        methods: Vec<&'static str>,
    },
}

impl SignInProof {
    /// A person created by this very request (see [`App::insert_new_person`]), after it proved
    /// their address with the link emailed to it: they have no second factor yet.
    pub(crate) fn new_person(p: NewPerson) -> Self {
        Self {
            person: p.0,
            factor: None,
        }
    }

    pub(crate) fn second_factor(passed: FactorPassed) -> Self {
        Self {
            person: passed.person,
            factor: Some(passed.kind.as_str()),
        }
    }

    /// A passkey sign-in: `result` (which only webauthn-rs makes, from a verified assertion)
    /// must be for `key`, the person's own stored credential.
    pub(crate) fn passkey(
        person: PersonId,
        key: &webauthn_rs::prelude::Passkey,
        result: &webauthn_rs::prelude::AuthenticationResult,
    ) -> Option<Self> {
        (key.cred_id() == result.cred_id()).then_some(Self {
            person,
            factor: Some(Method::Passkey.as_str()),
        })
    }

    pub(crate) fn person(&self) -> PersonId {
        self.person
    }

    /// A matched password of a person whose approved recovery request was just used: every
    /// factor is gone, and the session must add a new one before anything else
    /// ([`RECOVERED`]).
    pub(crate) fn recovered(matched: PasswordMatched) -> Self {
        Self {
            person: matched.person,
            factor: Some(RECOVERED),
        }
    }
}

impl App {
    /// Verifies `pw` against `phc` (a person's hash, or the dummy hash for an unknown email so
    /// the work is the same). Argon2 runs on the blocking pool, bounded by `hash_concurrency`.
    pub(crate) async fn check_password(
        &self,
        person: Option<PersonId>,
        phc: String,
        pw: Password,
    ) -> Result<(Option<PasswordMatched>, Verified), AppError> {
        let verified = self.hashing(move |h| h.verify(&pw, &phc)).await?;
        let matched = match (person, verified) {
            (Some(person), Verified::Yes | Verified::YesNeedsRehash) => {
                Some(PasswordMatched { person })
            }
            _ => None,
        };
        Ok((matched, verified))
    }

    /// After a matched password: a proof when the person has no second factor, else a login
    /// challenge. Called inside the login transaction.
    pub(crate) async fn after_password(
        &self,
        c: &mut Conn,
        matched: PasswordMatched,
        mode: SessionMode,
        now: Millis,
    ) -> Result<AfterPassword, AppError> {
        self.after_first_factor(c, matched.person, mode, now).await
    }

    /// After an SSO sign-in: a proof when the person has no second factor of their own (marked
    /// `idp` when the provider's MFA counts, see [`IdpAsserted`]), else a login challenge.
    pub(crate) async fn after_sso(
        &self,
        c: &mut Conn,
        asserted: IdpAsserted,
        mode: SessionMode,
        now: Millis,
    ) -> Result<AfterPassword, AppError> {
        // The provider's MFA stands in for watchword's only for a person with no factor of
        // their own: whoever runs the IdP must not skip the person's own second factor.
        if asserted.mfa && self.methods(&mut *c, asserted.person).await?.is_empty() {
            return Ok(AfterPassword::Proven(SignInProof {
                person: asserted.person,
                factor: Some(if asserted.phishing_resistant {
                    IDP_PHISHING_RESISTANT
                } else {
                    IDP_MFA
                }),
            }));
        }
        self.after_first_factor(c, asserted.person, mode, now).await
    }

    async fn after_first_factor(
        &self,
        c: &mut Conn,
        person: PersonId,
        mode: SessionMode,
        now: Millis,
    ) -> Result<AfterPassword, AppError> {
        let methods = self.methods(&mut *c, person).await?;
        if methods.is_empty() {
            return Ok(AfterPassword::Proven(SignInProof {
                person,
                factor: None,
            }));
        }
        let challenge = random_token();
        store::insert_challenge(
            c,
            &hash_token(&challenge),
            person,
            mode.as_str(),
            now,
            now.plus_secs(CHALLENGE_TTL_SECS),
        )
        .await?;
        Ok(AfterPassword::SecondFactor {
            challenge_id: challenge,
            methods: methods.into_iter().map(Method::as_str).collect(),
        })
    }

    /// Takes a second-factor answer's slot before it is checked, in a transaction of its own:
    /// one of the challenge's answers (when on a login challenge) and one of the person's and
    /// the IP's. Returns the slot, given back when the answer is right.
    pub(crate) async fn reserve_code_answer(
        &self,
        person: PersonId,
        challenge: Option<&[u8]>,
        meta: &Meta,
    ) -> Result<String, AppError> {
        let slot = uuid::Uuid::now_v7().to_string();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if let Some(h) = challenge
            && !store::challenge_answer(&mut tx, h, now, CHALLENGE_MAX_ANSWERS).await?
        {
            return Err(AppError::InvalidCode);
        }
        let buckets = [
            CODES_PER_PERSON.bucket(&person.to_string(), now),
            CODES_PER_IP.bucket(&meta.ip, now),
        ];
        if limits::take(&mut tx, self.store().dialect(), &slot, &buckets, now)
            .await?
            .is_err()
        {
            return Err(AppError::TooManyAttempts);
        }
        tx.commit().await?;
        Ok(slot)
    }

    /// Checks a proof by `method` and spends it (a TOTP step, an SMS code, a recovery code or a
    /// passkey ceremony is accepted once). None when wrong.
    pub(crate) async fn check_code(
        &self,
        c: &mut Conn,
        person: PersonId,
        method: Method,
        proof: Proof<'_>,
        now: Millis,
    ) -> Result<Option<FactorPassed>, AppError> {
        let kind = self.check_code_kind(c, person, method, proof, now).await?;
        Ok(kind.map(|kind| FactorPassed { person, kind }))
    }

    /// Inserts a person who proved their address by an emailed link (signup or invitation).
    pub(crate) async fn insert_new_person(
        &self,
        c: &mut Conn,
        email: &str,
        name: &str,
        password_hash: &str,
        now: Millis,
    ) -> Result<NewPerson, AppError> {
        let id = PersonId::new();
        persons::insert(c, id, email, name, password_hash, now)
            .await
            .map_err(|e| {
                if e.is_unique() {
                    AppError::Domain(DomainError::conflict(
                        "email_unavailable",
                        "this email has a login already; log in instead",
                    ))
                } else {
                    e.into()
                }
            })?;
        Ok(NewPerson(id))
    }

    /// Opens a session for a proven sign-in: the one place a session starts.
    pub(crate) async fn open_session(
        &self,
        c: &mut Conn,
        proof: SignInProof,
        mode: SessionMode,
        meta: &Meta,
        now: Millis,
    ) -> Result<IssuedSession, AppError> {
        let token = random_token();
        let id = SessionId::new();
        let expires_at = now.plus_secs(self.settings().session_absolute_secs);
        sessions::insert(
            &mut *c,
            NewSession {
                id,
                person: proof.person,
                token_hash: &hash_token(&token),
                mode: mode.as_str(),
                user_agent: &meta.user_agent,
                ip: &meta.ip,
                expires_at,
            },
            now,
        )
        .await?;
        crate::metrics::session_opened(proof.factor.unwrap_or("none"));
        if let Some(kind) = proof.factor {
            sessions::mark_mfa(&mut *c, id, kind, now).await?;
        }
        let person = persons::get(&mut *c, proof.person)
            .await?
            .ok_or_else(|| AppError::internal("a session for a missing person"))?;
        self.sign_in_device(&mut *c, &person, id, mode, meta, now)
            .await?;
        persons::record_login(&mut *c, proof.person, now).await?;
        Ok(IssuedSession {
            token,
            session: id,
            person: proof.person,
            expires_at,
            cookie: mode == SessionMode::Cookie,
        })
    }
}
