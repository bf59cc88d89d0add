//! Authorization codes, and the grant (token family) each one starts.

use crate::exec::{col, Arg, Columns, FromRow};
use crate::{Store, StoreResult};

/// An authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// Its environment.
    pub env_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// The grant (token family) it starts.
    pub grant_id: String,
    /// The server's JSON: redirect URI, scopes, nonce, challenge, …
    pub data: String,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// When it was exchanged.
    pub used_at: Option<i64>,
}

const CODE_COLUMNS: &str = "code_hash, env_id, client_id, user_id, grant_id, data, created_at, expires_at, used_at";

impl FromRow for CodeRow {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self {
            code_hash: col(r, "code_hash")?,
            env_id: col(r, "env_id")?,
            client_id: col(r, "client_id")?,
            user_id: col(r, "user_id")?,
            grant_id: col(r, "grant_id")?,
            data: col(r, "data")?,
            created_at: col(r, "created_at")?,
            expires_at: col(r, "expires_at")?,
            used_at: col(r, "used_at")?,
        })
    }
}

/// A grant: the family of everything issued from one authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    /// Its environment.
    pub env_id: String,
    /// The grant id (`gid` in access tokens).
    pub id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user, if any.
    pub user_id: Option<String>,
    /// The session it came from, if any.
    pub sid: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Until when any of its tokens can live (extended as refresh tokens are issued).
    pub expires_at: i64,
}

/// How long a used code is kept after it expires, so that a late replay is still
/// recognised (and revokes its tokens) rather than looking like a bad code.
pub const USED_CODE_GRACE: i64 = 3600;

impl Store {
    /// Stores a new code and the grant it starts, in one transaction, if the session it
    /// comes from (`session_hash`) is still live and its user still exists and is not
    /// disabled: a session ended by a change to its user (which waits for this
    /// transaction, or is seen by it) never yields a code. Returns whether it was stored.
    pub async fn insert_code(&self, c: &CodeRow, g: &GrantRow, session_hash: &[u8]) -> StoreResult<bool> {
        let _t = self.timer("insert_code");
        let code_sql = format!(
            "INSERT INTO codes ({CODE_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
             WHERE EXISTS (SELECT 1 FROM grants g WHERE g.env_id = $2 AND g.id = $5)"
        );
        let code_args = vec![
            Arg::Blob(&c.code_hash),
            Arg::Text(&c.env_id),
            Arg::Text(&c.client_id),
            Arg::Text(&c.user_id),
            Arg::Text(&c.grant_id),
            Arg::Text(&c.data),
            Arg::Int(c.created_at),
            Arg::Int(c.expires_at),
            Arg::OptInt(c.used_at),
        ];
        let grant_args = vec![
            Arg::Text(&g.env_id),
            Arg::Text(&g.id),
            Arg::Text(&g.client_id),
            Arg::Text(&c.user_id),
            Arg::OptText(g.sid.as_deref()),
            Arg::Int(g.created_at),
            Arg::Int(g.expires_at),
            Arg::Blob(session_hash),
        ];
        let statements: Vec<_> = self
            .lock_user(&c.env_id, &c.user_id)
            .into_iter()
            .chain([
                (
                    "INSERT INTO grants (env_id, id, client_id, user_id, sid, created_at, expires_at) \
                     SELECT $1, $2, $3, $4, $5, $6, $7 \
                     WHERE EXISTS (SELECT 1 FROM users u WHERE u.env_id = $1 AND u.id = $4 AND u.disabled_at IS NULL) \
                     AND EXISTS (SELECT 1 FROM sessions s WHERE s.id_hash = $8 AND s.env_id = $1 AND s.user_id = $4)",
                    grant_args,
                ),
                (code_sql.as_str(), code_args),
            ])
            .collect();
        let changed = self.execute_all(&statements).await?;
        Ok(changed.last() == Some(&1))
    }

    /// Consumes a live code presented by its own client: one statement, so of any
    /// number of concurrent exchanges exactly one gets the row. The code of a revoked
    /// grant (its session ended, say) is not consumed.
    pub async fn consume_code(
        &self,
        env_id: &str,
        code_hash: &[u8],
        client_id: &str,
        now: i64,
    ) -> StoreResult<Option<CodeRow>> {
        let _t = self.timer("consume_code");
        let sql = format!(
            "UPDATE codes SET used_at = $1 WHERE code_hash = $2 AND env_id = $3 AND client_id = $4 \
             AND used_at IS NULL AND expires_at > $1 AND NOT EXISTS (SELECT 1 FROM grants g \
             WHERE g.env_id = codes.env_id AND g.id = codes.grant_id AND g.revoked_at IS NOT NULL) \
             RETURNING {CODE_COLUMNS}"
        );
        let args = [
            Arg::Int(now),
            Arg::Blob(code_hash),
            Arg::Text(env_id),
            Arg::Text(client_id),
        ];
        self.fetch_optional(&sql, &args).await
    }

    /// A code by hash, used or not (to tell a replay from a bad code).
    pub async fn get_code(&self, env_id: &str, code_hash: &[u8]) -> StoreResult<Option<CodeRow>> {
        let _t = self.timer("get_code");
        let sql = format!("SELECT {CODE_COLUMNS} FROM codes WHERE code_hash = $1 AND env_id = $2");
        self.fetch_optional(&sql, &[Arg::Blob(code_hash), Arg::Text(env_id)])
            .await
    }
}
