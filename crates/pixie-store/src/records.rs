//! The rows the store reads and writes.

use pixie_core::client::ClientMetadata;
use pixie_core::lifetimes::Lifetimes;
use pixie_core::EnvPkcePolicy;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::exec::{col, Columns, FromRow};
use crate::{StoreError, StoreResult};

pub(crate) fn to_json<T: Serialize>(v: &T) -> String {
    // Serializing these plain structs cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

fn from_json<T: DeserializeOwned>(row: &impl Columns, name: &str) -> StoreResult<T> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

/// An environment (tenant) and its PKCE policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRow {
    /// The environment id.
    pub id: String,
    /// Its PKCE policy.
    pub pkce: EnvPkcePolicy,
    /// Its other settings.
    pub settings: EnvSettings,
    /// Creation time.
    pub created_at: i64,
}

/// An environment's settings beyond its PKCE policy (stored as one JSON column).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnvSettings {
    /// Lifetimes of codes, flows, sessions and tokens.
    #[serde(default)]
    pub lifetimes: Lifetimes,
    /// How clients may register themselves.
    #[serde(default)]
    pub registration: pixie_core::registration::RegistrationSettings,
    /// Every authorization request must be pushed (RFC 9126).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_par: bool,
    /// DPoP proofs must carry a server-provided nonce (RFC 9449 §8).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop_nonce: bool,
    /// A profile whose rules apply to every client (CONTRACT §8: `fapi2`).
    #[serde(default, skip_serializing_if = "pixie_core::profile::Profile::is_none")]
    pub profile: pixie_core::profile::Profile,
}

impl FromRow for EnvironmentRow {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self {
            id: col(r, "id")?,
            pkce: from_json(r, "pkce_policy")?,
            settings: from_json(r, "settings")?,
            created_at: col(r, "created_at")?,
        })
    }
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    /// Its environment.
    pub env_id: String,
    /// The client id.
    pub client_id: String,
    /// SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<Vec<u8>>,
    /// RFC 7591 metadata.
    pub metadata: ClientMetadata,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// For a client identified by its metadata document (its id is the document's URL):
    /// when the document is to be fetched again. `None` for every other client.
    pub document_expires_at: Option<i64>,
}

impl FromRow for ClientRow {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self {
            env_id: col(r, "env_id")?,
            client_id: col(r, "client_id")?,
            secret_hash: col(r, "secret_hash")?,
            metadata: from_json(r, "metadata")?,
            created_at: col(r, "created_at")?,
            updated_at: col(r, "updated_at")?,
            document_expires_at: col(r, "document_expires_at")?,
        })
    }
}

/// A user who can sign on.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Its environment.
    pub env_id: String,
    /// The user id, the `sub` of its tokens.
    pub id: String,
    /// The sign-on name.
    pub username: String,
    /// The Argon2id PHC string.
    pub password_hash: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Full name.
    pub name: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Roles (CONTRACT §5; `admin` may use the console).
    pub roles: Vec<String>,
    /// When the user was disabled; a disabled user cannot sign on.
    pub disabled_at: Option<i64>,
    /// Moves on with every change of credentials (password, disabling): what was
    /// signed on under an older generation cannot start a session or a grant.
    pub generation: i64,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("env_id", &self.env_id)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl FromRow for UserRow {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self {
            env_id: col(r, "env_id")?,
            id: col(r, "id")?,
            username: col(r, "username")?,
            password_hash: col(r, "password_hash")?,
            email: col(r, "email")?,
            name: col(r, "name")?,
            created_at: col(r, "created_at")?,
            roles: from_json(r, "roles")?,
            disabled_at: col(r, "disabled_at")?,
            generation: col(r, "generation")?,
        })
    }
}

/// A signing key, its private half encrypted with the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// Its environment.
    pub env_id: String,
    /// The JWK `kid`.
    pub kid: String,
    /// The JWS algorithm: `RS256` or `ES256`.
    pub alg: String,
    /// Nonce and AES-256-GCM ciphertext of the PKCS#8 private key.
    pub private_enc: Vec<u8>,
    /// The public JWK, as JSON.
    pub public_jwk: String,
    /// Creation time.
    pub created_at: i64,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("env_id", &self.env_id)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl FromRow for KeyRow {
    fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Self {
            env_id: col(r, "env_id")?,
            kid: col(r, "kid")?,
            alg: col(r, "alg")?,
            private_enc: col(r, "private_enc")?,
            public_jwk: col(r, "public_jwk")?,
            created_at: col(r, "created_at")?,
        })
    }
}
