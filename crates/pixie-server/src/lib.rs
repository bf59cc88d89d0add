//! pixie's server: HTTP endpoints, sessions, tokens, pages and the admin API, over
//! [`pixie_store`] and the decisions of [`pixie_core`].

pub mod assertion;
pub mod authz;
pub mod cache;
pub mod config;
pub mod crypto;
pub mod directory;
pub mod dpop;
pub mod error;
pub mod fetch;
pub mod grants;
pub mod http;
pub mod jwt;
pub mod keyring;
pub mod keys;
pub mod manage;
pub mod net;
pub mod observe;
pub mod passwords;
pub mod serve;
pub mod service;
pub mod strict_json;
pub mod telemetry;
pub mod throttle;
pub mod tls;
pub mod users;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{ServeConfig, Settings};
pub use pixie_store::Durability;
pub use service::{Service, StartupError};

use crypto::MasterKey;

/// Opens the store named by the configuration and the master key: what both the server
/// and the CLI's store commands need.
pub async fn open_service(
    data_dir: &Path,
    database_url: &str,
    master_key: Option<&str>,
    public_url: &str,
    durability: pixie_store::Durability,
) -> Result<Service, StartupError> {
    create_private_dir(data_dir).map_err(|e| StartupError::Other(format!("data dir {}: {e}", data_dir.display())))?;
    let master = MasterKey::load_or_create(master_key, data_dir).map_err(|e| StartupError::Other(e.to_string()))?;
    let store = pixie_store::Store::connect_with(database_url, durability).await?;
    Ok(Service::new(store, master, public_url))
}

/// Creates the data dir, readable by its owner only (0700) when pixie creates it: it
/// holds the database (password hashes), the master key and the admin token.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The shortest admin token accepted: it opens every environment.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

/// The admin token: configured, or read from `<data-dir>/admin-token`, or generated
/// there (mode 0600). Returns the token and the file it lives in, if any.
fn admin_token(configured: Option<&str>, data_dir: &Path) -> Result<(String, Option<PathBuf>), StartupError> {
    if let Some(t) = configured {
        if t.trim().chars().count() < MIN_ADMIN_TOKEN_CHARS {
            return Err(StartupError::Other(format!(
                "the admin token must be at least {MIN_ADMIN_TOKEN_CHARS} characters (leave it unset to have a \
                 random one generated into <data-dir>/admin-token)"
            )));
        }
        return Ok((t.trim().to_owned(), None));
    }
    let path = data_dir.join("admin-token");
    let err = |e: std::io::Error| StartupError::Other(format!("admin token file {}: {e}", path.display()));
    if !path.exists() {
        crypto::write_secret_file(&path, crypto::random_token::<32>().as_bytes()).map_err(err)?;
    }
    let token = std::fs::read_to_string(&path).map_err(err)?.trim().to_owned();
    if token.chars().count() < MIN_ADMIN_TOKEN_CHARS {
        return Err(StartupError::Other(format!(
            "the admin token in {} is shorter than {MIN_ADMIN_TOKEN_CHARS} characters: put a longer one \
             there, or delete the file to have a random one generated",
            path.display()
        )));
    }
    Ok((token, Some(path)))
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The public URL issuers are built from.
    pub public_url: String,
    /// The file holding the admin token, when it was not configured.
    pub admin_token_file: Option<PathBuf>,
    /// The admin token (for tests and the CLI; never logged).
    pub admin_token: String,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
    service: Arc<Service>,
}

impl Running {
    /// Stops accepting, finishes requests in flight, closes the store.
    pub async fn shutdown(self) {
        let Running {
            shutdown,
            task,
            sweeper,
            service,
            ..
        } = self;
        let _ = shutdown.send(());
        let _ = task.await;
        sweeper.abort();
        close(&service).await;
    }

    /// The service behind the server (tests use its clock and sweeper).
    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    /// Waits until the server stops (after a signal, when started by [`serve_until_signal`]).
    pub async fn wait(mut self) -> std::io::Result<()> {
        let r = (&mut self.task).await.unwrap_or(Ok(()));
        self.sweeper.abort();
        close(&self.service).await;
        r
    }
}

/// Saves pending observations and closes the store.
async fn close(service: &Service) {
    service.obs.flush_audit();
    if let Err(e) = service.obs.flush(&service.store).await {
        tracing::warn!(error = %e, "could not save PKCE observations at shutdown");
    }
    service.store.close().await;
}

/// Starts a server: opens the store, creates `default` on an empty store, checks the
/// master key opens every signing key, binds, and serves in the background.
pub async fn start(cfg: ServeConfig) -> Result<Running, StartupError> {
    start_with_shutdown(cfg, None).await
}

async fn start_with_shutdown(
    cfg: ServeConfig,
    external: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
) -> Result<Running, StartupError> {
    // The certificate and key are checked before anything else is done.
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key).map_err(StartupError::Other)?),
        None => None,
    };
    if let Some(days) = cfg.key_rotation_days {
        if !(1..=3650).contains(&days) {
            return Err(StartupError::Other(format!(
                "--key-rotation-days {days}: must be 1 to 3650 (a key must outlive the tokens it signs)"
            )));
        }
    }
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| StartupError::Other(format!("cannot listen on {}: {e}", cfg.listen)))?;
    let addr = listener.local_addr().map_err(|e| StartupError::Other(e.to_string()))?;
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    let public_url = cfg.public_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}"));
    let mut service = open_service(
        &cfg.data_dir,
        &cfg.database_url,
        cfg.master_key.as_deref(),
        &public_url,
        cfg.sqlite_durability,
    )
    .await?;
    service.public_url_configured = cfg.public_url.is_some();
    if cfg.insecure_cimd_loopback {
        tracing::warn!(
            "--insecure-cimd-loopback is on: client metadata documents are also fetched from http://127.0.0.1 (development and tests only)"
        );
        service.fetcher.allow_loopback_http = true;
    }
    let obs = observe::Observability::new(&cfg.audit, &service.store)
        .map_err(|e| StartupError::Other(format!("audit log {:?}: {e}", cfg.audit)))?;
    service.obs = std::sync::Arc::new(obs);
    service.load_all_keys().await?;
    if service
        .ensure_default_environment()
        .await
        .map_err(|e| StartupError::Other(e.to_string()))?
    {
        tracing::info!(
            env = service::DEFAULT_ENV,
            "created the default environment (strict PKCE policy)"
        );
    }
    for env_id in service
        .reserved_environments()
        .await
        .map_err(|e| StartupError::Other(e.to_string()))?
    {
        tracing::warn!(
            env = %env_id,
            "the environment '{env_id}' has a reserved id (made before the id was reserved): \
             pixie's own pages under /{env_id}/ answer first, so its issuer cannot be reached; \
             make a new environment under another id and move its applications and users there"
        );
    }
    if let Some(env_id) = &cfg.console_env {
        service
            .ensure_console_client(env_id, &public_url)
            .await
            .map_err(|e| StartupError::Other(format!("--console-env {env_id}: {e}")))?;
    }
    let (token, token_file) = admin_token(cfg.admin_token.as_deref(), &cfg.data_dir)?;
    let service = Arc::new(service);
    let trusted = net::TrustedProxies::parse(&cfg.trusted_proxies).map_err(StartupError::Other)?;
    let state = http::AppState {
        svc: service.clone(),
        admin_token_hash: Arc::new(crypto::sha256(token.as_bytes())),
        trusted: Arc::new(trusted),
        request_timeout: cfg.request_timeout,
        console_env: cfg.console_env.clone(),
        console_admin_change: Arc::new(tokio::sync::Mutex::new(())),
    };
    let router = http::router(state);
    let (tx, rx) = oneshot::channel::<()>();
    let stop = async move {
        match external {
            Some(signal) => tokio::select! { _ = rx => {}, _ = signal => {} },
            None => {
                let _ = rx.await;
            }
        }
    };
    let timeouts = serve::Timeouts {
        head: cfg.header_read_timeout,
        idle: cfg.idle_timeout,
    };
    let task = tokio::spawn(serve::serve(listener, router, tls, timeouts, stop));
    let sweeper = tokio::spawn(background(service.clone(), cfg.key_rotation_days));
    Ok(Running {
        addr,
        public_url,
        admin_token_file: token_file,
        admin_token: token,
        shutdown: tx,
        task,
        sweeper,
        service,
    })
}

/// How often pending PKCE observations are saved; expired rows are swept every
/// `SWEEP_EVERY` of these ticks, `SWEEP_BATCH` rows per statement.
const TICK: std::time::Duration = std::time::Duration::from_secs(2);
const SWEEP_EVERY: u32 = 30;
const SWEEP_BATCH: i64 = 500;

/// Background work: save observations, sweep expired rows, rotate signing keys that are
/// due (`--key-rotation-days`, checked at start and with every sweep). Errors are logged
/// and retried.
async fn background(service: Arc<Service>, key_rotation_days: Option<u32>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u32 = 0;
    loop {
        tick.tick().await;
        if let Err(e) = service.obs.flush(&service.store).await {
            tracing::warn!(error = %e, "saving PKCE observations failed; will retry");
        }
        // The first tick is at once: a rotation due while the server was down happens at start.
        if let Some(days) = key_rotation_days.filter(|_| n % SWEEP_EVERY == 0) {
            match service.rotate_due_keys(days).await {
                Ok(rotated) => {
                    for (env, alg, kid) in rotated {
                        tracing::info!(env, alg = alg.as_str(), kid, "rotated a signing key on schedule");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "scheduled key rotation failed; will retry"),
            }
        }
        n = n.wrapping_add(1);
        if n % SWEEP_EVERY != 0 {
            continue;
        }
        match service.sweep_expired(SWEEP_BATCH).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "swept expired flows, sessions, codes and tokens"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired rows failed; will retry"),
        }
    }
}

/// Starts a server that stops gracefully on SIGINT or SIGTERM.
pub async fn serve_until_signal(cfg: ServeConfig) -> Result<Running, StartupError> {
    start_with_shutdown(cfg, Some(Box::pin(shutdown_signal()))).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

pub use telemetry::LogFormat;

/// Logs to stderr, one line per event, with no trace export; `PIXIE_LOG` (or
/// `RUST_LOG`) sets the filter. See [`telemetry::init`] for export.
pub fn init_logging(format: LogFormat) {
    let _ = telemetry::init(format, None);
}
