//! Consents: a user's approval of a client, remembered per client × scopes × resources.

use pixie_core::lifetimes::MAX_ACCESS_TOKEN;

use crate::exec::{col, Arg, Columns, FromRow};
use crate::{storable, Store, StoreError, StoreResult};

/// A remembered consent. Scopes and resources are sorted and space-joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    /// Its environment.
    pub env_id: String,
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// The scopes approved, sorted, space-joined.
    pub scopes: String,
    /// The resources approved, sorted, space-joined.
    pub resources: String,
    /// When.
    pub created_at: i64,
}

impl FromRow for ConsentRow {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self {
            env_id: col(r, "env_id")?,
            user_id: col(r, "user_id")?,
            client_id: col(r, "client_id")?,
            scopes: col(r, "scopes")?,
            resources: col(r, "resources")?,
            created_at: col(r, "created_at")?,
        })
    }
}

pub(crate) const CONSENT_COLUMNS: &str = "env_id, user_id, client_id, scopes, resources, created_at";

impl Store {
    /// Remembers a consent (recording it twice keeps the first).
    pub async fn insert_consent(&self, c: &ConsentRow) -> StoreResult<()> {
        let _t = self.timer("insert_consent");
        self.execute(
            &format!(
                "INSERT INTO consents ({CONSENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (env_id, user_id, client_id, scopes, resources) DO NOTHING"
            ),
            &[
                Arg::Text(&c.env_id),
                Arg::Text(&c.user_id),
                Arg::Text(&c.client_id),
                Arg::Text(&c.scopes),
                Arg::Text(&c.resources),
                Arg::Int(c.created_at),
            ],
        )
        .await?;
        Ok(())
    }

    /// Whether the user consented to exactly these scopes and resources for the client.
    pub async fn has_consent(
        &self,
        env_id: &str,
        user_id: &str,
        client_id: &str,
        scopes: &str,
        resources: &str,
    ) -> StoreResult<bool> {
        let _t = self.timer("has_consent");
        let found: Option<ConsentRow> = self
            .fetch_optional(
                &format!(
                    "SELECT {CONSENT_COLUMNS} FROM consents WHERE env_id = $1 AND user_id = $2 AND client_id = $3 \
                     AND scopes = $4 AND resources = $5"
                ),
                &[
                    Arg::Text(env_id),
                    Arg::Text(user_id),
                    Arg::Text(client_id),
                    Arg::Text(scopes),
                    Arg::Text(resources),
                ],
            )
            .await?;
        Ok(found.is_some())
    }

    /// A user's consents, by client.
    pub async fn list_consents(&self, env_id: &str, user_id: &str) -> StoreResult<Vec<ConsentRow>> {
        let _t = self.timer("list_consents");
        if !storable(&[env_id, user_id]) {
            return Ok(Vec::new());
        }
        self.fetch_all(
            &format!(
                "SELECT {CONSENT_COLUMNS} FROM consents WHERE env_id = $1 AND user_id = $2 \
                 ORDER BY client_id, scopes, resources"
            ),
            &[Arg::Text(env_id), Arg::Text(user_id)],
        )
        .await
    }

    /// Withdraws a user's consents to a client and revokes everything the client holds
    /// for the user (its grants, so codes not yet exchanged, refresh tokens, and access
    /// tokens through a revocation of each grant). `NotFound` when there was no consent.
    pub async fn delete_consents(&self, env_id: &str, user_id: &str, client_id: &str, now: i64) -> StoreResult<()> {
        let _t = self.timer("delete_consents");
        if !storable(&[env_id, user_id, client_id]) {
            return Err(StoreError::NotFound);
        }
        let key = || vec![Arg::Text(env_id), Arg::Text(user_id), Arg::Text(client_id)];
        let mut with_now = key();
        with_now.push(Arg::Int(now));
        let mut with_until = key();
        with_until.push(Arg::Int(now + MAX_ACCESS_TOKEN));
        let changed = self
            .execute_all(&[
                (
                    "DELETE FROM consents WHERE env_id = $1 AND user_id = $2 AND client_id = $3",
                    key(),
                ),
                // Grants, tokens, then revocations: the order every writer keeps (see
                // `end_everything_of` in users.rs).
                (
                    "UPDATE grants SET revoked_at = $4 WHERE env_id = $1 AND user_id = $2 AND client_id = $3 \
                     AND revoked_at IS NULL",
                    with_now.clone(),
                ),
                (
                    "UPDATE tokens SET revoked_at = $4 WHERE env_id = $1 AND user_id = $2 AND client_id = $3 \
                     AND revoked_at IS NULL",
                    with_now,
                ),
                (
                    "INSERT INTO revocations (what, env_id, expires_at) \
                     SELECT 'grant:' || id, env_id, $4 FROM grants \
                     WHERE env_id = $1 AND user_id = $2 AND client_id = $3 ON CONFLICT (what) DO NOTHING",
                    with_until,
                ),
            ])
            .await?;
        if changed[0] == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
