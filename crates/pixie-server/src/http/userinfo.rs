//! OpenID Connect UserInfo (Core §5.3), with RFC 6750 errors.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::state::AppState;
use crate::grants::userinfo;

/// A Bearer token from `Authorization`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))?.trim();
    (!t.is_empty()).then_some(t)
}

/// `GET|POST <issuer>/as/userinfo`.
pub(super) async fn userinfo(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match userinfo::userinfo(&s.svc, &env_id, bearer(&headers), &base.issuer(&env_id)).await {
        Ok(claims) => Json(claims).into_response(),
        Err(e) => e.bearer_response(),
    }
}
