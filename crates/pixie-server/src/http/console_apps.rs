//! The console's applications pages: list, register (a secret shown once), change the
//! name, redirect URIs, PKCE method and the rest of the registered metadata (grants,
//! scope, client authentication and its keys, ID token algorithm, consent, PAR, DPoP),
//! rotate the secret (shown once), delete; every form with the CSRF token, every change
//! audited with the operator, through the admin API's own calls.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use pixie_core::client::GrantType;
use pixie_core::params::Params;
use pixie_core::wire::Application;

use super::console::{html, message_page, redirect_to, refused, Admin, AdminForm};
use super::state::{AppState, Base};

struct AppLine {
    name: String,
    client_id: String,
    auth: &'static str,
    pkce: String,
}

#[derive(Template)]
#[template(path = "console_apps.html")]
struct AppsPage<'a> {
    public_url: &'a str,
    env: &'a str,
    username: &'a str,
    csrf: &'a str,
    apps: Vec<AppLine>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "console_app.html")]
struct AppPage<'a> {
    public_url: &'a str,
    env: &'a str,
    username: &'a str,
    csrf: &'a str,
    action: &'a str,
    name: &'a str,
    client_id: &'a str,
    auth: &'static str,
    confidential: bool,
    redirects: String,
    method: &'a str,
    secret: Option<&'a str>,
    grant_code: bool,
    grant_refresh: bool,
    grant_client_credentials: bool,
    scope: &'a str,
    auth_method: &'static str,
    id_token_alg: &'static str,
    require_pkce: bool,
    require_consent: bool,
    require_par: bool,
    dpop_bound: bool,
    jwks_uri: &'a str,
    jwks: String,
}

fn auth_label(app: &Application) -> &'static str {
    match app.metadata.has_secret() {
        true => "confidential (client secret)",
        false => "public (no secret)",
    }
}

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::Value::String(l.to_owned()))
        .collect()
}

/// An application's page, with its secret when one was just made.
fn app_page(base: &Base, env: &str, op: &Admin, app: &Application, secret: Option<&str>) -> Response {
    let action = format!(
        "{}/console/environments/{env}/applications/{}",
        base.url(),
        app.client_id
    );
    html(&AppPage {
        public_url: base.url(),
        env,
        username: &op.username,
        csrf: &op.csrf,
        action: &action,
        name: &app.metadata.client_name,
        client_id: &app.client_id,
        auth: auth_label(app),
        confidential: app.metadata.has_secret(),
        redirects: app.metadata.redirect_uris.join("\n"),
        method: app.metadata.code_challenge_method.map_or("", |m| m.as_str()),
        secret,
        grant_code: app.metadata.grant_types.contains(&GrantType::AuthorizationCode),
        grant_refresh: app.metadata.grant_types.contains(&GrantType::RefreshToken),
        grant_client_credentials: app.metadata.grant_types.contains(&GrantType::ClientCredentials),
        scope: &app.metadata.scope,
        auth_method: app.metadata.token_endpoint_auth_method.as_str(),
        id_token_alg: app.metadata.id_token_signed_response_alg.as_str(),
        require_pkce: app.metadata.require_pkce,
        require_consent: app.metadata.require_consent,
        require_par: app.metadata.require_pushed_authorization_requests,
        dpop_bound: app.metadata.dpop_bound_access_tokens,
        jwks_uri: app.metadata.jwks_uri.as_deref().unwrap_or(""),
        jwks: app
            .metadata
            .jwks
            .as_ref()
            .and_then(|j| serde_json::to_string_pretty(j).ok())
            .unwrap_or_default(),
    })
}

/// The rest of the registered metadata, from the settings form's "more" part (sent
/// only by the page, so a form without it leaves these as they are).
fn more_settings(form: &Params, patch: &mut serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
    use serde_json::Value;
    let grants: Vec<Value> = form.all("grant_types").map(|g| g.to_owned().into()).collect();
    patch.insert("grant_types".into(), Value::Array(grants));
    patch.insert("scope".into(), form.get("scope").unwrap_or("").trim().into());
    for name in ["token_endpoint_auth_method", "id_token_signed_response_alg"] {
        if let Some(v) = form.non_empty(name) {
            patch.insert(name.into(), v.into());
        }
    }
    for name in [
        "require_pkce",
        "require_consent",
        "require_pushed_authorization_requests",
        "dpop_bound_access_tokens",
    ] {
        patch.insert(name.into(), (form.get(name) == Some("on")).into());
    }
    patch.insert(
        "jwks_uri".into(),
        form.non_empty("jwks_uri").map_or(Value::Null, |u| u.trim().into()),
    );
    let jwks = match form.non_empty("jwks").map(str::trim).filter(|j| !j.is_empty()) {
        Some(text) => serde_json::from_str::<Value>(text).map_err(|e| format!("jwks: not JSON ({e})"))?,
        None => Value::Null,
    };
    patch.insert("jwks".into(), jwks);
    Ok(())
}

/// `GET /console/environments/<env>/applications`.
pub(super) async fn list(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    op: Admin,
    Path(env): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = Params::parse(query.unwrap_or_default().as_bytes());
    let page = match s.svc.list_applications(&env, None, q.non_empty("after")).await {
        Ok(p) => p,
        Err(e) => return refused(&base, e),
    };
    let apps = page
        .items
        .iter()
        .map(|a| AppLine {
            name: a.metadata.client_name.clone(),
            client_id: a.client_id.clone(),
            auth: auth_label(a),
            pkce: a
                .metadata
                .code_challenge_method
                .map_or("the environment's policy".into(), |m| format!("{m} required")),
        })
        .collect();
    html(&AppsPage {
        public_url: base.url(),
        env: &env,
        username: &op.username,
        csrf: &op.csrf,
        apps,
        next: page.next,
    })
}

/// `POST /console/environments/<env>/applications`: registers one; a confidential
/// one's secret is on the page that answers, once.
pub(super) async fn create(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    Path(env): Path<String>,
    AdminForm(op, form): AdminForm,
) -> Response {
    let mut meta = serde_json::json!({
        "client_name": form.get("client_name").unwrap_or(""),
        "redirect_uris": lines(form.get("redirect_uris").unwrap_or("")),
    });
    if form.get("kind") != Some("confidential") {
        meta["token_endpoint_auth_method"] = "none".into();
    }
    let metadata = match crate::strict_json::from_json_value(meta) {
        Ok(m) => m,
        Err(e) => return refused(&base, e),
    };
    match s.svc.create_application(&env, metadata).await {
        Ok(app) => {
            op.audit(
                &s,
                "console.application_created",
                serde_json::json!({"env": env, "client": &app.client_id}),
            );
            app_page(&base, &env, &op, &app, app.client_secret.as_deref())
        }
        Err(e) => refused(&base, e),
    }
}

/// `GET /console/environments/<env>/applications/<client_id>`.
pub(super) async fn show(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    op: Admin,
    Path((env, id)): Path<(String, String)>,
) -> Response {
    match s.svc.get_application(&env, &id).await {
        Ok(app) => app_page(&base, &env, &op, &app, None),
        Err(e) => refused(&base, e),
    }
}

/// `POST /console/environments/<env>/applications/<client_id>`: `action` is `edit`,
/// `secret` or `delete`.
pub(super) async fn change(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    Path((env, id)): Path<(String, String)>,
    AdminForm(op, form): AdminForm,
) -> Response {
    match form.get("action") {
        Some("edit") => {
            let mut patch = serde_json::Map::new();
            patch.insert("client_name".into(), form.get("client_name").unwrap_or("").into());
            patch.insert(
                "redirect_uris".into(),
                serde_json::Value::Array(lines(form.get("redirect_uris").unwrap_or(""))),
            );
            let method = form.non_empty("code_challenge_method");
            patch.insert(
                "code_challenge_method".into(),
                method.map_or(serde_json::Value::Null, |m| m.into()),
            );
            if form.get("more") == Some("1") {
                if let Err(why) = more_settings(&form, &mut patch) {
                    return message_page(&base, StatusCode::BAD_REQUEST, "Not saved", &why);
                }
            }
            match s.svc.patch_application(&env, &id, patch).await {
                Ok(app) => {
                    op.audit(
                        &s,
                        "console.application_changed",
                        serde_json::json!({"env": env, "client": &id}),
                    );
                    app_page(&base, &env, &op, &app, app.client_secret.as_deref())
                }
                Err(e) => refused(&base, e),
            }
        }
        Some("secret") => match s.svc.reset_client_secret(&env, &id).await {
            Ok(app) => {
                op.audit(
                    &s,
                    "console.application_secret_reset",
                    serde_json::json!({"env": env, "client": &id}),
                );
                app_page(&base, &env, &op, &app, app.client_secret.as_deref())
            }
            Err(e) => refused(&base, e),
        },
        Some("delete") => match s.svc.delete_application(&env, &id).await {
            Ok(()) => {
                op.audit(
                    &s,
                    "console.application_deleted",
                    serde_json::json!({"env": env, "client": &id}),
                );
                redirect_to(&format!("{}/console/environments/{env}/applications", base.url()))
            }
            Err(e) => refused(&base, e),
        },
        _ => message_page(
            &base,
            StatusCode::BAD_REQUEST,
            "Not saved",
            "action: not one this page sends",
        ),
    }
}
