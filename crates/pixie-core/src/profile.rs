//! Environment profiles (CONTRACT §8 "One switch"): `fapi2` makes an issuer meet the
//! FAPI 2.0 Security Profile's rules for an authorization server at once. Each rule is
//! checked where it applies (the environment's settings, a client's registration, an
//! authorization or token request), and a refusal names it.

use serde::{Deserialize, Serialize};

use crate::client::{AuthMethod, ClientMetadata};
use crate::lifetimes::Lifetimes;
use crate::pkce::ChallengeMethod;
use crate::policy::{EnvPkcePolicy, MethodSet, PolicyMode};

/// An environment's profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// No profile: each setting as configured.
    #[default]
    None,
    /// The FAPI 2.0 Security Profile: PAR, S256 PKCE, DPoP, `private_key_jwt`, codes of
    /// at most 60 seconds.
    Fapi2,
}

impl Profile {
    /// Whether this is no profile (the default, left out of JSON).
    pub fn is_none(&self) -> bool {
        *self == Profile::None
    }

    /// Whether authorization requests must be pushed.
    pub fn requires_par(self) -> bool {
        self == Profile::Fapi2
    }

    /// Whether tokens must be DPoP-bound.
    pub fn requires_dpop(self) -> bool {
        self == Profile::Fapi2
    }

    /// Whether only the FAPI 2.0 signing algorithms (PS256, ES256, EdDSA) are used and
    /// accepted: no RS256 for ID tokens or DPoP proofs.
    pub fn forbids_rs256(self) -> bool {
        self == Profile::Fapi2
    }

    /// Whether a client assertion's `aud` must be the issuer, as a single string
    /// (draft-ietf-oauth-rfc7523bis: no endpoint URL, no array to inject into).
    pub fn strict_assertion_audience(self) -> bool {
        self == Profile::Fapi2
    }

    /// Whether an authorization request must name its `redirect_uri` (FAPI 2.0
    /// §5.3.2.2: even when the client registered only one).
    pub fn requires_redirect_uri(self) -> bool {
        self == Profile::Fapi2
    }

    /// The client authentication methods it allows (all, without a profile).
    pub fn auth_methods(self) -> &'static [&'static str] {
        match self {
            Profile::None => &["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
            Profile::Fapi2 => &["private_key_jwt"],
        }
    }
}

/// The longest code lifetime FAPI 2.0 allows, in seconds.
pub const FAPI2_MAX_CODE_LIFETIME: i64 = 60;

/// Checks an environment's settings against its profile; the error names the rule.
pub fn check_environment(profile: Profile, pkce: &EnvPkcePolicy, lifetimes: &Lifetimes) -> Result<(), String> {
    if profile != Profile::Fapi2 {
        return Ok(());
    }
    if pkce.allowed != MethodSet::S256 || !pkce.required.contains(ChallengeMethod::S256) {
        return Err("profile fapi2: pkce must allow and require S256 only (FAPI 2.0 §5.3.2.2)".into());
    }
    if pkce.mode != PolicyMode::Enforce {
        return Err("profile fapi2: pkce.mode must be enforce (report mode lets requests without PKCE through)".into());
    }
    if lifetimes.code > FAPI2_MAX_CODE_LIFETIME {
        return Err("profile fapi2: lifetimes.code must be at most 60 seconds (FAPI 2.0 §5.3.2.1)".into());
    }
    Ok(())
}

/// Checks a client against its environment's profile; the error names the rule.
pub fn check_client(profile: Profile, client: &ClientMetadata) -> Result<(), String> {
    if profile != Profile::Fapi2 {
        return Ok(());
    }
    match client.token_endpoint_auth_method {
        AuthMethod::PrivateKeyJwt => {}
        AuthMethod::None => {
            return Err(
                "profile fapi2: token_endpoint_auth_method none is not allowed: clients are confidential, with private_key_jwt (FAPI 2.0 §5.3.2.1)"
                    .into(),
            )
        }
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            return Err(
                "profile fapi2: token_endpoint_auth_method client_secret_* is not allowed: use private_key_jwt (FAPI 2.0 §5.3.2.1)"
                    .into(),
            )
        }
    }
    // FAPI 2.0 §5.3.2.2: no cleartext redirect URIs, but a native app's loopback.
    for uri in &client.redirect_uris {
        let lower = uri.to_ascii_lowercase();
        let loopback = ["http://127.0.0.1", "http://[::1]", "http://localhost"]
            .iter()
            .any(|l| {
                lower
                    .strip_prefix(l)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            });
        if lower.starts_with("http:") && !loopback {
            return Err(format!(
                "profile fapi2: redirect_uris: {uri} is http: use https (http only on a loopback host, FAPI 2.0 §5.3.2.2)"
            ));
        }
    }
    if client.code_challenge_method == Some(ChallengeMethod::Plain) {
        return Err("profile fapi2: code_challenge_method plain is not allowed (S256 only)".into());
    }
    if client.lifetimes.code.is_some_and(|c| c > FAPI2_MAX_CODE_LIFETIME) {
        return Err("profile fapi2: lifetimes.code must be at most 60 seconds".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(json: &str) -> ClientMetadata {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn fapi2_environments_are_strict() {
        let strict = EnvPkcePolicy::strict();
        let lt = Lifetimes::default();
        assert!(check_environment(Profile::Fapi2, &strict, &lt).is_ok());
        let plain = EnvPkcePolicy {
            allowed: MethodSet::ALL,
            ..strict
        };
        assert!(check_environment(Profile::Fapi2, &plain, &lt)
            .unwrap_err()
            .contains("S256"));
        assert!(check_environment(Profile::None, &plain, &lt).is_ok());
        let report = EnvPkcePolicy {
            mode: PolicyMode::Report,
            ..strict
        };
        assert!(check_environment(Profile::Fapi2, &report, &lt)
            .unwrap_err()
            .contains("enforce"));
        let long = Lifetimes { code: 120, ..lt };
        assert!(check_environment(Profile::Fapi2, &strict, &long)
            .unwrap_err()
            .contains("lifetimes.code"));
    }

    #[test]
    fn fapi2_clients_authenticate_with_keys() {
        let ok = client(r#"{"token_endpoint_auth_method": "private_key_jwt"}"#);
        assert!(check_client(Profile::Fapi2, &ok).is_ok());
        let native = client(
            r#"{"token_endpoint_auth_method": "private_key_jwt", "redirect_uris": ["https://a.example/cb", "http://127.0.0.1:8080/cb", "http://[::1]/cb"]}"#,
        );
        assert!(check_client(Profile::Fapi2, &native).is_ok());
        for (json, rule) in [
            (r#"{"token_endpoint_auth_method": "none"}"#, "none"),
            (
                r#"{"token_endpoint_auth_method": "client_secret_basic"}"#,
                "client_secret_",
            ),
            (
                r#"{"token_endpoint_auth_method": "client_secret_post"}"#,
                "client_secret_",
            ),
            (
                r#"{"token_endpoint_auth_method": "private_key_jwt", "code_challenge_method": "plain"}"#,
                "plain",
            ),
            (
                r#"{"token_endpoint_auth_method": "private_key_jwt", "redirect_uris": ["http://app.example/cb"]}"#,
                "https",
            ),
            (
                r#"{"token_endpoint_auth_method": "private_key_jwt", "redirect_uris": ["http://127.0.0.1.evil.example/cb"]}"#,
                "https",
            ),
        ] {
            assert!(
                check_client(Profile::Fapi2, &client(json)).unwrap_err().contains(rule),
                "{json}"
            );
            assert!(check_client(Profile::None, &client(json)).is_ok());
        }
    }
}
