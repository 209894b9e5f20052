use std::fmt;

/// Everything a role can grant. Strings appear only at the storage and API edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Permission {
    AccountSettingsRead,
    AccountSettingsEdit,
    BillingManage,
    UsersRead,
    UsersManage,
    RolesManage,
    ApiKeysManage,
    AuditLogRead,
    CampaignsRead,
    CampaignsWrite,
    AnalyticsRead,
    ProfilesRead,
    ProfilesWrite,
    /// SSO connections, verified domains and SSO-only: who may sign in as whom. The Owner's
    /// alone by default, grantable only by the Owner, never to staff.
    SsoManage,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Permission::AccountSettingsRead,
        Permission::AccountSettingsEdit,
        Permission::BillingManage,
        Permission::UsersRead,
        Permission::UsersManage,
        Permission::RolesManage,
        Permission::ApiKeysManage,
        Permission::AuditLogRead,
        Permission::CampaignsRead,
        Permission::CampaignsWrite,
        Permission::AnalyticsRead,
        Permission::ProfilesRead,
        Permission::ProfilesWrite,
        Permission::SsoManage,
    ];

    /// Whether it administers the account: who is in it, what they may do, its settings and its
    /// API keys. Granting one is reported to the Security Contact.
    pub fn administers(self) -> bool {
        matches!(
            self,
            Permission::UsersManage
                | Permission::RolesManage
                | Permission::AccountSettingsEdit
                | Permission::ApiKeysManage
                | Permission::SsoManage
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::AccountSettingsRead => "account_settings:read",
            Permission::AccountSettingsEdit => "account_settings:edit",
            Permission::BillingManage => "billing:manage",
            Permission::UsersRead => "users:read",
            Permission::UsersManage => "users:manage",
            Permission::RolesManage => "roles:manage",
            Permission::ApiKeysManage => "api_keys:manage",
            Permission::AuditLogRead => "audit_log:read",
            Permission::CampaignsRead => "campaigns:read",
            Permission::CampaignsWrite => "campaigns:write",
            Permission::AnalyticsRead => "analytics:read",
            Permission::ProfilesRead => "profiles:read",
            Permission::ProfilesWrite => "profiles:write",
            Permission::SsoManage => "sso:manage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// In words for people (the roles page, the role picker).
    pub fn label(self) -> &'static str {
        match self {
            Permission::AccountSettingsRead => "See the account's settings",
            Permission::AccountSettingsEdit => "Change the account's settings",
            Permission::BillingManage => "Manage billing",
            Permission::UsersRead => "See members",
            Permission::UsersManage => "Invite, change and remove members",
            Permission::RolesManage => "Create and change roles",
            Permission::ApiKeysManage => "Manage API keys and integrations",
            Permission::AuditLogRead => "Read the audit log",
            Permission::CampaignsRead => "See campaigns",
            Permission::CampaignsWrite => "Create and change campaigns",
            Permission::AnalyticsRead => "See analytics",
            Permission::ProfilesRead => "See profiles",
            Permission::ProfilesWrite => "Change profiles",
            Permission::SsoManage => "Manage single sign-on (who signs in as whom)",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u8)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions, stored as a bitset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct PermissionSet(u32);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    pub fn all() -> Self {
        Self::from_iter(Permission::ALL)
    }
    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }
    pub fn is_subset_of(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }
    /// Permissions in `self` that `other` lacks.
    pub fn missing_from(self, other: PermissionSet) -> Vec<Permission> {
        self.iter().filter(|p| !other.contains(*p)).collect()
    }
    /// The permissions of `self` that administer the account (its people, roles, settings and
    /// API keys) and that `before` lacked: what a change of role newly grants.
    pub fn administration_gained(self, before: PermissionSet) -> Vec<Permission> {
        self.missing_from(before)
            .into_iter()
            .filter(|p| p.administers())
            .collect()
    }
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }
    pub fn to_strings(self) -> Vec<String> {
        self.iter().map(|p| p.as_str().to_owned()).collect()
    }
    /// Space-separated storage form.
    pub fn encode(self) -> String {
        self.iter()
            .map(Permission::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
    /// Parses the storage or API form; unknown names are returned as the error.
    pub fn parse_all<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut set = PermissionSet::EMPTY;
        for n in names {
            set.0 |= Permission::parse(n).ok_or_else(|| n.to_owned())?.bit();
        }
        Ok(set)
    }
    pub fn decode(stored: &str) -> Result<Self, String> {
        Self::parse_all(stored.split_whitespace())
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<T: IntoIterator<Item = Permission>>(iter: T) -> Self {
        PermissionSet(iter.into_iter().fold(0, |acc, p| acc | p.bit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_for_every_permission() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
        let all = PermissionSet::all();
        assert_eq!(PermissionSet::decode(&all.encode()), Ok(all));
        assert_eq!(
            PermissionSet::parse_all(["users:manage", "nope"]),
            Err("nope".into())
        );
    }

    #[test]
    fn subset_and_missing() {
        let a = PermissionSet::from_iter([Permission::UsersRead]);
        let b = PermissionSet::from_iter([Permission::UsersRead, Permission::UsersManage]);
        assert!(a.is_subset_of(b));
        assert!(!b.is_subset_of(a));
        assert_eq!(b.missing_from(a), vec![Permission::UsersManage]);
    }

    #[test]
    fn administration_gained_is_new_administrative_permissions_only() {
        let analyst = PermissionSet::from_iter([Permission::UsersRead, Permission::AuditLogRead]);
        let admin = PermissionSet::from_iter([
            Permission::UsersRead,
            Permission::UsersManage,
            Permission::RolesManage,
            Permission::CampaignsWrite,
        ]);
        assert_eq!(
            admin.administration_gained(analyst),
            vec![Permission::UsersManage, Permission::RolesManage]
        );
        assert!(
            analyst.administration_gained(admin).is_empty(),
            "a demotion gains nothing"
        );
        assert!(admin.administration_gained(admin).is_empty());
        let settings = PermissionSet::from_iter([Permission::AccountSettingsEdit]);
        assert_eq!(
            settings.administration_gained(PermissionSet::EMPTY),
            vec![Permission::AccountSettingsEdit]
        );
        let work =
            PermissionSet::from_iter([Permission::CampaignsWrite, Permission::ProfilesWrite]);
        assert!(work.administration_gained(PermissionSet::EMPTY).is_empty());
    }
}
