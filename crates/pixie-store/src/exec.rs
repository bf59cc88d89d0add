//! The one way the store runs a statement, on either backend, and the inline SQLite
//! connection.
//!
//! Every statement of the store (migrations aside, which run at start) is written once,
//! against [`Arg`] and [`Columns`], and run here by `execute`, `fetch_optional`,
//! `fetch_all` or `execute_all` (one transaction). On PostgreSQL they go through the
//! sqlx pool. On SQLite a read runs on the calling thread on one connection of its own
//! (each statement takes a few microseconds, while sqlx's SQLite driver hands every
//! statement to a thread and back, which cost more than the statement itself; see
//! BENCHMARKS.md), and a write goes to the writer thread, which commits the writes of
//! every request waiting in one transaction (group commit: one WAL append and, with
//! `full` durability, one sync for all of them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::{Durability, Store, StoreError, StoreResult};

/// A bound parameter, for either backend.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    /// Text.
    Text(&'a str),
    /// Text or NULL.
    OptText(Option<&'a str>),
    /// An integer.
    Int(i64),
    /// An integer or NULL.
    OptInt(Option<i64>),
    /// Bytes.
    Blob(&'a [u8]),
    /// Bytes or NULL.
    OptBlob(Option<&'a [u8]>),
}

/// A value a column can be read as, on either backend.
pub(crate) trait Value:
    for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl<T> Value for T where T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql {}

/// A result row of either backend, read by column name.
pub(crate) trait Columns {
    /// The named column; a value that does not decode is `Corrupt`.
    fn get<T: Value>(&self, name: &str) -> StoreResult<T>;
}

impl Columns for AnyRow {
    fn get<T: Value>(&self, name: &str) -> StoreResult<T> {
        self.try_get(name)
            .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
    }
}

impl Columns for rusqlite::Row<'_> {
    fn get<T: Value>(&self, name: &str) -> StoreResult<T> {
        rusqlite::Row::get(self, name).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
    }
}

/// A record read from a result row of either backend.
pub(crate) trait FromRow: Sized {
    /// Reads the record's columns by name.
    fn from_row(r: &impl Columns) -> StoreResult<Self>;
}

/// A row of one integer column named `n` (`SELECT 1 AS n`).
pub(crate) struct Integer(#[allow(dead_code)] pub i64);

impl FromRow for Integer {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        col(r, "n").map(Self)
    }
}

/// A row of SQLite's `PRAGMA integrity_check`.
pub(crate) struct Text(pub String);

impl FromRow for Text {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        col(r, "integrity_check").map(Self)
    }
}

/// Reads a column, turning a decode failure into `Corrupt`.
pub(crate) fn col<T: Value>(r: &impl Columns, name: &str) -> StoreResult<T> {
    r.get(name)
}

/// The SQLite connection that runs reads on the calling thread, and the writer thread
/// that commits writes in groups.
#[derive(Debug)]
pub(crate) struct Inline {
    conn: Mutex<rusqlite::Connection>,
    /// Writes go to the group-commit writer thread.
    writer: std::sync::mpsc::Sender<Job>,
    /// Transactions the writer ran (each a batch of requests' writes), and the writes.
    pub(crate) batches: Counter,
    pub(crate) batched_writes: Counter,
    /// Tells the checkpoint thread to stop when the store is dropped.
    stop: Arc<AtomicBool>,
}

impl Drop for Inline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How often the checkpoint thread copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Opens `path` as the store's connections are opened.
fn open_sqlite(path: &str, durability: Durability) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // As the pool's connections: WAL, and the durability asked for. No busy timeout: on
    // the read connection a lock is waited for asynchronously (see `Inline::run`); the
    // writer sets its own, on its own thread. No automatic
    // checkpoint: it would fsync inside a request (a 15 ms stall every ~100 flows,
    // measured); the checkpoint thread does it instead.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; \
         PRAGMA busy_timeout = 0; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {WAL_LIMIT_BYTES};",
        durability.pragma()
    ))?;
    Ok(conn)
}

/// WAL size past which a checkpoint also starts the WAL over (and the file's size cap,
/// `journal_size_limit`).
const WAL_LIMIT_BYTES: i64 = 64 << 20;

/// One checkpoint: copies the WAL into the database without waiting for, nor blocking,
/// a writer (PASSIVE). Past `limit_frames` it then waits for readers and writers to
/// pause, copies the rest, and makes the next writer start the WAL over (RESTART):
/// under steady writes a passive checkpoint never finds the WAL wholly copied when a
/// writer starts, which is when SQLite would start over, so the file only grew (1.5 GB
/// in 45 s under `pixie bench`, measured). `journal_size_limit` then trims the file
/// to [`WAL_LIMIT_BYTES`]. Returns the frames that were in the WAL.
fn checkpoint(conn: &rusqlite::Connection, limit_frames: i64) -> rusqlite::Result<i64> {
    let frames: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if frames > limit_frames {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(frames)
}

/// Checkpoints every [`CHECKPOINT_EVERY`] until `stop`.
fn checkpoint_thread(conn: rusqlite::Connection, stop: Arc<AtomicBool>) {
    // A frame is a page (and a 24-byte header).
    let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap_or(4096);
    let limit_frames = WAL_LIMIT_BYTES / page.max(512);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(CHECKPOINT_EVERY);
        if let Err(e) = checkpoint(&conn, limit_frames) {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
}

impl Inline {
    /// Opens the database the pool already created and migrated. `None` for an
    /// in-memory database, which a second connection would not share.
    pub(crate) fn open(url: &str, durability: Durability) -> StoreResult<Option<Self>> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
            return Ok(None);
        }
        let conn = open_sqlite(path, durability)?;
        conn.set_prepared_statement_cache_capacity(32);
        let stop = Arc::new(AtomicBool::new(false));
        let (batches, batched_writes) = (Counter::default(), Counter::default());
        // The writer: its own connection and thread (SQLite's busy wait may block it,
        // never a runtime thread).
        let write_conn = open_sqlite(path, durability)?;
        write_conn.set_prepared_statement_cache_capacity(32);
        write_conn.busy_timeout(BUSY_WAIT)?;
        let (writer, jobs) = std::sync::mpsc::channel();
        let counted = (batches.clone(), batched_writes.clone());
        std::thread::Builder::new()
            .name("pixie-writer".into())
            .spawn(move || writer_thread(write_conn, jobs, &counted))
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        let checkpointer = open_sqlite(path, durability)?;
        // A truncating checkpoint waits this long for readers and writers to pause
        // (they retry meanwhile); if they do not, the next round tries again.
        checkpointer.busy_timeout(Duration::from_millis(200))?;
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("pixie-checkpoint".into())
            .spawn(move || checkpoint_thread(checkpointer, flag))
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        Ok(Some(Self {
            conn: Mutex::new(conn),
            writer,
            batches,
            batched_writes,
            stop,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        // A panic while holding the lock leaves no half-done statement behind (SQLite
        // rolls back an unfinished transaction when the statement is dropped).
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Binds `$n` to `args[n - 1]` by name, as PostgreSQL numbers them: SQLite numbers
/// parameters in order of first appearance, which need not be `$1, $2, …`.
fn bind_all(stmt: &mut rusqlite::Statement<'_>, args: &[Arg<'_>]) -> rusqlite::Result<()> {
    for i in 1..=stmt.parameter_count() {
        let n = stmt
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$')?.parse::<usize>().ok())
            .filter(|n| (1..=args.len()).contains(n))
            .ok_or(rusqlite::Error::InvalidParameterCount(i, args.len()))?;
        match args[n - 1] {
            Arg::Text(v) => stmt.raw_bind_parameter(i, v)?,
            Arg::OptText(v) => stmt.raw_bind_parameter(i, v)?,
            Arg::Int(v) => stmt.raw_bind_parameter(i, v)?,
            Arg::OptInt(v) => stmt.raw_bind_parameter(i, v)?,
            Arg::Blob(v) => stmt.raw_bind_parameter(i, v)?,
            Arg::OptBlob(v) => stmt.raw_bind_parameter(i, v)?,
        }
    }
    Ok(())
}

fn sqlx_query<'q>(sql: &'q str, args: &[Arg<'q>]) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for a in args {
        q = match *a {
            Arg::Text(v) => q.bind(v),
            Arg::OptText(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::OptInt(v) => q.bind(v),
            Arg::Blob(v) => q.bind(v),
            Arg::OptBlob(v) => q.bind(v),
        };
    }
    q
}

fn inline_execute(conn: &rusqlite::Connection, sql: &str, args: &[Arg<'_>]) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind_all(&mut stmt, args)?;
    Ok(stmt.raw_execute()? as u64)
}

/// The first row of a statement on a SQLite connection, if any.
fn inline_fetch_optional<T: FromRow>(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> StoreResult<Option<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind_all(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    match rows.next()? {
        Some(row) => T::from_row(row).map(Some),
        None => Ok(None),
    }
}

/// Every row of a statement on a SQLite connection.
fn inline_fetch_all<T: FromRow>(conn: &rusqlite::Connection, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind_all(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(T::from_row(row)?);
    }
    Ok(out)
}

/// How long a statement waits while another connection holds a lock: the read
/// connection retrying asynchronously, the writer in SQLite's busy wait on its thread.
const BUSY_WAIT: Duration = Duration::from_secs(10);

fn is_busy(e: &StoreError) -> bool {
    matches!(e, StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
        if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

impl Inline {
    /// Runs `f` on the connection. While another connection holds the write lock it
    /// waits *asynchronously* and tries again: SQLite's own busy wait would block this
    /// runtime thread, and the lock holder may be a pool transaction that needs this
    /// very thread to reach its COMMIT (a deadlock until the timeout; seen under load).
    async fn run<T>(&self, mut f: impl FnMut(&mut rusqlite::Connection) -> StoreResult<T>) -> StoreResult<T> {
        let deadline = Instant::now() + BUSY_WAIT;
        let mut pause = Duration::from_millis(1);
        loop {
            let result = f(&mut self.lock());
            match result {
                Err(e) if is_busy(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }
}

/// A bound parameter that owns its value, to cross to the writer thread.
#[derive(Debug)]
enum OwnedArg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Blob(Vec<u8>),
    OptBlob(Option<Vec<u8>>),
}

impl OwnedArg {
    fn all(args: &[Arg<'_>]) -> Vec<OwnedArg> {
        args.iter()
            .map(|a| match *a {
                Arg::Text(v) => OwnedArg::Text(v.to_owned()),
                Arg::OptText(v) => OwnedArg::OptText(v.map(str::to_owned)),
                Arg::Int(v) => OwnedArg::Int(v),
                Arg::OptInt(v) => OwnedArg::OptInt(v),
                Arg::Blob(v) => OwnedArg::Blob(v.to_vec()),
                Arg::OptBlob(v) => OwnedArg::OptBlob(v.map(<[u8]>::to_vec)),
            })
            .collect()
    }

    fn borrowed(args: &[OwnedArg]) -> Vec<Arg<'_>> {
        args.iter()
            .map(|a| match a {
                OwnedArg::Text(v) => Arg::Text(v),
                OwnedArg::OptText(v) => Arg::OptText(v.as_deref()),
                OwnedArg::Int(v) => Arg::Int(*v),
                OwnedArg::OptInt(v) => Arg::OptInt(*v),
                OwnedArg::Blob(v) => Arg::Blob(v),
                OwnedArg::OptBlob(v) => Arg::OptBlob(v.as_deref()),
            })
            .collect()
    }
}

/// What answers a request once its batch's commit is known (`Some(error)` if it failed).
type Deliver = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;

/// One request's writes, run by the writer thread inside its batch's transaction.
pub(crate) trait WriteJob: Send {
    /// Runs the statements; whether they succeeded, and what answers the request.
    fn run(self: Box<Self>, conn: &rusqlite::Connection) -> (bool, Deliver);
    /// Answers with `e` without running (no transaction could be started).
    fn refuse(self: Box<Self>, e: &rusqlite::Error);
    /// Whether the request stopped waiting for its answer.
    fn cancelled(&self) -> bool;
}

/// The writes of one request and where its answer goes.
struct Pending<F, T> {
    f: F,
    answer: tokio::sync::oneshot::Sender<StoreResult<T>>,
}

impl<F, T> WriteJob for Pending<F, T>
where
    F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, conn: &rusqlite::Connection) -> (bool, Deliver) {
        let Pending { f, answer } = *self;
        let result = f(conn);
        let ok = result.is_ok();
        let deliver = move |commit: Option<&rusqlite::Error>| {
            // When the batch did not commit, that is the answer, even to a request whose
            // own statements failed (a conflict with a row the batch then did not keep).
            let _ = answer.send(match commit {
                Some(e) => Err(StoreError::Sqlite(again(e))),
                None => result,
            });
        };
        (ok, Box::new(deliver))
    }

    fn refuse(self: Box<Self>, e: &rusqlite::Error) {
        let _ = self.answer.send(Err(StoreError::Sqlite(again(e))));
    }

    fn cancelled(&self) -> bool {
        self.answer.is_closed()
    }
}

/// A job for the writer thread.
pub(crate) type Job = Box<dyn WriteJob>;

/// The most jobs one transaction takes.
const BATCH_MAX: usize = 256;

/// The same error again, for each request of a batch whose commit failed.
fn again(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => rusqlite::Error::SqliteFailure(*code, msg.clone()),
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            Some(other.to_string()),
        ),
    }
}

/// Group commit: takes every write waiting, runs each in a savepoint of one
/// transaction (a failing request undoes only its own statements), commits once (one
/// sync of the WAL with `full` durability, shared by the whole batch), then answers
/// each request. Ends when the store, and with it every sender, is gone.
fn writer_thread(conn: rusqlite::Connection, jobs: std::sync::mpsc::Receiver<Job>, counters: &(Counter, Counter)) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        counters.0.inc();
        counters.1.inc_by(batch.len() as u64);
        run_batch(&conn, batch);
    }
}

/// One batch: see [`writer_thread`].
fn run_batch(conn: &rusqlite::Connection, batch: Vec<Job>) {
    // A request that went away (its future dropped) has nobody to answer: its writes
    // are not made.
    let mut jobs = batch.into_iter().filter(|job| !job.cancelled());
    loop {
        // A transaction left open by a failed ROLLBACK would refuse every BEGIN after it.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            for job in jobs {
                job.refuse(&e);
            }
            return;
        }
        let mut done: Vec<Deliver> = Vec::new();
        let mut undone = false;
        for job in jobs.by_ref() {
            if let Err(e) = conn.execute_batch("SAVEPOINT job") {
                job.refuse(&e);
                continue;
            }
            // A panic in a request's code must not take the writer, and every later
            // write, with it: it counts as a failed request (its sender is dropped, so
            // it hears that the write did not happen).
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn)));
            let (ok, deliver) = match ran {
                Ok(ran) => (ran.0, Some(ran.1)),
                Err(_) => {
                    tracing::error!("a store write panicked; its statements are undone");
                    (false, None)
                }
            };
            let closed = match ok {
                true => conn.execute_batch("RELEASE job"),
                false => conn.execute_batch("ROLLBACK TO job; RELEASE job"),
            };
            if closed.is_err() || conn.is_autocommit() {
                // The transaction ended, or this request's savepoint could not be undone
                // (I/O, a full disk): the whole batch so far is rolled back, its
                // requests hear so, and the rest start over in a new transaction.
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                let e = rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("the transaction was rolled back".into()),
                );
                for earlier in done.drain(..).chain(deliver) {
                    earlier(Some(&e));
                }
                undone = true;
                break;
            }
            done.extend(deliver);
        }
        if undone {
            continue;
        }
        let committed = conn.execute_batch("COMMIT");
        if committed.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let error = committed.err();
        for deliver in done {
            deliver(error.as_ref());
        }
        return;
    }
}

impl Inline {
    /// Runs `f` (a request's writes) on the writer thread in the next batch, and
    /// answers once that batch committed.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let gone = || {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
                Some("the store's writer has stopped".into()),
            ))
        };
        if self.writer.send(Box::new(Pending { f, answer })).is_err() {
            return Err(gone());
        }
        answered.await.unwrap_or_else(|_| Err(gone()))
    }
}

/// Whether a statement may write (anything but a SELECT or a PRAGMA): it runs on the
/// writer thread.
fn writes(sql: &str) -> bool {
    let head = sql.trim_start().get(..6).unwrap_or("");
    !(head.eq_ignore_ascii_case("SELECT") || head.eq_ignore_ascii_case("PRAGMA"))
}

impl Store {
    /// Runs a statement; returns the rows it changed.
    pub(crate) async fn execute(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        if let Some(inline) = &self.inline {
            if writes(sql) {
                let (sql, args) = (sql.to_owned(), OwnedArg::all(args));
                let write =
                    move |conn: &rusqlite::Connection| Ok(inline_execute(conn, &sql, &OwnedArg::borrowed(&args))?);
                return inline.write(write).await;
            }
            return inline.run(|conn| Ok(inline_execute(conn, sql, args)?)).await;
        }
        let done = bounded(sqlx_query(sql, args).execute(&self.pool)).await?;
        Ok(done.rows_affected())
    }

    /// Runs a statement that returns at most one row.
    pub(crate) async fn fetch_optional<T: FromRow + Send + 'static>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> StoreResult<Option<T>> {
        if let Some(inline) = &self.inline {
            if writes(sql) {
                let (sql, args) = (sql.to_owned(), OwnedArg::all(args));
                let write =
                    move |conn: &rusqlite::Connection| inline_fetch_optional(conn, &sql, &OwnedArg::borrowed(&args));
                return inline.write(write).await;
            }
            return inline.run(|conn| inline_fetch_optional(conn, sql, args)).await;
        }
        match bounded(sqlx_query(sql, args).fetch_optional(&self.pool)).await? {
            Some(row) => T::from_row(&row).map(Some),
            None => Ok(None),
        }
    }

    /// Runs a statement that returns any number of rows.
    pub(crate) async fn fetch_all<T: FromRow + Send + 'static>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> StoreResult<Vec<T>> {
        if let Some(inline) = &self.inline {
            if writes(sql) {
                let (sql, args) = (sql.to_owned(), OwnedArg::all(args));
                let write = move |conn: &rusqlite::Connection| inline_fetch_all(conn, &sql, &OwnedArg::borrowed(&args));
                return inline.write(write).await;
            }
            return inline.run(|conn| inline_fetch_all(conn, sql, args)).await;
        }
        bounded(sqlx_query(sql, args).fetch_all(&self.pool))
            .await?
            .iter()
            .map(T::from_row)
            .collect()
    }

    /// Runs `first`; if it changed a row, then `then` (a write returning at most one
    /// row), and returns `Some` of what that returned; `None` if `first` changed
    /// nothing. On SQLite both go to the writer as one request (one hand-off, one
    /// commit); on PostgreSQL they are two statements, each committed as it runs.
    pub(crate) async fn execute_then_fetch_optional<T: FromRow + Send + 'static>(
        &self,
        first: (&str, &[Arg<'_>]),
        then: (&str, &[Arg<'_>]),
    ) -> StoreResult<Option<Option<T>>> {
        if let Some(inline) = &self.inline {
            let (first_sql, first_args) = (first.0.to_owned(), OwnedArg::all(first.1));
            let (then_sql, then_args) = (then.0.to_owned(), OwnedArg::all(then.1));
            let write = move |conn: &rusqlite::Connection| {
                if inline_execute(conn, &first_sql, &OwnedArg::borrowed(&first_args))? == 0 {
                    return Ok(None);
                }
                inline_fetch_optional(conn, &then_sql, &OwnedArg::borrowed(&then_args)).map(Some)
            };
            return inline.write(write).await;
        }
        if self.execute(first.0, first.1).await? == 0 {
            return Ok(None);
        }
        self.fetch_optional(then.0, then.1).await.map(Some)
    }

    /// Runs statements in one transaction, in order: all or none. Returns the rows each
    /// changed.
    pub(crate) async fn execute_all(&self, statements: &[(&str, Vec<Arg<'_>>)]) -> StoreResult<Vec<u64>> {
        if let Some(inline) = &self.inline {
            let owned: Vec<(String, Vec<OwnedArg>)> = statements
                .iter()
                .map(|(sql, args)| ((*sql).to_owned(), OwnedArg::all(args)))
                .collect();
            // In the batch's transaction, inside this job's savepoint: all or none.
            let write = move |conn: &rusqlite::Connection| {
                let mut changed = Vec::with_capacity(owned.len());
                for (sql, args) in &owned {
                    changed.push(inline_execute(conn, sql, &OwnedArg::borrowed(args))?);
                }
                Ok(changed)
            };
            return inline.write(write).await;
        }
        let transaction = async {
            let mut tx = self.pool.begin().await?;
            let mut changed = Vec::with_capacity(statements.len());
            for (sql, args) in statements {
                changed.push(sqlx_query(sql, args).execute(&mut *tx).await?.rows_affected());
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(changed)
        };
        bounded(transaction).await
    }
}

/// A pool statement (or transaction), bounded by [`crate::STATEMENT_TIMEOUT`]. When it
/// runs out, the statement's future is dropped, and with it the connection it held:
/// sqlx pings a connection dropped mid-statement before it is used again, and closes it
/// when the ping fails (a silent host's pings hang until the host answers or its
/// connections break; meanwhile new requests wait at most the acquire timeout).
async fn bounded<T>(statement: impl std::future::Future<Output = Result<T, sqlx::Error>>) -> StoreResult<T> {
    match tokio::time::timeout(crate::STATEMENT_TIMEOUT, statement).await {
        Ok(done) => Ok(done?),
        Err(_) => Err(StoreError::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pair {
        a: String,
        b: i64,
    }

    impl FromRow for Pair {
        fn from_row(r: &impl Columns) -> StoreResult<Self> {
            Ok(Self {
                a: col(r, "a")?,
                b: col(r, "b")?,
            })
        }
    }

    /// `$n` binds `args[n - 1]` even where `$2` comes first and `$1` repeats, on the
    /// inline connection as on the pool.
    #[tokio::test]
    async fn parameters_bind_by_number_not_by_position() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        assert!(store.inline.is_some());
        let args = [Arg::Text("one"), Arg::Int(2)];
        let sql = "SELECT $2 AS b, $1 AS a WHERE $1 = 'one'";
        let p: Pair = store.fetch_optional(sql, &args).await.unwrap().unwrap();
        assert_eq!((p.a.as_str(), p.b), ("one", 2));
        let pooled = Store {
            inline: None,
            ..store.clone()
        };
        let p: Pair = pooled.fetch_optional(sql, &args).await.unwrap().unwrap();
        assert_eq!((p.a.as_str(), p.b), ("one", 2));
        // A statement that names a parameter with no argument is an error, not a NULL.
        assert!(store
            .fetch_optional::<Pair>("SELECT $3 AS a, 1 AS b", &args)
            .await
            .is_err());
    }

    /// A pool transaction holds the write lock across awaits; an inline write that comes
    /// meanwhile must wait without taking the (only) runtime thread, or the transaction
    /// can never commit and the write fails after the timeout.
    #[tokio::test(flavor = "current_thread")]
    async fn a_write_waits_for_a_pool_transaction_without_blocking_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let insert = "INSERT INTO revocations (what, env_id, expires_at) VALUES ($1, 'e', 1)";
        let mut tx = store.pool.begin().await.unwrap();
        sqlx::query(insert).bind("jti:a").execute(&mut *tx).await.unwrap();
        let other = store.clone();
        let started = Instant::now();
        let write = tokio::spawn(async move { other.execute(insert, &[Arg::Text("jti:b")]).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!write.is_finished(), "it waits for the lock");
        tx.commit().await.unwrap();
        assert_eq!(write.await.unwrap().unwrap(), 1);
        // Not a speed check: a wait that blocked the thread would have held this task's
        // 50 ms sleep until SQLite's busy timeout ran out (2 s or more).
        assert!(started.elapsed() < Duration::from_secs(1), "the runtime was blocked");
    }

    /// A checkpoint copies the WAL into the database and reports its frames; past the
    /// limit the WAL starts over, so the next commit is its only frames. (That this
    /// keeps the file bounded under steady writes is measured: BENCHMARKS.md.)
    #[tokio::test]
    async fn a_checkpoint_copies_the_wal_and_restarts_it_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        let insert = "INSERT INTO revocations (what, env_id, expires_at) VALUES ($1, 'e', 1)";
        for i in 0..20 {
            store.execute(insert, &[Arg::Text(&format!("jti:{i}"))]).await.unwrap();
        }
        let conn = open_sqlite(path.to_str().unwrap(), Durability::Normal).unwrap();
        let frames = checkpoint(&conn, 0).unwrap();
        assert!(frames >= 20, "a commit is a frame at least: {frames}");
        store.execute(insert, &[Arg::Text("jti:x")]).await.unwrap();
        let after = checkpoint(&conn, 1000).unwrap();
        assert!(
            (1..frames).contains(&after),
            "started over: {after} frames after {frames}"
        );
        // The database file alone (no WAL) has every row.
        drop(conn);
        store
            .inline
            .as_ref()
            .unwrap()
            .lock()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let copy = rusqlite::Connection::open(&copy).unwrap();
        let n: i64 = copy
            .query_row("SELECT count(*) FROM revocations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 21, "nothing lost");
    }

    /// A new database gets 1 KiB pages; one made before keeps its own.
    #[tokio::test]
    async fn new_databases_get_small_pages() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.db");
        let made = rusqlite::Connection::open(&old).unwrap();
        made.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
            .unwrap();
        drop(made);
        for (name, size) in [("new.db", 1024), ("old.db", 4096)] {
            let store = Store::connect(&format!("sqlite://{}/{name}", dir.path().display()))
                .await
                .unwrap();
            let conn = store.inline.as_ref().unwrap().lock();
            let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
            assert_eq!(page, size, "{name}");
        }
    }

    async fn store_with(dir: &std::path::Path, durability: Durability) -> Store {
        Store::connect_with(&format!("sqlite://{}/t.db", dir.display()), durability)
            .await
            .unwrap()
    }

    /// `full` syncs every commit, `normal` only at checkpoints: the pragma says which,
    /// on the inline connection as on the pool's.
    #[tokio::test]
    async fn the_durability_sets_synchronous() {
        for (durability, level) in [(Durability::Full, 2), (Durability::Normal, 1)] {
            let dir = tempfile::tempdir().unwrap();
            let store = store_with(dir.path(), durability).await;
            let inline: i64 = store
                .inline
                .as_ref()
                .unwrap()
                .lock()
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!(inline, level, "{durability:?}");
            let pooled: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(pooled, level, "{durability:?}");
        }
    }

    /// Concurrent writes are committed together (fewer transactions than writes), each
    /// is answered, and every one is there afterwards, read on another connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_committed_in_groups() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), Durability::Full).await;
        let insert = "INSERT INTO revocations (what, env_id, expires_at) VALUES ($1, 'e', 1)";
        let writes: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.execute(insert, &[Arg::Text(&format!("jti:{i}"))]).await })
            })
            .collect();
        for w in writes {
            assert_eq!(w.await.unwrap().unwrap(), 1);
        }
        let inline = store.inline.as_ref().unwrap();
        let batches = inline.batches.get();
        assert!(batches < 100, "200 writes in {batches} transactions");
        assert_eq!(inline.batched_writes.get(), 200);
        let n: Vec<Integer> = store
            .fetch_all("SELECT count(*) AS n FROM revocations", &[])
            .await
            .unwrap();
        assert_eq!(n[0].0, 200);
        let other = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        let seen: i64 = other
            .query_row("SELECT count(*) FROM revocations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, 200);
    }

    /// A request whose statements fail undoes only its own, even when it shares a
    /// transaction with others: its earlier statement is gone, theirs stay, and its
    /// error is the statement's (a conflict stays a conflict).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_undoes_only_its_own_statements() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), Durability::Full).await;
        let insert = "INSERT INTO revocations (what, env_id, expires_at) VALUES ($1, 'e', 1)";
        store.execute(insert, &[Arg::Text("taken")]).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mine = format!("mine:{i}");
                let failing = store
                    .execute_all(&[(insert, vec![Arg::Text(&mine)]), (insert, vec![Arg::Text("taken")])])
                    .await;
                let theirs = format!("theirs:{i}");
                let fine = store.execute(insert, &[Arg::Text(&theirs)]).await;
                (failing.map_err(|e| e.conflict_or("revocation")), fine)
            }));
        }
        for t in tasks {
            let (failing, fine) = t.await.unwrap();
            assert!(
                matches!(failing, Err(StoreError::Conflict("revocation"))),
                "{failing:?}"
            );
            assert_eq!(fine.unwrap(), 1);
        }
        let count = |like: &'static str| {
            let store = store.clone();
            async move {
                let n: Vec<Integer> = store
                    .fetch_all(
                        "SELECT count(*) AS n FROM revocations WHERE what LIKE $1",
                        &[Arg::Text(like)],
                    )
                    .await
                    .unwrap();
                n[0].0
            }
        };
        assert_eq!(count("mine:%").await, 0, "all or none");
        assert_eq!(count("theirs:%").await, 50);
    }

    /// A write that panics is undone and answered as failed; the writer lives on, so
    /// the next write, in the same batch or a later one, is made.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_does_not_stop_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with(dir.path(), Durability::Full).await;
        let inline = store.inline.clone().unwrap();
        let panicking = inline.write(|conn: &rusqlite::Connection| -> StoreResult<()> {
            conn.execute_batch("INSERT INTO revocations (what, env_id, expires_at) VALUES ('half', 'e', 1)")?;
            panic!("a bug in a request's write");
        });
        let insert = "INSERT INTO revocations (what, env_id, expires_at) VALUES ($1, 'e', 1)";
        let (failed, fine) = tokio::join!(panicking, store.execute(insert, &[Arg::Text("after")]));
        assert!(failed.is_err());
        assert_eq!(fine.unwrap(), 1);
        assert_eq!(store.execute(insert, &[Arg::Text("later")]).await.unwrap(), 1);
        let n: Vec<Integer> = store
            .fetch_all("SELECT count(*) AS n FROM revocations WHERE what = 'half'", &[])
            .await
            .unwrap();
        assert_eq!(n[0].0, 0, "the panicking write's statement is undone");
    }

    #[test]
    fn an_in_memory_database_gets_no_inline_connection() {
        assert!(Inline::open("sqlite::memory:", Durability::Full).unwrap().is_none());
        assert!(Inline::open("sqlite://x.db?mode=memory", Durability::Full)
            .unwrap()
            .is_none());
    }
}
