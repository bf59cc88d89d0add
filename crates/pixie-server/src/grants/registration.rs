//! RFC 7591 dynamic registration (CONTRACT §7): a client registers itself in an
//! environment that allows it, within a rate limit, and is deleted after 24 hours
//! unless it completes a flow.

use pixie_core::registration::metadata_from_registration;
use pixie_store::ClientRow;
use serde_json::Value;

use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// How long a client that registered itself lives without completing a flow.
pub const UNUSED_CLIENT_LIFETIME: i64 = 24 * 3600;

/// Registers a client from a request body; returns RFC 7591 §3.2.1's answer.
pub async fn register(svc: &Service, env_id: &str, body: &Value, addr: &str) -> ApiResult<Value> {
    let env = svc.environment(env_id).await?;
    if !env.settings.registration.dynamic {
        return Err(ApiError::NotFound("dynamic registration (off in this environment)"));
    }
    let scopes = svc.directory.scopes_supported(env_id).await?;
    let metadata = metadata_from_registration(body, &scopes)?;
    // The environment's PKCE policy, as for every client (no `plain` where it is not
    // allowed), and the rest of the metadata rules.
    metadata.validate(&env.pkce).map_err(|e| ApiError::Invalid {
        code: pixie_core::ErrorCode::InvalidClientMetadata,
        description: e.to_string(),
    })?;
    pixie_core::profile::check_client(env.settings.profile, &metadata).map_err(|description| ApiError::Invalid {
        code: pixie_core::ErrorCode::InvalidClientMetadata,
        description,
    })?;
    let now = svc.now();
    if let Err(wait) = svc.count_registration(now, env_id, addr).await? {
        return Err(ApiError::RateLimited {
            what: "too many registrations from this address",
            wait,
        });
    }
    let secret = metadata.has_secret().then(crypto::random_token::<32>);
    let row = ClientRow {
        env_id: env.id.clone(),
        client_id: crypto::random_token::<16>(),
        secret_hash: secret.as_ref().map(|s| crypto::sha256(s.as_bytes()).to_vec()),
        metadata,
        created_at: now,
        updated_at: now,
        document_expires_at: None,
    };
    svc.store
        .insert_client_unused_until(&row, Some(now + UNUSED_CLIENT_LIFETIME))
        .await?;
    let fields = serde_json::json!({"env": env_id, "client": row.client_id, "addr": addr});
    svc.obs.audit(now, "client.registered", fields);
    Ok(answer(&row, secret))
}

/// RFC 7591 §3.2.1: the registered metadata, the client id, when it was issued, and
/// for a confidential client its secret (which does not expire).
fn answer(row: &ClientRow, secret: Option<String>) -> Value {
    let m = &row.metadata;
    let mut out = serde_json::json!({
        "client_id": row.client_id,
        "client_id_issued_at": row.created_at,
        "client_name": m.client_name,
        "redirect_uris": m.redirect_uris,
        "grant_types": m.grant_types,
        "response_types": m.response_types,
        "token_endpoint_auth_method": m.token_endpoint_auth_method,
        "scope": m.scope,
        "id_token_signed_response_alg": m.id_token_signed_response_alg,
    });
    if let Some(method) = m.code_challenge_method {
        out["code_challenge_method"] = serde_json::json!(method);
    }
    if let Some(secret) = secret {
        out["client_secret"] = Value::String(secret);
        out["client_secret_expires_at"] = Value::from(0);
    }
    out
}
