//! HTTP: the router, shared state and the request log. Handlers are thin: they parse
//! with extractors, call the service or the core, and map errors through one type.

mod admin;
mod authorize;
pub mod cookies;
mod discovery;
pub mod extract;
mod introspect;
mod layers;
mod oauth;
pub mod pages;
mod signon;
mod strict_json;
mod token;
mod userinfo;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

use crate::error::ApiError;
use crate::service::Service;

/// Endpoint paths below an issuer (`<public-url>/<env>`).
pub mod paths {
    /// The authorization endpoint.
    pub const AUTHORIZE: &str = "/as/authorize";
    /// The token endpoint.
    pub const TOKEN: &str = "/as/token";
    /// OpenID Connect UserInfo.
    pub const USERINFO: &str = "/as/userinfo";
    /// RFC 7662 introspection.
    pub const INTROSPECT: &str = "/as/introspect";
    /// RFC 7009 revocation.
    pub const REVOKE: &str = "/as/revoke";
    /// The JWKS.
    pub const JWKS: &str = "/as/jwks";
    /// Where a completed sign-on flow resumes the authorization.
    pub const RESUME: &str = "/as/resume";
    /// The headless flows API.
    pub const FLOWS: &str = "/flows";
    /// The sign-on page.
    pub const SIGNON: &str = "/signon";
    /// Ends the browser's session.
    pub const SIGNOFF: &str = "/as/signoff";
}

/// The public base URL of one request: the configured `--public-url`, or what a
/// trusted proxy forwards, or the listen address. Issuers, links and cookie flags
/// are built from it.
#[derive(Debug, Clone)]
pub struct Base(pub String);

impl Base {
    /// The base URL.
    pub fn url(&self) -> &str {
        &self.0
    }

    /// The issuer of an environment: `<base>/<env>`.
    pub fn issuer(&self, env_id: &str) -> String {
        format!("{}/{env_id}", self.0)
    }

    /// Whether the base is https (then cookies are `Secure` and `__Host-`).
    pub fn secure(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// Where a sign-on flow resumes.
    pub fn resume_url(&self, env_id: &str, flow_id: &str) -> String {
        format!("{}{}?flowId={flow_id}", self.issuer(env_id), paths::RESUME)
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// pixie's operations and store.
    pub svc: Arc<Service>,
    /// SHA-256 of the admin token, compared in constant time.
    pub admin_token_hash: Arc<[u8; 32]>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted: Arc<crate::net::TrustedProxies>,
    /// The longest a request may take, body included.
    pub request_timeout: std::time::Duration,
}

impl AppState {
    /// The client's address, as a string for throttling and the audit log.
    pub fn client_addr(&self, peer: std::net::SocketAddr, headers: &axum::http::HeaderMap) -> String {
        crate::net::client_ip(peer.ip(), headers, &self.trusted).to_string()
    }
}

/// Request bodies larger than this are refused with 413.
const BODY_LIMIT: usize = 64 * 1024;

/// Builds the router. Routes are flat (no nesting) so that the metrics see each
/// request's exact route template.
pub fn router(state: AppState) -> Router {
    let issuer = |path: &str| format!("/{{env}}{path}");
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/static/pixie.css", get(pages::stylesheet))
        .route(
            "/.well-known/oauth-authorization-server/{env}",
            get(discovery::oauth_metadata),
        )
        .route(
            &issuer("/.well-known/openid-configuration"),
            get(discovery::openid_configuration),
        )
        .route(&issuer(paths::JWKS), get(discovery::jwks))
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
        .route(
            &issuer("/flows/{flow_id}"),
            get(signon::get_flow).post(signon::post_flow),
        )
        .route(&issuer(paths::TOKEN), post(token::token))
        .route(&issuer(paths::INTROSPECT), post(introspect::introspect))
        .route(&issuer(paths::REVOKE), post(introspect::revoke))
        .route(
            &issuer(paths::USERINFO),
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/admin/environments", post(admin::create_environment))
        .route(
            "/admin/environments/{env}",
            get(admin::get_environment).patch(admin::patch_environment),
        )
        .route(
            "/admin/environments/{env}/applications",
            post(admin::create_application),
        )
        .route(
            "/admin/environments/{env}/applications/{client_id}",
            get(admin::get_application)
                .patch(admin::patch_application)
                .delete(admin::delete_application),
        )
        .route("/admin/environments/{env}/users", post(admin::create_user))
        .route("/admin/environments/{env}/pkce-report", get(admin::pkce_report))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    layers::wrap(routes, &state).with_state(state)
}

/// Gives every error response an RFC 6749-shaped body. pixie's own errors already have
/// one (JSON, an HTML page, or the flows API's); this catches the framework's
/// rejections (a bad path encoding, 405, 413, …), which answer in plain text or nothing.
pub(crate) async fn error_shape(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let structured = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    if structured {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let error = match status.as_u16() {
        401 => "invalid_token",
        404 => "not_found",
        429 => "slow_down",
        500..=599 => "server_error",
        _ => "invalid_request",
    };
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    let description = match text.trim() {
        "" => reason,
        t => format!("{reason}: {}", t.chars().take(200).collect::<String>()),
    };
    let body = pixie_core::wire::ErrorBody {
        error: error.into(),
        error_description: description,
    };
    let mut out = (status, axum::Json(body)).into_response();
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

/// `GET /metrics`: OpenMetrics text when the scraper asks for it (Prometheus does),
/// else Prometheus text 0.0.4.
async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (content_type, body) = if openmetrics {
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            state.svc.obs.render_openmetrics(),
        )
    } else {
        (
            "text/plain; version=0.0.4; charset=utf-8",
            state.svc.obs.render_prometheus_text(),
        )
    };
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}

/// How long `/healthz` waits for the store: a load balancer's check (2-5 s) must get
/// an answer, not silence, while the database is away.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

async fn healthz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(HEALTH_TIMEOUT, state.svc.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(_)) | Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("endpoint")
}
