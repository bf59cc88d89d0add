//! `POST <issuer>/as/register`: RFC 7591 dynamic registration (no authentication).

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::net::SocketAddr;

use super::state::AppState;
use crate::error::ApiError;
use crate::grants::registration;

/// `POST <issuer>/as/register` with client metadata JSON.
pub(super) async fn register(
    State(s): State<AppState>,
    Path(env_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(metadata) = serde_json::from_slice::<serde_json::Value>(&body) else {
        let e = ApiError::Invalid {
            code: pixie_core::ErrorCode::InvalidClientMetadata,
            description: "the body must be client metadata as JSON".into(),
        };
        return e.oauth_response();
    };
    let addr = s.client_addr(peer, &headers);
    match registration::register(&s.svc, &env_id, &metadata, &addr).await {
        Ok(answer) => (StatusCode::CREATED, Json(answer)).into_response(),
        Err(e) => e.oauth_response(),
    }
}
