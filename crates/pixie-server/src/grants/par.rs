//! Pushed authorization requests (RFC 9126, CONTRACT §8): a client pushes its
//! authorization parameters over an authenticated back channel, every check of the
//! authorization endpoint runs then (errors as JSON, nothing at a redirect URI), and the
//! browser carries only a single-use `request_uri`, bound to the client, that expires.

use pixie_core::authorize;
use pixie_core::client::GrantType;
use pixie_core::par::{check_push, kept_params, LIFETIME, REQUEST_URI_PREFIX};
use pixie_core::params::Params;
use pixie_core::{ErrorCode, OAuthError};
use pixie_store::{ClientRow, EnvironmentRow, PushedRow};

use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// A pushed request, stored: RFC 9126 §2.2's answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    /// `urn:ietf:params:oauth:request_uri:<random>`.
    pub request_uri: String,
    /// Seconds it may wait for its authorization request.
    pub expires_in: i64,
}

fn invalid(e: authorize::PageError) -> ApiError {
    OAuthError::new(ErrorCode::InvalidRequest, e.0).into()
}

/// A push from an authenticated client.
#[derive(Debug, Clone, Copy)]
pub struct PushRequest<'a> {
    /// The environment.
    pub env: &'a EnvironmentRow,
    /// The client, authenticated.
    pub client: &'a ClientRow,
    /// The form.
    pub params: &'a Params,
    /// The issuer (the endpoint's URL is `<issuer>/as/par`).
    pub issuer: &'a str,
    /// The request's DPoP proof: it binds the code to its key, as `dpop_jkt` does.
    pub dpop: Option<&'a str>,
    /// The client's address.
    pub addr: &'a str,
}

/// Checks and stores the authorization parameters `client` (authenticated) pushed.
pub async fn push(svc: &Service, req: PushRequest<'_>) -> ApiResult<Pushed> {
    let (env, client, params, addr) = (req.env, req.client, req.params, req.addr);
    check_push(params, &client.client_id)?;
    let mut kept = kept_params(params, &client.client_id);
    if let Some(proof) = req.dpop {
        let check = crate::dpop::ProofCheck {
            env_id: &env.id,
            htm: "POST",
            htu: &format!("{}/as/par", req.issuer),
            access_token: None,
            nonce_required: env.settings.dpop_nonce,
            no_rs256: env.settings.profile.forbids_rs256(),
        };
        let jkt = crate::dpop::verify(svc, proof, check).await?.jkt;
        match kept.get("dpop_jkt") {
            Some(given) if given != jkt => {
                return Err(OAuthError::new(
                    ErrorCode::InvalidDpopProof,
                    "dpop_jkt: it is not the thumbprint of the DPoP proof's key",
                )
                .into())
            }
            Some(_) => {}
            None => {
                let mut pairs: Vec<(String, String)> =
                    kept.pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                pairs.push(("dpop_jkt".into(), jkt));
                kept = Params::from_pairs(pairs);
            }
        }
    }
    // The authorization endpoint's checks, in its order, every error as JSON.
    let client_ref = authorize::client_and_redirect(&kept).map_err(invalid)?;
    if env.settings.profile.requires_redirect_uri() && client_ref.redirect_uri.is_none() {
        return Err(OAuthError::invalid_request("redirect_uri is required (profile fapi2, FAPI 2.0 §5.3.2.2)").into());
    }
    if kept
        .get("dpop_jkt")
        .is_some_and(|j| !pixie_core::dpop::is_thumbprint(j))
    {
        return Err(OAuthError::invalid_request(
            "dpop_jkt: it must be a JWK SHA-256 thumbprint (43 base64url characters)",
        )
        .into());
    }
    debug_assert_eq!(client_ref.client_id, client.client_id);
    authorize::resolve_redirect_uri(&client.metadata, client_ref.redirect_uri).map_err(invalid)?;
    if !client.metadata.has_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client_id: this client is not registered for authorization_code",
        )
        .into());
    }

    super::authorization::validate(svc, env, client, &kept, true)?;
    super::authorization::resources(svc, &env.id, &kept).await??;
    // Each push is a stored row: bounded per address like the flows it starts.
    let now = svc.now();
    if let Err(wait) = svc.count_flow_start(now, &env.id, addr).await? {
        return Err(ApiError::RateLimited {
            what: "too many authorization requests from this address",
            wait,
        });
    }
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", crypto::random_token::<32>());
    let row = PushedRow {
        uri_hash: crypto::sha256(request_uri.as_bytes()).to_vec(),
        env_id: env.id.clone(),
        client_id: client.client_id.clone(),
        params: kept.to_form(),
        created_at: now,
        expires_at: now + LIFETIME,
    };
    svc.store.insert_pushed_request(&row).await?;
    let fields = serde_json::json!({"env": env.id, "client": client.client_id});
    svc.obs.audit(now, "authorization.pushed", fields);
    Ok(Pushed {
        request_uri,
        expires_in: LIFETIME,
    })
}

/// The parameters of the pushed request an authorization request names by
/// `request_uri`, taken once; the page error when it is unknown, used, expired or
/// another client's.
pub async fn take(svc: &Service, env_id: &str, params: &Params) -> ApiResult<Params> {
    for name in ["client_id", "request_uri"] {
        if params.is_repeated(name) {
            return Err(ApiError::invalid(format!("{name} is repeated")));
        }
    }
    let client_id = params
        .non_empty("client_id")
        .ok_or_else(|| ApiError::invalid("client_id is missing (a request_uri goes with its client_id)"))?;
    let request_uri = params.get("request_uri").unwrap_or_default();
    let unusable = || {
        ApiError::invalid(
            "request_uri: this pushed authorization request is unknown, already used, expired, \
             or another client's; push the request again",
        )
    };
    if !request_uri.starts_with(REQUEST_URI_PREFIX) {
        return Err(unusable());
    }
    let hash = crypto::sha256(request_uri.as_bytes());
    let kept = svc
        .store
        .take_pushed_request(env_id, &hash, client_id, svc.now())
        .await?
        .ok_or_else(unusable)?;
    Ok(Params::parse(kept.as_bytes()))
}
