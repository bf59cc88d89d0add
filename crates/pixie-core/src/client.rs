//! Client metadata (RFC 7591) as pixie stores it: validation and redirect URI matching.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::lifetimes::LifetimeOverrides;
use crate::pkce::ChallengeMethod;
use crate::policy::{ClientPkcePolicy, EnvPkcePolicy};

/// An OAuth grant type a client may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// `authorization_code`.
    AuthorizationCode,
    /// `refresh_token`.
    RefreshToken,
    /// `client_credentials`.
    ClientCredentials,
}

impl GrantType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// `none`: a public client, identified by `client_id` only.
    None,
    /// `client_secret_basic`: HTTP Basic (RFC 7591's default).
    #[default]
    ClientSecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// `private_key_jwt`: a JWT signed with the client's key (RFC 7523).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// A JWS algorithm pixie signs with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, the OpenID Connect default for ID tokens.
    #[default]
    RS256,
    /// ECDSA with P-256 and SHA-256.
    ES256,
}

impl SigningAlg {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }
}

fn default_grant_types() -> Vec<GrantType> {
    vec![GrantType::AuthorizationCode]
}

fn default_response_types() -> Vec<String> {
    vec!["code".into()]
}

/// The scopes a client gets when its registration names none.
pub const DEFAULT_CLIENT_SCOPE: &str = "openid profile email";

fn default_scope() -> String {
    DEFAULT_CLIENT_SCOPE.into()
}

/// A client's registered metadata (RFC 7591 §2, plus pixie's PKCE fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMetadata {
    /// A name to show people.
    #[serde(default)]
    pub client_name: String,
    /// Redirect URIs, matched exactly (loopback: any port).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Grants the client may use.
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<GrantType>,
    /// Response types; only `code`.
    #[serde(default = "default_response_types")]
    pub response_types: Vec<String>,
    /// Token endpoint authentication.
    #[serde(default)]
    pub token_endpoint_auth_method: AuthMethod,
    /// The scopes the client may ask for, space-separated.
    #[serde(default = "default_scope")]
    pub scope: String,
    /// When set, the client must send exactly this PKCE method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<ChallengeMethod>,
    /// The client must send PKCE.
    #[serde(default)]
    pub require_pkce: bool,
    /// The algorithm of the client's ID tokens.
    #[serde(default)]
    pub id_token_signed_response_alg: SigningAlg,
    /// The client's own lifetimes, over its environment's.
    #[serde(default, skip_serializing_if = "LifetimeOverrides::is_empty")]
    pub lifetimes: LifetimeOverrides,
    /// Users consent before the client gets a code (CONTRACT §7; clients that
    /// registered themselves always need consent).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_consent: bool,
    /// The client registered itself (RFC 7591): a third party, never verified by the
    /// operator.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_registered: bool,
    /// The client's authorization requests must be pushed (RFC 9126 §6).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// The client's access tokens must be DPoP-bound (RFC 9449 §5.2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
    /// Its public keys, inline (a JWK Set), for `private_key_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Where its public keys are published, for `private_key_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
}

/// A metadata field that is invalid: RFC 7591 §3.2.2 error code, field and reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct MetadataError {
    /// `invalid_redirect_uri` or `invalid_client_metadata`.
    pub code: ErrorCode,
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl MetadataError {
    fn metadata(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidClientMetadata,
            field,
            message: message.into(),
        }
    }
}

/// Whether `s` is a valid RFC 6749 §3.3 scope token.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl ClientMetadata {
    /// Whether the client is public (authenticates with `none`).
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == AuthMethod::None
    }

    /// Whether it authenticates with a client secret (so pixie issues it one).
    pub fn has_secret(&self) -> bool {
        matches!(
            self.token_endpoint_auth_method,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        )
    }

    /// The client's PKCE policy.
    pub fn pkce_policy(&self) -> ClientPkcePolicy {
        ClientPkcePolicy {
            code_challenge_method: self.code_challenge_method,
            require_pkce: self.require_pkce,
        }
    }

    /// Whether the client registered `grant`.
    pub fn has_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether the client may ask for `scope`.
    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }

    /// Checks the metadata on its own and against its environment's PKCE policy.
    pub fn validate(&self, env: &EnvPkcePolicy) -> Result<(), MetadataError> {
        if self.client_name.chars().count() > 200 || !crate::names::shows_as_written(&self.client_name) {
            return Err(MetadataError::metadata(
                "client_name",
                "must be at most 200 characters, without control, invisible or direction-changing characters",
            ));
        }
        if self.grant_types.is_empty() {
            return Err(MetadataError::metadata(
                "grant_types",
                "must list at least one grant type",
            ));
        }
        for (i, g) in self.grant_types.iter().enumerate() {
            if self.grant_types[..i].contains(g) {
                return Err(MetadataError::metadata(
                    "grant_types",
                    format!("{} is listed twice", g.as_str()),
                ));
            }
        }
        if self.has_grant(GrantType::RefreshToken) && !self.has_grant(GrantType::AuthorizationCode) {
            return Err(MetadataError::metadata(
                "grant_types",
                "refresh_token needs authorization_code: refresh tokens are only issued with codes",
            ));
        }
        if self.is_public() && self.has_grant(GrantType::ClientCredentials) {
            return Err(MetadataError::metadata(
                "grant_types",
                "client_credentials needs a confidential client (token_endpoint_auth_method other than none)",
            ));
        }
        self.validate_keys()?;
        if self.response_types.iter().any(|r| r != "code") {
            return Err(MetadataError::metadata("response_types", "only \"code\" is supported"));
        }
        if self.has_grant(GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(MetadataError {
                code: ErrorCode::InvalidRedirectUri,
                field: "redirect_uris",
                message: "at least one redirect URI is required for authorization_code".into(),
            });
        }
        if self.redirect_uris.len() > 50 {
            return Err(MetadataError {
                code: ErrorCode::InvalidRedirectUri,
                field: "redirect_uris",
                message: "at most 50 redirect URIs".into(),
            });
        }
        for uri in &self.redirect_uris {
            validate_redirect_uri(uri).map_err(|message| MetadataError {
                code: ErrorCode::InvalidRedirectUri,
                field: "redirect_uris",
                message,
            })?;
        }
        let scopes: Vec<&str> = self.scope.split(' ').collect();
        if scopes.len() > 50 || !scopes.iter().all(|s| is_scope_token(s)) {
            // Said as it is: an empty scope, or two spaces in a row, is not "too many".
            let why = if self.scope.trim().is_empty() {
                "must name at least one scope"
            } else if scopes.iter().any(|s| s.is_empty()) {
                "must be scope tokens separated by single spaces, with none before or after (RFC 6749 §3.3)"
            } else if scopes.len() > 50 {
                "must be at most 50 scope tokens"
            } else {
                "holds a character a scope token cannot have (a quote, a backslash, a control character or a non-ASCII one; RFC 6749 §3.3)"
            };
            return Err(MetadataError::metadata("scope", why));
        }
        self.pkce_policy()
            .validate(env)
            .map_err(|e| MetadataError::metadata(e.field(), e.to_string()))
    }
}

impl ClientMetadata {
    /// `private_key_jwt` needs the client's public keys, inline (`jwks`) or by URL
    /// (`jwks_uri`, https), exactly one of them; other methods take neither.
    fn validate_keys(&self) -> Result<(), MetadataError> {
        let field = |m: &str| MetadataError::metadata("jwks", m.to_owned());
        if self.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt {
            if self.jwks.is_some() || self.jwks_uri.is_some() {
                return Err(field(
                    "jwks and jwks_uri are for token_endpoint_auth_method private_key_jwt only",
                ));
            }
            return Ok(());
        }
        match (&self.jwks, &self.jwks_uri) {
            (Some(jwks), None) => crate::assertion::check_jwks(jwks).map_err(|m| field(&m)),
            (None, Some(uri)) => {
                let https = uri.starts_with("https://") && uri.len() > "https://".len();
                // Loopback http is fetched only with --insecure-cimd-loopback.
                let loopback = uri.starts_with("http://127.0.0.1:");
                if (https || loopback) && uri.len() <= 2000 && !uri.contains('#') && !uri.contains(char::is_whitespace)
                {
                    Ok(())
                } else {
                    Err(MetadataError::metadata(
                        "jwks_uri",
                        "must be an https URL without a fragment",
                    ))
                }
            }
            (Some(_), Some(_)) => Err(field("give jwks or jwks_uri, not both")),
            (None, None) => Err(field(
                "private_key_jwt needs the client's public keys: jwks or jwks_uri",
            )),
        }
    }
}

/// Redirect URI schemes that are never a client: a code sent there would be handed to
/// script or content in the browser.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "blob", "about", "filesystem"];

/// Checks a redirect URI: absolute, no fragment, no spaces or control characters, not
/// a scheme that runs in the browser (`javascript:`, `data:`, …), and for http(s) a host.
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.is_empty() || uri.len() > 2000 {
        return Err("a redirect URI must be 1-2000 characters".into());
    }
    if uri.bytes().any(|b| b <= b' ' || b == 0x7F) {
        return Err("a redirect URI must not contain spaces or control characters".into());
    }
    if uri.contains('#') {
        return Err("a redirect URI must not contain a fragment (RFC 6749 §3.1.2)".into());
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("a redirect URI must be absolute (scheme:...)".into());
    };
    let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err("a redirect URI must start with a valid scheme".into());
    }
    // Schemes that run or embed content in the browser instead of reaching a client.
    if FORBIDDEN_SCHEMES.iter().any(|f| scheme.eq_ignore_ascii_case(f)) {
        return Err(format!(
            "a redirect URI must not use the {} scheme: it would run in the browser, not reach the client",
            scheme.to_ascii_lowercase()
        ));
    }
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        let authority = rest
            .strip_prefix("//")
            .map(|r| r.split(['/', '?']).next().unwrap_or(""));
        match authority {
            Some(a) if !a.is_empty() && !a.contains('@') => {}
            _ => return Err("an http(s) redirect URI must have a host and no user information".into()),
        }
    }
    if rest.is_empty() {
        return Err("a redirect URI must have more than a scheme".into());
    }
    Ok(())
}

/// A loopback `http` URI split into host and the part after the authority.
fn split_loopback(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']')?;
        (&authority[..close + 2], &v6[close + 1..])
    } else {
        match authority.rfind(':') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        }
    };
    if !matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
        return None;
    }
    if let Some(digits) = port.strip_prefix(':') {
        // A port a browser can reach: 1-65535, written without leading zeros.
        let valid = digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
            && digits.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return None;
        }
    } else if !port.is_empty() {
        return None;
    }
    // An empty path and "/" are the same resource.
    Some((host, if tail.is_empty() { "/" } else { tail }))
}

/// Whether a requested redirect URI matches a registered one: the exact string, or for
/// a registered loopback `http` URI the same host, path and query on any port (RFC 8252 §7.3).
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (split_loopback(registered), split_loopback(requested)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each way a scope can be wrong is told as it is, not as "too many tokens".
    #[test]
    fn a_bad_scope_says_what_is_wrong() {
        let env = EnvPkcePolicy::strict();
        for (scope, says) in [
            ("", "at least one scope"),
            ("   ", "at least one scope"),
            ("openid  email", "single spaces"),
            (" openid", "single spaces"),
            ("openid \"x\"", "character a scope token cannot have"),
        ] {
            let json = serde_json::json!({"redirect_uris": ["https://a.example/cb"], "scope": scope});
            let m: ClientMetadata = serde_json::from_value(json).unwrap();
            let e = m.validate(&env).unwrap_err();
            assert_eq!(e.field, "scope", "{scope:?}");
            assert!(e.message.contains(says), "{scope:?}: {}", e.message);
        }
        let many = vec!["s"; 51].join(" ");
        let json = serde_json::json!({"redirect_uris": ["https://a.example/cb"], "scope": many});
        let m: ClientMetadata = serde_json::from_value(json).unwrap();
        assert!(m.validate(&env).unwrap_err().message.contains("at most 50"));
    }

    fn meta(json: &str) -> ClientMetadata {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults() {
        let m = meta(r#"{"redirect_uris":["https://app.example/cb"]}"#);
        assert_eq!(m.grant_types, vec![GrantType::AuthorizationCode]);
        assert_eq!(m.token_endpoint_auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(m.id_token_signed_response_alg, SigningAlg::RS256);
        assert_eq!(m.scope, DEFAULT_CLIENT_SCOPE);
        assert!(m.validate(&EnvPkcePolicy::strict()).is_ok());
    }

    #[test]
    fn invalid_metadata_names_the_field() {
        let env = EnvPkcePolicy::strict();
        let cases = [
            (r#"{"redirect_uris":[]}"#, "redirect_uris"),
            (r#"{"redirect_uris":["/relative"]}"#, "redirect_uris"),
            (r#"{"redirect_uris":["javascript:alert(1)//"]}"#, "redirect_uris"),
            (r#"{"redirect_uris":["JavaScript:alert(1)"]}"#, "redirect_uris"),
            (
                r#"{"redirect_uris":["data:text/html,<script>x</script>"]}"#,
                "redirect_uris",
            ),
            (r#"{"redirect_uris":["vbscript:x"]}"#, "redirect_uris"),
            (r#"{"redirect_uris":["https://a.example/cb#frag"]}"#, "redirect_uris"),
            (r#"{"redirect_uris":["https:///nohost"]}"#, "redirect_uris"),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"grant_types":[]}"#,
                "grant_types",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"grant_types":["refresh_token"]}"#,
                "grant_types",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","client_credentials"]}"#,
                "grant_types",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"scope":"openid  email"}"#,
                "scope",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"code_challenge_method":"plain"}"#,
                "code_challenge_method",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}"#,
                "response_types",
            ),
        ];
        for (json, field) in cases {
            let err = meta(json).validate(&env).unwrap_err();
            assert_eq!(err.field, field, "{json}");
        }
        assert!(serde_json::from_str::<ClientMetadata>(r#"{"grant_types":["implicit"]}"#).is_err());
        assert!(serde_json::from_str::<ClientMetadata>(r#"{"redirect_uri":"x"}"#).is_err());
    }

    #[test]
    fn redirect_matching() {
        assert!(redirect_uri_matches("https://a.example/cb", "https://a.example/cb"));
        assert!(!redirect_uri_matches("https://a.example/cb", "https://a.example/cb/"));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example:443/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example/cb?x=1"
        ));
        assert!(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"));
        for port in ["99999", "0", "080", "65536", "+80", ""] {
            assert!(
                !redirect_uri_matches("http://127.0.0.1/cb", &format!("http://127.0.0.1:{port}/cb")),
                "port {port}"
            );
        }
        assert!(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:65535/cb"));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:9/cb"
        ));
        assert!(redirect_uri_matches("http://[::1]/cb", "http://[::1]:4000/cb"));
        assert!(redirect_uri_matches("http://localhost:3000", "http://localhost:5000/"));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:80/other"
        ));
        assert!(!redirect_uri_matches("http://127.0.0.1/cb", "http://localhost:80/cb"));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1.evil.example/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:80@evil.example/cb"
        ));
        assert!(!redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:x/cb"));
        assert!(!redirect_uri_matches(
            "https://127.0.0.1/cb",
            "https://127.0.0.1:8443/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://example.com/cb",
            "http://example.com:81/cb"
        ));
    }
}
