//! Introspection (RFC 7662) and revocation (RFC 7009) for an authenticated client.

use pixie_core::claims::{AccessTokenClaims, Audience};
use pixie_core::params::Params;
use pixie_core::token::IssuedToken;
use pixie_core::wire::Introspection;
use pixie_core::OAuthError;
use pixie_store::{ClientRow, TokenRow};

use crate::crypto;
use crate::error::ApiResult;
use crate::service::Service;

/// The token a request names (`token`, once, not empty).
fn presented_token(params: &Params) -> ApiResult<&str> {
    if params.is_repeated("token") {
        return Err(OAuthError::invalid_request("token is repeated").into());
    }
    Ok(params
        .non_empty("token")
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?)
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// A token pixie issued in this environment: a refresh token's stored row, live or
/// not, or a live access token's claims in the same shape; `None` for anything else.
/// The hint says where to look first (RFC 7009 §2.1); it is never trusted.
async fn find(svc: &Service, env_id: &str, token: &str, hint: Option<&str>) -> ApiResult<Option<TokenRow>> {
    let access_first = hint != Some("refresh_token");
    for access in [access_first, !access_first] {
        let row = if access {
            if !looks_like_jwt(token) {
                continue;
            }
            // Access tokens are not stored: the signature proves pixie issued it here,
            // and the claims say the rest; expired or revoked ones are not found. The
            // issuer is not compared: a changed public URL leaves its tokens valid here.
            svc.check_access_token(env_id, token, None)
                .await?
                .map(|c| access_row(env_id, c))
        } else {
            let hash = crypto::sha256(token.as_bytes());
            let row = svc
                .store
                .get_token_by_hash(env_id, &hash)
                .await?
                .filter(|t| t.kind == "refresh");
            // A token of a client that was deleted is dead with it (even one stored
            // while the deletion ran).
            match row {
                Some(t) if svc.lookup_client(env_id, &t.client_id).await?.is_some() => Some(t),
                _ => None,
            }
        };
        if row.is_some() {
            return Ok(row);
        }
    }
    Ok(None)
}

/// What an access token's row carries besides a refresh token's fields.
#[derive(serde::Serialize, serde::Deserialize)]
struct AccessExtras {
    aud: Audience,
    cnf: Option<pixie_core::claims::Confirmation>,
}

/// A live access token's claims as a token row.
fn access_row(env_id: &str, c: AccessTokenClaims) -> TokenRow {
    // Client credentials tokens have the client as subject and no user.
    let user_id = c.user_id().map(str::to_owned);
    TokenRow {
        id: c.jti,
        env_id: env_id.to_owned(),
        kind: "access".into(),
        token_hash: None,
        grant_id: c.gid.unwrap_or_default(),
        client_id: c.client_id,
        user_id,
        scope: c.scope,
        // An access token's audience and key ride in `data` (it has no stored row).
        data: serde_json::to_string(&AccessExtras { aud: c.aud, cnf: c.cnf }).unwrap_or_default(),
        created_at: c.iat,
        expires_at: c.exp,
        used_at: None,
        revoked_at: None,
        sid: c.sid,
    }
}

/// What `caller` may learn about the token `params` names: its claims when it is live
/// and the caller may know of it (the core's [`IssuedToken`] decides both); anything
/// else is `active: false`, as for an unknown token, so the answer tells nothing.
pub async fn introspect(
    svc: &Service,
    env_id: &str,
    caller: &ClientRow,
    params: &Params,
    issuer: &str,
) -> ApiResult<Introspection> {
    let token = presented_token(params)?;
    let Some(row) = find(svc, env_id, token, params.get("token_type_hint")).await? else {
        return Ok(Introspection::default());
    };
    let issued = IssuedToken {
        access: row.kind == "access",
        client_id: &row.client_id,
        expires_at: row.expires_at,
        revoked: row.revoked_at.is_some(),
        used: row.used_at.is_some(),
    };
    if !issued.is_live(svc.now()) || !issued.visible_to(&caller.client_id, &caller.metadata) {
        return Ok(Introspection::default());
    }
    let username = match &row.user_id {
        Some(id) => svc.lookup_user(env_id, id).await?.map(|u| u.username.clone()),
        None => None,
    };
    let access = row.kind == "access";
    let extras = match access {
        true => serde_json::from_str(&row.data).ok(),
        false => None,
    };
    let (aud, cnf) = match extras {
        Some(AccessExtras { aud, cnf }) => (aud, cnf),
        None => (Audience::One(row.client_id.clone()), None),
    };
    let token_type = match (access, cnf.is_some()) {
        (true, true) => "DPoP",
        (true, false) => "Bearer",
        (false, _) => "refresh_token",
    };
    Ok(Introspection {
        active: true,
        scope: Some(row.scope),
        sub: Some(row.user_id.unwrap_or_else(|| row.client_id.clone())),
        aud: Some(aud),
        cnf,
        client_id: Some(row.client_id),
        username,
        token_type: Some(token_type.into()),
        exp: Some(row.expires_at),
        iat: Some(row.created_at),
        iss: Some(issuer.to_owned()),
        jti: access.then_some(row.id),
    })
}

/// `caller` revokes its own token. Revoking a refresh token revokes its whole grant
/// (RFC 7009 §2.1); an unknown or invalid token, or another client's, changes nothing
/// and is not an error (the answer must not tell that another client's token exists).
pub async fn revoke(svc: &Service, env_id: &str, caller: &ClientRow, params: &Params) -> ApiResult<()> {
    let token = presented_token(params)?;
    let Some(row) = find(svc, env_id, token, params.get("token_type_hint")).await? else {
        return Ok(());
    };
    let now = svc.now();
    if row.client_id != caller.client_id {
        let fields = serde_json::json!({"env": env_id, "client": caller.client_id, "owner": row.client_id});
        svc.obs.audit(now, "token.revoke_refused", fields);
        return Ok(());
    }
    if row.kind == "refresh" {
        svc.store.revoke_grant(env_id, &row.grant_id, now).await?;
    } else {
        svc.store.revoke_access_token(env_id, &row.id, row.expires_at).await?;
    }
    let fields = serde_json::json!({"env": env_id, "client": caller.client_id, "kind": row.kind});
    svc.obs.audit(now, "token.revoked", fields);
    Ok(())
}
