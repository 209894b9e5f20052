//! Signing up, logging in and out, authenticating a session on the hot path, and a person's own
//! sessions and password.

use crate::events::{self, EventExt};
use crate::gate::AfterPassword;
use crate::limits::PASSWORD_CHECKS_PER_PERSON;
use crate::mail;
use crate::{Actor, App, AppError, Meta};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use watchword_domain::audit::AuditAction;
use watchword_domain::password::{self, Password, Verified};
use watchword_domain::token::hash_token;
use watchword_domain::*;
use watchword_store::rows::{AccountRow, MemberRow, SessionRow};
use watchword_store::{members, persons, sessions};

/// How often at most a session's last-seen time is written.
const TOUCH_EVERY_MS: i64 = 60_000;

/// How a session travels: a browser's cookie or a program's bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    Cookie,
    Token,
}

impl SessionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionMode::Cookie => "cookie",
            SessionMode::Token => "token",
        }
    }

    /// The stored form; anything else reads as a token session (the stricter: no cookie).
    pub fn parse(s: &str) -> Self {
        if s == "cookie" {
            SessionMode::Cookie
        } else {
            SessionMode::Token
        }
    }
}

/// A new session: the secret token goes to the client once and is never stored.
#[derive(Debug)]
pub struct IssuedSession {
    pub token: String,
    pub session: SessionId,
    pub person: PersonId,
    pub expires_at: Millis,
    /// A browser session (cookie) rather than a bearer token.
    pub cookie: bool,
}

#[derive(Debug, Clone)]
pub struct PersonView {
    pub id: PersonId,
    pub email: String,
    pub name: String,
}

/// Everything the hot path needs about a valid session, cached per node.
#[derive(Debug)]
pub struct Authenticated {
    pub session: SessionRow,
    pub person: PersonView,
    /// Memberships that grant access now (active membership, active person).
    pub memberships: Vec<(AccountRow, MemberRow)>,
    touched_at: AtomicI64,
    /// The HTTP layer's rendering of this entry (the whoami body), computed once per cache fill.
    pub rendered: std::sync::OnceLock<Vec<u8>>,
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
    ) -> Result<crate::mfa::LoginOutcome, AppError> {
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
        let now = Millis::now();
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
        let outcome = match self.after_password(&mut tx, matched, mode, now).await? {
            AfterPassword::Proven(proof) => {
                let session = self.open_session(&mut tx, proof, mode, meta, now).await?;
                let event = events::by_person(
                    person.id,
                    &person.email,
                    meta,
                    None,
                    AuditAction::LoginSucceeded,
                )
                .target("session", session.session)
                .details(serde_json::json!({ "session_mode": mode.as_str() }));
                events::fan_out(&mut tx, person.id, event, now).await?;
                crate::mfa::LoginOutcome::Session(session)
            }
            AfterPassword::SecondFactor {
                challenge_id,
                methods,
            } => crate::mfa::LoginOutcome::Challenge {
                challenge_id,
                methods,
            },
        };
        tx.commit().await?;
        self.committed();
        Ok(outcome)
    }

    /// Resolves a session token to its person and memberships: from this node's cache when fresh,
    /// otherwise from the database. Writes nothing synchronously.
    pub async fn authenticate(
        &self,
        token: &str,
        meta: &Meta,
    ) -> Result<(Actor, Arc<Authenticated>), AppError> {
        let key = hash_token(token);
        let now = Millis::now();
        let auth = match self.inner.cache.get(&key, now) {
            Some(a) => a,
            None => {
                let generation = self.inner.cache.generation();
                let a = Arc::new(self.load_authenticated(&key).await?);
                self.inner.cache.put(key, a.clone(), generation, now);
                a
            }
        };
        let s = &auth.session;
        let last_seen = s
            .last_seen_at
            .0
            .max(auth.touched_at.load(Ordering::Relaxed));
        let live = watchword_domain::session::is_live(
            now,
            Millis(last_seen),
            s.expires_at,
            s.revoked_at.is_some(),
            self.settings().session_idle_secs,
        );
        if !live {
            return Err(AppError::Unauthenticated);
        }
        self.touch_coalesced(&auth, last_seen, now);
        let actor = Actor {
            person: auth.person.id,
            email: auth.person.email.clone(),
            name: auth.person.name.clone(),
            session: s.id,
            session_mode: SessionMode::parse(&s.mode),
            authenticated_at: s.authenticated_at,
            mfa_at: s.mfa_at,
            meta: meta.clone(),
        };
        Ok((actor, auth))
    }

    async fn load_authenticated(&self, key: &[u8]) -> Result<Authenticated, AppError> {
        let mut c = self.store().read().await?;
        let session = sessions::by_token_hash(&mut c, key)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let person = persons::get(&mut c, session.person_id)
            .await?
            .filter(|p| p.active)
            .ok_or(AppError::Unauthenticated)?;
        let memberships = members::of_person_all(&mut c, person.id)
            .await?
            .into_iter()
            .filter(|(_, m)| m.grants_access(Millis::now()))
            .collect();
        let touched_at = AtomicI64::new(session.last_seen_at.0);
        Ok(Authenticated {
            session,
            person: PersonView {
                id: person.id,
                email: person.email,
                name: person.name,
            },
            memberships,
            touched_at,
            rendered: std::sync::OnceLock::new(),
        })
    }

    /// Records activity at most once a minute per session, off the request path.
    fn touch_coalesced(&self, auth: &Authenticated, last_seen: i64, now: Millis) {
        if now.0 - last_seen < TOUCH_EVERY_MS {
            return;
        }
        if auth
            .touched_at
            .compare_exchange(last_seen, now.0, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let id = auth.session.id;
        self.write_in_background("record session activity", move |c| {
            Box::pin(sessions::touch(c, id, now))
        });
    }

    pub async fn logout(&self, actor: &Actor) -> Result<(), AppError> {
        self.end_sessions(actor, Ended::One(actor.session), AuditAction::Logout)
            .await
            .map(|_| ())
    }

    pub async fn my_sessions(&self, actor: &Actor) -> Result<Vec<SessionRow>, AppError> {
        Ok(sessions::list_live(
            &mut *self.store().read().await?,
            actor.person,
            Millis::now(),
        )
        .await?)
    }

    pub async fn revoke_session(&self, actor: &Actor, id: SessionId) -> Result<(), AppError> {
        match self
            .end_sessions(actor, Ended::One(id), AuditAction::SessionRevoked)
            .await?
        {
            0 => Err(AppError::NotFound),
            _ => Ok(()),
        }
    }

    pub async fn revoke_other_sessions(&self, actor: &Actor) -> Result<u64, AppError> {
        self.end_sessions(actor, Ended::Others, AuditAction::SessionRevokedOthers)
            .await
    }

    /// "Log out everywhere": every session of the person ends, this one included.
    pub async fn logout_everywhere(&self, actor: &Actor) -> Result<u64, AppError> {
        self.end_sessions(actor, Ended::All, AuditAction::SessionLoggedOutEverywhere)
            .await
    }

    /// Ends sessions of the actor's person, with its audit event.
    async fn end_sessions(
        &self,
        actor: &Actor,
        which: Ended,
        action: AuditAction,
    ) -> Result<u64, AppError> {
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        let n = match which {
            Ended::One(id) => sessions::revoke(&mut tx, actor.person, id, now).await? as u64,
            Ended::Others => {
                sessions::revoke_all_except(&mut tx, actor.person, Some(actor.session), now).await?
            }
            Ended::All => sessions::revoke_all_except(&mut tx, actor.person, None, now).await?,
        };
        let one = match which {
            Ended::One(id) => Some(id),
            _ => None,
        };
        if n > 0 {
            let mut event =
                events::by_person(actor.person, &actor.email, &actor.meta, None, action)
                    .details(serde_json::json!({ "sessions_revoked": n }));
            if let Some(id) = one {
                event = event.target("session", id);
            }
            events::fan_out(&mut tx, actor.person, event, now).await?;
        }
        tx.commit().await?;
        self.committed();
        Ok(n)
    }

    /// Changes the actor's password after checking the current one; every other session ends and
    /// the person is told by email.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: Password,
        new: Password,
    ) -> Result<u64, AppError> {
        let person = persons::get(&mut *self.store().read().await?, actor.person)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if !self.current_password_ok(&person, current).await? {
            return Err(DomainError::field(
                "current_password_incorrect",
                "current_password",
                "the current password is incorrect",
            )
            .into());
        }
        let email = EmailAddress::parse(&person.email)?;
        password::check_policy(&new, &email, &person.name)?;
        let hash = self.hashing(move |h| h.hash(&new)).await?;
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        persons::set_password(&mut tx, person.id, &hash, now).await?;
        watchword_store::mfa::void_resets(&mut tx, person.id, now).await?;
        let revoked =
            sessions::revoke_all_except(&mut tx, person.id, Some(actor.session), now).await?;
        let event = events::by_person(
            actor.person,
            &actor.email,
            &actor.meta,
            None,
            AuditAction::PasswordChanged,
        )
        .target("person", person.id)
        .details(serde_json::json!({ "other_sessions_revoked": revoked }));
        events::fan_out(&mut tx, person.id, event, now).await?;
        let t = mail::PasswordChanged {
            name: &person.name,
            ip: &actor.meta.ip,
            at: now,
        };
        mail::enqueue(&mut tx, None, &person.email, &t, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(revoked)
    }
}

impl App {
    /// Sensitive actions need a login or re-authentication within `recent_auth_secs`.
    pub(crate) fn require_recent_auth(&self, actor: &Actor, what: &str) -> Result<(), AppError> {
        if Millis::now().0 - actor.authenticated_at.0 > self.settings().recent_auth_secs * 1000 {
            return Err(DomainError::forbidden(
                "reauthentication_required",
                format!("confirm your password (POST /api/v1/me/reauthenticate) to {what}"),
            )
            .into());
        }
        Ok(())
    }

    /// Confirms the password again for a sensitive action: the session counts as freshly
    /// authenticated.
    pub async fn reauthenticate(&self, actor: &Actor, pw: Password) -> Result<(), AppError> {
        let person = persons::get(&mut *self.store().read().await?, actor.person)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if !self.current_password_ok(&person, pw).await? {
            return Err(AppError::InvalidCredentials);
        }
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        sessions::mark_authenticated(&mut tx, actor.session, now).await?;
        let event = events::by_person(
            actor.person,
            &actor.email,
            &actor.meta,
            None,
            AuditAction::SessionReauthenticated,
        )
        .target("session", actor.session);
        events::fan_out(&mut tx, actor.person, event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(())
    }
}

impl App {
    /// Checks a signed-in person's current password (step-up, password change, factor
    /// removal), at most [`PASSWORD_CHECKS_PER_PERSON`] wrong ones in 15 minutes: the slot is
    /// taken before Argon2 runs and given back when the password is right.
    pub(crate) async fn current_password_ok(
        &self,
        person: &watchword_store::rows::PersonRow,
        pw: Password,
    ) -> Result<bool, AppError> {
        let (slot, _) = self
            .take_slot(
                &[(PASSWORD_CHECKS_PER_PERSON, &person.id.to_string())],
                |_| AppError::TooManyAttempts,
            )
            .await?;
        let (matched, _) = self
            .check_password(Some(person.id), person.password_hash.clone(), pw)
            .await?;
        if matched.is_some() {
            self.give_back(&slot).await?;
        }
        Ok(matched.is_some())
    }
}

/// Which sessions [`App::end_sessions`] ends.
enum Ended {
    One(SessionId),
    /// All but the actor's own.
    Others,
    All,
}
