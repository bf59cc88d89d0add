//! Extractors: JSON bodies whose errors name the field, and the admin bearer token.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::state::AppState;
use crate::crypto;
use crate::error::{ApiError, ApiResult};

/// A JSON body. Whatever the `Content-Type`, the body is read as JSON; an error names
/// the field (`pkce.allowed[0]: …`).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(format!("body: {}", e.body_text())))?;
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| path_error_text(".", &e.to_string()))?;
        from_json_value(json).map(Self)
    }
}

fn path_error_text(path: &str, msg: &str) -> ApiError {
    // serde_json appends " at line L column C": noise for an API caller.
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    if path == "." || path.is_empty() {
        ApiError::invalid(format!("body: {msg}"))
    } else {
        ApiError::invalid(format!("{path}: {msg}"))
    }
}

/// Deserializes a JSON value, naming the field on error. A struct is read from a JSON
/// object only (see [`super::strict_json`]).
pub fn from_json_value<T: DeserializeOwned>(v: serde_json::Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(super::strict_json::Strict(v))
        .map_err(|e| path_error_text(&e.path().to_string(), &e.inner().to_string()))
}

/// Proof that the request carried the admin token (`Authorization: Bearer …`).
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // No bearer token: refused, and not counted (it guesses nothing).
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or(ApiError::Unauthorized)?;
        let addr = match parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        {
            Some(peer) => state.client_addr(peer.0, &parts.headers),
            None => String::new(),
        };
        // Every token presented is counted against the address before it is compared,
        // so guesses are bounded however many arrive at once; a right one is taken back.
        let key = match state.svc.reserve_admin_check(state.svc.now(), &addr).await? {
            Ok(key) => key,
            Err(wait) => return Err(ApiError::TooManyRequests(wait)),
        };
        // Hashing first makes the comparison constant-time whatever the length.
        if crypto::ct_eq(&crypto::sha256(token.trim().as_bytes()), &state.admin_token_hash[..]) {
            state.svc.admin_token_ok(&key).await?;
            Ok(AdminAuth)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}
