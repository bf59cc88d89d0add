//! Authorization codes, and the grant (token family) each one starts.

use crate::exec::{col, Arg, Columns, FromRow};
use crate::{Backend, Store, StoreResult};

/// An authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    /// The key the code is stored under: its time prefix and its SHA-256
    /// (`pixie_core::ids::code_key`), never the code.
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

/// The condition that the code's grant is not revoked, as a scalar subquery: a lookup
/// of the grant by its key for the one code row. (Written as `NOT EXISTS`, PostgreSQL's
/// generic plan for the prepared statement turned it into an anti-join that read every
/// grant of the environment on each exchange: 1.6 ms with 6 000 grants, and growing.)
const GRANT_NOT_REVOKED: &str =
    "(SELECT g.revoked_at FROM grants g WHERE g.env_id = codes.env_id AND g.id = codes.grant_id) IS NULL";

/// [`Store::consume_code`]'s statement and its arguments.
fn consume_code_statement<'a>(
    env_id: &'a str,
    code_hash: &'a [u8],
    client_id: &'a str,
    now: i64,
) -> (String, [Arg<'a>; 4]) {
    let args = [
        Arg::Int(now),
        Arg::Blob(code_hash),
        Arg::Text(env_id),
        Arg::Text(client_id),
    ];
    (consume_code_sql(), args)
}

/// [`Store::consume_code`]'s statement.
fn consume_code_sql() -> String {
    format!(
        "UPDATE codes SET used_at = $1 WHERE code_hash = $2 AND env_id = $3 AND client_id = $4 \
         AND used_at IS NULL AND expires_at > $1 AND {GRANT_NOT_REVOKED} RETURNING {CODE_COLUMNS}"
    )
}

/// [`Store::insert_code`] on PostgreSQL, in one statement: `$1`–`$9` the code's
/// columns, then the grant's env id, id, client id, sid, creation and expiry, and the
/// session's hash (`$10`–`$16`); with a consent, its scopes and resources (`$17`, `$18`).
///
/// The rows it depends on are locked in the order every revoking writer takes them
/// (environment, user, session, client, consent; see `end_everything_of` in users.rs),
/// so a removal or a change waits for this statement or this statement waits for it,
/// and never both. The environment's row is key-share-locked first (as the foreign
/// keys of the rows inserted would, but last): an environment's removal locks that row
/// before it deletes the sessions, so this waits for it holding nothing, rather than
/// holding the session while the removal waits for it. The client's row and the
/// consent's are key-share-locked: a removal (of the client, or a withdrawal of the
/// consent) deletes them before it revokes their grants, so it either sees this grant
/// or this statement sees them gone; an edit of a client's metadata does not wait.
macro_rules! insert_code_postgres {
    ($consent_join:literal, $consent_lock:literal) => {
        concat!(
            "WITH live AS (\
             SELECT 1 FROM environments e JOIN users u ON u.env_id = e.id \
             JOIN sessions s ON s.env_id = u.env_id AND s.user_id = u.id \
             JOIN clients c ON c.env_id = e.id AND c.client_id = $12 ",
            $consent_join,
            " WHERE e.id = $10 AND u.id = $4 AND u.disabled_at IS NULL \
             AND s.id_hash = $16 AND s.user_generation = u.generation \
             FOR KEY SHARE OF e FOR SHARE OF u, s FOR KEY SHARE OF c",
            $consent_lock,
            "), grant_row AS (INSERT INTO grants (env_id, id, client_id, user_id, sid, created_at, expires_at) \
             SELECT $10, $11, $12, $4, $13, $14, $15 FROM live RETURNING env_id, id) \
             INSERT INTO codes (code_hash, env_id, client_id, user_id, grant_id, data, created_at, expires_at, used_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM grant_row WHERE grant_row.env_id = $2 AND grant_row.id = $5"
        )
    };
}

/// [`insert_code_postgres!`] for a client that needs no consent.
pub(crate) const INSERT_CODE_POSTGRES: &str = insert_code_postgres!("", "");

/// [`insert_code_postgres!`] for a code that rests on the user's consent.
pub(crate) const INSERT_CODE_WITH_CONSENT_POSTGRES: &str = insert_code_postgres!(
    "JOIN consents k ON k.env_id = e.id AND k.user_id = u.id AND k.client_id = c.client_id \
     AND k.scopes = $17 AND k.resources = $18",
    ", k"
);

/// How long a used code is kept after it expires, so that a late replay is still
/// recognised (and revokes its tokens) rather than looking like a bad code.
pub const USED_CODE_GRACE: i64 = 3600;

impl Store {
    /// Stores a new code and the grant it starts, in one transaction, if the session it
    /// comes from (`session_hash`) is still live, its user still exists and is not
    /// disabled, its client still exists and, for a code that rests on the user's
    /// consent (`consent`: its scopes and resources, as [`crate::ConsentRow`] keeps
    /// them), that consent is still there: a session ended by a change to its user, a
    /// client removed or a consent withdrawn (each of which waits for this
    /// transaction, or is seen by it) never yields a code. Returns whether it was stored.
    ///
    /// On PostgreSQL this is one statement (one round trip, no `BEGIN`/`COMMIT`): it
    /// share-locks the user's row and the session's, and checks one against the other.
    /// A change of credentials, a disabling or a removal updates the user's row first,
    /// so it either committed before (and this statement does not see the session, or
    /// sees the user disabled or gone) or this statement waits for it and then re-reads
    /// the user's row: the session's `user_generation` no longer matches the moved-on
    /// generation, or the user is disabled or gone. A sign-out deletes the session's row
    /// first (see [`Store::end_session`]): this statement waits for it and finds no
    /// session, or the sign-out waits for this one and then revokes its grant. The
    /// user's row is locked before the session's, the order a change to the user takes
    /// them in, so the two never wait for each other. On SQLite the writer runs one
    /// transaction at a time, so the two statements cannot interleave with a change.
    pub async fn insert_code(
        &self,
        c: &CodeRow,
        g: &GrantRow,
        session_hash: &[u8],
        consent: Option<(&str, &str)>,
    ) -> StoreResult<bool> {
        let _t = self.timer("insert_code");
        let code_args = [
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
        let grant_args = [
            Arg::Text(&g.env_id),
            Arg::Text(&g.id),
            Arg::Text(&g.client_id),
            Arg::OptText(g.sid.as_deref()),
            Arg::Int(g.created_at),
            Arg::Int(g.expires_at),
            Arg::Blob(session_hash),
        ];
        let (scopes, resources) = consent.unzip();
        if self.backend() == Backend::Postgres {
            let mut args: Vec<_> = code_args.into_iter().chain(grant_args).collect();
            let sql = match consent {
                None => INSERT_CODE_POSTGRES,
                Some((scopes, resources)) => {
                    args.extend([Arg::Text(scopes), Arg::Text(resources)]);
                    INSERT_CODE_WITH_CONSENT_POSTGRES
                }
            };
            return Ok(self.execute(sql, &args).await? == 1);
        }
        let code_sql = format!(
            "INSERT INTO codes ({CODE_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
             WHERE EXISTS (SELECT 1 FROM grants g WHERE g.env_id = $2 AND g.id = $5)"
        );
        let [env_id, id, client_id, sid, created_at, expires_at, session] = grant_args;
        let grant_args = vec![
            env_id,
            id,
            client_id,
            Arg::Text(&c.user_id),
            sid,
            created_at,
            expires_at,
            session,
            Arg::OptText(scopes),
            Arg::OptText(resources),
        ];
        let changed = self
            .execute_all(&[
                (
                    "INSERT INTO grants (env_id, id, client_id, user_id, sid, created_at, expires_at) \
                     SELECT $1, $2, $3, $4, $5, $6, $7 \
                     WHERE EXISTS (SELECT 1 FROM users u WHERE u.env_id = $1 AND u.id = $4 AND u.disabled_at IS NULL) \
                     AND EXISTS (SELECT 1 FROM sessions s WHERE s.id_hash = $8 AND s.env_id = $1 AND s.user_id = $4) \
                     AND EXISTS (SELECT 1 FROM clients c WHERE c.env_id = $1 AND c.client_id = $3) \
                     AND ($9 IS NULL OR EXISTS (SELECT 1 FROM consents k WHERE k.env_id = $1 AND k.user_id = $4 \
                     AND k.client_id = $3 AND k.scopes = $9 AND k.resources = $10))",
                    grant_args,
                ),
                (code_sql.as_str(), code_args.to_vec()),
            ])
            .await?;
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
        let (sql, args) = consume_code_statement(env_id, code_hash, client_id, now);
        self.fetch_optional(&sql, &args).await
    }

    /// [`Store::consume_code`] for a request that carries a single-use jti (a DPoP
    /// proof's): first the jti's first use is recorded (as
    /// [`Store::first_use_of_jti`]), and only if it was the first is the code consumed.
    /// `None` when the jti was used before (the code is left as it was). On SQLite the
    /// two are one request to the writer.
    pub async fn consume_code_with_jti(
        &self,
        env_id: &str,
        code_hash: &[u8],
        client_id: &str,
        now: i64,
        jti: (&[u8], i64),
    ) -> StoreResult<Option<Option<CodeRow>>> {
        let _t = self.timer("consume_code_with_jti");
        let (sql, args) = consume_code_statement(env_id, code_hash, client_id, now);
        let jti_args = [Arg::Blob(jti.0), Arg::Int(jti.1)];
        self.execute_then_fetch_optional((crate::jtis::INSERT_JTI, &jti_args), (&sql, &args))
            .await
    }

    /// A code by hash, used or not (to tell a replay from a bad code).
    pub async fn get_code(&self, env_id: &str, code_hash: &[u8]) -> StoreResult<Option<CodeRow>> {
        let _t = self.timer("get_code");
        let sql = format!("SELECT {CODE_COLUMNS} FROM codes WHERE code_hash = $1 AND env_id = $2");
        self.fetch_optional(&sql, &[Arg::Blob(code_hash), Arg::Text(env_id)])
            .await
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection as _;

    /// The statements that look a grant up for a code or a token, under PostgreSQL's
    /// generic plan (which a prepared statement is given after five runs, planned with
    /// whatever statistics the tables had): the grant is found by its key, never by
    /// reading the environment's grants. A fresh database, never analysed, is where the
    /// `NOT EXISTS` form was planned as a scan.
    #[tokio::test]
    async fn postgres_generic_plans_find_the_grant_by_its_key() {
        let Some(admin) = std::env::var("PIXIE_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
            eprintln!("SKIPPED: PostgreSQL (set PIXIE_TEST_DATABASE_URL)");
            return;
        };
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        let name = format!("pixie_plan_{}", std::process::id());
        sqlx::Executor::execute(&mut conn, format!("DROP DATABASE IF EXISTS {name}").as_str())
            .await
            .unwrap();
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        drop(crate::Store::connect(&url).await.unwrap());
        let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::Executor::execute(&mut db, "SET plan_cache_mode = force_generic_plan")
            .await
            .unwrap();
        let statements = [
            (super::consume_code_sql(), "(1, '\\x00', 'e', 'c')"),
            (crate::tokens::REVOKE_IF_GRANT_REVOKED.to_owned(), "('t', 'e', 1)"),
        ];
        for (n, (sql, args)) in statements.iter().enumerate() {
            sqlx::Executor::execute(&mut db, format!("PREPARE p{n} AS {sql}").as_str())
                .await
                .unwrap();
            let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN EXECUTE p{n}{args}"))
                .fetch_all(&mut db)
                .await
                .unwrap();
            let plan = plan.join("\n");
            assert!(plan.contains("grants_pkey"), "{plan}");
            assert!(!plan.contains("Scan on grants"), "{plan}");
        }
    }
}
