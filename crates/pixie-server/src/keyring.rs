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

/// How long an instance keeps an environment's keys before reading them again, so a
/// key rotated at another instance signs here too within this bound (CONTRACT §9). A
/// token signed by a key this instance does not know yet reloads at once.
pub const KEYS_TTL: std::time::Duration = std::time::Duration::from_secs(30);
/// The least time between two reloads for an unknown `kid` (junk kids cannot make every
/// request read the store).
const UNKNOWN_KID_RELOAD: std::time::Duration = std::time::Duration::from_secs(2);

/// Opened signing keys, by environment, with when they were read.
pub struct KeyRing {
    store: Store,
    master: MasterKey,
    keys: RwLock<HashMap<String, (Arc<EnvKeys>, std::time::Instant)>>,
    /// When each environment was last reloaded for an unknown `kid`.
    unknown_kid_reloads: std::sync::Mutex<HashMap<String, std::time::Instant>>,
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
            unknown_kid_reloads: Default::default(),
        }
    }

    /// The master key, for what else every instance must seal and open alike (DPoP
    /// nonces).
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The signing keys of an environment, opened once and kept.
    pub async fn env_keys(&self, env_id: &str) -> ApiResult<Arc<EnvKeys>> {
        if let Some((k, at)) = self.keys.read().map_err(ApiError::internal)?.get(env_id) {
            if at.elapsed() < KEYS_TTL {
                return Ok(k.clone());
            }
        }
        self.reload(env_id).await
    }

    /// The keys read again for a `kid` not among them (rotated at another instance),
    /// unless an unknown `kid` made them read within the last [`UNKNOWN_KID_RELOAD`].
    pub async fn reload_for_unknown_kid(&self, env_id: &str) -> ApiResult<Arc<EnvKeys>> {
        let recent = {
            let mut last = self.unknown_kid_reloads.lock().map_err(ApiError::internal)?;
            let recent = last.get(env_id).is_some_and(|at| at.elapsed() < UNKNOWN_KID_RELOAD);
            if !recent {
                last.insert(env_id.to_owned(), std::time::Instant::now());
            }
            recent
        };
        match recent {
            true => self.env_keys(env_id).await,
            false => self.reload(env_id).await,
        }
    }

    async fn reload(&self, env_id: &str) -> ApiResult<Arc<EnvKeys>> {
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
            map.insert(env_id.to_owned(), (keys, std::time::Instant::now()));
        }
    }

    /// Makes a new key of `alg` for an environment, which signs from now on (CONTRACT
    /// §9); the previous one retires once every token it signed has expired.
    pub async fn rotate(&self, env_id: &str, alg: SigningAlg, now: i64) -> ApiResult<Arc<EnvKeys>> {
        let row = self.new_key(env_id, alg, now).await?;
        self.store.insert_key(&row).await?;
        self.reload(env_id).await
    }

    /// Rotates the key of `alg` if the newest one was made at or before `due_before`
    /// (a scheduled rotation); at most one of several instances doing this at once
    /// rotates. Returns the keys when this call rotated.
    pub async fn rotate_if_due(
        &self,
        env_id: &str,
        alg: SigningAlg,
        now: i64,
        due_before: i64,
    ) -> ApiResult<Option<Arc<EnvKeys>>> {
        let row = self.new_key(env_id, alg, now).await?;
        if !self.store.insert_key_if_due(&row, due_before).await? {
            return Ok(None);
        }
        self.reload(env_id).await.map(Some)
    }

    /// A fresh key of `alg`, sealed, dated after every key the environment has.
    async fn new_key(&self, env_id: &str, alg: SigningAlg, now: i64) -> ApiResult<KeyRow> {
        let (key, pkcs8) = tokio::task::spawn_blocking(move || SigningKey::generate(alg))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        // A rotation in the same second as the last would tie on created_at: the new key
        // is dated after every key of its algorithm, so it is the newest.
        let newest = self
            .store
            .list_keys(env_id)
            .await?
            .iter()
            .filter(|r| r.alg == alg.as_str())
            .map(|r| r.created_at)
            .max()
            .unwrap_or(now);
        Ok(key.seal(&self.master, env_id, &pkcs8, now.max(newest + 1)))
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

    /// Drops a removed environment's keys.
    pub fn forget(&self, env_id: &str) {
        if let Ok(mut map) = self.keys.write() {
            map.remove(env_id);
        }
    }

    /// Keeps the keys of an environment just stored.
    pub fn adopt(&self, env_id: &str, keys: EnvKeys) {
        self.keep(env_id, Arc::new(keys));
    }
}
