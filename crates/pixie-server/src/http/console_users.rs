//! The console's users pages: find, list, create, change (profile, roles, password),
//! disable, enable and delete, each form with the CSRF token and each change audited
//! with the operator. Changes go through the same service calls as the admin API, so
//! disabling or a new password ends the user's sessions and tokens here too.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use pixie_core::params::Params;
use pixie_core::wire::{CreateUser, PatchUser, User};

use super::console::{html, message_page, redirect_to, refused, Admin, AdminForm};
use super::state::{AppState, Base};

/// A user's line in the list.
struct UserLine {
    id: String,
    username: String,
    email: String,
    roles: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "console_users.html")]
struct UsersPage<'a> {
    public_url: &'a str,
    env: &'a str,
    username: &'a str,
    csrf: &'a str,
    find: &'a str,
    users: Vec<UserLine>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "console_user.html")]
struct UserPage<'a> {
    public_url: &'a str,
    env: &'a str,
    username: &'a str,
    csrf: &'a str,
    action: &'a str,
    user: &'a User,
    status: &'a str,
    email: &'a str,
    name: &'a str,
    roles: String,
    consents: Vec<ConsentLine>,
}

/// A consent's line on the user page.
struct ConsentLine {
    client_id: String,
    scopes: String,
    resources: String,
}

/// Roles typed as "a, b": the list, empty entries dropped.
fn roles(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether a change that takes `user_id` out of the console's admins (disabled, deleted
/// or the role removed) would leave the console with no active admin: the console
/// refuses it rather than lock every operator out (the CLI and the admin API, which a
/// token opens, still can).
async fn last_admin(s: &AppState, env: &str, user_id: &str) -> crate::error::ApiResult<bool> {
    if s.console_env.as_deref() != Some(env) {
        return Ok(false);
    }
    let is_admin = |u: &User| !u.disabled && u.roles.iter().any(|r| r == super::console::ADMIN_ROLE);
    let mut after: Option<String> = None;
    loop {
        let page = s.svc.list_users(env, None, Some("500"), after.as_deref()).await?;
        if page.items.iter().any(|u| u.id != user_id && is_admin(u)) {
            return Ok(false);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    // No other admin: only a change to a current admin would leave none.
    Ok(s.svc.get_user(env, user_id).await.is_ok_and(|u| is_admin(&u)))
}

/// `GET /console/environments/<env>/users[?username=…][&after=…]`.
pub(super) async fn list(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    op: Admin,
    Path(env): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = Params::parse(query.unwrap_or_default().as_bytes());
    let find = q.non_empty("username");
    let page = match s.svc.list_users(&env, find, None, q.non_empty("after")).await {
        Ok(page) => page,
        Err(e) => return refused(&base, e),
    };
    let users = page
        .items
        .into_iter()
        .map(|u| UserLine {
            status: if u.disabled { "disabled" } else { "active" },
            roles: u.roles.join(", "),
            email: u.email.unwrap_or_default(),
            username: u.username,
            id: u.id,
        })
        .collect();
    html(&UsersPage {
        public_url: base.url(),
        env: &env,
        username: &op.username,
        csrf: &op.csrf,
        find: find.unwrap_or(""),
        users,
        next: page.next,
    })
}

/// `POST /console/environments/<env>/users`: creates a user.
pub(super) async fn create(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    Path(env): Path<String>,
    AdminForm(op, form): AdminForm,
) -> Response {
    let req = CreateUser {
        username: form.get("username").unwrap_or("").to_owned(),
        password: form.get("password").unwrap_or("").to_owned(),
        email: form.non_empty("email").map(str::to_owned),
        name: form.non_empty("name").map(str::to_owned),
        roles: roles(form.get("roles").unwrap_or("")),
    };
    match s.svc.create_user(&env, req).await {
        Ok(user) => {
            op.audit(
                &s,
                "console.user_created",
                serde_json::json!({"env": env, "user": &user.id}),
            );
            redirect_to(&format!("{}/console/environments/{env}/users/{}", base.url(), user.id))
        }
        Err(e) => refused(&base, e),
    }
}

/// `GET /console/environments/<env>/users/<id>`.
pub(super) async fn show(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    op: Admin,
    Path((env, id)): Path<(String, String)>,
) -> Response {
    let user = match s.svc.get_user(&env, &id).await {
        Ok(u) => u,
        Err(e) => return refused(&base, e),
    };
    let consents = match crate::grants::consent::list(&s.svc, &env, &user.id).await {
        Ok(c) => c,
        Err(e) => return refused(&base, e),
    };
    let consents = consents
        .into_iter()
        .map(|c| ConsentLine {
            scopes: c.scopes.join(" "),
            resources: c.resources.join(" "),
            client_id: c.client_id,
        })
        .collect();
    let action = format!("{}/console/environments/{env}/users/{}", base.url(), user.id);
    html(&UserPage {
        public_url: base.url(),
        env: &env,
        username: &op.username,
        csrf: &op.csrf,
        action: &action,
        status: if user.disabled { "Disabled" } else { "Active" },
        email: user.email.as_deref().unwrap_or(""),
        name: user.name.as_deref().unwrap_or(""),
        roles: user.roles.join(", "),
        user: &user,
        consents,
    })
}

/// `POST /console/environments/<env>/users/<id>`: `action` is `profile`, `password`,
/// `disable`, `enable` or `delete`.
pub(super) async fn change(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    Path((env, id)): Path<(String, String)>,
    AdminForm(op, form): AdminForm,
) -> Response {
    let back = format!("{}/console/environments/{env}/users/{id}", base.url());
    let action = form.get("action").unwrap_or("");
    let drops_admin = match action {
        "disable" | "delete" => true,
        "profile" => !roles(form.get("roles").unwrap_or(""))
            .iter()
            .any(|r| r == super::console::ADMIN_ROLE),
        _ => false,
    };
    // Held through the change: the check and the write are one step for this
    // instance (instances sharing a store can still race; the CLI is the way back).
    let _one_at_a_time = match drops_admin {
        true => Some(s.console_admin_change.clone().lock_owned().await),
        false => None,
    };
    if drops_admin {
        match last_admin(&s, &env, &id).await {
            Ok(false) => {}
            Ok(true) => {
                return message_page(
                    &base,
                    StatusCode::CONFLICT,
                    "Not saved",
                    "this is the console's last active admin: give another user the admin role first",
                )
            }
            Err(e) => return refused(&base, e),
        }
    }
    let patch = match form.get("action") {
        Some("profile") => PatchUser {
            email: Some(form.non_empty("email").map(str::to_owned)),
            name: Some(form.non_empty("name").map(str::to_owned)),
            roles: Some(roles(form.get("roles").unwrap_or(""))),
            ..Default::default()
        },
        Some("password") => PatchUser {
            password: Some(form.get("password").unwrap_or("").to_owned()),
            ..Default::default()
        },
        Some("disable") => PatchUser {
            disabled: Some(true),
            ..Default::default()
        },
        Some("enable") => PatchUser {
            disabled: Some(false),
            ..Default::default()
        },
        Some("withdraw_consent") => {
            let client = form.get("client_id").unwrap_or("");
            return match crate::grants::consent::revoke(&s.svc, &env, &id, client).await {
                Ok(()) => {
                    let fields = serde_json::json!({"env": env, "user": &id, "client": client});
                    op.audit(&s, "console.consent_withdrawn", fields);
                    redirect_to(&back)
                }
                Err(e) => refused(&base, e),
            };
        }
        Some("delete") => {
            return match s.svc.delete_user(&env, &id).await {
                Ok(()) => {
                    op.audit(&s, "console.user_deleted", serde_json::json!({"env": env, "user": &id}));
                    redirect_to(&format!("{}/console/environments/{env}/users", base.url()))
                }
                Err(e) => refused(&base, e),
            }
        }
        _ => {
            return message_page(
                &base,
                StatusCode::BAD_REQUEST,
                "Not saved",
                "action: not one this page sends",
            )
        }
    };
    let event = match form.get("action") {
        Some("password") => "console.user_password_set",
        Some("disable") => "console.user_disabled",
        Some("enable") => "console.user_enabled",
        _ => "console.user_changed",
    };
    match s.svc.patch_user(&env, &id, patch).await {
        Ok(_) => {
            op.audit(&s, event, serde_json::json!({"env": env, "user": &id}));
            redirect_to(&back)
        }
        Err(e) => refused(&base, e),
    }
}
