//! The `refresh_token` grant (rotation, reuse detection; RFC 9700 §4.14) and the
//! `client_credentials` grant.

use pixie_core::params::{quote, Params};
use pixie_core::wire::TokenResponse;
use pixie_core::{ErrorCode, OAuthError};
use pixie_store::ClientRow;

use super::token::Failure;
use super::AppState;
use crate::authz::TokenData;
use crate::crypto;
use crate::error::ApiError;
use crate::service::now;

fn invalid_grant(d: &'static str) -> Failure {
    OAuthError::new(ErrorCode::InvalidGrant, d).into()
}

/// The requested scopes, each within `allowed`; `None` when `scope` was not sent.
fn requested_scopes(params: &Params, allowed: &[&str]) -> Result<Option<Vec<String>>, Failure> {
    let Some(raw) = params.get("scope") else {
        return Ok(None);
    };
    let mut out: Vec<String> = Vec::new();
    for s in raw.split(' ').filter(|s| !s.is_empty()) {
        if !allowed.contains(&s) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("scope '{}' is not within what may be granted here", quote(s, 40)),
            )
            .into());
        }
        if !out.iter().any(|x| x == s) {
            out.push(s.to_owned());
        }
    }
    Ok(Some(out))
}

/// `grant_type=refresh_token`: rotates the token; a used one presented again revokes
/// its whole family. PKCE never applies here.
pub(super) async fn refresh(
    s: &AppState,
    env_id: &str,
    client: &ClientRow,
    params: &Params,
) -> Result<TokenResponse, Failure> {
    let token = params
        .non_empty("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let hash = crypto::sha256(token.as_bytes());
    let now = now();
    let store = &s.svc.store;
    let Some(row) = store
        .consume_refresh_token(env_id, &hash, &client.client_id, now)
        .await
        .map_err(ApiError::from)?
    else {
        if let Some(old) = store.get_token_by_hash(env_id, &hash).await.map_err(ApiError::from)? {
            if old.client_id == client.client_id && old.used_at.is_some() {
                let n = store
                    .revoke_grant(env_id, &old.grant_id, now)
                    .await
                    .map_err(ApiError::from)?;
                tracing::warn!(env = env_id, client = %client.client_id, revoked = n, "refresh token reused: its family is revoked");
                return Err(invalid_grant(
                    "refresh_token was already used; every token of its grant is now revoked",
                ));
            }
        }
        return Err(invalid_grant(
            "refresh_token is invalid, expired, revoked, or was issued to another client",
        ));
    };
    let granted: Vec<&str> = row.scope.split(' ').filter(|s| !s.is_empty()).collect();
    let scopes =
        requested_scopes(params, &granted)?.unwrap_or_else(|| granted.iter().map(|s| (*s).to_owned()).collect());
    let data: TokenData = serde_json::from_str(&row.data).unwrap_or_default();
    let user_id = row.user_id.ok_or_else(|| invalid_grant("refresh_token has no user"))?;
    let user = store
        .get_user(env_id, &user_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| invalid_grant("refresh_token: its user no longer exists"))?;
    Ok(s.svc
        .issue_tokens(
            env_id,
            client,
            Some(&user),
            &row.grant_id,
            &scopes,
            data.auth_time,
            data.nonce.as_deref(),
            true,
        )
        .await?)
}

/// Scopes that only mean something with a user.
const USER_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// `grant_type=client_credentials`: a token for the client itself.
pub(super) async fn client_credentials(
    s: &AppState,
    env_id: &str,
    client: &ClientRow,
    params: &Params,
) -> Result<TokenResponse, Failure> {
    let allowed: Vec<&str> = client
        .metadata
        .scope
        .split(' ')
        .filter(|s| !USER_SCOPES.contains(s))
        .collect();
    let scopes = requested_scopes(params, &allowed)?.unwrap_or_default();
    let grant_id = crypto::random_token::<16>();
    Ok(s.svc
        .issue_tokens(env_id, client, None, &grant_id, &scopes, None, None, false)
        .await?)
}
