//! The console's resource servers page (RFC 8707): list, register, remove; CSRF on
//! every form, audited with the operator, through the admin API's own calls.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use pixie_core::wire::CreateResource;

use super::console::{html, redirect_to, refused, Admin, AdminForm};
use super::state::{AppState, Base};

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

/// `GET /console/environments/<env>/resources`.
pub(super) async fn list(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    op: Admin,
    Path(env): Path<String>,
) -> Response {
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
    Path(env): Path<String>,
    AdminForm(op, form): AdminForm,
) -> Response {
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
            op.audit(
                &s,
                "console.resource_created",
                serde_json::json!({"env": env, "resource": &r.uri}),
            );
            redirect_to(&format!("{}/console/environments/{env}/resources", base.url()))
        }
        Err(e) => refused(&base, e),
    }
}

/// `POST /console/environments/<env>/resources/delete` with `uri`: removes one.
pub(super) async fn delete(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    Path(env): Path<String>,
    AdminForm(op, form): AdminForm,
) -> Response {
    let uri = form.get("uri").unwrap_or("");
    match s.svc.delete_resource(&env, uri).await {
        Ok(()) => {
            op.audit(
                &s,
                "console.resource_deleted",
                serde_json::json!({"env": env, "resource": uri}),
            );
            redirect_to(&format!("{}/console/environments/{env}/resources", base.url()))
        }
        Err(e) => refused(&base, e),
    }
}
