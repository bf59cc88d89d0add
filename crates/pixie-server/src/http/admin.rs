//! The admin API (CONTRACT §5): thin handlers over [`crate::service::Service`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use pixie_core::client::ClientMetadata;
use pixie_core::wire::{
    Application, CreateEnvironment, CreateResource, CreateUser, Environment, ListPage, PatchEnvironment, Resource, User,
};

use super::extract::{AdminAuth, JsonBody};
use super::state::AppState;
use crate::error::ApiResult;

pub(super) async fn create_environment(
    _: AdminAuth,
    State(s): State<AppState>,
    JsonBody(req): JsonBody<CreateEnvironment>,
) -> ApiResult<(StatusCode, Json<Environment>)> {
    Ok((StatusCode::CREATED, Json(s.svc.create_environment(req).await?)))
}

pub(super) async fn get_environment(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
) -> ApiResult<Json<Environment>> {
    Ok(Json(s.svc.get_environment(&env).await?))
}

pub(super) async fn patch_environment(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
    JsonBody(patch): JsonBody<PatchEnvironment>,
) -> ApiResult<Json<Environment>> {
    Ok(Json(s.svc.patch_environment(&env, patch).await?))
}

pub(super) async fn create_application(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
    JsonBody(meta): JsonBody<ClientMetadata>,
) -> ApiResult<(StatusCode, Json<Application>)> {
    Ok((StatusCode::CREATED, Json(s.svc.create_application(&env, meta).await?)))
}

pub(super) async fn get_application(
    _: AdminAuth,
    State(s): State<AppState>,
    Path((env, client_id)): Path<(String, String)>,
) -> ApiResult<Json<Application>> {
    Ok(Json(s.svc.get_application(&env, &client_id).await?))
}

pub(super) async fn patch_application(
    _: AdminAuth,
    State(s): State<AppState>,
    Path((env, client_id)): Path<(String, String)>,
    JsonBody(patch): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<Json<Application>> {
    Ok(Json(s.svc.patch_application(&env, &client_id, patch).await?))
}

pub(super) async fn delete_application(
    _: AdminAuth,
    State(s): State<AppState>,
    Path((env, client_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.svc.delete_application(&env, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn create_user(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
    JsonBody(req): JsonBody<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    Ok((StatusCode::CREATED, Json(s.svc.create_user(&env, req).await?)))
}

/// `?days=N` for the PKCE report.
#[derive(serde::Deserialize)]
pub(super) struct Window {
    days: Option<i64>,
}

pub(super) async fn pkce_report(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
    axum::extract::Query(w): axum::extract::Query<Window>,
) -> ApiResult<Json<pixie_core::report::Report>> {
    let days = w.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(crate::error::ApiError::invalid("days: must be 1 to 366"));
    }
    Ok(Json(s.svc.pkce_report(&env, days).await?))
}

pub(super) async fn create_resource(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
    JsonBody(req): JsonBody<CreateResource>,
) -> ApiResult<(StatusCode, Json<Resource>)> {
    Ok((StatusCode::CREATED, Json(s.svc.create_resource(&env, req).await?)))
}

/// `GET /admin/environments/<env>/keys`.
pub(super) async fn list_keys(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
    q: ListQuery,
) -> ApiResult<Json<pixie_core::wire::ListPage<pixie_core::wire::SigningKeyInfo>>> {
    Ok(Json(
        s.svc.list_signing_keys(&env, q.get("limit"), q.get("after")).await?,
    ))
}

/// `POST /admin/environments/<env>/keys/rotate`.
pub(super) async fn rotate_key(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
    JsonBody(req): JsonBody<pixie_core::wire::RotateKey>,
) -> ApiResult<(StatusCode, Json<pixie_core::wire::SigningKeyInfo>)> {
    let alg = req.alg.unwrap_or(pixie_core::client::SigningAlg::ES256);
    Ok((StatusCode::CREATED, Json(s.svc.rotate_signing_key(&env, alg).await?)))
}

pub(super) async fn list_resources(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
) -> ApiResult<Json<ListPage<Resource>>> {
    Ok(Json(s.svc.list_resources(&env).await?))
}

/// `DELETE …/resources/<uri>`, the URI percent-encoded as one path segment.
pub(super) async fn delete_resource(
    _: AdminAuth,
    State(s): State<AppState>,
    Path((env, uri)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.svc.delete_resource(&env, &uri).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn list_consents(
    _: AdminAuth,
    State(s): State<AppState>,
    Path((env, user_id)): Path<(String, String)>,
) -> ApiResult<Json<ListPage<pixie_core::wire::Consent>>> {
    let items = crate::grants::consent::list(&s.svc, &env, &user_id).await?;
    Ok(Json(ListPage { items, next: None }))
}

/// Withdraws the user's consents to a client and revokes its tokens for the user.
pub(super) async fn revoke_consents(
    _: AdminAuth,
    State(s): State<AppState>,
    Path((env, user_id, client_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    crate::grants::consent::revoke(&s.svc, &env, &user_id, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?limit=`, `?after=` and (for users) `?username=` of a list, each at most once.
pub(super) struct ListQuery(pixie_core::params::Params);

impl ListQuery {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ListQuery {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let params = pixie_core::params::Params::parse(parts.uri.query().unwrap_or("").as_bytes());
        if let Some(name) = params.first_repeated() {
            return Err(crate::error::ApiError::invalid(format!("{name}: given more than once")));
        }
        Ok(Self(params))
    }
}

/// `GET /admin/environments`.
pub(super) async fn list_environments(
    _: AdminAuth,
    State(s): State<AppState>,
    q: ListQuery,
) -> ApiResult<Json<ListPage<Environment>>> {
    Ok(Json(s.svc.list_environments(q.get("limit"), q.get("after")).await?))
}

/// `DELETE /admin/environments/<env>`.
pub(super) async fn delete_environment(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
) -> ApiResult<StatusCode> {
    s.svc.delete_environment(&env).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/environments/<env>/applications`.
pub(super) async fn list_applications(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
    q: ListQuery,
) -> ApiResult<Json<ListPage<Application>>> {
    Ok(Json(
        s.svc.list_applications(&env, q.get("limit"), q.get("after")).await?,
    ))
}

/// `POST …/applications/<client_id>/secret`: a new secret, shown once.
pub(super) async fn reset_client_secret(
    _: AdminAuth,
    State(s): State<AppState>,
    Path((env, client_id)): Path<(String, String)>,
) -> ApiResult<Json<Application>> {
    Ok(Json(s.svc.reset_client_secret(&env, &client_id).await?))
}

/// `GET /admin/environments/<env>/users`.
pub(super) async fn list_users(
    _: AdminAuth,
    State(s): State<AppState>,
    Path(env): Path<String>,
    q: ListQuery,
) -> ApiResult<Json<ListPage<User>>> {
    let page = s
        .svc
        .list_users(&env, q.get("username"), q.get("limit"), q.get("after"))
        .await?;
    Ok(Json(page))
}

/// `GET …/users/<id>`.
pub(super) async fn get_user(
    _: AdminAuth,
    State(s): State<AppState>,
    Path((env, user_id)): Path<(String, String)>,
) -> ApiResult<Json<User>> {
    Ok(Json(s.svc.get_user(&env, &user_id).await?))
}

/// `PATCH …/users/<id>`.
pub(super) async fn patch_user(
    _: AdminAuth,
    State(s): State<AppState>,
    Path((env, user_id)): Path<(String, String)>,
    JsonBody(patch): JsonBody<pixie_core::wire::PatchUser>,
) -> ApiResult<Json<User>> {
    Ok(Json(s.svc.patch_user(&env, &user_id, patch).await?))
}

/// `DELETE …/users/<id>`.
pub(super) async fn delete_user(
    _: AdminAuth,
    State(s): State<AppState>,
    Path((env, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.svc.delete_user(&env, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
