//! Second factors at work: which methods a person has, checking a code (TOTP, SMS, recovery
//! code) against them, and an account's "require MFA" rule. Enrolling and removing factors is
//! `factors`; the login challenge is `signin`.

use crate::events::{self, EventExt};
use crate::mail;
use crate::{Actor, App, AppError, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::mfa::{self as rules, Method};
use watchword_domain::token::hash_token;
use watchword_domain::*;
use watchword_store::mfa::{self as store, FactorRow};
use watchword_store::{Conn, accounts, audit, persons};

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
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            Proof::Code(c) => Some(c),
            Proof::Passkey { .. } => None,
        }
    }

    /// The passkey ceremony this proof answers.
    pub(crate) fn ceremony(&self) -> Option<&str> {
        match self {
            Proof::Code(_) => None,
            Proof::Passkey { ceremony_id, .. } => Some(ceremony_id),
        }
    }
}

/// A method named by a request: `unknown_method` before any slot is taken or code checked.
pub(crate) fn parse_method(method: &str) -> Result<Method, AppError> {
    Method::parse(method).ok_or_else(|| {
        DomainError::field(
            "unknown_method",
            "method",
            "method is passkey, totp, sms or recovery_code",
        )
        .into()
    })
}

pub(crate) fn confirmed(factors: &[FactorRow]) -> impl Iterator<Item = &FactorRow> {
    factors.iter().filter(|f| f.confirmed_at.is_some())
}

/// A factor's name as given (trimmed), else `default`: 1 to 100 characters, no control characters.
pub(crate) fn factor_name(name: Option<&str>, default: &str) -> Result<String, AppError> {
    let name = name.filter(|n| !n.trim().is_empty()).unwrap_or(default);
    Ok(watchword_domain::text::label(name, "a factor name")?)
}

pub(crate) fn unix_secs(now: Millis) -> u64 {
    u64::try_from(now.0 / 1000).unwrap_or(0)
}

impl App {
    pub(crate) fn open_secret(&self, f: &FactorRow) -> Result<Vec<u8>, AppError> {
        let (Some(key_id), Some(sealed)) = (&f.key_id, &f.secret_sealed) else {
            return Err(AppError::internal("factor without a sealed secret"));
        };
        self.open_sealed(key_id, sealed, &f.id)
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
    /// the check (see [`App::reserve_code_answer`]). An authenticator code that was already
    /// used (a replay: someone saw or relayed it, and got past the password) is marked so in the
    /// event and tells the holder by email, at most once an hour.
    pub(crate) async fn code_failed(
        &self,
        person: PersonId,
        email: &str,
        meta: &Meta,
        method: Method,
        proof: Option<&Proof<'_>>,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let ceremony = proof.and_then(|p| p.ceremony());
        let replayed = match proof.and_then(|p| p.code()) {
            Some(code) if method == Method::Totp => {
                self.is_replay(&mut tx, person, code, now).await?
            }
            _ => false,
        };
        // A passkey ceremony answered wrongly is spent too (the check's own spending rolled
        // back with it), so one ceremony gets one answer.
        if let Some(id) = ceremony {
            watchword_store::webauthn::spend(&mut tx, &hash_token(id), now).await?;
        }
        if method == Method::Sms {
            self.sms_failed(&mut tx, person).await?;
        }
        let details = if replayed {
            serde_json::json!({ "method": method.as_str(), "replayed": true })
        } else {
            serde_json::json!({ "method": method.as_str() })
        };
        let event = events::by_person(person, email, meta, None, AuditAction::MfaCodeFailed)
            .target("person", person)
            .details(details);
        events::fan_out(&mut tx, person, event, now).await?;
        if replayed {
            let hourly =
                [crate::limits::REPLAY_NOTICES_PER_PERSON.bucket(&person.to_string(), now)];
            let slot = uuid::Uuid::now_v7().to_string();
            let first = crate::limits::take(&mut tx, self.store().dialect(), &slot, &hourly, now)
                .await?
                .is_ok();
            if first {
                let p = self.person(&mut tx, person).await?;
                self.notify(
                    &mut tx,
                    &p,
                    "An authenticator code was used again",
                    "A code from your authenticator app that had already been used was entered again for your watchword login, by someone past your password or holding one of your sessions",
                    "Someone may have seen or intercepted your code: sign out everywhere from your security page.",
                    meta,
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether `code` is one of the person's authenticator codes already used: it matches a step
    /// (within the accepted drift) no later than a factor's last accepted step.
    async fn is_replay(
        &self,
        c: &mut Conn,
        person: PersonId,
        code: &str,
        now: Millis,
    ) -> Result<bool, AppError> {
        for f in confirmed(&store::factors(&mut *c, person).await?) {
            let Some(last) = f.last_step.filter(|_| f.kind == "totp") else {
                continue;
            };
            let secret = self.open_secret(f)?;
            if rules::check_totp(&secret, code, unix_secs(now), None)
                .is_some_and(|step| step as i64 <= last)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Sends the person a security notice and, for recovery codes, warns when few are left.
    #[allow(clippy::too_many_arguments)]
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

    /// "Require MFA" for an account (Owners and Admins; always on for paid plans). Turning it
    /// on needs the person doing it to have MFA, so they do not lock themselves out.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn set_mfa_required(
        &self,
        actor: &Actor,
        account: AccountId,
        on: bool,
    ) -> Result<bool, AppError> {
        self.require_recent_auth(actor, "change account security settings")?;
        let now = self.now();
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
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn mfa_settings(
        &self,
        caller: &crate::Caller,
        account: AccountId,
    ) -> Result<(bool, i64), AppError> {
        let mut c = self.store().read().await?;
        let a = self.settings_reader(&mut c, caller, account).await?;
        Ok((
            a.enforces_mfa(),
            store::members_without_mfa(&mut c, account).await?,
        ))
    }
}
