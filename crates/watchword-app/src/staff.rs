//! Operator staff access to a customer account, granted and revoked from the operator's CLI.

use crate::events::{self, EventExt};
use crate::{App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::*;
use watchword_store::audit::NewEvent;
use watchword_store::{audit, members, persons};

fn system_event(
    account: AccountId,
    action: AuditAction,
    membership: MembershipId,
    details: serde_json::Value,
) -> NewEvent {
    events::system(Some(account), action)
        .target("membership", membership)
        .details(details)
}

impl App {
    /// Gives an existing person the `staff_access` role in an account, optionally until `expires`.
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn grant_staff(
        &self,
        account: AccountId,
        email: &str,
        expires: Option<Millis>,
    ) -> Result<MembershipId, AppError> {
        let email = EmailAddress::parse(email)?;
        let now = self.now();
        if expires.is_some_and(|e| e <= now) {
            return Err(
                DomainError::invalid("invalid_expiry", "the expiry must be in the future").into(),
            );
        }
        let mut tx = self.store().begin().await?;
        watchword_store::accounts::get(&mut tx, account)
            .await?
            .ok_or(AppError::NotFound)?;
        let person = persons::by_email(&mut tx, email.as_str())
            .await?
            .ok_or_else(|| {
                DomainError::invalid(
                    "unknown_person",
                    "no watchword login has this email; the staff member signs up first",
                )
            })?;
        if members::by_email(&mut tx, account, email.as_str())
            .await?
            .is_some()
            || members::of_person(&mut tx, account, person.id)
                .await?
                .is_some()
        {
            return Err(DomainError::conflict(
                "already_member",
                "this person is already a member of the account",
            )
            .into());
        }
        let id = MembershipId::new();
        let new = members::NewMembership {
            id,
            account,
            person: Some(person.id),
            email: email.as_str(),
            role: RoleRef::Builtin(BuiltinRole::StaffAccess),
            status: MembershipStatus::Active,
            invited_by: None,
        };
        members::insert(&mut tx, new, now).await?;
        members::set_staff_expiry(&mut tx, account, id, expires).await?;
        let details = serde_json::json!({ "email": email.as_str(), "expires_at": expires.map(|e| e.rfc3339()) });
        audit::append(
            &mut tx,
            &system_event(account, AuditAction::StaffGranted, id, details),
            now,
        )
        .await?;
        tx.commit().await?;
        self.committed();
        Ok(id)
    }

    /// Ends a staff grant.
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn revoke_staff(&self, account: AccountId, email: &str) -> Result<(), AppError> {
        let email = EmailAddress::parse(email)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let m = members::by_email(&mut tx, account, email.as_str())
            .await?
            .filter(|m| m.role.is_staff())
            .ok_or(AppError::NotFound)?;
        self.release_contact(&mut tx, account, &m, AuditAction::StaffRevoked)
            .await?;
        members::delete(&mut tx, account, m.id).await?;
        audit::append(
            &mut tx,
            &system_event(
                account,
                AuditAction::StaffRevoked,
                m.id,
                serde_json::json!({ "email": m.email }),
            ),
            now,
        )
        .await?;
        // Whatever the staff member made acts with nothing from now on.
        self.authority_moved(&mut tx, account).await?;
        tx.commit().await?;
        self.authority_committed();
        Ok(())
    }
}
