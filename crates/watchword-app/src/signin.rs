//! Signing in: the password step, the login challenge and its second step, and step-up with a
//! code. Every path ends in the gate (`gate::open_session`).

use crate::events::{self, EventExt};
use crate::gate::{AfterPassword, SignInProof};
use crate::mfa::{Proof, parse_method};
use crate::sessions::{IssuedSession, SessionMode};
use crate::{Actor, App, AppError, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::mfa::{self as rules, Method};
use watchword_domain::password::{Password, Verified};
use watchword_domain::token::hash_token;
use watchword_domain::*;
use watchword_store::Conn;
use watchword_store::mfa as store;
use watchword_store::{persons, sessions};
/// What a correct password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    Session(IssuedSession),
    /// A second factor is due: finish with [`App::login_mfa`].
    Challenge {
        challenge_id: String,
        methods: Vec<&'static str>,
    },
}

impl App {
    /// Password login. Unknown emails, wrong passwords and deactivated persons get the same answer
    /// after the same work (one Argon2 verify).
    pub async fn login(
        &self,
        email: &str,
        pw: Password,
        mode: SessionMode,
        meta: &Meta,
    ) -> Result<crate::signin::LoginOutcome, AppError> {
        // Throttled per attempted email (as typed, normalised when it parses) and per IP, before
        // any Argon2 work and alike for emails with or without a login.
        let email_key = hash_token(&match EmailAddress::parse(email) {
            Ok(e) => e.as_str().to_owned(),
            Err(_) => email.trim().to_lowercase(),
        });
        let slot = self.reserve_login(&email_key, meta).await?;
        let email = EmailAddress::parse(email).ok();
        let person = match &email {
            Some(e) => persons::by_email(&mut *self.store().read().await?, e.as_str()).await?,
            None => None,
        };
        let phc = person
            .as_ref()
            .map(|p| p.password_hash.clone())
            .unwrap_or_else(|| self.inner.dummy_hash.clone());
        let (matched, verified) = self
            .check_password(person.as_ref().map(|p| p.id), phc, pw.clone())
            .await?;
        // Rehash before the transaction: Argon2 must not run while the write lock is held.
        let rehash = match (&person, verified) {
            (Some(p), Verified::YesNeedsRehash) if p.active => {
                Some(self.hashing(move |h| h.hash(&pw)).await?)
            }
            _ => None,
        };
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let (person, matched) = match (person, matched) {
            (Some(p), Some(m)) if p.active => (p, m),
            (other, _) => {
                let attempted = email
                    .as_ref()
                    .map(|e| e.as_str().to_owned())
                    .unwrap_or_default();
                let mut event = events::system(None, AuditAction::LoginFailed)
                    .details(serde_json::json!({ "email": attempted }));
                event.actor_email = Some(attempted);
                event.ip = Some(meta.ip.clone());
                event.user_agent = Some(meta.user_agent.clone());
                match &other {
                    Some(p) => {
                        event.actor_person = Some(p.id);
                        events::fan_out(&mut tx, p.id, event.target("person", p.id), now).await?
                    }
                    None => watchword_store::audit::append(&mut tx, &event, now)
                        .await
                        .map(|_| ())?,
                }
                self.login_failed(&mut tx, &slot, other.as_ref(), meta, now)
                    .await?;
                tx.commit().await?;
                return Err(AppError::InvalidCredentials);
            }
        };
        if let Some(hash) = rehash {
            persons::set_password(&mut tx, person.id, &hash, now).await?;
        }
        // A right password does not count against the limits.
        watchword_store::limits::give_back(&mut tx, &slot.id).await?;
        // A sign-in reported as not theirs: the password is known to someone else.
        if person.password_reset_required {
            tx.commit().await?;
            return Err(DomainError::forbidden(
                "password_reset_required",
                "a sign-in to this login was reported as not the owner's: reset the password \
                 (Forgot password) before signing in with it",
            )
            .into());
        }
        // An approved recovery whose delay is over: used by this login (see assisted_recovery).
        let after = match self
            .use_recovery(&mut tx, &person, matched, meta, now)
            .await?
        {
            Ok(proof) => AfterPassword::Proven(proof),
            Err(matched) => self.after_password(&mut tx, matched, mode, now).await?,
        };
        let outcome = match after {
            AfterPassword::Proven(proof) => {
                let session = self.open_session(&mut tx, proof, mode, meta, now).await?;
                let event = events::of_person(&person, meta, AuditAction::LoginSucceeded)
                    .target("session", session.session)
                    .details(serde_json::json!({ "session_mode": mode.as_str() }));
                events::fan_out(&mut tx, person.id, event, now).await?;
                crate::signin::LoginOutcome::Session(session)
            }
            AfterPassword::SecondFactor {
                challenge_id,
                methods,
            } => crate::signin::LoginOutcome::Challenge {
                challenge_id,
                methods,
            },
        };
        tx.commit().await?;
        self.committed();
        Ok(outcome)
    }
}

impl App {
    /// The person a live login challenge belongs to.
    pub(crate) async fn challenge_person(
        &self,
        challenge_id: &str,
    ) -> Result<Option<PersonId>, AppError> {
        let now = self.now();
        let mut c = self.store().read().await?;
        Ok(store::challenge(&mut c, &hash_token(challenge_id))
            .await?
            .filter(|ch| {
                ch.used_at.is_none()
                    && ch.expires_at > now
                    && ch.failures < crate::gate::CHALLENGE_MAX_ANSWERS
            })
            .map(|ch| ch.person_id))
    }

    /// The methods a live login challenge can be answered with (none when it is not live).
    pub async fn challenge_methods(&self, challenge_id: &str) -> Vec<&'static str> {
        let methods = async {
            let Some(person) = self.challenge_person(challenge_id).await? else {
                return Ok(Vec::new());
            };
            self.methods(&mut *self.store().read().await?, person).await
        };
        methods
            .await
            .unwrap_or_else(|e: AppError| {
                tracing::warn!(error = %e, "could not list challenge methods");
                Vec::new()
            })
            .into_iter()
            .map(Method::as_str)
            .collect()
    }

    /// Finishes a login with a second factor: a session that records the factor passed.
    pub async fn login_mfa(
        &self,
        challenge_id: &str,
        method: &str,
        proof: Proof<'_>,
        meta: &Meta,
    ) -> Result<IssuedSession, AppError> {
        let method = parse_method(method)?;
        let hash = hash_token(challenge_id);
        let person = self
            .challenge_person(challenge_id)
            .await?
            .ok_or(AppError::InvalidCode)?;
        // One of the challenge's answers and of the person's and IP's, taken before the check.
        let slot = self.reserve_code_answer(person, Some(&hash), meta).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let ch = store::challenge_for_update(&mut tx, self.store().dialect(), &hash)
            .await?
            .filter(|c| c.used_at.is_none() && c.expires_at > now)
            .ok_or(AppError::InvalidCode)?;
        let person = self
            .person(&mut tx, ch.person_id)
            .await
            .map_err(|_| AppError::InvalidCode)?;
        let Some(passed) = self
            .check_code(&mut tx, person.id, method, proof, now)
            .await?
        else {
            drop(tx);
            self.code_failed(person.id, &person.email, meta, method, Some(&proof))
                .await?;
            return Err(AppError::InvalidCode);
        };
        let kind = passed.kind();
        if !store::challenge_used(&mut tx, &hash, now).await? {
            return Err(AppError::InvalidCode);
        }
        watchword_store::limits::give_back(&mut tx, &slot).await?;
        let mode = SessionMode::parse(&ch.mode);
        let session = self
            .open_session(&mut tx, SignInProof::second_factor(passed), mode, meta, now)
            .await?;
        if let Some(conn) = &ch.sso_connection {
            watchword_store::sso::mark_session(&mut tx, session.session, conn).await?;
        }
        let event = events::of_person(&person, meta, AuditAction::LoginSucceeded)
            .target("session", session.session)
            .details(serde_json::json!({ "session_mode": ch.mode, "mfa": kind.as_str() }));
        events::fan_out(&mut tx, person.id, event, now).await?;
        if kind == Method::RecoveryCode {
            self.recovery_code_used(&mut tx, &person, meta, now).await?;
        }
        tx.commit().await?;
        self.committed();
        Ok(session)
    }

    async fn recovery_code_used(
        &self,
        c: &mut Conn,
        person: &watchword_store::rows::PersonRow,
        meta: &Meta,
        now: Millis,
    ) -> Result<(), AppError> {
        let left = store::recovery_codes_left(&mut *c, person.id).await?;
        let event = events::of_person(person, meta, AuditAction::MfaRecoveryCodeUsed)
            .target("person", person.id)
            .details(serde_json::json!({ "recovery_codes_left": left }));
        events::fan_out(&mut *c, person.id, event, now).await?;
        let advice = if left as usize <= rules::RECOVERY_CODES_LOW {
            format!(
                "Only {left} recovery codes are left: generate a new set on your security page."
            )
        } else {
            String::new()
        };
        let subject = if left as usize <= rules::RECOVERY_CODES_LOW {
            format!("A recovery code was used: only {left} left")
        } else {
            "A recovery code was used to sign in".to_owned()
        };
        self.notify(
            c,
            person,
            &subject,
            "A recovery code was used to sign in to your watchword login",
            &advice,
            meta,
            now,
        )
        .await
    }

    /// Confirms the password or a second-factor code again before a sensitive action.
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn reauthenticate_with_code(
        &self,
        actor: &Actor,
        method: &str,
        proof: Proof<'_>,
    ) -> Result<(), AppError> {
        let method = parse_method(method)?;
        let slot = self
            .reserve_code_answer(actor.person, None, &actor.meta)
            .await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let person = self.person(&mut tx, actor.person).await?;
        let Some(passed) = self
            .check_code(&mut tx, actor.person, method, proof, now)
            .await?
        else {
            drop(tx);
            self.code_failed(
                actor.person,
                &actor.email,
                &actor.meta,
                method,
                Some(&proof),
            )
            .await?;
            return Err(AppError::InvalidCode);
        };
        let kind = passed.kind();
        watchword_store::limits::give_back(&mut tx, &slot).await?;
        sessions::mark_mfa(&mut tx, actor.session, kind.as_str(), now).await?;
        let event = events::by_self(actor, AuditAction::SessionReauthenticated)
            .target("session", actor.session)
            .details(serde_json::json!({ "mfa": kind.as_str() }));
        events::fan_out(&mut tx, actor.person, event, now).await?;
        if kind == Method::RecoveryCode {
            self.recovery_code_used(&mut tx, &person, &actor.meta, now)
                .await?;
        }
        tx.commit().await?;
        self.committed();
        Ok(())
    }
}
