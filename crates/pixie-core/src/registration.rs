//! Clients that register themselves (RFC 7591 dynamic registration, CONTRACT §7): the
//! environment's settings, and the checks that turn a registration request into a
//! client's metadata. Unknown metadata is ignored (RFC 7591 §2), never an error.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{validate_redirect_uri, AuthMethod, ClientMetadata, GrantType, SigningAlg};
use crate::error::{ErrorCode, OAuthError};
use crate::pkce::ChallengeMethod;

/// How clients may register themselves in an environment (each off by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSettings {
    /// RFC 7591 dynamic registration at the registration endpoint.
    #[serde(default)]
    pub dynamic: bool,
    /// Client ID Metadata Documents.
    #[serde(default)]
    pub client_id_metadata_documents: bool,
}

/// The most redirect URIs a client registering itself may give.
pub const MAX_REDIRECT_URIS: usize = 10;

fn invalid_metadata(description: String) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

fn invalid_redirect(description: String) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRedirectUri, description)
}

/// Checks a redirect URI of a client registering itself: `https://` with a host,
/// `http://` on a loopback host (`127.0.0.1`, `[::1]`, `localhost`, with a port or
/// none), or a private-use scheme of the reverse-domain form with no authority
/// (`com.example.app:/cb`, RFC 8252 §7.1); no fragment, no wildcard. Printable ASCII
/// only, no backslash and no user information: the consent page shows the user the
/// host the code goes to, and that must be the host a browser goes to (no look-alike
/// Unicode, no `evil.example\.good.example`).
pub fn validate_dynamic_redirect_uri(uri: &str) -> Result<(), String> {
    validate_redirect_uri(uri)?;
    if uri.contains('*') {
        return Err("must not contain a wildcard".into());
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) || uri.contains('\\') {
        return Err(
            "must be printable ASCII without a backslash (write an international host in its xn-- form)".into(),
        );
    }
    let (scheme, rest) = uri.split_once(':').unwrap_or((uri, ""));
    let scheme = scheme.to_ascii_lowercase();
    let authority = || {
        rest.strip_prefix("//")
            .map(|r| r.split(['/', '?']).next().unwrap_or(""))
    };
    match scheme.as_str() {
        "https" => match authority() {
            Some(a) if !a.is_empty() && !a.contains('@') && !a.starts_with(':') => Ok(()),
            _ => Err("must name a host, without user information".into()),
        },
        "http" => match authority() {
            Some(a) if is_loopback_authority(a) => Ok(()),
            _ => Err("http is allowed on a loopback host only (127.0.0.1, [::1], localhost); use https".into()),
        },
        s if s.contains('.') && rest.starts_with('/') && !rest.starts_with("//") => Ok(()),
        _ => Err("must be https, http on a loopback host, or a private-use scheme in reverse-domain form with no authority (com.example.app:/cb)".into()),
    }
}

/// `127.0.0.1`, `[::1]` or `localhost`, with an optional numeric port, and nothing else.
fn is_loopback_authority(authority: &str) -> bool {
    let (host, port) = match authority.strip_prefix("[::1]") {
        Some(port) => ("[::1]", port),
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    matches!(host, "127.0.0.1" | "[::1]" | "localhost") && port_ok
}

fn strings(body: &Value, field: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| invalid_metadata(format!("{field}: an array of strings"))),
        Some(_) => Err(invalid_metadata(format!("{field}: an array of strings"))),
    }
}

fn string<'a>(body: &'a Value, field: &str) -> Result<Option<&'a str>, OAuthError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid_metadata(format!("{field}: a string"))),
    }
}

/// The metadata of a client registering itself with this request body, in an
/// environment that offers `env_scopes`. The client is marked self-registered: it is a
/// third party, whose users consent before it gets a code. The environment's PKCE
/// policy is checked by the caller, as for any client.
pub fn metadata_from_registration(body: &Value, env_scopes: &[String]) -> Result<ClientMetadata, OAuthError> {
    if !body.is_object() {
        return Err(invalid_metadata(
            "the body must be a JSON object of client metadata".into(),
        ));
    }
    let redirect_uris = match body.get("redirect_uris") {
        None | Some(Value::Null) => return Err(invalid_redirect("redirect_uris is required".into())),
        Some(_) => strings(body, "redirect_uris")
            .map_err(|_| invalid_redirect("redirect_uris: an array of strings".into()))?
            .unwrap_or_default(),
    };
    if redirect_uris.is_empty() || redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid_redirect(format!(
            "redirect_uris: 1 to {MAX_REDIRECT_URIS} URIs"
        )));
    }
    for (i, uri) in redirect_uris.iter().enumerate() {
        validate_dynamic_redirect_uri(uri).map_err(|e| invalid_redirect(format!("redirect_uris[{i}]: {e}")))?;
    }
    let token_endpoint_auth_method = match string(body, "token_endpoint_auth_method")? {
        None | Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
        Some("none") => AuthMethod::None,
        Some("client_secret_post") => AuthMethod::ClientSecretPost,
        Some(_) => {
            return Err(invalid_metadata(
                "token_endpoint_auth_method: none, client_secret_basic or client_secret_post".into(),
            ))
        }
    };
    let mut grant_types = Vec::new();
    for g in strings(body, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]) {
        let grant = match g.as_str() {
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            _ => {
                return Err(invalid_metadata(
                    "grant_types: authorization_code and refresh_token only".into(),
                ))
            }
        };
        if !grant_types.contains(&grant) {
            grant_types.push(grant);
        }
    }
    if !grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(invalid_metadata("grant_types: authorization_code is required".into()));
    }
    let response_types = strings(body, "response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if response_types != ["code"] {
        return Err(invalid_metadata("response_types: [\"code\"] only".into()));
    }
    let scope = match string(body, "scope")? {
        None => env_scopes.join(" "),
        Some(asked) => {
            let mut kept: Vec<&str> = Vec::new();
            for s in asked.split(' ').filter(|s| !s.is_empty()) {
                if !env_scopes.iter().any(|e| e == s) {
                    return Err(invalid_metadata(format!(
                        "scope: '{}' is not offered here (see scopes_supported)",
                        crate::params::quote(s, 40)
                    )));
                }
                if !kept.contains(&s) {
                    kept.push(s);
                }
            }
            kept.join(" ")
        }
    };
    let client_name = string(body, "client_name")?.unwrap_or("").to_owned();
    if client_name.chars().count() > 128 || !crate::names::shows_as_written(&client_name) {
        return Err(invalid_metadata(
            "client_name: at most 128 characters, no control, invisible or direction-changing characters".into(),
        ));
    }
    let code_challenge_method = match string(body, "code_challenge_method")? {
        None => None,
        Some(m) => Some(
            ChallengeMethod::parse(m).ok_or_else(|| invalid_metadata("code_challenge_method: S256 or plain".into()))?,
        ),
    };
    let id_token_signed_response_alg = match string(body, "id_token_signed_response_alg")? {
        None | Some("RS256") => SigningAlg::RS256,
        Some("ES256") => SigningAlg::ES256,
        Some(_) => return Err(invalid_metadata("id_token_signed_response_alg: RS256 or ES256".into())),
    };
    Ok(ClientMetadata {
        client_name,
        redirect_uris,
        grant_types,
        response_types,
        token_endpoint_auth_method,
        scope,
        code_challenge_method,
        // A client cannot opt out of PKCE: the environment's policy applies to it as to
        // every client, and it is public or confidential as it registered.
        require_pkce: body.get("require_pkce") == Some(&Value::Bool(true)),
        id_token_signed_response_alg,
        lifetimes: Default::default(),
        require_consent: true,
        self_registered: true,
        // A client may ask for more care, never for less.
        require_pushed_authorization_requests: body.get("require_pushed_authorization_requests")
            == Some(&Value::Bool(true)),
        dpop_bound_access_tokens: body.get("dpop_bound_access_tokens") == Some(&Value::Bool(true)),
        jwks: None,
        jwks_uri: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scopes() -> Vec<String> {
        ["openid", "profile", "files:read"].map(String::from).to_vec()
    }

    #[test]
    fn a_minimal_public_client() {
        let m = metadata_from_registration(
            &json!({"redirect_uris": ["http://127.0.0.1:33418/cb"], "token_endpoint_auth_method": "none",
                    "client_name": "MCP Inspector", "software_id": "ignored", "logo_uri": "https://x/logo.png"}),
            &scopes(),
        )
        .unwrap();
        assert!(m.is_public() && m.self_registered && m.require_consent);
        assert_eq!(
            m.scope, "openid profile files:read",
            "no scope: all the environment offers"
        );
        assert_eq!(m.grant_types, [GrantType::AuthorizationCode]);
    }

    #[test]
    fn redirect_uris_follow_the_rules() {
        for ok in [
            "https://app.example/cb",
            "http://localhost:8080/cb",
            "http://[::1]/cb",
            "http://[::1]:8080/cb",
            "http://127.0.0.1:53682/callback",
            "http://localhost",
            "https://xn--ggle-55da.com/cb",
            "com.example.app:/cb",
        ] {
            assert!(validate_dynamic_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#x",
            "https://*.example/cb",
            "myapp:/cb",
            "javascript:alert(1)",
            "http://127.0.0.1.evil.example/cb",
            "http://[::1].evil.example/cb",
            "http://localhost:80@evil.example/cb",
            "http://127.0.0.1:8080x/cb",
            "https://g\u{43e}\u{43e}gle.com/cb",
            "https://evil.example\\.good.example/cb",
            "https://user@app.example/cb",
            "https:///cb",
            "com.example://accounts.google.com/cb",
            "https://app.example/c b",
        ] {
            assert!(validate_dynamic_redirect_uri(bad).is_err(), "{bad}");
        }
        let e =
            metadata_from_registration(&json!({"redirect_uris": ["http://app.example/cb"]}), &scopes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRedirectUri);
        assert!(e.description.contains("redirect_uris[0]"));
        let e = metadata_from_registration(&json!({}), &scopes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRedirectUri);
    }

    #[test]
    fn bad_metadata_names_the_field() {
        let base = |extra: Value| {
            let mut b = json!({"redirect_uris": ["https://app.example/cb"]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            metadata_from_registration(&b, &scopes())
        };
        for (extra, field) in [
            (
                json!({"token_endpoint_auth_method": "private_key_jwt"}),
                "token_endpoint_auth_method",
            ),
            (json!({"grant_types": ["client_credentials"]}), "grant_types"),
            (json!({"grant_types": ["refresh_token"]}), "grant_types"),
            (json!({"response_types": ["token"]}), "response_types"),
            (json!({"scope": "openid admin"}), "scope"),
            (json!({"client_name": 7}), "client_name"),
            (json!({"redirect_uris": "https://app.example/cb"}), "redirect_uris"),
        ] {
            let e = base(extra.clone()).unwrap_err();
            assert!(e.description.starts_with(field), "{extra}: {}", e.description);
        }
        let m = base(json!({"token_endpoint_auth_method": "client_secret_post", "grant_types": ["authorization_code", "refresh_token"], "scope": "openid"})).unwrap();
        assert_eq!(m.token_endpoint_auth_method, AuthMethod::ClientSecretPost);
        assert_eq!(m.scope, "openid");
        assert!(metadata_from_registration(&json!([1]), &scopes()).is_err());
    }
}
