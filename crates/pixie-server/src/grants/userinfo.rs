//! OpenID Connect UserInfo (Core §5.3): the claims an access token's scopes release.

use pixie_core::claims::{UserInfoClaims, UserProfile};

use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// The claims about the user of `token`, a bearer token presented to UserInfo at
/// `issuer`: it must be live, from this issuer, and carry `openid`.
pub async fn userinfo(svc: &Service, env_id: &str, token: Option<&str>, issuer: &str) -> ApiResult<UserInfoClaims> {
    svc.environment(env_id).await?;
    let token = token.ok_or(ApiError::InvalidToken(
        "access token missing: send Authorization: Bearer",
    ))?;
    let claims = svc
        .check_access_token(env_id, token, Some(issuer))
        .await?
        .ok_or(ApiError::InvalidToken(
            "the access token is invalid, expired or revoked",
        ))?;
    // A token for a resource server (RFC 8707 `aud`) is that server's, not UserInfo's:
    // a resource server handed a user's token must not replay it here.
    if claims.aud != pixie_core::claims::Audience::One(claims.client_id.clone()) {
        return Err(ApiError::InvalidToken(
            "the access token is for another resource (its aud): ask for one without resource",
        ));
    }
    let scopes = claims.scopes();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(ApiError::InsufficientScope("the access token lacks the openid scope"));
    }
    let user = svc
        .lookup_user(env_id, &claims.sub)
        .await?
        .ok_or(ApiError::InvalidToken("the user no longer exists"))?;
    let profile = UserProfile {
        id: &user.id,
        username: &user.username,
        name: user.name.as_deref(),
        email: user.email.as_deref(),
    };
    Ok(UserInfoClaims::release(profile, &scopes))
}
