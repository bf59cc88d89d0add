//! DPoP (RFC 9449, CONTRACT §8): the checks on a proof's header and claims, as plain
//! functions. Verifying the signature with the header's key is the server's (a JOSE
//! crate's) business; this module says whether what was signed is acceptable.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{ErrorCode, OAuthError};

/// The signing algorithms a proof may use (asymmetric only).
pub const ALGORITHMS: [&str; 4] = ["ES256", "RS256", "PS256", "EdDSA"];
/// How far a proof's `iat` may be from now, either way, in seconds.
pub const IAT_WINDOW: i64 = 60;
/// The longest `jti` accepted.
pub const MAX_JTI_LEN: usize = 256;
/// The longest proof accepted, in bytes.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// Why a proof is refused; the text names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The proof is refused (`invalid_dpop_proof`).
    #[error("{0}")]
    Invalid(String),
    /// The proof lacks the nonce the server requires, or carries a stale one
    /// (`use_dpop_nonce`, RFC 9449 §8).
    #[error("{0}")]
    UseNonce(String),
}

impl ProofError {
    fn invalid(s: impl Into<String>) -> Self {
        Self::Invalid(s.into())
    }
}

impl From<ProofError> for OAuthError {
    fn from(e: ProofError) -> Self {
        match e {
            ProofError::Invalid(s) => OAuthError::new(ErrorCode::InvalidDpopProof, s),
            ProofError::UseNonce(s) => OAuthError::new(ErrorCode::UseDpopNonce, s),
        }
    }
}

/// What a proof's header must say: `typ: dpop+jwt`, an asymmetric `alg` of
/// [`ALGORITHMS`], and a public `jwk` of that algorithm's key type (no private member).
/// Returns the algorithm.
pub fn check_header(header: &Value) -> Result<&str, ProofError> {
    let field = |name: &str| header.get(name).and_then(Value::as_str);
    if field("typ") != Some("dpop+jwt") {
        return Err(ProofError::invalid("DPoP proof: typ must be dpop+jwt"));
    }
    let alg = field("alg")
        .filter(|a| ALGORITHMS.contains(a))
        .ok_or_else(|| ProofError::invalid("DPoP proof: alg must be one of ES256, RS256, PS256, EdDSA"))?;
    let Some(jwk) = header.get("jwk").and_then(Value::as_object) else {
        return Err(ProofError::invalid("DPoP proof: jwk (the public key) is missing"));
    };
    // A private or symmetric key in the header is a key everyone now knows.
    if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
        .iter()
        .any(|m| jwk.contains_key(*m))
    {
        return Err(ProofError::invalid(
            "DPoP proof: jwk must be a public key (it has a private member)",
        ));
    }
    let kty = jwk.get("kty").and_then(Value::as_str);
    let crv = jwk.get("crv").and_then(Value::as_str);
    let fits = match alg {
        "ES256" => kty == Some("EC") && crv == Some("P-256"),
        "RS256" | "PS256" => kty == Some("RSA"),
        _ => kty == Some("OKP") && crv == Some("Ed25519"),
    };
    if !fits {
        return Err(ProofError::invalid(format!("DPoP proof: jwk is not a key for {alg}")));
    }
    Ok(alg)
}

/// The claims of a proof.
#[derive(Debug, Clone, Deserialize)]
pub struct ProofClaims {
    /// Unique per proof.
    pub jti: String,
    /// The HTTP method of the request.
    pub htm: String,
    /// The HTTP URI of the request, without query and fragment.
    pub htu: String,
    /// When the proof was made.
    pub iat: i64,
    /// The hash of the access token, when one is presented with it.
    #[serde(default)]
    pub ath: Option<String>,
    /// The server-provided nonce.
    #[serde(default)]
    pub nonce: Option<String>,
}

/// What the request a proof comes with is.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// Its method.
    pub htm: &'a str,
    /// Its URI (the endpoint's public URL).
    pub htu: &'a str,
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// The access token presented with it (then `ath` must be its hash).
    pub access_token: Option<&'a str>,
}

/// Checks a proof's claims against the request it came with.
pub fn check_claims(claims: &ProofClaims, expected: Expected<'_>) -> Result<(), ProofError> {
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(ProofError::invalid("DPoP proof: jti must be 1-256 characters"));
    }
    if claims.htm != expected.htm {
        return Err(ProofError::invalid(format!(
            "DPoP proof: htm must be {} (the request's method)",
            expected.htm
        )));
    }
    if !same_htu(&claims.htu, expected.htu) {
        return Err(ProofError::invalid(format!(
            "DPoP proof: htu must be {} (the request's URI, without query and fragment)",
            expected.htu
        )));
    }
    if (claims.iat - expected.now).abs() > IAT_WINDOW {
        return Err(ProofError::invalid(
            "DPoP proof: iat must be within 60 seconds of the server's time",
        ));
    }
    match (expected.access_token, claims.ath.as_deref()) {
        (None, _) => Ok(()),
        (Some(token), Some(ath)) if ath == access_token_hash(token) => Ok(()),
        (Some(_), Some(_)) => Err(ProofError::invalid(
            "DPoP proof: ath is not the hash of the access token",
        )),
        (Some(_), None) => Err(ProofError::invalid(
            "DPoP proof: ath (the access token's hash) is missing",
        )),
    }
}

/// Whether a proof's `htu` names `expected` (RFC 9449 §4.3: query and fragment
/// ignored; scheme and host compared without case, a default port as no port).
pub fn same_htu(htu: &str, expected: &str) -> bool {
    fn normal(uri: &str) -> Option<String> {
        let uri = uri.split(['?', '#']).next().unwrap_or("");
        let (scheme, rest) = uri.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let mut authority = authority.to_ascii_lowercase();
        for default in [(":443", "https"), (":80", "http")] {
            if scheme == default.1 {
                if let Some(a) = authority.strip_suffix(default.0) {
                    authority = a.to_owned();
                }
            }
        }
        Some(format!("{scheme}://{authority}{path}"))
    }
    matches!((normal(htu), normal(expected)), (Some(a), Some(b)) if a == b)
}

/// Whether `s` can be a JWK SHA-256 thumbprint (`dpop_jkt`): 43 base64url characters.
pub fn is_thumbprint(s: &str) -> bool {
    s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `ath`: the base64url SHA-256 of an access token (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ec_header() -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256",
               "jwk": {"kty": "EC", "crv": "P-256", "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
                       "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}})
    }

    #[test]
    fn the_header_names_a_public_key_of_its_algorithm() {
        assert_eq!(check_header(&ec_header()), Ok("ES256"));
        let with = |f: &dyn Fn(&mut Value)| {
            let mut h = ec_header();
            f(&mut h);
            check_header(&h).unwrap_err().to_string()
        };
        assert!(with(&|h| h["typ"] = json!("JWT")).contains("typ"));
        assert!(with(&|h| h["alg"] = json!("HS256")).contains("alg"));
        assert!(with(&|h| h["alg"] = json!("none")).contains("alg"));
        assert!(with(&|h| h["alg"] = json!("RS256")).contains("not a key for RS256"));
        assert!(with(&|h| h["jwk"]["crv"] = json!("P-384")).contains("not a key for ES256"));
        assert!(with(&|h| h["jwk"]["d"] = json!("secret")).contains("private"));
        assert!(with(&|h| h["jwk"] = json!({"kty": "oct", "k": "c2VjcmV0"})).contains("private"));
        assert!(with(&|h| {
            h.as_object_mut().unwrap().remove("jwk");
        })
        .contains("jwk"));
    }

    fn claims() -> ProofClaims {
        ProofClaims {
            jti: "e1j3V_bKic8-LAEB".into(),
            htm: "POST".into(),
            htu: "https://id.example/default/as/token".into(),
            iat: 1000,
            ath: None,
            nonce: None,
        }
    }

    const EXPECTED: Expected<'static> = Expected {
        htm: "POST",
        htu: "https://id.example/default/as/token",
        now: 1000,
        access_token: None,
    };

    #[test]
    fn the_claims_match_the_request() {
        assert!(check_claims(&claims(), EXPECTED).is_ok());
        for (c, why) in [
            (
                ProofClaims {
                    htm: "GET".into(),
                    ..claims()
                },
                "htm",
            ),
            (
                ProofClaims {
                    htu: "https://id.example/default/as/userinfo".into(),
                    ..claims()
                },
                "htu",
            ),
            (
                ProofClaims {
                    htu: "https://evil.example/default/as/token".into(),
                    ..claims()
                },
                "htu",
            ),
            (ProofClaims { iat: 1061, ..claims() }, "iat"),
            (ProofClaims { iat: 939, ..claims() }, "iat"),
            (
                ProofClaims {
                    jti: String::new(),
                    ..claims()
                },
                "jti",
            ),
            (
                ProofClaims {
                    jti: "x".repeat(257),
                    ..claims()
                },
                "jti",
            ),
        ] {
            assert!(
                check_claims(&c, EXPECTED).unwrap_err().to_string().contains(why),
                "{why}"
            );
        }
        assert!(check_claims(&ProofClaims { iat: 1060, ..claims() }, EXPECTED).is_ok());
        for htu in [
            "https://id.example/default/as/token?x=1",
            "HTTPS://ID.EXAMPLE/default/as/token",
            "https://id.example:443/default/as/token#f",
        ] {
            assert!(
                check_claims(
                    &ProofClaims {
                        htu: htu.into(),
                        ..claims()
                    },
                    EXPECTED
                )
                .is_ok(),
                "{htu}"
            );
        }
        assert!(
            !same_htu("https://id.example/default/AS/token", EXPECTED.htu),
            "paths keep their case"
        );
    }

    #[test]
    fn thumbprints_look_like_one() {
        assert!(is_thumbprint("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"));
        assert!(!is_thumbprint("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X"));
        assert!(!is_thumbprint("NzbLsXh8uDCcd+6MNwXF4W/7noWXFZAfHkxZsRGC9Xs"));
    }

    #[test]
    fn ath_binds_the_proof_to_the_token() {
        let with_token = Expected {
            access_token: Some("the-token"),
            ..EXPECTED
        };
        assert!(check_claims(&claims(), with_token)
            .unwrap_err()
            .to_string()
            .contains("ath"));
        let bound = ProofClaims {
            ath: Some(access_token_hash("the-token")),
            ..claims()
        };
        assert!(check_claims(&bound, with_token).is_ok());
        let other = ProofClaims {
            ath: Some(access_token_hash("another")),
            ..claims()
        };
        assert!(check_claims(&other, with_token).is_err());
        // RFC 9449 §7.1's example: ath of "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU".
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
