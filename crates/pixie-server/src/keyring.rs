//! The signing keys of every environment: sealed in the store by the master key,
//! opened once and kept.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use pixie_core::client::SigningAlg;
use pixie_store::{KeyRow, Store};

use crate::crypto::MasterKey;
use crate::error::{ApiError, ApiResult};
use crate::keys::{EnvKeys, KeyError, SigningKey};
use crate::service::StartupError;

/// Opened signing keys, by environment.
pub struct KeyRing {
    store: Store,
    master: MasterKey,
    keys: RwLock<HashMap<String, Arc<EnvKeys>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").finish_non_exhaustive()
    }
}

impl KeyRing {
    /// A key ring over the store's sealed keys.
    pub fn new(store: Store, master: MasterKey) -> Self {
        Self {
            store,
            master,
            keys: RwLock::default(),
        }
    }

    /// The master key, for what else every instance must seal and open alike (DPoP
    /// nonces).
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The signing keys of an environment, opened once and kept.
    pub async fn env_keys(&self, env_id: &str) -> ApiResult<Arc<EnvKeys>> {
        if let Some(k) = self.keys.read().map_err(ApiError::internal)?.get(env_id) {
            return Ok(k.clone());
        }
        let keys = self.load(env_id).await.map_err(|e| match e {
            // The store is down: 503, as for any other store call, never a 500.
            StartupError::Store(e) => ApiError::from(e),
            e => ApiError::internal(e),
        })?;
        self.keep(env_id, keys.clone());
        Ok(keys)
    }

    fn keep(&self, env_id: &str, keys: Arc<EnvKeys>) {
        if let Ok(mut map) = self.keys.write() {
            map.insert(env_id.to_owned(), keys);
        }
    }

    async fn load(&self, env_id: &str) -> Result<Arc<EnvKeys>, StartupError> {
        let rows = self.store.list_keys(env_id).await?;
        let keys = rows
            .iter()
            .map(|r| SigningKey::open(&self.master, r).map(|k| (k, r.created_at)))
            .collect::<Result<Vec<_>, _>>()?;
        EnvKeys::from_keys(keys)
            .map(Arc::new)
            .ok_or_else(|| StartupError::MissingKeys(env_id.to_owned()))
    }

    /// Opens every environment's keys: fails clearly when the master key is wrong.
    pub async fn load_all(&self) -> Result<(), StartupError> {
        for env_id in self.store.list_environment_ids().await? {
            let keys = self.load(&env_id).await?;
            self.keep(&env_id, keys);
        }
        Ok(())
    }

    /// Fresh RS256 and ES256 keys for a new environment, sealed for the store; call
    /// [`KeyRing::adopt`] once they are stored.
    pub async fn generate(&self, env_id: &str, now: i64) -> ApiResult<(Vec<KeyRow>, EnvKeys)> {
        // RSA key generation takes tens of milliseconds: keep it off the async workers.
        let generated = tokio::task::spawn_blocking(|| {
            [SigningAlg::RS256, SigningAlg::ES256]
                .into_iter()
                .map(SigningKey::generate)
                .collect::<Result<Vec<_>, KeyError>>()
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        let rows = generated
            .iter()
            .map(|(k, pkcs8)| k.seal(&self.master, env_id, pkcs8, now))
            .collect();
        let keys =
            EnvKeys::from_keys(generated.into_iter().map(|(k, _)| (k, now)).collect()).ok_or(ApiError::Internal)?;
        Ok((rows, keys))
    }

    /// Keeps the keys of an environment just stored.
    pub fn adopt(&self, env_id: &str, keys: EnvKeys) {
        self.keep(env_id, Arc::new(keys));
    }
}
