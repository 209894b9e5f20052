//! Invitations: listing pending ones, inviting (an emailed single-use link, the role capped by the
//! inviter's own), and accepting (a new person, or an existing login signed in as itself).

use super::*;
use crate::events::{self, EventExt};
use crate::gate::SignInProof;
use crate::limits::INVITATIONS_PER_ACCOUNT;
use crate::mail;
use crate::sessions::SessionMode;
use crate::{Actor, App, AppError, Caller, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::password::{self, Password};
use watchword_domain::token::{hash_token, random_token};
use watchword_domain::*;
use watchword_store::rows::MemberRow;
use watchword_store::{audit, invitations, members, persons};

/// Who an invitation names: the inviter, the account and the role.
pub(crate) struct Letter<'a> {
    pub inviter: &'a str,
    pub account_name: &'a str,
    pub role: &'a str,
}

impl App {
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn list_invitations(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> Result<Vec<MemberRow>, AppError> {
        let all = self.list_members(caller, account).await?;
        Ok(all
            .into_iter()
            .filter(|m| m.status == MembershipStatus::Invited)
            .collect())
    }

    /// Invites an email address with a role; the link goes out by email, from the outbox.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn invite(
        &self,
        actor: &Actor,
        account: AccountId,
        email: &str,
        role: &str,
    ) -> Result<MemberRow, AppError> {
        let email = EmailAddress::parse(email)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self.access(&mut tx, actor, account).await?;
        access.require(Permission::UsersManage)?;
        let role = self.grantable_role(&mut tx, &access, role).await?;
        let slot = uuid::Uuid::now_v7().to_string();
        let buckets = [INVITATIONS_PER_ACCOUNT.bucket(&account.to_string(), now)];
        if crate::limits::take(&mut tx, self.store().dialect(), &slot, &buckets, now)
            .await?
            .is_err()
        {
            return Err(AppError::RateLimited(
                "too_many_invitations",
                format!(
                    "an account sends at most {} invitations an hour; try again later",
                    INVITATIONS_PER_ACCOUNT.max
                ),
            ));
        }
        if members::by_email(&mut tx, account, email.as_str())
            .await?
            .is_some()
        {
            return Err(DomainError::conflict(
                "already_member",
                "this email is already a member of the account or invited",
            )
            .into());
        }
        // Not bound to an existing login until that login accepts: nothing about the person is
        // shown to the account before then.
        let person = None;
        let id = MembershipId::new();
        let new = members::NewMembership {
            id,
            account,
            person,
            email: email.as_str(),
            role: role.role,
            status: MembershipStatus::Invited,
            invited_by: Some(actor.person),
        };
        members::insert(&mut tx, new, now)
            .await
            .map_err(|e| match e.is_unique() {
                true => DomainError::conflict(
                    "already_member",
                    "this email is already a member of the account or invited",
                )
                .into(),
                false => AppError::from(e),
            })?;
        let event = events::by_actor(actor, account, AuditAction::MemberInvited)
            .target("membership", id)
            .details(serde_json::json!({ "email": email.as_str(), "role": role.role.encode(), "role_name": role.name }));
        audit::append(&mut tx, &event, now).await?;
        let letter = Letter {
            inviter: &actor.name,
            account_name: &access.account.name,
            role: &role.name,
        };
        self.send_invitation(&mut tx, account, id, &email, letter, now)
            .await?;
        let gained = role.permissions.administration_gained(PermissionSet::EMPTY);
        let what = format!("{} was invited as {}", email.as_str(), role.name);
        self.alert_administration(&mut tx, &access.account, actor, &gained, what, now)
            .await?;
        self.commit_member(tx, account, id).await
    }

    /// Makes an invited membership's single-use link and emails it (from the outbox, in the
    /// caller's transaction).
    pub(crate) async fn send_invitation(
        &self,
        tx: &mut watchword_store::Conn,
        account: AccountId,
        membership: MembershipId,
        email: &EmailAddress,
        letter: Letter<'_>,
        now: Millis,
    ) -> Result<(), AppError> {
        let token = random_token();
        let expires = now.plus_secs(self.settings().invitation_ttl_secs);
        invitations::insert(
            &mut *tx,
            InvitationId::new(),
            account,
            membership,
            &hash_token(&token),
            now,
            expires,
        )
        .await?;
        let link = format!(
            "{}/invitations/accept?token={token}",
            self.settings().public_url.trim_end_matches('/')
        );
        let t = mail::Invitation {
            inviter: letter.inviter,
            account: letter.account_name,
            role: letter.role,
            link: &link,
        };
        mail::enqueue(tx, Some(account), email.as_str(), &t, now).await?;
        Ok(())
    }

    /// What an invitation link's page names before it is accepted: the invited email, the
    /// account, the role and who invited. None for a link that is unknown, used or expired (the
    /// token itself is the proof of having received the email).
    pub async fn invitation_preview(
        &self,
        token: &str,
    ) -> Result<Option<watchword_store::invitations::InvitationPreview>, AppError> {
        let mut c = self.store().read().await?;
        Ok(invitations::preview(&mut c, &hash_token(token), self.now()).await?)
    }

    /// Accepts an emailed invitation. A new person chooses a name and password here and gets a
    /// session (the link proved their address). An address that has a login already is accepted
    /// only by that login, signed in (`signed_in`): a link alone never joins a login to an
    /// account.
    pub async fn accept_invitation(
        &self,
        signed_in: Option<&Actor>,
        token: &str,
        name: Option<&str>,
        pw: Option<Password>,
        mode: SessionMode,
        meta: &Meta,
    ) -> Result<Accepted, AppError> {
        let invalid = || {
            AppError::Domain(DomainError::invalid(
                "invitation_invalid",
                "this invitation link is invalid, used or expired",
            ))
        };
        let now = self.now();
        let inv = invitations::by_token_hash(&mut *self.store().read().await?, &hash_token(token))
            .await?
            .ok_or_else(invalid)?;
        if inv.used_at.is_some() || now >= inv.expires_at {
            return Err(invalid());
        }
        let member = members::get(
            &mut *self.store().read().await?,
            inv.account_id,
            inv.membership_id,
        )
        .await?;
        let member = member
            .filter(|m| m.status == MembershipStatus::Invited)
            .ok_or_else(invalid)?;
        self.refuse_if_sso_only(inv.account_id, &member.email)
            .await?;
        let existing = persons::by_email(&mut *self.store().read().await?, &member.email).await?;
        if let Some(p) = &existing {
            match signed_in {
                None => {
                    return Err(DomainError::forbidden(
                        "login_required",
                        "this address has a watchword login: log in with it, then open the invitation link again",
                    )
                    .into());
                }
                Some(a) if a.person != p.id => {
                    return Err(DomainError::forbidden(
                        "invitation_for_another_login",
                        "this invitation is for another email; log in with the invited address to accept it",
                    )
                    .into());
                }
                Some(_) => {}
            }
        }
        let new_person = match &existing {
            Some(_) => None,
            None => {
                let name = PersonName::parse(name.unwrap_or_default())?;
                let pw = pw.ok_or_else(|| {
                    DomainError::field("required", "password", "choose a password")
                })?;
                let email = EmailAddress::parse(&member.email)?;
                password::check_policy(&pw, &email, name.as_str())?;
                let hash = self.hashing(move |h| h.hash(&pw)).await?;
                Some((name, hash))
            }
        };
        let mut tx = self.store().begin().await?;
        if !invitations::mark_used(&mut tx, inv.id, now).await? {
            return Err(invalid());
        }
        let (person, proof) = match (&existing, &new_person) {
            (Some(p), _) => (p.id, None),
            (None, Some((name, hash))) => {
                let created = self
                    .insert_new_person(&mut tx, &member.email, name.as_str(), hash, now)
                    .await?;
                let proof = SignInProof::new_person(created);
                (proof.person(), Some(proof))
            }
            (None, None) => return Err(invalid()),
        };
        members::activate_for(&mut tx, inv.account_id, member.id, person, now).await?;
        let session = match proof {
            Some(proof) => Some(self.open_session(&mut tx, proof, mode, meta, now).await?),
            None => None,
        };
        let event = events::by_person(
            person,
            &member.email,
            meta,
            Some(inv.account_id),
            AuditAction::InvitationAccepted,
        )
        .target("membership", member.id)
        .details(
            serde_json::json!({ "role": member.role.encode(), "new_person": existing.is_none() }),
        );
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(Accepted {
            account: inv.account_id,
            membership: member.id,
            person,
            session,
        })
    }
}
