//! Sign-on throttling and the bound on sign-on flows: counted in the store, so every
//! instance on a shared store spends one budget, and an attempt is *reserved* before
//! the password is checked, so concurrent guesses cannot all slip past the count.
//! Keys are digests: what a client types never grows a row or the memory.

use std::net::IpAddr;

use crate::crypto;
use crate::error::ApiResult;
use crate::service::Service;

/// Failed sign-ons allowed per user from one client address in the window.
pub const PER_USER_ADDRESS: i64 = 10;
/// Failed sign-ons allowed per user from all addresses together in the window: higher,
/// so that someone guessing from one address cannot lock the user out everywhere.
pub const PER_USER: i64 = 100;
/// Failed sign-ons allowed per client address in the window.
pub const PER_ADDRESS: i64 = 50;
/// The sign-on window, in seconds.
pub const WINDOW: i64 = 15 * 60;
/// Failed sign-ons allowed on one flow; then the flow is spent and the user starts again.
pub const PER_FLOW: i64 = 5;
/// Sign-on flows one client address may start in [`FLOW_WINDOW`].
pub const FLOWS_PER_ADDRESS: i64 = 200;
/// The flow-start window, in seconds.
pub const FLOW_WINDOW: i64 = 10 * 60;

/// Failed admin-token presentations allowed per client address in [`WINDOW`].
pub const ADMIN_PER_ADDRESS: i64 = 20;
/// Successful dynamic registrations per address and environment in [`REGISTRATION_WINDOW`].
pub const REGISTRATIONS_PER_ADDRESS: i64 = 20;
/// The registration window: an hour.
pub const REGISTRATION_WINDOW: i64 = 3600;

/// Metadata documents one client address may make pixie fetch in [`DOCUMENT_WINDOW`]
/// (documents already kept are not fetched, so this bounds only what an address can
/// make pixie fetch from the internet).
pub const DOCUMENT_FETCHES_PER_ADDRESS: i64 = 30;
/// The document-fetch window, in seconds.
pub const DOCUMENT_WINDOW: i64 = 10 * 60;

/// The counter key of one thing in one environment.
fn key(kind: &str, env: &str, value: &str) -> [u8; 32] {
    crypto::sha256(format!("pixie throttle\0{kind}\0{env}\0{value}").as_bytes())
}

/// A username as the store knows it (canonical: every width-mapped or decomposed
/// spelling of one name is one name, so it has one budget), or as typed when it could
/// not be a username at all. Case is kept: `Tom` and `tom` are two users.
fn counted_name(username: &str) -> std::borrow::Cow<'_, str> {
    match pixie_core::names::canonical_username(username) {
        Ok(name) => name.into(),
        Err(_) => username.into(),
    }
}

/// The counter key of a username.
fn user_key(env: &str, username: &str) -> [u8; 32] {
    key("user", env, &counted_name(username))
}

/// What a client address counts as. IPv6 addresses count by their /64: one host
/// commonly holds a whole /64, and counting single addresses would give it 2^64 budgets.
fn addr_bucket(addr: &str) -> String {
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => addr.to_owned(),
    }
}

/// The counter key of a client address.
fn addr_key(kind: &str, env: &str, addr: &str) -> [u8; 32] {
    key(kind, env, &addr_bucket(addr))
}

/// The counter key of a username guessed from one address.
fn user_addr_key(env: &str, username: &str, addr: &str) -> [u8; 32] {
    key(
        "user-addr",
        env,
        &format!("{}\0{}", addr_bucket(addr), counted_name(username)),
    )
}

/// A short digest of a typed username, for the audit log: operators can match a name
/// they suspect (`printf '%s' NAME | sha256sum | cut -c1-16`); nothing typed is written.
pub fn username_digest(username: &str) -> String {
    crypto::sha256(username.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Seconds until a window that began at `start` has passed (at least 1).
fn wait(start: i64, window: i64, now: i64) -> i64 {
    (start + window - now).max(1)
}

/// A sign-on attempt counted against its address, its user from that address, and its
/// user, before the check.
#[derive(Debug)]
pub struct Reserved {
    addr: [u8; 32],
    user_addr: [u8; 32],
    user: [u8; 32],
}

impl Service {
    /// Reserves a sign-on attempt for `username` from `addr`: `Err(seconds to wait)`
    /// when the address or the user has used its budget. A reserved attempt counts as a
    /// failure unless [`Service::signon_succeeded`] takes it back.
    pub async fn reserve_signon(
        &self,
        now: i64,
        env: &str,
        username: &str,
        addr: &str,
    ) -> ApiResult<Result<Reserved, i64>> {
        let r = Reserved {
            addr: addr_key("signon-addr", env, addr),
            user_addr: user_addr_key(env, username, addr),
            user: user_key(env, username),
        };
        // Counted in this order; an attempt over one limit is taken back from the
        // counters before it (it was never checked, so it is nobody's failure).
        let counters = [
            (&r.addr, PER_ADDRESS),
            (&r.user_addr, PER_USER_ADDRESS),
            (&r.user, PER_USER),
        ];
        for (i, (key, limit)) in counters.iter().enumerate() {
            let c = self.store.count_event(key.as_slice(), now, WINDOW).await?;
            if c.count > *limit {
                for (earlier, _) in &counters[..i] {
                    self.store.uncount_event(earlier.as_slice()).await?;
                }
                return Ok(Err(wait(c.window_start, WINDOW, now)));
            }
        }
        Ok(Ok(r))
    }

    /// A reserved attempt that did not fail the password check: it counts against
    /// nobody (a flow spent meanwhile, say), or it signed on (then the user's earlier
    /// failures are forgotten too).
    pub async fn signon_not_failed(&self, r: &Reserved, signed_on: bool) -> ApiResult<()> {
        self.store.uncount_event(&r.addr).await?;
        for key in [&r.user_addr, &r.user] {
            if signed_on {
                self.store.clear_events(key).await?;
            } else {
                self.store.uncount_event(key).await?;
            }
        }
        Ok(())
    }

    /// Reserves an admin-token check from `addr`, before the token is compared:
    /// `Err(seconds to wait)` past [`ADMIN_PER_ADDRESS`] failures in the window. A
    /// right token takes its reservation back ([`Service::admin_token_ok`]).
    pub async fn reserve_admin_check(&self, now: i64, addr: &str) -> ApiResult<Result<[u8; 32], i64>> {
        let key = addr_key("admin-addr", "", addr);
        let c = self.store.count_event(&key, now, WINDOW).await?;
        if c.count > ADMIN_PER_ADDRESS {
            return Ok(Err(wait(c.window_start, WINDOW, now)));
        }
        Ok(Ok(key))
    }

    /// The admin token was right: its check counts as no failure.
    pub async fn admin_token_ok(&self, key: &[u8; 32]) -> ApiResult<()> {
        Ok(self.store.uncount_event(key).await?)
    }

    /// Counts a dynamic registration from `addr` in `env`; `Err(wait)` past the limit
    /// (that one not counted: only registrations that happen count).
    pub async fn count_registration(&self, now: i64, env: &str, addr: &str) -> ApiResult<Result<(), i64>> {
        let key = addr_key("register-addr", env, addr);
        let c = self.store.count_event(&key, now, REGISTRATION_WINDOW).await?;
        if c.count > REGISTRATIONS_PER_ADDRESS {
            self.store.uncount_event(&key).await?;
            return Ok(Err(wait(c.window_start, REGISTRATION_WINDOW, now)));
        }
        Ok(Ok(()))
    }

    /// Counts a metadata document fetch asked for from `addr`: `Err(seconds to wait)`
    /// past [`DOCUMENT_FETCHES_PER_ADDRESS`] in the window.
    pub async fn count_document_fetch(&self, now: i64, env: &str, addr: &str) -> ApiResult<Result<(), i64>> {
        let c = self
            .store
            .count_event(&addr_key("document-addr", env, addr), now, DOCUMENT_WINDOW)
            .await?;
        if c.count > DOCUMENT_FETCHES_PER_ADDRESS {
            return Ok(Err(wait(c.window_start, DOCUMENT_WINDOW, now)));
        }
        Ok(Ok(()))
    }

    /// Counts a sign-on flow started from `addr`: `Err(seconds to wait)` past
    /// [`FLOWS_PER_ADDRESS`] in the window. Each flow is a stored row: this bounds
    /// what one address can make the store hold.
    pub async fn count_flow_start(&self, now: i64, env: &str, addr: &str) -> ApiResult<Result<(), i64>> {
        let c = self
            .store
            .count_event(&addr_key("flow-addr", env, addr), now, FLOW_WINDOW)
            .await?;
        if c.count > FLOWS_PER_ADDRESS {
            return Ok(Err(wait(c.window_start, FLOW_WINDOW, now)));
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_size_and_bucket_ipv6_by_64() {
        assert_eq!(
            addr_key("a", "e", "2001:db8:1:2:aaaa::1"),
            addr_key("a", "e", "2001:db8:1:2:ffff::9")
        );
        assert_ne!(
            addr_key("a", "e", "2001:db8:1:3::1"),
            addr_key("a", "e", "2001:db8:1:2::1")
        );
        assert_ne!(addr_key("a", "e", "10.0.0.1"), addr_key("a", "e", "10.0.0.2"));
        assert_ne!(user_key("e", "tom"), user_key("f", "tom"));
        assert_eq!(
            user_key("e", "\u{ff56}ictim"),
            user_key("e", "victim"),
            "one name, one budget"
        );
        assert_eq!(user_key("e", "to\u{301}m"), user_key("e", "t\u{f3}m"));
        assert_ne!(user_key("e", "Tom"), user_key("e", "tom"));
        assert_eq!(
            user_addr_key("e", "tom", "2001:db8:1:2::1"),
            user_addr_key("e", "tom", "2001:db8:1:2::2")
        );
        assert_ne!(
            user_addr_key("e", "tom", "10.0.0.1"),
            user_addr_key("e", "tom", "10.0.0.2")
        );
        assert_eq!(wait(100, 60, 130), 30);
        assert_eq!(wait(100, 60, 500), 1);
    }
}
