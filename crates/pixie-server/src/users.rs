//! Users as operators manage them (CONTRACT §5): created, listed, read, changed,
//! disabled and removed. Disabling or removing a user, or changing their password, ends
//! their sessions and revokes every token issued to them, in the store's transaction
//! (see [`pixie_store::UserChange`]).

use pixie_core::paging;
use pixie_core::wire::{self, CreateUser, ListPage, PatchUser};
use pixie_store::{UserChange, UserRow, UserUpdate};

use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// The user as the admin API shows it: never the password hash.
pub fn user_view(row: &UserRow) -> wire::User {
    wire::User {
        id: row.id.clone(),
        username: row.username.clone(),
        email: row.email.clone(),
        name: row.name.clone(),
        roles: row.roles.clone(),
        disabled: row.disabled_at.is_some(),
        created_at: row.created_at,
    }
}

fn check_password(password: &str) -> ApiResult<()> {
    if password.is_empty() || password.len() > 1024 {
        return Err(ApiError::invalid("password: 1-1024 bytes"));
    }
    Ok(())
}

fn check_shown(field: &str, v: Option<&str>) -> ApiResult<()> {
    if v.is_some_and(|v| v.chars().count() > 256 || !pixie_core::names::shows_as_written(v)) {
        return Err(ApiError::invalid(format!(
            "{field}: at most 256 characters, no control, invisible or direction-changing characters"
        )));
    }
    Ok(())
}

/// Argon2id, off the async workers.
async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || crypto::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

impl Service {
    /// Creates a user with an Argon2id password hash.
    pub async fn create_user(&self, env_id: &str, req: CreateUser) -> ApiResult<wire::User> {
        self.environment(env_id).await?;
        // One name, one encoding: `tóm` precomposed and decomposed are the same user.
        let username = pixie_core::names::canonical_username(&req.username)
            .map_err(|e| ApiError::invalid(format!("username: {e}")))?;
        check_password(&req.password)?;
        check_shown("email", req.email.as_deref())?;
        check_shown("name", req.name.as_deref())?;
        pixie_core::names::check_roles(&req.roles).map_err(ApiError::invalid)?;
        if self.store.get_user_by_username(env_id, &username).await?.is_some() {
            return Err(ApiError::Conflict(format!("username {username}")));
        }
        let row = UserRow {
            env_id: env_id.to_owned(),
            id: crypto::random_token::<16>(),
            username,
            password_hash: hash_password(req.password).await?,
            email: req.email,
            name: req.name,
            created_at: self.now(),
            roles: req.roles,
            disabled_at: None,
            generation: 0,
        };
        self.store.insert_user(&row).await.map_err(|e| match e {
            pixie_store::StoreError::Conflict(_) => ApiError::Conflict(format!("username {}", row.username)),
            e => e.into(),
        })?;
        Ok(user_view(&row))
    }

    /// A page of an environment's users by username; `username` finds one.
    pub async fn list_users(
        &self,
        env_id: &str,
        username: Option<&str>,
        limit: Option<&str>,
        after: Option<&str>,
    ) -> ApiResult<ListPage<wire::User>> {
        self.environment(env_id).await?;
        let limit = paging::limit(limit).map_err(|e| ApiError::invalid(e.to_string()))?;
        if let Some(name) = username {
            let canonical = pixie_core::names::canonical_username(name).unwrap_or_else(|_| name.to_owned());
            let found = self.store.get_user_by_username(env_id, &canonical).await?;
            return Ok(ListPage {
                items: found.iter().map(user_view).collect(),
                next: None,
            });
        }
        let after = match after {
            Some(c) => Some(paging::parse_cursor(c, "users", 1).map_err(|e| ApiError::invalid(e.to_string()))?),
            None => None,
        };
        let after = after.as_ref().map(|p| p[0].as_str());
        let rows = self.store.list_users(env_id, after, limit + 1).await?;
        let (rows, next) = paging::page(rows, limit, |u| paging::cursor("users", &[&u.username]));
        Ok(ListPage {
            items: rows.iter().map(user_view).collect(),
            next,
        })
    }

    async fn user_row(&self, env_id: &str, user_id: &str) -> ApiResult<UserRow> {
        self.environment(env_id).await?;
        self.store
            .get_user(env_id, user_id)
            .await?
            .ok_or(ApiError::NotFound("user"))
    }

    /// A user, or 404.
    pub async fn get_user(&self, env_id: &str, user_id: &str) -> ApiResult<wire::User> {
        Ok(user_view(&self.user_row(env_id, user_id).await?))
    }

    /// Changes a user: only the fields given, so changes made at once to different
    /// fields all hold. A new password, or disabling, ends the user's sessions and
    /// revokes every token issued to them (CONTRACT §5).
    pub async fn patch_user(&self, env_id: &str, user_id: &str, patch: PatchUser) -> ApiResult<wire::User> {
        self.user_row(env_id, user_id).await?;
        if let Some(email) = &patch.email {
            check_shown("email", email.as_deref())?;
        }
        if let Some(name) = &patch.name {
            check_shown("name", name.as_deref())?;
        }
        if let Some(roles) = &patch.roles {
            pixie_core::names::check_roles(roles).map_err(ApiError::invalid)?;
        }
        let hash = match patch.password {
            Some(password) => {
                check_password(&password)?;
                Some(hash_password(password).await?)
            }
            None => None,
        };
        let change = match (hash.is_some(), patch.disabled) {
            (true, _) | (_, Some(true)) => UserChange::Credentials,
            _ => UserChange::Profile,
        };
        let update = UserUpdate {
            email: patch.email.as_ref().map(Option::as_deref),
            name: patch.name.as_ref().map(Option::as_deref),
            password_hash: hash.as_deref(),
            roles: patch.roles.as_deref(),
            disabled: patch.disabled,
        };
        let now = self.now();
        self.store
            .update_user(env_id, user_id, &update, change, now)
            .await
            .map_err(|e| match e {
                pixie_store::StoreError::NotFound => ApiError::NotFound("user"),
                e => e.into(),
            })?;
        self.directory.forget_user(env_id, user_id);
        let event = match (change, patch.disabled) {
            (UserChange::Profile, _) => "user.changed",
            (UserChange::Credentials, Some(true)) => "user.disabled",
            (UserChange::Credentials, _) => "user.password_changed",
        };
        self.obs
            .audit(now, event, serde_json::json!({"env": env_id, "user": user_id}));
        // As stored now, with whatever else changed meanwhile.
        Ok(user_view(&self.user_row(env_id, user_id).await?))
    }

    /// Removes a user, ending their sessions and revoking every token issued to them.
    pub async fn delete_user(&self, env_id: &str, user_id: &str) -> ApiResult<()> {
        self.environment(env_id).await?;
        let now = self.now();
        self.store
            .delete_user(env_id, user_id, now)
            .await
            .map_err(|e| match e {
                pixie_store::StoreError::NotFound => ApiError::NotFound("user"),
                e => e.into(),
            })?;
        self.directory.forget_user(env_id, user_id);
        self.obs
            .audit(now, "user.deleted", serde_json::json!({"env": env_id, "user": user_id}));
        Ok(())
    }
}
