//! Clients identified by a metadata document (CONTRACT §7): at the authorization
//! endpoint a `client_id` that is a document URL, in an environment that accepts
//! documents, is read from the store while its document is fresh, and fetched (with
//! [`crate::fetch::Fetcher`]) and stored again when it is not. Stored, the client is a
//! client like any other for sign-on, consent, the token endpoint and the PKCE report;
//! only the authorization endpoint fetches, so a resource server's introspection never
//! makes pixie fetch anything.

use pixie_core::document::{cached_until, is_document_url, metadata_from_document};
use pixie_store::{ClientRow, EnvironmentRow};

use super::registration::UNUSED_CLIENT_LIFETIME;
use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// The client an authorization request names, fetching its metadata document when it
/// is one and not fresh; `None` when there is no such client. A document that cannot
/// be fetched or is refused is an `Invalid` error naming why (the error page).
pub async fn authorization_client(
    svc: &Service,
    env: &EnvironmentRow,
    client_id: &str,
    addr: &str,
) -> ApiResult<Option<ClientRow>> {
    let documents_on = env.settings.registration.client_id_metadata_documents;
    let is_document = is_document_url(client_id, svc.fetcher.allow_loopback_http);
    // (A client stored from a document is not served while documents are off: see
    // `Service::lookup_client`.)
    let stored = svc.lookup_client(&env.id, client_id).await?;
    let now = svc.now();
    match stored {
        // A client registered by the operator or by RFC 7591 (never a document URL).
        Some(client) if client.document_expires_at.is_none() => return Ok(Some(client)),
        Some(client) if client.document_expires_at.is_some_and(|t| t > now) => return Ok(Some(client)),
        _ if !documents_on || !is_document => return Ok(None),
        _ => {}
    }
    if let Err(wait) = svc.count_document_fetch(now, &env.id, addr).await? {
        return Err(ApiError::RateLimited {
            what: "too many client metadata documents fetched for this address",
            wait,
        });
    }
    let refused =
        |why: String| ApiError::invalid(format!("client_id: the client's metadata document is refused: {why}"));
    // One document, one spelling: a URL that a parser would rewrite (default port, case,
    // encodings) names the document under another id than the one it is fetched at.
    if reqwest::Url::parse(client_id).map_or(true, |u| u.as_str() != client_id) {
        return Err(refused(
            "its URL is not in canonical form (as a URL parser writes it)".into(),
        ));
    }
    let fetched = svc
        .fetcher
        .fetch_json(client_id)
        .await
        .map_err(|e| refused(e.to_string()))?;
    let scopes = svc.directory.scopes_supported(&env.id).await?;
    let metadata = metadata_from_document(&fetched.document, client_id, &scopes).map_err(refused)?;
    // The environment's PKCE policy applies to it as to every client.
    metadata.validate(&env.pkce).map_err(|e| refused(e.to_string()))?;
    pixie_core::profile::check_client(env.settings.profile, &metadata).map_err(refused)?;
    let row = ClientRow {
        env_id: env.id.clone(),
        client_id: client_id.to_owned(),
        secret_hash: None,
        metadata,
        created_at: now,
        updated_at: now,
        document_expires_at: Some(cached_until(now, fetched.max_age)),
    };
    svc.store
        .upsert_document_client(&row, now + UNUSED_CLIENT_LIFETIME)
        .await
        .map_err(|e| match e {
            pixie_store::StoreError::Conflict(_) => refused("another client holds this id".into()),
            other => other.into(),
        })?;
    svc.directory.forget_client(&env.id, client_id);
    let fields = serde_json::json!({"env": env.id, "client": client_id});
    svc.obs.audit(now, "client.document_fetched", fields);
    Ok(Some(row))
}
