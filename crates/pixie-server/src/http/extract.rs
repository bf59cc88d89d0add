//! Extractors: JSON bodies whose errors name the field, and the admin bearer token.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::state::AppState;
use crate::crypto;
use crate::error::ApiError;

/// A JSON body. Whatever the `Content-Type`, the body is read as JSON; an error names
/// the field (`pkce.allowed[0]: …`).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e.status() {
            // Too large: 413, as at every other endpoint.
            axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::Rejected {
                status: e.status(),
                text: e.body_text(),
            },
            _ => ApiError::invalid(format!("body: {}", e.body_text())),
        })?;
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| crate::strict_json::path_error_text(".", &e.to_string()))?;
        crate::strict_json::from_json_value(json).map(Self)
    }
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
