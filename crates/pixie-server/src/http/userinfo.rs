//! OpenID Connect UserInfo (Core §5.3), with RFC 6750 errors.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::state::AppState;
use crate::grants::userinfo::{self, Presented};

/// The access token as `Authorization` presents it: `Bearer` or `DPoP` (the scheme's
/// case does not matter), with the request's DPoP proof.
fn presented<'a>(headers: &'a HeaderMap) -> Result<Option<Presented<'a>>, crate::error::ApiError> {
    let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let (scheme, token) = v.split_once(' ').unwrap_or((v, ""));
    let token = token.trim();
    if token.is_empty() {
        return Ok(None);
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Some(Presented::Bearer(token)))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        let proof = super::oauth::dpop_proof(headers)?;
        Ok(Some(Presented::Dpop { token, proof }))
    } else {
        Ok(None)
    }
}

/// `GET|POST <issuer>/as/userinfo`.
pub(super) async fn userinfo(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let request = userinfo::UserInfoRequest {
            env_id: &env_id,
            presented: presented(&headers)?,
            issuer: &base.issuer(&env_id),
            method: method.as_str(),
        };
        userinfo::userinfo(&s.svc, request).await
    }
    .await;
    match answer {
        Ok(claims) => Json(claims).into_response(),
        Err(e) => e.bearer_response(),
    }
}
