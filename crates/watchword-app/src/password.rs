//! A signed-in person's password: changing it, confirming it again for a sensitive action
//! (step-up), and the limit on wrong current passwords.

use crate::events::{self, EventExt};
use crate::limits::PASSWORD_CHECKS_PER_PERSON;
use crate::mail;
use crate::{Actor, App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::password::{self, Password};
use watchword_domain::*;
use watchword_store::{persons, sessions};

impl App {
    /// Changes the actor's password after checking the current one; every other session ends and
    /// the person is told by email.
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
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
        let now = self.now();
        let mut tx = self.store().begin().await?;
        persons::set_password(&mut tx, person.id, &hash, now).await?;
        watchword_store::mfa::void_resets(&mut tx, person.id, now).await?;
        let revoked =
            sessions::revoke_all_except(&mut tx, person.id, Some(actor.session), now).await?;
        let event = events::by_self(actor, AuditAction::PasswordChanged)
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
    /// Confirms the password again for a sensitive action: the session counts as freshly
    /// authenticated.
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn reauthenticate(&self, actor: &Actor, pw: Password) -> Result<(), AppError> {
        let person = persons::get(&mut *self.store().read().await?, actor.person)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if !self.current_password_ok(&person, pw).await? {
            return Err(AppError::InvalidCredentials);
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        sessions::mark_authenticated(&mut tx, actor.session, now).await?;
        let event = events::by_self(actor, AuditAction::SessionReauthenticated)
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
