//! Discovery (OpenID Connect Discovery 1.0 and RFC 8414) and the JWKS.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use pixie_core::wire::ProviderMetadata;

use std::sync::Arc;

use super::state::paths;
use crate::directory::Directory;
use crate::error::ApiResult;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

async fn metadata(directory: &Directory, base: &super::state::Base, env_id: &str) -> ApiResult<ProviderMetadata> {
    let env = directory.environment(env_id).await?;
    let scopes = directory.scopes_supported(env_id).await?;
    let issuer = base.issuer(&env.id);
    let client_auth = strings(env.settings.profile.auth_methods());
    let fapi2 = env.settings.profile.forbids_rs256();
    let registration_endpoint = env
        .settings
        .registration
        .dynamic
        .then(|| format!("{issuer}{}", paths::REGISTER));
    Ok(ProviderMetadata {
        registration_endpoint,
        client_id_metadata_document_supported: env.settings.registration.client_id_metadata_documents,
        authorization_endpoint: format!("{issuer}{}", paths::AUTHORIZE),
        pushed_authorization_request_endpoint: format!("{issuer}{}", paths::PAR),
        require_pushed_authorization_requests: env.settings.require_par || env.settings.profile.requires_par(),
        dpop_signing_alg_values_supported: pixie_core::dpop::ALGORITHMS
            .iter()
            .filter(|a| !(fapi2 && **a == "RS256"))
            .map(|a| (*a).to_owned())
            .collect(),
        token_endpoint_auth_signing_alg_values_supported: strings(&pixie_core::assertion::ALGORITHMS),
        token_endpoint: format!("{issuer}{}", paths::TOKEN),
        jwks_uri: format!("{issuer}{}", paths::JWKS),
        userinfo_endpoint: format!("{issuer}{}", paths::USERINFO),
        introspection_endpoint: format!("{issuer}{}", paths::INTROSPECT),
        revocation_endpoint: format!("{issuer}{}", paths::REVOKE),
        issuer,
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        grant_types_supported: strings(&["authorization_code", "refresh_token", "client_credentials"]),
        code_challenge_methods_supported: env.pkce.allowed.names().into_iter().map(str::to_owned).collect(),
        token_endpoint_auth_methods_supported: client_auth.clone(),
        introspection_endpoint_auth_methods_supported: client_auth.clone(),
        revocation_endpoint_auth_methods_supported: client_auth.clone(),
        id_token_signing_alg_values_supported: match fapi2 {
            true => strings(&["ES256"]),
            false => strings(&["RS256", "ES256"]),
        },
        subject_types_supported: strings(&["public"]),
        scopes_supported: scopes,
        claims_supported: strings(&[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "name",
            "preferred_username",
            "email",
        ]),
        prompt_values_supported: strings(&["none", "login"]),
        authorization_response_iss_parameter_supported: true,
    })
}

/// `GET <issuer>/.well-known/openid-configuration`.
pub(super) async fn openid_configuration(
    State(directory): State<Arc<Directory>>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(metadata(&directory, &base, &env).await?))
}

/// `GET <public-url>/.well-known/oauth-authorization-server/<env>` (RFC 8414 §3).
pub(super) async fn oauth_metadata(
    State(directory): State<Arc<Directory>>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(metadata(&directory, &base, &env).await?))
}

/// `GET <issuer>/as/jwks`.
pub(super) async fn jwks(
    State(s): State<super::state::AppState>,
    Path(env): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let keys = s.svc.env_keys(&env).await?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(keys.jwks(s.svc.now())),
    ))
}
