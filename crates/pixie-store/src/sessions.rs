//! Sessions: a signed-on browser; ending one revokes what it granted.

use pixie_core::lifetimes::MAX_ACCESS_TOKEN;

use crate::exec::{col, Arg, Columns, FromRow};
use crate::revocations::INSERT_REVOCATION;
use crate::{Store, StoreResult};

/// A signed-on user agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 of the session cookie.
    pub id_hash: Vec<u8>,
    /// Its environment.
    pub env_id: String,
    /// The user.
    pub user_id: String,
    /// When the user signed on.
    pub auth_time: i64,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// The user's generation when they signed on (see [`crate::UserRow::generation`]).
    pub user_generation: i64,
}

impl FromRow for SessionRow {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self {
            id_hash: col(r, "id_hash")?,
            env_id: col(r, "env_id")?,
            user_id: col(r, "user_id")?,
            auth_time: col(r, "auth_time")?,
            created_at: col(r, "created_at")?,
            expires_at: col(r, "expires_at")?,
            user_generation: col(r, "user_generation")?,
        })
    }
}

impl Store {
    /// Stores a session, if its user still exists, is not disabled and has not changed
    /// credentials since signing on (their generation is still `s.user_generation`).
    /// Returns whether it was stored.
    pub async fn insert_session(&self, s: &SessionRow) -> StoreResult<bool> {
        let _t = self.timer("insert_session");
        let insert = (
            "INSERT INTO sessions (id_hash, env_id, user_id, auth_time, created_at, expires_at, user_generation) \
             SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM users u WHERE u.env_id = $2 \
             AND u.id = $3 AND u.disabled_at IS NULL AND u.generation = $7)",
            vec![
                Arg::Blob(&s.id_hash),
                Arg::Text(&s.env_id),
                Arg::Text(&s.user_id),
                Arg::Int(s.auth_time),
                Arg::Int(s.created_at),
                Arg::Int(s.expires_at),
                Arg::Int(s.user_generation),
            ],
        );
        let statements: Vec<_> = self
            .lock_user(&s.env_id, &s.user_id)
            .into_iter()
            .chain([insert])
            .collect();
        let changed = self.execute_all(&statements).await?;
        Ok(changed.last() == Some(&1))
    }

    /// A live session of this environment.
    pub async fn get_session(&self, env_id: &str, id_hash: &[u8], now: i64) -> StoreResult<Option<SessionRow>> {
        let _t = self.timer("get_session");
        self.fetch_optional(
            "SELECT id_hash, env_id, user_id, auth_time, created_at, expires_at, user_generation FROM sessions \
             WHERE id_hash = $1 AND env_id = $2 AND expires_at > $3",
            &[Arg::Blob(id_hash), Arg::Text(env_id), Arg::Int(now)],
        )
        .await
    }

    /// Ends a session: deletes it and revokes every grant that came from it, with
    /// their codes, refresh tokens and access tokens (these through a revocation).
    /// Returns how many refresh tokens were live.
    ///
    /// The session's row goes first: on PostgreSQL a code being stored for the session
    /// share-locks that row (see [`Store::insert_code`]), so either the code's statement
    /// waits for this deletion and then finds no session, or this waits for the code's
    /// commit and the revocations that follow (each statement sees what committed
    /// before it) include its grant.
    pub async fn end_session(&self, env_id: &str, id_hash: &[u8], sid: &str, now: i64) -> StoreResult<u64> {
        let _t = self.timer("end_session");
        let what = format!("sid:{sid}");
        let changed = self
            .execute_all(&[
                (
                    "DELETE FROM sessions WHERE id_hash = $1 AND env_id = $2",
                    vec![Arg::Blob(id_hash), Arg::Text(env_id)],
                ),
                (
                    "UPDATE grants SET revoked_at = $1 WHERE env_id = $2 AND sid = $3 AND revoked_at IS NULL",
                    vec![Arg::Int(now), Arg::Text(env_id), Arg::Text(sid)],
                ),
                (
                    "UPDATE tokens SET revoked_at = $1 WHERE env_id = $2 AND sid = $3 AND revoked_at IS NULL",
                    vec![Arg::Int(now), Arg::Text(env_id), Arg::Text(sid)],
                ),
                (
                    INSERT_REVOCATION,
                    vec![Arg::Text(&what), Arg::Text(env_id), Arg::Int(now + MAX_ACCESS_TOKEN)],
                ),
            ])
            .await?;
        Ok(changed[2])
    }
}
