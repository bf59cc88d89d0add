//! Single-use JWT ids (DPoP proofs, client assertions): the first use wins, on every
//! instance sharing the store.

use crate::exec::Arg;
use crate::{Store, StoreResult};

/// Records a jti's first use: `$1` its key, `$2` until when it is kept.
pub(crate) const INSERT_JTI: &str =
    "INSERT INTO seen_jtis (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";

impl Store {
    /// Records the first use of `key` (a digest naming the jti and whose it is), kept
    /// until `expires_at`; false when it was used before. One statement: two
    /// instances racing with one jti cannot both see a first use.
    pub async fn first_use_of_jti(&self, key: &[u8], expires_at: i64) -> StoreResult<bool> {
        let _t = self.timer("first_use_of_jti");
        let inserted = self
            .execute(INSERT_JTI, &[Arg::Blob(key), Arg::Int(expires_at)])
            .await?;
        Ok(inserted == 1)
    }
}
