//! Pushed authorization requests (RFC 9126, CONTRACT §8): what a push may carry, what
//! is kept of it, and when an authorization request must have been pushed.

use crate::client::ClientMetadata;
use crate::error::{ErrorCode, OAuthError};
use crate::params::Params;

/// The prefix of every `request_uri` pixie issues (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request may wait for its authorization request, in seconds.
pub const LIFETIME: i64 = 60;
/// Client credentials: they authenticate the push and are never kept with it.
pub const CREDENTIAL_PARAMS: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

/// Checks a push by the authenticated client `client_id` before its authorization
/// parameters are: it must not itself name a `request_uri` (RFC 9126 §2.1), and a
/// `client_id` it carries must be the authenticated client's.
pub fn check_push(params: &Params, client_id: &str) -> Result<(), OAuthError> {
    if params.get("request_uri").is_some() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "request_uri: a pushed request cannot itself refer to one (RFC 9126 §2.1)",
        ));
    }
    if params.is_repeated("client_id") || params.get("client_id").is_some_and(|c| c != client_id) {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "client_id: it must be the client that authenticated the push",
        ));
    }
    Ok(())
}

/// The authorization parameters of a push as kept: its pairs without client
/// credentials, with the authenticated `client_id` (a confidential client need not
/// repeat it in the body).
pub fn kept_params(params: &Params, client_id: &str) -> Params {
    let mut pairs: Vec<(String, String)> = params
        .pairs()
        .filter(|(k, _)| !CREDENTIAL_PARAMS.contains(k))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if params.get("client_id").is_none() {
        pairs.push(("client_id".into(), client_id.into()));
    }
    Params::from_pairs(pairs)
}

/// Whether an authorization request of this client must come by `request_uri`: the
/// environment requires it for all, or the client's metadata for itself.
pub fn must_push(env_requires: bool, client: &ClientMetadata) -> bool {
    env_requires || client.require_pushed_authorization_requests
}

/// The error for an authorization request that should have been pushed.
pub fn not_pushed() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequest,
        "request_uri is missing: this client's authorization requests must be pushed first \
         (pushed_authorization_request_endpoint, RFC 9126)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Params {
        Params::parse(s.as_bytes())
    }

    #[test]
    fn a_push_names_no_request_uri_and_no_other_client() {
        assert!(check_push(&p("response_type=code&client_id=app"), "app").is_ok());
        assert!(check_push(&p("response_type=code"), "app").is_ok());
        for bad in [
            "client_id=other",
            "client_id=app&client_id=app",
            "request_uri=urn:ietf:params:oauth:request_uri:x",
        ] {
            let e = check_push(&p(bad), "app").unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
        }
    }

    #[test]
    fn credentials_are_never_kept() {
        let kept = kept_params(
            &p("response_type=code&client_secret=s3cret&client_assertion=jwt&client_assertion_type=x&scope=openid"),
            "app",
        );
        let pairs: Vec<_> = kept.pairs().collect();
        assert_eq!(
            pairs,
            [("response_type", "code"), ("scope", "openid"), ("client_id", "app")]
        );
        let kept = kept_params(&p("client_id=app&state=s"), "app");
        assert_eq!(kept.all("client_id").count(), 1);
    }

    #[test]
    fn pushing_is_required_by_the_environment_or_the_client() {
        let mut m: ClientMetadata = serde_json::from_str("{}").unwrap();
        assert!(!must_push(false, &m));
        assert!(must_push(true, &m));
        m.require_pushed_authorization_requests = true;
        assert!(must_push(false, &m));
    }
}
