//! Pushed authorization requests (RFC 9126): stored under the hash of their
//! `request_uri`, taken once.

use crate::exec::{col, Arg, Columns, FromRow};
use crate::{Store, StoreResult};

/// A pushed request, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRow {
    /// SHA-256 of the `request_uri`.
    pub uri_hash: Vec<u8>,
    /// Its environment.
    pub env_id: String,
    /// The client that pushed it (and the only one that may use it).
    pub client_id: String,
    /// The authorization parameters, form-encoded (client credentials left out).
    pub params: String,
    /// When it was pushed.
    pub created_at: i64,
    /// When it expires.
    pub expires_at: i64,
}

/// The parameters of a pushed request, taken.
struct Taken(String);

impl FromRow for Taken {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        col(r, "params").map(Self)
    }
}

impl Store {
    /// Stores a pushed request.
    pub async fn insert_pushed_request(&self, p: &PushedRow) -> StoreResult<()> {
        let _t = self.timer("insert_pushed_request");
        self.execute(
            "INSERT INTO pushed_requests (uri_hash, env_id, client_id, params, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                Arg::Blob(&p.uri_hash),
                Arg::Text(&p.env_id),
                Arg::Text(&p.client_id),
                Arg::Text(&p.params),
                Arg::Int(p.created_at),
                Arg::Int(p.expires_at),
            ],
        )
        .await?;
        Ok(())
    }

    /// Takes a pushed request for `client_id`, once: its parameters, or `None` when it
    /// is unknown, used, expired or another client's (which leaves it untouched, so a
    /// client cannot spend another's request). One statement, so two instances racing
    /// for it cannot both win.
    pub async fn take_pushed_request(
        &self,
        env_id: &str,
        uri_hash: &[u8],
        client_id: &str,
        now: i64,
    ) -> StoreResult<Option<String>> {
        let _t = self.timer("take_pushed_request");
        if !crate::storable(&[env_id, client_id]) {
            return Ok(None);
        }
        let taken: Option<Taken> = self
            .fetch_optional(
                "UPDATE pushed_requests SET used_at = $4 WHERE uri_hash = $1 AND env_id = $2 AND client_id = $3 \
                 AND used_at IS NULL AND expires_at > $4 RETURNING params",
                &[
                    Arg::Blob(uri_hash),
                    Arg::Text(env_id),
                    Arg::Text(client_id),
                    Arg::Int(now),
                ],
            )
            .await?;
        Ok(taken.map(|t| t.0))
    }
}
