//! Introspection (RFC 7662) and revocation (RFC 7009). Callers authenticate as a client
//! of the same environment, as at the token endpoint.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pixie_core::params::Params;
use pixie_core::token::presented_client;
use pixie_core::wire::Introspection;
use pixie_core::OAuthError;
use pixie_store::{ClientRow, TokenRow};

use super::token::{authenticate, form_params, Failure};
use super::AppState;
use crate::crypto;
use crate::error::ApiError;

/// Authenticates the caller and returns it with the request's parameters.
async fn caller(s: &AppState, env_id: &str, headers: &HeaderMap, body: &[u8]) -> Result<(ClientRow, Params), Failure> {
    s.svc.environment(env_id).await?;
    let params = form_params(headers, body)?;
    let authorization = super::token::authorization(headers)?;
    let presented = presented_client(authorization, &params).map_err(|e| Failure::OAuth(e, authorization.is_some()))?;
    let client = authenticate(s, env_id, &presented).await?;
    if params.is_repeated("token") {
        return Err(OAuthError::invalid_request("token is repeated").into());
    }
    Ok((client, params))
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// A token pixie issued in this environment: a refresh token's stored row, live or
/// not, or a live access token's claims in the same shape; `None` for anything else.
/// The hint says where to look first (RFC 7009 §2.1); it is never trusted.
async fn find(s: &AppState, env_id: &str, token: &str, hint: Option<&str>) -> Result<Option<TokenRow>, ApiError> {
    let access_first = hint != Some("refresh_token");
    for access in [access_first, !access_first] {
        let row = if access {
            if !looks_like_jwt(token) {
                continue;
            }
            // Access tokens are not stored: the signature proves pixie issued it here,
            // and the claims say the rest; expired or revoked ones are not found. The
            // issuer is not compared: a changed public URL leaves its tokens valid here.
            s.svc
                .check_access_token(env_id, token, None)
                .await?
                .map(|c| access_row(env_id, c))
        } else {
            let hash = crypto::sha256(token.as_bytes());
            let row = s
                .svc
                .store
                .get_token_by_hash(env_id, &hash)
                .await?
                .filter(|t| t.kind == "refresh");
            // A token of a client that was deleted is dead with it (even one stored
            // while the deletion ran).
            match row {
                Some(t) if s.svc.lookup_client(env_id, &t.client_id).await?.is_some() => Some(t),
                _ => None,
            }
        };
        if row.is_some() {
            return Ok(row);
        }
    }
    Ok(None)
}

/// A live access token's claims as a token row.
fn access_row(env_id: &str, c: pixie_core::claims::AccessTokenClaims) -> TokenRow {
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
        data: String::new(),
        created_at: c.iat,
        expires_at: c.exp,
        used_at: None,
        revoked_at: None,
        sid: c.sid,
    }
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `POST <issuer>/as/introspect`.
pub(super) async fn introspect(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (caller, params) = caller(&s, &env_id, &headers, &body).await?;
        let token = params
            .non_empty("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let Some(row) = find(&s, &env_id, token, params.get("token_type_hint")).await? else {
            return Ok::<_, Failure>(Introspection::default());
        };
        let now = s.svc.now();
        let live = row.revoked_at.is_none() && row.expires_at > now && (row.kind == "access" || row.used_at.is_none());
        // Who may learn what: a public client (anyone can present its client_id) only
        // about its own tokens; a confidential client, authenticated with its secret,
        // about any token of the environment (it is a resource server checking the
        // tokens presented to it). Anything else is `active: false`, as for an unknown
        // token, so the answer tells nothing.
        let allowed = !caller.metadata.is_public() || row.client_id == caller.client_id;
        if !live || !allowed {
            return Ok(Introspection::default());
        }
        let username = match &row.user_id {
            Some(id) => s.svc.lookup_user(&env_id, id).await?.map(|u| u.username.clone()),
            None => None,
        };
        let access = row.kind == "access";
        Ok(Introspection {
            active: true,
            scope: Some(row.scope),
            sub: Some(row.user_id.unwrap_or_else(|| row.client_id.clone())),
            aud: Some(row.client_id.clone()),
            client_id: Some(row.client_id),
            username,
            token_type: Some(if access { "Bearer" } else { "refresh_token" }.into()),
            exp: Some(row.expires_at),
            iat: Some(row.created_at),
            iss: Some(base.issuer(&env_id)),
            jti: access.then_some(row.id),
        })
    }
    .await;
    match result {
        Ok(body) => no_store(Json(body).into_response()),
        Err(f) => f.into_response(),
    }
}

/// `POST <issuer>/as/revoke`: a client revokes its own token. Revoking a refresh token
/// revokes its whole grant (RFC 7009 §2.1); an unknown or invalid token is a 200.
pub(super) async fn revoke(
    State(s): State<AppState>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (caller, params) = caller(&s, &env_id, &headers, &body).await?;
        let token = params
            .non_empty("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let Some(row) = find(&s, &env_id, token, params.get("token_type_hint")).await? else {
            return Ok::<_, Failure>(());
        };
        if row.client_id != caller.client_id {
            // The same answer as for an unknown token: an error here would tell the
            // caller that another client's token exists and is live. Nothing is revoked.
            let fields = serde_json::json!({"env": env_id, "client": caller.client_id, "owner": row.client_id});
            s.svc.obs.audit(s.svc.now(), "token.revoke_refused", fields);
            return Ok(());
        }
        let now = s.svc.now();
        if row.kind == "refresh" {
            s.svc
                .store
                .revoke_grant(&env_id, &row.grant_id, now)
                .await
                .map_err(ApiError::from)?;
        } else {
            s.svc
                .store
                .revoke_access_token(&env_id, &row.id, row.expires_at)
                .await
                .map_err(ApiError::from)?;
        }
        let fields = serde_json::json!({"env": env_id, "client": caller.client_id, "kind": row.kind});
        s.svc.obs.audit(now, "token.revoked", fields);
        Ok(())
    }
    .await;
    match result {
        Ok(()) => no_store(axum::http::StatusCode::OK.into_response()),
        Err(f) => f.into_response(),
    }
}
