//! OAuth 2.0 error codes (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; OpenID Connect Core
//! §3.1.2.6; RFC 7591 §3.2.2) and the error value the rest of pixie passes around.

use std::borrow::Cow;
use std::fmt;

/// An error code exactly as the RFCs name it on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// RFC 6749: the request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// RFC 6749: client authentication failed.
    InvalidClient,
    /// RFC 6749: the grant (code, refresh token, verifier) is invalid, expired or revoked.
    InvalidGrant,
    /// RFC 6749: the client may not use this grant or response type.
    UnauthorizedClient,
    /// RFC 6749: the grant type is not supported.
    UnsupportedGrantType,
    /// RFC 6749: the authorization server does not support this response type.
    UnsupportedResponseType,
    /// RFC 6749: the requested scope is invalid, unknown or exceeds what was granted.
    InvalidScope,
    /// RFC 8707 §2: `resource` is not a valid or permitted resource.
    InvalidTarget,
    /// RFC 6749: the resource owner or server denied the request.
    AccessDenied,
    /// RFC 6749: an unexpected condition in the server.
    ServerError,
    /// RFC 6749: the server is temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// OpenID Connect: `prompt=none` and the end-user is not signed in.
    LoginRequired,
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, and the user must consent first.
    ConsentRequired,
    /// RFC 6750: the access token is expired, revoked, malformed or invalid.
    InvalidToken,
    /// RFC 7591: a redirect URI in client metadata is invalid.
    InvalidRedirectUri,
    /// RFC 7591: a client metadata field is invalid.
    InvalidClientMetadata,
    /// RFC 9449: the DPoP proof is invalid.
    InvalidDpopProof,
    /// RFC 9449 §8: the DPoP proof must carry the server's current nonce.
    UseDpopNonce,
}

impl ErrorCode {
    /// The code as it appears in an `error` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InvalidToken => "invalid_token",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An OAuth error: a code and a description that names the parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The RFC error code.
    pub code: ErrorCode,
    /// A human-readable `error_description`; always names the parameter at fault.
    pub description: Cow<'static, str>,
}

impl OAuthError {
    /// Builds an error from a code and a description.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request` with the given description.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}
