//! Users.

use crate::exec::Arg;
use crate::records::UserRow;
use crate::{storable, Store, StoreResult};

impl Store {
    /// Creates a user; `Conflict("username")` when the name is taken in the environment.
    pub async fn insert_user(&self, u: &UserRow) -> StoreResult<()> {
        let _t = self.timer("insert_user");
        self.execute(
            "INSERT INTO users (env_id, id, username, password_hash, email, name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                Arg::Text(&u.env_id),
                Arg::Text(&u.id),
                Arg::Text(&u.username),
                Arg::Text(&u.password_hash),
                Arg::OptText(u.email.as_deref()),
                Arg::OptText(u.name.as_deref()),
                Arg::Int(u.created_at),
            ],
        )
        .await
        .map_err(|e| e.conflict_or("username"))?;
        Ok(())
    }

    /// A user by sign-on name.
    pub async fn get_user_by_username(&self, env_id: &str, username: &str) -> StoreResult<Option<UserRow>> {
        let _t = self.timer("get_user_by_username");
        self.user_where("username", env_id, username).await
    }

    /// A user by id.
    pub async fn get_user(&self, env_id: &str, id: &str) -> StoreResult<Option<UserRow>> {
        let _t = self.timer("get_user");
        self.user_where("id", env_id, id).await
    }

    async fn user_where(&self, column: &'static str, env_id: &str, value: &str) -> StoreResult<Option<UserRow>> {
        if !storable(&[env_id, value]) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT env_id, id, username, password_hash, email, name, created_at FROM users \
             WHERE env_id = $1 AND {column} = $2"
        );
        self.fetch_optional(&sql, &[Arg::Text(env_id), Arg::Text(value)]).await
    }
}
