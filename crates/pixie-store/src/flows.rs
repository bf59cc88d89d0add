//! Sign-on flows: a pending authorization, bound to one browser by its flow cookie.
//!
//! Every "use once" step is one conditional UPDATE … RETURNING, so two concurrent
//! requests (or two instances on one PostgreSQL) can never both win.

use crate::consents::CONSENT_COLUMNS;
use crate::exec::{col, Arg, Columns, FromRow};
use crate::{ConsentRow, Store, StoreResult};

/// Where a sign-on flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStatus {
    /// Waiting for a username and password.
    UsernamePasswordRequired,
    /// Signed on; waiting for the user's consent to the client.
    ConsentRequired,
    /// Signed on (and consented, or consent refused: see `FlowRow::consent`); waiting
    /// for `/as/resume`.
    Completed,
    /// Resumed: a code was issued. A flow resumes once.
    Consumed,
}

impl FlowStatus {
    /// The wire (and stored) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsernamePasswordRequired => "USERNAME_PASSWORD_REQUIRED",
            Self::ConsentRequired => "CONSENT_REQUIRED",
            Self::Completed => "COMPLETED",
            Self::Consumed => "CONSUMED",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "CONSENT_REQUIRED" => Self::ConsentRequired,
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
    /// The user's consent decision (`approved` or `denied`), when one was asked.
    pub consent: Option<String>,
    /// The user's generation when they signed on (see [`crate::UserRow::generation`]).
    pub user_generation: i64,
}

const FLOW_COLUMNS: &str =
    "env_id, id, cookie_hash, client_id, request, status, user_id, auth_time, failures, created_at, expires_at, completed_via, consent, user_generation";

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
            consent: col(r, "consent")?,
            user_generation: col(r, "user_generation")?,
        })
    }
}

impl Store {
    /// Stores a new flow.
    pub async fn insert_flow(&self, f: &FlowRow) -> StoreResult<()> {
        let _t = self.timer("insert_flow");
        let sql = format!(
            "INSERT INTO flows ({FLOW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        let args = [
            Arg::Text(&f.env_id),
            Arg::Text(&f.id),
            Arg::Blob(&f.cookie_hash),
            Arg::Text(&f.client_id),
            Arg::Text(&f.request),
            Arg::Text(f.status.as_str()),
            Arg::OptText(f.user_id.as_deref()),
            Arg::OptInt(f.auth_time),
            Arg::Int(f.failures),
            Arg::Int(f.created_at),
            Arg::Int(f.expires_at),
            Arg::OptText(f.completed_via.as_deref()),
            Arg::OptText(f.consent.as_deref()),
            Arg::Int(f.user_generation),
        ];
        self.execute(&sql, &args).await?;
        Ok(())
    }

    /// A flow that has not expired.
    pub async fn get_flow(&self, env_id: &str, id: &str, now: i64) -> StoreResult<Option<FlowRow>> {
        let _t = self.timer("get_flow");
        if !crate::storable(&[env_id, id]) {
            return Ok(None);
        }
        let sql = format!("SELECT {FLOW_COLUMNS} FROM flows WHERE env_id = $1 AND id = $2 AND expires_at > $3");
        self.fetch_optional(&sql, &[Arg::Text(env_id), Arg::Text(id), Arg::Int(now)])
            .await
    }

    /// Marks a waiting flow signed on by `(user id, generation)`, `via` the page's form
    /// or the flows API. False if it was not waiting (or expired): of two racing sign-ons
    /// exactly one wins.
    pub async fn complete_flow(
        &self,
        env_id: &str,
        id: &str,
        (user_id, generation): (&str, i64),
        now: i64,
        via: &str,
    ) -> StoreResult<bool> {
        let _t = self.timer("complete_flow");
        let changed = self
            .execute(
                "UPDATE flows SET status = 'COMPLETED', user_id = $1, auth_time = $2, completed_via = $5, \
                 user_generation = $6 \
                 WHERE env_id = $3 AND id = $4 AND status = 'USERNAME_PASSWORD_REQUIRED' AND expires_at > $2",
                &[
                    Arg::Text(user_id),
                    Arg::Int(now),
                    Arg::Text(env_id),
                    Arg::Text(id),
                    Arg::Text(via),
                    Arg::Int(generation),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Marks a waiting flow signed on by `(user id, generation)` but waiting for
    /// consent, `via` the page or the flows API. False if it was not waiting (of two
    /// racing sign-ons one wins).
    pub async fn await_consent(
        &self,
        env_id: &str,
        id: &str,
        (user_id, generation): (&str, i64),
        auth_time: i64,
        now: i64,
        via: &str,
    ) -> StoreResult<bool> {
        let _t = self.timer("await_consent");
        let changed = self
            .execute(
                "UPDATE flows SET status = 'CONSENT_REQUIRED', user_id = $1, auth_time = $2, completed_via = $5, \
                 user_generation = $7 \
                 WHERE env_id = $3 AND id = $4 AND status = 'USERNAME_PASSWORD_REQUIRED' AND expires_at > $6",
                &[
                    Arg::Text(user_id),
                    Arg::Int(auth_time),
                    Arg::Text(env_id),
                    Arg::Text(id),
                    Arg::Text(via),
                    Arg::Int(now),
                    Arg::Int(generation),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Records the user's decision on a flow waiting for consent and completes it, and
    /// with an approval remembers the consent (`remember`), in one transaction. False if
    /// it was not waiting (decided already, or expired): one decision wins, and only
    /// the winner's approval is remembered (a losing approval raced by a winning denial
    /// leaves nothing). A resume of the completed flow, which stores a code only while
    /// its consent is there, sees the flow completed and the consent together.
    pub async fn decide_consent(
        &self,
        env_id: &str,
        id: &str,
        now: i64,
        remember: Option<&ConsentRow>,
    ) -> StoreResult<bool> {
        let _t = self.timer("decide_consent");
        let decision = if remember.is_some() { "approved" } else { "denied" };
        let mut statements = vec![(
            "UPDATE flows SET status = 'COMPLETED', consent = $1 \
             WHERE env_id = $2 AND id = $3 AND status = 'CONSENT_REQUIRED' AND expires_at > $4",
            vec![Arg::Text(decision), Arg::Text(env_id), Arg::Text(id), Arg::Int(now)],
        )];
        // Only if this transaction's decision completed the flow: the flow is then
        // completed with an approval by this user (a decision that lost changed nothing).
        let remember_sql = format!(
            "INSERT INTO consents ({CONSENT_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6 \
             WHERE EXISTS (SELECT 1 FROM flows WHERE env_id = $1 AND id = $7 \
             AND status = 'COMPLETED' AND consent = 'approved' AND user_id = $2) \
             ON CONFLICT (env_id, user_id, client_id, scopes, resources) DO NOTHING"
        );
        if let Some(c) = remember {
            statements.push((
                remember_sql.as_str(),
                vec![
                    Arg::Text(&c.env_id),
                    Arg::Text(&c.user_id),
                    Arg::Text(&c.client_id),
                    Arg::Text(&c.scopes),
                    Arg::Text(&c.resources),
                    Arg::Int(c.created_at),
                    Arg::Text(id),
                ],
            ));
        }
        let changed = self.execute_all(&statements).await?;
        Ok(changed[0] == 1)
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
        let sql = format!(
            "UPDATE flows SET status = 'CONSUMED' WHERE env_id = $1 AND id = $2 AND cookie_hash = $3 \
             AND status = 'COMPLETED' AND expires_at > $4 RETURNING {FLOW_COLUMNS}"
        );
        let args = [Arg::Text(env_id), Arg::Text(id), Arg::Blob(cookie_hash), Arg::Int(now)];
        self.fetch_optional(&sql, &args).await
    }
}
