//! Schema migrations, one SQL file per version and dialect, applied in order at start.

use crate::{Backend, Store, StoreResult};

/// (version, SQLite's SQL, PostgreSQL's SQL): one file per version and dialect, so each
/// engine's schema reads as that engine's SQL (no text rewritten at run time).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        include_str!("../migrations/sqlite/0001_init.sql"),
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        include_str!("../migrations/sqlite/0002_authorization.sql"),
        include_str!("../migrations/postgres/0002_authorization.sql"),
    ),
    (
        3,
        include_str!("../migrations/sqlite/0003_settings.sql"),
        include_str!("../migrations/postgres/0003_settings.sql"),
    ),
    (
        4,
        include_str!("../migrations/sqlite/0004_pkce_stats.sql"),
        include_str!("../migrations/postgres/0004_pkce_stats.sql"),
    ),
    (
        5,
        include_str!("../migrations/sqlite/0005_code_replay.sql"),
        include_str!("../migrations/postgres/0005_code_replay.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_token_session.sql"),
        include_str!("../migrations/postgres/0006_token_session.sql"),
    ),
    (
        7,
        include_str!("../migrations/sqlite/0007_revocations.sql"),
        include_str!("../migrations/postgres/0007_revocations.sql"),
    ),
    (
        8,
        include_str!("../migrations/sqlite/0008_grants_and_counters.sql"),
        include_str!("../migrations/postgres/0008_grants_and_counters.sql"),
    ),
    (
        9,
        include_str!("../migrations/sqlite/0009_resources.sql"),
        include_str!("../migrations/postgres/0009_resources.sql"),
    ),
    (
        10,
        include_str!("../migrations/sqlite/0010_consents.sql"),
        include_str!("../migrations/postgres/0010_consents.sql"),
    ),
    (
        11,
        include_str!("../migrations/sqlite/0011_self_registered_clients.sql"),
        include_str!("../migrations/postgres/0011_self_registered_clients.sql"),
    ),
    (
        12,
        include_str!("../migrations/sqlite/0012_client_documents.sql"),
        include_str!("../migrations/postgres/0012_client_documents.sql"),
    ),
    (
        13,
        include_str!("../migrations/sqlite/0013_pushed_requests.sql"),
        include_str!("../migrations/postgres/0013_pushed_requests.sql"),
    ),
    (
        14,
        include_str!("../migrations/sqlite/0014_seen_jtis.sql"),
        include_str!("../migrations/postgres/0014_seen_jtis.sql"),
    ),
    (
        15,
        include_str!("../migrations/sqlite/0015_manage.sql"),
        include_str!("../migrations/postgres/0015_manage.sql"),
    ),
];

/// An arbitrary constant: the advisory lock that serializes migrations across instances.
const PG_MIGRATION_LOCK: i64 = 0x7069_7869_6500;

pub(crate) async fn run(store: &Store) -> StoreResult<()> {
    let mut conn = store.pool.acquire().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(store.backend(), &mut conn).await;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(backend: Backend, conn: &mut sqlx::AnyConnection) -> StoreResult<()> {
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS pixie_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM pixie_schema")
        .fetch_one(&mut *conn)
        .await?;
    let current = current.unwrap_or(0);
    for (version, sqlite, postgres) in MIGRATIONS {
        if *version <= current {
            continue;
        }
        let sql = match backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO pixie_schema (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(now_secs())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied schema migration");
    }
    Ok(())
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
