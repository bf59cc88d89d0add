//! OpenID Connect UserInfo (Core §5.3): the claims an access token's scopes release.

use pixie_core::claims::{UserInfoClaims, UserProfile};

use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// How an access token was presented (RFC 6750, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `Authorization: DPoP <token>`, with the request's `DPoP` proof if it sent one.
    Dpop {
        /// The access token.
        token: &'a str,
        /// The proof.
        proof: Option<&'a str>,
    },
}

/// A UserInfo request.
#[derive(Debug, Clone, Copy)]
pub struct UserInfoRequest<'a> {
    /// The environment.
    pub env_id: &'a str,
    /// The token, as presented; `None` when there is none.
    pub presented: Option<Presented<'a>>,
    /// The issuer (the endpoint is `<issuer>/as/userinfo`).
    pub issuer: &'a str,
    /// The request's method (a proof's `htm`).
    pub method: &'a str,
}

/// The claims about the user of the access token presented to UserInfo: it must be
/// live, from this issuer, and carry `openid`; a DPoP-bound token comes with a proof
/// by its key, for this request and this token (RFC 9449 §7).
pub async fn userinfo(svc: &Service, req: UserInfoRequest<'_>) -> ApiResult<UserInfoClaims> {
    let (env_id, issuer) = (req.env_id, req.issuer);
    let env = svc.environment(env_id).await?;
    let presented = req.presented.ok_or(ApiError::InvalidToken(
        "access token missing: send Authorization: Bearer (or DPoP)",
    ))?;
    let token = match presented {
        Presented::Bearer(t) | Presented::Dpop { token: t, .. } => t,
    };
    let claims = svc
        .check_access_token(env_id, token, Some(issuer))
        .await?
        .ok_or(ApiError::InvalidToken(
            "the access token is invalid, expired or revoked",
        ))?;
    match (&claims.cnf, presented) {
        (None, Presented::Bearer(_)) => {}
        (None, Presented::Dpop { .. }) => {
            return Err(ApiError::InvalidToken(
                "the access token is not DPoP-bound: present it as Authorization: Bearer",
            ))
        }
        (Some(_), Presented::Bearer(_)) => {
            return Err(ApiError::InvalidDpopToken(
                "the access token is DPoP-bound: present it as Authorization: DPoP with a DPoP proof",
            ))
        }
        (Some(cnf), Presented::Dpop { proof, .. }) => {
            let proof = proof.ok_or(ApiError::InvalidDpopToken(
                "the access token is DPoP-bound: send a DPoP proof by its key",
            ))?;
            let check = crate::dpop::ProofCheck {
                env_id,
                htm: req.method,
                htu: &format!("{issuer}/as/userinfo"),
                access_token: Some(token),
                nonce_required: env.settings.dpop_nonce,
                no_rs256: env.settings.profile.forbids_rs256(),
            };
            if crate::dpop::verify(svc, proof, check).await?.jkt != cnf.jkt {
                return Err(ApiError::InvalidDpopToken(
                    "the DPoP proof is by another key than the one the access token is bound to",
                ));
            }
        }
    }
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
