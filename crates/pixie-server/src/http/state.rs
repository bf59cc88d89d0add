//! What handlers share: the application state, the request's public base URL, and the
//! endpoint paths.

use std::sync::Arc;

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
    /// RFC 7591 dynamic registration.
    pub const REGISTER: &str = "/as/register";
    /// Pushed authorization requests (RFC 9126).
    pub const PAR: &str = "/as/par";
    /// The consent page.
    pub const CONSENT: &str = "/consent";
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
    /// The environment whose admins may use the console (`--console-env`); no console
    /// without it.
    pub console_env: Option<String>,
    /// Held while the console checks that a change leaves it an admin and makes the
    /// change, so two such changes at once cannot each count on the other's admin.
    pub console_admin_change: Arc<tokio::sync::Mutex<()>>,
}

impl AppState {
    /// The client's address, as a string for throttling and the audit log.
    pub fn client_addr(&self, peer: std::net::SocketAddr, headers: &axum::http::HeaderMap) -> String {
        crate::net::client_ip(peer.ip(), headers, &self.trusted).to_string()
    }
}

// What a handler that needs one concern takes instead of the whole state.

impl axum::extract::FromRef<AppState> for pixie_store::Store {
    fn from_ref(s: &AppState) -> Self {
        s.svc.store.clone()
    }
}

impl axum::extract::FromRef<AppState> for Arc<crate::observe::Observability> {
    fn from_ref(s: &AppState) -> Self {
        s.svc.obs.clone()
    }
}

impl axum::extract::FromRef<AppState> for Arc<crate::directory::Directory> {
    fn from_ref(s: &AppState) -> Self {
        s.svc.directory.clone()
    }
}

impl axum::extract::FromRef<AppState> for Arc<crate::keyring::KeyRing> {
    fn from_ref(s: &AppState) -> Self {
        s.svc.keys.clone()
    }
}
