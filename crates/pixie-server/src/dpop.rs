//! DPoP proofs (RFC 9449, CONTRACT §8) verified: the header and claims by
//! [`pixie_core::dpop`], the signature and the key's thumbprint by the `jsonwebtoken`
//! crate (a well-kept JOSE implementation over aws-lc-rs: the key is the client's, so
//! its parsing is not ours to write), the `jti` once across every instance by the
//! store, and the nonce (when the environment asks for one) by the master key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pixie_core::dpop::{check_claims, check_header, Expected, ProofClaims, ProofError, IAT_WINDOW, MAX_PROOF_LEN};

use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// How long a nonce is good for: the window it was made in and the next.
const NONCE_WINDOW: i64 = 60;

/// A proof that passed every check: the thumbprint of its key (RFC 7638, SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// `cnf.jkt` for what it binds.
    pub jkt: String,
}

/// What a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofCheck<'a> {
    /// The environment (jti and nonces are per environment).
    pub env_id: &'a str,
    /// The request's method.
    pub htm: &'a str,
    /// The endpoint's public URL.
    pub htu: &'a str,
    /// The access token presented with the proof, if any (`ath`).
    pub access_token: Option<&'a str>,
    /// Whether the environment requires server-provided nonces.
    pub nonce_required: bool,
    /// Whether RS256 is refused (the `fapi2` profile: PS256, ES256 or EdDSA only).
    pub no_rs256: bool,
}

fn invalid(why: &str) -> ApiError {
    ApiError::from(pixie_core::OAuthError::from(ProofError::Invalid(format!(
        "DPoP proof: {why}"
    ))))
}

/// A proof whose every check passed but the single use of its `jti`, which the caller
/// records: with [`record_first_use`], or with the write the request makes anyway (a
/// code's consumption: `Store::consume_code_with_jti`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// The proof's key's thumbprint.
    pub proof: Proof,
    /// What names its `jti` in the store (per environment and key).
    pub jti_key: [u8; 32],
    /// Until when the `jti` is kept: past it, the proof's `iat` cannot pass.
    pub keep_until: i64,
}

/// Verifies a DPoP proof for a request, its `jti`'s single use included.
pub async fn verify(svc: &Service, proof: &str, check: ProofCheck<'_>) -> ApiResult<Proof> {
    let checked = check_proof(svc, proof, check)?;
    record_first_use(svc, &checked).await?;
    Ok(checked.proof)
}

/// Records the first use of a checked proof's `jti`; a second use is refused.
pub async fn record_first_use(svc: &Service, checked: &CheckedProof) -> ApiResult<()> {
    // A proof is good once: a copy replayed, here or at another instance, is refused.
    if !svc.store.first_use_of_jti(&checked.jti_key, checked.keep_until).await? {
        return Err(replayed());
    }
    Ok(())
}

/// The answer to a proof whose `jti` was used before.
pub fn replayed() -> ApiError {
    invalid("its jti was used before (a proof is good for one request)")
}

/// Checks a DPoP proof for a request, all but its `jti`'s single use (see
/// [`CheckedProof`]).
pub fn check_proof(svc: &Service, proof: &str, check: ProofCheck<'_>) -> ApiResult<CheckedProof> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(invalid("it is longer than 8 KiB"));
    }
    let header_b64 = proof.split('.').next().unwrap_or_default();
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(|| invalid("it is not a JWT"))?;
    let alg = check_header(&header).map_err(oauth)?;
    if check.no_rs256 && alg == "RS256" {
        return Err(invalid(
            "alg RS256 is not allowed under the profile fapi2 (PS256, ES256 or EdDSA)",
        ));
    }
    let alg: Algorithm = alg.parse().map_err(|_| invalid("its alg is not supported"))?;
    let jwk: Jwk = serde_json::from_value(header["jwk"].clone()).map_err(|_| invalid("its jwk is not a usable key"))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("its jwk is not a usable key"))?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation)
        .map_err(|_| invalid("its signature does not verify with its jwk, or its claims are malformed"))?
        .claims;
    let now = svc.now();
    let expected = Expected {
        htm: check.htm,
        htu: check.htu,
        now,
        access_token: check.access_token,
    };
    check_claims(&claims, expected).map_err(oauth)?;
    if check.nonce_required && !nonce_is_current(svc, check.env_id, claims.nonce.as_deref(), now) {
        return Err(ApiError::DpopNonce {
            description: "DPoP proof: use the server's nonce (DPoP-Nonce)".into(),
            nonce: nonce(svc, check.env_id, now),
        });
    }
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| invalid("its jwk has no thumbprint"))?;
    // Kept until its iat can no longer pass the window.
    let jti_key = crypto::sha256(format!("pixie dpop\0{}\0{jkt}\0{}", check.env_id, claims.jti).as_bytes());
    Ok(CheckedProof {
        proof: Proof { jkt },
        jti_key,
        keep_until: now + 2 * IAT_WINDOW,
    })
}

fn oauth(e: ProofError) -> ApiError {
    ApiError::from(pixie_core::OAuthError::from(e))
}

/// The environment's current DPoP nonce (RFC 9449 §8): its time window sealed with the
/// master key, so every instance makes and accepts the same ones without a shared table.
pub fn nonce(svc: &Service, env_id: &str, now: i64) -> String {
    let window = now.div_euclid(NONCE_WINDOW);
    let sealed = svc
        .keys
        .master()
        .seal(&window.to_be_bytes(), format!("pixie dpop nonce\0{env_id}").as_bytes());
    URL_SAFE_NO_PAD.encode(sealed)
}

/// Whether `nonce` is one of the environment's, made in this window or the last.
fn nonce_is_current(svc: &Service, env_id: &str, nonce: Option<&str>, now: i64) -> bool {
    let Some(sealed) = nonce.and_then(|n| URL_SAFE_NO_PAD.decode(n).ok()) else {
        return false;
    };
    let Ok(opened) = svc
        .keys
        .master()
        .open(&sealed, format!("pixie dpop nonce\0{env_id}").as_bytes())
    else {
        return false;
    };
    let Ok(bytes) = <[u8; 8]>::try_from(opened.as_slice()) else {
        return false;
    };
    let window = i64::from_be_bytes(bytes);
    let current = now.div_euclid(NONCE_WINDOW);
    window == current || window == current - 1
}
