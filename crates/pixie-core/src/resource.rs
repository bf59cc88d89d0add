//! Resource indicators (RFC 8707): which resource servers a token is for.
//!
//! `resource` is the one parameter that may repeat. Each value is an absolute URI with
//! no fragment, and must be registered in the environment. At the token endpoint and on
//! refresh the set may be repeated or narrowed, never widened. The access token's `aud`
//! names the resources (see [`crate::claims::Audience`]).

use crate::error::{ErrorCode, OAuthError};
use crate::params::{quote, Params};

/// The longest resource URI accepted.
pub const MAX_RESOURCE_URI: usize = 2048;

/// Checks a resource URI: absolute (`scheme://…`), no fragment, no whitespace or control
/// characters, at most [`MAX_RESOURCE_URI`] bytes.
pub fn validate_resource_uri(uri: &str) -> Result<(), String> {
    if uri.is_empty() || uri.len() > MAX_RESOURCE_URI {
        return Err(format!("must be 1-{MAX_RESOURCE_URI} bytes"));
    }
    if uri
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || crate::names::is_hidden(c))
    {
        return Err("must not contain spaces, control or invisible characters".into());
    }
    if uri.contains('#') {
        return Err("must not have a fragment".into());
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err("must be an absolute URI (scheme://host/…)".into());
    };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if !scheme_ok || host.is_empty() {
        return Err("must be an absolute URI (scheme://host/…)".into());
    }
    Ok(())
}

fn invalid_target(description: String) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, description)
}

/// The resources a request names, in order, duplicates dropped; each must be a valid
/// resource URI (else `invalid_target`).
pub fn requested_resources(params: &Params) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for r in params.all("resource") {
        if let Err(why) = validate_resource_uri(r) {
            return Err(invalid_target(format!("resource '{}' {why}", quote(r, 60))));
        }
        if !out.iter().any(|x| x == r) {
            out.push(r.to_owned());
        }
    }
    Ok(out)
}

/// Checks every requested resource is registered in the environment.
pub fn check_registered(requested: &[String], registered: &[&str]) -> Result<(), OAuthError> {
    match requested.iter().find(|r| !registered.contains(&r.as_str())) {
        Some(r) => Err(invalid_target(format!(
            "resource '{}' is not a resource server of this issuer",
            quote(r, 60)
        ))),
        None => Ok(()),
    }
}

/// The resources a token is for at the token endpoint or on refresh: those requested,
/// each within what was granted; none requested keeps what was granted.
pub fn narrow(requested: Vec<String>, granted: &[String]) -> Result<Vec<String>, OAuthError> {
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    match requested.iter().find(|r| !granted.contains(r)) {
        Some(r) => Err(invalid_target(format!(
            "resource '{}' was not granted: a token may name fewer resources than the grant, never others",
            quote(r, 60)
        ))),
        None => Ok(requested),
    }
}

/// The resources of a token from a grant: those still registered of the grant's (`kept`,
/// what a refresh token carries on), and among them the ones the access token names
/// (`aud`: those requested, else all kept). A grant whose resources are all gone is
/// `invalid_target`: its tokens may no longer name them, and silently widening the
/// audience to the client would be another token than the one authorized.
pub fn for_token(
    requested: Vec<String>,
    granted: &[String],
    registered: &[&str],
) -> Result<TokenResources, OAuthError> {
    let kept: Vec<String> = granted
        .iter()
        .filter(|r| registered.contains(&r.as_str()))
        .cloned()
        .collect();
    if !granted.is_empty() && kept.is_empty() {
        return Err(invalid_target(
            "the resources this grant was for are no longer registered here".into(),
        ));
    }
    let aud = narrow(requested, &kept)?;
    Ok(TokenResources { aud, kept })
}

/// What [`for_token`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResources {
    /// The resources the access token names.
    pub aud: Vec<String>,
    /// The grant's resources that are still registered: what the refresh token keeps.
    pub kept: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_uris_are_absolute_without_fragments() {
        for ok in ["https://mcp.example.com/mcp", "http://127.0.0.1:8080/", "urn+x://a"] {
            assert!(validate_resource_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/mcp",
            "mcp.example.com",
            "https://",
            "https://a/#x",
            "https://a/ b",
            "1http://a",
        ] {
            assert!(validate_resource_uri(bad).is_err(), "{bad}");
        }
        assert!(validate_resource_uri(&format!("https://a/{}", "x".repeat(MAX_RESOURCE_URI))).is_err());
    }

    #[test]
    fn resource_may_repeat_and_must_be_registered() {
        let p = Params::parse(b"resource=https%3A%2F%2Fa%2F&resource=https%3A%2F%2Fb%2F&resource=https%3A%2F%2Fa%2F");
        assert_eq!(p.first_repeated(), None, "resource may repeat");
        let r = requested_resources(&p).unwrap();
        assert_eq!(r, ["https://a/", "https://b/"]);
        assert!(check_registered(&r, &["https://a/", "https://b/"]).is_ok());
        let e = check_registered(&r, &["https://a/"]).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidTarget);
        let e = requested_resources(&Params::parse(b"resource=%2Frelative")).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidTarget);
        assert_eq!(Params::parse(b"scope=a&scope=b").first_repeated(), Some("scope"));
    }

    #[test]
    fn a_refresh_keeps_the_grant_and_drops_what_is_gone() {
        let granted = vec!["https://a/".to_owned(), "https://b/".to_owned()];
        let both = ["https://a/", "https://b/"];
        let t = for_token(vec!["https://a/".into()], &granted, &both).unwrap();
        assert_eq!(t.aud, ["https://a/"]);
        assert_eq!(t.kept, granted, "narrowing one token does not shrink the grant");
        let t = for_token(vec![], &granted, &["https://b/"]).unwrap();
        assert_eq!(
            (t.aud.clone(), t.kept.clone()),
            (vec!["https://b/".to_owned()], vec!["https://b/".to_owned()])
        );
        let e = for_token(vec!["https://a/".into()], &granted, &["https://b/"]).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidTarget, "a removed resource is not named");
        assert_eq!(
            for_token(vec![], &granted, &[]).unwrap_err().code,
            ErrorCode::InvalidTarget
        );
        let t = for_token(vec![], &[], &[]).unwrap();
        assert!(
            t.aud.is_empty() && t.kept.is_empty(),
            "no resources: the client is the audience"
        );
    }

    #[test]
    fn tokens_narrow_never_widen() {
        let granted = vec!["https://a/".to_owned(), "https://b/".to_owned()];
        assert_eq!(narrow(vec![], &granted).unwrap(), granted);
        assert_eq!(narrow(vec!["https://b/".into()], &granted).unwrap(), ["https://b/"]);
        let e = narrow(vec!["https://c/".into()], &granted).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidTarget);
        assert_eq!(
            narrow(vec!["https://a/".into()], &[]).unwrap_err().code,
            ErrorCode::InvalidTarget
        );
    }
}
