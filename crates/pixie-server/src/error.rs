//! The one error type of the JSON APIs; it renders as an RFC 6749 §5.2-shaped body.

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
    /// 401: missing or wrong admin token.
    #[error("missing or invalid admin token")]
    Unauthorized,
    /// 404: names what was not found.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: names what already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// 429: too many failed admin-token checks from this address; wait this many seconds.
    #[error("too many failed admin authentications from this address")]
    TooManyRequests(i64),
    /// 503: the store did not answer.
    #[error("the store is unavailable")]
    Unavailable,
    /// 500: a bug or a broken invariant; details are logged, not sent.
    #[error("internal error")]
    Internal,
}

/// Result of an API call.
pub type ApiResult<T> = Result<T, ApiError>;

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
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, description) = match &self {
            Self::Invalid { code, description } => (StatusCode::BAD_REQUEST, code.as_str(), description.clone()),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid_token", self.to_string()),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", self.to_string()),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", self.to_string()),
            Self::TooManyRequests(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("too many failed admin authentications from this address; retry after {wait} seconds"),
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
        if let Self::TooManyRequests(wait) = self {
            if let Ok(v) = axum::http::HeaderValue::from_str(&wait.to_string()) {
                resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
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
