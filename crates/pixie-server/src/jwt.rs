//! JWS compact serialization (RFC 7515) over [`SigningKey`]: the format is assembled
//! here, every signature is made and checked by aws-lc-rs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::keys::{KeyError, SigningKey};

/// Signs `claims` as a JWT with header `typ`.
pub fn sign(key: &SigningKey, typ: &str, claims: &impl serde::Serialize) -> Result<String, KeyError> {
    let _span =
        tracing::info_span!(target: crate::telemetry::TRACE_TARGET, "sign", alg = key.alg.as_str(), typ).entered();
    let header = json!({"alg": key.alg.as_str(), "typ": typ, "kid": key.kid});
    let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
    out.push('.');
    let claims = serde_json::to_vec(claims).map_err(|_| KeyError::Crypto)?;
    out.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(out)
}

/// Verifies a JWT made by [`sign`] with `key` and header `typ`; returns its claims.
/// Anything malformed, of another algorithm, key or type is `None`.
pub fn verify(key: &SigningKey, typ: &str, token: &str) -> Option<Value> {
    if token.len() > 16 * 1024 {
        return None;
    }
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    if header["alg"] != key.alg.as_str() || header["kid"] != key.kid.as_str() || header["typ"] != typ {
        return None;
    }
    let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
    if !key.verify(&token.as_bytes()[..h.len() + 1 + c.len()], &sig) {
        return None;
    }
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    claims.is_object().then_some(claims)
}

/// The `kid` a JWT's header names (unverified: it picks the key that then verifies).
pub fn kid(token: &str) -> Option<String> {
    let h = token.split('.').next()?;
    if h.len() > 4096 {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

/// OpenID Connect `at_hash`: the left half of SHA-256 of the access token, base64url.
pub fn at_hash(access_token: &str) -> String {
    let d = crate::crypto::sha256(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixie_core::client::SigningAlg;

    #[test]
    fn round_trip_and_tamper() {
        for alg in [SigningAlg::ES256, SigningAlg::RS256] {
            let (key, _) = SigningKey::generate(alg).unwrap();
            let t = sign(&key, "at+jwt", &json!({"sub": "u", "n": 1})).unwrap();
            assert_eq!(verify(&key, "at+jwt", &t).unwrap()["sub"], "u");
            assert!(verify(&key, "JWT", &t).is_none(), "typ is checked");
            let mut parts: Vec<&str> = t.split('.').collect();
            let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "admin", "n": 1}).to_string());
            parts[1] = &forged;
            assert!(verify(&key, "at+jwt", &parts.join(".")).is_none());
            let (other, _) = SigningKey::generate(alg).unwrap();
            assert!(verify(&other, "at+jwt", &t).is_none());
            assert!(verify(&key, "at+jwt", "a.b").is_none());
            assert!(verify(&key, "at+jwt", "").is_none());
        }
    }
}
