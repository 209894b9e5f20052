//! Multi-factor authentication: authenticator apps (TOTP), recovery codes, the login challenge,
//! step-up with a code, and enforcement by accounts.

use crate::auth::{IssuedSession, SessionMode};
use crate::events::{self, EventExt};
use crate::gate::SignInProof;
use crate::mail;
use crate::{Actor, App, AppError, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::mfa::{self as rules, FactorKind, Method};
use watchword_domain::token::hash_token;
use watchword_domain::*;
use watchword_store::mfa::{self as store, FactorRow, NewFactor};
use watchword_store::{Conn, accounts, audit, members, persons, sessions};

/// An enrolment never confirmed is dropped after this long.
const PENDING_TTL_MS: i64 = 3600_000;

#[derive(Debug, Clone)]
pub struct FactorView {
    pub id: String,
    pub kind: &'static str,
    pub name: String,
    /// An SMS factor's last phone digits.
    pub phone_hint: Option<String>,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
}

impl FactorView {
    pub(crate) fn of(f: &FactorRow) -> Self {
        Self {
            id: f.id.clone(),
            kind: FactorKind::parse(&f.kind).map_or("unknown", FactorKind::as_str),
            name: f.name.clone(),
            phone_hint: f.phone_hint.clone(),
            created_at: f.created_at,
            last_used_at: f.last_used_at,
        }
    }
}

/// A person's MFA as their security page shows it.
#[derive(Debug, Clone)]
pub struct MfaStatus {
    pub factors: Vec<FactorView>,
    pub recovery_codes_left: i64,
    /// Accounts of the person that require MFA.
    pub enforced_by: Vec<AccountId>,
    /// Only one factor: the person should add a backup method.
    pub add_backup: bool,
    pub recovery_codes_low: bool,
}

#[derive(Debug)]
pub struct TotpEnrolment {
    pub factor_id: String,
    pub secret_base32: String,
    pub otpauth_uri: String,
}

#[derive(Debug)]
pub struct Confirmed {
    pub factor: FactorView,
    /// The recovery codes, shown this once, when this was the person's first factor.
    pub recovery_codes: Option<Vec<String>>,
}

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

/// What a person answers a challenge with.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A TOTP, SMS or recovery code.
    Code(&'a str),
    /// A WebAuthn assertion for a ceremony started with the passkey options call.
    Passkey {
        ceremony_id: &'a str,
        credential: &'a serde_json::Value,
    },
}

impl Proof<'_> {
    fn code(&self) -> Option<&str> {
        match self {
            Proof::Code(c) => Some(c),
            Proof::Passkey { .. } => None,
        }
    }

    /// The passkey ceremony this proof answers.
    fn ceremony(&self) -> Option<&str> {
        match self {
            Proof::Code(_) => None,
            Proof::Passkey { ceremony_id, .. } => Some(ceremony_id),
        }
    }
}

/// A method named by a request: `unknown_method` before any slot is taken or code checked.
fn parse_method(method: &str) -> Result<Method, AppError> {
    Method::parse(method).ok_or_else(|| {
        DomainError::field(
            "unknown_method",
            "method",
            "method is passkey, totp, sms or recovery_code",
        )
        .into()
    })
}

/// The person's pending authenticator-app enrolment (`factor_id`, or the latest one).
fn pending_totp<'a>(
    all: &'a [FactorRow],
    factor_id: Option<&str>,
    now: Millis,
) -> Result<&'a FactorRow, AppError> {
    all.iter()
        .filter(|f| {
            f.confirmed_at.is_none() && f.kind == "totp" && now.0 - f.created_at.0 < PENDING_TTL_MS
        })
        .filter(|f| factor_id.is_none_or(|id| id == f.id))
        .next_back()
        .ok_or_else(|| {
            DomainError::conflict(
                "no_pending_enrolment",
                "start enrolment first (POST /api/v1/me/mfa/totp)",
            )
            .into()
        })
}

pub(crate) fn confirmed(factors: &[FactorRow]) -> impl Iterator<Item = &FactorRow> {
    factors.iter().filter(|f| f.confirmed_at.is_some())
}

/// A factor's name as given (trimmed), else `default`: 1 to 100 characters, no control characters.
pub(crate) fn factor_name(name: Option<&str>, default: &str) -> Result<String, AppError> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(default);
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(DomainError::field(
            "invalid_name",
            "name",
            "a factor name has 1 to 100 characters",
        )
        .into());
    }
    Ok(name.to_owned())
}

fn unix_secs(now: Millis) -> u64 {
    u64::try_from(now.0 / 1000).unwrap_or(0)
}

impl App {
    fn open_secret(&self, f: &FactorRow) -> Result<Vec<u8>, AppError> {
        let (Some(key_id), Some(sealed)) = (&f.key_id, &f.secret_sealed) else {
            return Err(AppError::internal("factor without a sealed secret"));
        };
        self.settings()
            .mfa_keyring
            .open(key_id, sealed, &f.id)
            .map_err(|e| AppError::internal(format!("factor {}: {e}", f.id)))
    }

    /// The methods a person can answer a challenge with.
    pub(crate) async fn methods(
        &self,
        c: &mut Conn,
        person: PersonId,
    ) -> Result<Vec<Method>, AppError> {
        let factors = store::factors(&mut *c, person).await?;
        self.methods_with(c, person, &factors).await
    }

    /// The methods, given the person's factors (read already).
    async fn methods_with(
        &self,
        c: &mut Conn,
        person: PersonId,
        factors: &[FactorRow],
    ) -> Result<Vec<Method>, AppError> {
        let mut m = Vec::new();
        for method in [Method::Passkey, Method::Totp, Method::Sms] {
            if confirmed(factors).any(|f| f.kind == method.as_str()) {
                m.push(method);
            }
        }
        if !m.is_empty() && store::recovery_codes_left(c, person).await? > 0 {
            m.push(Method::RecoveryCode);
        }
        Ok(m)
    }

    /// The check behind the gate's [`App::check_code`], which alone turns the kind passed into
    /// a `FactorPassed`.
    pub(crate) async fn check_code_kind(
        &self,
        c: &mut Conn,
        person: PersonId,
        method: Method,
        proof: Proof<'_>,
        now: Millis,
    ) -> Result<Option<Method>, AppError> {
        let code_needed = || {
            AppError::from(DomainError::field(
                "code_required",
                "code",
                "this method needs a code",
            ))
        };
        // One read of the factors serves the enrolment check and the TOTP check.
        let factors = store::factors(&mut *c, person).await?;
        let enrolled = match method.factor() {
            Some(kind) => confirmed(&factors).any(|f| f.kind == kind.as_str()),
            None => self
                .methods_with(&mut *c, person, &factors)
                .await?
                .contains(&method),
        };
        if !enrolled {
            return Err(DomainError::field(
                "method_not_enrolled",
                "method",
                "you have not set up this method",
            )
            .into());
        }
        match method {
            Method::Passkey => {
                let Proof::Passkey {
                    ceremony_id,
                    credential,
                } = proof
                else {
                    return Err(DomainError::field(
                        "credential_required",
                        "credential",
                        "a passkey answer needs ceremony_id and credential",
                    )
                    .into());
                };
                self.check_passkey(c, person, ceremony_id, credential, now)
                    .await
            }
            Method::Totp => {
                let code = proof.code().ok_or_else(code_needed)?;
                // The step is recorded by a conditional UPDATE (only a later step than the
                // last accepted), so two requests cannot both use one code, even concurrently.
                for f in confirmed(&factors) {
                    if f.kind != "totp" {
                        continue;
                    }
                    let secret = self.open_secret(f)?;
                    let last = f.last_step.and_then(|s| u64::try_from(s).ok());
                    if let Some(step) = rules::check_totp(&secret, code, unix_secs(now), last)
                        && store::accept_step(&mut *c, &f.id, step as i64, now).await?
                    {
                        return Ok(Some(Method::Totp));
                    }
                }
                Ok(None)
            }
            Method::Sms => {
                let code = proof.code().ok_or_else(code_needed)?;
                Ok(self
                    .check_sms(c, person, code, now)
                    .await?
                    .then_some(Method::Sms))
            }
            Method::RecoveryCode => {
                let code = proof.code().ok_or_else(code_needed)?;
                let Some(hash) = rules::hash_recovery_code(code) else {
                    return Ok(None);
                };
                Ok(store::use_recovery_code(c, person, &hash, now)
                    .await?
                    .then_some(Method::RecoveryCode))
            }
        }
    }

    /// Records a wrong answer (its audit event; the SMS code's own count) in a transaction of its
    /// own, as the attempt's own transaction is rolled back. Its limit slots were taken before
    /// the check (see [`App::reserve_code_answer`]).
    pub(crate) async fn code_failed(
        &self,
        person: PersonId,
        email: &str,
        meta: &Meta,
        method: Method,
        ceremony: Option<&str>,
    ) -> Result<(), AppError> {
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        // A passkey ceremony answered wrongly is spent too (the check's own spending rolled
        // back with it), so one ceremony gets one answer.
        if let Some(id) = ceremony {
            watchword_store::webauthn::spend(&mut tx, &hash_token(id), now).await?;
        }
        if method == Method::Sms {
            self.sms_failed(&mut tx, person).await?;
        }
        let event = events::by_person(person, email, meta, None, AuditAction::MfaCodeFailed)
            .target("person", person)
            .details(serde_json::json!({ "method": method.as_str() }));
        events::fan_out(&mut tx, person, event, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sends the person a security notice and, for recovery codes, warns when few are left.
    pub(crate) async fn notify(
        &self,
        c: &mut Conn,
        person: &watchword_store::rows::PersonRow,
        subject: &str,
        what: &str,
        advice: &str,
        meta: &Meta,
        now: Millis,
    ) -> Result<(), AppError> {
        let t = mail::SecurityNotice {
            name: &person.name,
            subject,
            what,
            advice,
            ip: &meta.ip,
            at: now,
        };
        mail::enqueue(c, None, &person.email, &t, now).await?;
        Ok(())
    }

    pub(crate) async fn person(
        &self,
        c: &mut Conn,
        id: PersonId,
    ) -> Result<watchword_store::rows::PersonRow, AppError> {
        persons::get(c, id)
            .await?
            .filter(|p| p.active)
            .ok_or(AppError::Unauthenticated)
    }

    /// The person a live login challenge belongs to.
    pub(crate) async fn challenge_person(
        &self,
        challenge_id: &str,
    ) -> Result<Option<PersonId>, AppError> {
        let now = Millis::now();
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

    /// Renames a factor of the caller.
    pub async fn rename_factor(&self, actor: &Actor, id: &str, name: &str) -> Result<(), AppError> {
        // An empty name is refused by the 1-to-100 rule (no default applies to a rename).
        let name = factor_name(Some(name), "")?;
        let mut tx = self.store().begin().await?;
        if !store::rename_factor(&mut tx, actor.person, id, &name).await? {
            return Err(AppError::NotFound);
        }
        tx.commit().await?;
        Ok(())
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
        let now = Millis::now();
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
            self.code_failed(person.id, &person.email, meta, method, proof.ceremony())
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
        let event = events::by_person(
            person.id,
            &person.email,
            meta,
            None,
            AuditAction::LoginSucceeded,
        )
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
        let event = events::by_person(
            person.id,
            &person.email,
            meta,
            None,
            AuditAction::MfaRecoveryCodeUsed,
        )
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
        let now = Millis::now();
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
                proof.ceremony(),
            )
            .await?;
            return Err(AppError::InvalidCode);
        };
        let kind = passed.kind();
        watchword_store::limits::give_back(&mut tx, &slot).await?;
        sessions::mark_mfa(&mut tx, actor.session, kind.as_str(), now).await?;
        let event = events::by_person(
            actor.person,
            &actor.email,
            &actor.meta,
            None,
            AuditAction::SessionReauthenticated,
        )
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

    pub async fn mfa_status(&self, actor: &Actor) -> Result<MfaStatus, AppError> {
        let mut c = self.store().read().await?;
        let factors: Vec<FactorView> = confirmed(&store::factors(&mut c, actor.person).await?)
            .map(FactorView::of)
            .collect();
        let left = store::recovery_codes_left(&mut c, actor.person).await?;
        let enforced_by = members::of_person_all(&mut c, actor.person)
            .await?
            .into_iter()
            .filter(|(a, m)| a.enforces_mfa() && m.grants_access(Millis::now()))
            .map(|(a, _)| a.id)
            .collect();
        Ok(MfaStatus {
            add_backup: factors.len() == 1,
            recovery_codes_low: !factors.is_empty() && left as usize <= rules::RECOVERY_CODES_LOW,
            factors,
            recovery_codes_left: left,
            enforced_by,
        })
    }

    /// Starts enrolling an authenticator app: a new secret, shown this once, waiting for a code.
    pub async fn start_totp(
        &self,
        actor: &Actor,
        name: Option<&str>,
    ) -> Result<TotpEnrolment, AppError> {
        self.require_recent_auth(actor, "add a second factor")?;
        let name = factor_name(name, "Authenticator app")?;
        let secret = rules::new_totp_secret();
        let id = format!("mfa_{}", uuid::Uuid::new_v4().simple());
        let (key_id, sealed) = self.settings().mfa_keyring.seal(&secret, &id);
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        store::delete_pending(&mut tx, actor.person, Millis(now.0 - PENDING_TTL_MS)).await?;
        store::insert_factor(
            &mut tx,
            NewFactor {
                id: &id,
                person: actor.person,
                kind: "totp",
                name: &name,
                sealed: Some((&key_id, &sealed)),
                passkey: None,
                phone_hint: None,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(TotpEnrolment {
            otpauth_uri: rules::totp_uri(&secret, &actor.email),
            secret_base32: rules::totp_secret_base32(&secret),
            factor_id: id,
        })
    }

    /// A pending authenticator-app enrolment shown again (its QR code and key), so that a wrong
    /// code can be retried with the same app entry.
    pub async fn pending_totp_enrolment(
        &self,
        actor: &Actor,
        factor_id: &str,
    ) -> Result<TotpEnrolment, AppError> {
        // The key is a secret: shown again only as recently as it could be issued.
        self.require_recent_auth(actor, "add a second factor")?;
        let all = store::factors(&mut *self.store().read().await?, actor.person).await?;
        let pending = pending_totp(&all, Some(factor_id), Millis::now())?;
        let secret = self.open_secret(pending)?;
        Ok(TotpEnrolment {
            otpauth_uri: rules::totp_uri(&secret, &actor.email),
            secret_base32: rules::totp_secret_base32(&secret),
            factor_id: pending.id.clone(),
        })
    }

    /// Confirms an enrolment with a code from the app (`factor_id`, or the latest pending one).
    /// The first factor comes with ten recovery codes; the session counts as having passed it.
    pub async fn confirm_totp(
        &self,
        actor: &Actor,
        factor_id: Option<&str>,
        code: &str,
    ) -> Result<Confirmed, AppError> {
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        let person = self.person(&mut tx, actor.person).await?;
        let all = store::factors(&mut tx, actor.person).await?;
        let pending = pending_totp(&all, factor_id, now)?;
        let secret = self.open_secret(pending)?;
        let step =
            rules::check_totp(&secret, code, unix_secs(now), None).ok_or(AppError::InvalidCode)?;
        store::accept_step(&mut tx, &pending.id, step as i64, now).await?;
        let first = confirmed(&all).next().is_none();
        let what = format!(
            "An authenticator app ({}) was added to your watchword login",
            pending.name
        );
        let codes = self
            .factor_added(&mut tx, actor, &person, pending, first, &what, now)
            .await?;
        let mut factor = FactorView::of(pending);
        factor.last_used_at = Some(now);
        tx.commit().await?;
        self.committed();
        Ok(Confirmed {
            factor,
            recovery_codes: codes,
        })
    }

    /// What follows a confirmed new factor: recovery codes when it is the first, the session
    /// counted as having passed it, an audit event and an email. Returns the codes to show once.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn factor_added(
        &self,
        c: &mut Conn,
        actor: &Actor,
        person: &watchword_store::rows::PersonRow,
        factor: &FactorRow,
        first: bool,
        what: &str,
        now: Millis,
    ) -> Result<Option<Vec<String>>, AppError> {
        let codes = if first {
            let codes = rules::new_recovery_codes();
            let hashes: Vec<Vec<u8>> = codes
                .iter()
                .filter_map(|c| rules::hash_recovery_code(c))
                .collect();
            store::replace_recovery_codes(&mut *c, actor.person, &hashes, now).await?;
            Some(codes)
        } else {
            None
        };
        sessions::mark_mfa(&mut *c, actor.session, &factor.kind, now).await?;
        let event = events::by_person(actor.person, &actor.email, &actor.meta, None, AuditAction::MfaFactorAdded)
            .target("mfa_factor", &factor.id)
            .details(serde_json::json!({ "kind": factor.kind, "name": factor.name, "recovery_codes_issued": first }));
        events::fan_out(&mut *c, actor.person, event, now).await?;
        let advice = if first {
            "Keep your recovery codes somewhere safe, and add a second method (another app or a passkey) so you are never locked out."
        } else {
            ""
        };
        self.notify(
            c,
            person,
            "A second factor was added to your login",
            what,
            advice,
            &actor.meta,
            now,
        )
        .await?;
        Ok(codes)
    }

    /// Removes a factor. The last one cannot go while an account of the person requires MFA;
    /// with the last one go the recovery codes.
    pub async fn remove_factor(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        self.require_recent_auth(actor, "remove a second factor")?;
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        let person = self.person(&mut tx, actor.person).await?;
        let all = store::factors(&mut tx, actor.person).await?;
        let factor = all.iter().find(|f| f.id == id).ok_or(AppError::NotFound)?;
        let last = factor.confirmed_at.is_some() && confirmed(&all).count() == 1;
        if last {
            let enforcing = members::of_person_all(&mut tx, actor.person)
                .await?
                .into_iter()
                .any(|(a, m)| a.enforces_mfa() && m.grants_access(now));
            if enforcing {
                return Err(DomainError::conflict(
                    "last_factor_required",
                    "an account you belong to requires MFA: add another factor before removing this one",
                )
                .into());
            }
            store::replace_recovery_codes(&mut tx, actor.person, &[], now).await?;
        }
        store::delete_factor(&mut tx, actor.person, id).await?;
        if factor.confirmed_at.is_some() {
            let event = events::by_person(
                actor.person,
                &actor.email,
                &actor.meta,
                None,
                AuditAction::MfaFactorRemoved,
            )
            .target("mfa_factor", id)
            .details(
                serde_json::json!({ "kind": factor.kind, "name": factor.name, "mfa_off": last }),
            );
            events::fan_out(&mut tx, actor.person, event, now).await?;
            let what = format!(
                "A second factor ({}) was removed from your watchword login",
                factor.name
            );
            let advice = if last {
                "Your login is now protected by your password alone: add a factor again soon."
            } else {
                ""
            };
            self.notify(
                &mut tx,
                &person,
                "A second factor was removed from your login",
                &what,
                advice,
                &actor.meta,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    /// A new set of ten recovery codes (shown this once); the old set stops working.
    pub async fn regenerate_recovery_codes(&self, actor: &Actor) -> Result<Vec<String>, AppError> {
        self.require_recent_auth(actor, "regenerate recovery codes")?;
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        let person = self.person(&mut tx, actor.person).await?;
        if confirmed(&store::factors(&mut tx, actor.person).await?)
            .next()
            .is_none()
        {
            return Err(DomainError::conflict(
                "mfa_not_enrolled",
                "add a second factor first; recovery codes come with it",
            )
            .into());
        }
        let codes = rules::new_recovery_codes();
        let hashes: Vec<Vec<u8>> = codes
            .iter()
            .filter_map(|c| rules::hash_recovery_code(c))
            .collect();
        store::replace_recovery_codes(&mut tx, actor.person, &hashes, now).await?;
        let event = events::by_person(
            actor.person,
            &actor.email,
            &actor.meta,
            None,
            AuditAction::MfaRecoveryCodesRegenerated,
        )
        .target("person", actor.person);
        events::fan_out(&mut tx, actor.person, event, now).await?;
        self.notify(&mut tx, &person, "New recovery codes were generated", "A new set of recovery codes was generated for your watchword login; the old codes no longer work", "", &actor.meta, now).await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Refuses a person's session in an account that requires MFA until it passed a factor.
    pub(crate) async fn check_mfa_enforced(
        &self,
        c: &mut Conn,
        actor: &Actor,
        account: &watchword_store::rows::AccountRow,
    ) -> Result<(), AppError> {
        if !account.enforces_mfa() || actor.mfa_at.is_some() {
            return Ok(());
        }
        let enrolled = confirmed(&store::factors(c, actor.person).await?)
            .next()
            .is_some();
        Err(if enrolled {
            DomainError::forbidden(
                "mfa_verification_required",
                "this account requires MFA: confirm a code (POST /api/v1/me/reauthenticate) or log in again",
            )
        } else {
            DomainError::forbidden(
                "mfa_enrollment_required",
                "this account requires MFA: add an authenticator app (POST /api/v1/me/mfa/totp) first",
            )
        }
        .into())
    }

    /// "Require MFA" for an account (Owners and Admins; always on for paid plans). Turning it
    /// on needs the person doing it to have MFA, so they do not lock themselves out.
    pub async fn set_mfa_required(
        &self,
        actor: &Actor,
        account: AccountId,
        on: bool,
    ) -> Result<bool, AppError> {
        self.require_recent_auth(actor, "change account security settings")?;
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        let access = self.access(&mut tx, actor, account).await?;
        access.require(Permission::AccountSettingsEdit)?;
        let a = &access.account;
        if !on && a.plan == Plan::Paid {
            return Err(DomainError::conflict(
                "mfa_always_required",
                "MFA is always required on paid plans",
            )
            .into());
        }
        if on && actor.mfa_at.is_none() {
            return Err(DomainError::conflict(
                "enroll_mfa_first",
                "add a second factor to your own login before requiring MFA of everyone",
            )
            .into());
        }
        if a.mfa_required != on {
            accounts::set_mfa_required(&mut tx, account, on).await?;
            let event = events::by_actor(actor, account, AuditAction::AccountSettingsChanged)
                .details(
                    serde_json::json!({ "mfa_required": { "from": a.mfa_required, "to": on } }),
                );
            audit::append(&mut tx, &event, now).await?;
            if !on {
                self.alert_contact(&mut tx, a, actor, "\"Require MFA\" was turned off", now)
                    .await?;
            }
            let person = self.person(&mut tx, actor.person).await?;
            let what = format!(
                "You turned {} \"require MFA\" for the account {}",
                if on { "on" } else { "off" },
                a.name
            );
            self.notify(
                &mut tx,
                &person,
                "MFA enforcement changed",
                &what,
                "",
                &actor.meta,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        self.committed();
        Ok(on || a.plan == Plan::Paid)
    }

    /// Whether an account requires MFA, and how many of its members have no second factor
    /// (Account > Settings > Security).
    pub async fn mfa_settings(
        &self,
        caller: &crate::Caller,
        account: AccountId,
    ) -> Result<(bool, i64), AppError> {
        let mut c = self.store().read().await?;
        let a = self
            .authorize(
                &mut c,
                caller,
                account,
                Permission::AccountSettingsRead,
                "account_settings:read",
            )
            .await?;
        Ok((
            a.enforces_mfa(),
            store::members_without_mfa(&mut c, account).await?,
        ))
    }

    /// Re-seals every authenticator secret not sealed under the keyring's current key (after a
    /// key was added). Returns how many were re-sealed.
    pub async fn reseal_mfa_secrets(&self) -> Result<usize, AppError> {
        let ring = &self.settings().mfa_keyring;
        let now = Millis::now();
        let mut tx = self.store().begin().await?;
        let mut n = 0;
        for f in store::all_sealed(&mut tx).await? {
            if f.key_id.as_deref() == Some(ring.current_id()) {
                continue;
            }
            let plain = self.open_secret(&f)?;
            let (key_id, sealed) = ring.seal(&plain, &f.id);
            store::reseal(&mut tx, &f.id, &key_id, &sealed).await?;
            n += 1;
        }
        let event = events::system(None, AuditAction::MfaKeysRotated)
            .details(serde_json::json!({ "key_id": ring.current_id(), "resealed": n }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(n)
    }
}
