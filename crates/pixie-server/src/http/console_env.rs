//! The console's environment page: the PKCE policy (methods allowed and required,
//! public clients, enforce or report mode), registration settings, pushed requests,
//! DPoP nonces, the profile and every lifetime, saved through the admin API's own call
//! (so its checks hold); and creating and deleting environments. Each change audited
//! with the operator.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pixie_core::lifetimes::Lifetimes;
use pixie_core::params::Params;
use pixie_core::wire::PatchEnvironment;
use pixie_core::{ChallengeMethod, MethodSet, PolicyMode};

use super::console::{html, message_page, redirect_to, Admin, AdminForm};
use super::state::{AppState, Base};
use crate::error::ApiError;

#[derive(Template)]
#[template(path = "console_env.html")]
struct EnvPage<'a> {
    public_url: &'a str,
    env: &'a str,
    issuer: &'a str,
    username: &'a str,
    csrf: &'a str,
    action: &'a str,
    allowed_s256: bool,
    allowed_plain: bool,
    required_s256: bool,
    required_plain: bool,
    require_public: bool,
    report_mode: bool,
    dynamic: bool,
    cimd: bool,
    require_par: bool,
    dpop_nonce: bool,
    fapi2: bool,
    lt: Lifetimes,
    /// The console's own environment cannot be deleted from the console.
    deletable: bool,
}

/// `GET /console/environments/<env>`.
pub(super) async fn show(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    op: Admin,
    Path(env): Path<String>,
) -> Response {
    let e = match s.svc.get_environment(&env).await {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    let action = format!("{}/console/environments/{env}", base.url());
    html(&EnvPage {
        public_url: base.url(),
        env: &env,
        issuer: &base.issuer(&env),
        username: &op.username,
        csrf: &op.csrf,
        action: &action,
        allowed_s256: e.pkce.allowed.contains(ChallengeMethod::S256),
        allowed_plain: e.pkce.allowed.contains(ChallengeMethod::Plain),
        required_s256: e.pkce.required.contains(ChallengeMethod::S256),
        required_plain: e.pkce.required.contains(ChallengeMethod::Plain),
        require_public: e.pkce.require_for_public_clients,
        report_mode: e.pkce.mode == PolicyMode::Report,
        dynamic: e.registration.dynamic,
        cimd: e.registration.client_id_metadata_documents,
        require_par: e.require_par,
        dpop_nonce: e.dpop_nonce,
        fapi2: e.profile == pixie_core::profile::Profile::Fapi2,
        lt: e.lifetimes,
        deletable: s.console_env.as_deref() != Some(env.as_str()),
    })
}

fn methods(form: &Params, name: &str) -> MethodSet {
    form.all(name).filter_map(ChallengeMethod::parse).collect()
}

/// `POST /console/environments/<env>`: saves the policy, registration and lifetimes.
pub(super) async fn save(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    Path(env): Path<String>,
    AdminForm(op, form): AdminForm,
) -> Response {
    let current = match s.svc.get_environment(&env).await {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    // A lifetime left empty keeps its value; one that is not a number names itself.
    let mut lt = current.lifetimes;
    for (name, field) in [
        ("code", &mut lt.code),
        ("flow", &mut lt.flow),
        ("session", &mut lt.session),
        ("access_token", &mut lt.access_token),
        ("refresh_token_idle", &mut lt.refresh_token_idle),
        ("refresh_token_absolute", &mut lt.refresh_token_absolute),
    ] {
        if let Some(v) = form.non_empty(name) {
            match v.parse() {
                Ok(n) => *field = n,
                Err(_) => {
                    let why = format!("lifetimes.{name}: a whole number of seconds");
                    return message_page(&base, StatusCode::BAD_REQUEST, "Not saved", &why);
                }
            }
        }
    }
    let mut pkce = current.pkce;
    pkce.allowed = methods(&form, "allowed");
    pkce.required = methods(&form, "required");
    pkce.require_for_public_clients = form.get("require_for_public_clients") == Some("on");
    pkce.mode = match form.get("mode") {
        Some("report") => PolicyMode::Report,
        _ => PolicyMode::Enforce,
    };
    // The console signs its operators in to its own environment with a plain S256
    // authorization request: a setting that refuses that request would lock every
    // operator out once their session ends.
    let own = s.console_env.as_deref() == Some(env.as_str());
    let s256 = ChallengeMethod::S256;
    let refuses_console = !pkce.allowed.contains(s256)
        || (!pkce.required.is_empty() && !pkce.required.contains(s256))
        || form.get("require_par") == Some("on")
        || form.get("profile") == Some("fapi2");
    if own && refuses_console {
        let why = "this is the console's own environment: S256 must stay allowed, and neither PAR nor the fapi2 \
                   profile may be required, or the console's sign-in is refused (the admin API and the CLI can)";
        return message_page(&base, StatusCode::CONFLICT, "Not saved", why);
    }
    let mut registration = current.registration;
    registration.dynamic = form.get("dynamic") == Some("on");
    registration.client_id_metadata_documents = form.get("cimd") == Some("on");
    let patch = PatchEnvironment {
        pkce: Some(pkce),
        lifetimes: Some(lt),
        registration: Some(registration),
        require_par: Some(form.get("require_par") == Some("on")),
        dpop_nonce: Some(form.get("dpop_nonce") == Some("on")),
        profile: Some(match form.get("profile") {
            Some("fapi2") => pixie_core::profile::Profile::Fapi2,
            _ => pixie_core::profile::Profile::None,
        }),
    };
    match s.svc.patch_environment(&env, patch).await {
        Ok(_) => {
            op.audit(&s, "console.environment_changed", serde_json::json!({"env": env}));
            redirect_to(&format!("{}/console/environments/{env}", base.url()))
        }
        Err(ApiError::Invalid { description, .. }) => {
            message_page(&base, StatusCode::BAD_REQUEST, "Not saved", &description)
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /console/environments`: creates an environment (the API's defaults: S256
/// required, strict lifetimes) and opens its page.
pub(super) async fn create(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    AdminForm(op, form): AdminForm,
) -> Response {
    let id = form.get("id").unwrap_or("").trim().to_owned();
    let req = pixie_core::wire::CreateEnvironment {
        id: id.clone(),
        pkce: Default::default(),
        lifetimes: Default::default(),
        registration: Default::default(),
        require_par: false,
        dpop_nonce: false,
        profile: Default::default(),
    };
    match s.svc.create_environment(req).await {
        Ok(_) => {
            op.audit(&s, "console.environment_created", serde_json::json!({"env": id}));
            redirect_to(&format!("{}/console/environments/{id}", base.url()))
        }
        Err(e) => super::console::refused(&base, e),
    }
}

/// `POST /console/environments/<env>/delete`: deletes an environment and everything in
/// it, once its id is typed again; never the console's own.
pub(super) async fn delete(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    Path(env): Path<String>,
    AdminForm(op, form): AdminForm,
) -> Response {
    if s.console_env.as_deref() == Some(env.as_str()) {
        let why = "this is the console's own environment: deleting it would sign every operator out for good \
                   (the admin API and the CLI can)";
        return message_page(&base, StatusCode::CONFLICT, "Not deleted", why);
    }
    if form.get("confirm").map(str::trim) != Some(env.as_str()) {
        let why = "type the environment's id to confirm: its applications, users, keys and tokens go with it";
        return message_page(&base, StatusCode::BAD_REQUEST, "Not deleted", why);
    }
    match s.svc.delete_environment(&env).await {
        Ok(()) => {
            op.audit(&s, "console.environment_deleted", serde_json::json!({"env": env}));
            redirect_to(&format!("{}/console/", base.url()))
        }
        Err(e) => super::console::refused(&base, e),
    }
}
