//! The node-local caches that keep session and API key checks off the database on the hot path.
//! Entries are dropped at once when this node commits a change or hears another node's (a
//! generation counter), and re-read after `ttl_ms` at the latest, which bounds how long a change
//! goes unseen when a notification is lost. While the node is not listening ([`Hearing`] false:
//! its listening connection is down) nothing is cached: every check reads the database.

use quick_cache::sync::Cache;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use watchword_domain::Millis;
use watchword_domain::token::TokenHash;

/// Whether this node hears other nodes' changes (shared by its caches); always on SQLite.
pub(crate) type Hearing = Arc<AtomicBool>;

pub(crate) struct AuthCache<V> {
    entries: Cache<TokenHash, Arc<Entry<V>>>,
    generation: AtomicU64,
    ttl_ms: i64,
    hearing: Hearing,
}

struct Entry<V> {
    value: Arc<V>,
    generation: u64,
    fetched_at: Millis,
}

impl<V> AuthCache<V> {
    pub(crate) fn new(capacity: usize, ttl_ms: i64, hearing: Hearing) -> Self {
        Self {
            entries: Cache::new(capacity),
            generation: AtomicU64::new(0),
            ttl_ms,
            hearing,
        }
    }

    pub(crate) fn get(&self, key: &TokenHash, now: Millis) -> Option<Arc<V>> {
        if !self.hearing.load(Ordering::Acquire) {
            return None;
        }
        let e = self.entries.get(key)?;
        let fresh = e.generation == self.generation.load(Ordering::Acquire)
            && now.0 - e.fetched_at.0 < self.ttl_ms;
        fresh.then(|| e.value.clone())
    }

    /// The generation to pass to `put` for a value about to be read from the database.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn put(&self, key: TokenHash, value: Arc<V>, generation: u64, now: Millis) {
        if self.ttl_ms > 0 && self.hearing.load(Ordering::Acquire) {
            self.entries.insert(
                key,
                Arc::new(Entry {
                    value,
                    generation,
                    fetched_at: now,
                }),
            );
        }
    }

    pub(crate) fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}
