//! Wire types: the JSON bodies pixie sends and receives, shared by the server, the CLI
//! and the tests.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::client::ClientMetadata;
use crate::error::OAuthError;
use crate::lifetimes::Lifetimes;
use crate::policy::EnvPkcePolicy;

/// An OAuth / admin API error body (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error code.
    pub error: String,
    /// What went wrong; names the parameter or field at fault.
    pub error_description: String,
}

impl From<&OAuthError> for ErrorBody {
    fn from(e: &OAuthError) -> Self {
        Self {
            error: e.code.as_str().into(),
            error_description: e.description.to_string(),
        }
    }
}

/// `POST /admin/environments`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    /// The environment id: `^[a-z0-9][a-z0-9-]{0,62}$`.
    pub id: String,
    /// Its PKCE policy; fields left out take the strict defaults.
    #[serde(default)]
    pub pkce: EnvPkcePolicy,
    /// Its lifetimes; fields left out take the defaults.
    #[serde(default)]
    pub lifetimes: Lifetimes,
    /// How clients may register themselves; fields left out are off.
    #[serde(default)]
    pub registration: crate::registration::RegistrationSettings,
    /// Every authorization request must be pushed (RFC 9126); off by default.
    #[serde(default)]
    pub require_par: bool,
    /// DPoP proofs must carry a server-provided nonce (RFC 9449 §8); off by default.
    #[serde(default)]
    pub dpop_nonce: bool,
    /// `"fapi2"`: the FAPI 2.0 rules for every client; none by default.
    #[serde(default)]
    pub profile: crate::profile::Profile,
}

/// `PATCH /admin/environments/<env>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchEnvironment {
    /// The new PKCE policy; fields left out take the strict defaults.
    pub pkce: Option<EnvPkcePolicy>,
    /// The new lifetimes; fields left out take the defaults.
    pub lifetimes: Option<Lifetimes>,
    /// How clients may register themselves; fields left out are off.
    #[serde(default)]
    pub registration: Option<crate::registration::RegistrationSettings>,
    /// Whether every authorization request must be pushed.
    #[serde(default)]
    pub require_par: Option<bool>,
    /// Whether DPoP proofs must carry a server-provided nonce.
    #[serde(default)]
    pub dpop_nonce: Option<bool>,
    /// The profile (`"fapi2"`, or `"none"`).
    #[serde(default)]
    pub profile: Option<crate::profile::Profile>,
}

/// An environment as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    /// The environment id.
    pub id: String,
    /// Its issuer: `<public-url>/<id>`.
    pub issuer: String,
    /// Its PKCE policy.
    pub pkce: EnvPkcePolicy,
    /// Its lifetimes.
    pub lifetimes: Lifetimes,
    /// How clients may register themselves.
    pub registration: crate::registration::RegistrationSettings,
    /// Whether every authorization request must be pushed (RFC 9126).
    pub require_par: bool,
    /// Whether DPoP proofs must carry a server-provided nonce (RFC 9449 §8).
    pub dpop_nonce: bool,
    /// Its profile.
    pub profile: crate::profile::Profile,
}

/// An application as the admin API shows it (RFC 7591 §3.2.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Application {
    /// The client id.
    pub client_id: String,
    /// The secret; only in the response that created (or re-keyed) it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// When the client id was issued (seconds since the epoch).
    pub client_id_issued_at: i64,
    /// 0: the secret does not expire. Present for confidential clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// The registered metadata.
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// `POST /admin/environments/<env>/resources`: a resource server (RFC 8707).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateResource {
    /// The resource URI: absolute, no fragment.
    pub uri: String,
    /// The scopes it defines (they become scopes of the environment).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A name for people.
    #[serde(default)]
    pub name: Option<String>,
}

/// A resource server as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The resource URI.
    pub uri: String,
    /// The scopes it defines.
    pub scopes: Vec<String>,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it was registered.
    pub created_at: i64,
}

/// A page of a list (CONTRACT §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPage<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page; `null` at the end.
    pub next: Option<String>,
}

/// A signing key as the admin API lists it (CONTRACT §9); never its private part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SigningKeyInfo {
    /// The JWK `kid`.
    pub kid: String,
    /// `ES256` or `RS256`.
    pub alg: String,
    /// When it was made.
    pub created_at: i64,
    /// `active` (it signs), `retiring` (in the JWKS until `retire_at`), `retired`.
    pub status: String,
    /// When it leaves (left) the JWKS; absent for the active key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_at: Option<i64>,
}

/// `POST /admin/environments/<env>/keys/rotate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// The algorithm of the new key: `ES256` (the default) or `RS256`.
    #[serde(default)]
    pub alg: Option<crate::client::SigningAlg>,
}

/// `POST /admin/environments/<env>/users`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// The sign-on name, unique in its environment.
    pub username: String,
    /// The password; stored only as an Argon2id hash.
    pub password: String,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Roles (`admin` may use the console); none by default.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateUser")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// `PATCH /admin/environments/<env>/users/<id>`: the fields given change; `null`
/// clears `email` or `name`. A new `password`, or `disabled: true`, ends the user's
/// sessions and revokes every token issued to them.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    /// A new e-mail address (`null` clears it).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub email: Option<Option<String>>,
    /// A new full name (`null` clears it).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub name: Option<Option<String>>,
    /// A new password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The new roles (replacing the old ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Disable (`true`) or enable (`false`) the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// A field that is present, even as `null`: `Some(None)` then.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl fmt::Debug for PatchUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatchUser")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("roles", &self.roles)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// A user as the admin API shows it; never the password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// The user id (the `sub` of its tokens).
    pub id: String,
    /// The sign-on name.
    pub username: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Full name.
    pub name: Option<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Whether the user is disabled (cannot sign on).
    #[serde(default)]
    pub disabled: bool,
    /// When it was created (seconds since the epoch).
    pub created_at: i64,
}

/// OpenID Connect Discovery 1.0 / RFC 8414 metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer identifier.
    pub issuer: String,
    /// RFC 7591's registration endpoint, when clients may register themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// `true` when a client may be identified by the URL of its metadata document.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_id_metadata_document_supported: bool,
    /// Where authorization requests go.
    pub authorization_endpoint: String,
    /// RFC 9126's pushed authorization request endpoint.
    pub pushed_authorization_request_endpoint: String,
    /// Whether every authorization request must be pushed.
    pub require_pushed_authorization_requests: bool,
    /// The algorithms DPoP proofs may use (RFC 9449 §5.1).
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// The algorithms `private_key_jwt` assertions may use.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// Where token requests go.
    pub token_endpoint: String,
    /// The JSON Web Key Set.
    pub jwks_uri: String,
    /// OpenID Connect UserInfo.
    pub userinfo_endpoint: String,
    /// RFC 7662 introspection.
    pub introspection_endpoint: String,
    /// RFC 7009 revocation.
    pub revocation_endpoint: String,
    /// `["code"]`.
    pub response_types_supported: Vec<String>,
    /// `["query"]`.
    pub response_modes_supported: Vec<String>,
    /// The grants the token endpoint accepts.
    pub grant_types_supported: Vec<String>,
    /// The environment's allowed PKCE methods, exactly.
    pub code_challenge_methods_supported: Vec<String>,
    /// Client authentication methods at the token endpoint.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Client authentication methods at introspection.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// Client authentication methods at revocation.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// ID token signing algorithms.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `["public"]`.
    pub subject_types_supported: Vec<String>,
    /// Scopes clients may ask for.
    pub scopes_supported: Vec<String>,
    /// Claims pixie can return.
    pub claims_supported: Vec<String>,
    /// `prompt` values understood.
    pub prompt_values_supported: Vec<String>,
    /// RFC 9207: `iss` in authorization responses.
    pub authorization_response_iss_parameter_supported: bool,
}

/// A successful token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token (a JWT, RFC 9068).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The granted scopes, space-separated; left out when none were granted (RFC 6749
    /// §5.1: then it is what was asked for, nothing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The ID token, when `openid` was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The refresh token, when the client has the `refresh_token` grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// A sign-on flow as the flows API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    /// The flow id.
    pub id: String,
    /// `USERNAME_PASSWORD_REQUIRED` or `COMPLETED`.
    pub status: String,
    /// Where to resume once `COMPLETED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_url: Option<String>,
    /// When the flow expires (seconds since the epoch).
    pub expires_at: i64,
    /// What the flow accepts next, PingOne style.
    #[serde(rename = "_links")]
    pub links: serde_json::Value,
}

/// An error from the flows API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowError {
    /// `INVALID_CREDENTIALS`, `INVALID_REQUEST`, `NOT_FOUND`, `UNSUPPORTED_MEDIA_TYPE`, …
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// `POST <issuer>/flows/<id>` with `application/vnd.pixie.usernamePassword.check+json`.
#[derive(Clone, Serialize, Deserialize)]
pub struct UsernamePassword {
    /// The sign-on name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for UsernamePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsernamePassword")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The media type of a username/password check in the flows API.
pub const USERNAME_PASSWORD_CHECK: &str = "application/vnd.pixie.usernamePassword.check+json";

/// The content type of a consent decision posted to a flow.
pub const CONSENT_DECISION: &str = "application/vnd.pixie.consent+json";

/// `POST <issuer>/flows/<id>` with [`CONSENT_DECISION`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentDecision {
    /// Whether the user approves.
    pub approve: bool,
}

/// The client a consent is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentClient {
    /// The client id.
    pub client_id: String,
    /// Its name, as it registered it.
    pub client_name: String,
    /// The host its codes go to.
    pub redirect_host: String,
    /// Whether the operator registered it (false for clients that registered themselves).
    pub verified: bool,
}

/// A flow waiting for consent, as the flows API shows it (CONTRACT §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentFlow {
    /// The flow id.
    pub id: String,
    /// `CONSENT_REQUIRED`.
    pub status: String,
    /// The client.
    pub client: ConsentClient,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The resources asked for.
    pub resources: Vec<String>,
    /// When the flow expires.
    pub expires_at: i64,
    /// What the flow accepts next.
    #[serde(rename = "_links")]
    pub links: serde_json::Value,
}

/// A remembered consent, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The client.
    pub client_id: String,
    /// The scopes approved.
    pub scopes: Vec<String>,
    /// The resources approved.
    pub resources: Vec<String>,
    /// When.
    pub created_at: i64,
}

/// An RFC 7662 introspection response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// Granted scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client it was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user's sign-on name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer` or `refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<crate::claims::Audience>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The DPoP key a bound access token is for (RFC 9449 §6.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::claims::Confirmation>,
}
