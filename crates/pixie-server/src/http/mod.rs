//! HTTP: the router, shared state and the request log. Handlers are thin: they parse
//! with extractors, call the service or the core, and map errors through one type.

mod admin;
mod admin_routes;
mod authorize;
mod consent;
mod console;
mod console_apps;
mod console_env;
mod console_pages;
mod console_resources;
mod console_users;
pub mod cookies;
mod discovery;
pub mod extract;
mod introspect;
mod layers;
mod oauth;
pub mod pages;
mod par;
mod register;
mod respond;
mod signon;
mod state;
mod token;
mod userinfo;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use std::sync::Arc;

use crate::error::ApiError;
use crate::observe::Observability;

pub use console::{client_metadata as console_client_metadata, CLIENT_ID as CONSOLE_CLIENT_ID};
pub use state::{paths, AppState, Base};

/// Request bodies larger than this are refused with 413.
const BODY_LIMIT: usize = 64 * 1024;

/// Builds the router. Routes are flat (no nesting) so that the metrics see each
/// request's exact route template.
pub fn router(state: AppState) -> Router {
    let issuer = |path: &str| format!("/{{env}}{path}");
    let routes = Router::new()
        .route("/", get(home))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/static/pixie.css", get(pages::stylesheet))
        .route(
            "/.well-known/oauth-authorization-server/{env}",
            get(discovery::oauth_metadata).layer(layers::cors()),
        )
        .route(
            &issuer("/.well-known/openid-configuration"),
            get(discovery::openid_configuration).layer(layers::cors()),
        )
        // The path-inserted form (RFC 8414 §3's rule applied to OpenID discovery), which
        // MCP clients try second.
        .route(
            "/.well-known/openid-configuration/{env}",
            get(discovery::openid_configuration).layer(layers::cors()),
        )
        .route(&issuer(paths::JWKS), get(discovery::jwks).layer(layers::cors()))
        .route(
            &issuer(paths::AUTHORIZE),
            get(authorize::authorize).post(authorize::authorize),
        )
        .route(&issuer(paths::RESUME), get(authorize::resume))
        .route(
            &issuer(paths::SIGNOFF),
            get(authorize::signoff_page).post(authorize::signoff),
        )
        .route(&issuer(paths::SIGNON), get(signon::page).post(signon::submit))
        .route(&issuer(paths::CONSENT), get(consent::page).post(consent::submit))
        .route(
            &issuer("/flows/{flow_id}"),
            get(signon::get_flow).post(signon::post_flow),
        )
        .route(&issuer(paths::TOKEN), post(token::token).layer(layers::cors()))
        .route(&issuer(paths::PAR), post(par::par))
        .route(
            &issuer(paths::INTROSPECT),
            post(introspect::introspect).layer(layers::cors()),
        )
        .route(&issuer(paths::REVOKE), post(introspect::revoke).layer(layers::cors()))
        .route(&issuer(paths::REGISTER), post(register::register).layer(layers::cors()))
        .route(
            &issuer(paths::USERINFO),
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/admin/openapi.json", get(admin_openapi))
        .route("/console", get(console_slash))
        .route("/console/", get(console::home))
        .route("/console/signin", get(console::signin))
        .route("/console/callback", get(console::callback))
        .route("/console/signout", post(console::signout))
        .route("/console/environments/{env}/report", get(console_pages::report))
        .route("/console/environments/{env}/keys", get(console_pages::keys))
        .route(
            "/console/environments/{env}/keys/rotate",
            post(console_pages::rotate_key),
        )
        .route(
            "/console/environments/{env}/users",
            get(console_users::list).post(console_users::create),
        )
        .route(
            "/console/environments/{env}/users/{user_id}",
            get(console_users::show).post(console_users::change),
        )
        .route(
            "/console/environments/{env}/applications",
            get(console_apps::list).post(console_apps::create),
        )
        .route(
            "/console/environments/{env}/applications/{client_id}",
            get(console_apps::show).post(console_apps::change),
        )
        .route("/console/environments", post(console_env::create))
        .route(
            "/console/environments/{env}",
            get(console_env::show).post(console_env::save),
        )
        .route("/console/environments/{env}/delete", post(console_env::delete))
        .route(
            "/console/environments/{env}/resources",
            get(console_resources::list).post(console_resources::create),
        )
        .route(
            "/console/environments/{env}/resources/delete",
            post(console_resources::delete),
        );
    // The admin API, from the table its OpenAPI document is made of.
    let routes = admin_routes::admin_routes()
        .into_iter()
        .fold(routes, |r, (route, handler)| r.route(route.path, handler))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    layers::wrap(routes, &state).with_state(state)
}

/// `GET /metrics`: OpenMetrics text when the scraper asks for it (Prometheus does),
/// else Prometheus text 0.0.4.
async fn metrics(State(obs): State<Arc<Observability>>, headers: axum::http::HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (content_type, body) = if openmetrics {
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            obs.render_openmetrics(),
        )
    } else {
        ("text/plain; version=0.0.4; charset=utf-8", obs.render_prometheus_text())
    };
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}

/// `GET /admin/openapi.json`: the admin API as OpenAPI 3.1, made from the routing table
/// (public: it describes the API, it opens nothing).
async fn admin_openapi() -> Response {
    let routes: Vec<admin_routes::AdminRoute> = admin_routes::admin_routes().into_iter().map(|(r, _)| r).collect();
    axum::Json(admin_routes::openapi(&routes)).into_response()
}

/// `GET /console`: to `/console/` (when there is a console).
async fn console_slash(State(s): State<AppState>, axum::Extension(base): axum::Extension<state::Base>) -> Response {
    match s.console_env {
        Some(_) => (
            axum::http::StatusCode::PERMANENT_REDIRECT,
            [(axum::http::header::LOCATION, format!("{}/console/", base.url()))],
        )
            .into_response(),
        None => ApiError::NotFound("endpoint").into_response(),
    }
}

/// `GET /`: a small page for a person who opens the server's address.
async fn home(axum::Extension(base): axum::Extension<state::Base>) -> Response {
    pages::home_page(base.url())
}

/// How long `/healthz` waits for the store: a load balancer's check (2-5 s) must get
/// an answer, not silence, while the database is away.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

async fn healthz(State(store): State<pixie_store::Store>) -> Response {
    match tokio::time::timeout(HEALTH_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(_)) | Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("endpoint")
}
