//! Sign-on throttling: failed attempts per user and per client address in a sliding
//! window; over the limit, 429 with `Retry-After`. In memory, per instance.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Failed sign-ons allowed per user in the window.
pub const PER_USER: usize = 10;
/// Failed sign-ons allowed per client address in the window.
pub const PER_ADDRESS: usize = 50;
/// The window, in seconds.
pub const WINDOW: i64 = 15 * 60;
/// Keys kept at most; past this, keys with no failure in the window are dropped.
const MAX_KEYS: usize = 100_000;

/// The failure log.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

fn user_key(env: &str, username: &str) -> String {
    format!("u\0{env}\0{}", username.to_lowercase())
}

fn addr_key(env: &str, addr: &str) -> String {
    format!("a\0{env}\0{addr}")
}

impl Throttle {
    /// `Some(seconds to wait)` when this user or address is over its limit.
    pub fn check(&self, now: i64, env: &str, username: &str, addr: &str) -> Option<i64> {
        let mut map = self.failures.lock().ok()?;
        let mut wait = None;
        for (key, limit) in [(user_key(env, username), PER_USER), (addr_key(env, addr), PER_ADDRESS)] {
            if let Some(q) = map.get_mut(&key) {
                while q.front().is_some_and(|t| *t <= now - WINDOW) {
                    q.pop_front();
                }
                if q.len() >= limit {
                    let until = q[q.len() - limit] + WINDOW;
                    wait = Some(wait.unwrap_or(0).max(until - now).max(1));
                }
            }
        }
        wait
    }

    /// Records a failed attempt.
    pub fn failed(&self, now: i64, env: &str, username: &str, addr: &str) {
        let Ok(mut map) = self.failures.lock() else { return };
        if map.len() >= MAX_KEYS {
            map.retain(|_, q| q.back().is_some_and(|t| *t > now - WINDOW));
        }
        for key in [user_key(env, username), addr_key(env, addr)] {
            let q = map.entry(key).or_default();
            q.push_back(now);
            if q.len() > PER_ADDRESS {
                q.pop_front();
            }
        }
    }

    /// Clears a user's failures after a successful sign-on.
    pub fn succeeded(&self, env: &str, username: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&user_key(env, username));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_windows() {
        let t = Throttle::default();
        for i in 0..PER_USER as i64 {
            assert_eq!(t.check(i, "e", "Tom", "1.2.3.4"), None);
            t.failed(i, "e", "Tom", "1.2.3.4");
        }
        assert_eq!(
            t.check(20, "e", "tom", "5.6.7.8"),
            Some(WINDOW - 20),
            "per user, whatever the case"
        );
        assert_eq!(t.check(20, "e", "ann", "5.6.7.8"), None);
        assert_eq!(t.check(20, "other-env", "tom", "5.6.7.8"), None);
        assert_eq!(t.check(WINDOW + 1, "e", "tom", "5.6.7.8"), None, "the window slides");
        t.succeeded("e", "tom");
        for i in 0..PER_ADDRESS as i64 {
            t.failed(100, "e", &format!("user{i}"), "9.9.9.9");
        }
        assert!(t.check(101, "e", "fresh", "9.9.9.9").is_some(), "per address");
    }
}
