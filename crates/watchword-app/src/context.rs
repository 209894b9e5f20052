use watchword_domain::{Millis, PersonId, SessionId};

/// Where a request came from, recorded on sessions and audit events.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub ip: String,
    pub user_agent: String,
    /// The browser's device cookie (see [`DeviceCookie`]).
    pub device: DeviceCookie,
}

impl Meta {
    pub fn new(ip: impl Into<String>, user_agent: &str) -> Self {
        Self {
            ip: ip.into(),
            user_agent: user_agent.chars().take(512).collect(),
            device: DeviceCookie::default(),
        }
    }
}

/// A browser's long-lived device cookie: the one it presented, or one minted when a browser
/// without it signs in, into the slot the HTTP layer gave the request (and then sets on the
/// response). Requests with no slot (API calls with credentials) allocate nothing.
#[derive(Debug, Clone, Default)]
pub struct DeviceCookie {
    pub presented: Option<String>,
    pub minted: Option<std::sync::Arc<std::sync::OnceLock<String>>>,
}

impl DeviceCookie {
    /// The device's token: the presented cookie, else a new random one (minted once); None
    /// when the request has neither cookie nor slot.
    pub fn token(&self) -> Option<&str> {
        match (&self.presented, &self.minted) {
            (Some(t), _) => Some(t),
            (None, Some(slot)) => Some(slot.get_or_init(watchword_domain::token::random_token)),
            (None, None) => None,
        }
    }

    /// Whether `value` can be a device cookie watchword set (anything else is ignored).
    pub fn well_formed(value: &str) -> bool {
        (32..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

/// An authenticated person acting through a session.
#[derive(Debug, Clone)]
pub struct Actor {
    pub person: PersonId,
    pub email: String,
    pub name: String,
    pub session: SessionId,
    pub session_mode: crate::sessions::SessionMode,
    pub authenticated_at: Millis,
    /// When this session last passed a second factor (None: password only).
    pub mfa_at: Option<Millis>,
    /// The second factors this session passed (method names; `idp`, `idp-phr` from an IdP).
    pub mfa_factors: Vec<String>,
    /// The SSO connection this session came from (None: password, passkey or a link).
    pub sso_connection: Option<String>,
    pub meta: Meta,
}

/// Who makes a request that both people and API keys may make.
#[derive(Clone)]
pub enum Caller {
    Person(Actor),
    Key(crate::api_keys::KeyActor),
}

impl Caller {
    pub fn meta(&self) -> &Meta {
        match self {
            Caller::Person(a) => &a.meta,
            Caller::Key(k) => &k.meta,
        }
    }
}
