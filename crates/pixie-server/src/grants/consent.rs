//! Consent (CONTRACT §7): whether a user must approve a client before it gets a code,
//! what they are shown, and their decision, remembered per client × scopes × resources.

use pixie_core::claims::{consent_key, split_scope};
use pixie_core::wire::{Consent, ConsentClient};
use pixie_store::{ClientRow, ConsentRow, FlowRow, FlowStatus};

use crate::authz::Pending;
use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// Whether `user_id` must consent before `client` gets a code for `pending`: the client
/// asks for consent and the user has not approved exactly these scopes and resources.
pub async fn needed(
    svc: &Service,
    env_id: &str,
    user_id: &str,
    client: &ClientRow,
    pending: &Pending,
) -> ApiResult<bool> {
    if !applies(client) {
        return Ok(false);
    }
    let (scopes, resources) = consent_key(&pending.scopes, &pending.resources);
    Ok(!svc
        .store
        .has_consent(env_id, user_id, &client.client_id, &scopes, &resources)
        .await?)
}

/// Whether a client's codes rest on the user's consent: it asks for consent, or it
/// registered itself.
pub fn applies(client: &ClientRow) -> bool {
    client.metadata.require_consent || client.metadata.self_registered
}

/// What the user is asked about a flow waiting for consent.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The client.
    pub client: ConsentClient,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The resources asked for.
    pub resources: Vec<String>,
}

/// The request a flow holds, read back.
fn pending_of(flow: &FlowRow) -> ApiResult<Pending> {
    serde_json::from_str(&flow.request).map_err(ApiError::internal)
}

/// The host of a redirect URI (what the user can check the code goes to), or of a
/// metadata document's URL (who describes the client).
pub fn host_of(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit_once('@').map_or(authority, |(_, h)| h).to_owned()
}

/// What the user is asked, for a flow waiting for consent.
pub async fn asked(svc: &Service, env_id: &str, flow: &FlowRow) -> ApiResult<Asked> {
    let pending = pending_of(flow)?;
    let client = svc.client(env_id, &flow.client_id).await?;
    Ok(Asked {
        client: ConsentClient {
            client_id: client.client_id,
            client_name: client.metadata.client_name,
            redirect_host: host_of(&pending.redirect_uri),
            // A client that registered itself is never verified by the operator.
            verified: !client.metadata.self_registered,
        },
        scopes: pending.scopes,
        resources: pending.resources,
    })
}

/// Records the user's decision on a flow waiting for consent; an approval is
/// remembered. False when the flow was not waiting (decided already, or expired).
pub async fn decide(svc: &Service, env_id: &str, flow: &FlowRow, approve: bool) -> ApiResult<bool> {
    // A client deleted (or no longer served) while the flow waited gets no consent.
    if flow.status != FlowStatus::ConsentRequired || svc.lookup_client(env_id, &flow.client_id).await?.is_none() {
        return Ok(false);
    }
    let user_id = flow.user_id.clone().ok_or(ApiError::Internal)?;
    let now = svc.now();
    let pending = pending_of(flow)?;
    // An approval is remembered in the transaction that completes the flow, and only if
    // this decision is the one that completes it: a resume of the completed flow (whose
    // code rests on the consent: see `Store::insert_code`) finds it, and an approval
    // that loses to a denial (a second tab) leaves nothing.
    let (scopes, resources) = consent_key(&pending.scopes, &pending.resources);
    let row = ConsentRow {
        env_id: env_id.to_owned(),
        user_id: user_id.clone(),
        client_id: flow.client_id.clone(),
        scopes,
        resources,
        created_at: now,
    };
    let remember = approve.then_some(&row);
    if !svc.store.decide_consent(env_id, &flow.id, now, remember).await? {
        return Ok(false);
    }
    let event = if approve { "consent.approved" } else { "consent.denied" };
    let fields = serde_json::json!({"env": env_id, "client": flow.client_id, "user": user_id});
    svc.obs.audit(now, event, fields);
    Ok(true)
}

/// A user's consents, for the admin API.
pub async fn list(svc: &Service, env_id: &str, user_id: &str) -> ApiResult<Vec<Consent>> {
    svc.environment(env_id).await?;
    svc.lookup_user(env_id, user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let rows = svc.store.list_consents(env_id, user_id).await?;
    Ok(rows
        .into_iter()
        .map(|c| Consent {
            client_id: c.client_id,
            scopes: split_scope(&c.scopes),
            resources: split_scope(&c.resources),
            created_at: c.created_at,
        })
        .collect())
}

/// Withdraws a user's consents to a client and revokes what the client holds for the
/// user.
pub async fn revoke(svc: &Service, env_id: &str, user_id: &str, client_id: &str) -> ApiResult<()> {
    svc.environment(env_id).await?;
    let now = svc.now();
    svc.store
        .delete_consents(env_id, user_id, client_id, now)
        .await
        .map_err(|e| match e {
            pixie_store::StoreError::NotFound => ApiError::NotFound("consent"),
            e => e.into(),
        })?;
    let fields = serde_json::json!({"env": env_id, "client": client_id, "user": user_id});
    svc.obs.audit(now, "consent.revoked", fields);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_redirect_host_is_what_the_user_checks() {
        assert_eq!(
            super::host_of("https://app.example.com:8443/cb?x=1"),
            "app.example.com:8443"
        );
        assert_eq!(super::host_of("https://evil@app.example.com/cb"), "app.example.com");
        assert_eq!(super::host_of("com.example.app:/cb"), "com.example.app:");
    }
}
