//! The token endpoint (RFC 6749 §3.2, §4.1.3; OAuth 2.1 §3.2). Every answer is
//! `Cache-Control: no-store`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::oauth::ClientRequest;
use super::state::AppState;
use crate::grants::token::{self, TokenRequest};

/// `POST <issuer>/as/token`.
pub(super) async fn token(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let issuer = base.issuer(&env_id);
    let issued = async {
        let endpoint = format!("{issuer}{}", super::state::paths::TOKEN);
        let req = ClientRequest::read(&s, (&env_id, &issuer, &endpoint), &headers, &body).await?;
        let request = TokenRequest {
            env: &req.env,
            client: &req.client,
            params: &req.params,
            issuer: &issuer,
            dpop: super::oauth::dpop_proof(&headers)?,
        };
        token::issue(&s.svc, request).await
    }
    .await;
    match issued {
        Ok(tokens) => {
            let mut resp = Json(tokens).into_response();
            resp.headers_mut().insert(
                axum::http::header::PRAGMA,
                axum::http::HeaderValue::from_static("no-cache"),
            );
            resp
        }
        Err(e) => {
            token::audit_rejection(&s.svc, &env_id, &e);
            e.oauth_response()
        }
    }
}
