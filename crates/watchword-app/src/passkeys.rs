//! Passkeys and security keys (WebAuthn, by webauthn-rs): registration, use as a second factor or
//! for step-up, and passwordless sign-in. Phishing-resistant: the browser binds every assertion to
//! this site's origin, and webauthn-rs refuses any other.
//!
//! Each ceremony's server-side state lives in the database for five minutes and is spent once, so
//! a ceremony started on one node can finish on another.

use crate::events::{self, EventExt};
use crate::factors::{Confirmed, FactorView};
use crate::gate::SignInProof;
use crate::mfa::confirmed;
use crate::sessions::{IssuedSession, SessionMode};
use crate::{Actor, App, AppError, Meta};
use serde::Serialize;
use serde::de::DeserializeOwned;
use watchword_domain::audit::AuditAction;
use watchword_domain::mfa::Method;
use watchword_domain::token::{hash_token, random_token};
use watchword_domain::*;
use watchword_store::mfa::{self as store, FactorRow, NewFactor};
use watchword_store::{Conn, webauthn as ceremonies};
use webauthn_rs::prelude::*;

const CEREMONY_TTL_SECS: i64 = 5 * 60;
/// Passwordless sign-ins one IP may have started within a ceremony's lifetime.
const OPEN_CEREMONIES_PER_IP: i64 = 30;

/// A started ceremony: its id (sent back with the answer) and the options for
/// `navigator.credentials.create()` / `.get()` (`{"publicKey": …}`).
#[derive(Debug)]
pub struct Ceremony {
    pub ceremony_id: String,
    pub options: serde_json::Value,
}

/// The relying party for a public URL. Browsers refuse IP addresses as relying party ids, so a
/// loopback address (local use, tests) is served as `localhost` on the same port.
pub fn relying_party(public_url: &str) -> Result<Webauthn, String> {
    let mut url = Url::parse(public_url).map_err(|e| format!("public_url: {e}"))?;
    let loopback = url
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    if loopback {
        url.set_host(Some("localhost"))
            .map_err(|e| format!("public_url: {e}"))?;
    }
    let rp_id = url
        .domain()
        .ok_or("passkeys need public_url with a domain name, not an IP address")?
        .to_owned();
    WebauthnBuilder::new(&rp_id, &url)
        .and_then(|b| b.rp_name("watchword").build())
        .map_err(|e| format!("passkeys: {e}"))
}

fn to_json<T: Serialize>(v: &T) -> Result<String, AppError> {
    serde_json::to_string(v).map_err(|e| AppError::internal(format!("passkey state: {e}")))
}

fn from_json<T: DeserializeOwned>(s: &str) -> Result<T, AppError> {
    serde_json::from_str(s).map_err(|e| AppError::internal(format!("passkey state: {e}")))
}

fn credential_id(id: &[u8]) -> String {
    hex::encode(id)
}

fn invalid_credential() -> AppError {
    DomainError::field(
        "invalid_credential",
        "credential",
        "credential is the JSON of a PublicKeyCredential (credential.toJSON())",
    )
    .into()
}

impl App {
    fn relying_party(&self) -> Result<&Webauthn, AppError> {
        self.inner.webauthn.as_ref().ok_or_else(|| {
            DomainError::conflict(
                "passkeys_unavailable",
                "passkeys need watchword's public_url to have a domain name",
            )
            .into()
        })
    }

    /// Stores a ceremony's state. One started by anyone (`ip` given: passwordless sign-in) is
    /// refused beyond [`OPEN_CEREMONIES_PER_IP`] from that IP in the ceremony lifetime.
    async fn start_ceremony(
        &self,
        person: Option<PersonId>,
        purpose: &str,
        state: String,
        options: serde_json::Value,
        ip: Option<&str>,
    ) -> Result<Ceremony, AppError> {
        let id = random_token();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if let Some(ip) = ip {
            let since = now.minus_secs(CEREMONY_TTL_SECS);
            if ceremonies::started_from(&mut tx, ip, since).await? >= OPEN_CEREMONIES_PER_IP {
                return Err(AppError::RateLimited(
                    "too_many_ceremonies",
                    "too many passkey sign-ins were started from here; wait a few minutes".into(),
                ));
            }
        }
        let new = ceremonies::NewCeremony {
            hash: &hash_token(&id),
            person,
            purpose,
            state: &state,
            ip,
            expires_at: now.plus_secs(CEREMONY_TTL_SECS),
        };
        ceremonies::insert(&mut tx, new, now).await?;
        tx.commit().await?;
        Ok(Ceremony {
            ceremony_id: id,
            options,
        })
    }

    /// The person's passkeys as webauthn-rs credentials, with their factor ids.
    async fn passkeys(
        &self,
        c: &mut Conn,
        person: PersonId,
    ) -> Result<Vec<(String, Passkey)>, AppError> {
        confirmed(&store::factors(c, person).await?)
            .filter(|f| f.kind == "passkey")
            .filter_map(|f| f.credential.as_deref().map(|cr| (f.id.clone(), cr)))
            .map(|(id, cr)| Ok((id, from_json::<Passkey>(cr)?)))
            .collect()
    }

    /// Starts registering a passkey (authentication within 15 minutes).
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn start_passkey(&self, actor: &Actor) -> Result<Ceremony, AppError> {
        self.require_own_sign_in(actor, "add a passkey").await?;
        let rp = self.relying_party()?;
        let mut c = self.store().read().await?;
        let existing: Vec<CredentialID> = self
            .passkeys(&mut c, actor.person)
            .await?
            .iter()
            .map(|(_, p)| p.cred_id().clone())
            .collect();
        drop(c);
        let (options, state) = rp
            .start_passkey_registration(actor.person.0, &actor.email, &actor.name, Some(existing))
            .map_err(|e| AppError::internal(format!("passkey registration: {e}")))?;
        let mut options = serde_json::to_value(options)
            .map_err(|e| AppError::internal(format!("passkey options: {e}")))?;
        // A discoverable credential where the authenticator can keep one: it also signs in
        // without a password.
        options["publicKey"]["authenticatorSelection"]["residentKey"] = "preferred".into();
        self.start_ceremony(
            Some(actor.person),
            "register",
            to_json(&state)?,
            options,
            None,
        )
        .await
    }

    /// Finishes registering a passkey with the browser's answer. The first factor of a person
    /// comes with ten recovery codes.
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn finish_passkey(
        &self,
        actor: &Actor,
        ceremony_id: &str,
        name: Option<&str>,
        credential: &serde_json::Value,
    ) -> Result<Confirmed, AppError> {
        let name = crate::mfa::factor_name(name, "Passkey")?;
        let reg: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| invalid_credential())?;
        let rp = self.relying_party()?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let person = self.person(&mut tx, actor.person).await?;
        let (owner, state) = ceremonies::take(&mut tx, &hash_token(ceremony_id), "register", now)
            .await?
            .ok_or(AppError::InvalidCode)?;
        if owner != Some(actor.person) {
            return Err(AppError::InvalidCode);
        }
        let state: PasskeyRegistration = from_json(&state)?;
        let passkey = match rp.finish_passkey_registration(&reg, &state) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(error = %e, "passkey registration refused");
                // The ceremony is spent all the same.
                tx.commit().await?;
                return Err(DomainError::field(
                    "invalid_credential",
                    "credential",
                    "the passkey could not be verified for this site",
                )
                .into());
            }
        };
        let first = confirmed(&store::factors(&mut tx, actor.person).await?)
            .next()
            .is_none();
        let id = format!("mfa_{}", uuid::Uuid::new_v4().simple());
        let (credential, cred_id) = (to_json(&passkey)?, credential_id(passkey.cred_id()));
        store::insert_factor(
            &mut tx,
            NewFactor {
                id: &id,
                person: actor.person,
                kind: "passkey",
                name: &name,
                sealed: None,
                passkey: Some((&credential, &cred_id)),
                phone_hint: None,
            },
            now,
        )
        .await
        .map_err(|e| {
            if e.is_unique() {
                DomainError::conflict("passkey_exists", "this passkey is already registered").into()
            } else {
                AppError::from(e)
            }
        })?;
        let row = FactorRow {
            id,
            person_id: actor.person,
            kind: "passkey".into(),
            name: name.clone(),
            secret_sealed: None,
            key_id: None,
            last_step: None,
            credential: Some(credential),
            credential_id: Some(cred_id),
            phone_hint: None,
            created_at: now,
            confirmed_at: Some(now),
            last_used_at: None,
        };
        let what = format!("A passkey ({name}) was added to your watchword login");
        let codes = self
            .factor_added(&mut tx, actor, &person, &row, first, &what, now)
            .await?;
        tx.commit().await?;
        self.committed();
        Ok(Confirmed {
            factor: FactorView::of(&row),
            recovery_codes: codes,
        })
    }

    /// Starts a passkey check for a person: the second step of a login (`challenge_id`) or
    /// step-up in a session (`actor`).
    async fn start_verification(&self, person: PersonId) -> Result<Ceremony, AppError> {
        let rp = self.relying_party()?;
        let keys = self
            .passkeys(&mut *self.store().read().await?, person)
            .await?;
        if keys.is_empty() {
            return Err(DomainError::conflict("no_passkey", "no passkey is registered").into());
        }
        let keys: Vec<Passkey> = keys.into_iter().map(|(_, k)| k).collect();
        let (options, state) = rp
            .start_passkey_authentication(&keys)
            .map_err(|e| AppError::internal(format!("passkey authentication: {e}")))?;
        let options = serde_json::to_value(options)
            .map_err(|e| AppError::internal(format!("passkey options: {e}")))?;
        self.start_ceremony(Some(person), "verify", to_json(&state)?, options, None)
            .await
    }

    /// Passkey options for the second step of a login.
    pub async fn login_passkey_options(&self, challenge_id: &str) -> Result<Ceremony, AppError> {
        let person = self
            .challenge_person(challenge_id)
            .await?
            .ok_or(AppError::InvalidCode)?;
        self.start_verification(person).await
    }

    /// Passkey options to confirm a sensitive action (step-up).
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn reauthenticate_passkey_options(
        &self,
        actor: &Actor,
    ) -> Result<Ceremony, AppError> {
        self.start_verification(actor.person).await
    }

    /// Checks a passkey assertion of `person` for a ceremony started for them; stores the
    /// credential's new counter. Some(Method::Passkey) when it verifies.
    pub(crate) async fn check_passkey(
        &self,
        c: &mut Conn,
        person: PersonId,
        ceremony_id: &str,
        credential: &serde_json::Value,
        now: Millis,
    ) -> Result<Option<Method>, AppError> {
        let answer: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| invalid_credential())?;
        let rp = self.relying_party()?;
        let Some((owner, state)) =
            ceremonies::take(&mut *c, &hash_token(ceremony_id), "verify", now).await?
        else {
            return Ok(None);
        };
        if owner != Some(person) {
            return Ok(None);
        }
        let state: PasskeyAuthentication = from_json(&state)?;
        let Ok(result) = rp.finish_passkey_authentication(&answer, &state) else {
            return Ok(None);
        };
        for (id, mut key) in self.passkeys(&mut *c, person).await? {
            if key.cred_id() == result.cred_id() {
                let changed = key.update_credential(&result) == Some(true);
                let stored = if changed { Some(to_json(&key)?) } else { None };
                store::passkey_used(&mut *c, &id, stored.as_deref(), now).await?;
            }
        }
        Ok(Some(Method::Passkey))
    }

    /// Options for signing in with a passkey alone (no email, no password).
    pub async fn passwordless_options(&self, meta: &Meta) -> Result<Ceremony, AppError> {
        let rp = self.relying_party()?;
        let (options, state) = rp
            .start_discoverable_authentication()
            .map_err(|e| AppError::internal(format!("passkey sign-in: {e}")))?;
        let mut options = serde_json::to_value(options)
            .map_err(|e| AppError::internal(format!("passkey options: {e}")))?;
        // A plain modal request: the page asks when the person presses "Sign in with a passkey".
        if let Some(o) = options.as_object_mut() {
            o.remove("mediation");
        }
        self.start_ceremony(
            None,
            "passwordless",
            to_json(&state)?,
            options,
            Some(&meta.ip),
        )
        .await
    }

    /// Signs in with a discoverable passkey: a session that counts as having passed MFA (the
    /// authenticator verified its user).
    pub async fn login_with_passkey(
        &self,
        ceremony_id: &str,
        credential: &serde_json::Value,
        mode: SessionMode,
        meta: &Meta,
    ) -> Result<IssuedSession, AppError> {
        let answer: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| invalid_credential())?;
        let rp = self.relying_party()?;
        let now = self.now();
        // Spent by any answer, right or wrong: committed before the answer is checked.
        let mut tx = self.store().begin().await?;
        let taken =
            ceremonies::take(&mut tx, &hash_token(ceremony_id), "passwordless", now).await?;
        tx.commit().await?;
        let (_, state) = taken.ok_or(AppError::InvalidCode)?;
        let mut tx = self.store().begin().await?;
        let state: DiscoverableAuthentication = from_json(&state)?;
        let (user, cred_id) = rp
            .identify_discoverable_authentication(&answer)
            .map_err(|_| AppError::InvalidCode)?;
        let factor = store::by_credential_id(&mut tx, &credential_id(cred_id))
            .await?
            .filter(|f| f.person_id.0 == user && f.confirmed_at.is_some())
            .ok_or(AppError::InvalidCode)?;
        let person = self
            .person(&mut tx, factor.person_id)
            .await
            .map_err(|_| AppError::InvalidCode)?;
        drop(tx);
        let slot = self.reserve_code_answer(person.id, None, meta).await?;
        let mut tx = self.store().begin().await?;
        let mut key: Passkey = from_json(factor.credential.as_deref().unwrap_or("null"))?;
        let result = match rp.finish_discoverable_authentication_v2(&answer, state, &key) {
            Ok(r) => r,
            Err(_) => {
                drop(tx);
                self.code_failed(person.id, &person.email, meta, Method::Passkey, None)
                    .await?;
                return Err(AppError::InvalidCode);
            }
        };
        let stored = if key.update_credential(&result) == Some(true) {
            Some(to_json(&key)?)
        } else {
            None
        };
        store::passkey_used(&mut tx, &factor.id, stored.as_deref(), now).await?;
        watchword_store::limits::give_back(&mut tx, &slot).await?;
        let proof = SignInProof::passkey(person.id, &key, &result).ok_or(AppError::InvalidCode)?;
        let session = self.open_session(&mut tx, proof, mode, meta, now).await?;
        let event = events::of_person(&person, meta, AuditAction::LoginSucceeded)
            .target("session", session.session)
            .details(serde_json::json!({ "session_mode": mode.as_str(), "mfa": "passkey", "passwordless": true }));
        events::fan_out(&mut tx, person.id, event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(session)
    }
}
