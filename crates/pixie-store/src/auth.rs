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
    /// How it was signed on (`form` or `api`), once it was.
    pub completed_via: Option<String>,
}

const FLOW_COLUMNS: &str =
    "env_id, id, cookie_hash, client_id, request, status, user_id, auth_time, failures, created_at, expires_at, completed_via";

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
            completed_via: col(r, "completed_via")?,
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
            "INSERT INTO flows ({FLOW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
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
        .bind(&f.completed_via)
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

    /// Marks a waiting flow signed on, `via` the page's form or the flows API. False if
    /// it was not waiting (or expired): of two racing sign-ons exactly one wins.
    pub async fn complete_flow(&self, env_id: &str, id: &str, user_id: &str, now: i64, via: &str) -> StoreResult<bool> {
        let _t = self.timer("complete_flow");
        let changed = self
            .execute(
                "UPDATE flows SET status = 'COMPLETED', user_id = $1, auth_time = $2, completed_via = $5 \
                 WHERE env_id = $3 AND id = $4 AND status = 'USERNAME_PASSWORD_REQUIRED' AND expires_at > $2",
                &[
                    Arg::Text(user_id),
                    Arg::Int(now),
                    Arg::Text(env_id),
                    Arg::Text(id),
                    Arg::Text(via),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Reserves one sign-on attempt on a waiting flow, before the password is checked:
    /// true while the flow has had fewer than `max` attempts that did not sign on.
    /// (A successful attempt completes the flow, so only failures are ever counted.)
    pub async fn reserve_flow_attempt(&self, env_id: &str, id: &str, max: i64, now: i64) -> StoreResult<bool> {
        let _t = self.timer("reserve_flow_attempt");
        let changed = self
            .execute(
                "UPDATE flows SET failures = failures + 1 WHERE env_id = $1 AND id = $2 \
                 AND status = 'USERNAME_PASSWORD_REQUIRED' AND failures < $3 AND expires_at > $4",
                &[Arg::Text(env_id), Arg::Text(id), Arg::Int(max), Arg::Int(now)],
            )
            .await?;
        Ok(changed == 1)
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

    /// Stores a new code and the grant it starts, in one transaction.
    pub async fn insert_code(&self, c: &CodeRow, g: &GrantRow) -> StoreResult<()> {
        let _t = self.timer("insert_code");
        let code_sql = format!("INSERT INTO codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
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
            Arg::OptText(g.user_id.as_deref()),
            Arg::OptText(g.sid.as_deref()),
            Arg::Int(g.created_at),
            Arg::Int(g.expires_at),
        ];
        self.execute_all(&[
            (
                "INSERT INTO grants (env_id, id, client_id, user_id, sid, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                grant_args,
            ),
            (&code_sql, code_args),
        ])
        .await?;
        Ok(())
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
                    "UPDATE tokens SET revoked_at = $3 WHERE id = $1 AND revoked_at IS NULL AND EXISTS \
                     (SELECT 1 FROM grants g WHERE g.env_id = $2 AND g.id = tokens.grant_id AND g.revoked_at IS NOT NULL)",
                    vec![Arg::Text(&t.id), Arg::Text(&t.env_id), Arg::Int(t.created_at)],
                ),
            ])
            .await?;
        Ok(changed.get(2) == Some(&0))
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
    /// Ends a session: deletes it and revokes every grant that came from it, with
    /// their codes, refresh tokens and access tokens (these through a revocation).
    /// Returns how many refresh tokens were live.
    pub async fn end_session(&self, env_id: &str, id_hash: &[u8], sid: &str, now: i64) -> StoreResult<u64> {
        let _t = self.timer("end_session");
        let what = format!("sid:{sid}");
        let changed = self
            .execute_all(&[
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
                (
                    "DELETE FROM sessions WHERE id_hash = $1 AND env_id = $2",
                    vec![Arg::Blob(id_hash), Arg::Text(env_id)],
                ),
            ])
            .await?;
        Ok(changed[1])
    }
}

/// How long a used code is kept after it expires, so that a late replay is still
/// recognised (and revokes its tokens) rather than looking like a bad code.
pub const USED_CODE_GRACE: i64 = 3600;

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
    /// Grants none of whose tokens can live any more.
    Grants,
    /// Shared counters whose window has passed.
    Counters,
}

impl SweepTable {
    /// Every table, in sweep order.
    pub const ALL: [SweepTable; 7] = [
        SweepTable::Flows,
        SweepTable::Sessions,
        SweepTable::Codes,
        SweepTable::Tokens,
        SweepTable::Revocations,
        SweepTable::Grants,
        SweepTable::Counters,
    ];
}

/// A row of `revocations`, found.
struct Revoked;

impl FromRow for Revoked {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        col::<String>(r, "what").map(|_| Self)
    }
}

/// Records a revocation (`what`, `env_id`, `expires_at`); recording one twice keeps the first.
const INSERT_REVOCATION: &str =
    "INSERT INTO revocations (what, env_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (what) DO NOTHING";
