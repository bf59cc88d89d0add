//! The operations behind the admin API and the store commands of the CLI: one place
//! that creates environments (with keys), applications and users, whoever asks.

use std::sync::Arc;

use pixie_core::client::{ClientMetadata, SigningAlg};
use pixie_core::wire::{self, Application, CreateEnvironment, PatchEnvironment};
use pixie_core::EnvPkcePolicy;
use pixie_store::{ClientRow, EnvironmentRow, Store, UserRow};

use crate::crypto::{self, MasterKey};
use crate::error::{ApiError, ApiResult};
use crate::keys::{EnvKeys, KeyError};

/// The environment created on first start.
pub const DEFAULT_ENV: &str = "default";

/// The most resource servers an environment may register (each is read on every
/// discovery request and authorization that names one).
pub const MAX_RESOURCES: usize = 100;

/// The longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = pixie_core::names::MAX_USERNAME_CHARS;

/// Env ids that would shadow a top-level route.
const RESERVED_ENV_IDS: &[&str] = &["admin", "console", "healthz", "metrics", "static", "well-known"];

/// Seconds since the epoch, UTC, from the system clock.
fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The server's one source of time: the system clock plus an offset that only moves
/// forward, so tests can let codes and tokens expire without sleeping.
#[derive(Debug, Default)]
pub struct Clock {
    offset: std::sync::atomic::AtomicI64,
}

impl Clock {
    /// Seconds since the epoch, UTC.
    pub fn now(&self) -> i64 {
        system_now() + self.offset.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves this clock forward (tests only: nothing in pixie calls it).
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs.max(0), std::sync::atomic::Ordering::Relaxed);
    }
}

/// Checks an environment id against `^[a-z0-9][a-z0-9-]{0,62}$` and the reserved names.
pub fn validate_env_id(id: &str) -> ApiResult<()> {
    let b = id.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    if !ok {
        // In words first; the pattern for those who want it.
        let why = if b.is_empty() {
            "it is empty".to_owned()
        } else if b.len() > 63 {
            format!("it is {} characters long, at most 63 are allowed", b.len())
        } else if b.iter().any(u8::is_ascii_uppercase) {
            format!("capital letters are not allowed (try '{}')", id.to_ascii_lowercase())
        } else if b[0] == b'-' {
            "it must start with a letter or digit".to_owned()
        } else {
            "only lowercase letters, digits and '-' are allowed".to_owned()
        };
        return Err(ApiError::invalid(format!(
            "id: {why} (an environment id matches ^[a-z0-9][a-z0-9-]{{0,62}}$)"
        )));
    }
    if RESERVED_ENV_IDS.contains(&id) {
        return Err(ApiError::invalid(format!("id: '{id}' is reserved")));
    }
    Ok(())
}

fn check_lifetimes(l: &pixie_core::lifetimes::Lifetimes) -> ApiResult<()> {
    l.validate().map_err(|e| ApiError::invalid(format!("lifetimes.{e}")))
}

fn check_metadata(metadata: &ClientMetadata, env: &EnvironmentRow) -> ApiResult<()> {
    pixie_core::profile::check_client(env.settings.profile, metadata).map_err(|description| ApiError::Invalid {
        code: pixie_core::ErrorCode::InvalidClientMetadata,
        description,
    })?;
    metadata.validate(&env.pkce).map_err(|e| ApiError::Invalid {
        code: e.code,
        description: e.to_string(),
    })?;
    metadata
        .lifetimes
        .validate(&env.settings.lifetimes)
        .map_err(|e| ApiError::Invalid {
            code: pixie_core::ErrorCode::InvalidClientMetadata,
            description: format!("lifetimes.{e}"),
        })
}

/// The environment's settings meet its profile (checked after any change).
fn check_profile(env: &EnvironmentRow) -> ApiResult<()> {
    pixie_core::profile::check_environment(env.settings.profile, &env.pkce, &env.settings.lifetimes)
        .map_err(ApiError::invalid)
}

fn check_policy(p: &EnvPkcePolicy) -> ApiResult<()> {
    p.validate()
        .map_err(|e| ApiError::invalid(format!("pkce.{}: {e}", e.field())))
}

/// Shared state of pixie's operations: the store, the master key and caches.
pub struct Service {
    /// The store.
    pub store: Store,
    /// The public base URL; issuers are `<public_url>/<env>`.
    pub public_url: String,
    /// Whether `public_url` was configured (then no request header can change it).
    pub public_url_configured: bool,
    /// Environments, clients and users.
    pub directory: Arc<crate::directory::Directory>,
    /// Signing keys.
    pub keys: Arc<crate::keyring::KeyRing>,
    /// Password checks.
    pub passwords: crate::passwords::Passwords,
    /// The clock every expiry is measured with.
    pub clock: Clock,
    /// Metrics, PKCE observations and the audit log.
    pub obs: Arc<crate::observe::Observability>,
    /// Fetches what clients point at (metadata documents, `jwks_uri`).
    pub fetcher: crate::fetch::Fetcher,
    /// Key sets fetched from clients' `jwks_uri`.
    pub jwks: Arc<crate::assertion::JwksCache>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Builds the service over a connected store.
    pub fn new(store: Store, master: MasterKey, public_url: &str) -> Self {
        Self {
            obs: Arc::new(crate::observe::Observability::without_audit(&store)),
            directory: Arc::new(crate::directory::Directory::new(store.clone())),
            keys: Arc::new(crate::keyring::KeyRing::new(store.clone(), master)),
            store,
            public_url: public_url.trim_end_matches('/').to_owned(),
            public_url_configured: true,
            passwords: Default::default(),
            clock: Clock::default(),
            fetcher: Default::default(),
            jwks: Default::default(),
        }
    }

    /// Seconds since the epoch, by [`Service::clock`].
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Deletes expired flows, sessions, codes and tokens in batches of `batch` rows,
    /// yielding between batches so requests are never held up. Returns rows deleted.
    pub async fn sweep_expired(&self, batch: i64) -> ApiResult<u64> {
        let mut total = 0;
        for table in pixie_store::SweepTable::ALL {
            loop {
                let n = self.store.sweep_batch(table, self.now(), batch).await?;
                total += n;
                if n < batch as u64 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        // Clients that registered themselves and never completed a flow (CONTRACT §7).
        let gone = self.store.delete_unused_clients(self.now()).await?;
        for (env_id, client_id) in &gone {
            self.directory.forget_client(env_id, client_id);
        }
        Ok(total + gone.len() as u64)
    }

    /// The PKCE readiness report of an environment over the last `days` days (pending
    /// observations are flushed first, so the report is current).
    pub async fn pkce_report(&self, env_id: &str, days: i64) -> ApiResult<pixie_core::report::Report> {
        let env = self.environment(env_id).await?;
        self.obs.flush(&self.store).await?;
        let since = self.now().div_euclid(86_400) - (days - 1);
        let rows = self.store.pkce_stats(env_id, since).await?;
        // Clients by the names operators gave them (a removed client keeps its id only).
        let mut names = std::collections::BTreeMap::new();
        for id in rows.iter().map(|r| &r.client_id) {
            if names.contains_key(id) {
                continue;
            }
            if let Some(c) = self.store.get_client(env_id, id).await? {
                names.insert(id.clone(), c.metadata.client_name);
            }
        }
        let ctx = pixie_core::report::ReportContext {
            names,
            policy: env.pkce,
        };
        Ok(pixie_core::report::build(env_id, days, &rows, &ctx))
    }

    /// The issuer identifier of an environment.
    pub fn issuer(&self, env_id: &str) -> String {
        format!("{}/{env_id}", self.public_url)
    }

    /// An environment, or 404.
    pub async fn environment(&self, env_id: &str) -> ApiResult<EnvironmentRow> {
        self.directory.environment(env_id).await
    }

    pub(crate) fn env_view(&self, env: &EnvironmentRow) -> wire::Environment {
        wire::Environment {
            id: env.id.clone(),
            issuer: self.issuer(&env.id),
            pkce: env.pkce,
            lifetimes: env.settings.lifetimes,
            registration: env.settings.registration,
            require_par: env.settings.require_par,
            dpop_nonce: env.settings.dpop_nonce,
            profile: env.settings.profile,
        }
    }

    /// Creates an environment with fresh RS256 and ES256 keys.
    pub async fn create_environment(&self, req: CreateEnvironment) -> ApiResult<wire::Environment> {
        validate_env_id(&req.id)?;
        check_policy(&req.pkce)?;
        check_lifetimes(&req.lifetimes)?;
        pixie_core::profile::check_environment(req.profile, &req.pkce, &req.lifetimes).map_err(ApiError::invalid)?;
        if self.store.get_environment(&req.id).await?.is_some() {
            return Err(ApiError::Conflict(format!("environment {}", req.id)));
        }
        let now = self.now();
        let (rows, keys) = self.keys.generate(&req.id, now).await?;
        let env = EnvironmentRow {
            id: req.id,
            pkce: req.pkce,
            settings: pixie_store::EnvSettings {
                registration: req.registration,
                lifetimes: req.lifetimes,
                require_par: req.require_par,
                dpop_nonce: req.dpop_nonce,
                profile: req.profile,
            },
            created_at: now,
        };
        self.store.insert_environment(&env, &rows).await.map_err(|e| match e {
            pixie_store::StoreError::Conflict(_) => ApiError::Conflict(format!("environment {}", env.id)),
            e => e.into(),
        })?;
        self.keys.adopt(&env.id, keys);
        Ok(self.env_view(&env))
    }

    /// The environments whose ids are reserved now but were not when they were made
    /// (`console` was reserved in session 8): the pages under those names answer
    /// before the environment's, so its issuer cannot be reached.
    pub async fn reserved_environments(&self) -> ApiResult<Vec<String>> {
        let ids = self.store.list_environment_ids().await?;
        Ok(ids
            .into_iter()
            .filter(|id| RESERVED_ENV_IDS.contains(&id.as_str()))
            .collect())
    }

    /// Creates the `default` environment with the strict policy if the store has none.
    pub async fn ensure_default_environment(&self) -> ApiResult<bool> {
        if !self.store.list_environment_ids().await?.is_empty() {
            return Ok(false);
        }
        let req = CreateEnvironment {
            registration: Default::default(),
            id: DEFAULT_ENV.into(),
            pkce: EnvPkcePolicy::strict(),
            lifetimes: Default::default(),
            require_par: false,
            dpop_nonce: false,
            profile: Default::default(),
        };
        match self.create_environment(req).await {
            Ok(_) => Ok(true),
            // Another instance (or CLI) created it first.
            Err(ApiError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// An environment as the admin API shows it.
    pub async fn get_environment(&self, env_id: &str) -> ApiResult<wire::Environment> {
        Ok(self.env_view(&self.environment(env_id).await?))
    }

    /// Replaces an environment's PKCE policy (fields left out take the strict defaults).
    pub async fn patch_environment(&self, env_id: &str, patch: PatchEnvironment) -> ApiResult<wire::Environment> {
        let mut env = self.environment(env_id).await?;
        if let Some(pkce) = patch.pkce {
            check_policy(&pkce)?;
            env.pkce = pkce;
        }
        if let Some(lifetimes) = patch.lifetimes {
            check_lifetimes(&lifetimes)?;
            env.settings.lifetimes = lifetimes;
        }
        if let Some(registration) = patch.registration {
            env.settings.registration = registration;
        }
        if let Some(require_par) = patch.require_par {
            env.settings.require_par = require_par;
        }
        if let Some(dpop_nonce) = patch.dpop_nonce {
            env.settings.dpop_nonce = dpop_nonce;
        }
        if let Some(profile) = patch.profile {
            env.settings.profile = profile;
        }
        check_profile(&env)?;
        self.store.update_environment(&env, self.now()).await?;
        self.directory.forget_environment(&env.id);
        Ok(self.env_view(&env))
    }

    /// The signing keys of an environment. Keys older than the environment belong to a
    /// removed one of the same id (kept by this instance while another removed and
    /// created it again): then they are read afresh.
    pub async fn env_keys(&self, env_id: &str) -> ApiResult<Arc<EnvKeys>> {
        let env = self.environment(env_id).await?;
        let keys = self.keys.env_keys(env_id).await?;
        if keys.all.iter().any(|k| k.created_at < env.created_at) {
            self.keys.forget(env_id);
            return self.keys.env_keys(env_id).await;
        }
        Ok(keys)
    }

    /// Opens every environment's keys: fails clearly when the master key is wrong.
    pub async fn load_all_keys(&self) -> Result<(), StartupError> {
        self.keys.load_all().await
    }

    /// Registers an application; the response carries its secret, once.
    pub async fn create_application(&self, env_id: &str, metadata: ClientMetadata) -> ApiResult<Application> {
        let env = self.environment(env_id).await?;
        check_metadata(&metadata, &env)?;
        let secret = metadata.has_secret().then(crypto::random_token::<32>);
        let now = self.now();
        let row = ClientRow {
            env_id: env.id,
            client_id: crypto::random_token::<16>(),
            secret_hash: secret.as_ref().map(|s| crypto::sha256(s.as_bytes()).to_vec()),
            metadata,
            created_at: now,
            updated_at: now,
            document_expires_at: None,
        };
        self.store.insert_client(&row).await?;
        Ok(app_view(row, secret))
    }

    /// An application, without its secret.
    pub async fn get_application(&self, env_id: &str, client_id: &str) -> ApiResult<Application> {
        Ok(app_view(self.client(env_id, client_id).await?, None))
    }

    /// A client row, or 404.
    pub async fn client(&self, env_id: &str, client_id: &str) -> ApiResult<ClientRow> {
        self.directory.client(env_id, client_id).await
    }

    /// A client the protocol serves, if it exists (see
    /// [`crate::directory::Directory::lookup_client`]). A client stored from its metadata
    /// document is served only while the environment accepts documents: turning them
    /// off stops its codes, tokens and refreshes at once.
    pub async fn lookup_client(&self, env_id: &str, client_id: &str) -> ApiResult<Option<ClientRow>> {
        let Some(client) = self.directory.lookup_client(env_id, client_id).await? else {
            return Ok(None);
        };
        if client.document_expires_at.is_some()
            && !self
                .environment(env_id)
                .await?
                .settings
                .registration
                .client_id_metadata_documents
        {
            return Ok(None);
        }
        Ok(Some(client))
    }

    /// A user by id, if it exists.
    pub async fn lookup_user(&self, env_id: &str, user_id: &str) -> ApiResult<Option<Arc<UserRow>>> {
        self.directory.lookup_user(env_id, user_id).await
    }

    /// Changes an application's metadata: the fields given replace the registered ones.
    /// A client that becomes confidential gets a secret, returned in this response only.
    pub async fn patch_application(
        &self,
        env_id: &str,
        client_id: &str,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> ApiResult<Application> {
        let env = self.environment(env_id).await?;
        let mut row = self.client(env_id, client_id).await?;
        let mut merged = match serde_json::to_value(&row.metadata) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Err(ApiError::Internal),
        };
        for (k, v) in patch {
            if v.is_null() {
                merged.remove(&k);
            } else {
                merged.insert(k, v);
            }
        }
        let metadata: ClientMetadata = crate::strict_json::from_json_value(serde_json::Value::Object(merged))?;
        check_metadata(&metadata, &env)?;
        let mut secret = None;
        if !metadata.has_secret() {
            row.secret_hash = None;
        } else if row.secret_hash.is_none() {
            let s = crypto::random_token::<32>();
            row.secret_hash = Some(crypto::sha256(s.as_bytes()).to_vec());
            secret = Some(s);
        }
        // A changed client's keys are read afresh (a key withdrawn from its set stops
        // working at once, not when the kept copy expires).
        for uri in [&row.metadata.jwks_uri, &metadata.jwks_uri].into_iter().flatten() {
            self.jwks.forget(uri);
        }
        row.metadata = metadata;
        row.updated_at = self.now();
        self.store.update_client(&row).await?;
        self.directory.forget_client(&row.env_id, &row.client_id);
        Ok(app_view(row, secret))
    }

    /// Removes an application.
    pub async fn delete_application(&self, env_id: &str, client_id: &str) -> ApiResult<()> {
        self.environment(env_id).await?;
        self.directory.forget_client(env_id, client_id);
        let deleted = self
            .store
            .delete_client(env_id, client_id, self.now())
            .await
            .map_err(|e| match e {
                pixie_store::StoreError::NotFound => ApiError::NotFound("application"),
                e => e.into(),
            });
        // Again after the commit: a request that read the client meanwhile must not
        // have put it back in the cache for another second.
        self.directory.forget_client(env_id, client_id);
        deleted
    }
}

impl Service {
    /// Registers a resource server (RFC 8707) in an environment.
    pub async fn create_resource(&self, env_id: &str, req: wire::CreateResource) -> ApiResult<wire::Resource> {
        self.environment(env_id).await?;
        pixie_core::resource::validate_resource_uri(&req.uri).map_err(|e| ApiError::invalid(format!("uri: {e}")))?;
        if req.scopes.len() > 64 {
            return Err(ApiError::invalid("scopes: at most 64"));
        }
        for (i, scope) in req.scopes.iter().enumerate() {
            // RFC 6749 §3.3: scope tokens are printable ASCII but space, `"` and `\`.
            let ok = (1..=128).contains(&scope.len())
                && scope
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
            if !ok {
                return Err(ApiError::invalid(format!(
                    "scopes[{i}]: 1-128 printable ASCII characters, no space, quote or backslash"
                )));
            }
        }
        if req
            .name
            .as_ref()
            .is_some_and(|n| n.chars().count() > 256 || !pixie_core::names::shows_as_written(n))
        {
            return Err(ApiError::invalid(
                "name: at most 256 characters, no control, invisible or direction-changing characters",
            ));
        }
        if self.store.list_resources(env_id).await?.len() >= MAX_RESOURCES {
            return Err(ApiError::invalid(format!(
                "an environment has at most {MAX_RESOURCES} resource servers"
            )));
        }
        let mut scopes = req.scopes;
        scopes.dedup();
        let row = pixie_store::ResourceRow {
            env_id: env_id.to_owned(),
            uri: req.uri,
            name: req.name,
            scopes,
            created_at: self.now(),
        };
        self.store.insert_resource(&row).await.map_err(|e| match e {
            pixie_store::StoreError::Conflict(_) => ApiError::Conflict(format!("resource {}", row.uri)),
            e => e.into(),
        })?;
        self.directory.forget_resources(env_id);
        Ok(resource_view(&row))
    }

    /// An environment's signing keys, newest first by algorithm, with their status.
    pub async fn list_signing_keys(
        &self,
        env_id: &str,
        limit: Option<&str>,
        after: Option<&str>,
    ) -> ApiResult<wire::ListPage<wire::SigningKeyInfo>> {
        let keys = self.env_keys(env_id).await?;
        let now = self.now();
        let limit = pixie_core::paging::limit(limit).map_err(|e| ApiError::invalid(e.to_string()))?;
        // Oldest first by (creation, kid): a stable order while keys are added.
        let mut all: Vec<&crate::keys::KeyEntry> = keys.all.iter().collect();
        all.sort_by(|a, b| (a.created_at, &a.key.kid).cmp(&(b.created_at, &b.key.kid)));
        let after = after
            .map(|c| pixie_core::paging::parse_cursor(c, "keys", 2))
            .transpose()
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        let rest: Vec<&crate::keys::KeyEntry> = match &after {
            None => all,
            Some(p) => {
                let at: i64 = p[0]
                    .parse()
                    .map_err(|_| ApiError::invalid("after: not a cursor from this list's `next`"))?;
                all.into_iter()
                    .filter(|e| (e.created_at, e.key.kid.as_str()) > (at, p[1].as_str()))
                    .collect()
            }
        };
        let taken: Vec<&crate::keys::KeyEntry> = rest.into_iter().take(limit as usize + 1).collect();
        let (taken, next) = pixie_core::paging::page(taken, limit, |e| {
            pixie_core::paging::cursor("keys", &[&e.created_at.to_string(), &e.key.kid])
        });
        Ok(wire::ListPage {
            items: taken.into_iter().map(|e| key_view(e, now)).collect(),
            next,
        })
    }

    /// Rotates an environment's signing key of `alg` (CONTRACT §9): a new key signs from
    /// now on, at this instance at once and at the others within
    /// [`crate::keyring::KEYS_TTL`]; the previous one stays in the JWKS and verifies
    /// until every token it signed has expired.
    pub async fn rotate_signing_key(
        &self,
        env_id: &str,
        alg: pixie_core::client::SigningAlg,
    ) -> ApiResult<wire::SigningKeyInfo> {
        self.environment(env_id).await?;
        let now = self.now();
        let keys = self.keys.rotate(env_id, alg, now).await?;
        let fields = serde_json::json!({"env": env_id, "alg": alg, "kid": keys.for_alg(alg).kid});
        self.obs.audit(now, "key.rotated", fields);
        let newest = keys.all.iter().find(|e| e.key.alg == alg).ok_or(ApiError::Internal)?;
        Ok(key_view(newest, now))
    }

    /// Scheduled rotation (`--key-rotation-days`): rotates, in every environment, each
    /// algorithm's key whose newest key is at least `days` days old. Instances that run
    /// this at the same time rotate once between them. Returns what was rotated, as
    /// (environment, algorithm, new kid).
    pub async fn rotate_due_keys(&self, days: u32) -> ApiResult<Vec<(String, SigningAlg, String)>> {
        let now = self.now();
        let due_before = now - i64::from(days) * 86_400;
        let mut rotated = Vec::new();
        for env_id in self.store.list_environment_ids().await? {
            // An environment removed meanwhile has no keys: the others still rotate.
            let keys = match self.env_keys(&env_id).await {
                Ok(keys) => keys,
                Err(e) => {
                    tracing::warn!(env = %env_id, error = %e, "scheduled key rotation skipped");
                    continue;
                }
            };
            for alg in [SigningAlg::ES256, SigningAlg::RS256] {
                let newest = keys.all.iter().filter(|e| e.key.alg == alg).map(|e| e.created_at).max();
                if newest.is_some_and(|at| at > due_before) {
                    continue;
                }
                if let Some(keys) = self.keys.rotate_if_due(&env_id, alg, now, due_before).await? {
                    let kid = keys.for_alg(alg).kid.clone();
                    let fields = serde_json::json!({"env": env_id, "alg": alg, "kid": kid, "scheduled": true});
                    self.obs.audit(now, "key.rotated", fields);
                    rotated.push((env_id.clone(), alg, kid));
                }
            }
        }
        Ok(rotated)
    }

    /// The resource servers of an environment, by URI (one page: there are few).
    pub async fn list_resources(&self, env_id: &str) -> ApiResult<wire::ListPage<wire::Resource>> {
        self.environment(env_id).await?;
        let rows = self.store.list_resources(env_id).await?;
        Ok(wire::ListPage {
            items: rows.iter().map(resource_view).collect(),
            next: None,
        })
    }

    /// Removes a resource server. Tokens already issued for it keep their `aud` until
    /// they expire; no new one names it.
    pub async fn delete_resource(&self, env_id: &str, uri: &str) -> ApiResult<()> {
        self.environment(env_id).await?;
        let deleted = self.store.delete_resource(env_id, uri).await.map_err(|e| match e {
            pixie_store::StoreError::NotFound => ApiError::NotFound("resource"),
            e => e.into(),
        });
        self.directory.forget_resources(env_id);
        deleted
    }
}

fn resource_view(r: &pixie_store::ResourceRow) -> wire::Resource {
    wire::Resource {
        uri: r.uri.clone(),
        scopes: r.scopes.clone(),
        name: r.name.clone(),
        created_at: r.created_at,
    }
}

fn key_view(e: &crate::keys::KeyEntry, now: i64) -> wire::SigningKeyInfo {
    wire::SigningKeyInfo {
        kid: e.key.kid.clone(),
        alg: e.key.alg.as_str().to_owned(),
        created_at: e.created_at,
        status: e.status(now).as_str().to_owned(),
        retire_at: e.retire_at,
    }
}

pub(crate) fn app_view(row: ClientRow, secret: Option<String>) -> Application {
    let confidential = row.metadata.has_secret();
    Application {
        client_id: row.client_id,
        client_secret: secret,
        client_id_issued_at: row.created_at,
        client_secret_expires_at: confidential.then_some(0),
        metadata: row.metadata,
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] pixie_store::StoreError),
    /// A signing key did not open: most often, the wrong master key.
    #[error("{0}; is PIXIE_MASTER_KEY (or <data-dir>/master.key) the one this store was created with?")]
    Key(#[from] KeyError),
    /// An environment has no complete key set.
    #[error("environment {0} has no RS256 and ES256 signing keys")]
    MissingKeys(String),
    /// Anything else, said in words.
    #[error("{0}")]
    Other(String),
}
