//! The pushed authorization request endpoint (RFC 9126). Every answer is
//! `Cache-Control: no-store`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::oauth::ClientRequest;
use super::state::AppState;
use crate::grants::par;

/// `POST <issuer>/as/par`: client authentication as at the token endpoint, the
/// authorization parameters in the form; `201` with a `request_uri`, or a JSON error.
pub(super) async fn par(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let addr = s.client_addr(peer, &headers);
    let pushed = async {
        let issuer = base.issuer(&env_id);
        let endpoint = format!("{issuer}{}", super::state::paths::PAR);
        let req = ClientRequest::read(&s, (&env_id, &issuer, &endpoint), &headers, &body).await?;
        let push = par::PushRequest {
            env: &req.env,
            client: &req.client,
            params: &req.params,
            issuer: &base.issuer(&env_id),
            dpop: super::oauth::dpop_proof(&headers)?,
            addr: &addr,
        };
        par::push(&s.svc, push).await
    }
    .await;
    match pushed {
        Ok(p) => (StatusCode::CREATED, Json(p)).into_response(),
        Err(e) => e.oauth_response(),
    }
}
