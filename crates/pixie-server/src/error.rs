//! pixie's one error type, [`ApiError`], and its rendering for each family of routes:
//!
//! - admin JSON and the framework's own rejections: [`IntoResponse`] (an RFC 6749
//!   §5.2-shaped body);
//! - the token, introspection and revocation endpoints: [`ApiError::oauth_response`]
//!   (`no-store`, 401 with the Basic challenge for a client that tried Basic);
//! - UserInfo: [`ApiError::bearer_response`] (RFC 6750 `WWW-Authenticate`);
//! - pages: `http::pages::error_response` (an HTML page for what the person can act
//!   on; it lives with the pages, so this module needs nothing of `http`);
//! - the flows API: [`ApiError::flows_response`] (`{"code", "message"}`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pixie_core::wire::ErrorBody;
use pixie_core::{ErrorCode, OAuthError};
use pixie_store::StoreError;

/// An error from an admin or JSON endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is invalid; the description names the field.
    #[error("{code}: {description}")]
    Invalid {
        /// The error code.
        code: ErrorCode,
        /// What is wrong, naming the field.
        description: String,
    },
    /// 401 `invalid_client`: client authentication failed. `basic` when the client
    /// tried HTTP Basic: the answer then carries the Basic challenge (RFC 6749 §5.2).
    #[error("invalid_client: {description}")]
    InvalidClient {
        /// What failed (the same words for every reason: see `grants::client_auth`).
        description: String,
        /// Whether the client used HTTP Basic.
        basic: bool,
    },
    /// 401 `invalid_token` at a resource (UserInfo): the bearer token is missing,
    /// invalid, expired or revoked.
    #[error("invalid_token: {0}")]
    InvalidToken(&'static str),
    /// 401 `invalid_token` at a resource for a DPoP-bound token presented without its
    /// proof (as Bearer, with no proof, or with another key's): the challenge is DPoP.
    #[error("invalid_token: {0}")]
    InvalidDpopToken(&'static str),
    /// The DPoP proof lacks the server's current nonce (RFC 9449 §8): `use_dpop_nonce`
    /// with the nonce to use in `DPoP-Nonce` (400 at the token endpoint, 401 at a
    /// resource).
    #[error("use_dpop_nonce: {description}")]
    DpopNonce {
        /// What to do.
        description: String,
        /// The current nonce.
        nonce: String,
    },
    /// 403 `insufficient_scope` at a resource.
    #[error("insufficient_scope: {0}")]
    InsufficientScope(&'static str),
    /// An error answer the framework wrote (a rejection: a bad path encoding, 405, 413,
    /// 408), with its status and its text.
    #[error("{status}: {text}")]
    Rejected {
        /// The framework's status.
        status: StatusCode,
        /// The framework's text (may be empty).
        text: String,
    },
    /// 401: missing or wrong admin token.
    #[error("missing or invalid admin token")]
    Unauthorized,
    /// 404: names what was not found.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 404: no environment of this id (as [`shown_id`] shows it).
    #[error("environment {0} not found")]
    UnknownEnvironment(String),
    /// 409: names what already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// 429: too many failed admin-token checks from this address; wait this many seconds.
    #[error("too many failed admin authentications from this address")]
    TooManyRequests(i64),
    /// 429: a rate limit other than the admin token's: what it limits, and the seconds
    /// to wait.
    #[error("{what}")]
    RateLimited {
        /// What was limited, for the description.
        what: &'static str,
        /// Seconds to wait.
        wait: i64,
    },
    /// 503: the store did not answer.
    #[error("the store is unavailable")]
    Unavailable,
    /// 500: a bug or a broken invariant; details are logged, not sent.
    #[error("internal error")]
    Internal,
}

/// Result of an API call.
pub type ApiResult<T> = Result<T, ApiError>;

/// An id as an error message may repeat it: quoted when it could be an environment id,
/// else not repeated at all (a message never echoes arbitrary input).
pub fn shown_id(id: &str) -> String {
    let plausible = (1..=63).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    match plausible {
        true => format!("'{id}'"),
        false => "(not a valid environment id)".into(),
    }
}

impl ApiError {
    /// 400 `invalid_request` with a description naming the field.
    pub fn invalid(description: impl Into<String>) -> Self {
        Self::Invalid {
            code: ErrorCode::InvalidRequest,
            description: description.into(),
        }
    }

    /// A 500 whose cause is logged (never sent to the client).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::Internal
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        if e.code == ErrorCode::InvalidClient {
            return Self::InvalidClient {
                description: e.description.into_owned(),
                basic: false,
            };
        }
        Self::Invalid {
            code: e.code,
            description: e.description.into_owned(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("record"),
            StoreError::Conflict(what) => Self::Conflict(what.to_owned()),
            StoreError::Database(cause) => {
                tracing::error!(%cause, "store error");
                Self::Unavailable
            }
            StoreError::Sqlite(cause) => {
                tracing::error!(%cause, "store error");
                Self::Unavailable
            }
            StoreError::Timeout => {
                tracing::error!("store error: a statement timed out");
                Self::Unavailable
            }
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, description) = match &self {
            Self::Invalid { code, description } => (StatusCode::BAD_REQUEST, code.as_str(), description.clone()),
            Self::InvalidClient { description, .. } => {
                (StatusCode::UNAUTHORIZED, "invalid_client", description.clone())
            }
            Self::InvalidToken(d) | Self::InvalidDpopToken(d) => {
                (StatusCode::UNAUTHORIZED, "invalid_token", (*d).to_owned())
            }
            Self::DpopNonce { description, .. } => (StatusCode::BAD_REQUEST, "use_dpop_nonce", description.clone()),
            Self::InsufficientScope(d) => (StatusCode::FORBIDDEN, "insufficient_scope", (*d).to_owned()),
            Self::Rejected { status, text } => {
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
                (*status, error, description)
            }
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid_token", self.to_string()),
            Self::NotFound(_) | Self::UnknownEnvironment(_) => (StatusCode::NOT_FOUND, "not_found", self.to_string()),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", self.to_string()),
            Self::TooManyRequests(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("too many failed admin authentications from this address; retry after {wait} seconds"),
            ),
            Self::RateLimited { what, wait } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("{what}; retry after {wait} seconds"),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the store did not answer; try again".into(),
            ),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error".into(),
            ),
        };
        let body = ErrorBody {
            error: error.into(),
            error_description: description,
        };
        let mut resp = (status, Json(body)).into_response();
        if let Self::TooManyRequests(wait) | Self::RateLimited { wait, .. } = self {
            if let Ok(v) = axum::http::HeaderValue::from_str(&wait.to_string()) {
                resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        if let Self::DpopNonce { nonce, .. } = &self {
            if let Ok(v) = axum::http::HeaderValue::from_str(nonce) {
                resp.headers_mut().insert("dpop-nonce", v);
            }
        }
        if matches!(self, Self::Unauthorized) {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"pixie-admin\""),
            );
        }
        resp
    }
}

fn no_store(resp: &mut Response) {
    use axum::http::{header, HeaderValue};
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl ApiError {
    /// The answer of the token, introspection and revocation endpoints (RFC 6749 §5.2):
    /// never cached; a client that tried HTTP Basic and failed gets the Basic challenge.
    pub fn oauth_response(self) -> Response {
        let basic = matches!(self, Self::InvalidClient { basic: true, .. });
        let mut resp = self.into_response();
        if basic {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"pixie\""),
            );
        }
        no_store(&mut resp);
        resp
    }

    /// The answer of a protected resource (RFC 6750 §3, RFC 9449 §7.1): a token error
    /// carries the challenge naming it, `Bearer` or, for DPoP-bound tokens and proofs,
    /// `DPoP` (401 for a bad proof or a missing nonce too).
    pub fn bearer_response(self) -> Response {
        const DPOP_ALGS: &str = "algs=\"ES256 RS256 PS256 EdDSA\"";
        let challenge = match &self {
            Self::InvalidToken(d) => Some(("Bearer", "invalid_token", (*d).to_owned())),
            Self::InsufficientScope(d) => Some(("Bearer", "insufficient_scope", (*d).to_owned())),
            Self::InvalidDpopToken(d) => Some(("DPoP", "invalid_token", (*d).to_owned())),
            Self::DpopNonce { description, .. } => Some(("DPoP", "use_dpop_nonce", description.clone())),
            Self::Invalid {
                code: ErrorCode::InvalidDpopProof,
                description,
            } => Some(("DPoP", "invalid_dpop_proof", description.clone())),
            _ => None,
        };
        let dpop_error = challenge
            .as_ref()
            .is_some_and(|c| c.0 == "DPoP" && c.1 != "invalid_token");
        let mut resp = self.into_response();
        if dpop_error {
            *resp.status_mut() = StatusCode::UNAUTHORIZED;
        }
        if let Some((scheme, error, description)) = challenge {
            let description = description.replace(['"', '\\'], "'");
            let mut value = format!("{scheme} realm=\"pixie\", error=\"{error}\", error_description=\"{description}\"");
            if scheme == "DPoP" {
                value = format!("{value}, {DPOP_ALGS}");
            }
            if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
                resp.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, v);
            }
        }
        no_store(&mut resp);
        resp
    }

    /// The flows API's answer: `{"code", "message"}` with its own codes.
    pub fn flows_response(self) -> Response {
        let (status, code, message) = match self {
            Self::NotFound(_) => (
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such flow, or it expired".to_owned(),
            ),
            e @ Self::UnknownEnvironment(_) => (StatusCode::NOT_FOUND, "NOT_FOUND", e.to_string()),
            Self::Invalid { description, .. } => (StatusCode::BAD_REQUEST, "INVALID_REQUEST", description),
            other => return other.into_response(),
        };
        flows_error(status, code, &message)
    }
}

/// A flows API error body (`{"code", "message"}`), never cached.
pub fn flows_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = pixie_core::wire::FlowError {
        code: code.into(),
        message: message.into(),
    };
    let mut resp = (status, Json(body)).into_response();
    no_store(&mut resp);
    resp
}
