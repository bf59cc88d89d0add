//! `pixie env|app|user create`: the admin operations, straight against the store, so
//! they work with or without a running server.

use std::io::Read as _;

use clap::Subcommand;
use pixie_core::client::{AuthMethod, ClientMetadata, GrantType, SigningAlg, DEFAULT_CLIENT_SCOPE};
use pixie_core::wire::{CreateEnvironment, CreateUser};
use pixie_core::{ChallengeMethod, EnvPkcePolicy, MethodSet, PolicyMode};
use pixie_server::{config::DEFAULT_LISTEN, Service, Settings};

use crate::StoreArgs;

/// `pixie env …`
#[derive(Subcommand)]
pub enum EnvCommand {
    /// Creates an environment with its signing keys.
    Create {
        /// The environment id (`^[a-z0-9][a-z0-9-]{0,62}$`).
        id: String,
        /// Allowed PKCE methods, comma-separated (default: S256).
        #[arg(long, value_delimiter = ',')]
        pkce_allowed: Option<Vec<String>>,
        /// Required PKCE methods, comma-separated; `none` for none (default: S256).
        #[arg(long, value_delimiter = ',')]
        pkce_required: Option<Vec<String>>,
        /// `enforce` (default) or `report`.
        #[arg(long)]
        pkce_mode: Option<String>,
        /// Do not require PKCE of public clients (required by default).
        #[arg(long)]
        no_require_for_public_clients: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `pixie app …`
#[derive(Subcommand)]
pub enum AppCommand {
    /// Registers an application and prints its JSON (with `client_secret`, once).
    Create {
        /// The environment.
        #[arg(long)]
        env: String,
        /// The application's name.
        #[arg(long)]
        name: String,
        /// A redirect URI; repeat for several.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A public client (token endpoint auth method `none`, no secret).
        #[arg(long)]
        public: bool,
        /// Token endpoint auth method for a confidential client.
        #[arg(long, value_parser = ["client_secret_basic", "client_secret_post"])]
        auth_method: Option<String>,
        /// A grant type; repeat for several (default: authorization_code).
        #[arg(long = "grant-type", value_parser = ["authorization_code", "refresh_token", "client_credentials"])]
        grant_types: Vec<String>,
        /// Space-separated scopes the client may ask for.
        #[arg(long)]
        scope: Option<String>,
        /// The PKCE method this client must use.
        #[arg(long, value_parser = ["plain", "S256"])]
        code_challenge_method: Option<String>,
        /// The client must send PKCE.
        #[arg(long)]
        require_pkce: bool,
        /// ID token signing algorithm.
        #[arg(long, value_parser = ["RS256", "ES256"])]
        id_token_alg: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `pixie user …`
#[derive(Subcommand)]
pub enum UserCommand {
    /// Creates a user; the password is read from standard input.
    Create {
        /// The environment.
        #[arg(long)]
        env: String,
        /// The sign-on name.
        #[arg(long)]
        username: String,
        /// Read the password from standard input (one line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Full name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn open(store: &StoreArgs) -> Result<Service, String> {
    let cfg = store.resolve(Settings::default())?;
    let public_url = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{DEFAULT_LISTEN}"));
    pixie_server::open_service(&cfg.data_dir, &cfg.database_url, cfg.master_key.as_deref(), &public_url)
        .await
        .map_err(|e| e.to_string())
}

fn methods(field: &str, names: &[String]) -> Result<MethodSet, String> {
    names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty() && *n != "none")
        .map(|n| {
            ChallengeMethod::parse(n).ok_or_else(|| format!("--{field}: unknown method '{n}' (use S256 or plain)"))
        })
        .collect()
}

/// `pixie key …`: an environment's signing keys (CONTRACT §9).
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Lists the keys with their status (`active`, `retiring`, `retired`), as JSON.
    List {
        /// The environment.
        #[arg(long)]
        env: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Makes a new key that signs from now on (running servers pick it up within 30
    /// seconds, and verify its tokens at once); prints it as JSON.
    Rotate {
        /// The environment.
        #[arg(long)]
        env: String,
        /// `ES256` (default) or `RS256`.
        #[arg(long, default_value = "ES256", value_parser = ["ES256", "RS256"])]
        alg: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs `pixie key …`.
pub async fn key(cmd: KeyCommand) -> Result<(), String> {
    match cmd {
        KeyCommand::List { env, store } => {
            let svc = open(&store).await?;
            print_json(&svc.list_signing_keys(&env).await.map_err(|e| e.to_string())?)
        }
        KeyCommand::Rotate { env, alg, store } => {
            let svc = open(&store).await?;
            let alg = if alg == "RS256" {
                SigningAlg::RS256
            } else {
                SigningAlg::ES256
            };
            print_json(&svc.rotate_signing_key(&env, alg).await.map_err(|e| e.to_string())?)
        }
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), String> {
    println!("{}", serde_json::to_string_pretty(v).map_err(|e| e.to_string())?);
    Ok(())
}

/// Runs `pixie env …`.
pub async fn env(cmd: EnvCommand) -> Result<(), String> {
    let EnvCommand::Create {
        id,
        pkce_allowed,
        pkce_required,
        pkce_mode,
        no_require_for_public_clients,
        store,
    } = cmd;
    let mut pkce = EnvPkcePolicy::strict();
    if let Some(a) = pkce_allowed {
        pkce.allowed = methods("pkce-allowed", &a)?;
    }
    if let Some(r) = pkce_required {
        pkce.required = methods("pkce-required", &r)?;
    }
    pkce.mode = match pkce_mode.as_deref() {
        None | Some("enforce") => PolicyMode::Enforce,
        Some("report") => PolicyMode::Report,
        Some(other) => return Err(format!("--pkce-mode: '{other}' is not enforce or report")),
    };
    pkce.require_for_public_clients = !no_require_for_public_clients;
    let svc = open(&store).await?;
    let env = svc
        .create_environment(CreateEnvironment {
            id,
            pkce,
            lifetimes: Default::default(),
            registration: Default::default(),
            require_par: false,
            dpop_nonce: false,
            profile: Default::default(),
        })
        .await
        .map_err(|e| e.to_string())?;
    print_json(&env)
}

/// Runs `pixie app …`.
pub async fn app(cmd: AppCommand) -> Result<(), String> {
    let AppCommand::Create {
        env,
        name,
        redirect_uris,
        public,
        auth_method,
        grant_types,
        scope,
        code_challenge_method,
        require_pkce,
        id_token_alg,
        store,
    } = cmd;
    let token_endpoint_auth_method = match (public, auth_method.as_deref()) {
        (true, Some(_)) => return Err("--public and --auth-method exclude each other".into()),
        (true, None) => AuthMethod::None,
        (false, Some("client_secret_post")) => AuthMethod::ClientSecretPost,
        (false, _) => AuthMethod::ClientSecretBasic,
    };
    let grant_types = if grant_types.is_empty() {
        vec![GrantType::AuthorizationCode]
    } else {
        grant_types
            .iter()
            .map(|g| match g.as_str() {
                "refresh_token" => GrantType::RefreshToken,
                "client_credentials" => GrantType::ClientCredentials,
                _ => GrantType::AuthorizationCode,
            })
            .collect()
    };
    let metadata = ClientMetadata {
        client_name: name,
        redirect_uris,
        grant_types,
        response_types: vec!["code".into()],
        token_endpoint_auth_method,
        scope: scope.unwrap_or_else(|| DEFAULT_CLIENT_SCOPE.into()),
        code_challenge_method: code_challenge_method.as_deref().and_then(ChallengeMethod::parse),
        require_pkce,
        id_token_signed_response_alg: if id_token_alg.as_deref() == Some("ES256") {
            SigningAlg::ES256
        } else {
            SigningAlg::RS256
        },
        lifetimes: Default::default(),
        require_consent: false,
        self_registered: false,
        require_pushed_authorization_requests: false,
        dpop_bound_access_tokens: false,
        jwks: None,
        jwks_uri: None,
    };
    let svc = open(&store).await?;
    let app = svc
        .create_application(&env, metadata)
        .await
        .map_err(|e| e.to_string())?;
    print_json(&app)
}

/// Runs `pixie user …`.
pub async fn user(cmd: UserCommand) -> Result<(), String> {
    let UserCommand::Create {
        env,
        username,
        password_stdin: _,
        email,
        name,
        store,
    } = cmd;
    let mut password = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut password)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    // One line: drop the trailing newline a shell or `echo` adds.
    let password = password.strip_suffix('\n').unwrap_or(&password);
    let password = password.strip_suffix('\r').unwrap_or(password).to_owned();
    let svc = open(&store).await?;
    let user = svc
        .create_user(
            &env,
            CreateUser {
                username,
                password,
                email,
                name,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    print_json(&user)
}
