//! Counters every instance shares: how often something happened to one key (a user's
//! failed sign-ons, an address's, the flows an address started) in a fixed window.
//! Each count is one atomic upsert, so concurrent requests and instances never see
//! the same count twice.

use crate::exec::{col, Arg, Columns, FromRow};
use crate::{Store, StoreResult};

/// A counter after counting: the count in the current window and when it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Events in the window, the one just counted included.
    pub count: i64,
    /// When the window began.
    pub window_start: i64,
}

impl FromRow for Count {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self {
            count: col(r, "count")?,
            window_start: col(r, "window_start")?,
        })
    }
}

impl Store {
    /// Counts one event for `key` in a window of `window` seconds that begins at the
    /// key's first event (a window that has passed starts over). `key` is a digest.
    pub async fn count_event(&self, key: &[u8], now: i64, window: i64) -> StoreResult<Count> {
        let _t = self.timer("count_event");
        let found = self
            .fetch_optional(
                "INSERT INTO counters (key, count, window_start, expires_at) VALUES ($1, 1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET \
                 count = CASE WHEN counters.window_start <= $4 THEN 1 ELSE counters.count + 1 END, \
                 window_start = CASE WHEN counters.window_start <= $4 THEN $2 ELSE counters.window_start END, \
                 expires_at = CASE WHEN counters.window_start <= $4 THEN $3 ELSE counters.expires_at END \
                 RETURNING count, window_start",
                &[
                    Arg::Blob(key),
                    Arg::Int(now),
                    Arg::Int(now + window),
                    Arg::Int(now - window),
                ],
            )
            .await?;
        Ok(found.unwrap_or(Count {
            count: 1,
            window_start: now,
        }))
    }

    /// Takes back one counted event (a reserved attempt that turned out not to count).
    pub async fn uncount_event(&self, key: &[u8]) -> StoreResult<()> {
        let _t = self.timer("uncount_event");
        self.execute(
            "UPDATE counters SET count = count - 1 WHERE key = $1 AND count > 0",
            &[Arg::Blob(key)],
        )
        .await?;
        Ok(())
    }

    /// Forgets a key's events.
    pub async fn clear_events(&self, key: &[u8]) -> StoreResult<()> {
        let _t = self.timer("clear_events");
        self.execute("DELETE FROM counters WHERE key = $1", &[Arg::Blob(key)])
            .await?;
        Ok(())
    }
}
