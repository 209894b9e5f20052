//! Sessions: their kinds, authenticating one on the hot path (cached per node, touched at most
//! once a minute), and a person's own sessions (list, revoke, log out).

use crate::events::{self, EventExt};
use crate::{Actor, App, AppError, Meta};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use watchword_domain::audit::AuditAction;
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
    /// Resolves a session token to its person and memberships: from this node's cache when fresh,
    /// otherwise from the database. Writes nothing synchronously.
    pub async fn authenticate(
        &self,
        token: &str,
        meta: &Meta,
    ) -> Result<(Actor, Arc<Authenticated>), AppError> {
        let key = hash_token(token);
        let now = self.now();
        let auth = match self.inner.cache.get(&key, now) {
            Some(a) => {
                crate::metrics::credential_check(crate::metrics::Credential::Session, true);
                a
            }
            None => {
                crate::metrics::credential_check(crate::metrics::Credential::Session, false);
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
            mfa_factors: s.mfa_factors.clone(),
            sso_connection: s.sso_connection.clone(),
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
            .filter(|(_, m)| m.grants_access(self.now()))
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

    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn logout(&self, actor: &Actor) -> Result<(), AppError> {
        self.end_sessions(actor, Ended::One(actor.session), AuditAction::Logout)
            .await
            .map(|_| ())
    }

    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn my_sessions(&self, actor: &Actor) -> Result<Vec<SessionRow>, AppError> {
        Ok(sessions::list_live(&mut *self.store().read().await?, actor.person, self.now()).await?)
    }

    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn revoke_session(&self, actor: &Actor, id: SessionId) -> Result<(), AppError> {
        match self
            .end_sessions(actor, Ended::One(id), AuditAction::SessionRevoked)
            .await?
        {
            0 => Err(AppError::NotFound),
            _ => Ok(()),
        }
    }

    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn revoke_other_sessions(&self, actor: &Actor) -> Result<u64, AppError> {
        self.end_sessions(actor, Ended::Others, AuditAction::SessionRevokedOthers)
            .await
    }

    /// "Log out everywhere": every session of the person ends, this one included.
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
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
        let now = self.now();
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
            let mut event = events::by_self(actor, action)
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
}

/// Which sessions [`App::end_sessions`] ends.
enum Ended {
    One(SessionId),
    /// All but the actor's own.
    Others,
    All,
}
