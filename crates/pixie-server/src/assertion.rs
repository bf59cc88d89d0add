//! `private_key_jwt` client authentication (RFC 7523, CONTRACT §8): a client assertion
//! verified against the client's registered public keys, inline or fetched from its
//! `jwks_uri` (by [`crate::fetch::Fetcher`], kept by the answer's caching headers within
//! a minute and a day, fetched again once a minute at most when an unknown `kid`
//! arrives, for rotation), with the rules of [`pixie_core::assertion`], and its `jti`
//! used once across every instance. Signatures and keys are the `jsonwebtoken` crate's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pixie_core::assertion::{check_claims, check_header, AssertionClaims, ExpectedAssertion};
use pixie_store::ClientRow;

use crate::crypto;
use crate::error::ApiResult;
use crate::service::Service;

/// The largest key set read from a `jwks_uri`.
const JWKS_MAX_BYTES: usize = 64 * 1024;
/// The most `jwks_uri` key sets kept.
const MAX_CACHED: usize = 1000;
/// The least time between two fetches of one `jwks_uri` for an unknown `kid`.
const REFETCH_AFTER: i64 = 60;

/// Key sets fetched from clients' `jwks_uri`, by URL.
#[derive(Debug, Default)]
pub struct JwksCache {
    sets: Mutex<HashMap<String, Fetched>>,
}

#[derive(Debug, Clone)]
struct Fetched {
    keys: Arc<Vec<Jwk>>,
    fetched_at: i64,
    expires_at: i64,
}

/// The keys of a JWK Set document that `jsonwebtoken` can use (others are skipped).
fn keys_of(set: &serde_json::Value) -> Vec<Jwk> {
    set.get("keys")
        .and_then(serde_json::Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

impl JwksCache {
    /// Drops the kept copy of a key set (its client changed: the next use fetches).
    pub fn forget(&self, uri: &str) {
        if let Ok(mut sets) = self.sets.lock() {
            sets.remove(uri);
        }
    }

    fn get(&self, uri: &str) -> Option<Fetched> {
        self.sets.lock().ok()?.get(uri).cloned()
    }

    fn put(&self, uri: &str, f: Fetched) {
        if let Ok(mut sets) = self.sets.lock() {
            if sets.len() >= MAX_CACHED && !sets.contains_key(uri) {
                let now = f.fetched_at;
                sets.retain(|_, v| v.expires_at > now);
                if sets.len() >= MAX_CACHED {
                    sets.clear();
                }
            }
            sets.insert(uri.to_owned(), f);
        }
    }
}

/// The keys registered for `client`: inline, or from its `jwks_uri` (fetched when not
/// kept, or when `refresh` and the last fetch is a minute old).
async fn client_keys(svc: &Service, client: &ClientRow, refresh: bool) -> Result<Arc<Vec<Jwk>>, &'static str> {
    if let Some(jwks) = &client.metadata.jwks {
        return Ok(Arc::new(keys_of(jwks)));
    }
    let uri = client.metadata.jwks_uri.as_deref().ok_or("no keys registered")?;
    let now = svc.now();
    if let Some(f) = svc.jwks.get(uri) {
        let fresh = f.expires_at > now && !(refresh && now - f.fetched_at >= REFETCH_AFTER);
        if fresh {
            return Ok(f.keys);
        }
    }
    // A key set is larger than a client's metadata document (several RSA keys, x5c).
    let fetcher = crate::fetch::Fetcher {
        max_bytes: JWKS_MAX_BYTES,
        ..svc.fetcher.clone()
    };
    let fetched = fetcher.fetch_json(uri).await.map_err(|e| {
        tracing::warn!(client = %client.client_id, error = %e, "the client's jwks_uri could not be fetched");
        "its jwks_uri could not be fetched"
    })?;
    let keys = Arc::new(keys_of(&fetched.document));
    let f = Fetched {
        keys: keys.clone(),
        fetched_at: now,
        expires_at: pixie_core::document::cached_until(now, fetched.max_age),
    };
    svc.jwks.put(uri, f);
    Ok(keys)
}

/// Whether the client's environment takes only its issuer as an assertion's `aud`.
async fn strict_audience(svc: &Service, env_id: &str) -> ApiResult<bool> {
    Ok(svc
        .environment(env_id)
        .await?
        .settings
        .profile
        .strict_assertion_audience())
}

/// Verifies `assertion` as `client`'s authentication at an endpoint whose accepted
/// audiences are `audiences` (the issuer and the endpoint's URL). The error is the
/// reason, for the audit log (the client is told only `invalid_client`).
pub async fn verify(
    svc: &Service,
    client: &ClientRow,
    assertion: &str,
    audiences: &[&str],
) -> ApiResult<Result<(), &'static str>> {
    let header: Option<serde_json::Value> = assertion
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|h| serde_json::from_slice(&h).ok());
    let Some(header) = header else {
        return Ok(Err("the assertion is not a JWT"));
    };
    let (alg, kid) = match check_header(&header) {
        Ok(v) => v,
        Err(why) => return Ok(Err(why)),
    };
    let Ok(alg) = alg.parse::<Algorithm>() else {
        return Ok(Err("alg is not supported"));
    };
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let attempt = |keys: &[Jwk]| -> Option<AssertionClaims> {
        keys.iter()
            .filter(|k| kid.is_none() || k.common.key_id.as_deref() == kid)
            .filter_map(|k| DecodingKey::from_jwk(k).ok())
            .find_map(|key| jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation).ok())
            .map(|t| t.claims)
    };
    let keys = match client_keys(svc, client, false).await {
        Ok(k) => k,
        Err(why) => return Ok(Err(why)),
    };
    let mut claims = attempt(&keys);
    // A key not seen before (the client rotated its keys): fetch its set again.
    if claims.is_none() && client.metadata.jwks_uri.is_some() {
        if let Ok(keys) = client_keys(svc, client, true).await {
            claims = attempt(&keys);
        }
    }
    let Some(claims) = claims else {
        return Ok(Err("the assertion's signature does not verify with the client's keys"));
    };
    let expected = ExpectedAssertion {
        client_id: &client.client_id,
        audiences,
        now: svc.now(),
        strict_audience: strict_audience(svc, &client.env_id).await?,
    };
    if let Err(why) = check_claims(&claims, expected) {
        return Ok(Err(why));
    }
    let key = crypto::sha256(
        format!(
            "pixie assertion\0{}\0{}\0{}",
            client.env_id, client.client_id, claims.jti
        )
        .as_bytes(),
    );
    if !svc.store.first_use_of_jti(&key, claims.exp).await? {
        return Ok(Err("the assertion's jti was used before"));
    }
    Ok(Ok(()))
}
