//! An account's sign-in policies: where it may be used from (trusted networks) and which second
//! factors its members must use (factor policy).

use crate::mfa::Method;
use crate::{DomainError, Millis};
use ipnet::IpNet;
use std::net::IpAddr;

/// Most ranges an account's allow list holds.
pub const MAX_NETWORKS: usize = 100;

/// An account's allow list of networks (empty: used from anywhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// Ranges as written by people (`203.0.113.0/24`, `2001:db8::/32`, or one address), each
    /// reduced to its network; duplicates dropped, order kept.
    pub fn parse<S: AsRef<str>>(ranges: &[S]) -> Result<Self, DomainError> {
        if ranges.len() > MAX_NETWORKS {
            return Err(DomainError::invalid(
                "too_many_networks",
                format!("at most {MAX_NETWORKS} ranges"),
            ));
        }
        let mut out: Vec<IpNet> = Vec::with_capacity(ranges.len());
        for r in ranges {
            let r = r.as_ref().trim();
            let net = r
                .parse::<IpNet>()
                .or_else(|_| r.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    DomainError::invalid(
                        "invalid_network",
                        format!("{r:?} is not an IP range such as 203.0.113.0/24"),
                    )
                })?
                .trunc();
            if !out.contains(&net) {
                out.push(net);
            }
        }
        Ok(Self(out))
    }

    /// The stored form: ranges separated by spaces (None when empty).
    pub fn encode(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// Reads the stored form; a range that no longer parses is dropped rather than opening
    /// the list (an empty list admits everyone, so a list never becomes empty this way).
    pub fn decode(stored: Option<&str>) -> Self {
        let Some(s) = stored else {
            return Self::default();
        };
        let nets: Vec<IpNet> = s
            .split_whitespace()
            .filter_map(|r| r.parse().ok())
            .collect();
        if nets.is_empty() && !s.trim().is_empty() {
            // Unreadable but set: admit nobody rather than everybody.
            return Self(vec![IpNet::from(IpAddr::from([0, 0, 0, 0]))]);
        }
        Self(nets)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// Whether the list admits a client at `ip` (any client when the list is empty; a client
    /// whose address cannot be read only then).
    pub fn admits(&self, ip: &str) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Ok(ip) = ip.parse::<IpAddr>() else {
            return false;
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// Second factors a member may pass (recovery codes are always allowed, as the backup).
pub const POLICY_METHODS: [Method; 3] = [Method::Passkey, Method::Totp, Method::Sms];

/// Longest grace period an Owner may give.
pub const MAX_GRACE_DAYS: i64 = 30;

/// An account's factor policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorPolicy {
    /// The second factors members may use (None: any).
    pub allowed: Option<Vec<Method>>,
    /// Administrators (Owner, Admin, any role with administrative permissions) must use a passkey.
    pub admin_passkey: bool,
    pub grace_days: i64,
    /// When the policy was last set; it is enforced `grace_days` after this.
    pub set_at: Option<Millis>,
}

impl Default for FactorPolicy {
    fn default() -> Self {
        Self {
            allowed: None,
            admin_passkey: false,
            grace_days: 7,
            set_at: None,
        }
    }
}

impl FactorPolicy {
    /// The allowed methods as stored (space separated; None: any).
    pub fn encode_allowed(&self) -> Option<String> {
        self.allowed
            .as_ref()
            .map(|m| m.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(" "))
    }

    pub fn decode_allowed(stored: Option<&str>) -> Option<Vec<Method>> {
        stored.map(|s| s.split_whitespace().filter_map(Method::parse).collect())
    }

    /// Whether the policy asks anything beyond "some second factor".
    pub fn is_set(&self) -> bool {
        self.allowed.is_some() || self.admin_passkey
    }

    /// When it starts to be enforced (None: not set).
    pub fn enforced_from(&self) -> Option<Millis> {
        if !self.is_set() {
            return None;
        }
        self.set_at.map(|at| at.plus_secs(self.grace_days * 86_400))
    }

    pub fn enforced(&self, now: Millis) -> bool {
        self.enforced_from().is_some_and(|from| now >= from)
    }

    /// Whether `method` may be used by a member (an administrator when `admin`).
    pub fn allows(&self, method: Method, admin: bool) -> bool {
        if method == Method::RecoveryCode {
            return true;
        }
        if admin && self.admin_passkey {
            return method == Method::Passkey;
        }
        self.allowed.as_ref().is_none_or(|a| a.contains(&method))
    }

    /// Whether a session that passed `factors` (method names, plus `idp-phr` when an IdP
    /// asserted phishing-resistant MFA and `idp` for other IdP MFA) meets the policy.
    pub fn met_by(&self, factors: &[String], admin: bool) -> bool {
        factors.iter().any(|f| match f.as_str() {
            IDP_PHISHING_RESISTANT => true,
            // Another MFA of the IdP's counts where codes do: not for passkey-only policies.
            IDP_MFA => {
                !(admin && self.admin_passkey)
                    && self
                        .allowed
                        .as_ref()
                        .is_none_or(|a| a.contains(&Method::Totp) || a.contains(&Method::Sms))
            }
            f => {
                Method::parse(f).is_some_and(|m| m != Method::RecoveryCode && self.allows(m, admin))
            }
        })
    }

    /// Whether a person with these confirmed methods can meet the policy.
    pub fn can_be_met_with(&self, enrolled: &[Method], admin: bool) -> bool {
        enrolled
            .iter()
            .any(|m| *m != Method::RecoveryCode && self.allows(*m, admin))
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        if !(0..=MAX_GRACE_DAYS).contains(&self.grace_days) {
            return Err(DomainError::invalid(
                "invalid_grace_days",
                format!("the grace period is 0 to {MAX_GRACE_DAYS} days"),
            ));
        }
        if let Some(a) = &self.allowed
            && (a.is_empty() || a.iter().any(|m| !POLICY_METHODS.contains(m)))
        {
            return Err(DomainError::invalid(
                "invalid_factors",
                "allow at least one of passkey, totp, sms",
            ));
        }
        Ok(())
    }
}

/// A session factor: the IdP reported MFA (on a connection that trusts it).
pub const IDP_MFA: &str = "idp";
/// A session factor: the IdP reported phishing-resistant MFA (a security key, a platform
/// authenticator, a smart card).
pub const IDP_PHISHING_RESISTANT: &str = "idp-phr";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_admit_only_their_ranges() {
        let n = Networks::parse(&["203.0.113.7/24", "2001:db8::/32", "198.51.100.9"]).unwrap();
        assert_eq!(
            n.ranges(),
            ["203.0.113.0/24", "2001:db8::/32", "198.51.100.9/32"]
        );
        assert!(n.admits("203.0.113.200"));
        assert!(n.admits("::ffff:203.0.113.1"));
        assert!(n.admits("2001:db8::1"));
        assert!(n.admits("198.51.100.9"));
        assert!(!n.admits("198.51.100.10"));
        assert!(!n.admits("10.0.0.1"));
        assert!(!n.admits("not an ip"));
        assert!(Networks::default().admits("10.0.0.1"));
        assert!(Networks::parse(&["300.1.1.1/8"]).is_err());
        let many: Vec<String> = (0..=MAX_NETWORKS)
            .map(|i| format!("10.{i}.0.0/16"))
            .collect();
        assert!(Networks::parse(&many).is_err());
        assert_eq!(Networks::decode(n.encode().as_deref()), n);
        assert!(!Networks::decode(Some("garbage")).admits("10.0.0.1"));
    }

    #[test]
    fn factor_policy_rules() {
        let p = FactorPolicy {
            allowed: Some(vec![Method::Passkey, Method::Totp]),
            admin_passkey: true,
            grace_days: 7,
            set_at: Some(Millis(0)),
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(p.met_by(&s(&["totp"]), false));
        assert!(!p.met_by(&s(&["sms"]), false));
        assert!(!p.met_by(&s(&["recovery_code"]), false));
        assert!(!p.met_by(&s(&["totp"]), true));
        assert!(p.met_by(&s(&["passkey"]), true));
        assert!(p.met_by(&s(&["idp-phr"]), true));
        assert!(!p.met_by(&s(&["idp"]), true));
        assert!(p.met_by(&s(&["idp"]), false));
        let passkeys_only = FactorPolicy {
            allowed: Some(vec![Method::Passkey]),
            admin_passkey: false,
            ..p.clone()
        };
        assert!(!passkeys_only.met_by(&s(&["idp"]), false));
        assert!(passkeys_only.met_by(&s(&["idp-phr"]), false));
        assert!(!p.enforced(Millis(6 * 86_400_000)));
        assert!(p.enforced(Millis(7 * 86_400_000)));
        assert!(p.can_be_met_with(&[Method::Sms, Method::Passkey], true));
        assert!(!p.can_be_met_with(&[Method::Sms, Method::RecoveryCode], false));
        assert!(
            FactorPolicy {
                grace_days: 31,
                ..p.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            FactorPolicy {
                allowed: Some(vec![]),
                ..p
            }
            .validate()
            .is_err()
        );
    }
}
