//! Registered clients (applications).

use crate::exec::Arg;
use crate::records::{self, ClientRow};
use crate::{storable, Store, StoreError, StoreResult};

impl Store {
    /// Registers a client.
    pub async fn insert_client(&self, c: &ClientRow) -> StoreResult<()> {
        let _t = self.timer("insert_client");
        let metadata = records::to_json(&c.metadata);
        self.execute(
            "INSERT INTO clients (env_id, client_id, secret_hash, metadata, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                Arg::Text(&c.env_id),
                Arg::Text(&c.client_id),
                Arg::OptBlob(c.secret_hash.as_deref()),
                Arg::Text(&metadata),
                Arg::Int(c.created_at),
                Arg::Int(c.updated_at),
            ],
        )
        .await
        .map_err(|e| e.conflict_or("client"))?;
        Ok(())
    }

    /// A client by environment and id.
    pub async fn get_client(&self, env_id: &str, client_id: &str) -> StoreResult<Option<ClientRow>> {
        let _t = self.timer("get_client");
        if !storable(&[env_id, client_id]) {
            return Ok(None);
        }
        self.fetch_optional(
            "SELECT env_id, client_id, secret_hash, metadata, created_at, updated_at \
             FROM clients WHERE env_id = $1 AND client_id = $2",
            &[Arg::Text(env_id), Arg::Text(client_id)],
        )
        .await
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

    /// Removes a client and revokes everything issued to it (its grants, so codes not
    /// yet exchanged, and its refresh tokens; its access tokens fail because their
    /// client is gone); `NotFound` if there was none.
    pub async fn delete_client(&self, env_id: &str, client_id: &str, now: i64) -> StoreResult<()> {
        let _t = self.timer("delete_client");
        if !storable(&[env_id, client_id]) {
            return Err(StoreError::NotFound);
        }
        let args = || vec![Arg::Int(now), Arg::Text(env_id), Arg::Text(client_id)];
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
                    vec![Arg::Text(env_id), Arg::Text(client_id)],
                ),
            ])
            .await?;
        if changed[2] == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
