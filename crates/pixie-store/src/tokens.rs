//! Refresh tokens (rotation, reuse) and the revocation of a whole grant.

use pixie_core::lifetimes::MAX_ACCESS_TOKEN;

use crate::exec::{col, Arg, Columns, FromRow};
use crate::revocations::INSERT_REVOCATION;
use crate::{Store, StoreResult};

/// An issued token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// The id: an access token's `jti`, or a random id for a refresh token.
    pub id: String,
    /// Its environment.
    pub env_id: String,
    /// `access` or `refresh`.
    pub kind: String,
    /// SHA-256 of an opaque token (refresh tokens).
    pub token_hash: Option<Vec<u8>>,
    /// The family it belongs to.
    pub grant_id: String,
    /// The client.
    pub client_id: String,
    /// The user, if any (none for client credentials).
    pub user_id: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The server's JSON (auth_time, nonce, …).
    pub data: String,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// When a refresh token was rotated.
    pub used_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// The session it came from, if any.
    pub sid: Option<String>,
}

const TOKEN_COLUMNS: &str =
    "id, env_id, kind, token_hash, grant_id, client_id, user_id, scope, data, created_at, expires_at, used_at, revoked_at, sid";

impl FromRow for TokenRow {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self {
            id: col(r, "id")?,
            env_id: col(r, "env_id")?,
            kind: col(r, "kind")?,
            token_hash: col(r, "token_hash")?,
            grant_id: col(r, "grant_id")?,
            client_id: col(r, "client_id")?,
            user_id: col(r, "user_id")?,
            scope: col(r, "scope")?,
            data: col(r, "data")?,
            created_at: col(r, "created_at")?,
            expires_at: col(r, "expires_at")?,
            used_at: col(r, "used_at")?,
            revoked_at: col(r, "revoked_at")?,
            sid: col(r, "sid")?,
        })
    }
}

/// Revokes token `$1` (environment `$2`, at `$3`) if its grant is revoked. The grant is
/// looked up by its key in a scalar subquery, which PostgreSQL's generic plan cannot
/// turn into a scan of the environment's grants (see `codes.rs`).
pub(crate) const REVOKE_IF_GRANT_REVOKED: &str =
    "UPDATE tokens SET revoked_at = $3 WHERE id = $1 AND revoked_at IS NULL \
     AND (SELECT g.revoked_at FROM grants g WHERE g.env_id = $2 AND g.id = tokens.grant_id) IS NOT NULL";

impl Store {
    /// Stores a refresh token and keeps its grant until at least `grant_until`. A token
    /// of a revoked grant is stored revoked. Returns whether it was stored live.
    ///
    /// The first statement locks the grant's row (PostgreSQL) or the database (SQLite),
    /// so a concurrent revocation either commits first, and the last statement finds
    /// the grant revoked, or waits for this commit, and then revokes the new token with
    /// the rest of its grant. Either way no token of a revoked grant stays live.
    pub async fn insert_refresh_token(&self, t: &TokenRow, grant_until: i64) -> StoreResult<bool> {
        let _t = self.timer("insert_refresh_token");
        let insert = format!(
            "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        let args = vec![
            Arg::Text(&t.id),
            Arg::Text(&t.env_id),
            Arg::Text(&t.kind),
            Arg::OptBlob(t.token_hash.as_deref()),
            Arg::Text(&t.grant_id),
            Arg::Text(&t.client_id),
            Arg::OptText(t.user_id.as_deref()),
            Arg::Text(&t.scope),
            Arg::Text(&t.data),
            Arg::Int(t.created_at),
            Arg::Int(t.expires_at),
            Arg::OptInt(t.used_at),
            Arg::OptInt(t.revoked_at),
            Arg::OptText(t.sid.as_deref()),
        ];
        let changed = self
            .execute_all(&[
                (
                    "UPDATE grants SET expires_at = CASE WHEN expires_at < $3 THEN $3 ELSE expires_at END \
                     WHERE env_id = $1 AND id = $2 AND revoked_at IS NULL",
                    vec![Arg::Text(&t.env_id), Arg::Text(&t.grant_id), Arg::Int(grant_until)],
                ),
                (&insert, args),
                (
                    REVOKE_IF_GRANT_REVOKED,
                    vec![Arg::Text(&t.id), Arg::Text(&t.env_id), Arg::Int(t.created_at)],
                ),
            ])
            .await?;
        Ok(changed.get(2) == Some(&0))
    }

    /// A token by id.
    pub async fn get_token(&self, env_id: &str, id: &str) -> StoreResult<Option<TokenRow>> {
        let _t = self.timer("get_token");
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1 AND env_id = $2");
        self.fetch_optional(&sql, &[Arg::Text(id), Arg::Text(env_id)]).await
    }

    /// Revokes every token of a grant (a token family): the grant itself (so no code
    /// of it is exchanged and no refresh token of it is stored from now on), its stored
    /// refresh tokens, and its access tokens through a revocation. Returns how many
    /// refresh tokens were live.
    pub async fn revoke_grant(&self, env_id: &str, grant_id: &str, now: i64) -> StoreResult<u64> {
        let _t = self.timer("revoke_grant");
        let what = format!("grant:{grant_id}");
        let changed = self
            .execute_all(&[
                (
                    "UPDATE grants SET revoked_at = $1 WHERE env_id = $2 AND id = $3 AND revoked_at IS NULL",
                    vec![Arg::Int(now), Arg::Text(env_id), Arg::Text(grant_id)],
                ),
                (
                    "UPDATE tokens SET revoked_at = $1 WHERE env_id = $2 AND grant_id = $3 AND revoked_at IS NULL",
                    vec![Arg::Int(now), Arg::Text(env_id), Arg::Text(grant_id)],
                ),
                (
                    INSERT_REVOCATION,
                    vec![Arg::Text(&what), Arg::Text(env_id), Arg::Int(now + MAX_ACCESS_TOKEN)],
                ),
            ])
            .await?;
        Ok(changed[1])
    }

    /// Rotates a live refresh token of `client_id`: marks it used and returns it, once.
    pub async fn consume_refresh_token(
        &self,
        env_id: &str,
        token_hash: &[u8],
        client_id: &str,
        now: i64,
    ) -> StoreResult<Option<TokenRow>> {
        let _t = self.timer("consume_refresh_token");
        let sql = format!(
            "UPDATE tokens SET used_at = $1 WHERE token_hash = $2 AND env_id = $3 AND client_id = $4 \
             AND kind = 'refresh' AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 \
             RETURNING {TOKEN_COLUMNS}"
        );
        let args = [
            Arg::Int(now),
            Arg::Blob(token_hash),
            Arg::Text(env_id),
            Arg::Text(client_id),
        ];
        self.fetch_optional(&sql, &args).await
    }

    /// A token by the hash of its opaque value.
    pub async fn get_token_by_hash(&self, env_id: &str, token_hash: &[u8]) -> StoreResult<Option<TokenRow>> {
        let _t = self.timer("get_token_by_hash");
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1 AND env_id = $2");
        self.fetch_optional(&sql, &[Arg::Blob(token_hash), Arg::Text(env_id)])
            .await
    }
}
