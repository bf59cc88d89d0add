//! Who exists: environments, clients and users, read through short-lived caches that
//! ignore reads begun before a removal (see [`crate::cache`]).

use std::sync::Arc;

use pixie_store::{ClientRow, EnvironmentRow, ResourceRow, Store, UserRow};

use crate::cache::TtlCache;
use crate::error::{ApiError, ApiResult};

/// Environments, clients and users, cached.
#[derive(Debug)]
pub struct Directory {
    store: Store,
    envs: TtlCache<String, EnvironmentRow>,
    clients: TtlCache<(String, String), ClientRow>,
    users: TtlCache<(String, String), Arc<UserRow>>,
    resources: TtlCache<String, Arc<Vec<ResourceRow>>>,
}

impl Directory {
    /// A directory over the store.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            envs: TtlCache::default(),
            clients: TtlCache::default(),
            users: TtlCache::default(),
            resources: TtlCache::default(),
        }
    }

    /// An environment, or 404.
    pub async fn environment(&self, env_id: &str) -> ApiResult<EnvironmentRow> {
        if let Some(env) = self.envs.get(&env_id.to_owned()) {
            return Ok(env);
        }
        let started = std::time::Instant::now();
        let env = self
            .store
            .get_environment(env_id)
            .await?
            .ok_or_else(|| ApiError::UnknownEnvironment(crate::error::shown_id(env_id)))?;
        self.envs.insert_read_since(env_id.to_owned(), env.clone(), started);
        Ok(env)
    }

    /// The resource servers of an environment (RFC 8707), by URI.
    pub async fn resources(&self, env_id: &str) -> ApiResult<Arc<Vec<ResourceRow>>> {
        if let Some(r) = self.resources.get(&env_id.to_owned()) {
            return Ok(r);
        }
        let started = std::time::Instant::now();
        let found = Arc::new(self.store.list_resources(env_id).await?);
        self.resources
            .insert_read_since(env_id.to_owned(), found.clone(), started);
        Ok(found)
    }

    /// The scopes an environment offers (`scopes_supported`): the user scopes, then the
    /// scopes of its registered resource servers (CONTRACT §7), each once, in order.
    pub async fn scopes_supported(&self, env_id: &str) -> ApiResult<Vec<String>> {
        let mut scopes: Vec<String> = ["openid", "profile", "email", "offline_access"]
            .map(String::from)
            .to_vec();
        let resources = self.resources(env_id).await?;
        let mut seen: std::collections::BTreeSet<&str> = scopes.iter().map(String::as_str).collect();
        let mut more = Vec::new();
        for r in resources.iter() {
            for s in &r.scopes {
                if seen.insert(s.as_str()) {
                    more.push(s.clone());
                }
            }
        }
        scopes.extend(more);
        Ok(scopes)
    }

    /// Drops an environment's changed resource servers from the cache.
    pub fn forget_resources(&self, env_id: &str) {
        self.resources.remove(&env_id.to_owned());
    }

    /// Drops a removed environment, and every client and user (of any environment: it
    /// is rare), from the cache.
    pub fn forget_environment_and_its_members(&self, env_id: &str) {
        self.forget_environment(env_id);
        self.forget_resources(env_id);
        self.clients.clear();
        self.users.clear();
    }

    /// Drops a changed environment from the cache.
    pub fn forget_environment(&self, env_id: &str) {
        self.envs.remove(&env_id.to_owned());
    }

    /// A client row of an existing environment, or 404.
    pub async fn client(&self, env_id: &str, client_id: &str) -> ApiResult<ClientRow> {
        self.environment(env_id).await?;
        self.lookup_client(env_id, client_id)
            .await?
            .ok_or(ApiError::NotFound("application"))
    }

    /// A client, from the cache when fresh. Unknown ids are not cached (so junk cannot
    /// fill the cache), and they are not found in the store either. A client found is
    /// named on the request's trace span.
    pub async fn lookup_client(&self, env_id: &str, client_id: &str) -> ApiResult<Option<ClientRow>> {
        let key = (env_id.to_owned(), client_id.to_owned());
        if let Some(c) = self.clients.get(&key) {
            crate::telemetry::record_client(client_id);
            return Ok(Some(c));
        }
        let started = std::time::Instant::now();
        let found = self.store.get_client(env_id, client_id).await?;
        if let Some(c) = &found {
            crate::telemetry::record_client(client_id);
            self.clients.insert_read_since(key, c.clone(), started);
        }
        Ok(found)
    }

    /// Drops a changed or removed user from the cache.
    pub fn forget_user(&self, env_id: &str, user_id: &str) {
        self.users.remove(&(env_id.to_owned(), user_id.to_owned()));
    }

    /// Drops a changed or removed client from the cache.
    pub fn forget_client(&self, env_id: &str, client_id: &str) {
        self.clients.remove(&(env_id.to_owned(), client_id.to_owned()));
    }

    /// A user by id, from the cache when fresh: a change made at another instance shows
    /// within [`crate::cache::TTL`] (what a change revokes is revoked in the store at
    /// once; the cache only serves claims). Unknown ids are not cached.
    pub async fn lookup_user(&self, env_id: &str, user_id: &str) -> ApiResult<Option<Arc<UserRow>>> {
        let key = (env_id.to_owned(), user_id.to_owned());
        if let Some(u) = self.users.get(&key) {
            return Ok(Some(u));
        }
        let started = std::time::Instant::now();
        let found = self.store.get_user(env_id, user_id).await?.map(Arc::new);
        if let Some(u) = &found {
            self.users.insert_read_since(key, u.clone(), started);
        }
        Ok(found)
    }
}
