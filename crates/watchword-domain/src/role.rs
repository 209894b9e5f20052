use crate::{DomainError, Permission, PermissionSet, RoleId};
use Permission::*;

/// Roles every account has. Permission sets follow the usual marketing-SaaS split: Owner holds
/// everything, Admin everything but billing, Manager runs the product day to day, Analyst reads,
/// Support works with customer profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinRole {
    Owner,
    Admin,
    Manager,
    Analyst,
    Support,
    /// The operator's own staff given access to a customer account (granted only by the
    /// operator's CLI; distinct from the customer's `support` role).
    StaffAccess,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 6] = [
        BuiltinRole::Owner,
        BuiltinRole::Admin,
        BuiltinRole::Manager,
        BuiltinRole::Analyst,
        BuiltinRole::Support,
        BuiltinRole::StaffAccess,
    ];

    /// The roles an account's own people hold and hand out.
    pub const CUSTOMER: [BuiltinRole; 5] = [
        BuiltinRole::Owner,
        BuiltinRole::Admin,
        BuiltinRole::Manager,
        BuiltinRole::Analyst,
        BuiltinRole::Support,
    ];

    pub fn is_staff(self) -> bool {
        self == BuiltinRole::StaffAccess
    }

    pub fn key(self) -> &'static str {
        match self {
            BuiltinRole::Owner => "owner",
            BuiltinRole::Admin => "admin",
            BuiltinRole::Manager => "manager",
            BuiltinRole::Analyst => "analyst",
            BuiltinRole::Support => "support",
            BuiltinRole::StaffAccess => "staff_access",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BuiltinRole::Owner => "Owner",
            BuiltinRole::Admin => "Admin",
            BuiltinRole::Manager => "Manager",
            BuiltinRole::Analyst => "Analyst",
            BuiltinRole::Support => "Support",
            BuiltinRole::StaffAccess => "Staff access",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.key() == key)
    }

    pub fn permissions(self) -> PermissionSet {
        match self {
            BuiltinRole::Owner => PermissionSet::all(),
            BuiltinRole::Admin => PermissionSet::all()
                .iter()
                .filter(|p| !matches!(p, BillingManage | SsoManage))
                .collect(),
            BuiltinRole::Manager => PermissionSet::from_iter([
                AccountSettingsRead,
                UsersRead,
                CampaignsRead,
                CampaignsWrite,
                AnalyticsRead,
                ProfilesRead,
                ProfilesWrite,
            ]),
            BuiltinRole::Analyst => {
                PermissionSet::from_iter([CampaignsRead, AnalyticsRead, ProfilesRead])
            }
            BuiltinRole::Support => {
                PermissionSet::from_iter([CampaignsRead, ProfilesRead, ProfilesWrite])
            }
            BuiltinRole::StaffAccess => PermissionSet::from_iter([
                AccountSettingsRead,
                AccountSettingsEdit,
                UsersRead,
                AuditLogRead,
                CampaignsRead,
                AnalyticsRead,
                ProfilesRead,
            ]),
        }
    }
}

/// What a membership's role column holds: a built-in key or a custom role's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleRef {
    Builtin(BuiltinRole),
    Custom(RoleId),
}

impl RoleRef {
    pub fn parse(s: &str) -> Option<Self> {
        BuiltinRole::parse(s)
            .map(RoleRef::Builtin)
            .or_else(|| RoleId::parse(s).map(RoleRef::Custom))
    }
    pub fn encode(self) -> String {
        match self {
            RoleRef::Builtin(b) => b.key().to_owned(),
            RoleRef::Custom(id) => id.to_string(),
        }
    }
    pub fn is_owner(self) -> bool {
        self == RoleRef::Builtin(BuiltinRole::Owner)
    }
    pub fn is_staff(self) -> bool {
        matches!(self, RoleRef::Builtin(b) if b.is_staff())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipStatus {
    Invited,
    Active,
    Deactivated,
}

impl MembershipStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipStatus::Invited => "invited",
            MembershipStatus::Active => "active",
            MembershipStatus::Deactivated => "deactivated",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invited" => Some(Self::Invited),
            "active" => Some(Self::Active),
            "deactivated" => Some(Self::Deactivated),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Free,
    Paid,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Paid => "paid",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "free" => Some(Plan::Free),
            "paid" => Some(Plan::Paid),
            _ => None,
        }
    }
}

/// Least privilege: nobody hands out a permission they do not hold. Used when assigning a role
/// (invite, role change) and when creating a custom role.
pub fn check_grant(actor: PermissionSet, granted: PermissionSet) -> Result<(), DomainError> {
    let missing = granted.missing_from(actor);
    if missing.is_empty() {
        Ok(())
    } else {
        let names: Vec<&str> = missing.iter().map(|p| p.as_str()).collect();
        Err(DomainError::forbidden(
            "privilege_escalation",
            format!(
                "you cannot grant permissions you do not hold: {}",
                names.join(", ")
            ),
        ))
    }
}

/// Whether `actor` may change, deactivate or remove a member whose current role grants `target`:
/// the Owner is only changed through an ownership transfer, nobody acts on themselves, and nobody
/// acts on a member who holds permissions they lack.
pub fn check_manage_member(
    actor: PermissionSet,
    actor_is_target: bool,
    target_role: RoleRef,
    target: PermissionSet,
) -> Result<(), DomainError> {
    if target_role.is_owner() {
        return Err(DomainError::forbidden(
            "owner_protected",
            "the Owner can only change through an ownership transfer",
        ));
    }
    if actor_is_target {
        return Err(DomainError::conflict(
            "cannot_modify_self",
            "you cannot change your own membership",
        ));
    }
    check_grant(actor, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_sets_are_nested_as_documented() {
        let owner = BuiltinRole::Owner.permissions();
        let admin = BuiltinRole::Admin.permissions();
        assert_eq!(owner, PermissionSet::all());
        assert!(admin.is_subset_of(owner) && !admin.contains(BillingManage));
        for r in [
            BuiltinRole::Manager,
            BuiltinRole::Analyst,
            BuiltinRole::Support,
            BuiltinRole::StaffAccess,
        ] {
            assert!(r.permissions().is_subset_of(admin));
            assert!(!r.permissions().contains(UsersManage), "{r:?}");
            assert!(!r.permissions().contains(ApiKeysManage), "{r:?}");
        }
    }

    #[test]
    fn grant_refuses_what_the_actor_lacks() {
        let manager = BuiltinRole::Manager.permissions();
        assert!(
            check_grant(manager, BuiltinRole::Analyst.permissions()).is_err()
                != BuiltinRole::Analyst.permissions().is_subset_of(manager)
        );
        assert!(check_grant(manager, BuiltinRole::Admin.permissions()).is_err());
        assert!(
            check_grant(
                BuiltinRole::Admin.permissions(),
                BuiltinRole::Admin.permissions()
            )
            .is_ok()
        );
    }

    #[test]
    fn owner_and_self_are_protected() {
        let owner = BuiltinRole::Owner.permissions();
        let r = check_manage_member(owner, false, RoleRef::Builtin(BuiltinRole::Owner), owner);
        assert!(matches!(
            r,
            Err(DomainError::Forbidden {
                code: "owner_protected",
                ..
            })
        ));
        let r = check_manage_member(owner, true, RoleRef::Builtin(BuiltinRole::Admin), owner);
        assert!(matches!(
            r,
            Err(DomainError::Conflict {
                code: "cannot_modify_self",
                ..
            })
        ));
    }

    #[test]
    fn role_refs_parse() {
        assert_eq!(
            RoleRef::parse("admin"),
            Some(RoleRef::Builtin(BuiltinRole::Admin))
        );
        let id = RoleId::new();
        assert_eq!(RoleRef::parse(&id.to_string()), Some(RoleRef::Custom(id)));
        assert_eq!(RoleRef::parse("superuser"), None);
    }
}
