//! `pixie`: the command-line front of the pixie authorization server.

mod bench;
mod output;
mod pkce_cmd;
mod probe;
mod store_cmd;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use pixie_server::{ServeConfig, Settings};

/// pixie: an OAuth 2.1 / OpenID Connect authorization server with PKCE done right.
#[derive(Parser)]
#[command(name = "pixie", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the authorization server.
    Serve(ServeArgs),
    /// Environments (tenants): `pixie env create ID`.
    #[command(subcommand)]
    Env(store_cmd::EnvCommand),
    /// Applications (clients): `pixie app create --env ID …`.
    #[command(subcommand)]
    App(store_cmd::AppCommand),
    /// Users: `pixie user create --env ID --username U --password-stdin`.
    #[command(subcommand)]
    User(store_cmd::UserCommand),
    /// Signing keys: `pixie key list --env ID`, `pixie key rotate --env ID [--alg ES256|RS256]`.
    #[command(subcommand)]
    Key(store_cmd::KeyCommand),
    /// PKCE tools: generate and verify verifier/challenge pairs, the readiness report.
    #[command(subcommand)]
    Pkce(pkce_cmd::PkceCommand),
    /// Audits any authorization server's PKCE handling.
    Probe(probe::ProbeArgs),
    /// Load against a running server: the full S256 flow, authorize only, or discovery.
    Bench(bench::BenchArgs),
    /// Prints a shell completion script: `pixie completions bash > /etc/bash_completion.d/pixie`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where the store is: shared by `serve` and the store commands.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Directory of the embedded store, master key and admin token (default: `./pixie-data`).
    #[arg(long, env = "PIXIE_DATA_DIR", hide_env_values = true)]
    data_dir: Option<std::path::PathBuf>,
    /// `sqlite://…` (default: `<data-dir>/pixie.db`) or `postgres://…`.
    #[arg(long, env = "PIXIE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The public base URL; issuers are `<public-url>/<env>` (default: `http://` + the listen address).
    #[arg(long, env = "PIXIE_PUBLIC_URL", hide_env_values = true)]
    public_url: Option<String>,
    /// A TOML file with the same keys (see pixie.example.toml; default: none).
    #[arg(long, env = "PIXIE_CONFIG", hide_env_values = true)]
    config: Option<std::path::PathBuf>,
    /// The master key that seals signing keys (default: `<data-dir>/master.key`).
    #[arg(long, env = "PIXIE_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// A file holding the master key (kept out of process listings).
    #[arg(long, env = "PIXIE_MASTER_KEY_FILE", hide_env_values = true)]
    master_key_file: Option<std::path::PathBuf>,
    /// SQLite only: `full` puts each commit on disk before answering (concurrent
    /// requests share one sync); `normal` survives a killed process but may lose the
    /// last quarter second to a power cut (default: full).
    #[arg(long, env = "PIXIE_SQLITE_DURABILITY", hide_env_values = true, value_name = "LEVEL",
          value_parser = ["normal", "full"])]
    sqlite_durability: Option<String>,
}

impl StoreArgs {
    /// Resolves flags and variables over the config file and the defaults.
    fn resolve(&self, extra: Settings) -> Result<ServeConfig, String> {
        let given = Settings {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            public_url: self.public_url.clone(),
            master_key: self.master_key.clone(),
            master_key_file: self.master_key_file.clone(),
            sqlite_durability: self
                .sqlite_durability
                .as_deref()
                .and_then(pixie_server::Durability::parse),
            ..Settings::default()
        }
        .or(extra);
        let file = match &self.config {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        Ok(ServeConfig::from_settings(given.or(file).read_secret_files()?))
    }
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (default: `127.0.0.1:7636`).
    #[arg(long, env = "PIXIE_LISTEN", hide_env_values = true)]
    listen: Option<String>,
    /// The admin API bearer token (default: generated into `<data-dir>/admin-token`).
    #[arg(long, env = "PIXIE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// A file holding the admin token (kept out of process listings; at least 16 characters).
    #[arg(long, env = "PIXIE_ADMIN_TOKEN_FILE", hide_env_values = true)]
    admin_token_file: Option<std::path::PathBuf>,
    /// Audit events (rejections, token issuance) as JSON lines: `off` (default), `stdout`, or a file.
    #[arg(long, env = "PIXIE_AUDIT_LOG", hide_env_values = true)]
    audit_log: Option<String>,
    /// Serve https with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "PIXIE_TLS_CERT", hide_env_values = true, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, env = "PIXIE_TLS_KEY", hide_env_values = true, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For is believed (default: none).
    #[arg(long, env = "PIXIE_TRUSTED_PROXIES", hide_env_values = true)]
    trusted_proxies: Option<String>,
    /// Log lines as `text` or `json` (one object per line).
    #[arg(long, env = "PIXIE_LOG_FORMAT", hide_env_values = true, default_value = "text")]
    log_format: pixie_server::LogFormat,
    /// Export request traces with OTLP over HTTP (protobuf) to URL/v1/traces (default: off).
    #[arg(long, env = "PIXIE_OTLP_ENDPOINT", hide_env_values = true, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Seconds for a TLS handshake and a request head; a new connection that sends
    /// nothing is closed after this too (default 10).
    #[arg(long, env = "PIXIE_HEADER_TIMEOUT", hide_env_values = true)]
    header_timeout: Option<u64>,
    /// Seconds a connection may stay open with no request in flight (default 30).
    #[arg(long, env = "PIXIE_IDLE_TIMEOUT", hide_env_values = true)]
    idle_timeout: Option<u64>,
    /// Seconds a whole request may take, body included; then 408 (default 30).
    #[arg(long, env = "PIXIE_REQUEST_TIMEOUT", hide_env_values = true)]
    request_timeout: Option<u64>,
    /// Also fetch client metadata documents from http://127.0.0.1:<port>/… (development
    /// and tests only; never in production).
    #[arg(long, env = "PIXIE_INSECURE_CIMD_LOOPBACK", hide_env_values = true)]
    insecure_cimd_loopback: bool,
    /// Rotate every environment's signing keys once the newest is this many days old
    /// (checked at start and every minute; instances sharing a store rotate once; default: off).
    #[arg(long, env = "PIXIE_KEY_ROTATION_DAYS", hide_env_values = true, value_name = "N")]
    key_rotation_days: Option<u32>,
    /// Serve the admin console at <public-url>/console/: its operators sign in to this
    /// environment, and users whose roles hold `admin` may use it (default: no console).
    #[arg(long, env = "PIXIE_CONSOLE_ENV", hide_env_values = true, value_name = "ID")]
    console_env: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// A multi-threaded tokio runtime.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// `pixie serve`: everything it says goes through the log, in the chosen format.
fn serve(args: ServeArgs) -> ExitCode {
    let format = args.log_format;
    let telemetry = match pixie_server::telemetry::init(format, args.otlp_endpoint.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("pixie: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = serve_until_stopped(args);
    telemetry.shutdown();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match format {
                pixie_server::LogFormat::Text => eprintln!("pixie: {e}"),
                pixie_server::LogFormat::Json => tracing::error!(error = %e, "pixie cannot serve"),
            }
            ExitCode::FAILURE
        }
    }
}

fn serve_until_stopped(args: ServeArgs) -> Result<(), String> {
    let cfg = args.store.resolve(Settings {
        listen: args.listen,
        admin_token: args.admin_token,
        admin_token_file: args.admin_token_file,
        audit_log: args.audit_log,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        trusted_proxies: args.trusted_proxies,
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        request_timeout: args.request_timeout,
        insecure_cimd_loopback: args.insecure_cimd_loopback.then_some(true),
        key_rotation_days: args.key_rotation_days,
        console_env: args.console_env,
        ..Settings::default()
    })?;
    runtime()?.block_on(async move {
        let running = pixie_server::serve_until_signal(cfg).await.map_err(|e| e.to_string())?;
        // The banner says where clients reach pixie; the log says where it listens.
        tracing::info!(address = %running.addr, public_url = %running.public_url, "listening");
        if let Some(path) = &running.admin_token_file {
            tracing::info!(file = %path.display(), "the admin token is in this file");
        }
        println!("pixie listening on {}", running.public_url);
        running.wait().await.map_err(|e| e.to_string())
    })
}

/// mimalloc instead of the system's malloc: glibc's malloc and free took about a tenth
/// of the request threads' CPU under load (measured with `perf`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pkce(cmd) => return pkce_cmd::run(cmd),
        Command::Probe(args) => return probe::run(args),
        Command::Bench(args) => return bench::run(args),
        Command::Serve(args) => return serve(args),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            use std::io::Write as _;
            // Into memory first: the generator panics on a closed pipe (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pixie", &mut script);
            let _ = std::io::stdout().write_all(&script);
            return ExitCode::SUCCESS;
        }
        Command::Env(cmd) => runtime().and_then(|rt| rt.block_on(store_cmd::env(cmd))),
        Command::App(cmd) => runtime().and_then(|rt| rt.block_on(store_cmd::app(cmd))),
        Command::User(cmd) => runtime().and_then(|rt| rt.block_on(store_cmd::user(cmd))),
        Command::Key(cmd) => runtime().and_then(|rt| rt.block_on(store_cmd::key(cmd))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pixie: {e}");
            ExitCode::FAILURE
        }
    }
}
