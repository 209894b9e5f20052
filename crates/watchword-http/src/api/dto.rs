//! Request and response bodies of the JSON API (the OpenAPI schemas come from these).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use watchword_app::sessions::{Authenticated, SessionMode};
use watchword_app::views::{AccountRow, MemberRow, RoleRow, SessionRow};
use watchword_domain::{Millis, PermissionSet, RoleRef};

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum SessionModeDto {
    /// A `__Host-` cookie (browsers). Changes then need the `X-CSRF-Token` header.
    #[default]
    Cookie,
    /// A `session_token` in the response, sent as `Authorization: Bearer …` (programs).
    Token,
}

impl From<SessionModeDto> for SessionMode {
    fn from(m: SessionModeDto) -> Self {
        match m {
            SessionModeDto::Cookie => SessionMode::Cookie,
            SessionModeDto::Token => SessionMode::Token,
        }
    }
}

pub fn time(m: Millis) -> String {
    m.rfc3339()
}

#[derive(Serialize, ToSchema)]
pub struct PersonDto {
    pub id: Uuid,
    pub email: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct AccountDto {
    pub id: Uuid,
    pub name: String,
    /// `free` or `paid`.
    pub plan: String,
    pub created_at: String,
}

impl From<&AccountRow> for AccountDto {
    fn from(a: &AccountRow) -> Self {
        Self {
            id: a.id.0,
            name: a.name.clone(),
            plan: a.plan.as_str().into(),
            created_at: time(a.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RoleRefDto {
    /// Built-in key (`owner`, `admin`, `manager`, `analyst`, `support`) or a custom role's id.
    pub key: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct MemberDto {
    pub id: Uuid,
    pub person_id: Option<Uuid>,
    pub email: String,
    pub name: Option<String>,
    pub role: RoleRefDto,
    pub permissions: Vec<String>,
    /// `invited`, `active` or `deactivated`.
    pub status: String,
    pub last_login_at: Option<String>,
    pub created_at: String,
    /// Operator staff with access to this account (not one of the account's own people).
    pub staff: bool,
    /// When a staff grant ends.
    pub staff_expires_at: Option<String>,
    /// Set while the account's identity provider has the member suspended (SCIM `active=false`):
    /// the membership grants nothing until it is lifted.
    pub suspended_at: Option<String>,
}

impl From<&MemberRow> for MemberDto {
    fn from(m: &MemberRow) -> Self {
        Self {
            id: m.id.0,
            person_id: m.person_id.map(|p| p.0),
            email: m.email.clone(),
            name: m.name.clone(),
            role: RoleRefDto {
                key: m.role.encode(),
                name: m.role_name.clone(),
            },
            permissions: m.permissions.to_strings(),
            status: m.status.as_str().into(),
            last_login_at: m.last_login_at.map(time),
            created_at: time(m.created_at),
            staff: m.role.is_staff(),
            staff_expires_at: m.staff_expires_at.map(time),
            suspended_at: m.suspended_at.map(time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RoleDto {
    /// Built-in key or custom role id: what `role` fields take.
    pub key: String,
    pub name: String,
    pub builtin: bool,
    pub permissions: Vec<String>,
}

impl RoleDto {
    pub fn builtin(b: watchword_domain::BuiltinRole) -> Self {
        Self {
            key: b.key().into(),
            name: b.name().into(),
            builtin: true,
            permissions: b.permissions().to_strings(),
        }
    }
    pub fn custom(r: &RoleRow) -> Self {
        Self {
            key: RoleRef::Custom(r.id).encode(),
            name: r.name.clone(),
            builtin: false,
            permissions: r.permissions.to_strings(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionDto {
    pub id: Uuid,
    /// `cookie` or `token`.
    pub mode: String,
    /// The client's user agent.
    pub device: String,
    pub ip: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub current: bool,
}

impl SessionDto {
    pub fn from_row(s: &SessionRow, current: watchword_domain::SessionId) -> Self {
        Self {
            id: s.id.0,
            mode: s.mode.clone(),
            device: s.user_agent.clone(),
            ip: s.ip.clone(),
            created_at: time(s.created_at),
            last_seen_at: time(s.last_seen_at),
            expires_at: time(s.expires_at),
            current: s.id == current,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccountMembershipDto {
    pub account: AccountDto,
    pub membership_id: Uuid,
    pub role: RoleRefDto,
    pub permissions: Vec<String>,
}

pub fn memberships(auth: &Authenticated) -> Vec<AccountMembershipDto> {
    memberships_where(auth, |_, _| true)
}

/// The memberships `keep` keeps (whoami leaves out the accounts whose trusted networks do not
/// admit the session where it is).
pub fn memberships_where(
    auth: &Authenticated,
    keep: impl Fn(&AccountRow, &MemberRow) -> bool,
) -> Vec<AccountMembershipDto> {
    auth.memberships
        .iter()
        .filter(|(a, m)| keep(a, m))
        .map(|(a, m)| AccountMembershipDto {
            account: a.into(),
            membership_id: m.id.0,
            role: RoleRefDto {
                key: m.role.encode(),
                name: m.role_name.clone(),
            },
            permissions: m.permissions.to_strings(),
        })
        .collect()
}

pub fn permission_strings(p: PermissionSet) -> Vec<String> {
    p.to_strings()
}

/// The session a login or signup opened.
#[derive(Serialize, ToSchema)]
pub struct NewSessionDto {
    pub id: Uuid,
    pub expires_at: String,
}

/// Credentials handed out with a new session: `session_token` in token mode (send it as
/// `Authorization: Bearer …`; shown once, stored only as a hash), `csrf_token` in cookie mode
/// (send it as `X-CSRF-Token` on changes).
#[derive(Serialize, ToSchema, Default)]
pub struct IssuedCredentials {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}
