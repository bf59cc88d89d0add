//! `private_key_jwt` client authentication (RFC 7523 §3, OpenID Connect Core §9,
//! CONTRACT §8): the rules a client assertion's header and claims must meet, as plain
//! functions. Its signature is verified by the server with a JOSE crate, against the
//! client's registered keys.

use serde::Deserialize;
use serde_json::Value;

/// The `client_assertion_type` of a JWT assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The algorithms an assertion may be signed with.
pub const ALGORITHMS: [&str; 3] = ["ES256", "PS256", "EdDSA"];
/// The furthest ahead an assertion's `exp` may be, in seconds.
pub const MAX_LIFETIME: i64 = 300;
/// Leeway for clocks, in seconds (`iat`, `nbf` in the future).
pub const LEEWAY: i64 = 30;
/// The longest assertion read, in bytes.
pub const MAX_ASSERTION_LEN: usize = 8 * 1024;
/// The most keys a client may register inline.
pub const MAX_KEYS: usize = 10;

/// The claims of a client assertion.
#[derive(Debug, Clone, Deserialize)]
pub struct AssertionClaims {
    /// The client.
    pub iss: String,
    /// The client, again.
    pub sub: String,
    /// The authorization server: its issuer or the endpoint's URL (or an array holding one).
    pub aud: Value,
    /// Expiry.
    pub exp: i64,
    /// Unique per assertion.
    pub jti: String,
    /// Issue time.
    #[serde(default)]
    pub iat: Option<i64>,
    /// Not before.
    #[serde(default)]
    pub nbf: Option<i64>,
}

/// What an assertion must match.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedAssertion<'a> {
    /// The client it authenticates.
    pub client_id: &'a str,
    /// The audiences accepted: the issuer, and the endpoint's URL.
    pub audiences: &'a [&'a str],
    /// Now.
    pub now: i64,
    /// Only the first audience (the issuer), as a single string (the `fapi2` profile).
    pub strict_audience: bool,
}

/// Checks an assertion's header: an `alg` of [`ALGORITHMS`] (never `none`, never a
/// symmetric one). Returns the algorithm and the `kid`, if any.
pub fn check_header(header: &Value) -> Result<(&str, Option<&str>), &'static str> {
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .filter(|a| ALGORITHMS.contains(a))
        .ok_or("alg must be ES256, PS256 or EdDSA")?;
    if header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err("a DPoP proof is not a client assertion");
    }
    Ok((alg, header.get("kid").and_then(Value::as_str)))
}

/// Checks an assertion's claims (RFC 7523 §3): `iss` = `sub` = the client, `aud` the
/// issuer or the endpoint, `exp` in the future and at most [`MAX_LIFETIME`] ahead, not
/// before its `nbf` or `iat`, and a `jti`.
pub fn check_claims(c: &AssertionClaims, expected: ExpectedAssertion<'_>) -> Result<(), &'static str> {
    if c.iss != expected.client_id || c.sub != expected.client_id {
        return Err("iss and sub must both be the client_id");
    }
    let audience_ok = match &c.aud {
        _ if expected.strict_audience => c.aud.as_str().is_some_and(|a| Some(&a) == expected.audiences.first()),
        Value::String(a) => expected.audiences.contains(&a.as_str()),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .any(|a| expected.audiences.contains(&a)),
        _ => false,
    };
    if !audience_ok {
        return Err("aud must be the issuer or the endpoint's URL");
    }
    if c.exp <= expected.now {
        return Err("exp has passed");
    }
    if c.exp > expected.now + MAX_LIFETIME {
        return Err("exp is more than 5 minutes ahead");
    }
    if c.nbf.is_some_and(|t| t > expected.now + LEEWAY) || c.iat.is_some_and(|t| t > expected.now + LEEWAY) {
        return Err("it is not valid yet (nbf or iat in the future)");
    }
    if c.jti.is_empty() || c.jti.len() > 256 {
        return Err("jti must be 1-256 characters");
    }
    Ok(())
}

/// Checks a client's inline `jwks` at registration: a JWK Set of 1 to [`MAX_KEYS`]
/// public asymmetric keys (EC P-256, RSA, OKP Ed25519), no private member, and key
/// material of the right shape (see [`check_key_material`]): a key that no assertion
/// could ever verify against is refused when it is registered, not at every use.
pub fn check_jwks(jwks: &Value) -> Result<(), String> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("jwks must be a JWK Set: {\"keys\": [...]}")?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("jwks must hold 1 to {MAX_KEYS} keys"));
    }
    for (i, k) in keys.iter().enumerate() {
        let Some(k) = k.as_object() else {
            return Err(format!("jwks.keys[{i}] must be an object"));
        };
        if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
            .iter()
            .any(|m| k.contains_key(*m))
        {
            return Err(format!("jwks.keys[{i}] must be a public key (it has a private member)"));
        }
        let kty = k.get("kty").and_then(Value::as_str);
        let crv = k.get("crv").and_then(Value::as_str);
        let ok = matches!(
            (kty, crv),
            (Some("EC"), Some("P-256")) | (Some("OKP"), Some("Ed25519")) | (Some("RSA"), _)
        );
        if !ok {
            return Err(format!("jwks.keys[{i}] must be an EC P-256, RSA or Ed25519 public key"));
        }
        check_key_material(k).map_err(|why| format!("jwks.keys[{i}]: {why}"))?;
    }
    Ok(())
}

/// The smallest RSA modulus accepted, in bits (NIST SP 800-57's floor, and FAPI 2.0's).
pub const MIN_RSA_BITS: usize = 2048;

/// The largest RSA modulus accepted, in bits (a bigger one only costs the verifier).
pub const MAX_RSA_BITS: usize = 16384;

/// A member of a JWK as base64url bytes (no padding, RFC 7518 §6).
fn member(k: &serde_json::Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let v = k
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{name} is missing"))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v)
        .map_err(|_| format!("{name} is not base64url without padding"))
}

/// The shape of a public key's members: P-256 `x` and `y` of 32 bytes each, Ed25519 `x`
/// of 32 bytes, RSA `n` of [`MIN_RSA_BITS`] to [`MAX_RSA_BITS`] bits and `e` an odd
/// number from 3, of at most 8 bytes. (Whether a P-256 point is on the curve is for the
/// verifier's crypto library; this catches what a typo or a test key gets wrong.)
pub fn check_key_material(k: &serde_json::Map<String, Value>) -> Result<(), String> {
    match k.get("kty").and_then(Value::as_str) {
        Some("EC") => {
            for name in ["x", "y"] {
                if member(k, name)?.len() != 32 {
                    return Err(format!("a P-256 key's {name} must be 32 bytes"));
                }
            }
        }
        Some("OKP") => {
            if member(k, "x")?.len() != 32 {
                return Err("an Ed25519 key's x must be 32 bytes".into());
            }
        }
        Some("RSA") => {
            let n = member(k, "n")?;
            let n = &n[n.iter().take_while(|b| **b == 0).count()..];
            let bits = n
                .first()
                .map_or(0, |top| (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize));
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(format!(
                    "an RSA key's n is {bits} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted"
                ));
            }
            let e = member(k, "e")?;
            let e = &e[e.iter().take_while(|b| **b == 0).count()..];
            let value = e.iter().fold(0u128, |v, b| (v << 8) | u128::from(*b));
            if e.len() > 8 || value < 3 || value % 2 == 0 {
                return Err("an RSA key's e must be an odd number from 3, of at most 8 bytes".into());
            }
        }
        _ => return Err("unsupported key type".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> AssertionClaims {
        AssertionClaims {
            iss: "app".into(),
            sub: "app".into(),
            aud: json!("https://id.example/default"),
            exp: 1100,
            jti: "a-1".into(),
            iat: Some(1000),
            nbf: None,
        }
    }

    const AUDS: [&str; 2] = ["https://id.example/default", "https://id.example/default/as/token"];

    fn expected() -> ExpectedAssertion<'static> {
        ExpectedAssertion {
            client_id: "app",
            audiences: &AUDS,
            now: 1000,
            strict_audience: false,
        }
    }

    #[test]
    fn an_assertion_names_the_client_and_this_server() {
        assert!(check_claims(&claims(), expected()).is_ok());
        let with_aud = |aud: Value| AssertionClaims { aud, ..claims() };
        assert!(check_claims(&with_aud(json!("https://id.example/default/as/token")), expected()).is_ok());
        assert!(check_claims(&with_aud(json!(["x", "https://id.example/default"])), expected()).is_ok());
        for (c, why) in [
            (
                AssertionClaims {
                    iss: "other".into(),
                    ..claims()
                },
                "iss",
            ),
            (
                AssertionClaims {
                    sub: "other".into(),
                    ..claims()
                },
                "sub",
            ),
            (with_aud(json!("https://evil.example/default")), "aud"),
            (with_aud(json!(["https://evil.example"])), "aud"),
            (with_aud(json!(7)), "aud"),
            (AssertionClaims { exp: 1000, ..claims() }, "passed"),
            (AssertionClaims { exp: 1301, ..claims() }, "5 minutes"),
            (
                AssertionClaims {
                    nbf: Some(1100),
                    ..claims()
                },
                "not valid yet",
            ),
            (
                AssertionClaims {
                    iat: Some(1100),
                    ..claims()
                },
                "not valid yet",
            ),
            (
                AssertionClaims {
                    jti: String::new(),
                    ..claims()
                },
                "jti",
            ),
        ] {
            assert!(check_claims(&c, expected()).unwrap_err().contains(why), "{why}");
        }
    }

    #[test]
    fn a_strict_audience_is_the_issuer_alone() {
        let strict = ExpectedAssertion {
            strict_audience: true,
            ..expected()
        };
        assert!(check_claims(&claims(), strict).is_ok());
        for aud in [
            json!("https://id.example/default/as/token"),
            json!(["https://id.example/default"]),
            json!(["https://evil.example", "https://id.example/default"]),
        ] {
            let c = AssertionClaims { aud, ..claims() };
            assert!(check_claims(&c, strict).is_err(), "{}", c.aud);
        }
    }

    #[test]
    fn only_asymmetric_algorithms() {
        assert_eq!(
            check_header(&json!({"alg": "ES256", "kid": "k1"})),
            Ok(("ES256", Some("k1")))
        );
        for bad in ["HS256", "none", "RS256", "ES384"] {
            assert!(check_header(&json!({"alg": bad})).is_err(), "{bad}");
        }
        assert!(check_header(&json!({"alg": "ES256", "typ": "dpop+jwt"})).is_err());
    }

    /// base64url of `bytes`.
    fn bytes(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// base64url of `n` bytes of `b`.
    fn b64(n: usize, b: u8) -> String {
        bytes(&vec![b; n])
    }

    #[test]
    fn registered_keys_have_material_of_the_right_shape() {
        let rsa = |n: String, e: &str| json!({"keys": [{"kty": "RSA", "n": n, "e": e}]});
        assert!(check_jwks(&rsa(b64(256, 0xc5), "AQAB")).is_ok(), "2048 bits, e 65537");
        assert!(check_jwks(&rsa(b64(512, 0xc5), "Aw")).is_ok(), "4096 bits, e 3");
        let ok_ec = json!({"kty": "EC", "crv": "P-256", "x": b64(32, 1), "y": b64(32, 2)});
        assert!(check_jwks(&json!({"keys": [ok_ec]})).is_ok());
        let ok_ed = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(32, 3)});
        assert!(check_jwks(&json!({"keys": [ok_ed]})).is_ok());
        for (bad, why) in [
            (rsa(String::new(), "AQAB"), "0 bits"),
            (rsa(b64(256, 0), "AQAB"), "0 bits"),
            (rsa(b64(128, 0xc5), "AQAB"), "1024 bits"),
            (
                rsa(bytes(&[&[0][..], &[0xc5; 255]].concat()), "AQAB"),
                "2040 bits after a zero byte",
            ),
            (rsa(b64(2049, 0xc5), "AQAB"), "16392 bits"),
            (rsa(b64(256, 0xc5), "AQ"), "e 1"),
            (rsa(b64(256, 0xc5), "AAQ"), "e 4"),
            (rsa(b64(256, 0xc5), "AQAB="), "padded"),
            (rsa(b64(256, 0xc5), "BA"), "e even"),
            (rsa(b64(256, 0xc5), &b64(9, 1)), "e of 9 bytes"),
            (json!({"keys": [{"kty": "RSA", "n": b64(256, 0xc5)}]}), "no e"),
            (
                json!({"keys": [{"kty": "EC", "crv": "P-256", "x": b64(31, 1), "y": b64(32, 2)}]}),
                "x short",
            ),
            (
                json!({"keys": [{"kty": "EC", "crv": "P-256", "x": b64(32, 1), "y": "a+b/"}]}),
                "not base64url",
            ),
            (
                json!({"keys": [{"kty": "EC", "crv": "P-256", "x": b64(32, 1)}]}),
                "no y",
            ),
            (
                json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64(33, 3)}]}),
                "x long",
            ),
        ] {
            assert!(check_jwks(&bad).is_err(), "{why}: {bad}");
        }
    }

    #[test]
    fn registered_keys_are_public() {
        let ec = json!({"kty": "EC", "crv": "P-256", "x": b64(32, 1), "y": b64(32, 2)});
        assert!(check_jwks(&json!({"keys": [ec]})).is_ok());
        let mut private = ec.clone();
        private["d"] = json!("secret");
        for bad in [
            json!({"keys": []}),
            json!([ec]),
            json!({"keys": [private]}),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
            json!({"keys": [{"kty": "EC", "crv": "P-384", "x": b64(48, 1), "y": b64(48, 2)}]}),
        ] {
            assert!(check_jwks(&bad).is_err(), "{bad}");
        }
    }
}
