//! The console's resource servers page (RFC 8707): list, register, remove; CSRF on
//! every form, audited with the operator, through the admin API's own calls.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pixie_core::params::Params;
use pixie_core::wire::CreateResource;

use super::console::{admin_or_response, html, message_page, redirect_to, Admin};
use super::state::{AppState, Base};
use crate::error::ApiError;

struct ResourceLine {
    uri: String,
    name: String,
    scopes: String,
}

#[derive(Template)]
#[template(path = "console_resources.html")]
struct ResourcesPage<'a> {
    public_url: &'a str,
    env: &'a str,
    username: &'a str,
    csrf: &'a str,
    resources: Vec<ResourceLine>,
}

fn refused(base: &Base, e: ApiError) -> Response {
    match e {
        ApiError::Invalid { description, .. } => message_page(base, StatusCode::BAD_REQUEST, "Not saved", &description),
        ApiError::Conflict(what) => message_page(
            base,
            StatusCode::CONFLICT,
            "Not saved",
            &format!("{what} already exists"),
        ),
        e => e.into_response(),
    }
}

fn audit(s: &AppState, op: &Admin, event: &str, env: &str, uri: &str) {
    let fields = serde_json::json!({"env": env, "resource": uri, "operator": op.user_id, "via": "console"});
    s.svc.obs.audit(s.svc.now(), event, fields);
}

/// `GET /console/environments/<env>/resources`.
pub(super) async fn list(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    headers: HeaderMap,
    Path(env): Path<String>,
) -> Response {
    let op = match admin_or_response(&s, &base, &headers).await {
        Ok(op) => op,
        Err(resp) => return resp,
    };
    let page = match s.svc.list_resources(&env).await {
        Ok(p) => p,
        Err(e) => return refused(&base, e),
    };
    let resources = page
        .items
        .into_iter()
        .map(|r| ResourceLine {
            scopes: r.scopes.join(" "),
            name: r.name.unwrap_or_default(),
            uri: r.uri,
        })
        .collect();
    html(&ResourcesPage {
        public_url: base.url(),
        env: &env,
        username: &op.username,
        csrf: &op.csrf,
        resources,
    })
}

/// `POST /console/environments/<env>/resources`: registers one.
pub(super) async fn create(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    headers: HeaderMap,
    Path(env): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let op = match admin_or_response(&s, &base, &headers).await {
        Ok(op) => op,
        Err(resp) => return resp,
    };
    let form = Params::parse(&body);
    if let Some(refusal) = op.refuse_without_csrf(&base, &form) {
        return refusal;
    }
    let req = CreateResource {
        uri: form.get("uri").unwrap_or("").trim().to_owned(),
        scopes: form
            .get("scopes")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        name: form.non_empty("name").map(str::to_owned),
    };
    match s.svc.create_resource(&env, req).await {
        Ok(r) => {
            audit(&s, &op, "console.resource_created", &env, &r.uri);
            redirect_to(&format!("{}/console/environments/{env}/resources", base.url()))
        }
        Err(e) => refused(&base, e),
    }
}

/// `POST /console/environments/<env>/resources/delete` with `uri`: removes one.
pub(super) async fn delete(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    headers: HeaderMap,
    Path(env): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let op = match admin_or_response(&s, &base, &headers).await {
        Ok(op) => op,
        Err(resp) => return resp,
    };
    let form = Params::parse(&body);
    if let Some(refusal) = op.refuse_without_csrf(&base, &form) {
        return refusal;
    }
    let uri = form.get("uri").unwrap_or("");
    match s.svc.delete_resource(&env, uri).await {
        Ok(()) => {
            audit(&s, &op, "console.resource_deleted", &env, uri);
            redirect_to(&format!("{}/console/environments/{env}/resources", base.url()))
        }
        Err(e) => refused(&base, e),
    }
}
