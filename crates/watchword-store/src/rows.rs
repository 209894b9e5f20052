//! Plain records read from and written to the database, with typed fields.

use crate::StoreError;
use sqlx::Row;
use sqlx::any::AnyRow;
use watchword_domain::policy::{FactorPolicy, Networks};
use watchword_domain::*;

pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String, StoreError> {
    Ok(row.try_get::<String, _>(col)?)
}
pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}
pub(crate) fn int(row: &AnyRow, col: &str) -> Result<i64, StoreError> {
    Ok(row.try_get::<i64, _>(col)?)
}
pub(crate) fn opt_int(row: &AnyRow, col: &str) -> Result<Option<i64>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}
pub(crate) fn parsed<T>(
    row: &AnyRow,
    col: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let s = text(row, col)?;
    parse(&s).ok_or_else(|| StoreError::Corrupt(format!("column {col}: {s:?}")))
}
pub(crate) fn opt_parsed<T>(
    row: &AnyRow,
    col: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    match opt_text(row, col)? {
        None => Ok(None),
        Some(s) => parse(&s)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt(format!("column {col}: {s:?}"))),
    }
}

#[derive(Debug, Clone)]
pub struct PersonRow {
    pub id: PersonId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub active: bool,
    pub is_staff: bool,
    pub last_login_at: Option<Millis>,
    pub created_at: Millis,
    /// They reported a sign-in that was not theirs: no password login until a reset.
    pub password_reset_required: bool,
}

impl PersonRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parsed(r, "id", PersonId::parse)?,
            email: text(r, "email")?,
            name: text(r, "name")?,
            password_hash: text(r, "password_hash")?,
            active: text(r, "status")? == "active",
            is_staff: int(r, "is_staff")? != 0,
            last_login_at: opt_int(r, "last_login_at")?.map(Millis),
            created_at: Millis(int(r, "created_at")?),
            password_reset_required: opt_int(r, "password_reset_required_at")?.is_some(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: AccountId,
    pub name: String,
    pub plan: Plan,
    pub created_at: Millis,
    /// The "require MFA" setting as stored; see [`AccountRow::enforces_mfa`].
    pub mfa_required: bool,
    /// SSO-only: members in the verified domains need a session from the account's IdP.
    pub sso_required: bool,
    /// While SSO-only, the Owner may still use a password + MFA login.
    pub sso_break_glass: bool,
    /// Where the account may be used from (empty: anywhere).
    pub networks: Networks,
    /// Owners' own password + MFA sessions may act from outside the trusted networks.
    pub networks_owner_exempt: bool,
    pub factor_policy: FactorPolicy,
    /// How long an approved recovery request waits before it can be used.
    pub recovery_delay_hours: i64,
}

/// The columns of an [`AccountRow`].
pub const ACCOUNT_COLUMNS: [&str; 14] = [
    "id",
    "name",
    "plan",
    "created_at",
    "mfa_required",
    "sso_required",
    "sso_break_glass",
    "trusted_networks",
    "networks_owner_exempt",
    "factor_methods",
    "admin_passkey",
    "factor_grace_days",
    "factor_policy_at",
    "recovery_delay_hours",
];

impl AccountRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Self::from_prefixed(r, "")
    }

    /// Reads the columns named `{prefix}{column}` (an account joined to another row).
    pub(crate) fn from_prefixed(r: &AnyRow, prefix: &str) -> Result<Self, StoreError> {
        let c = |name: &str| format!("{prefix}{name}");
        Ok(Self {
            id: parsed(r, &c("id"), AccountId::parse)?,
            name: text(r, &c("name"))?,
            plan: parsed(r, &c("plan"), Plan::parse)?,
            created_at: Millis(int(r, &c("created_at"))?),
            mfa_required: int(r, &c("mfa_required"))? != 0,
            sso_required: int(r, &c("sso_required"))? != 0,
            sso_break_glass: int(r, &c("sso_break_glass"))? != 0,
            networks: Networks::decode(opt_text(r, &c("trusted_networks"))?.as_deref()),
            networks_owner_exempt: int(r, &c("networks_owner_exempt"))? != 0,
            factor_policy: FactorPolicy {
                allowed: FactorPolicy::decode_allowed(
                    opt_text(r, &c("factor_methods"))?.as_deref(),
                ),
                admin_passkey: int(r, &c("admin_passkey"))? != 0,
                grace_days: int(r, &c("factor_grace_days"))?,
                set_at: opt_int(r, &c("factor_policy_at"))?.map(Millis),
            },
            recovery_delay_hours: int(r, &c("recovery_delay_hours"))?,
        })
    }

    /// MFA is required of members: set by an Owner or Admin, and always on paid plans.
    pub fn enforces_mfa(&self) -> bool {
        self.mfa_required || self.plan == Plan::Paid
    }
}

#[derive(Debug, Clone)]
pub struct RoleRow {
    pub id: RoleId,
    pub account_id: AccountId,
    pub name: String,
    pub permissions: PermissionSet,
    pub created_at: Millis,
}

impl RoleRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parsed(r, "id", RoleId::parse)?,
            account_id: parsed(r, "account_id", AccountId::parse)?,
            name: text(r, "name")?,
            permissions: parsed(r, "permissions", |s| PermissionSet::decode(s).ok())?,
            created_at: Millis(int(r, "created_at")?),
        })
    }
}

/// A membership joined with its person (absent while an invited person does not exist yet) and,
/// for custom roles, the role's name and permissions.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub id: MembershipId,
    pub account_id: AccountId,
    pub person_id: Option<PersonId>,
    pub email: String,
    pub name: Option<String>,
    pub role: RoleRef,
    pub role_name: String,
    pub permissions: PermissionSet,
    pub status: MembershipStatus,
    pub person_active: bool,
    pub last_login_at: Option<Millis>,
    pub created_at: Millis,
    /// Set for operator staff: when their access ends.
    pub staff_expires_at: Option<Millis>,
    /// Set while the account's IdP (SCIM `active=false`) has the membership suspended.
    pub suspended_at: Option<Millis>,
}

impl MemberRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        let role = parsed(r, "role", RoleRef::parse)?;
        let (role_name, permissions) = match role {
            RoleRef::Builtin(b) => (b.name().to_owned(), b.permissions()),
            RoleRef::Custom(_) => (
                opt_text(r, "role_name")?.unwrap_or_default(),
                opt_parsed(r, "role_permissions", |s| PermissionSet::decode(s).ok())?
                    .unwrap_or_default(),
            ),
        };
        Ok(Self {
            id: parsed(r, "id", MembershipId::parse)?,
            account_id: parsed(r, "account_id", AccountId::parse)?,
            person_id: opt_parsed(r, "person_id", PersonId::parse)?,
            email: text(r, "email")?,
            name: opt_text(r, "person_name")?,
            role,
            role_name,
            permissions,
            status: parsed(r, "status", MembershipStatus::parse)?,
            person_active: opt_text(r, "person_status")?.is_none_or(|s| s == "active"),
            last_login_at: opt_int(r, "last_login_at")?.map(Millis),
            created_at: Millis(int(r, "created_at")?),
            staff_expires_at: opt_int(r, "staff_expires_at")?.map(Millis),
            suspended_at: opt_int(r, "suspended_at")?.map(Millis),
        })
    }

    /// Whether this membership grants access to its account at `now` (an expired staff grant
    /// does not).
    pub fn grants_access(&self, now: Millis) -> bool {
        self.status == MembershipStatus::Active
            && self.suspended_at.is_none()
            && self.person_active
            && self.staff_expires_at.is_none_or(|e| now < e)
    }
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: SessionId,
    pub person_id: PersonId,
    pub mode: String,
    pub user_agent: String,
    pub ip: String,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    pub authenticated_at: Millis,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
    /// Second factors this session passed (besides the password), and when it last did.
    pub mfa_factors: Vec<String>,
    pub mfa_at: Option<Millis>,
    /// The SSO connection the session came from.
    pub sso_connection: Option<String>,
}

impl SessionRow {
    pub(crate) fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: parsed(r, "id", SessionId::parse)?,
            person_id: parsed(r, "person_id", PersonId::parse)?,
            mode: text(r, "mode")?,
            user_agent: text(r, "user_agent")?,
            ip: text(r, "ip")?,
            created_at: Millis(int(r, "created_at")?),
            last_seen_at: Millis(int(r, "last_seen_at")?),
            authenticated_at: Millis(int(r, "authenticated_at")?),
            expires_at: Millis(int(r, "expires_at")?),
            revoked_at: opt_int(r, "revoked_at")?.map(Millis),
            mfa_factors: opt_text(r, "mfa_factors")?
                .map(|f| f.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            mfa_at: opt_int(r, "mfa_at")?.map(Millis),
            sso_connection: opt_text(r, "sso_connection_id")?,
        })
    }
}
