//! Deleting what has expired, a short statement at a time.

use crate::codes::USED_CODE_GRACE;
use crate::exec::Arg;
use crate::{Store, StoreResult};

/// The tables whose rows expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepTable {
    /// Sign-on flows.
    Flows,
    /// Sessions.
    Sessions,
    /// Codes (kept an hour past expiry, see [`USED_CODE_GRACE`]).
    Codes,
    /// Refresh tokens (and access tokens stored before migration 7).
    Tokens,
    /// Revocations of access tokens that have all expired.
    Revocations,
    /// Grants none of whose tokens can live any more.
    Grants,
    /// Shared counters whose window has passed.
    Counters,
    /// Pushed authorization requests.
    PushedRequests,
    /// Single-use JWT ids past their time.
    SeenJtis,
}

impl SweepTable {
    /// Every table, in sweep order.
    pub const ALL: [SweepTable; 9] = [
        SweepTable::Flows,
        SweepTable::Sessions,
        SweepTable::Codes,
        SweepTable::Tokens,
        SweepTable::Revocations,
        SweepTable::Grants,
        SweepTable::Counters,
        SweepTable::PushedRequests,
        SweepTable::SeenJtis,
    ];
}

impl Store {
    /// Deletes up to `batch` expired rows of one table; returns how many went.
    /// Each call is one short statement, so a sweep never holds the store for long.
    pub async fn sweep_batch(&self, table: SweepTable, now: i64, batch: i64) -> StoreResult<u64> {
        let _t = self.timer("sweep_batch");
        let (table, key, cutoff) = match table {
            SweepTable::Flows => ("flows", "id", now),
            SweepTable::Sessions => ("sessions", "id_hash", now),
            SweepTable::Codes => ("codes", "code_hash", now - USED_CODE_GRACE),
            SweepTable::Tokens => ("tokens", "id", now),
            SweepTable::Revocations => ("revocations", "what", now),
            SweepTable::Grants => ("grants", "id", now),
            SweepTable::Counters => ("counters", "key", now),
            SweepTable::PushedRequests => ("pushed_requests", "uri_hash", now),
            SweepTable::SeenJtis => ("seen_jtis", "key", now),
        };
        let sql =
            format!("DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE expires_at < $1 LIMIT $2)");
        self.execute(&sql, &[Arg::Int(cutoff), Arg::Int(batch)]).await
    }
}
