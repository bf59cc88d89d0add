//! Registered clients (applications).

use crate::exec::Arg;
use crate::records::{self, ClientRow};
use crate::{storable, Store, StoreError, StoreResult};

/// An (environment, client id) pair, read.
struct ClientKey(String, String);

impl crate::exec::FromRow for ClientKey {
    fn from_row(r: &impl crate::exec::Columns) -> StoreResult<Self> {
        Ok(Self(crate::exec::col(r, "env_id")?, crate::exec::col(r, "client_id")?))
    }
}

impl Store {
    /// Registers a client.
    pub async fn insert_client(&self, c: &ClientRow) -> StoreResult<()> {
        self.insert_client_unused_until(c, None).await
    }

    /// Registers a client that is deleted at `unused_until` unless it completes a flow
    /// first (see [`Store::mark_client_used`]).
    pub async fn insert_client_unused_until(&self, c: &ClientRow, unused_until: Option<i64>) -> StoreResult<()> {
        let _t = self.timer("insert_client");
        let metadata = records::to_json(&c.metadata);
        self.execute(
            "INSERT INTO clients (env_id, client_id, secret_hash, metadata, created_at, updated_at, unused_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                Arg::Text(&c.env_id),
                Arg::Text(&c.client_id),
                Arg::OptBlob(c.secret_hash.as_deref()),
                Arg::Text(&metadata),
                Arg::Int(c.created_at),
                Arg::Int(c.updated_at),
                Arg::OptInt(unused_until),
            ],
        )
        .await
        .map_err(|e| e.conflict_or("client"))?;
        Ok(())
    }

    /// Stores (or refreshes) a client identified by its metadata document, fetched
    /// again after `c.document_expires_at`. A new one is deleted at `unused_until`
    /// unless it completes a flow; a refreshed one keeps its creation time and its
    /// standing. An id held by a client registered otherwise is never overwritten.
    pub async fn upsert_document_client(&self, c: &ClientRow, unused_until: i64) -> StoreResult<()> {
        let _t = self.timer("upsert_document_client");
        let metadata = records::to_json(&c.metadata);
        let changed = self
            .execute(
                "INSERT INTO clients (env_id, client_id, secret_hash, metadata, created_at, updated_at, unused_until, document_expires_at) \
                 VALUES ($1, $2, NULL, $3, $4, $4, $5, $6) \
                 ON CONFLICT (env_id, client_id) DO UPDATE \
                 SET metadata = excluded.metadata, updated_at = excluded.updated_at, document_expires_at = excluded.document_expires_at \
                 WHERE clients.document_expires_at IS NOT NULL",
                &[
                    Arg::Text(&c.env_id),
                    Arg::Text(&c.client_id),
                    Arg::Text(&metadata),
                    Arg::Int(c.updated_at),
                    Arg::Int(unused_until),
                    Arg::OptInt(c.document_expires_at),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::Conflict("client"));
        }
        Ok(())
    }

    /// Deletes the clients that registered themselves and did not complete a flow by
    /// their time; returns which (environment, client id), for caches to forget.
    pub async fn delete_unused_clients(&self, now: i64) -> StoreResult<Vec<(String, String)>> {
        let _t = self.timer("delete_unused_clients");
        let gone: Vec<ClientKey> = self
            .fetch_all(
                "DELETE FROM clients WHERE unused_until < $1 RETURNING env_id, client_id",
                &[Arg::Int(now)],
            )
            .await?;
        Ok(gone.into_iter().map(|k| (k.0, k.1)).collect())
    }

    /// The client completed a flow: it is kept (one write, the first time only).
    pub async fn mark_client_used(&self, env_id: &str, client_id: &str) -> StoreResult<()> {
        let _t = self.timer("mark_client_used");
        self.execute(
            "UPDATE clients SET unused_until = NULL WHERE env_id = $1 AND client_id = $2 AND unused_until IS NOT NULL",
            &[Arg::Text(env_id), Arg::Text(client_id)],
        )
        .await?;
        Ok(())
    }

    /// A client by environment and id.
    pub async fn get_client(&self, env_id: &str, client_id: &str) -> StoreResult<Option<ClientRow>> {
        let _t = self.timer("get_client");
        if !storable(&[env_id, client_id]) {
            return Ok(None);
        }
        self.fetch_optional(
            "SELECT env_id, client_id, secret_hash, metadata, created_at, updated_at, document_expires_at \
             FROM clients WHERE env_id = $1 AND client_id = $2",
            &[Arg::Text(env_id), Arg::Text(client_id)],
        )
        .await
    }

    /// Up to `limit` clients of an environment, oldest first, after `after` (the
    /// creation time and client id of the last one seen): a stable order.
    pub async fn list_clients(
        &self,
        env_id: &str,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<ClientRow>> {
        let _t = self.timer("list_clients");
        let (at, id) = after.unwrap_or((i64::MIN, ""));
        if !storable(&[env_id, id]) {
            return Ok(Vec::new());
        }
        self.fetch_all(
            "SELECT env_id, client_id, secret_hash, metadata, created_at, updated_at, document_expires_at \
             FROM clients WHERE env_id = $1 AND (created_at > $2 OR (created_at = $2 AND client_id > $3)) \
             ORDER BY created_at, client_id LIMIT $4",
            &[Arg::Text(env_id), Arg::Int(at), Arg::Text(id), Arg::Int(limit)],
        )
        .await
    }

    /// Replaces a client's secret (hash): the old one stops working. `NotFound` if
    /// there is no such client.
    pub async fn set_client_secret(
        &self,
        env_id: &str,
        client_id: &str,
        secret_hash: &[u8],
        now: i64,
    ) -> StoreResult<()> {
        let _t = self.timer("set_client_secret");
        let changed = self
            .execute(
                "UPDATE clients SET secret_hash = $1, updated_at = $2 WHERE env_id = $3 AND client_id = $4 \
                 AND secret_hash IS NOT NULL",
                &[
                    Arg::Blob(secret_hash),
                    Arg::Int(now),
                    Arg::Text(env_id),
                    Arg::Text(client_id),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Rewrites a client's secret hash and metadata.
    pub async fn update_client(&self, c: &ClientRow) -> StoreResult<()> {
        let _t = self.timer("update_client");
        let metadata = records::to_json(&c.metadata);
        let changed = self
            .execute(
                "UPDATE clients SET secret_hash = $1, metadata = $2, updated_at = $3 WHERE env_id = $4 AND client_id = $5",
                &[
                    Arg::OptBlob(c.secret_hash.as_deref()),
                    Arg::Text(&metadata),
                    Arg::Int(c.updated_at),
                    Arg::Text(&c.env_id),
                    Arg::Text(&c.client_id),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Removes a client and revokes everything issued to it: its grants (so codes not
    /// yet exchanged), its refresh tokens, and its access tokens through a revocation
    /// of each grant (which holds even if a client of the same id comes back, as a
    /// client identified by its metadata document does when it is fetched again); the
    /// users' consents to it go too. `NotFound` if there was none.
    pub async fn delete_client(&self, env_id: &str, client_id: &str, now: i64) -> StoreResult<()> {
        let _t = self.timer("delete_client");
        if !storable(&[env_id, client_id]) {
            return Err(StoreError::NotFound);
        }
        let args = || vec![Arg::Int(now), Arg::Text(env_id), Arg::Text(client_id)];
        let until = vec![
            Arg::Int(now + pixie_core::lifetimes::MAX_ACCESS_TOKEN),
            Arg::Text(env_id),
            Arg::Text(client_id),
        ];
        let changed = self
            .execute_all(&[
                (
                    "DELETE FROM clients WHERE env_id = $1 AND client_id = $2",
                    vec![Arg::Text(env_id), Arg::Text(client_id)],
                ),
                (
                    "DELETE FROM consents WHERE env_id = $1 AND client_id = $2",
                    vec![Arg::Text(env_id), Arg::Text(client_id)],
                ),
                // Grants, tokens, then revocations: the order every writer keeps (see
                // `end_everything_of` in users.rs).
                (
                    "UPDATE grants SET revoked_at = $1 WHERE env_id = $2 AND client_id = $3 AND revoked_at IS NULL",
                    args(),
                ),
                (
                    "UPDATE tokens SET revoked_at = $1 WHERE env_id = $2 AND client_id = $3 AND revoked_at IS NULL",
                    args(),
                ),
                (
                    "INSERT INTO revocations (what, env_id, expires_at) \
                     SELECT 'grant:' || id, env_id, $1 FROM grants \
                     WHERE env_id = $2 AND client_id = $3 ON CONFLICT (what) DO NOTHING",
                    until,
                ),
            ])
            .await?;
        if changed[0] == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
