//! What the token, introspection and revocation endpoints share: the form body, the
//! `Authorization` header and client authentication. (The OAuth error answer is
//! [`ApiError::oauth_response`].)

use axum::http::{header, HeaderMap};
use pixie_core::params::Params;
use pixie_core::token::{invalid_client, presented_client};
use pixie_core::OAuthError;
use pixie_store::{ClientRow, EnvironmentRow};

use super::state::AppState;
use crate::error::{ApiError, ApiResult};
use crate::grants::client_auth;

/// Checks the body is a form, and parses it.
pub fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().map(str::trim) == Some("application/x-www-form-urlencoded"));
    if !form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    Ok(Params::parse(body))
}

/// The `Authorization` header, if sent. One that is not visible ASCII is refused
/// (`invalid_client`), never ignored in favour of credentials in the body.
fn authorization(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    match headers.get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| ApiError::InvalidClient {
            description: invalid_client("Authorization: the header is not ASCII")
                .description
                .into_owned(),
            basic: true,
        }),
    }
}

/// A request from an authenticated client of an environment.
pub struct ClientRequest {
    /// The environment.
    pub env: EnvironmentRow,
    /// The client, authenticated.
    pub client: ClientRow,
    /// The form parameters.
    pub params: Params,
}

impl ClientRequest {
    /// Reads the form and authenticates the client it (or the `Authorization` header)
    /// presents; `issuer` and `endpoint` (its URL) are what a client assertion may name
    /// as its `aud`.
    pub async fn read(
        s: &AppState,
        (env_id, issuer, endpoint): (&str, &str, &str),
        headers: &HeaderMap,
        body: &[u8],
    ) -> ApiResult<Self> {
        let env = s.svc.environment(env_id).await?;
        let params = form_params(headers, body)?;
        let authorization = authorization(headers)?;
        let presented = presented_client(authorization, &params).map_err(|e| {
            let mut e = ApiError::from(e);
            if let ApiError::InvalidClient { basic, .. } = &mut e {
                *basic = authorization.is_some();
            }
            e
        })?;
        let client = client_auth::authenticate(&s.svc, env_id, &presented, &[issuer, endpoint]).await?;
        // A client from before the environment took its profile, and cannot meet it,
        // is refused at every back-channel endpoint (introspection and revocation too).
        if let Err(rule) = pixie_core::profile::check_client(env.settings.profile, &client.metadata) {
            return Err(pixie_core::OAuthError::new(pixie_core::ErrorCode::UnauthorizedClient, rule).into());
        }
        Ok(Self { env, client, params })
    }
}

/// The request's DPoP proof (RFC 9449 §4.1): one `DPoP` header at most, in ASCII.
pub fn dpop_proof(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    let mut values = headers.get_all("dpop").iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(pixie_core::OAuthError::new(
            pixie_core::ErrorCode::InvalidDpopProof,
            "DPoP: send exactly one DPoP header",
        )
        .into());
    }
    first.to_str().map(Some).map_err(|_| {
        pixie_core::OAuthError::new(pixie_core::ErrorCode::InvalidDpopProof, "DPoP: the header is not a JWT").into()
    })
}
