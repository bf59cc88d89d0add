//! Authorization state: sign-on flows, sessions, codes and issued tokens.
//!
//! Every "use once" step is one conditional UPDATE … RETURNING, so two concurrent
//! requests (or two instances on one PostgreSQL) can never both win.

use pixie_core::lifetimes::MAX_ACCESS_TOKEN;

use crate::exec::{col, Arg, Columns, FromRow};
use crate::{Store, StoreResult};

/// Where a sign-on flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStatus {
    /// Waiting for a username and password.
    UsernamePasswordRequired,
    /// Signed on; waiting for `/as/resume`.
    Completed,
    /// Resumed: a code was issued. A flow resumes once.
    Consumed,
}

impl FlowStatus {
    /// The wire (and stored) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsernamePasswordRequired => "USERNAME_PASSWORD_REQUIRED",
            Self::Completed => "COMPLETED",
            Self::Consumed => "CONSUMED",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "COMPLETED" => Self::Completed,
            "CONSUMED" => Self::Consumed,
            _ => Self::UsernamePasswordRequired,
        }
    }
}

/// A pending authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    /// Its environment.
    pub env_id: String,
    /// The flow id (`flowId`).
    pub id: String,
    /// SHA-256 of the flow cookie that binds it to one user agent.
    pub cookie_hash: Vec<u8>,
    /// The client that asked.
    pub client_id: String,
    /// The validated request, as the server's JSON.
    pub request: String,
    /// Where it stands.
    pub status: FlowStatus,
    /// The user who signed on.
    pub user_id: Option<String>,
    /// When they did.
    pub auth_time: Option<i64>,
    /// Failed sign-on attempts.
    pub failures: i64,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
}

const FLOW_COLUMNS: &str =
    "env_id, id, cookie_hash, client_id, request, status, user_id, auth_time, failures, created_at, expires_at";

impl FromRow for FlowRow {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self {
            env_id: col(r, "env_id")?,
            id: col(r, "id")?,
            cookie_hash: col(r, "cookie_hash")?,
            client_id: col(r, "client_id")?,
            request: col(r, "request")?,
            status: FlowStatus::parse(&col::<String>(r, "status")?),
            user_id: col(r, "user_id")?,
            auth_time: col(r, "auth_time")?,
            failures: col(r, "failures")?,
            created_at: col(r, "created_at")?,
            expires_at: col(r, "expires_at")?,
        })
    }
}

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
        })
    }
}

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

impl Store {
    /// Stores a new flow.
    pub async fn insert_flow(&self, f: &FlowRow) -> StoreResult<()> {
        let _t = self.timer("insert_flow");
        sqlx::query(&format!(
            "INSERT INTO flows ({FLOW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&f.env_id)
        .bind(&f.id)
        .bind(&f.cookie_hash)
        .bind(&f.client_id)
        .bind(&f.request)
        .bind(f.status.as_str())
        .bind(&f.user_id)
        .bind(f.auth_time)
        .bind(f.failures)
        .bind(f.created_at)
        .bind(f.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A flow that has not expired.
    pub async fn get_flow(&self, env_id: &str, id: &str, now: i64) -> StoreResult<Option<FlowRow>> {
        let _t = self.timer("get_flow");
        if !crate::storable(&[env_id, id]) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {FLOW_COLUMNS} FROM flows WHERE env_id = $1 AND id = $2 AND expires_at > $3"
        ))
        .bind(env_id)
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| FlowRow::from_row(&r)).transpose()
    }

    /// Marks a waiting flow signed on. False if it was not waiting (or expired).
    pub async fn complete_flow(&self, env_id: &str, id: &str, user_id: &str, now: i64) -> StoreResult<bool> {
        let _t = self.timer("complete_flow");
        let done = sqlx::query(
            "UPDATE flows SET status = 'COMPLETED', user_id = $1, auth_time = $2 \
             WHERE env_id = $3 AND id = $4 AND status = 'USERNAME_PASSWORD_REQUIRED' AND expires_at > $2",
        )
        .bind(user_id)
        .bind(now)
        .bind(env_id)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Counts a failed sign-on attempt on a flow; returns the new count.
    pub async fn record_flow_failure(&self, env_id: &str, id: &str) -> StoreResult<i64> {
        let _t = self.timer("record_flow_failure");
        let n: Option<i64> = sqlx::query_scalar(
            "UPDATE flows SET failures = failures + 1 WHERE env_id = $1 AND id = $2 RETURNING failures",
        )
        .bind(env_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(n.unwrap_or(0))
    }

    /// Resumes a completed flow, once, for the user agent holding its cookie.
    pub async fn consume_flow(
        &self,
        env_id: &str,
        id: &str,
        cookie_hash: &[u8],
        now: i64,
    ) -> StoreResult<Option<FlowRow>> {
        let _t = self.timer("consume_flow");
        if !crate::storable(&[env_id, id]) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "UPDATE flows SET status = 'CONSUMED' WHERE env_id = $1 AND id = $2 AND cookie_hash = $3 \
             AND status = 'COMPLETED' AND expires_at > $4 RETURNING {FLOW_COLUMNS}"
        ))
        .bind(env_id)
        .bind(id)
        .bind(cookie_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| FlowRow::from_row(&r)).transpose()
    }

    /// Stores a session.
    pub async fn insert_session(&self, s: &SessionRow) -> StoreResult<()> {
        let _t = self.timer("insert_session");
        sqlx::query(
            "INSERT INTO sessions (id_hash, env_id, user_id, auth_time, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id_hash)
        .bind(&s.env_id)
        .bind(&s.user_id)
        .bind(s.auth_time)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A live session of this environment.
    pub async fn get_session(&self, env_id: &str, id_hash: &[u8], now: i64) -> StoreResult<Option<SessionRow>> {
        let _t = self.timer("get_session");
        self.fetch_optional(
            "SELECT id_hash, env_id, user_id, auth_time, created_at, expires_at FROM sessions \
             WHERE id_hash = $1 AND env_id = $2 AND expires_at > $3",
            &[Arg::Blob(id_hash), Arg::Text(env_id), Arg::Int(now)],
        )
        .await
    }

    /// Stores a new code.
    pub async fn insert_code(&self, c: &CodeRow) -> StoreResult<()> {
        let _t = self.timer("insert_code");
        let sql = format!("INSERT INTO codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
        let args = [
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
        self.execute(&sql, &args).await?;
        Ok(())
    }

    /// Consumes a live code presented by its own client: one statement, so of any
    /// number of concurrent exchanges exactly one gets the row.
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
             AND used_at IS NULL AND expires_at > $1 RETURNING {CODE_COLUMNS}"
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

    /// Records issued tokens, all or none.
    pub async fn insert_tokens(&self, tokens: &[TokenRow]) -> StoreResult<()> {
        let _t = self.timer("insert_tokens");
        let sql = format!(
            "INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        let statements: Vec<_> = tokens
            .iter()
            .map(|t| {
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
                (sql.as_str(), args)
            })
            .collect();
        self.execute_all(&statements).await
    }

    /// A token by id.
    pub async fn get_token(&self, env_id: &str, id: &str) -> StoreResult<Option<TokenRow>> {
        let _t = self.timer("get_token");
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1 AND env_id = $2"
        ))
        .bind(id)
        .bind(env_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| TokenRow::from_row(&r)).transpose()
    }

    /// Revokes every token of a grant (a token family): its stored refresh tokens, and
    /// its access tokens through a revocation. Returns how many refresh tokens were live.
    pub async fn revoke_grant(&self, env_id: &str, grant_id: &str, now: i64) -> StoreResult<u64> {
        let _t = self.timer("revoke_grant");
        let mut tx = self.pool().begin().await?;
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE env_id = $2 AND grant_id = $3 AND revoked_at IS NULL")
                .bind(now)
                .bind(env_id)
                .bind(grant_id)
                .execute(&mut *tx)
                .await?;
        insert_revocation(&mut tx, env_id, &format!("grant:{grant_id}"), now + MAX_ACCESS_TOKEN).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

impl Store {
    /// Rotates a live refresh token of `client_id`: marks it used and returns it, once.
    pub async fn consume_refresh_token(
        &self,
        env_id: &str,
        token_hash: &[u8],
        client_id: &str,
        now: i64,
    ) -> StoreResult<Option<TokenRow>> {
        let _t = self.timer("consume_refresh_token");
        let row = sqlx::query(&format!(
            "UPDATE tokens SET used_at = $1 WHERE token_hash = $2 AND env_id = $3 AND client_id = $4 \
             AND kind = 'refresh' AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 \
             RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(now)
        .bind(token_hash)
        .bind(env_id)
        .bind(client_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| TokenRow::from_row(&r)).transpose()
    }

    /// A token by the hash of its opaque value.
    pub async fn get_token_by_hash(&self, env_id: &str, token_hash: &[u8]) -> StoreResult<Option<TokenRow>> {
        let _t = self.timer("get_token_by_hash");
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash = $1 AND env_id = $2"
        ))
        .bind(token_hash)
        .bind(env_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| TokenRow::from_row(&r)).transpose()
    }
}

impl Store {
    /// Marks a code as replayed: from now on its grant's tokens, including any still
    /// being issued, are revoked.
    pub async fn mark_code_replayed(&self, env_id: &str, code_hash: &[u8], now: i64) -> StoreResult<()> {
        let _t = self.timer("mark_code_replayed");
        sqlx::query("UPDATE codes SET replayed_at = $1 WHERE code_hash = $2 AND env_id = $3 AND replayed_at IS NULL")
            .bind(now)
            .bind(code_hash)
            .bind(env_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Whether a code was replayed.
    pub async fn code_replayed(&self, env_id: &str, code_hash: &[u8]) -> StoreResult<bool> {
        let _t = self.timer("code_replayed");
        let at: Option<ReplayedAt> = self
            .fetch_optional(
                "SELECT replayed_at FROM codes WHERE code_hash = $1 AND env_id = $2",
                &[Arg::Blob(code_hash), Arg::Text(env_id)],
            )
            .await?;
        Ok(at.is_some_and(|r| r.0.is_some()))
    }
}

impl Store {
    /// Ends a session: deletes it and revokes every token issued under it (access
    /// tokens through a revocation). Returns how many refresh tokens were live.
    pub async fn end_session(&self, env_id: &str, id_hash: &[u8], sid: &str, now: i64) -> StoreResult<u64> {
        let _t = self.timer("end_session");
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1 AND env_id = $2")
            .bind(id_hash)
            .bind(env_id)
            .execute(&mut *tx)
            .await?;
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE env_id = $2 AND sid = $3 AND revoked_at IS NULL")
                .bind(now)
                .bind(env_id)
                .bind(sid)
                .execute(&mut *tx)
                .await?;
        insert_revocation(&mut tx, env_id, &format!("sid:{sid}"), now + MAX_ACCESS_TOKEN).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// How long a used code is kept after it expires, so that a late replay is still
/// recognised (and revokes its tokens) rather than looking like a bad code.
pub const USED_CODE_GRACE: i64 = 3600;

impl Store {
    /// Revokes one access token (by `jti`) until it expires.
    pub async fn revoke_access_token(&self, env_id: &str, jti: &str, expires_at: i64) -> StoreResult<()> {
        let _t = self.timer("revoke_access_token");
        let mut tx = self.pool().begin().await?;
        insert_revocation(&mut tx, env_id, &format!("jti:{jti}"), expires_at).await?;
        tx.commit().await?;
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
        };
        let sql =
            format!("DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE expires_at < $1 LIMIT $2)");
        let done = sqlx::query(&sql).bind(cutoff).bind(batch).execute(self.pool()).await?;
        Ok(done.rows_affected())
    }
}

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
}

impl SweepTable {
    /// Every table, in sweep order.
    pub const ALL: [SweepTable; 5] = [
        SweepTable::Flows,
        SweepTable::Sessions,
        SweepTable::Codes,
        SweepTable::Tokens,
        SweepTable::Revocations,
    ];
}

/// `codes.replayed_at`.
struct ReplayedAt(Option<i64>);

impl FromRow for ReplayedAt {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        col(r, "replayed_at").map(Self)
    }
}

/// A row of `revocations`, found.
struct Revoked;

impl FromRow for Revoked {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        col::<String>(r, "what").map(|_| Self)
    }
}

/// Records a revocation; recording one twice keeps the first.
async fn insert_revocation(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    env_id: &str,
    what: &str,
    expires_at: i64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO revocations (what, env_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (what) DO NOTHING")
        .bind(what)
        .bind(env_id)
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
