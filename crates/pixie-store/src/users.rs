//! Users: created, listed, changed, disabled and removed by operators (CONTRACT §5).

use pixie_core::lifetimes::MAX_ACCESS_TOKEN;

use crate::exec::Arg;
use crate::records::{to_json, UserRow};
use crate::{storable, Backend, Store, StoreError, StoreResult};

const USER_COLUMNS: &str =
    "env_id, id, username, password_hash, email, name, created_at, roles, disabled_at, generation";

/// What a change to a user does to what was signed on before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Profile fields only (e-mail, name, roles, enabling): sessions and tokens stay.
    Profile,
    /// Credentials (password, disabling): every session of the user ends and every
    /// token issued to them is revoked, and nothing signed on before it can resume.
    Credentials,
}

/// The fields of a user to change; `None` leaves one as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserUpdate<'a> {
    /// A new e-mail address (`Some(None)` clears it).
    pub email: Option<Option<&'a str>>,
    /// A new full name (`Some(None)` clears it).
    pub name: Option<Option<&'a str>>,
    /// A new password hash.
    pub password_hash: Option<&'a str>,
    /// New roles.
    pub roles: Option<&'a [String]>,
    /// Disable (since now, unless already) or enable.
    pub disabled: Option<bool>,
}

impl Store {
    /// Creates a user; `Conflict("username")` when the name is taken in the environment.
    pub async fn insert_user(&self, u: &UserRow) -> StoreResult<()> {
        let _t = self.timer("insert_user");
        let roles = to_json(&u.roles);
        self.execute(
            &format!("INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
            &[
                Arg::Text(&u.env_id),
                Arg::Text(&u.id),
                Arg::Text(&u.username),
                Arg::Text(&u.password_hash),
                Arg::OptText(u.email.as_deref()),
                Arg::OptText(u.name.as_deref()),
                Arg::Int(u.created_at),
                Arg::Text(&roles),
                Arg::OptInt(u.disabled_at),
                Arg::Int(u.generation),
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
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE env_id = $1 AND {column} = $2");
        self.fetch_optional(&sql, &[Arg::Text(env_id), Arg::Text(value)]).await
    }

    /// Up to `limit` users of an environment by username, after `after` (a username).
    /// Usernames never change, so the order is stable while users come and go.
    pub async fn list_users(&self, env_id: &str, after: Option<&str>, limit: i64) -> StoreResult<Vec<UserRow>> {
        let _t = self.timer("list_users");
        if !storable(&[env_id, after.unwrap_or_default()]) {
            return Ok(Vec::new());
        }
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE env_id = $1 AND username > $2 ORDER BY username LIMIT $3");
        self.fetch_all(
            &sql,
            &[Arg::Text(env_id), Arg::Text(after.unwrap_or_default()), Arg::Int(limit)],
        )
        .await
    }

    /// Changes the fields `update` names, and only those (so two changes made at once
    /// to different fields both hold). A [`UserChange::Credentials`] change also moves
    /// the user's generation on and, in the same transaction, ends their sessions and
    /// revokes their grants and tokens. `NotFound` if there is no such user.
    pub async fn update_user(
        &self,
        env_id: &str,
        id: &str,
        update: &UserUpdate<'_>,
        change: UserChange,
        now: i64,
    ) -> StoreResult<()> {
        let _t = self.timer("update_user");
        if !storable(&[env_id, id]) {
            return Err(StoreError::NotFound);
        }
        let roles = update.roles.map(|r| to_json(&r));
        // (column, how it takes its new value `$n`, the value): only the fields named.
        let mut fields: Vec<(&str, &str, Arg<'_>)> = Vec::new();
        if let Some(email) = update.email {
            fields.push(("email", "$n", Arg::OptText(email)));
        }
        if let Some(name) = update.name {
            fields.push(("name", "$n", Arg::OptText(name)));
        }
        if let Some(hash) = update.password_hash {
            fields.push(("password_hash", "$n", Arg::Text(hash)));
        }
        if let Some(roles) = &roles {
            fields.push(("roles", "$n", Arg::Text(roles)));
        }
        match update.disabled {
            // Disabled since the first time; enabling clears it.
            Some(true) => fields.push(("disabled_at", "COALESCE(disabled_at, $n)", Arg::Int(now))),
            Some(false) => fields.push(("disabled_at", "$n", Arg::OptInt(None))),
            None => {}
        }
        let mut sets = vec!["generation = generation + $1".to_owned()];
        let mut args = vec![Arg::Int(i64::from(change == UserChange::Credentials))];
        for (column, value, arg) in fields {
            args.push(arg);
            sets.push(format!(
                "{column} = {}",
                value.replace("$n", &format!("${}", args.len()))
            ));
        }
        let n = args.len();
        args.push(Arg::Text(env_id));
        args.push(Arg::Text(id));
        let sql = format!(
            "UPDATE users SET {} WHERE env_id = ${} AND id = ${}",
            sets.join(", "),
            n + 1,
            n + 2
        );
        let mut statements = vec![(sql.as_str(), args)];
        if change == UserChange::Credentials {
            statements.extend(end_everything_of(env_id, id, now));
        }
        let changed = self.execute_all(&statements).await?;
        if changed[0] == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Removes a user: ends their sessions, revokes their grants and tokens, withdraws
    /// their consents, all in one transaction. `NotFound` if there was none.
    pub async fn delete_user(&self, env_id: &str, id: &str, now: i64) -> StoreResult<()> {
        let _t = self.timer("delete_user");
        if !storable(&[env_id, id]) {
            return Err(StoreError::NotFound);
        }
        // The first statement locks the user's row, as a credentials change does.
        let mut statements = vec![(
            "UPDATE users SET generation = generation + 1 WHERE env_id = $1 AND id = $2",
            vec![Arg::Text(env_id), Arg::Text(id)],
        )];
        // The consents go after the sessions and before the grants: the order a consent's
        // withdrawal and a client's removal take them in (see `end_everything_of`).
        let mut ended = end_everything_of(env_id, id, now);
        ended.insert(
            1,
            (
                "DELETE FROM consents WHERE env_id = $1 AND user_id = $2",
                vec![Arg::Text(env_id), Arg::Text(id)],
            ),
        );
        statements.extend(ended);
        statements.push((
            "DELETE FROM users WHERE env_id = $1 AND id = $2",
            vec![Arg::Text(env_id), Arg::Text(id)],
        ));
        let changed = self.execute_all(&statements).await?;
        if changed[0] == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The statement that, first in a transaction creating a session or a grant for a
    /// user, holds the user's row until the commit (PostgreSQL; SQLite runs one writing
    /// transaction at a time anyway). A change of credentials updates that row first, so
    /// it either commits before, and the creation's conditions see it, or waits, and then
    /// revokes what was created.
    pub(crate) fn lock_user<'a>(&self, env_id: &'a str, user_id: &'a str) -> Option<(&'static str, Vec<Arg<'a>>)> {
        (self.backend() == Backend::Postgres).then(|| {
            (
                "SELECT 1 FROM users WHERE env_id = $1 AND id = $2 FOR SHARE",
                vec![Arg::Text(env_id), Arg::Text(user_id)],
            )
        })
    }
}

/// Ends a user's sessions and revokes every grant (codes, refresh tokens, and access
/// tokens through a revocation of each grant) and token issued to them.
///
/// Rows are taken in the one order every writer of them keeps: the user, sessions,
/// (clients, consents), grants, tokens, then the revocations (whose keys an `INSERT …
/// ON CONFLICT` waits on as on a lock). A sign-out, a grant's revocation, a client's
/// removal and a consent's withdrawal go the same way, so on PostgreSQL none of them
/// waits for another that waits for it.
fn end_everything_of<'a>(env_id: &'a str, user_id: &'a str, now: i64) -> Vec<(&'static str, Vec<Arg<'a>>)> {
    let args = || vec![Arg::Int(now), Arg::Text(env_id), Arg::Text(user_id)];
    vec![
        (
            "DELETE FROM sessions WHERE env_id = $1 AND user_id = $2",
            vec![Arg::Text(env_id), Arg::Text(user_id)],
        ),
        (
            "UPDATE grants SET revoked_at = $1 WHERE env_id = $2 AND user_id = $3 AND revoked_at IS NULL",
            args(),
        ),
        (
            "UPDATE tokens SET revoked_at = $1 WHERE env_id = $2 AND revoked_at IS NULL AND grant_id IN \
             (SELECT id FROM grants WHERE env_id = $2 AND user_id = $3)",
            args(),
        ),
        // The grants this revoked (now), each with its access tokens' revocation.
        (
            "INSERT INTO revocations (what, env_id, expires_at) \
             SELECT 'grant:' || id, env_id, $4 FROM grants \
             WHERE env_id = $2 AND user_id = $3 AND revoked_at = $1 ON CONFLICT (what) DO NOTHING",
            vec![
                Arg::Int(now),
                Arg::Text(env_id),
                Arg::Text(user_id),
                Arg::Int(now + MAX_ACCESS_TOKEN),
            ],
        ),
    ]
}
