//! Security Contact eligibility (seed 002): role Owner or Admin or granting
//! `account_settings:edit`; person and membership active; an interactive login within the window
//! (365 days by default); not a blocked staff role.

use crate::{MembershipStatus, Millis, Permission, PermissionSet};

/// Why a member cannot be the Security Contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    NotPrivileged,
    Inactive,
    NoRecentLogin,
    BlockedStaffRole,
}

impl Ineligible {
    pub fn code(self) -> &'static str {
        match self {
            Ineligible::NotPrivileged => "not_privileged",
            Ineligible::Inactive => "inactive",
            Ineligible::NoRecentLogin => "no_recent_login",
            Ineligible::BlockedStaffRole => "blocked_staff_role",
        }
    }
    pub fn message(self) -> &'static str {
        match self {
            Ineligible::NotPrivileged => {
                "the role is not Owner or Admin and does not grant account_settings:edit"
            }
            Ineligible::Inactive => "the person or the membership is not active",
            Ineligible::NoRecentLogin => "the person has not logged in within the required period",
            Ineligible::BlockedStaffRole => {
                "operator staff in a blocked staff role cannot be the Security Contact"
            }
        }
    }
}

/// What eligibility looks at, for one member.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The role's key as stored (`admin`, `staff_access`, or a custom role id).
    pub role_key: &'a str,
    pub permissions: PermissionSet,
    pub membership: MembershipStatus,
    pub person_active: bool,
    pub last_login_at: Option<Millis>,
}

#[derive(Debug, Clone)]
pub struct Rules<'a> {
    pub login_window_days: i64,
    pub blocked_staff_roles: &'a [String],
}

impl Rules<'_> {
    pub fn window_ms(&self) -> i64 {
        self.login_window_days.saturating_mul(86_400_000)
    }

    /// Every reason `c` is ineligible at `now` (empty when eligible).
    pub fn check(&self, c: &Candidate<'_>, now: Millis) -> Vec<Ineligible> {
        let mut out = Vec::new();
        let privileged = matches!(c.role_key, "owner" | "admin")
            || c.permissions.contains(Permission::AccountSettingsEdit);
        if !privileged {
            out.push(Ineligible::NotPrivileged);
        }
        if c.membership != MembershipStatus::Active || !c.person_active {
            out.push(Ineligible::Inactive);
        }
        if c.last_login_at
            .is_none_or(|t| now.0 - t.0 > self.window_ms())
        {
            out.push(Ineligible::NoRecentLogin);
        }
        if self.blocked_staff_roles.iter().any(|b| b == c.role_key) {
            out.push(Ineligible::BlockedStaffRole);
        }
        out
    }

    /// When a currently eligible contact would lapse for `no_recent_login`.
    pub fn lapses_at(&self, last_login_at: Millis) -> Millis {
        Millis(last_login_at.0.saturating_add(self.window_ms()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BuiltinRole;

    fn cand(
        role: &str,
        perms: PermissionSet,
        status: MembershipStatus,
        active: bool,
        login: Option<i64>,
    ) -> (
        String,
        PermissionSet,
        MembershipStatus,
        bool,
        Option<Millis>,
    ) {
        (role.to_owned(), perms, status, active, login.map(Millis))
    }

    #[test]
    fn each_rule_has_its_reason() {
        let blocked = vec!["staff_access".to_owned()];
        let rules = Rules {
            login_window_days: 365,
            blocked_staff_roles: &blocked,
        };
        let day = 86_400_000;
        let now = Millis(1000 * day);
        let admin = BuiltinRole::Admin.permissions();
        let edit_only = PermissionSet::from_iter([Permission::AccountSettingsEdit]);
        let table = [
            (
                cand(
                    "admin",
                    admin,
                    MembershipStatus::Active,
                    true,
                    Some(now.0 - day),
                ),
                vec![],
            ),
            (
                cand(
                    "owner",
                    PermissionSet::all(),
                    MembershipStatus::Active,
                    true,
                    Some(now.0 - 365 * day),
                ),
                vec![],
            ),
            (
                cand(
                    "custom",
                    edit_only,
                    MembershipStatus::Active,
                    true,
                    Some(now.0),
                ),
                vec![],
            ),
            (
                cand(
                    "analyst",
                    BuiltinRole::Analyst.permissions(),
                    MembershipStatus::Active,
                    true,
                    Some(now.0),
                ),
                vec![Ineligible::NotPrivileged],
            ),
            (
                cand(
                    "admin",
                    admin,
                    MembershipStatus::Deactivated,
                    true,
                    Some(now.0),
                ),
                vec![Ineligible::Inactive],
            ),
            (
                cand("admin", admin, MembershipStatus::Active, false, Some(now.0)),
                vec![Ineligible::Inactive],
            ),
            (
                cand("admin", admin, MembershipStatus::Invited, true, None),
                vec![Ineligible::Inactive, Ineligible::NoRecentLogin],
            ),
            (
                cand(
                    "admin",
                    admin,
                    MembershipStatus::Active,
                    true,
                    Some(now.0 - 365 * day - 1),
                ),
                vec![Ineligible::NoRecentLogin],
            ),
            (
                cand(
                    "staff_access",
                    edit_only,
                    MembershipStatus::Active,
                    true,
                    Some(now.0),
                ),
                vec![Ineligible::BlockedStaffRole],
            ),
        ];
        for ((key, perms, status, active, login), want) in table {
            let c = Candidate {
                role_key: &key,
                permissions: perms,
                membership: status,
                person_active: active,
                last_login_at: login,
            };
            assert_eq!(
                rules.check(&c, now),
                want,
                "{key} {status:?} {active} {login:?}"
            );
        }
    }
}

/// How an account's Security Contact came to be: the Owner by default (it follows ownership), or
/// picked by an Owner or Admin (it stays until changed or invalid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactSource {
    Default,
    Manual,
}

impl ContactSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactSource::Default => "default",
            ContactSource::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ContactSource::Default, ContactSource::Manual]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}
