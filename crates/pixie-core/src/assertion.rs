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
/// public asymmetric keys (EC P-256, RSA, OKP Ed25519), no private member.
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

    #[test]
    fn registered_keys_are_public() {
        let ec = json!({"kty": "EC", "crv": "P-256", "x": "a", "y": "b"});
        assert!(check_jwks(&json!({"keys": [ec]})).is_ok());
        let mut private = ec.clone();
        private["d"] = json!("secret");
        for bad in [
            json!({"keys": []}),
            json!([ec]),
            json!({"keys": [private]}),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
            json!({"keys": [{"kty": "EC", "crv": "P-384", "x": "a", "y": "b"}]}),
        ] {
            assert!(check_jwks(&bad).is_err(), "{bad}");
        }
    }
}
