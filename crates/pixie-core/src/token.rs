//! The token request: client authentication (RFC 6749 §2.3) and the checks of an
//! `authorization_code` grant against the stored code.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::client::{AuthMethod, ClientMetadata, GrantType};
use crate::decision::{token_pkce, PkceRejection};
use crate::error::{ErrorCode, OAuthError};
use crate::params::{quote, Params};
use crate::pkce::CodeChallenge;

/// The client credentials a token request presents.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedClient {
    /// The client id.
    pub client_id: String,
    /// The secret, for the secret methods.
    pub secret: Option<String>,
    /// The client assertion, for `private_key_jwt`.
    pub assertion: Option<String>,
    /// How it was presented.
    pub method: AuthMethod,
}

impl std::fmt::Debug for PresentedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedClient")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// An `invalid_client` error; `basic` says a 401 needs `WWW-Authenticate: Basic`.
pub fn invalid_client(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, description)
}

/// Works out which client authentication a request uses: exactly one of HTTP Basic,
/// `client_secret` in the body, or none (`client_id` alone).
pub fn presented_client(authorization: Option<&str>, params: &Params) -> Result<PresentedClient, OAuthError> {
    for name in [
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
    ] {
        if params.is_repeated(name) {
            return Err(OAuthError::invalid_request(format!("{name} is repeated")));
        }
    }
    let body_id = params.non_empty("client_id");
    let body_secret = params.get("client_secret");
    if params.get("client_assertion").is_some() || params.get("client_assertion_type").is_some() {
        return presented_assertion(authorization, params, body_id, body_secret.is_some());
    }
    if let Some(header) = authorization {
        // Scheme names are case-insensitive (RFC 9110 §11.1).
        let encoded = match header.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => rest,
            _ => {
                return Err(invalid_client(
                    "Authorization: only the Basic scheme authenticates clients here",
                ))
            }
        };
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "client_secret: use one client authentication method, not Basic and client_secret together",
            ));
        }
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| invalid_client("Authorization: the Basic credentials are not valid base64"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| invalid_client("Authorization: the Basic credentials have no ':'"))?;
        // RFC 6749 §2.3.1: both halves are form-urlencoded, each as a whole ('&' and
        // '=' are data, not separators); invalid UTF-8 is refused, never replaced.
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| invalid_client("Authorization: the Basic credentials are not valid UTF-8"))
        };
        let id = decode(id)?;
        let secret = decode(secret)?;
        if id.is_empty() {
            return Err(invalid_client("Authorization: the Basic credentials name no client"));
        }
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the Basic credentials",
            ));
        }
        return Ok(PresentedClient {
            client_id: id,
            secret: Some(secret),
            assertion: None,
            method: AuthMethod::ClientSecretBasic,
        });
    }
    let client_id =
        body_id.ok_or_else(|| OAuthError::invalid_request("client_id is missing (or authenticate with HTTP Basic)"))?;
    Ok(PresentedClient {
        client_id: client_id.to_owned(),
        secret: body_secret.map(str::to_owned),
        assertion: None,
        method: if body_secret.is_some() {
            AuthMethod::ClientSecretPost
        } else {
            AuthMethod::None
        },
    })
}

/// A `private_key_jwt` presentation (RFC 7523 §2.2): the assertion type, the
/// assertion, and no other method with it. The client is the assertion's `sub` (read
/// unverified, to find the client whose keys then verify it), and a `client_id` sent
/// too must be the same.
fn presented_assertion(
    authorization: Option<&str>,
    params: &Params,
    body_id: Option<&str>,
    body_secret: bool,
) -> Result<PresentedClient, OAuthError> {
    if authorization.is_some() || body_secret {
        return Err(OAuthError::invalid_request(
            "client_assertion: use one client authentication method, not an assertion and a secret together",
        ));
    }
    if params.get("client_assertion_type") != Some(crate::assertion::ASSERTION_TYPE) {
        return Err(invalid_client(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    let assertion = params
        .non_empty("client_assertion")
        .filter(|a| a.len() <= crate::assertion::MAX_ASSERTION_LEN)
        .ok_or_else(|| invalid_client("client_assertion is missing or longer than 8 KiB"))?;
    let sub = assertion
        .split('.')
        .nth(1)
        .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
        .and_then(|c| c.get("sub").and_then(|s| s.as_str()).map(str::to_owned))
        .ok_or_else(|| invalid_client("client_assertion is not a JWT with a sub"))?;
    if body_id.is_some_and(|b| b != sub) {
        return Err(invalid_client("client_id differs from the client_assertion's sub"));
    }
    Ok(PresentedClient {
        client_id: sub,
        secret: None,
        assertion: Some(assertion.to_owned()),
        method: AuthMethod::PrivateKeyJwt,
    })
}

/// The grant a token request asks for, once the client is authenticated: `grant_type`
/// must be sent, be one pixie supports, and be registered for the client; no parameter
/// may be repeated (RFC 6749 §3.2).
pub fn requested_grant(params: &Params, client: &ClientMetadata) -> Result<GrantType, OAuthError> {
    if let Some(name) = params.first_repeated() {
        return Err(OAuthError::invalid_request(format!("{} is repeated", quote(name, 40))));
    }
    let grant = match params.non_empty("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is missing")),
        Some("authorization_code") => GrantType::AuthorizationCode,
        Some("refresh_token") => GrantType::RefreshToken,
        Some("client_credentials") => GrantType::ClientCredentials,
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type '{}' is not supported", quote(other, 40)),
            ))
        }
    };
    if !client.has_grant(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("grant_type: this client is not registered for {}", grant.as_str()),
        ));
    }
    Ok(grant)
}

/// A token pixie issued, as introspection sees it (RFC 7662).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedToken<'a> {
    /// An access token (else a refresh token).
    pub access: bool,
    /// The client it was issued to.
    pub client_id: &'a str,
    /// Its expiry.
    pub expires_at: i64,
    /// Whether it (or its grant, or its session) was revoked.
    pub revoked: bool,
    /// Whether a refresh token was rotated (used).
    pub used: bool,
}

impl IssuedToken<'_> {
    /// Whether it is `active` at `now`: not revoked, not expired, and for a refresh
    /// token not rotated.
    pub fn is_live(&self, now: i64) -> bool {
        !self.revoked && self.expires_at > now && (self.access || !self.used)
    }

    /// Whether an authenticated caller may learn about it. A confidential client the
    /// operator registered, authenticated with its secret, about any token of the
    /// environment (it is a resource server checking the tokens presented to it); any
    /// other client only about its own tokens: a public one (anyone can present its
    /// client_id), and one that registered itself (anyone can get a secret that way).
    pub fn visible_to(&self, caller_client_id: &str, caller: &crate::client::ClientMetadata) -> bool {
        let trusted = !caller.is_public() && !caller.self_registered;
        trusted || self.client_id == caller_client_id
    }
}

/// What the store recorded with a code, as far as the token-time checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBinding<'a> {
    /// The redirect URI of the authorization request.
    pub redirect_uri: &'a str,
    /// Whether the authorization request sent it (then it must be repeated).
    pub redirect_uri_sent: bool,
    /// The challenge recorded at authorization.
    pub challenge: Option<&'a CodeChallenge>,
}

/// Why a code exchange fails after the code was found and consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeCheckError {
    /// `redirect_uri` differs from the authorization request's.
    RedirectUri(OAuthError),
    /// PKCE rejected the verifier.
    Pkce(PkceRejection),
}

impl CodeCheckError {
    /// The OAuth error to send.
    pub fn error(&self) -> &OAuthError {
        match self {
            Self::RedirectUri(e) => e,
            Self::Pkce(r) => &r.error,
        }
    }
}

/// Checks a consumed code's bindings: `redirect_uri` (RFC 6749 §4.1.3), then PKCE.
pub fn check_code(binding: &CodeBinding<'_>, params: &Params) -> Result<(), CodeCheckError> {
    match (params.non_empty("redirect_uri"), binding.redirect_uri_sent) {
        (Some(r), _) if r != binding.redirect_uri => {
            return Err(CodeCheckError::RedirectUri(OAuthError::new(
                ErrorCode::InvalidGrant,
                "redirect_uri differs from the one in the authorization request",
            )))
        }
        (None, true) => {
            return Err(CodeCheckError::RedirectUri(OAuthError::new(
                ErrorCode::InvalidGrant,
                "redirect_uri is required: the authorization request sent one",
            )))
        }
        _ => {}
    }
    token_pkce(binding.challenge, params.get("code_verifier")).map_err(CodeCheckError::Pkce)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkce::ChallengeMethod;

    #[test]
    fn introspection_tells_only_live_tokens_to_who_may_know() {
        let t = IssuedToken {
            access: false,
            client_id: "spa",
            expires_at: 100,
            revoked: false,
            used: false,
        };
        assert!(t.is_live(99) && !t.is_live(100));
        assert!(!IssuedToken { used: true, ..t }.is_live(0));
        assert!(IssuedToken {
            used: true,
            access: true,
            ..t
        }
        .is_live(0));
        assert!(!IssuedToken { revoked: true, ..t }.is_live(0));
        let meta = |json: &str| -> crate::client::ClientMetadata { serde_json::from_str(json).unwrap() };
        let public = meta(r#"{"token_endpoint_auth_method": "none"}"#);
        let confidential = meta(r#"{"token_endpoint_auth_method": "client_secret_basic"}"#);
        let self_registered = meta(r#"{"token_endpoint_auth_method": "client_secret_basic", "self_registered": true}"#);
        assert!(t.visible_to("spa", &public) && !t.visible_to("other-spa", &public));
        assert!(t.visible_to("resource-server", &confidential));
        assert!(!t.visible_to("registered-itself", &self_registered));
        assert!(t.visible_to("spa", &self_registered), "its own tokens");
    }

    #[test]
    fn the_grant_must_be_sent_supported_and_registered() {
        let client: ClientMetadata = serde_json::from_str(
            r#"{"redirect_uris":["https://app.example/cb"],"grant_types":["authorization_code","refresh_token"]}"#,
        )
        .unwrap();
        let grant = |body: &str| requested_grant(&Params::parse(body.as_bytes()), &client);
        assert_eq!(grant("grant_type=refresh_token"), Ok(GrantType::RefreshToken));
        assert_eq!(
            grant("grant_type=authorization_code&code=x"),
            Ok(GrantType::AuthorizationCode)
        );
        let code = |body: &str| grant(body).unwrap_err().code;
        assert_eq!(code(""), ErrorCode::InvalidRequest);
        assert_eq!(code("grant_type=password"), ErrorCode::UnsupportedGrantType);
        assert_eq!(code("grant_type=client_credentials"), ErrorCode::UnauthorizedClient);
        // A repeated parameter is refused before anything else is read.
        assert_eq!(code("grant_type=password&code=a&code=b"), ErrorCode::InvalidRequest);
    }

    fn q(s: &str) -> Params {
        Params::parse(s.as_bytes())
    }

    #[test]
    fn client_authentication_methods() {
        let basic = format!("Basic {}", STANDARD.encode("my%20id:s%3Acret"));
        let c = presented_client(Some(&basic), &q("grant_type=x")).unwrap();
        assert_eq!(
            (c.client_id.as_str(), c.secret.as_deref(), c.method),
            ("my id", Some("s:cret"), AuthMethod::ClientSecretBasic)
        );
        let c = presented_client(None, &q("client_id=a&client_secret=b")).unwrap();
        assert_eq!(c.method, AuthMethod::ClientSecretPost);
        let c = presented_client(None, &q("client_id=a")).unwrap();
        assert_eq!(c.method, AuthMethod::None);
        assert_eq!(
            presented_client(Some(&basic), &q("client_secret=b")).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            presented_client(None, &q("grant_type=x")).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            presented_client(Some("Bearer x"), &q("")).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        assert_eq!(
            presented_client(Some("Basic !!!"), &q("")).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        assert_eq!(
            presented_client(None, &q("client_id=a&client_id=b")).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        // Each half decodes as a whole: '&' and '=' are data, '+' a space.
        let tail = format!("basic {}", STANDARD.encode("id:SECRET&junk=1"));
        let c = presented_client(Some(&tail), &q("")).unwrap();
        assert_eq!(c.secret.as_deref(), Some("SECRET&junk=1"), "the scheme in any case");
        let plus = format!("BASIC {}", STANDARD.encode("a+b:c%2Bd"));
        let c = presented_client(Some(&plus), &q("")).unwrap();
        assert_eq!((c.client_id.as_str(), c.secret.as_deref()), ("a b", Some("c+d")));
        let bad_utf8 = format!("Basic {}", STANDARD.encode("id:%FF%FE"));
        assert_eq!(
            presented_client(Some(&bad_utf8), &q("")).unwrap_err().code,
            ErrorCode::InvalidClient
        );
    }

    #[test]
    fn code_bindings() {
        let ch = CodeChallenge::parse(ChallengeMethod::S256, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap();
        let b = CodeBinding {
            redirect_uri: "https://a/cb",
            redirect_uri_sent: true,
            challenge: Some(&ch),
        };
        let v = "code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(check_code(&b, &q(&format!("redirect_uri=https://a/cb&{v}"))).is_ok());
        assert!(matches!(check_code(&b, &q(v)), Err(CodeCheckError::RedirectUri(_))));
        assert!(matches!(
            check_code(&b, &q(&format!("redirect_uri=https://b/cb&{v}"))),
            Err(CodeCheckError::RedirectUri(_))
        ));
        assert!(matches!(
            check_code(&b, &q("redirect_uri=https://a/cb")),
            Err(CodeCheckError::Pkce(_))
        ));
        let unsent = CodeBinding {
            redirect_uri_sent: false,
            ..b.clone()
        };
        assert!(check_code(&unsent, &q(v)).is_ok());
    }
}
