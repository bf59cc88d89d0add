//! The admin API's routes in one table, from which both the router and the OpenAPI 3.1
//! document at `/admin/openapi.json` are made: the document cannot name a route that
//! does not exist, nor miss one that does.

use axum::http::Method;
use axum::routing::{delete, get, patch, post, MethodRouter};
use serde_json::{json, Map, Value};

use super::admin;
use super::state::AppState;

/// One admin route, as the document describes it.
pub(super) struct AdminRoute {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{name}` parameters.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Query parameters it reads.
    pub query: &'static [&'static str],
    /// What its JSON body holds, when it takes one.
    pub body: Option<&'static str>,
    /// Its success status.
    pub status: u16,
}

const LIST: &[&str] = &["limit", "after"];

fn route(
    method: Method,
    path: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
    body: Option<&'static str>,
    status: u16,
) -> AdminRoute {
    AdminRoute {
        method,
        path,
        summary,
        query,
        body,
        status,
    }
}

/// Every admin route with its handler.
pub(super) fn admin_routes() -> Vec<(AdminRoute, MethodRouter<AppState>)> {
    use Method as M;
    const ENVS: &str = "/admin/environments";
    const ENV: &str = "/admin/environments/{env}";
    const APPS: &str = "/admin/environments/{env}/applications";
    const APP: &str = "/admin/environments/{env}/applications/{client_id}";
    const USERS: &str = "/admin/environments/{env}/users";
    const USER: &str = "/admin/environments/{env}/users/{user_id}";
    const RESOURCES: &str = "/admin/environments/{env}/resources";
    vec![
        (
            route(
                M::POST,
                ENVS,
                "Create an environment",
                &[],
                Some(
                    "{\"id\", \"pkce\", \"lifetimes\", \"registration\", \"require_par\", \"dpop_nonce\", \"profile\"}",
                ),
                201,
            ),
            post(admin::create_environment),
        ),
        (
            route(M::GET, ENVS, "List environments by id", LIST, None, 200),
            get(admin::list_environments),
        ),
        (
            route(M::GET, ENV, "Read an environment", &[], None, 200),
            get(admin::get_environment),
        ),
        (
            route(
                M::PATCH,
                ENV,
                "Change an environment's policy and settings",
                &[],
                Some("the fields of a creation but `id`"),
                200,
            ),
            patch(admin::patch_environment),
        ),
        (
            route(
                M::DELETE,
                ENV,
                "Remove an environment and everything of it",
                &[],
                None,
                204,
            ),
            delete(admin::delete_environment),
        ),
        (
            route(
                M::POST,
                APPS,
                "Register an application (its secret, once)",
                &[],
                Some("RFC 7591 client metadata"),
                201,
            ),
            post(admin::create_application),
        ),
        (
            route(M::GET, APPS, "List applications, oldest first", LIST, None, 200),
            get(admin::list_applications),
        ),
        (
            route(M::GET, APP, "Read an application (never its secret)", &[], None, 200),
            get(admin::get_application),
        ),
        (
            route(
                M::PATCH,
                APP,
                "Change an application (fields given replace; null resets)",
                &[],
                Some("RFC 7591 client metadata fields"),
                200,
            ),
            patch(admin::patch_application),
        ),
        (
            route(
                M::DELETE,
                APP,
                "Remove an application and revoke its tokens",
                &[],
                None,
                204,
            ),
            delete(admin::delete_application),
        ),
        (
            route(
                M::POST,
                "/admin/environments/{env}/applications/{client_id}/secret",
                "A new client secret, shown once; the old one stops working",
                &[],
                None,
                200,
            ),
            post(admin::reset_client_secret),
        ),
        (
            route(
                M::POST,
                USERS,
                "Create a user",
                &[],
                Some("{\"username\", \"password\", \"email\", \"name\", \"roles\"}"),
                201,
            ),
            post(admin::create_user),
        ),
        (
            route(
                M::GET,
                USERS,
                "List users by username; ?username= finds one",
                &["limit", "after", "username"],
                None,
                200,
            ),
            get(admin::list_users),
        ),
        (route(M::GET, USER, "Read a user", &[], None, 200), get(admin::get_user)),
        (
            route(
                M::PATCH,
                USER,
                "Change a user; a new password or disabling ends their sessions and tokens",
                &[],
                Some("{\"email\", \"name\", \"password\", \"roles\", \"disabled\"}"),
                200,
            ),
            patch(admin::patch_user),
        ),
        (
            route(
                M::DELETE,
                USER,
                "Remove a user, ending their sessions and tokens",
                &[],
                None,
                204,
            ),
            delete(admin::delete_user),
        ),
        (
            route(
                M::GET,
                "/admin/environments/{env}/users/{user_id}/consents",
                "A user's consents",
                &[],
                None,
                200,
            ),
            get(admin::list_consents),
        ),
        (
            route(
                M::DELETE,
                "/admin/environments/{env}/users/{user_id}/consents/{client_id}",
                "Withdraw a user's consents to a client and revoke its tokens for them",
                &[],
                None,
                204,
            ),
            delete(admin::revoke_consents),
        ),
        (
            route(
                M::GET,
                "/admin/environments/{env}/pkce-report",
                "The PKCE readiness report",
                &["days"],
                None,
                200,
            ),
            get(admin::pkce_report),
        ),
        (
            route(
                M::GET,
                "/admin/environments/{env}/keys",
                "Signing keys with status and dates",
                LIST,
                None,
                200,
            ),
            get(admin::list_keys),
        ),
        (
            route(
                M::POST,
                "/admin/environments/{env}/keys/rotate",
                "A new signing key that signs from now on",
                &[],
                Some("{\"alg\": \"ES256\" | \"RS256\"}"),
                201,
            ),
            post(admin::rotate_key),
        ),
        (
            route(
                M::POST,
                RESOURCES,
                "Register a resource server (RFC 8707)",
                &[],
                Some("{\"uri\", \"scopes\", \"name\"}"),
                201,
            ),
            post(admin::create_resource),
        ),
        (
            route(M::GET, RESOURCES, "List resource servers", &[], None, 200),
            get(admin::list_resources),
        ),
        (
            route(
                M::DELETE,
                "/admin/environments/{env}/resources/{uri}",
                "Remove a resource server (the URI percent-encoded)",
                &[],
                None,
                204,
            ),
            delete(admin::delete_resource),
        ),
    ]
}

/// The OpenAPI 3.1 document of these routes.
pub(super) fn openapi(routes: &[AdminRoute]) -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let mut paths = Map::new();
    for r in routes {
        let mut parameters: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        parameters.extend(
            r.query
                .iter()
                .map(|name| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}})),
        );
        let mut responses = Map::new();
        let ok = match r.status {
            204 => json!({"description": "Done"}),
            _ => json!({"description": "Done", "content": {"application/json": {"schema": {"type": "object"}}}}),
        };
        responses.insert(r.status.to_string(), ok);
        for (status, what) in [
            ("400", "Invalid: the description names the field"),
            ("401", "Missing or wrong admin token"),
            ("404", "Unknown environment or item"),
        ] {
            responses.insert(
                status.into(),
                json!({"description": what, "content": {"application/json": {"schema": error}}}),
            );
        }
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{}{}", r.method.as_str().to_ascii_lowercase(), r.path.replace(['/', '{', '}', '-'], "_")),
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(body) = r.body {
            op["requestBody"] = json!({
                "required": true,
                "description": body,
                "content": {"application/json": {"schema": {"type": "object"}}},
            });
        }
        let entry = paths.entry(r.path).or_insert_with(|| json!({}));
        entry[r.method.as_str().to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "pixie admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Operators' API of the pixie authorization server (CONTRACT §5). Lists take ?limit (1-500, default 50) and ?after (the previous page's `next`).",
        },
        "security": [{"adminToken": []}],
        "components": {
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {
                "type": "object",
                "required": ["error", "error_description"],
                "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
            }},
        },
        "paths": paths,
    })
}
