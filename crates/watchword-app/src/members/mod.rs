//! Membership: who is in an account, with which role, and the invitations that bring people in.

mod credentials;
pub use credentials::{Kind as CredentialKind, Made as Credential};
mod inviting;
pub(crate) use inviting::Letter;

pub use crate::access::Access;
use crate::events::{self, EventExt};
use crate::sessions::IssuedSession;
use crate::{Actor, App, AppError, Caller};
use watchword_domain::audit::AuditAction;
use watchword_domain::contact::ContactSource;
use watchword_domain::role::{check_grant, check_manage_member};
use watchword_domain::scope::{Resource, Scope};
use watchword_domain::*;
use watchword_store::rows::MemberRow;
use watchword_store::{Conn, accounts, audit, members};

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
    pub(crate) async fn grantable_role(
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

    #[tracing::instrument(skip_all, fields(account = %account))]
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
            Scope::Read(Resource::Members),
        )
        .await?;
        Ok(members::list(&mut c, account).await?)
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

    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
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
        let what = format!("{} was given the role {}", target.email, role.name);
        self.alert_administration(&mut tx, &access.account, actor, &gained, what, now)
            .await?;
        self.commit_member(tx, account, id).await
    }

    /// Commits a change to a membership and returns the membership as it now is.
    pub(crate) async fn commit_member(
        &self,
        mut tx: watchword_store::Tx,
        account: AccountId,
        id: MembershipId,
    ) -> Result<MemberRow, AppError> {
        let row = members::get(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        self.authority_moved(&mut tx, account).await?;
        tx.commit().await?;
        self.authority_committed();
        Ok(row)
    }

    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn set_member_active(
        &self,
        actor: &Actor,
        account: AccountId,
        id: MembershipId,
        active: bool,
        transfer_to: Option<MembershipId>,
    ) -> Result<MemberRow, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let (access, target) = self.managed_member(&mut tx, actor, account, id).await?;
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
            self.settle_credentials(
                &mut tx,
                events::By::Person(actor),
                &access.account,
                &target,
                transfer_to,
                false,
                now,
            )
            .await?;
        } else {
            self.authority_moved(&mut tx, account).await?;
        }
        let event = events::by_actor(actor, account, action)
            .target("membership", id)
            .details(serde_json::json!({ "email": target.email }));
        audit::append(&mut tx, &event, now).await?;
        self.commit_member(tx, account, id).await
    }

    /// Removes a member (or withdraws an invitation).
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn remove_member(
        &self,
        actor: &Actor,
        account: AccountId,
        id: MembershipId,
        transfer_to: Option<MembershipId>,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let (access, target) = self.managed_member(&mut tx, actor, account, id).await?;
        self.settle_credentials(
            &mut tx,
            events::By::Person(actor),
            &access.account,
            &target,
            transfer_to,
            true,
            now,
        )
        .await?;
        self.release_contact(&mut tx, account, &target, AuditAction::MemberRemoved)
            .await?;
        members::delete(&mut tx, account, id).await?;
        let event = events::by_actor(actor, account, AuditAction::MemberRemoved)
            .target("membership", id)
            .details(serde_json::json!({ "email": target.email, "status": target.status.as_str(), "role": target.role.encode() }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.authority_committed();
        Ok(())
    }

    /// The Owner hands ownership to an active member and becomes an Admin.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
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
        if let Some(current) = watchword_store::contacts::get(&mut tx, account).await?
            && ContactSource::parse(&current.source) == Some(ContactSource::Default)
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
        self.authority_moved(&mut tx, account).await?;
        tx.commit().await?;
        self.authority_committed();
        Ok(row)
    }
}
