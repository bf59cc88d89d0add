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
    /// Lists environments, a page at a time.
    List {
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Removes an environment and everything of it (clients, users, keys, tokens);
    /// its issuer answers 404 from then on.
    Delete {
        /// The environment id.
        id: String,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `--limit`, `--after` and `--json` of a list.
#[derive(clap::Args)]
pub struct PageArgs {
    /// Items per page (1-500).
    #[arg(long, default_value = "50")]
    limit: String,
    /// The cursor printed after the previous page.
    #[arg(long, allow_hyphen_values = true)]
    after: Option<String>,
    /// Print the page as JSON (`{"items": […], "next": cursor|null}`).
    #[arg(long)]
    json: bool,
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
    /// Lists an environment's applications, oldest first (never a secret).
    List {
        /// The environment.
        #[arg(long)]
        env: String,
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Gives a confidential application a new secret, printed once; the old one stops
    /// working.
    RotateSecret {
        /// The environment.
        #[arg(long)]
        env: String,
        /// The client id (may start with `-`: base64url has it).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// Print the application (with its new secret) as JSON.
        #[arg(long)]
        json: bool,
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
        /// A role; repeat for several (`admin` may use the console).
        #[arg(long = "role")]
        roles: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Lists an environment's users by username, a page at a time.
    List {
        /// The environment.
        #[arg(long)]
        env: String,
        #[command(flatten)]
        page: PageArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Shows one user.
    Show {
        #[command(flatten)]
        who: WhoArgs,
        /// Print the user as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Changes a user. A new password, or `--disabled true`, ends the user's sessions
    /// and revokes every token issued to them.
    Set {
        #[command(flatten)]
        who: WhoArgs,
        /// A new e-mail address (empty to clear it).
        #[arg(long)]
        email: Option<String>,
        /// A new full name (empty to clear it).
        #[arg(long)]
        name: Option<String>,
        /// The user's roles, replacing the old ones; repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Remove every role.
        #[arg(long, conflicts_with = "roles")]
        no_roles: bool,
        /// Disable (`true`) or enable (`false`) the user.
        #[arg(long)]
        disabled: Option<bool>,
        /// Read a new password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// Print the user as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Disables a user: no more sign-ons; their sessions end and every token issued
    /// to them is revoked.
    Disable {
        #[command(flatten)]
        who: WhoArgs,
        /// Print the user as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Removes a user; their sessions end and every token issued to them is revoked.
    Delete {
        #[command(flatten)]
        who: WhoArgs,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Which user: `--env` and one of `--username` or `--id`.
#[derive(clap::Args)]
pub struct WhoArgs {
    /// The environment.
    #[arg(long)]
    env: String,
    /// The user's sign-on name.
    #[arg(
        long,
        required_unless_present = "id",
        conflicts_with = "id",
        allow_hyphen_values = true
    )]
    username: Option<String>,
    /// The user's id (the `sub` of their tokens; may start with `-`: base64url has it).
    #[arg(long, allow_hyphen_values = true)]
    id: Option<String>,
}

pub async fn open(store: &StoreArgs) -> Result<Service, String> {
    let cfg = store.resolve(Settings::default())?;
    let public_url = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{DEFAULT_LISTEN}"));
    pixie_server::open_service(
        &cfg.data_dir,
        &cfg.database_url,
        cfg.master_key.as_deref(),
        &public_url,
        cfg.sqlite_durability,
    )
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
    /// Lists the keys with their status (`active`, `retiring`, `retired`).
    List {
        /// The environment.
        #[arg(long)]
        env: String,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
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
        /// Print the new key as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Runs `pixie key …`.
pub async fn key(cmd: KeyCommand) -> Result<(), String> {
    match cmd {
        KeyCommand::List { env, json, store } => {
            let svc = open(&store).await?;
            let page = svc
                .list_signing_keys(&env, Some("500"), None)
                .await
                .map_err(|e| e.to_string())?;
            match json {
                true => print_json(&page),
                false => print_table(&crate::output::keys(&page.items)),
            }
        }
        KeyCommand::Rotate { env, alg, json, store } => {
            let svc = open(&store).await?;
            let alg = if alg == "RS256" {
                SigningAlg::RS256
            } else {
                SigningAlg::ES256
            };
            let key = svc.rotate_signing_key(&env, alg).await.map_err(|e| e.to_string())?;
            match json {
                true => print_json(&key),
                false => print_table(&crate::output::keys(std::slice::from_ref(&key))),
            }
        }
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), String> {
    println!("{}", serde_json::to_string_pretty(v).map_err(|e| e.to_string())?);
    Ok(())
}

fn print_table(lines: &[String]) -> Result<(), String> {
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// A page as JSON, or as a table and, when more follow, how to get the next page.
fn print_page<T: serde::Serialize>(
    page: &pixie_core::wire::ListPage<T>,
    json: bool,
    table: impl Fn(&[T]) -> Vec<String>,
    again: &str,
) -> Result<(), String> {
    if json {
        return print_json(page);
    }
    print_table(&table(&page.items))?;
    if let Some(next) = &page.next {
        println!("more: {again} --after {next}");
    }
    Ok(())
}

fn said<T>(r: pixie_server::error::ApiResult<T>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// Runs `pixie env …`.
pub async fn env(cmd: EnvCommand) -> Result<(), String> {
    match cmd {
        EnvCommand::List { page, store } => {
            let svc = open(&store).await?;
            let found = said(svc.list_environments(Some(&page.limit), page.after.as_deref()).await)?;
            print_page(&found, page.json, crate::output::environments, "pixie env list")
        }
        EnvCommand::Delete { id, json, store } => {
            let svc = open(&store).await?;
            said(svc.delete_environment(&id).await)?;
            match json {
                true => print_json(&serde_json::json!({"deleted": id})),
                false => print_table(&[format!("environment {id} deleted")]),
            }
        }
        create => create_env(create).await,
    }
}

async fn create_env(cmd: EnvCommand) -> Result<(), String> {
    let EnvCommand::Create {
        id,
        pkce_allowed,
        pkce_required,
        pkce_mode,
        no_require_for_public_clients,
        store,
    } = cmd
    else {
        return Err("not a create command".into());
    };
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
    match cmd {
        AppCommand::List { env, page, store } => {
            let svc = open(&store).await?;
            let found = said(
                svc.list_applications(&env, Some(&page.limit), page.after.as_deref())
                    .await,
            )?;
            let again = format!("pixie app list --env {env}");
            print_page(&found, page.json, crate::output::applications, &again)
        }
        AppCommand::RotateSecret {
            env,
            client_id,
            json,
            store,
        } => {
            let svc = open(&store).await?;
            let app = said(svc.reset_client_secret(&env, &client_id).await)?;
            match json {
                true => print_json(&app),
                false => print_table(&[
                    format!("client_id      {}", app.client_id),
                    format!("client_secret  {}", app.client_secret.unwrap_or_default()),
                    "(shown once; the old secret no longer works)".into(),
                ]),
            }
        }
        create => create_app(create).await,
    }
}

async fn create_app(cmd: AppCommand) -> Result<(), String> {
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
    } = cmd
    else {
        return Err("not a create command".into());
    };
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

/// One line of standard input: the password (without the newline a shell adds).
fn read_password() -> Result<String, String> {
    let mut password = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut password)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    let password = password.strip_suffix('\n').unwrap_or(&password);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_owned())
}

/// The id of the user `who` names.
async fn user_id(svc: &Service, who: &WhoArgs) -> Result<String, String> {
    if let Some(id) = &who.id {
        return Ok(id.clone());
    }
    let name = who.username.as_deref().unwrap_or_default();
    let found = said(svc.list_users(&who.env, Some(name), None, None).await)?;
    found
        .items
        .into_iter()
        .next()
        .map(|u| u.id)
        .ok_or_else(|| format!("environment {} has no user named {name}", who.env))
}

fn print_user(u: &pixie_core::wire::User, json: bool) -> Result<(), String> {
    match json {
        true => print_json(u),
        false => print_table(&crate::output::user(u)),
    }
}

/// Runs `pixie user …`.
pub async fn user(cmd: UserCommand) -> Result<(), String> {
    match cmd {
        UserCommand::List { env, page, store } => {
            let svc = open(&store).await?;
            let found = said(
                svc.list_users(&env, None, Some(&page.limit), page.after.as_deref())
                    .await,
            )?;
            let again = format!("pixie user list --env {env}");
            print_page(&found, page.json, crate::output::users, &again)
        }
        UserCommand::Show { who, json, store } => {
            let svc = open(&store).await?;
            let id = user_id(&svc, &who).await?;
            print_user(&said(svc.get_user(&who.env, &id).await)?, json)
        }
        UserCommand::Set {
            who,
            email,
            name,
            roles,
            no_roles,
            disabled,
            password_stdin,
            json,
            store,
        } => {
            let password = password_stdin.then(read_password).transpose()?;
            let clear_empty = |v: Option<String>| v.map(|v| Some(v).filter(|v| !v.is_empty()));
            let patch = pixie_core::wire::PatchUser {
                email: clear_empty(email),
                name: clear_empty(name),
                password,
                roles: (no_roles || !roles.is_empty()).then_some(roles),
                disabled,
            };
            let svc = open(&store).await?;
            let id = user_id(&svc, &who).await?;
            print_user(&said(svc.patch_user(&who.env, &id, patch).await)?, json)
        }
        UserCommand::Disable { who, json, store } => {
            let svc = open(&store).await?;
            let id = user_id(&svc, &who).await?;
            let patch = pixie_core::wire::PatchUser {
                disabled: Some(true),
                ..Default::default()
            };
            print_user(&said(svc.patch_user(&who.env, &id, patch).await)?, json)
        }
        UserCommand::Delete { who, json, store } => {
            let svc = open(&store).await?;
            let id = user_id(&svc, &who).await?;
            said(svc.delete_user(&who.env, &id).await)?;
            match json {
                true => print_json(&serde_json::json!({"deleted": id})),
                false => print_table(&[format!("user {id} deleted; their sessions ended and tokens revoked")]),
            }
        }
        create => create_user(create).await,
    }
}

async fn create_user(cmd: UserCommand) -> Result<(), String> {
    let UserCommand::Create {
        env,
        username,
        password_stdin: _,
        email,
        name,
        roles,
        store,
    } = cmd
    else {
        return Err("not a create command".into());
    };
    let password = read_password()?;
    let svc = open(&store).await?;
    let user = svc
        .create_user(
            &env,
            CreateUser {
                username,
                password,
                email,
                name,
                roles,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    print_json(&user)
}
