use watchword_domain::{Millis, PersonId, SessionId};

/// Where a request came from, recorded on sessions and audit events.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub ip: String,
    pub user_agent: String,
}

impl Meta {
    pub fn new(ip: impl Into<String>, user_agent: &str) -> Self {
        Self {
            ip: ip.into(),
            user_agent: user_agent.chars().take(512).collect(),
        }
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
