//! What an API key may do: per resource `read` or `write` (write includes read), written
//! `<resource>:read` / `<resource>:write`. Each scope grants role permissions, so a key is checked
//! with the same permission names as a person, and a creator can only hand out scopes whose
//! permissions they hold.

use crate::{Permission, PermissionSet};

/// A resource's name, the permissions of `read`, and of `write` (None when read-only).
type ResourceRow = (
    &'static str,
    &'static [Permission],
    Option<&'static [Permission]>,
);

/// (resource, permissions of `read`, permissions of `write` or None when read-only).
const RESOURCES: &[ResourceRow] = {
    use Permission::*;
    &[
        (
            "account_settings",
            &[AccountSettingsRead],
            Some(&[AccountSettingsEdit]),
        ),
        ("billing", &[BillingManage], Some(&[BillingManage])),
        ("members", &[UsersRead], Some(&[UsersManage])),
        ("roles", &[UsersRead], Some(&[RolesManage])),
        ("api_keys", &[ApiKeysManage], Some(&[ApiKeysManage])),
        ("audit_log", &[AuditLogRead], None),
        ("campaigns", &[CampaignsRead], Some(&[CampaignsWrite])),
        ("analytics", &[AnalyticsRead], None),
        ("profiles", &[ProfilesRead], Some(&[ProfilesWrite])),
    ]
};

/// What a scope is about, in the order of `RESOURCES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    AccountSettings,
    Billing,
    Members,
    Roles,
    ApiKeys,
    AuditLog,
    Campaigns,
    Analytics,
    Profiles,
}

/// One scope a request needs: reading or writing a resource (write includes read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read(Resource),
    Write(Resource),
}

impl Scope {
    fn parts(self) -> (usize, bool) {
        match self {
            Scope::Read(r) => (r as usize, false),
            Scope::Write(r) => (r as usize, true),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (i, write) = self.parts();
        let access = if write { "write" } else { "read" };
        write!(f, "{}:{access}", RESOURCES[i].0)
    }
}

/// A set of scopes: two bits per resource (read, write).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ScopeSet(u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Full,
    ReadOnly,
}

impl Preset {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Preset::Full),
            "read_only" => Some(Preset::ReadOnly),
            _ => None,
        }
    }
}

impl ScopeSet {
    pub const EMPTY: ScopeSet = ScopeSet(0);

    /// Every scope name there is, in a stable order.
    pub fn names() -> impl Iterator<Item = String> {
        RESOURCES.iter().flat_map(|(r, _, w)| {
            let read = format!("{r}:read");
            let write = w.map(|_| format!("{r}:write"));
            std::iter::once(read).chain(write)
        })
    }

    fn bit(index: usize, write: bool) -> u32 {
        1 << (index * 2 + usize::from(write))
    }

    /// Parses scope names; unknown names are returned as the error.
    pub fn parse_all<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut set = 0;
        for name in names {
            let unknown = || name.to_owned();
            let (resource, access) = name.split_once(':').ok_or_else(unknown)?;
            let i = RESOURCES
                .iter()
                .position(|(r, _, _)| *r == resource)
                .ok_or_else(unknown)?;
            set |= match access {
                "read" => Self::bit(i, false),
                // Write includes read: both bits, so equal sets compare equal.
                "write" if RESOURCES[i].2.is_some() => Self::bit(i, true) | Self::bit(i, false),
                _ => return Err(unknown()),
            };
        }
        Ok(ScopeSet(set))
    }

    pub fn decode(stored: &str) -> Result<Self, String> {
        Self::parse_all(stored.split_whitespace())
    }

    /// The widest scopes whose permissions all lie within `held` (a preset is relative to the
    /// creator).
    pub fn preset(preset: Preset, held: PermissionSet) -> Self {
        let mut set = 0;
        for (i, (_, read, write)) in RESOURCES.iter().enumerate() {
            let holds = |ps: &[Permission]| ps.iter().all(|p| held.contains(*p));
            if !holds(read) {
                continue;
            }
            set |= Self::bit(i, false);
            if preset == Preset::Full && write.is_some_and(holds) {
                set |= Self::bit(i, true);
            }
        }
        ScopeSet(set)
    }

    /// The set as bits (two per resource), for a token that carries it.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// The set these bits name; None when a bit names no resource.
    pub fn from_bits(bits: u32) -> Option<Self> {
        let known = (1u64 << (2 * RESOURCES.len())) - 1;
        (u64::from(bits) & !known == 0).then_some(ScopeSet(bits))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes in both sets.
    pub fn intersect(self, other: ScopeSet) -> Self {
        ScopeSet(self.0 & other.0)
    }

    /// Scope names, with `write` standing alone (it includes `read`).
    pub fn to_strings(self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (r, _, _)) in RESOURCES.iter().enumerate() {
            if self.0 & Self::bit(i, true) != 0 {
                out.push(format!("{r}:write"));
            } else if self.0 & Self::bit(i, false) != 0 {
                out.push(format!("{r}:read"));
            }
        }
        out
    }

    pub fn encode(self) -> String {
        self.to_strings().join(" ")
    }

    /// Whether these scopes grant `scope` (write includes read).
    pub fn grants(self, scope: Scope) -> bool {
        let (i, write) = scope.parts();
        let need = if write {
            Self::bit(i, true)
        } else {
            Self::bit(i, false)
        };
        // Widen each held write bit to also cover the read bit below it.
        let held = self.0 | ((self.0 & 0xAAAA_AAAA) >> 1);
        need & !held == 0
    }

    /// The permissions a request authenticated with these scopes has.
    pub fn permissions(self) -> PermissionSet {
        let mut ps = Vec::new();
        for (i, (_, read, write)) in RESOURCES.iter().enumerate() {
            if self.0 & (Self::bit(i, false) | Self::bit(i, true)) != 0 {
                ps.extend_from_slice(read);
            }
            if self.0 & Self::bit(i, true) != 0 {
                ps.extend_from_slice(write.unwrap_or_default());
            }
        }
        PermissionSet::from_iter(ps)
    }

    /// The narrowest scope that grants `p`, for error messages.
    pub fn scope_for(p: Permission) -> String {
        for (r, read, write) in RESOURCES {
            if read.contains(&p) {
                return format!("{r}:read");
            }
            if write.is_some_and(|w| w.contains(&p)) {
                return format!("{r}:write");
            }
        }
        p.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BuiltinRole;

    #[test]
    fn names_round_trip_and_write_includes_read() {
        let all: Vec<String> = ScopeSet::names().collect();
        let set = ScopeSet::parse_all(all.iter().map(String::as_str)).unwrap();
        assert_eq!(ScopeSet::decode(&set.encode()), Ok(set));
        assert_eq!(
            ScopeSet::parse_all(["audit_log:write"]),
            Err("audit_log:write".into())
        );
        assert_eq!(ScopeSet::parse_all(["members"]), Err("members".into()));
        let w = ScopeSet::parse_all(["members:write"]).unwrap();
        assert!(w.permissions().contains(Permission::UsersRead));
        assert!(w.permissions().contains(Permission::UsersManage));
        let r = ScopeSet::parse_all(["members:read"]).unwrap();
        assert!(!r.permissions().contains(Permission::UsersManage));
        use Resource::*;
        assert!(w.grants(Scope::Read(Members)) && w.grants(Scope::Write(Members)));
        assert!(r.grants(Scope::Read(Members)) && !r.grants(Scope::Write(Members)));
        assert!(!r.grants(Scope::Read(AuditLog)));
    }

    #[test]
    fn typed_scopes_name_their_resources() {
        use Resource::*;
        let all = [
            AccountSettings,
            Billing,
            Members,
            Roles,
            ApiKeys,
            AuditLog,
            Campaigns,
            Analytics,
            Profiles,
        ];
        assert_eq!(all.len(), RESOURCES.len());
        for (i, r) in all.into_iter().enumerate() {
            assert_eq!(r as usize, i);
            let name = Scope::Read(r).to_string();
            assert_eq!(
                ScopeSet::parse_all([name.as_str()]).map(|s| s.grants(Scope::Read(r))),
                Ok(true)
            );
        }
        assert_eq!(Scope::Write(ApiKeys).to_string(), "api_keys:write");
    }

    #[test]
    fn presets_stay_within_the_creator() {
        let admin = BuiltinRole::Admin.permissions();
        let full = ScopeSet::preset(Preset::Full, admin);
        assert!(full.permissions().is_subset_of(admin));
        assert!(full.to_strings().contains(&"api_keys:write".to_owned()));
        let read = ScopeSet::preset(Preset::ReadOnly, PermissionSet::all());
        assert!(read.to_strings().iter().all(|s| s.ends_with(":read")));
        let analyst = BuiltinRole::Analyst.permissions();
        let mine = ScopeSet::preset(Preset::Full, analyst);
        assert!(mine.permissions().is_subset_of(analyst));
        assert!(!mine.permissions().contains(Permission::ApiKeysManage));
    }
}
