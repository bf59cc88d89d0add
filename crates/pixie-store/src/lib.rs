//! pixie's store: environments, clients, users and keys, over SQLite (embedded, the
//! default) or PostgreSQL (shared by several instances).
//!
//! One implementation serves both through sqlx's `Any` driver; only the schema has a
//! dialect of its own. Timestamps are UTC seconds since the epoch, ids are random text.

mod clients;
mod codes;
mod consents;
mod counters;
mod environments;
mod exec;
mod flows;
mod jtis;
pub mod metrics;
mod migrate;
mod pushed;
mod records;
mod resources;
mod revocations;
mod sessions;
mod stats;
mod sweep;
mod tokens;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{LatencyFamily, OperationLabels};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;

pub use codes::{CodeRow, GrantRow, USED_CODE_GRACE};
pub use consents::ConsentRow;
pub use counters::Count;
pub use flows::{FlowRow, FlowStatus};
pub use pushed::PushedRow;
pub use records::{ClientRow, EnvSettings, EnvironmentRow, KeyRow, UserRow};
pub use resources::ResourceRow;
pub use sessions::SessionRow;
pub use stats::PkceStatDelta;
pub use sweep::SweepTable;
pub use tokens::TokenRow;
pub use users::{UserChange, UserUpdate};

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
    /// A statement on PostgreSQL did not finish within [`STATEMENT_TIMEOUT`] (the
    /// database host went silent mid-query, say).
    #[error("the database did not answer within {} s", STATEMENT_TIMEOUT.as_secs())]
    Timeout,
    /// The inline SQLite connection failed (see `exec`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database server could not be reached at start: where, and why.
    #[error("cannot connect to PostgreSQL at {target}: {why}")]
    Unreachable {
        /// `host:port/database`, without credentials.
        target: String,
        /// The operating system's or the server's reason.
        why: String,
    },
}

/// Where a PostgreSQL URL points, without its credentials or parameters.
fn postgres_target(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    if rest.is_empty() {
        "localhost (the default)".into()
    } else {
        rest.to_owned()
    }
}

impl StoreError {
    /// Maps a unique violation (on either backend) to `Conflict(what)`; anything else
    /// is kept.
    pub(crate) fn conflict_or(self, what: &'static str) -> Self {
        let unique = match &self {
            StoreError::Database(sqlx::Error::Database(db)) => db.is_unique_violation(),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            _ => false,
        };
        if unique {
            StoreError::Conflict(what)
        } else {
            self
        }
    }
}

/// How long a store call waits for a database connection before it fails
/// (`StoreError::Database`, which the server answers as 503 `temporarily_unavailable`).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest a statement (or a transaction) on PostgreSQL may take, connection
/// included, before it fails with `StoreError::Timeout` (which the server answers 503
/// `temporarily_unavailable`): a database that went silent mid-query is answered in
/// seconds, not after the operating system's TCP timeout (minutes). Statements take
/// milliseconds; this bounds outages, not work.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

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

/// How far a SQLite commit is on disk before the write returns (`--sqlite-durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous=NORMAL`: a commit survives a killed process (the WAL is in the
    /// operating system); a power loss may lose the commits since the last checkpoint
    /// (the checkpoint thread syncs every 250 ms).
    Normal,
    /// `synchronous=FULL`: a commit is synced to disk before the write returns. The
    /// writer thread commits concurrent requests' writes together (group commit, in
    /// either mode), so they share one sync.
    #[default]
    Full,
}

impl Durability {
    /// Its name, as `--sqlite-durability` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Normal => "normal",
            Durability::Full => "full",
        }
    }

    /// `normal` or `full`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "normal" => Some(Durability::Normal),
            "full" => Some(Durability::Full),
            _ => None,
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`) and applies the migrations,
    /// with the default durability.
    ///
    /// A SQLite file (and its directory) is created if missing, and put in WAL mode.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, Durability::default()).await
    }

    /// [`Store::connect`] with a SQLite durability (PostgreSQL ignores it: its own
    /// `synchronous_commit` decides).
    pub async fn connect_with(url: &str, durability: Durability) -> StoreResult<Self> {
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
        if backend == Backend::Postgres {
            // One connection first, alone: a pool that cannot connect only says it timed
            // out, and an operator needs to know where it tried and what the OS said.
            use sqlx::Connection as _;
            let unreachable = |why: String| StoreError::Unreachable {
                target: postgres_target(&url),
                why,
            };
            match tokio::time::timeout(ACQUIRE_TIMEOUT, sqlx::AnyConnection::connect_with(&options)).await {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                }
                Ok(Err(e)) => return Err(unreachable(e.to_string())),
                Err(_) => {
                    return Err(unreachable(format!(
                        "no answer within {} s (a firewall dropping packets, or the wrong host?)",
                        ACQUIRE_TIMEOUT.as_secs()
                    )))
                }
            }
        }
        // A statement waits at most this long for a connection (a new one included):
        // with the database gone, a request is answered 503 in seconds, not held.
        let mut pool_options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        if backend == Backend::Sqlite {
            let pragmas = format!(
                "PRAGMA page_size = 1024; PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                durability.pragma()
            );
            pool_options = pool_options.max_connections(8).after_connect(move |conn, _| {
                let pragmas = pragmas.clone();
                Box::pin(async move {
                    // 1 KiB pages (taken by a new database only): rows here are small, and a
                    // commit writes whole pages to the WAL: 4 KiB pages wrote 4 times the
                    // bytes (measured: +3 % flows/s, p99 13.6 -> 9.0 ms at C = 16).
                    // WAL: readers never block the writer. Durability: see `Durability`.
                    use sqlx::Executor as _;
                    conn.execute(pragmas.as_str()).await?;
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
            store.inline = exec::Inline::open(&url, durability)?.map(Arc::new);
        }
        Ok(store)
    }

    /// The backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> StoreResult<()> {
        let _: Option<exec::Integer> = self.fetch_optional("SELECT 1 AS n", &[]).await?;
        Ok(())
    }

    /// SQLite's `PRAGMA integrity_check` ("ok" when sound); PostgreSQL checks itself: "ok".
    pub async fn integrity_check(&self) -> StoreResult<String> {
        if self.backend != Backend::Sqlite {
            return Ok("ok".into());
        }
        let rows: Vec<exec::Text> = self.fetch_all("PRAGMA integrity_check", &[]).await?;
        Ok(rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("; "))
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
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
        if let Some(inline) = &self.inline {
            registry.register(
                "pixie_store_sqlite_group_commits",
                "SQLite transactions of the group-commit writer",
                inline.batches.clone(),
            );
            registry.register(
                "pixie_store_sqlite_group_commit_writes",
                "Requests' writes committed by the group-commit writer",
                inline.batched_writes.clone(),
            );
        }
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

#[cfg(test)]
mod target_tests {
    #[test]
    fn a_postgres_target_never_shows_credentials() {
        assert_eq!(
            super::postgres_target("postgres://pixie:s3cret@db.internal:5432/pixie?sslmode=require"),
            "db.internal:5432/pixie"
        );
        assert_eq!(super::postgres_target("postgresql://h/db"), "h/db");
        assert_eq!(super::postgres_target("postgres://"), "localhost (the default)");
        assert_eq!(super::postgres_target("postgres://a@b:c@h:1/d"), "h:1/d");
    }
}
