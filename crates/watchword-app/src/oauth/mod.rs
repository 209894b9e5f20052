//! OAuth 2.0 for integrations: the apps (clients) an account registers for its own integrations
//! (`apps`), the authorization endpoint with consent (`authorize`), the token endpoint with
//! client authentication, refresh token rotation and revocation (`token`). Access tokens are
//! sealed (grant, scopes, expiry; `watchword_domain::oauth`) and verified on the keys' hot path:
//! the same cache and revocation broadcast, the grant read in place of a key row, uses recorded
//! on the grant with keys' uses.

mod apps;
mod authorize;
mod installed;
mod token;

pub(crate) use token::ClientEntry;

pub use apps::{AppChange, AppView, NewApp};
pub use authorize::{AuthorizeParams, Checked, Consent, ConsentAccount, Refusal};
pub use installed::Installed;
pub use token::{ClientAuth, IssuedToken, TokenRequest};

use std::collections::HashMap;
use std::sync::Mutex;
use watchword_domain::Millis;

/// This node's (client, IP) pairs refused for too many wrong secrets, until when (the count itself is the
/// database's `OAUTH_CLIENT_FAILURES` limit, shared by all nodes).
#[derive(Default)]
pub(crate) struct Blocked(Mutex<HashMap<String, Millis>>);

impl Blocked {
    pub(crate) fn is_blocked(&self, client: &str, now: Millis) -> bool {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(client).is_some_and(|until| *until > now)
    }

    pub(crate) fn block(&self, client: &str, until: Millis) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, u| *u > until.plus_secs(-3600));
        }
        map.insert(client.to_owned(), until);
    }
}
