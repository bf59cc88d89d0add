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

/// How long a removal is remembered: longer than any store read takes, so a read that
/// began before a change cannot put the old value back afterwards.
const REMEMBER_REMOVALS: Duration = Duration::from_secs(30);

/// A map whose entries expire after [`TTL`].
#[derive(Debug)]
pub struct TtlCache<K, V> {
    inner: RwLock<Inner<K, V>>,
}

/// The entries, and when each key was last removed (changed or deleted at this
/// instance); one lock over both, so a removal and an insert cannot interleave.
#[derive(Debug)]
struct Inner<K, V> {
    map: HashMap<K, (Instant, V)>,
    removed: HashMap<K, Instant>,
    /// When every entry was last dropped at once.
    cleared: Option<Instant>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self {
            inner: RwLock::new(Inner {
                map: HashMap::new(),
                removed: HashMap::new(),
                cleared: None,
            }),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    /// A fresh entry, if any.
    pub fn get(&self, k: &K) -> Option<V> {
        let inner = self.inner.read().ok()?;
        inner
            .map
            .get(k)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }

    /// Stores an entry.
    pub fn insert(&self, k: K, v: V) {
        if let Ok(mut inner) = self.inner.write() {
            Self::put(&mut inner, k, v);
        }
    }

    fn put(inner: &mut Inner<K, V>, k: K, v: V) {
        if inner.map.len() >= MAX_ENTRIES {
            inner.map.clear();
        }
        inner.map.insert(k, (Instant::now(), v));
    }

    /// Stores what a store read that began at `read_started` found, unless the key was
    /// removed since: a change (a deleted client, say) committed while the read ran
    /// must not be undone by it for another [`TTL`].
    pub fn insert_read_since(&self, k: K, v: V, read_started: Instant) {
        if let Ok(mut inner) = self.inner.write() {
            if inner.removed.get(&k).is_some_and(|at| *at >= read_started)
                || inner.cleared.is_some_and(|at| at >= read_started)
            {
                return;
            }
            Self::put(&mut inner, k, v);
        }
    }

    /// Drops every entry (after a change to many, such as a removed environment), and
    /// remembers when.
    pub fn clear(&self) {
        if let Ok(mut inner) = self.inner.write() {
            inner.map.clear();
            inner.cleared = Some(Instant::now());
        }
    }

    /// Drops an entry (after a change), and remembers when.
    pub fn remove(&self, k: &K) {
        if let Ok(mut inner) = self.inner.write() {
            inner.map.remove(k);
            if inner.removed.len() >= MAX_ENTRIES {
                inner.removed.retain(|_, at| at.elapsed() < REMEMBER_REMOVALS);
            }
            inner.removed.insert(k.clone(), Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_began_before_a_clear_is_not_cached() {
        let c: TtlCache<u8, u8> = TtlCache::default();
        c.insert(1, 10);
        let before = Instant::now();
        c.clear();
        assert_eq!(c.get(&1), None);
        c.insert_read_since(2, 20, before);
        assert_eq!(c.get(&2), None);
        c.insert_read_since(2, 20, Instant::now());
        assert_eq!(c.get(&2), Some(20));
    }

    #[test]
    fn entries_expire_and_can_be_dropped() {
        let c: TtlCache<u8, u8> = TtlCache::default();
        c.insert(1, 10);
        assert_eq!(c.get(&1), Some(10));
        c.remove(&1);
        assert_eq!(c.get(&1), None);
        c.inner.write().unwrap().map.insert(2, (Instant::now() - TTL, 20));
        assert_eq!(c.get(&2), None, "stale");
    }

    #[test]
    fn a_read_that_began_before_a_removal_is_not_cached() {
        let c: TtlCache<u8, u8> = TtlCache::default();
        let before = Instant::now();
        c.remove(&1);
        c.insert_read_since(1, 10, before);
        assert_eq!(c.get(&1), None, "the value read may predate the change");
        c.insert_read_since(1, 11, Instant::now());
        assert_eq!(c.get(&1), Some(11), "a read after the change is cached");
    }
}
