//! The token endpoint's grants: `authorization_code` (replay, revocation, PKCE),
//! `refresh_token` (rotation, reuse detection; RFC 9700 §4.14) and `client_credentials`.

use pixie_core::claims::{client_credentials_scopes, requested_scopes, split_scope};
use pixie_core::client::GrantType;
use pixie_core::params::Params;
use pixie_core::resource::{check_registered, for_token, requested_resources, TokenResources};
use pixie_core::token::{check_code, requested_grant, CodeBinding, CodeCheckError};
use pixie_core::wire::TokenResponse;
use pixie_core::{ErrorCode, OAuthError};
use pixie_store::{ClientRow, EnvironmentRow};

use crate::authz::{CodeData, Grant, TokenData};
use crate::crypto;
use crate::dpop::ProofCheck;
use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// A token request from an authenticated client.
#[derive(Debug, Clone, Copy)]
pub struct TokenRequest<'a> {
    /// The environment.
    pub env: &'a EnvironmentRow,
    /// The authenticated client.
    pub client: &'a ClientRow,
    /// The form parameters.
    pub params: &'a Params,
    /// The issuer the tokens name.
    pub issuer: &'a str,
    /// The request's DPoP proof (RFC 9449), if it sent one.
    pub dpop: Option<&'a str>,
}

/// Answers a token request: the grant it names, if the client may use it; with a DPoP
/// proof, tokens bound to the proof's key.
pub async fn issue(svc: &Service, req: TokenRequest<'_>) -> ApiResult<TokenResponse> {
    let grant = requested_grant(req.params, &req.client.metadata)?;
    // (The environment's profile was checked when the client authenticated.)
    let profile = req.env.settings.profile;
    let proof = match req.dpop {
        Some(proof) => {
            let check = ProofCheck {
                env_id: &req.env.id,
                htm: "POST",
                htu: &format!("{}/as/token", req.issuer),
                access_token: None,
                nonce_required: req.env.settings.dpop_nonce,
                no_rs256: req.env.settings.profile.forbids_rs256(),
            };
            Some(crate::dpop::check_proof(svc, proof, check)?)
        }
        None if req.client.metadata.dpop_bound_access_tokens || profile.requires_dpop() => {
            return Err(OAuthError::invalid_request(
                "DPoP: this client's tokens must be DPoP-bound (its metadata, or the environment's profile fapi2); \
                 send a DPoP proof (RFC 9449)",
            )
            .into())
        }
        None => None,
    };
    // A code's exchange records the proof's jti with the code's consumption (one
    // write); the other grants record it first.
    if grant != GrantType::AuthorizationCode {
        if let Some(checked) = &proof {
            crate::dpop::record_first_use(svc, checked).await?;
        }
    }
    let jkt = proof.as_ref().map(|p| p.proof.jkt.as_str());
    match grant {
        GrantType::AuthorizationCode => exchange_code(svc, req, proof.as_ref()).await,
        GrantType::RefreshToken => refresh(svc, req, jkt).await,
        GrantType::ClientCredentials => client_credentials(svc, req, jkt).await,
    }
}

/// Writes a refused token request to the audit log (request errors, not outages).
pub fn audit_rejection(svc: &Service, env_id: &str, e: &ApiError) {
    let (code, description) = match e {
        ApiError::Invalid { code, description } => (code.as_str(), description.as_str()),
        ApiError::InvalidClient { description, .. } => ("invalid_client", description.as_str()),
        _ => return,
    };
    let fields = serde_json::json!({"env": env_id, "error": code, "error_description": description});
    svc.obs.audit(svc.now(), "token.rejected", fields);
}

fn invalid_grant(description: &'static str) -> ApiError {
    OAuthError::new(ErrorCode::InvalidGrant, description).into()
}

/// `grant_type=authorization_code`. The code is spent by the first exchange, whatever
/// its outcome; presented again by its own client, it revokes what it gave (RFC 6749
/// §10.5).
async fn exchange_code(
    svc: &Service,
    req: TokenRequest<'_>,
    proof: Option<&crate::dpop::CheckedProof>,
) -> ApiResult<TokenResponse> {
    let (env_id, client) = (req.env.id.as_str(), req.client);
    let jkt = proof.map(|p| p.proof.jkt.as_str());
    let Some(code) = req.params.non_empty("code") else {
        // The proof is spent all the same.
        if let Some(checked) = proof {
            crate::dpop::record_first_use(svc, checked).await?;
        }
        return Err(OAuthError::invalid_request("code is missing").into());
    };
    let hash = pixie_core::ids::code_key(code);
    let now = svc.now();
    let consumed = match proof {
        Some(p) => svc
            .store
            .consume_code_with_jti(env_id, &hash, &client.client_id, now, (&p.jti_key, p.keep_until))
            .await?
            .ok_or_else(crate::dpop::replayed)?,
        None => svc.store.consume_code(env_id, &hash, &client.client_id, now).await?,
    };
    let Some(row) = consumed else {
        return Err(code_not_consumed(svc, env_id, client, &hash, now).await?);
    };
    let data: CodeData = serde_json::from_str(&row.data).map_err(ApiError::internal)?;
    let challenge = data.pending.recorded_challenge()?;
    let binding = CodeBinding {
        redirect_uri: &data.pending.redirect_uri,
        redirect_uri_sent: data.pending.redirect_uri_sent,
        challenge: challenge.as_ref(),
    };
    if let Err(e) = check_code(&binding, req.params) {
        if let CodeCheckError::Pkce(r) = &e {
            let fields = serde_json::json!({"env": env_id, "client": client.client_id, "rule": r.rule.as_str()});
            svc.obs.audit(now, "pkce.token_rejected", fields);
        }
        return Err(e.error().clone().into());
    }
    // A code bound to a DPoP key at authorization (`dpop_jkt`) is exchanged with a
    // proof by that key only (RFC 9449 §10).
    if data.pending.dpop_jkt.is_some() && data.pending.dpop_jkt.as_deref() != jkt {
        return Err(invalid_grant(
            "code: it is bound to a DPoP key (dpop_jkt); send a DPoP proof by that key",
        ));
    }
    // RFC 8707 §2.2: the token may name the resources authorized, or fewer.
    let resources = token_resources(svc, req, &data.pending.resources).await?;
    let user = svc
        .lookup_user(env_id, &row.user_id)
        .await?
        .ok_or_else(|| invalid_grant("code: the user it was issued for no longer exists"))?;
    let grant = Grant {
        client,
        user: Some(&user),
        grant_id: &row.grant_id,
        scopes: &data.pending.scopes,
        auth_time: Some(data.auth_time),
        nonce: data.pending.nonce.as_deref(),
        grant_start: row.created_at,
        with_refresh: true,
        sid: data.sid.as_deref(),
        grant_type: "authorization_code",
        issuer: req.issuer,
        resources: &resources.aud,
        granted_resources: &resources.kept,
        jkt,
    };
    svc.issue_tokens(req.env, grant).await
}

/// Why a code was not consumed; a replay by its own client revokes its grant (which
/// also stops an exchange of it still issuing tokens: see `Store::insert_refresh_token`).
async fn code_not_consumed(
    svc: &Service,
    env_id: &str,
    client: &ClientRow,
    hash: &[u8],
    now: i64,
) -> ApiResult<ApiError> {
    let Some(found) = svc.store.get_code(env_id, hash).await? else {
        return Ok(invalid_grant("code is unknown: not a code this environment issued"));
    };
    if found.client_id != client.client_id {
        return Ok(invalid_grant("code was issued to another client"));
    }
    if found.used_at.is_some() {
        let n = svc.store.revoke_grant(env_id, &found.grant_id, now).await?;
        tracing::warn!(env = env_id, client = %client.client_id, revoked = n, "authorization code replayed: its tokens are revoked");
        let fields = serde_json::json!({"env": env_id, "client": client.client_id, "revoked": n});
        svc.obs.audit(now, "code.replayed", fields);
        // Whether the first exchange got tokens is not known here (one without its
        // verifier got none): "any".
        return Ok(invalid_grant(
            "code was already used; any tokens issued for it are now revoked",
        ));
    }
    if found.expires_at <= now {
        return Ok(invalid_grant(
            "code has expired (a code lives a minute by default): start a new authorization",
        ));
    }
    // Live, unused, this client's: its grant was revoked.
    Ok(invalid_grant(
        "code was revoked: the session it came from ended (signed off, or the user was disabled or removed)",
    ))
}

/// The resources of a token from a grant's: those requested among the grant's that are
/// still registered (a removed resource server is never named again).
async fn token_resources(svc: &Service, req: TokenRequest<'_>, granted: &[String]) -> ApiResult<TokenResources> {
    let requested = requested_resources(req.params)?;
    if granted.is_empty() && requested.is_empty() {
        return Ok(TokenResources {
            aud: Vec::new(),
            kept: Vec::new(),
        });
    }
    let registered = svc.directory.resources(&req.env.id).await?;
    let uris: Vec<&str> = registered.iter().map(|r| r.uri.as_str()).collect();
    Ok(for_token(requested, granted, &uris)?)
}

const REFRESH_INVALID: &str = "refresh_token is invalid, expired, revoked, or was issued to another client";

/// `grant_type=refresh_token`: rotates the token; a used one presented again revokes
/// its whole family. PKCE never applies here.
async fn refresh(svc: &Service, req: TokenRequest<'_>, jkt: Option<&str>) -> ApiResult<TokenResponse> {
    let (env_id, client) = (req.env.id.as_str(), req.client);
    let token = req
        .params
        .non_empty("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let hash = crypto::sha256(token.as_bytes());
    let now = svc.now();
    // Decide everything that does not spend the token first: a request refused for its
    // scope must leave the token usable, or its next use would look like reuse.
    let current = svc
        .store
        .get_token_by_hash(env_id, &hash)
        .await?
        .filter(|t| t.kind == "refresh" && t.client_id == client.client_id)
        .ok_or_else(|| invalid_grant(REFRESH_INVALID))?;
    let granted = split_scope(&current.scope);
    let allowed: Vec<&str> = granted.iter().map(String::as_str).collect();
    let scopes = requested_scopes(req.params.get("scope"), &allowed)?.unwrap_or(granted.clone());
    let data: TokenData = serde_json::from_str(&current.data).unwrap_or_default();
    // A public client's DPoP-bound refresh token needs a proof by its key (RFC 9449 §5).
    if data.dpop_jkt.is_some() && data.dpop_jkt.as_deref() != jkt {
        return Err(invalid_grant(
            "refresh_token: it is bound to a DPoP key; send a DPoP proof by that key",
        ));
    }
    let resources = token_resources(svc, req, &data.resources).await?;
    let Some(row) = svc
        .store
        .consume_refresh_token(env_id, &hash, &client.client_id, now)
        .await?
    else {
        // Not consumed: used before (reuse: revoke the family), or revoked, or expired.
        let used = svc.store.get_token_by_hash(env_id, &hash).await?;
        if used.is_some_and(|t| t.used_at.is_some()) {
            let n = svc.store.revoke_grant(env_id, &current.grant_id, now).await?;
            tracing::warn!(env = env_id, client = %client.client_id, revoked = n, "refresh token reused: its family is revoked");
            let fields = serde_json::json!({"env": env_id, "client": client.client_id, "revoked": n});
            svc.obs.audit(now, "refresh.reused", fields);
            return Err(invalid_grant(
                "refresh_token was already used; every token of its grant is now revoked",
            ));
        }
        return Err(invalid_grant(REFRESH_INVALID));
    };
    let user_id = row.user_id.ok_or_else(|| invalid_grant("refresh_token has no user"))?;
    let user = svc
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
        issuer: req.issuer,
        resources: &resources.aud,
        granted_resources: &resources.kept,
        jkt,
    };
    svc.issue_tokens(req.env, grant).await
}

/// `grant_type=client_credentials`: a token for the client itself, with none of the
/// scopes that need a user.
async fn client_credentials(svc: &Service, req: TokenRequest<'_>, jkt: Option<&str>) -> ApiResult<TokenResponse> {
    let allowed = client_credentials_scopes(&req.client.metadata.scope);
    let scopes = requested_scopes(req.params.get("scope"), &allowed)?.unwrap_or_default();
    let resources = requested_resources(req.params)?;
    let registered = svc.directory.resources(&req.env.id).await?;
    check_registered(
        &resources,
        &registered.iter().map(|r| r.uri.as_str()).collect::<Vec<_>>(),
    )?;
    let grant_id = crypto::random_token::<16>();
    let grant = Grant {
        client: req.client,
        user: None,
        grant_id: &grant_id,
        scopes: &scopes,
        auth_time: None,
        nonce: None,
        grant_start: svc.now(),
        with_refresh: false,
        sid: None,
        grant_type: "client_credentials",
        issuer: req.issuer,
        resources: &resources,
        granted_resources: &[],
        jkt,
    };
    svc.issue_tokens(req.env, grant).await
}
