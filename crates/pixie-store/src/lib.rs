//! pixie's store: environments, clients, users and keys, over SQLite (embedded, the
//! default) or PostgreSQL (shared by several instances).
//!
//! One implementation serves both through sqlx's `Any` driver; only the schema has a
//! dialect of its own. Timestamps are UTC seconds since the epoch, ids are random text.

mod auth;
mod counters;
mod exec;
pub mod metrics;
mod migrate;
mod records;
mod stats;

use exec::FromRow as _;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{LatencyFamily, OperationLabels};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

pub use auth::{CodeRow, FlowRow, FlowStatus, GrantRow, SessionRow, SweepTable, TokenRow, USED_CODE_GRACE};
pub use counters::Count;
pub use records::{ClientRow, EnvSettings, EnvironmentRow, KeyRow, UserRow};
pub use stats::PkceStatDelta;

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded in the process.
    Sqlite,
    /// PostgreSQL, shared.
    Postgres,
}

/// A store error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the row; names what is duplicated.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A stored value could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The URL names no supported database.
    #[error("unsupported database URL (use sqlite://… or postgres://…)")]
    UnsupportedUrl,
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The inline SQLite connection failed (see `exec`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// Maps a unique violation to `Conflict(what)`, anything else to `Database`.
    fn conflict_or(e: sqlx::Error, what: &'static str) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
            _ => StoreError::Database(e),
        }
    }
}

/// How long a store call waits for a database connection before it fails
/// (`StoreError::Database`, which the server answers as 503 `temporarily_unavailable`).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The store: a connection pool and the backend it talks to.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// SQLite only: the connection that runs hot-path statements on the calling thread.
    inline: Option<Arc<exec::Inline>>,
    backend: Backend,
    latency: LatencyFamily<OperationLabels>,
}

/// The tracing target of spans meant for trace export only (never log lines): the
/// server's log layer filters it out, and with no exporter such spans are not created.
pub const TRACE_TARGET: &str = "pixie::trace";

/// Records a store operation's duration when dropped, and is its trace span (a child of
/// the request's span) while it lives.
pub(crate) struct Timer {
    start: Instant,
    op: &'static str,
    latency: LatencyFamily<OperationLabels>,
    _span: tracing::Span,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.latency
            .get_or_create(&OperationLabels { op: self.op })
            .observe(self.start.elapsed().as_secs_f64());
    }
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`) and applies the migrations.
    ///
    /// A SQLite file (and its directory) is created if missing, and put in WAL mode.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            create_private_file(url).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            (Backend::Sqlite, sqlite_url(url))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let options = AnyConnectOptions::from_str(&url)?;
        // A statement waits at most this long for a connection (a new one included):
        // with the database gone, a request is answered 503 in seconds, not held.
        let mut pool_options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        if backend == Backend::Sqlite {
            pool_options = pool_options.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    // 1 KiB pages (taken by a new database only): rows here are small, and a
                    // commit writes whole pages to the WAL: 4 KiB pages wrote 4 times the
                    // bytes (measured: +3 % flows/s, p99 13.6 -> 9.0 ms at C = 16).
                    // WAL: readers never block the writer. NORMAL: a commit survives a
                    // process kill (the WAL is in the OS), the cost of FULL is an fsync per commit.
                    use sqlx::Executor as _;
                    conn.execute(
                        "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                    )
                    .await?;
                    Ok(())
                })
            });
        } else {
            pool_options = pool_options.max_connections(16);
        }
        let pool = pool_options.connect_with(options).await?;
        let mut store = Self {
            pool,
            inline: None,
            backend,
            latency: metrics::latency_family(),
        };
        migrate::run(&store).await?;
        if backend == Backend::Sqlite {
            store.inline = exec::Inline::open(&url)?.map(Arc::new);
        }
        Ok(store)
    }

    /// The backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// SQLite's `PRAGMA integrity_check` ("ok" when sound); PostgreSQL checks itself: "ok".
    pub async fn integrity_check(&self) -> StoreResult<String> {
        if self.backend != Backend::Sqlite {
            return Ok("ok".into());
        }
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.join("; "))
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Creates an environment and its signing keys in one transaction.
    pub async fn insert_environment(&self, env: &EnvironmentRow, keys: &[KeyRow]) -> StoreResult<()> {
        let _t = self.timer("insert_environment");
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO environments (id, pkce_policy, settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&env.id)
        .bind(records::to_json(&env.pkce))
        .bind(records::to_json(&env.settings))
        .bind(env.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "environment"))?;
        for key in keys {
            sqlx::query(
                "INSERT INTO signing_keys (env_id, kid, alg, private_enc, public_jwk, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&key.env_id)
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(&key.private_enc)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::conflict_or(e, "signing key"))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// An environment by id.
    pub async fn get_environment(&self, id: &str) -> StoreResult<Option<EnvironmentRow>> {
        let _t = self.timer("get_environment");
        if !storable(&[id]) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT id, pkce_policy, settings, created_at FROM environments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| EnvironmentRow::from_row(&r)).transpose()
    }

    /// Every environment id, sorted.
    pub async fn list_environment_ids(&self) -> StoreResult<Vec<String>> {
        let _t = self.timer("list_environment_ids");
        let rows = sqlx::query("SELECT id FROM environments ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get::<String, _>(0)?)).collect()
    }

    /// Replaces an environment's PKCE policy and settings.
    pub async fn update_environment(&self, env: &EnvironmentRow, now: i64) -> StoreResult<()> {
        let _t = self.timer("update_environment");
        let done =
            sqlx::query("UPDATE environments SET pkce_policy = $1, settings = $2, updated_at = $3 WHERE id = $4")
                .bind(records::to_json(&env.pkce))
                .bind(records::to_json(&env.settings))
                .bind(now)
                .bind(&env.id)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Registers a client.
    pub async fn insert_client(&self, c: &ClientRow) -> StoreResult<()> {
        let _t = self.timer("insert_client");
        sqlx::query(
            "INSERT INTO clients (env_id, client_id, secret_hash, metadata, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.env_id)
        .bind(&c.client_id)
        .bind(&c.secret_hash)
        .bind(records::to_json(&c.metadata))
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, "client"))?;
        Ok(())
    }

    /// A client by environment and id.
    pub async fn get_client(&self, env_id: &str, client_id: &str) -> StoreResult<Option<ClientRow>> {
        let _t = self.timer("get_client");
        if !storable(&[env_id, client_id]) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT env_id, client_id, secret_hash, metadata, created_at, updated_at \
             FROM clients WHERE env_id = $1 AND client_id = $2",
        )
        .bind(env_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| ClientRow::from_row(&r)).transpose()
    }

    /// Rewrites a client's secret hash and metadata.
    pub async fn update_client(&self, c: &ClientRow) -> StoreResult<()> {
        let _t = self.timer("update_client");
        let done = sqlx::query(
            "UPDATE clients SET secret_hash = $1, metadata = $2, updated_at = $3 WHERE env_id = $4 AND client_id = $5",
        )
        .bind(&c.secret_hash)
        .bind(records::to_json(&c.metadata))
        .bind(c.updated_at)
        .bind(&c.env_id)
        .bind(&c.client_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Removes a client and revokes everything issued to it (its grants, so codes not
    /// yet exchanged, and its refresh tokens; its access tokens fail because their
    /// client is gone); `NotFound` if there was none.
    pub async fn delete_client(&self, env_id: &str, client_id: &str, now: i64) -> StoreResult<()> {
        let _t = self.timer("delete_client");
        if !storable(&[env_id, client_id]) {
            return Err(StoreError::NotFound);
        }
        let args = || vec![exec::Arg::Int(now), exec::Arg::Text(env_id), exec::Arg::Text(client_id)];
        let changed = self
            .execute_all(&[
                (
                    "UPDATE grants SET revoked_at = $1 WHERE env_id = $2 AND client_id = $3 AND revoked_at IS NULL",
                    args(),
                ),
                (
                    "UPDATE tokens SET revoked_at = $1 WHERE env_id = $2 AND client_id = $3 AND revoked_at IS NULL",
                    args(),
                ),
                (
                    "DELETE FROM clients WHERE env_id = $1 AND client_id = $2",
                    vec![exec::Arg::Text(env_id), exec::Arg::Text(client_id)],
                ),
            ])
            .await?;
        if changed[2] == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Creates a user; `Conflict("username")` when the name is taken in the environment.
    pub async fn insert_user(&self, u: &UserRow) -> StoreResult<()> {
        let _t = self.timer("insert_user");
        sqlx::query(
            "INSERT INTO users (env_id, id, username, password_hash, email, name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&u.env_id)
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.email)
        .bind(&u.name)
        .bind(u.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::conflict_or(e, "username"))?;
        Ok(())
    }

    /// A user by sign-on name.
    pub async fn get_user_by_username(&self, env_id: &str, username: &str) -> StoreResult<Option<UserRow>> {
        let _t = self.timer("get_user_by_username");
        self.user_where("username", env_id, username).await
    }

    /// A user by id.
    pub async fn get_user(&self, env_id: &str, id: &str) -> StoreResult<Option<UserRow>> {
        let _t = self.timer("get_user");
        self.user_where("id", env_id, id).await
    }

    async fn user_where(&self, column: &'static str, env_id: &str, value: &str) -> StoreResult<Option<UserRow>> {
        if !storable(&[env_id, value]) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT env_id, id, username, password_hash, email, name, created_at FROM users \
             WHERE env_id = $1 AND {column} = $2"
        );
        self.fetch_optional(&sql, &[exec::Arg::Text(env_id), exec::Arg::Text(value)])
            .await
    }

    /// An environment's signing keys, oldest first.
    pub async fn list_keys(&self, env_id: &str) -> StoreResult<Vec<KeyRow>> {
        let _t = self.timer("list_keys");
        let rows = sqlx::query(
            "SELECT env_id, kid, alg, private_enc, public_jwk, created_at FROM signing_keys \
             WHERE env_id = $1 ORDER BY created_at, kid",
        )
        .bind(env_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(KeyRow::from_row).collect()
    }

    /// Starts timing operation `op` for `pixie_store_operation_duration_seconds`.
    pub(crate) fn timer(&self, op: &'static str) -> Timer {
        Timer {
            start: Instant::now(),
            op,
            latency: self.latency.clone(),
            _span: tracing::info_span!(target: TRACE_TARGET, "store", otel.name = op, db.operation.name = op),
        }
    }

    /// Registers the store's metrics (`pixie_store_operation_duration_seconds{op}`).
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "pixie_store_operation_duration_seconds",
            "Store operation latency",
            self.latency.clone(),
        );
    }

    /// The pool, for the modules of this crate.
    fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Whether every text key can exist in the store. No stored key contains NUL (ids are
/// validated or random), and PostgreSQL refuses NUL in text outright: such a lookup
/// is answered "not found" without asking the database.
pub(crate) fn storable(keys: &[&str]) -> bool {
    keys.iter().all(|k| !k.contains('\0'))
}

/// Adds `mode=rwc` to a SQLite URL so that a missing file is created.
/// Creates a SQLite database file that does not exist yet as an empty file readable by
/// its owner only (0600): it holds password hashes. SQLite gives its `-wal` and `-shm`
/// files the database file's permissions.
fn create_private_file(url: &str) -> std::io::Result<()> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        return Ok(());
    }
    let path = std::path::Path::new(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}
