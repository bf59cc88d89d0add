//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3; OAuth 2.1 §2.4).

use pixie_core::client::AuthMethod;
use pixie_core::token::PresentedClient;
use pixie_store::ClientRow;

use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// The one description of every failed client authentication.
const FAILED: &str = "client authentication failed: check client_id, the authentication method and the secret";

/// Authenticates the client a request presents, in environment `env_id`, at an
/// endpoint whose client assertions may name `audiences` (the issuer, the endpoint).
///
/// Every failure (an unknown client, the wrong method, the wrong secret) is the same
/// `invalid_client`: the answer must not tell a caller which client ids exist or how
/// they authenticate. The reason goes to the audit log, for the operator.
pub async fn authenticate(
    svc: &Service,
    env_id: &str,
    presented: &PresentedClient,
    audiences: &[&str],
) -> ApiResult<ClientRow> {
    let fail = |reason: &'static str| {
        let fields = serde_json::json!({"env": env_id, "reason": reason});
        svc.obs.audit(svc.now(), "client.authentication_failed", fields);
        ApiError::InvalidClient {
            description: FAILED.into(),
            basic: presented.method == AuthMethod::ClientSecretBasic,
        }
    };
    let Some(client) = svc.lookup_client(env_id, &presented.client_id).await? else {
        return Err(fail("unknown client_id"));
    };
    if client.metadata.token_endpoint_auth_method != presented.method {
        return Err(fail(match client.metadata.token_endpoint_auth_method {
            AuthMethod::None => "a public client sent a secret",
            AuthMethod::ClientSecretBasic => "a client_secret_basic client used another method",
            AuthMethod::ClientSecretPost => "a client_secret_post client used another method",
            AuthMethod::PrivateKeyJwt => "a private_key_jwt client used another method",
        }));
    }
    if let Some(assertion) = &presented.assertion {
        if let Err(reason) = crate::assertion::verify(svc, &client, assertion, audiences).await? {
            return Err(fail(reason));
        }
        return Ok(client);
    }
    if presented.method != AuthMethod::None {
        let ok = match (&client.secret_hash, &presented.secret) {
            (Some(hash), Some(secret)) => crypto::ct_eq(&crypto::sha256(secret.as_bytes()), hash),
            _ => false,
        };
        if !ok {
            return Err(fail("wrong client_secret"));
        }
    }
    Ok(client)
}
