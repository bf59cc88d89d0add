//! Environments (tenants) and the signing keys they are created with.

use crate::exec::{col, Arg, Columns, FromRow};
use crate::records::{self, EnvironmentRow, KeyRow};
use crate::{storable, Store, StoreError, StoreResult};

/// An environment id, read alone.
struct EnvironmentId(String);

impl FromRow for EnvironmentId {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        col(r, "id").map(Self)
    }
}

impl Store {
    /// Creates an environment and its signing keys in one transaction.
    pub async fn insert_environment(&self, env: &EnvironmentRow, keys: &[KeyRow]) -> StoreResult<()> {
        let _t = self.timer("insert_environment");
        let (pkce, settings) = (records::to_json(&env.pkce), records::to_json(&env.settings));
        let mut statements = vec![(
            "INSERT INTO environments (id, pkce_policy, settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
            vec![
                Arg::Text(&env.id),
                Arg::Text(&pkce),
                Arg::Text(&settings),
                Arg::Int(env.created_at),
            ],
        )];
        for key in keys {
            statements.push((
                "INSERT INTO signing_keys (env_id, kid, alg, private_enc, public_jwk, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                vec![
                    Arg::Text(&key.env_id),
                    Arg::Text(&key.kid),
                    Arg::Text(&key.alg),
                    Arg::Blob(&key.private_enc),
                    Arg::Text(&key.public_jwk),
                    Arg::Int(key.created_at),
                ],
            ));
        }
        // A key id is a thumbprint of a fresh key: only the environment id can collide.
        self.execute_all(&statements)
            .await
            .map_err(|e| e.conflict_or("environment"))?;
        Ok(())
    }

    /// An environment by id.
    pub async fn get_environment(&self, id: &str) -> StoreResult<Option<EnvironmentRow>> {
        let _t = self.timer("get_environment");
        if !storable(&[id]) {
            return Ok(None);
        }
        self.fetch_optional(
            "SELECT id, pkce_policy, settings, created_at FROM environments WHERE id = $1",
            &[Arg::Text(id)],
        )
        .await
    }

    /// Every environment id, sorted.
    pub async fn list_environment_ids(&self) -> StoreResult<Vec<String>> {
        let _t = self.timer("list_environment_ids");
        let ids: Vec<EnvironmentId> = self.fetch_all("SELECT id FROM environments ORDER BY id", &[]).await?;
        Ok(ids.into_iter().map(|i| i.0).collect())
    }

    /// Up to `limit` environments after `after` (an id), by id.
    pub async fn list_environments(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<EnvironmentRow>> {
        let _t = self.timer("list_environments");
        if !storable(&[after.unwrap_or_default()]) {
            return Ok(Vec::new());
        }
        self.fetch_all(
            "SELECT id, pkce_policy, settings, created_at FROM environments WHERE id > $1 ORDER BY id LIMIT $2",
            &[Arg::Text(after.unwrap_or_default()), Arg::Int(limit)],
        )
        .await
    }

    /// Removes an environment and everything of it (clients, users, keys, flows,
    /// sessions, codes, grants, tokens, revocations, consents, resources, pushed
    /// requests, PKCE statistics) in one transaction. `NotFound` if there was none.
    pub async fn delete_environment(&self, id: &str) -> StoreResult<()> {
        let _t = self.timer("delete_environment");
        if !storable(&[id]) {
            return Err(StoreError::NotFound);
        }
        // Children first, so the statements hold with or without foreign keys; the
        // environment's row goes last (and its count says whether it existed). On
        // PostgreSQL the first statement locks that row, so that nothing is added to the
        // environment meanwhile (a row added refers to it, and waits, then fails).
        const TABLES: [&str; 13] = [
            "pushed_requests",
            "consents",
            "codes",
            "tokens",
            "grants",
            "sessions",
            "flows",
            "revocations",
            "pkce_stats",
            "resources",
            "signing_keys",
            "users",
            "clients",
        ];
        let deletes: Vec<String> = TABLES
            .iter()
            .map(|t| format!("DELETE FROM {t} WHERE env_id = $1"))
            .collect();
        let mut statements = Vec::new();
        if self.backend() == crate::Backend::Postgres {
            statements.push((
                "SELECT 1 FROM environments WHERE id = $1 FOR UPDATE",
                vec![Arg::Text(id)],
            ));
        }
        statements.extend(deletes.iter().map(|sql| (sql.as_str(), vec![Arg::Text(id)])));
        statements.push(("DELETE FROM environments WHERE id = $1", vec![Arg::Text(id)]));
        let changed = self.execute_all(&statements).await?;
        if changed.last() != Some(&1) {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Replaces an environment's PKCE policy and settings.
    pub async fn update_environment(&self, env: &EnvironmentRow, now: i64) -> StoreResult<()> {
        let _t = self.timer("update_environment");
        let (pkce, settings) = (records::to_json(&env.pkce), records::to_json(&env.settings));
        let changed = self
            .execute(
                "UPDATE environments SET pkce_policy = $1, settings = $2, updated_at = $3 WHERE id = $4",
                &[
                    Arg::Text(&pkce),
                    Arg::Text(&settings),
                    Arg::Int(now),
                    Arg::Text(&env.id),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Adds a signing key to an environment (a rotation).
    pub async fn insert_key(&self, key: &KeyRow) -> StoreResult<()> {
        let _t = self.timer("insert_key");
        self.execute(
            "INSERT INTO signing_keys (env_id, kid, alg, private_enc, public_jwk, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                Arg::Text(&key.env_id),
                Arg::Text(&key.kid),
                Arg::Text(&key.alg),
                Arg::Blob(&key.private_enc),
                Arg::Text(&key.public_jwk),
                Arg::Int(key.created_at),
            ],
        )
        .await
        .map_err(|e| e.conflict_or("signing key"))?;
        Ok(())
    }

    /// Adds a signing key of `key.alg` only if the environment has none of that
    /// algorithm made after `due_before` (a scheduled rotation): of instances that find
    /// a rotation due at the same time, one rotates. Returns whether it was added.
    pub async fn insert_key_if_due(&self, key: &KeyRow, due_before: i64) -> StoreResult<bool> {
        let _t = self.timer("insert_key_if_due");
        let mut statements = Vec::new();
        if self.backend() == crate::Backend::Postgres {
            // Rotations of one environment wait for each other here, so the second sees
            // the first one's key.
            statements.push((
                "SELECT 1 FROM environments WHERE id = $1 FOR UPDATE",
                vec![Arg::Text(&key.env_id)],
            ));
        }
        statements.push((
            "INSERT INTO signing_keys (env_id, kid, alg, private_enc, public_jwk, created_at) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM signing_keys k \
             WHERE k.env_id = $1 AND k.alg = $3 AND k.created_at > $7)",
            vec![
                Arg::Text(&key.env_id),
                Arg::Text(&key.kid),
                Arg::Text(&key.alg),
                Arg::Blob(&key.private_enc),
                Arg::Text(&key.public_jwk),
                Arg::Int(key.created_at),
                Arg::Int(due_before),
            ],
        ));
        let changed = self.execute_all(&statements).await?;
        Ok(changed.last() == Some(&1))
    }

    /// An environment's signing keys, oldest first.
    pub async fn list_keys(&self, env_id: &str) -> StoreResult<Vec<KeyRow>> {
        let _t = self.timer("list_keys");
        self.fetch_all(
            "SELECT env_id, kid, alg, private_enc, public_jwk, created_at FROM signing_keys \
             WHERE env_id = $1 ORDER BY created_at, kid",
            &[Arg::Text(env_id)],
        )
        .await
    }
}
