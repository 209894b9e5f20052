//! A person's second factors: authenticator apps (TOTP) enrolled and confirmed, renamed,
//! removed; recovery codes; the security page's status; re-sealing secrets after a key rotation.

use crate::events::{self, EventExt};
use crate::mfa::{confirmed, factor_name, unix_secs};
use crate::{Actor, App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::mfa::{self as rules, FactorKind};
use watchword_domain::*;
use watchword_store::mfa::{self as store, FactorRow, NewFactor};
use watchword_store::{Conn, audit, members, sessions};

/// An enrolment never confirmed is dropped after this long.
const PENDING_TTL_MS: i64 = 3_600_000;

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
        .rfind(|f| factor_id.is_none_or(|id| id == f.id))
        .ok_or_else(|| {
            DomainError::conflict(
                "no_pending_enrolment",
                "start enrolment first (POST /api/v1/me/mfa/totp)",
            )
            .into()
        })
}

impl App {
    /// Renames a factor of the caller.
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
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

    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn mfa_status(&self, actor: &Actor) -> Result<MfaStatus, AppError> {
        let mut c = self.store().read().await?;
        let factors: Vec<FactorView> = confirmed(&store::factors(&mut c, actor.person).await?)
            .map(FactorView::of)
            .collect();
        let left = store::recovery_codes_left(&mut c, actor.person).await?;
        let enforced_by = members::of_person_all(&mut c, actor.person)
            .await?
            .into_iter()
            .filter(|(a, m)| a.enforces_mfa() && m.grants_access(self.now()))
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
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn start_totp(
        &self,
        actor: &Actor,
        name: Option<&str>,
    ) -> Result<TotpEnrolment, AppError> {
        self.require_own_sign_in(actor, "add a second factor")
            .await?;
        let name = factor_name(name, "Authenticator app")?;
        let secret = rules::new_totp_secret();
        let id = format!("mfa_{}", uuid::Uuid::new_v4().simple());
        let (key_id, sealed) = self.keyring().seal(&secret, &id);
        let now = self.now();
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
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn pending_totp_enrolment(
        &self,
        actor: &Actor,
        factor_id: &str,
    ) -> Result<TotpEnrolment, AppError> {
        // The key is a secret: shown again only as recently as it could be issued.
        self.require_own_sign_in(actor, "add a second factor")
            .await?;
        let all = store::factors(&mut *self.store().read().await?, actor.person).await?;
        let pending = pending_totp(&all, Some(factor_id), self.now())?;
        let secret = self.open_secret(pending)?;
        Ok(TotpEnrolment {
            otpauth_uri: rules::totp_uri(&secret, &actor.email),
            secret_base32: rules::totp_secret_base32(&secret),
            factor_id: pending.id.clone(),
        })
    }

    /// Confirms an enrolment with a code from the app (`factor_id`, or the latest pending one).
    /// The first factor comes with ten recovery codes; the session counts as having passed it.
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn confirm_totp(
        &self,
        actor: &Actor,
        factor_id: Option<&str>,
        code: &str,
    ) -> Result<Confirmed, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let person = self.person(&mut tx, actor.person).await?;
        let all = store::factors(&mut tx, actor.person).await?;
        let pending = pending_totp(&all, factor_id, now)?;
        let secret = self.open_secret(pending)?;
        let step =
            rules::check_totp(&secret, code, unix_secs(now), None).ok_or(AppError::InvalidCode)?;
        store::accept_step(&mut tx, &pending.id, step as i64, now).await?;
        let what = format!(
            "An authenticator app ({}) was added to your watchword login",
            pending.name
        );
        self.finish_enrolment(tx, actor, &person, &all, pending, &what, now)
            .await
    }

    /// Commits a confirmed new factor with what follows it (`factor_added`) and shows it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn finish_enrolment(
        &self,
        mut tx: watchword_store::Tx,
        actor: &Actor,
        person: &watchword_store::rows::PersonRow,
        all: &[FactorRow],
        pending: &FactorRow,
        what: &str,
        now: Millis,
    ) -> Result<Confirmed, AppError> {
        let first = confirmed(all).next().is_none();
        let codes = self
            .factor_added(&mut tx, actor, person, pending, first, what, now)
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
        let event = events::by_self(actor, AuditAction::MfaFactorAdded)
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
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn remove_factor(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        self.require_own_sign_in(actor, "remove a second factor")
            .await?;
        let now = self.now();
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
            let event = events::by_self(actor, AuditAction::MfaFactorRemoved)
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
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn regenerate_recovery_codes(&self, actor: &Actor) -> Result<Vec<String>, AppError> {
        self.require_own_sign_in(actor, "regenerate recovery codes")
            .await?;
        let now = self.now();
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
        let event = events::by_self(actor, AuditAction::MfaRecoveryCodesRegenerated)
            .target("person", actor.person);
        events::fan_out(&mut tx, actor.person, event, now).await?;
        self.notify(&mut tx, &person, "New recovery codes were generated", "A new set of recovery codes was generated for your watchword login; the old codes no longer work", "", &actor.meta, now).await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Re-seals every value sealed with the keyring (authenticator secrets and phone numbers, SSO
    /// client secrets, audit stream secrets, report headers and attachments) that is not sealed
    /// under its current key (after a key was added). Returns how many were re-sealed.
    pub async fn reseal_mfa_secrets(&self) -> Result<usize, AppError> {
        let ring = self.keyring();
        let ring = &*ring;
        let now = self.now();
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
        // SSO client secrets, audit stream secrets, report headers and attachments alike.
        use watchword_store::sealed::{self as other, SEALED};
        for (i, (table, _, _)) in SEALED.iter().enumerate() {
            for id in other::stale(&mut tx, i, ring.current_id()).await? {
                let Some((key, value)) = other::read(&mut tx, i, &id).await? else {
                    continue;
                };
                let plain = ring
                    .open(&key, &value, &id)
                    .map_err(|_| AppError::internal(format!("{table} {id} does not open")))?;
                let (key_id, sealed) = ring.seal(&plain, &id);
                other::write(&mut tx, i, &id, &key_id, &sealed).await?;
                n += 1;
            }
        }
        let event = events::system(None, AuditAction::MfaKeysRotated)
            .details(serde_json::json!({ "key_id": ring.current_id(), "resealed": n }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(n)
    }
}
