//! When a session is still usable.

use crate::Millis;

/// A session is live until revoked, until its absolute expiry, and while it was seen within the
/// idle timeout.
pub fn is_live(
    now: Millis,
    last_seen: Millis,
    expires_at: Millis,
    revoked: bool,
    idle_secs: i64,
) -> bool {
    !revoked && now < expires_at && now.0 - last_seen.0 < idle_secs.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_absolute_and_revoked() {
        let t = Millis(1_000_000);
        let exp = t.plus_secs(3600);
        assert!(is_live(t.plus_secs(10), t, exp, false, 60));
        assert!(
            !is_live(t.plus_secs(60), t, exp, false, 60),
            "idle timeout reached"
        );
        assert!(is_live(
            t.plus_secs(3599),
            t.plus_secs(3590),
            exp,
            false,
            60
        ));
        assert!(
            !is_live(t.plus_secs(3600), t.plus_secs(3599), exp, false, 60),
            "absolute lifetime reached"
        );
        assert!(!is_live(t, t, exp, true, 60), "revoked");
    }
}
