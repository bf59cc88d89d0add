//! The console's environment page: the PKCE policy (methods allowed and required,
//! public clients, enforce or report mode), registration settings and the main
//! lifetimes, saved through the admin API's own call (so its checks hold) and audited
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
    lt: Lifetimes,
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
        lt: e.lifetimes,
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
        ("access_token", &mut lt.access_token),
        ("session", &mut lt.session),
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
    let mut registration = current.registration;
    registration.dynamic = form.get("dynamic") == Some("on");
    registration.client_id_metadata_documents = form.get("cimd") == Some("on");
    let patch = PatchEnvironment {
        pkce: Some(pkce),
        lifetimes: Some(lt),
        registration: Some(registration),
        require_par: None,
        dpop_nonce: None,
        profile: None,
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
