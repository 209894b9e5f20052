//! Telling every node that access ended or narrowed: a PostgreSQL notification on one channel,
//! sent inside the change's own transaction (so it is heard exactly when the change commits,
//! and never for a change rolled back). Each node drops its cached sessions, keys, tokens and
//! clients when it hears one; SQLite has one node and nothing to tell.
//!
//! The channel keeps its first name (`watchword_api_keys`): nodes of the previous release
//! listen on it during a rolling upgrade.

use crate::{Conn, StoreError};

pub const CHANNEL: &str = "watchword_api_keys";

/// Announces a change of who may do what (`what` names it for logs: an id, a kind).
pub async fn announce(c: &mut Conn, what: &str) -> Result<(), StoreError> {
    if c.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(what)
            .execute(c)
            .await?;
    }
    Ok(())
}
