//! Where use cases read the time. Production runs on the system clock; a test moves an app's
//! clock forward to make time-based rules due (sessions idle, codes expired, step-up stale)
//! instead of editing rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use watchword_domain::Millis;

/// The system clock plus an offset that only moves forward (zero unless a test advanced it).
#[derive(Clone, Default, Debug)]
pub struct Clock {
    ahead_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> Millis {
        Millis(Millis::now().0 + self.ahead_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and so every use case of its app) `secs` seconds forward.
    pub fn advance(&self, secs: i64) {
        assert!(secs >= 0, "a clock only moves forward");
        self.ahead_ms.fetch_add(secs * 1000, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advanced_clock_is_ahead_of_the_system_by_the_advance() {
        let c = Clock::default();
        let before = Millis::now().0;
        c.advance(3600);
        let ahead = c.now().0 - before;
        assert!((3_600_000..3_610_000).contains(&ahead), "{ahead}");
        let copy = c.clone();
        copy.advance(60);
        assert!(c.now().0 - before >= 3_660_000, "clones share the clock");
    }
}
