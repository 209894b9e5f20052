//! Telling every node that access ended or narrowed: a PostgreSQL notification on one channel,
//! sent inside the change's own transaction (so it is heard exactly when the change commits,
//! and never for a change rolled back). Each node drops its cached sessions, keys, tokens and
//! clients when it hears one; SQLite has one node and nothing to tell.
//!
//! The channel keeps its first name (`watchword_api_keys`): nodes of the previous release
//! listen on it during a rolling upgrade.

use crate::{Conn, StoreError};

pub const CHANNEL: &str = "watchword_api_keys";

/// Announces a change of who may do what (`what` names it for logs: an id, a kind). The
/// payload ends with ` @<unix ms>`, the moment it was announced, for the receivers' lag.
pub async fn announce(c: &mut Conn, what: &str) -> Result<(), StoreError> {
    if c.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{what} @{}", watchword_domain::Millis::now().0))
            .execute(c)
            .await?;
        metrics::counter!("watchword_change_notifications_sent_total").increment(1);
    }
    Ok(())
}

/// Milliseconds from a payload's announcement to now (never negative), when it carries one.
pub fn lag_ms(payload: &str) -> Option<i64> {
    let (_, at) = payload.rsplit_once(" @")?;
    let at: i64 = at.parse().ok()?;
    Some((watchword_domain::Millis::now().0 - at).max(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_payload_tells_its_age() {
        let now = watchword_domain::Millis::now().0;
        let lag = super::lag_ms(&format!("key 42 @{}", now - 1500)).unwrap();
        assert!((1500..60_000).contains(&lag), "{lag}");
        assert_eq!(super::lag_ms(&format!("key @{}", now + 10_000)), Some(0));
        assert_eq!(super::lag_ms("listening"), None);
        assert_eq!(super::lag_ms("key @soon"), None);
    }
}
