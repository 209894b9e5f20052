//! Membership: who is in an account, with which role, and the invitations that bring people in.

use crate::events::{self, EventExt};
use crate::gate::SignInProof;
use crate::limits::INVITATIONS_PER_ACCOUNT;
use crate::mail;
use crate::sessions::{IssuedSession, SessionMode};
use crate::{Actor, App, AppError, Caller, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::contact::ContactSource;
use watchword_domain::password::{self, Password};
use watchword_domain::role::{check_grant, check_manage_member};
use watchword_domain::token::{hash_token, random_token};
use watchword_domain::*;
use watchword_store::rows::{AccountRow, MemberRow};
use watchword_store::{Conn, accounts, audit, invitations, members, persons};

/// The actor's standing in one account, checked against the database on every call.
#[derive(Debug, Clone)]
pub struct Access {
    pub account: AccountRow,
    pub member: MemberRow,
}

impl Access {
    pub fn permissions(&self) -> PermissionSet {
        self.member.permissions
    }
    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if self.member.permissions.contains(p) {
            Ok(())
        } else {
            Err(
                DomainError::forbidden("forbidden", format!("this requires the {p} permission"))
                    .into(),
            )
        }
    }
}

/// A role named in a request, resolved within the account.
pub(crate) struct ResolvedRole {
    pub role: RoleRef,
    pub name: String,
    pub permissions: PermissionSet,
}

pub struct Accepted {
    pub account: AccountId,
    pub membership: MembershipId,
    pub person: PersonId,
    /// Present when the invitation created the person; an existing person logs in as usual.
    pub session: Option<IssuedSession>,
}

impl App {
    /// Loads the actor's active membership; anything else is indistinguishable from a missing
    /// account.
    pub async fn access(
        &self,
        c: &mut Conn,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Access, AppError> {
        let member = members::of_person(&mut *c, account, actor.person).await?;
        let member = member
            .filter(|m| m.grants_access(self.now()))
            .ok_or(AppError::NotFound)?;
        let account = accounts::get(&mut *c, account)
            .await?
            .ok_or(AppError::NotFound)?;
        self.check_mfa_enforced(c, actor, &account).await?;
        Ok(Access { account, member })
    }

    pub(crate) async fn resolve_role(
        &self,
        c: &mut Conn,
        account: AccountId,
        key: &str,
    ) -> Result<ResolvedRole, AppError> {
        let unknown = || {
            DomainError::field(
                "unknown_role",
                "role",
                format!("no role {key:?} in this account"),
            )
        };
        match RoleRef::parse(key).ok_or_else(unknown)? {
            RoleRef::Builtin(b) => Ok(ResolvedRole {
                role: RoleRef::Builtin(b),
                name: b.name().into(),
                permissions: b.permissions(),
            }),
            RoleRef::Custom(id) => {
                let r = accounts::role(c, account, id).await?.ok_or_else(unknown)?;
                Ok(ResolvedRole {
                    role: RoleRef::Custom(id),
                    name: r.name,
                    permissions: r.permissions,
                })
            }
        }
    }

    /// A role an actor may hand out: anything but Owner, holding nothing the actor lacks.
    async fn grantable_role(
        &self,
        c: &mut Conn,
        access: &Access,
        key: &str,
    ) -> Result<ResolvedRole, AppError> {
        let role = self.resolve_role(c, access.account.id, key).await?;
        if role.role.is_owner() {
            return Err(DomainError::field(
                "owner_not_assignable",
                "role",
                "the Owner role is only given through an ownership transfer",
            )
            .into());
        }
        if role.role.is_staff() {
            return Err(DomainError::field(
                "staff_role_not_assignable",
                "role",
                "staff roles are granted by the operator",
            )
            .into());
        }
        check_grant(access.permissions(), role.permissions)?;
        Ok(role)
    }

    pub async fn account(&self, actor: &Actor, account: AccountId) -> Result<Access, AppError> {
        self.access(&mut *self.store().read().await?, actor, account)
            .await
    }

    pub async fn list_members(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> Result<Vec<MemberRow>, AppError> {
        let mut c = self.store().read().await?;
        self.authorize(
            &mut c,
            caller,
            account,
            Permission::UsersRead,
            "members:read",
        )
        .await?;
        Ok(members::list(&mut c, account).await?)
    }

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
        let token = random_token();
        let expires = now.plus_secs(self.settings().invitation_ttl_secs);
        invitations::insert(
            &mut tx,
            InvitationId::new(),
            account,
            id,
            &hash_token(&token),
            now,
            expires,
        )
        .await?;
        let event = events::by_actor(actor, account, AuditAction::MemberInvited)
            .target("membership", id)
            .details(serde_json::json!({ "email": email.as_str(), "role": role.role.encode(), "role_name": role.name }));
        audit::append(&mut tx, &event, now).await?;
        let link = format!(
            "{}/invitations/accept?token={token}",
            self.settings().public_url.trim_end_matches('/')
        );
        let t = mail::Invitation {
            inviter: &actor.name,
            account: &access.account.name,
            role: &role.name,
            link: &link,
        };
        mail::enqueue(&mut tx, Some(account), email.as_str(), &t, now).await?;
        let gained = role.permissions.administration_gained(PermissionSet::EMPTY);
        if !gained.is_empty() {
            let what = format!(
                "{} was invited as {} ({})",
                email.as_str(),
                role.name,
                names(&gained)
            );
            self.alert_contact(&mut tx, &access.account, actor, &what, now)
                .await?;
        }
        let row = members::get(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        tx.commit().await?;
        self.committed();
        Ok(row)
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

    /// Loads a member the actor may manage (role change, deactivation, removal).
    async fn managed_member(
        &self,
        c: &mut Conn,
        actor: &Actor,
        account: AccountId,
        id: MembershipId,
    ) -> Result<(Access, MemberRow), AppError> {
        let access = self.access(&mut *c, actor, account).await?;
        access.require(Permission::UsersManage)?;
        let target = members::get(c, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        check_manage_member(
            access.permissions(),
            target.person_id == Some(actor.person),
            target.role,
            target.permissions,
        )?;
        Ok((access, target))
    }

    pub async fn change_role(
        &self,
        actor: &Actor,
        account: AccountId,
        id: MembershipId,
        role: &str,
    ) -> Result<MemberRow, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let (access, target) = self.managed_member(&mut tx, actor, account, id).await?;
        if target.role.is_staff() {
            return Err(DomainError::conflict(
                "staff_membership",
                "operator staff access is changed with `watchword staff`",
            )
            .into());
        }
        let role = self.grantable_role(&mut tx, &access, role).await?;
        members::set_role(&mut tx, account, id, role.role, now).await?;
        self.recheck_contact(&mut tx, account, now, AuditAction::MemberRoleChanged)
            .await?;
        let event = events::by_actor(actor, account, AuditAction::MemberRoleChanged)
            .target("membership", id)
            .details(serde_json::json!({
                "email": target.email,
                "from": target.role.encode(), "from_name": target.role_name,
                "to": role.role.encode(), "to_name": role.name,
            }));
        audit::append(&mut tx, &event, now).await?;
        let gained = role.permissions.administration_gained(target.permissions);
        if !gained.is_empty() {
            let what = format!(
                "{} was given the role {} ({})",
                target.email,
                role.name,
                names(&gained)
            );
            self.alert_contact(&mut tx, &access.account, actor, &what, now)
                .await?;
        }
        let row = members::get(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        tx.commit().await?;
        self.committed();
        Ok(row)
    }

    pub async fn set_member_active(
        &self,
        actor: &Actor,
        account: AccountId,
        id: MembershipId,
        active: bool,
    ) -> Result<MemberRow, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let (_, target) = self.managed_member(&mut tx, actor, account, id).await?;
        let (from, to, action) = match active {
            true => (
                MembershipStatus::Deactivated,
                MembershipStatus::Active,
                AuditAction::MemberReactivated,
            ),
            false => (
                MembershipStatus::Active,
                MembershipStatus::Deactivated,
                AuditAction::MemberDeactivated,
            ),
        };
        if target.status != from {
            return Err(DomainError::conflict(
                "invalid_state",
                format!(
                    "the member is {}, not {}",
                    target.status.as_str(),
                    from.as_str()
                ),
            )
            .into());
        }
        members::set_status(&mut tx, account, id, to, now).await?;
        if !active {
            self.recheck_contact(&mut tx, account, now, AuditAction::MemberDeactivated)
                .await?;
        }
        let event = events::by_actor(actor, account, action)
            .target("membership", id)
            .details(serde_json::json!({ "email": target.email }));
        audit::append(&mut tx, &event, now).await?;
        let row = members::get(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        tx.commit().await?;
        self.committed();
        Ok(row)
    }

    /// Removes a member (or withdraws an invitation).
    pub async fn remove_member(
        &self,
        actor: &Actor,
        account: AccountId,
        id: MembershipId,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let (_, target) = self.managed_member(&mut tx, actor, account, id).await?;
        self.release_contact(&mut tx, account, &target, AuditAction::MemberRemoved)
            .await?;
        members::delete(&mut tx, account, id).await?;
        let event = events::by_actor(actor, account, AuditAction::MemberRemoved)
            .target("membership", id)
            .details(serde_json::json!({ "email": target.email, "status": target.status.as_str(), "role": target.role.encode() }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    /// The Owner hands ownership to an active member and becomes an Admin.
    pub async fn transfer_ownership(
        &self,
        actor: &Actor,
        account: AccountId,
        to: MembershipId,
    ) -> Result<MemberRow, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self.access(&mut tx, actor, account).await?;
        if !access.member.role.is_owner() {
            return Err(DomainError::forbidden(
                "owner_only",
                "only the Owner can transfer ownership",
            )
            .into());
        }
        let target = members::get(&mut tx, account, to)
            .await?
            .ok_or(AppError::NotFound)?;
        if target.id == access.member.id {
            return Err(
                DomainError::conflict("cannot_modify_self", "you are already the Owner").into(),
            );
        }
        if !target.grants_access(now) {
            return Err(DomainError::field(
                "member_not_active",
                "member_id",
                "ownership can only go to an active member",
            )
            .into());
        }
        members::set_role(
            &mut tx,
            account,
            access.member.id,
            RoleRef::Builtin(BuiltinRole::Admin),
            now,
        )
        .await?;
        members::set_role(
            &mut tx,
            account,
            to,
            RoleRef::Builtin(BuiltinRole::Owner),
            now,
        )
        .await?;
        let event = events::by_actor(actor, account, AuditAction::OwnershipTransferred).target("membership", to).details(serde_json::json!({
            "from_membership": access.member.id, "to_membership": to, "to_email": target.email, "previous_role": target.role.encode(),
        }));
        audit::append(&mut tx, &event, now).await?;
        // Before a default contact follows the Owner: a picked contact hears of it here.
        let what = format!("Ownership was transferred to {}", target.email);
        self.alert_contact(&mut tx, &access.account, actor, &what, now)
            .await?;
        let row = members::get(&mut tx, account, to)
            .await?
            .ok_or(AppError::NotFound)?;
        // A default Security Contact follows the Owner; a picked one stays.
        if let Some(current) = watchword_store::contacts::get(&mut tx, account).await? {
            if ContactSource::parse(&current.source) == Some(ContactSource::Default)
                && current.membership != Some(to)
            {
                let previous = match current.membership {
                    Some(p) => members::get(&mut tx, account, p).await?,
                    None => None,
                };
                let why = Some(
                    "the default Security Contact follows the Owner after an ownership transfer"
                        .to_owned(),
                );
                self.change_contact(
                    &mut tx,
                    &current,
                    previous.as_ref(),
                    &row,
                    ContactSource::Default,
                    Some(actor),
                    why,
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.committed();
        Ok(row)
    }
}

/// Permission names for an alert, e.g. "users:manage, roles:manage".
fn names(ps: &[Permission]) -> String {
    ps.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}
