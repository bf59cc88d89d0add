//! Introspection (RFC 7662) and revocation (RFC 7009). Callers authenticate as a client
//! of the same environment, as at the token endpoint.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::oauth::ClientRequest;
use super::state::AppState;
use crate::grants::introspection;

/// `POST <issuer>/as/introspect`.
pub(super) async fn introspect(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        let issuer = base.issuer(&env_id);
        let endpoint = format!("{issuer}{}", super::state::paths::INTROSPECT);
        let req = ClientRequest::read(&s, (&env_id, &issuer, &endpoint), &headers, &body).await?;
        introspection::introspect(&s.svc, &env_id, &req.client, &req.params, &base.issuer(&env_id)).await
    }
    .await;
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.oauth_response(),
    }
}

/// `POST <issuer>/as/revoke`: 200 whether or not there was anything to revoke.
pub(super) async fn revoke(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let done = async {
        let issuer = base.issuer(&env_id);
        let endpoint = format!("{issuer}{}", super::state::paths::REVOKE);
        let req = ClientRequest::read(&s, (&env_id, &issuer, &endpoint), &headers, &body).await?;
        introspection::revoke(&s.svc, &env_id, &req.client, &req.params).await
    }
    .await;
    match done {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.oauth_response(),
    }
}
