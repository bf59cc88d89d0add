//! The claims pixie signs, as types: access tokens (RFC 9068), ID tokens (OpenID
//! Connect Core §2) and the UserInfo answer (§5.3), and which scopes a grant may carry.
//! Building them is a decision (which claims a scope releases, who the subject is);
//! signing is the server's.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, OAuthError};
use crate::params::quote;

/// An `aud` claim: one value, or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    /// An access token's audience: the resources it is for (RFC 8707), or, for none,
    /// the client it was issued to.
    pub fn for_access_token(client_id: &str, resources: &[String]) -> Self {
        match resources {
            [] => Self::One(client_id.to_owned()),
            [one] => Self::One(one.clone()),
            many => Self::Many(many.to_vec()),
        }
    }

    /// The values, one or several.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Self::One(v) => vec![v.as_str()],
            Self::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// The claims of an access token (`typ: at+jwt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// The issuer.
    pub iss: String,
    /// The user's id, or the client's for client credentials.
    pub sub: String,
    /// The resources it is for (RFC 8707), or the client it was issued to.
    pub aud: Audience,
    /// The client it was issued to (RFC 9068 §2.2).
    pub client_id: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// The token's id; revoking one access token names it.
    pub jti: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// When the user signed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The grant (token family) it belongs to: revoking the grant revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// The session it came from: ending the session revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The key it is bound to (RFC 9449 `cnf.jkt`): only with a DPoP proof by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// A token's confirmation (RFC 7800): the thumbprint of the DPoP key it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// RFC 7638 SHA-256 thumbprint, base64url.
    pub jkt: String,
}

impl AccessTokenClaims {
    /// The granted scopes.
    pub fn scopes(&self) -> Vec<String> {
        split_scope(&self.scope)
    }

    /// The user it was issued for; `None` for a client's own token.
    pub fn user_id(&self) -> Option<&str> {
        (self.sub != self.client_id).then_some(self.sub.as_str())
    }
}

/// The claims of an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// The issuer.
    pub iss: String,
    /// The user's id.
    pub sub: String,
    /// The client.
    pub aud: String,
    /// The authorized party: the client.
    pub azp: String,
    /// Expiry.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// When the user signed on.
    pub auth_time: i64,
    /// The left half of the SHA-256 of the access token, base64url.
    pub at_hash: String,
    /// The authorization request's `nonce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// What UserInfo knows of a user.
#[derive(Debug, Clone, Copy)]
pub struct UserProfile<'a> {
    /// The user's id.
    pub id: &'a str,
    /// The username.
    pub username: &'a str,
    /// The display name.
    pub name: Option<&'a str>,
    /// The email address.
    pub email: Option<&'a str>,
}

/// The UserInfo answer: `sub` always; `preferred_username` and `name` with `profile`;
/// `email` with `email`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfoClaims {
    /// The user's id.
    pub sub: String,
    /// The username (`profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// The display name (`profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The email address (`email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl UserInfoClaims {
    /// The claims `scopes` release about `user`.
    pub fn release(user: UserProfile<'_>, scopes: &[String]) -> Self {
        let has = |s: &str| scopes.iter().any(|x| x == s);
        let profile = has("profile");
        Self {
            sub: user.id.to_owned(),
            preferred_username: profile.then(|| user.username.to_owned()),
            name: user.name.filter(|_| profile).map(str::to_owned),
            email: user.email.filter(|_| has("email")).map(str::to_owned),
        }
    }
}

/// What a consent is remembered by: the scopes and the resources, each set sorted and
/// space-joined, so that the same request in another order is the same consent.
pub fn consent_key(scopes: &[String], resources: &[String]) -> (String, String) {
    let sorted = |v: &[String]| {
        let mut v: Vec<&str> = v.iter().map(String::as_str).collect();
        v.sort_unstable();
        v.dedup();
        v.join(" ")
    };
    (sorted(scopes), sorted(resources))
}

/// Scopes that only mean something with a user: never granted to a client's own token.
pub const USER_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Splits a space-separated scope string.
pub fn split_scope(scope: &str) -> Vec<String> {
    scope.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The scopes a token request asks for (`scope`, space-separated), each of which must be
/// within `allowed`; duplicates are dropped. `None` when `scope` was not sent: the
/// caller then keeps what was granted before (RFC 6749 §6) or grants nothing.
pub fn requested_scopes(scope: Option<&str>, allowed: &[&str]) -> Result<Option<Vec<String>>, OAuthError> {
    let Some(raw) = scope else {
        return Ok(None);
    };
    let mut out: Vec<String> = Vec::new();
    for s in raw.split(' ').filter(|s| !s.is_empty()) {
        if !allowed.contains(&s) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("scope '{}' is not within what may be granted here", quote(s, 40)),
            ));
        }
        if !out.iter().any(|x| x == s) {
            out.push(s.to_owned());
        }
    }
    Ok(Some(out))
}

/// The scopes a client may ask for with client credentials: its registered ones, less
/// those that need a user.
pub fn client_credentials_scopes(registered: &str) -> Vec<&str> {
    registered
        .split(' ')
        .filter(|s| !s.is_empty() && !USER_SCOPES.contains(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_stays_within_what_was_granted() {
        let granted = ["openid", "profile"];
        assert_eq!(requested_scopes(None, &granted), Ok(None));
        assert_eq!(
            requested_scopes(Some("profile  profile"), &granted),
            Ok(Some(vec!["profile".to_owned()]))
        );
        assert_eq!(requested_scopes(Some(""), &granted), Ok(Some(vec![])));
        let e = requested_scopes(Some("openid email"), &granted).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidScope);
        assert!(e.description.contains("'email'"));
    }

    #[test]
    fn consent_keys_ignore_order() {
        let a = consent_key(
            &split_scope("profile openid"),
            &["https://b/".into(), "https://a/".into()],
        );
        let b = consent_key(
            &split_scope("openid profile openid"),
            &["https://a/".into(), "https://b/".into()],
        );
        assert_eq!(a, b);
        assert_eq!(a, ("openid profile".into(), "https://a/ https://b/".into()));
        assert_ne!(a, consent_key(&split_scope("openid"), &[]));
    }

    #[test]
    fn client_credentials_never_carry_user_scopes() {
        assert_eq!(
            client_credentials_scopes("openid api:read profile api:write"),
            ["api:read", "api:write"]
        );
    }

    #[test]
    fn userinfo_releases_by_scope() {
        let user = UserProfile {
            id: "u1",
            username: "ann",
            name: Some("Ann"),
            email: Some("ann@example.com"),
        };
        let openid = UserInfoClaims::release(user, &["openid".into()]);
        assert_eq!(serde_json::to_value(&openid).unwrap(), serde_json::json!({"sub": "u1"}));
        let all = UserInfoClaims::release(user, &split_scope("openid profile email"));
        assert_eq!(
            serde_json::to_value(&all).unwrap(),
            serde_json::json!({"sub": "u1", "preferred_username": "ann", "name": "Ann", "email": "ann@example.com"})
        );
    }

    #[test]
    fn the_audience_names_the_resources_else_the_client() {
        let one = Audience::for_access_token("c1", &[]);
        assert_eq!(serde_json::to_value(&one).unwrap(), serde_json::json!("c1"));
        let r = vec!["https://a/".to_owned()];
        assert_eq!(
            serde_json::to_value(Audience::for_access_token("c1", &r)).unwrap(),
            serde_json::json!("https://a/")
        );
        let r2 = vec!["https://a/".to_owned(), "https://b/".to_owned()];
        let many = Audience::for_access_token("c1", &r2);
        assert_eq!(
            serde_json::to_value(&many).unwrap(),
            serde_json::json!(["https://a/", "https://b/"])
        );
        let back: Audience = serde_json::from_value(serde_json::json!(["https://a/", "https://b/"])).unwrap();
        assert_eq!(back.values(), ["https://a/", "https://b/"]);
    }

    #[test]
    fn access_token_claims_name_their_user() {
        let mut c = AccessTokenClaims {
            iss: "i".into(),
            sub: "c1".into(),
            aud: Audience::One("c1".into()),
            client_id: "c1".into(),
            exp: 2,
            iat: 1,
            jti: "j".into(),
            scope: "a b".into(),
            auth_time: None,
            gid: None,
            sid: None,
            cnf: None,
        };
        assert_eq!(c.user_id(), None);
        assert_eq!(c.scopes(), ["a", "b"]);
        let json = serde_json::to_value(&c).unwrap();
        assert!(json.get("sid").is_none() && json.get("auth_time").is_none() && json.get("cnf").is_none());
        c.sub = "u1".into();
        assert_eq!(c.user_id(), Some("u1"));
    }
}
