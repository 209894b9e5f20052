//! Getting back in and staying in control: password reset by email (the same answer for any
//! address), and a change of login email confirmed from the new address and told to the old.

use crate::events::{self, EventExt};
use crate::limits::{
    EMAIL_CHANGES_PER_PERSON, RESET_MAILS_PER_EMAIL, RESETS_PER_IP, TAKEN_NOTICES_PER_EMAIL,
    too_many_mails,
};
use crate::mail;
use crate::{Actor, App, AppError, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::password::{self, Password};
use watchword_domain::token::{hash_token, random_token};
use watchword_domain::*;
use watchword_store::mfa as store;
use watchword_store::{email_changes, persons, sessions};

/// How long the link confirming a new email works.
const EMAIL_CHANGE_TTL_SECS: i64 = 3600;

impl App {
    /// Emails a reset link when `email` belongs to an active person. Answers the same, at once,
    /// either way: the work happens off the request path, so timing tells nothing either. At
    /// most [`RESETS_PER_IP`] requests from one IP (429), and [`RESET_MAILS_PER_EMAIL`] mails to
    /// one address (further requests change nothing, silently).
    pub async fn request_password_reset(&self, email: &str, meta: &Meta) -> Result<(), AppError> {
        self.take_slot(&[(RESETS_PER_IP, &meta.ip)], too_many_mails)
            .await?;
        let Ok(email) = EmailAddress::parse(email) else {
            return Ok(());
        };
        let (app, meta) = (self.clone(), meta.clone());
        tokio::spawn(async move {
            if let Err(e) = app.send_reset(email.as_str(), &meta).await {
                tracing::warn!(error = %e, "could not prepare a password reset");
            }
        });
        Ok(())
    }

    async fn send_reset(&self, email: &str, meta: &Meta) -> Result<(), AppError> {
        let key = hex::encode(hash_token(email));
        if self
            .take_slot(&[(RESET_MAILS_PER_EMAIL, &key)], too_many_mails)
            .await
            .is_err()
        {
            return Ok(());
        }
        let Some(person) = persons::by_email(&mut *self.store().read().await?, email)
            .await?
            .filter(|p| p.active)
        else {
            return Ok(());
        };
        let now = self.now();
        if person.password_hash == crate::access::NO_PASSWORD {
            // Provisioned by an IdP: no password to set, and none may be given by mail.
            let mut tx = self.store().begin().await?;
            let t = mail::CompanySignIn { name: &person.name };
            mail::enqueue(&mut tx, None, &person.email, &t, now).await?;
            tx.commit().await?;
            self.committed();
            return Ok(());
        }
        let token = random_token();
        let link = format!(
            "{}/reset-password?token={token}",
            self.settings().public_url.trim_end_matches('/')
        );
        let mut tx = self.store().begin().await?;
        // One link at a time per person: a newer one voids the older, even when racing.
        persons::lock(&mut tx, self.store().dialect(), person.id).await?;
        store::insert_reset(
            &mut tx,
            &hash_token(&token),
            person.id,
            now,
            now.plus_secs(self.settings().password_reset_ttl_secs),
        )
        .await?;
        mail::enqueue(
            &mut tx,
            None,
            &person.email,
            &mail::PasswordReset {
                name: &person.name,
                link: &link,
            },
            now,
        )
        .await?;
        let event = events::of_person(&person, meta, AuditAction::PasswordResetRequested)
            .target("person", person.id);
        events::fan_out(&mut tx, person.id, event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    /// Sets a new password with a reset token (once, within the hour): every session ends, and
    /// the person is told. Second factors stay: the next login still asks for one.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new: Password,
        meta: &Meta,
    ) -> Result<(), AppError> {
        let hash = hash_token(token);
        let invalid = || {
            AppError::from(DomainError::field(
                "invalid_reset_token",
                "token",
                "this reset link is invalid, used or expired",
            ))
        };
        let now = self.now();
        let mut c = self.store().read().await?;
        let person_id = store::reset_person(&mut c, &hash, now)
            .await?
            .ok_or_else(invalid)?;
        let person = self
            .person(&mut c, person_id)
            .await
            .ok()
            .filter(|p| p.password_hash != crate::access::NO_PASSWORD)
            .ok_or_else(invalid)?;
        drop(c);
        password::check_policy(&new, &EmailAddress::parse(&person.email)?, &person.name)?;
        let phc = self.hashing(move |h| h.hash(&new)).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if store::use_reset(&mut tx, &hash, now).await? != Some(person.id) {
            return Err(invalid());
        }
        persons::set_password(&mut tx, person.id, &phc, now).await?;
        persons::require_password_reset(&mut tx, person.id, None).await?;
        let revoked = sessions::revoke_all_except(&mut tx, person.id, None, now).await?;
        let event = events::of_person(&person, meta, AuditAction::PasswordReset)
            .target("person", person.id)
            .details(serde_json::json!({ "sessions_revoked": revoked }));
        events::fan_out(&mut tx, person.id, event, now).await?;
        self.notify(&mut tx, &person, "Your watchword password was reset", "The password of your watchword login was reset with an emailed link and every session was signed out", "", meta, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    /// Asks to change the caller's login email (authentication within 15 minutes): a link goes
    /// to the new address, and nothing changes until it is followed. An address that another
    /// login holds gets the same answer (no enumeration); its owner is told instead.
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn request_email_change(
        &self,
        actor: &Actor,
        new_email: &str,
    ) -> Result<(), AppError> {
        self.require_own_sign_in(actor, "change your email").await?;
        let new = EmailAddress::parse(new_email)?;
        self.take_slot(
            &[(EMAIL_CHANGES_PER_PERSON, &actor.person.to_string())],
            too_many_mails,
        )
        .await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let person = self.person(&mut tx, actor.person).await?;
        if new.as_str() == person.email {
            return Err(
                DomainError::field("same_email", "email", "this is your email already").into(),
            );
        }
        if let Some(owner) = persons::by_email(&mut tx, new.as_str()).await? {
            // Its holder hears of it once a day at most, whoever asks.
            let key = owner.id.to_string();
            let buckets = [TAKEN_NOTICES_PER_EMAIL.bucket(&key, now)];
            let slot = uuid::Uuid::now_v7().to_string();
            let first = crate::limits::take(&mut tx, self.store().dialect(), &slot, &buckets, now)
                .await?
                .is_ok();
            if first {
                self.notify(
                &mut tx,
                &owner,
                "Someone tried to use your email for another login",
                "Someone asked to move another watchword login to this address. It already belongs to your login, so nothing changed",
                "If this was you, sign in with this address instead.",
                &actor.meta,
                now,
            )
            .await?;
            }
        } else {
            let token = random_token();
            email_changes::insert(
                &mut tx,
                &hash_token(&token),
                person.id,
                new.as_str(),
                now,
                now.plus_secs(EMAIL_CHANGE_TTL_SECS),
            )
            .await?;
            let link = format!(
                "{}/confirm-email?token={token}",
                self.settings().public_url.trim_end_matches('/')
            );
            let t = mail::EmailChange {
                name: &person.name,
                link: &link,
            };
            mail::enqueue(&mut tx, None, new.as_str(), &t, now).await?;
        }
        let event = events::by_self(actor, AuditAction::PersonEmailChangeRequested)
            .target("person", actor.person);
        events::fan_out(&mut tx, actor.person, event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    /// Follows the link sent to the new address: the login email changes, and the old address
    /// is told (with what to do if it was not its owner).
    pub async fn confirm_email_change(&self, token: &str, meta: &Meta) -> Result<String, AppError> {
        let invalid = || {
            AppError::from(DomainError::field(
                "invalid_email_token",
                "token",
                "this link is invalid, used or expired",
            ))
        };
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let (person_id, new_email) = email_changes::spend(&mut tx, &hash_token(token), now)
            .await?
            .ok_or_else(invalid)?;
        let person = self
            .person(&mut tx, person_id)
            .await
            .map_err(|_| invalid())?;
        // Taken meanwhile: seen by the check in the UPDATE, or by the unique constraint when
        // another login took it at the same moment.
        let changed = match persons::set_email(&mut tx, person.id, &new_email, now).await {
            Err(e) if e.is_unique() => false,
            other => other?,
        };
        if !changed {
            return Err(DomainError::conflict(
                "email_taken",
                "another login uses this email now; ask for a change to another address",
            )
            .into());
        }
        let event = events::by_person(
            person.id,
            &new_email,
            meta,
            None,
            AuditAction::PersonEmailChanged,
        )
        .target("person", person.id)
        .details(serde_json::json!({ "from": person.email, "to": new_email }));
        events::fan_out(&mut tx, person.id, event, now).await?;
        let what = format!(
            "The email of your watchword login was changed from {} to {new_email}",
            person.email
        );
        self.notify(
            &mut tx,
            &person,
            "Your watchword email was changed",
            &what,
            "If you did not do this, someone else may hold your login: tell your account's Owner or support at once.",
            meta,
            now,
        )
        .await?;
        tx.commit().await?;
        self.committed();
        Ok(new_email)
    }
}
