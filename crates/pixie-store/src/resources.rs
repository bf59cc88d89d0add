//! Resource servers of an environment (RFC 8707), with the scopes they define.

use crate::exec::{col, Arg, Columns, FromRow};
use crate::{storable, Store, StoreError, StoreResult};

/// A registered resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRow {
    /// Its environment.
    pub env_id: String,
    /// The resource URI (the `resource` parameter's value, and the tokens' `aud`).
    pub uri: String,
    /// A name for people.
    pub name: Option<String>,
    /// The scopes it defines.
    pub scopes: Vec<String>,
    /// When it was registered.
    pub created_at: i64,
}

impl FromRow for ResourceRow {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        let scopes: String = col(r, "scopes")?;
        Ok(Self {
            env_id: col(r, "env_id")?,
            uri: col(r, "uri")?,
            name: col(r, "name")?,
            scopes: serde_json::from_str(&scopes).map_err(|e| StoreError::Corrupt(format!("scopes: {e}")))?,
            created_at: col(r, "created_at")?,
        })
    }
}

impl Store {
    /// Registers a resource server; `Conflict("resource")` when its URI is taken.
    pub async fn insert_resource(&self, r: &ResourceRow) -> StoreResult<()> {
        let _t = self.timer("insert_resource");
        let scopes = serde_json::to_string(&r.scopes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.execute(
            "INSERT INTO resources (env_id, uri, name, scopes, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[
                Arg::Text(&r.env_id),
                Arg::Text(&r.uri),
                Arg::OptText(r.name.as_deref()),
                Arg::Text(&scopes),
                Arg::Int(r.created_at),
            ],
        )
        .await
        .map_err(|e| e.conflict_or("resource"))?;
        Ok(())
    }

    /// An environment's resource servers, by URI.
    pub async fn list_resources(&self, env_id: &str) -> StoreResult<Vec<ResourceRow>> {
        let _t = self.timer("list_resources");
        self.fetch_all(
            "SELECT env_id, uri, name, scopes, created_at FROM resources WHERE env_id = $1 ORDER BY uri",
            &[Arg::Text(env_id)],
        )
        .await
    }

    /// Removes a resource server; `NotFound` if there was none.
    pub async fn delete_resource(&self, env_id: &str, uri: &str) -> StoreResult<()> {
        let _t = self.timer("delete_resource");
        if !storable(&[env_id, uri]) {
            return Err(StoreError::NotFound);
        }
        let changed = self
            .execute(
                "DELETE FROM resources WHERE env_id = $1 AND uri = $2",
                &[Arg::Text(env_id), Arg::Text(uri)],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
