//! A small time-bounded cache for what every request reads and operators rarely change
//! (environments, clients, users). Each instance drops an entry at once when it changes it;
//! other instances see a change within the time-to-live.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long a cached environment or client may be served without asking the store:
/// the bound on how stale another instance's change can look.
pub const TTL: Duration = Duration::from_secs(1);

/// Entries kept at most; past this the cache starts over (never unbounded).
const MAX_ENTRIES: usize = 10_000;

/// A map whose entries expire after [`TTL`].
#[derive(Debug)]
pub struct TtlCache<K, V> {
    map: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// A fresh entry, if any.
    pub fn get(&self, k: &K) -> Option<V> {
        let map = self.map.read().ok()?;
        map.get(k).filter(|(at, _)| at.elapsed() < TTL).map(|(_, v)| v.clone())
    }

    /// Stores an entry.
    pub fn insert(&self, k: K, v: V) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(k, (Instant::now(), v));
        }
    }

    /// Drops an entry (after a change).
    pub fn remove(&self, k: &K) {
        if let Ok(mut map) = self.map.write() {
            map.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_dropped() {
        let c: TtlCache<u8, u8> = TtlCache::default();
        c.insert(1, 10);
        assert_eq!(c.get(&1), Some(10));
        c.remove(&1);
        assert_eq!(c.get(&1), None);
        c.map.write().unwrap().insert(2, (Instant::now() - TTL, 20));
        assert_eq!(c.get(&2), None, "stale");
    }
}
