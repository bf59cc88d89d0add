//! The `refresh_token` grant (rotation, reuse detection; RFC 9700 §4.14) and the
//! `client_credentials` grant.

use pixie_core::params::Params;
use pixie_core::wire::TokenResponse;
use pixie_core::{ErrorCode, OAuthError};
use pixie_store::ClientRow;

use super::token::Failure;
use super::AppState;
use crate::authz::{Grant, TokenData};
use crate::crypto;
use crate::error::ApiError;

fn invalid_grant(d: &'static str) -> Failure {
    OAuthError::new(ErrorCode::InvalidGrant, d).into()
}

/// The requested scopes, each within `allowed`; `None` when `scope` was not sent.
fn requested_scopes(params: &Params, allowed: &[&str]) -> Result<Option<Vec<String>>, Failure> {
    Ok(pixie_core::claims::requested_scopes(params.get("scope"), allowed)?)
}

/// `grant_type=refresh_token`: rotates the token; a used one presented again revokes
/// its whole family. PKCE never applies here.
pub(super) async fn refresh(
    s: &AppState,
    env: &pixie_store::EnvironmentRow,
    client: &ClientRow,
    params: &Params,
    issuer: &str,
) -> Result<TokenResponse, Failure> {
    let env_id = env.id.as_str();
    let token = params
        .non_empty("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let hash = crypto::sha256(token.as_bytes());
    let now = s.svc.now();
    let store = &s.svc.store;
    let invalid = "refresh_token is invalid, expired, revoked, or was issued to another client";
    // Decide everything that does not spend the token first: a request refused for its
    // scope must leave the token usable, or its next use would look like reuse.
    let current = store
        .get_token_by_hash(env_id, &hash)
        .await
        .map_err(ApiError::from)?
        .filter(|t| t.kind == "refresh" && t.client_id == client.client_id)
        .ok_or_else(|| invalid_grant(invalid))?;
    let granted: Vec<&str> = current.scope.split(' ').filter(|s| !s.is_empty()).collect();
    let scopes =
        requested_scopes(params, &granted)?.unwrap_or_else(|| granted.iter().map(|s| (*s).to_owned()).collect());
    let Some(row) = store
        .consume_refresh_token(env_id, &hash, &client.client_id, now)
        .await
        .map_err(ApiError::from)?
    else {
        // Not consumed: used before (reuse: revoke the family), or revoked, or expired.
        let used = store.get_token_by_hash(env_id, &hash).await.map_err(ApiError::from)?;
        if used.is_some_and(|t| t.used_at.is_some()) {
            let n = store
                .revoke_grant(env_id, &current.grant_id, now)
                .await
                .map_err(ApiError::from)?;
            tracing::warn!(env = env_id, client = %client.client_id, revoked = n, "refresh token reused: its family is revoked");
            let fields = serde_json::json!({"env": env_id, "client": client.client_id, "revoked": n});
            s.svc.obs.audit(now, "refresh.reused", fields);
            return Err(invalid_grant(
                "refresh_token was already used; every token of its grant is now revoked",
            ));
        }
        return Err(invalid_grant(invalid));
    };
    let data: TokenData = serde_json::from_str(&row.data).unwrap_or_default();
    let user_id = row.user_id.ok_or_else(|| invalid_grant("refresh_token has no user"))?;
    let user = s
        .svc
        .lookup_user(env_id, &user_id)
        .await?
        .ok_or_else(|| invalid_grant("refresh_token: its user no longer exists"))?;
    let grant = Grant {
        client,
        user: Some(&user),
        grant_id: &row.grant_id,
        scopes: &scopes,
        auth_time: data.auth_time,
        nonce: data.nonce.as_deref(),
        grant_start: data.grant_start.unwrap_or(row.created_at),
        with_refresh: true,
        sid: row.sid.as_deref(),
        grant_type: "refresh_token",
        issuer,
    };
    Ok(s.svc.issue_tokens(env, grant).await?)
}

/// `grant_type=client_credentials`: a token for the client itself.
pub(super) async fn client_credentials(
    s: &AppState,
    env: &pixie_store::EnvironmentRow,
    client: &ClientRow,
    params: &Params,
    issuer: &str,
) -> Result<TokenResponse, Failure> {
    let allowed = pixie_core::claims::client_credentials_scopes(&client.metadata.scope);
    let scopes = requested_scopes(params, &allowed)?.unwrap_or_default();
    let grant_id = crypto::random_token::<16>();
    let grant = Grant {
        client,
        user: None,
        grant_id: &grant_id,
        scopes: &scopes,
        auth_time: None,
        nonce: None,
        grant_start: s.svc.now(),
        with_refresh: false,
        sid: None,
        grant_type: "client_credentials",
        issuer,
    };
    Ok(s.svc.issue_tokens(env, grant).await?)
}
