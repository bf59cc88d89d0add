//! The token endpoint (RFC 6749 §3.2, §4.1.3; OAuth 2.1 §3.2): client authentication,
//! then the grant. Every answer is `Cache-Control: no-store`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pixie_core::client::{AuthMethod, GrantType};
use pixie_core::params::Params;
use pixie_core::token::{check_code, invalid_client, presented_client, CodeBinding, PresentedClient};
use pixie_core::wire::ErrorBody;
use pixie_core::{ErrorCode, OAuthError};
use pixie_store::ClientRow;

use super::AppState;
use crate::authz::{CodeData, Grant};
use crate::crypto;
use crate::error::ApiError;

/// Why a token request failed.
pub(super) enum Failure {
    /// An OAuth error; `basic` when the client used HTTP Basic (401 needs the challenge).
    OAuth(OAuthError, bool),
    /// The store or a bug.
    Api(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<OAuthError> for Failure {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e, false)
    }
}

fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut resp = match self {
            Failure::Api(e) => e.into_response(),
            Failure::OAuth(e, basic) => {
                let status = if e.code == ErrorCode::InvalidClient {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                };
                let mut resp = (status, Json(ErrorBody::from(&e))).into_response();
                // RFC 6749 §5.2: a client that tried HTTP Basic gets the Basic challenge.
                if status == StatusCode::UNAUTHORIZED && basic {
                    resp.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"pixie\""),
                    );
                }
                resp
            }
        };
        no_store(&mut resp);
        resp
    }
}

/// Authenticates the client a token (or introspection, revocation) request presents.
pub(super) async fn authenticate(
    s: &AppState,
    env_id: &str,
    presented: &PresentedClient,
) -> Result<ClientRow, Failure> {
    let basic = presented.method == AuthMethod::ClientSecretBasic;
    // One answer for every failure (an unknown client, the wrong method, the wrong
    // secret): it must not tell a caller which client ids exist or how they
    // authenticate. The reason goes to the audit log, for the operator.
    let fail = |reason: &'static str| {
        let fields = serde_json::json!({"env": env_id, "reason": reason});
        s.svc.obs.audit(s.svc.now(), "client.authentication_failed", fields);
        Failure::OAuth(
            invalid_client("client authentication failed: check client_id, the authentication method and the secret"),
            basic,
        )
    };
    let Some(client) = s.svc.lookup_client(env_id, &presented.client_id).await? else {
        return Err(fail("unknown client_id"));
    };
    if client.metadata.token_endpoint_auth_method != presented.method {
        return Err(fail(match client.metadata.token_endpoint_auth_method {
            AuthMethod::None => "a public client sent a secret",
            AuthMethod::ClientSecretBasic => "a client_secret_basic client used another method",
            AuthMethod::ClientSecretPost => "a client_secret_post client used another method",
        }));
    }
    if presented.method != AuthMethod::None {
        let ok = match (&client.secret_hash, &presented.secret) {
            (Some(hash), Some(secret)) => crypto::ct_eq(&crypto::sha256(secret.as_bytes()), hash),
            _ => false,
        };
        if !ok {
            return Err(fail("wrong client_secret"));
        }
    }
    Ok(client)
}

/// The `Authorization` header, if sent. One that is not visible ASCII is refused
/// (`invalid_client`), never ignored in favour of credentials in the body.
pub(super) fn authorization(headers: &HeaderMap) -> Result<Option<&str>, Failure> {
    match headers.get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| Failure::OAuth(invalid_client("Authorization: the header is not ASCII"), true)),
    }
}

/// `POST <issuer>/as/token`.
pub(super) async fn token(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token_inner(&s, &env_id, &base.issuer(&env_id), &headers, &body).await {
        Ok(resp) => resp,
        Err(f) => {
            if let Failure::OAuth(e, _) = &f {
                let fields =
                    serde_json::json!({"env": env_id, "error": e.code.as_str(), "error_description": e.description});
                s.svc.obs.audit(s.svc.now(), "token.rejected", fields);
            }
            f.into_response()
        }
    }
}

/// Checks the body is a form, and parses it.
pub(super) fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
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

async fn token_inner(
    s: &AppState,
    env_id: &str,
    issuer: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Failure> {
    let env = s.svc.environment(env_id).await?;
    let params = form_params(headers, body)?;
    let authorization = authorization(headers)?;
    let presented = presented_client(authorization, &params).map_err(|e| Failure::OAuth(e, authorization.is_some()))?;
    let client = authenticate(s, env_id, &presented).await?;
    if let Some(name) = params.first_repeated() {
        return Err(OAuthError::invalid_request(format!("{} is repeated", pixie_core::params::quote(name, 40))).into());
    }
    let grant = match params.non_empty("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is missing").into()),
        Some("authorization_code") => GrantType::AuthorizationCode,
        Some("refresh_token") => GrantType::RefreshToken,
        Some("client_credentials") => GrantType::ClientCredentials,
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type '{}' is not supported", pixie_core::params::quote(other, 40)),
            )
            .into())
        }
    };
    if !client.metadata.has_grant(grant) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("grant_type: this client is not registered for {}", grant.as_str()),
        )
        .into());
    }
    let issued = match grant {
        GrantType::AuthorizationCode => exchange_code(s, &env, &client, &params, issuer).await?,
        GrantType::RefreshToken => super::grants::refresh(s, &env, &client, &params, issuer).await?,
        GrantType::ClientCredentials => super::grants::client_credentials(s, &env, &client, &params, issuer).await?,
    };
    let mut resp = Json(issued).into_response();
    no_store(&mut resp);
    Ok(resp)
}

async fn exchange_code(
    s: &AppState,
    env: &pixie_store::EnvironmentRow,
    client: &ClientRow,
    params: &Params,
    issuer: &str,
) -> Result<pixie_core::wire::TokenResponse, Failure> {
    let env_id = env.id.as_str();
    let code = params
        .non_empty("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let hash = crypto::sha256(code.as_bytes());
    let now = s.svc.now();
    let Some(row) = s
        .svc
        .store
        .consume_code(env_id, &hash, &client.client_id, now)
        .await
        .map_err(ApiError::from)?
    else {
        // Not consumed: a replay by its own client revokes what the code gave (RFC 6749 §10.5).
        if let Some(used) = s.svc.store.get_code(env_id, &hash).await.map_err(ApiError::from)? {
            if used.client_id == client.client_id && used.used_at.is_some() {
                // Revoking the grant also stops an exchange of this code that is still
                // issuing tokens (see `Store::insert_refresh_token`).
                let n = s
                    .svc
                    .store
                    .revoke_grant(env_id, &used.grant_id, now)
                    .await
                    .map_err(ApiError::from)?;
                tracing::warn!(env = env_id, client = %client.client_id, revoked = n, "authorization code replayed: its tokens are revoked");
                let fields = serde_json::json!({"env": env_id, "client": client.client_id, "revoked": n});
                s.svc.obs.audit(now, "code.replayed", fields);
                return Err(OAuthError::new(
                    ErrorCode::InvalidGrant,
                    "code was already used; the tokens issued for it are revoked",
                )
                .into());
            }
        }
        return Err(OAuthError::new(
            ErrorCode::InvalidGrant,
            "code is invalid, expired, revoked (its session ended), or was issued to another client",
        )
        .into());
    };
    let data: CodeData = serde_json::from_str(&row.data).map_err(ApiError::internal)?;
    let challenge = data.pending.recorded_challenge()?;
    let binding = CodeBinding {
        redirect_uri: &data.pending.redirect_uri,
        redirect_uri_sent: data.pending.redirect_uri_sent,
        challenge: challenge.as_ref(),
    };
    // The code is spent whatever happens next: a failed verifier cannot be retried.
    if let Err(e) = check_code(&binding, params) {
        if let pixie_core::token::CodeCheckError::Pkce(r) = &e {
            let fields = serde_json::json!({"env": env_id, "client": client.client_id, "rule": r.rule.as_str()});
            s.svc.obs.audit(now, "pkce.token_rejected", fields);
        }
        return Err(e.error().clone().into());
    }
    let user = s.svc.lookup_user(env_id, &row.user_id).await?.ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidGrant,
            "code: the user it was issued for no longer exists",
        )
    })?;
    let grant = Grant {
        client,
        user: Some(&user),
        grant_id: &row.grant_id,
        scopes: &data.pending.scopes,
        auth_time: Some(data.auth_time),
        nonce: data.pending.nonce.as_deref(),
        grant_start: row.created_at,
        with_refresh: true,
        sid: data.sid.as_deref(),
        grant_type: "authorization_code",
        issuer,
    };
    Ok(s.svc.issue_tokens(env, grant).await?)
}
