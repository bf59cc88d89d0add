//! Revocations of access tokens, which are not stored: the token itself (`jti:`), its
//! grant (`grant:`) or its session (`sid:`), each kept until every access token it
//! could match has expired.

use crate::exec::{col, Arg, Columns, FromRow};
use crate::{Store, StoreResult};

/// A row of `revocations`, found.
struct Revoked;

impl FromRow for Revoked {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        col::<String>(r, "what").map(|_| Self)
    }
}

/// Records a revocation (`what`, `env_id`, `expires_at`); recording one twice keeps the first.
pub(crate) const INSERT_REVOCATION: &str =
    "INSERT INTO revocations (what, env_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (what) DO NOTHING";

impl Store {
    /// Revokes one access token (by `jti`) until it expires.
    pub async fn revoke_access_token(&self, env_id: &str, jti: &str, expires_at: i64) -> StoreResult<()> {
        let _t = self.timer("revoke_access_token");
        let what = format!("jti:{jti}");
        self.execute(
            INSERT_REVOCATION,
            &[Arg::Text(&what), Arg::Text(env_id), Arg::Int(expires_at)],
        )
        .await?;
        Ok(())
    }

    /// Whether an access token is revoked: itself, its grant, or its session.
    pub async fn access_token_revoked(
        &self,
        env_id: &str,
        jti: &str,
        grant_id: Option<&str>,
        sid: Option<&str>,
    ) -> StoreResult<bool> {
        let _t = self.timer("access_token_revoked");
        // Every key has a prefix, so "" matches nothing.
        let grant = grant_id.map(|g| format!("grant:{g}")).unwrap_or_default();
        let sid = sid.map(|s| format!("sid:{s}")).unwrap_or_default();
        let found: Option<Revoked> = self
            .fetch_optional(
                "SELECT what FROM revocations WHERE env_id = $1 AND what IN ($2, $3, $4)",
                &[
                    Arg::Text(env_id),
                    Arg::Text(&format!("jti:{jti}")),
                    Arg::Text(&grant),
                    Arg::Text(&sid),
                ],
            )
            .await?;
        Ok(found.is_some())
    }
}
