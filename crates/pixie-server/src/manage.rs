//! What operators do to what they created beyond creating it (CONTRACT §5): list
//! environments and applications page by page, remove an environment, reset a client
//! secret. Users are in [`crate::users`].

use pixie_core::paging;
use pixie_core::wire::{self, Application, ListPage};

use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::service::Service;

fn bad_paging(e: paging::PagingError) -> ApiError {
    ApiError::invalid(e.to_string())
}

impl Service {
    /// Registers (or updates) the console's public client in `env_id` with its
    /// redirect URI under `public_url` (CONTRACT §11). The environment must exist.
    pub async fn ensure_console_client(&self, env_id: &str, public_url: &str) -> ApiResult<()> {
        self.environment(env_id).await?;
        let metadata = crate::http::console_client_metadata(public_url);
        let now = self.now();
        let id = crate::http::CONSOLE_CLIENT_ID;
        match self.store.get_client(env_id, id).await? {
            Some(mut row) if row.metadata != metadata => {
                row.metadata = metadata;
                row.secret_hash = None;
                row.updated_at = now;
                self.store.update_client(&row).await?;
                self.directory.forget_client(env_id, id);
            }
            Some(_) => {}
            None => {
                let row = pixie_store::ClientRow {
                    env_id: env_id.to_owned(),
                    client_id: id.to_owned(),
                    secret_hash: None,
                    metadata,
                    created_at: now,
                    updated_at: now,
                    document_expires_at: None,
                };
                match self.store.insert_client(&row).await {
                    // Another instance registered it first.
                    Err(pixie_store::StoreError::Conflict(_)) | Ok(()) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// A page of environments, by id.
    pub async fn list_environments(
        &self,
        limit: Option<&str>,
        after: Option<&str>,
    ) -> ApiResult<ListPage<wire::Environment>> {
        let limit = paging::limit(limit).map_err(bad_paging)?;
        let after = after
            .map(|c| paging::parse_cursor(c, "environments", 1))
            .transpose()
            .map_err(bad_paging)?;
        let rows = self
            .store
            .list_environments(after.as_ref().map(|p| p[0].as_str()), limit + 1)
            .await?;
        let (rows, next) = paging::page(rows, limit, |e| paging::cursor("environments", &[&e.id]));
        Ok(ListPage {
            items: rows.iter().map(|e| self.env_view(e)).collect(),
            next,
        })
    }

    /// Removes an environment and everything of it, in one transaction; its issuer
    /// answers 404 from then on (at other instances within [`crate::cache::TTL`]).
    pub async fn delete_environment(&self, env_id: &str) -> ApiResult<()> {
        self.directory.forget_environment_and_its_members(env_id);
        let deleted = self.store.delete_environment(env_id).await.map_err(|e| match e {
            pixie_store::StoreError::NotFound => ApiError::UnknownEnvironment(crate::error::shown_id(env_id)),
            e => e.into(),
        });
        // Again after the commit, as for a removed client.
        self.directory.forget_environment_and_its_members(env_id);
        self.keys.forget(env_id);
        deleted?;
        self.obs
            .audit(self.now(), "environment.deleted", serde_json::json!({"env": env_id}));
        Ok(())
    }

    /// A page of an environment's applications, oldest first; never a secret.
    pub async fn list_applications(
        &self,
        env_id: &str,
        limit: Option<&str>,
        after: Option<&str>,
    ) -> ApiResult<ListPage<Application>> {
        self.environment(env_id).await?;
        let limit = paging::limit(limit).map_err(bad_paging)?;
        let after = match after {
            None => None,
            Some(c) => {
                let parts = paging::parse_cursor(c, "applications", 2).map_err(bad_paging)?;
                let at = parts[0]
                    .parse::<i64>()
                    .map_err(|_| bad_paging(paging::PagingError::Cursor))?;
                Some((at, parts[1].clone()))
            }
        };
        let rows = self
            .store
            .list_clients(env_id, after.as_ref().map(|(at, id)| (*at, id.as_str())), limit + 1)
            .await?;
        let (rows, next) = paging::page(rows, limit, |c| {
            paging::cursor("applications", &[&c.created_at.to_string(), &c.client_id])
        });
        Ok(ListPage {
            items: rows.into_iter().map(|r| crate::service::app_view(r, None)).collect(),
            next,
        })
    }

    /// Gives a confidential client a new secret, returned in this response only; the old
    /// one stops working (at other instances within [`crate::cache::TTL`]). A client
    /// without a secret (public, or authenticating with `private_key_jwt`) gets 400.
    pub async fn reset_client_secret(&self, env_id: &str, client_id: &str) -> ApiResult<Application> {
        let row = self.client(env_id, client_id).await?;
        if !row.metadata.has_secret() || row.secret_hash.is_none() {
            return Err(ApiError::invalid(
                "client_id: this application has no secret (it is public, or authenticates with private_key_jwt)",
            ));
        }
        let secret = crypto::random_token::<32>();
        let hash = crypto::sha256(secret.as_bytes());
        let now = self.now();
        self.directory.forget_client(env_id, client_id);
        let set = self
            .store
            .set_client_secret(env_id, client_id, &hash, now)
            .await
            .map_err(|e| match e {
                pixie_store::StoreError::NotFound => ApiError::NotFound("application"),
                e => e.into(),
            });
        self.directory.forget_client(env_id, client_id);
        set?;
        self.obs.audit(
            now,
            "application.secret_reset",
            serde_json::json!({"env": env_id, "client": client_id}),
        );
        let mut row = row;
        row.secret_hash = Some(hash.to_vec());
        row.updated_at = now;
        Ok(crate::service::app_view(row, Some(secret)))
    }
}
