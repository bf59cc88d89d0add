//! OpenID Connect UserInfo (Core §5.3), with RFC 6750 errors.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pixie_core::claims::{UserInfoClaims, UserProfile};
use pixie_core::wire::ErrorBody;

use super::AppState;

/// A Bearer token from `Authorization`.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))?.trim();
    (!t.is_empty()).then_some(t)
}

fn bearer_error(status: StatusCode, error: &str, description: &str) -> Response {
    let challenge = format!("Bearer realm=\"pixie\", error=\"{error}\", error_description=\"{description}\"");
    let mut resp = (
        status,
        Json(ErrorBody {
            error: error.into(),
            error_description: description.into(),
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET|POST <issuer>/as/userinfo`.
pub(super) async fn userinfo(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = s.svc.environment(&env_id).await {
        return e.into_response();
    }
    let Some(token) = bearer(&headers) else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "access token missing: send Authorization: Bearer",
        );
    };
    let claims = match s
        .svc
        .check_access_token(&env_id, token, Some(&base.issuer(&env_id)))
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is invalid, expired or revoked",
            )
        }
        Err(e) => return e.into_response(),
    };
    let scopes = claims.scopes();
    if !scopes.iter().any(|s| s == "openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the access token lacks the openid scope",
        );
    }
    let user = match s.svc.lookup_user(&env_id, &claims.sub).await {
        Ok(Some(u)) => u,
        Ok(None) => return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "the user no longer exists"),
        Err(e) => return e.into_response(),
    };
    let profile = UserProfile {
        id: &user.id,
        username: &user.username,
        name: user.name.as_deref(),
        email: user.email.as_deref(),
    };
    let body = UserInfoClaims::release(profile, &scopes);
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
