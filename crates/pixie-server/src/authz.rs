//! The authorization code flow's state and its tokens: flows, sessions, codes, and
//! token issuance. Handlers call these; the protocol decisions come from the core.

use std::sync::Arc;

use pixie_core::authorize::AuthorizeRequest;
use pixie_core::claims::{AccessTokenClaims, Audience, IdTokenClaims};
use pixie_core::client::ClientMetadata;
use pixie_core::client::GrantType;
use pixie_core::lifetimes::Lifetimes;
use pixie_core::{ChallengeMethod, CodeChallenge};
use pixie_store::{ClientRow, CodeRow, EnvironmentRow, FlowRow, FlowStatus, GrantRow, SessionRow, TokenRow, UserRow};
use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::jwt;
use crate::service::Service;

/// A validated authorization request, kept with its flow until the user signs on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The client.
    pub client_id: String,
    /// The redirect URI to answer to.
    pub redirect_uri: String,
    /// Whether the request sent `redirect_uri` (the token request must repeat it).
    pub redirect_uri_sent: bool,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// `state`.
    pub state: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// The recorded PKCE challenge.
    pub challenge: Option<String>,
    /// Its method.
    pub challenge_method: Option<ChallengeMethod>,
    /// The resources asked for (RFC 8707), registered ones only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The DPoP key the code is bound to (RFC 9449 §10 `dpop_jkt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

impl Pending {
    /// Builds from a validated request.
    pub fn new(client_id: &str, redirect_uri: String, redirect_uri_sent: bool, req: &AuthorizeRequest) -> Self {
        Self {
            client_id: client_id.to_owned(),
            redirect_uri,
            redirect_uri_sent,
            scopes: req.scopes.clone(),
            state: req.state.clone(),
            nonce: req.nonce.clone(),
            challenge: req.pkce.recorded.as_ref().map(CodeChallenge::value),
            challenge_method: req.pkce.recorded.as_ref().map(CodeChallenge::method),
            resources: Vec::new(),
            dpop_jkt: None,
        }
    }

    /// The recorded challenge, parsed back.
    pub fn recorded_challenge(&self) -> ApiResult<Option<CodeChallenge>> {
        match (&self.challenge, self.challenge_method) {
            (Some(c), Some(m)) => CodeChallenge::parse(m, c).map(Some).map_err(ApiError::internal),
            _ => Ok(None),
        }
    }
}

/// What a code carries to the token endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeData {
    /// The authorization request.
    pub pending: Pending,
    /// When the user signed on.
    pub auth_time: i64,
    /// The session the code came from.
    #[serde(default)]
    pub sid: Option<String>,
}

/// A session's public id (`sid`): derived from the hash of its cookie, so it names the
/// session without revealing anything that would let one present it.
pub fn session_id(id_hash: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&id_hash[..id_hash.len().min(16)])
}

/// What an access or refresh token row carries beyond its columns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenData {
    /// When the user signed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The ID token nonce (kept for refreshed ID tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// When the grant began: the refresh token's absolute lifetime counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_start: Option<i64>,
    /// The resources granted (RFC 8707): a refresh may narrow them, never widen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The DPoP key a public client's refresh token is bound to (RFC 9449 §5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

/// Everything a token issuance needs to know about the grant.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    /// The client.
    pub client: &'a ClientRow,
    /// The user; `None` for client credentials.
    pub user: Option<&'a UserRow>,
    /// The token family.
    pub grant_id: &'a str,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// When the user signed on.
    pub auth_time: Option<i64>,
    /// The ID token nonce.
    pub nonce: Option<&'a str>,
    /// When the grant began.
    pub grant_start: i64,
    /// Whether a refresh token may come with it.
    pub with_refresh: bool,
    /// The session the grant came from (ending it revokes the tokens).
    pub sid: Option<&'a str>,
    /// The grant type, for metrics and the audit log.
    pub grant_type: &'static str,
    /// The issuer the tokens name (the request's public base and environment).
    pub issuer: &'a str,
    /// The resources the access token is for (RFC 8707); none: the client.
    pub resources: &'a [String],
    /// The grant's resources, which a refresh token carries on (a refresh may name any
    /// of them).
    pub granted_resources: &'a [String],
    /// The DPoP key the tokens are bound to (`cnf.jkt`), when the request had a proof.
    pub jkt: Option<&'a str>,
}

/// The lifetimes that apply to a client of an environment.
pub fn lifetimes(env: &EnvironmentRow, client: &ClientMetadata) -> Lifetimes {
    env.settings.lifetimes.for_client(&client.lifetimes)
}

/// Where a flow was signed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletedVia {
    /// The sign-on page's form, in the browser holding the flow cookie.
    Form,
    /// The flows API (no cookie needed).
    Api,
}

impl CompletedVia {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Form => "form",
            Self::Api => "api",
        }
    }
}

/// A completed sign-on flow, resumed.
#[derive(Debug)]
pub struct CompletedFlow {
    /// The authorization request.
    pub pending: Pending,
    /// The user who signed on.
    pub user_id: String,
    /// The user's generation then (see [`pixie_store::UserRow::generation`]).
    pub user_generation: i64,
    /// When they signed on.
    pub auth_time: i64,
    /// Whether they refused consent.
    pub denied: bool,
}

/// What a username and password came to.
#[derive(Debug)]
pub enum Credentials {
    /// They are a user's, who may sign on.
    Valid(UserRow),
    /// They are a disabled user's (this id): right, but no sign-on.
    Disabled(String),
    /// The user (this id) exists; the password is wrong.
    WrongPassword(String),
    /// No such user.
    UnknownUser,
}

impl Service {
    /// Creates a sign-on flow bound to `cookie` (the flow cookie's value).
    pub async fn start_flow(&self, env_id: &str, pending: &Pending, cookie: &str, lt: &Lifetimes) -> ApiResult<String> {
        let now = self.now();
        let flow = FlowRow {
            env_id: env_id.to_owned(),
            id: crypto::random_token::<16>(),
            cookie_hash: crypto::sha256(cookie.as_bytes()).to_vec(),
            client_id: pending.client_id.clone(),
            request: serde_json::to_string(pending).map_err(ApiError::internal)?,
            status: FlowStatus::UsernamePasswordRequired,
            user_id: None,
            auth_time: None,
            failures: 0,
            created_at: now,
            expires_at: now + lt.flow,
            completed_via: None,
            consent: None,
            user_generation: 0,
        };
        self.store.insert_flow(&flow).await?;
        Ok(flow.id)
    }

    /// A live flow, or 404.
    pub async fn flow(&self, env_id: &str, flow_id: &str) -> ApiResult<FlowRow> {
        self.store
            .get_flow(env_id, flow_id, self.now())
            .await?
            .ok_or(ApiError::NotFound("flow"))
    }

    /// Checks a username and password. An unknown user costs the same Argon2 work as a
    /// known one, so timing tells nothing.
    pub async fn check_credentials(&self, env_id: &str, username: &str, password: &str) -> ApiResult<Credentials> {
        // The name as created (canonical), or, for a user created before names were
        // made canonical (whose name today's rules might refuse), as stored.
        let user = match pixie_core::names::canonical_username(username) {
            Ok(name) => match self.store.get_user_by_username(env_id, &name).await? {
                None if name != username => self.store.get_user_by_username(env_id, username).await?,
                found => found,
            },
            Err(_) => self.store.get_user_by_username(env_id, username).await?,
        };
        let ok = self
            .passwords
            .verify(user.as_ref().map(|u| u.password_hash.clone()), password)
            .await?;
        Ok(match user {
            Some(u) if ok && u.disabled_at.is_some() => Credentials::Disabled(u.id),
            Some(u) if ok => Credentials::Valid(u),
            Some(u) => Credentials::WrongPassword(u.id),
            None => Credentials::UnknownUser,
        })
    }

    /// The hash unknown users are checked against (tests compare its parameters).
    #[doc(hidden)]
    pub async fn dummy_password_hash_for_tests(&self) -> String {
        self.passwords.dummy_hash().await.unwrap_or_default()
    }

    /// Marks a flow signed on by `user`, `via` the page's form or the flows API. False
    /// when the flow was not waiting.
    pub async fn complete_flow(
        &self,
        env_id: &str,
        flow_id: &str,
        user: &UserRow,
        via: CompletedVia,
    ) -> ApiResult<bool> {
        Ok(self
            .store
            .complete_flow(env_id, flow_id, (&user.id, user.generation), self.now(), via.as_str())
            .await?)
    }

    /// Resumes a completed flow for the user agent holding `cookie`, once.
    pub async fn consume_flow(&self, env_id: &str, flow_id: &str, cookie: &str) -> ApiResult<Option<CompletedFlow>> {
        let hash = crypto::sha256(cookie.as_bytes());
        let Some(flow) = self.store.consume_flow(env_id, flow_id, &hash, self.now()).await? else {
            return Ok(None);
        };
        let pending: Pending = serde_json::from_str(&flow.request).map_err(ApiError::internal)?;
        Ok(Some(CompletedFlow {
            pending,
            user_id: flow.user_id.ok_or(ApiError::Internal)?,
            user_generation: flow.user_generation,
            auth_time: flow.auth_time.unwrap_or_else(|| self.now()),
            denied: flow.consent.as_deref() == Some("denied"),
        }))
    }

    /// Starts a session for `(user id, generation)` signed on at `auth_time`; returns
    /// the cookie value and the session. `None` when the user was disabled, removed or
    /// changed their password since signing on.
    pub async fn start_session(
        &self,
        env_id: &str,
        (user_id, generation): (&str, i64),
        auth_time: i64,
        lt: &Lifetimes,
    ) -> ApiResult<Option<(String, SessionRow)>> {
        let cookie = crypto::random_token::<32>();
        let now = self.now();
        let session = SessionRow {
            id_hash: crypto::sha256(cookie.as_bytes()).to_vec(),
            env_id: env_id.to_owned(),
            user_id: user_id.to_owned(),
            auth_time,
            created_at: now,
            expires_at: now + lt.session,
            user_generation: generation,
        };
        Ok(self.store.insert_session(&session).await?.then_some((cookie, session)))
    }

    /// The live session a session cookie names, if any.
    pub async fn session(&self, env_id: &str, cookie: &str) -> ApiResult<Option<SessionRow>> {
        Ok(self
            .store
            .get_session(env_id, &crypto::sha256(cookie.as_bytes()), self.now())
            .await?)
    }

    /// Issues a code for the user of a live session; returns the code. `None` when the
    /// session has ended meanwhile (its user was disabled, say).
    pub async fn issue_code(
        &self,
        env_id: &str,
        pending: &Pending,
        session: &SessionRow,
        lt: &Lifetimes,
    ) -> ApiResult<Option<String>> {
        let (user_id, auth_time) = (session.user_id.as_str(), session.auth_time);
        let sid = session_id(&session.id_hash);
        let sid = sid.as_str();
        // Codes and grants sort by when they were made (see `pixie_core::ids`).
        let code = crypto::sortable_token::<{ pixie_core::ids::CODE_RANDOM_BYTES }>();
        let now = self.now();
        let data = CodeData {
            pending: pending.clone(),
            auth_time,
            sid: Some(sid.to_owned()),
        };
        let grant = GrantRow {
            env_id: env_id.to_owned(),
            id: crypto::sortable_token::<16>(),
            client_id: pending.client_id.clone(),
            user_id: Some(user_id.to_owned()),
            sid: Some(sid.to_owned()),
            created_at: now,
            // The code, then the access token issued for it; a refresh token, when one
            // is stored, keeps the grant longer (`insert_refresh_token`).
            expires_at: now + lt.code + lt.access_token,
        };
        let row = CodeRow {
            code_hash: pixie_core::ids::code_key(&code),
            env_id: env_id.to_owned(),
            client_id: pending.client_id.clone(),
            user_id: user_id.to_owned(),
            grant_id: grant.id.clone(),
            data: serde_json::to_string(&data).map_err(ApiError::internal)?,
            created_at: now,
            expires_at: now + lt.code,
            used_at: None,
        };
        // A client removed meanwhile gets no code (the store checks it again, with
        // the consent the code rests on, as it stores the code).
        let Some(client) = self.lookup_client(env_id, &pending.client_id).await? else {
            return Ok(None);
        };
        let consent = crate::grants::consent::applies(&client)
            .then(|| pixie_core::claims::consent_key(&pending.scopes, &pending.resources));
        let consent = consent.as_ref().map(|(s, r)| (s.as_str(), r.as_str()));
        if !self.store.insert_code(&row, &grant, &session.id_hash, consent).await? {
            return Ok(None);
        }
        // A client that registered itself is kept once it completes a flow.
        if client.metadata.self_registered {
            self.store.mark_client_used(env_id, &client.client_id).await?;
        }
        Ok(Some(code))
    }

    /// Issues an access token, and an ID token and refresh token where they apply, and
    /// records them under the grant.
    pub async fn issue_tokens(&self, env: &EnvironmentRow, g: Grant<'_>) -> ApiResult<pixie_core::wire::TokenResponse> {
        let Grant {
            client,
            user,
            grant_id,
            scopes,
            auth_time,
            nonce,
            grant_start,
            with_refresh,
            grant_type,
            sid,
            issuer,
            resources,
            granted_resources,
            jkt,
        } = g;
        let env_id = env.id.as_str();
        let lt = lifetimes(env, &client.metadata);
        let keys: Arc<_> = self.env_keys(env_id).await?;
        let now = self.now();
        let exp = now + lt.access_token;
        let scope = scopes.join(" ");
        let jti = crypto::random_token::<16>();
        let sub = user.map_or(client.client_id.as_str(), |u| u.id.as_str());
        // Access tokens are not stored: `gid` and `sid` say which revocations apply to
        // it (its grant's, its session's; see `check_access_token`).
        let at_claims = AccessTokenClaims {
            iss: issuer.to_owned(),
            sub: sub.to_owned(),
            aud: Audience::for_access_token(&client.client_id, resources),
            client_id: client.client_id.clone(),
            exp,
            iat: now,
            jti,
            scope: scope.clone(),
            auth_time,
            gid: Some(grant_id.to_owned()),
            sid: sid.map(str::to_owned),
            cnf: jkt.map(|jkt| pixie_core::claims::Confirmation { jkt: jkt.to_owned() }),
        };
        // Access tokens are always ES256: fast to sign and verify, nothing asks for RSA.
        let access_token = jwt::sign(&keys.es256, "at+jwt", &at_claims).map_err(ApiError::internal)?;
        let id_token = match user {
            Some(u) if scopes.iter().any(|s| s == "openid") => {
                let claims = IdTokenClaims {
                    iss: issuer.to_owned(),
                    sub: u.id.clone(),
                    aud: client.client_id.clone(),
                    azp: client.client_id.clone(),
                    exp,
                    iat: now,
                    auth_time: auth_time.unwrap_or(now),
                    at_hash: jwt::at_hash(&access_token),
                    nonce: nonce.map(str::to_owned),
                    sid: sid.map(str::to_owned),
                };
                // FAPI 2.0 §5.4: no RS256 under the profile fapi2.
                let alg = match env.settings.profile.forbids_rs256() {
                    true => pixie_core::client::SigningAlg::ES256,
                    false => client.metadata.id_token_signed_response_alg,
                };
                let key = keys.for_alg(alg);
                Some(jwt::sign(key, "JWT", &claims).map_err(ApiError::internal)?)
            }
            _ => None,
        };
        let data = serde_json::to_string(&TokenData {
            auth_time,
            nonce: nonce.map(str::to_owned),
            grant_start: Some(grant_start),
            resources: granted_resources.to_vec(),
            // A confidential client's refresh token is bound by its authentication; a
            // public client's to its DPoP key (RFC 9449 §5).
            dpop_jkt: jkt.filter(|_| client.metadata.is_public()).map(str::to_owned),
        })
        .map_err(ApiError::internal)?;
        let row = |id: String, kind: &str, hash: Option<Vec<u8>>, expires_at: i64| TokenRow {
            id,
            env_id: env_id.to_owned(),
            kind: kind.to_owned(),
            token_hash: hash,
            grant_id: grant_id.to_owned(),
            client_id: client.client_id.clone(),
            user_id: user.map(|u| u.id.clone()),
            scope: scope.clone(),
            data: data.clone(),
            created_at: now,
            expires_at,
            used_at: None,
            revoked_at: None,
            sid: sid.map(str::to_owned),
        };
        let refresh_token = if with_refresh && user.is_some() && client.metadata.has_grant(GrantType::RefreshToken) {
            let rt = crypto::random_token::<32>();
            let hash = crypto::sha256(rt.as_bytes()).to_vec();
            let expires_at = lt.refresh_expiry(now, grant_start);
            let stored = row(crypto::random_token::<16>(), "refresh", Some(hash), expires_at);
            // A grant revoked meanwhile (the code replayed, the session ended, the
            // family reused) gets a token that is born revoked: the same outcome as
            // when the revocation comes a moment after this insert.
            if !self.store.insert_refresh_token(&stored, expires_at.max(exp)).await? {
                tracing::debug!(
                    env = env_id,
                    "a refresh token of a grant revoked meanwhile was stored revoked"
                );
            }
            Some(rt)
        } else {
            None
        };
        self.obs
            .token_issued(now, env_id, &client.client_id, user.map(|u| u.id.as_str()), grant_type);
        Ok(pixie_core::wire::TokenResponse {
            access_token,
            token_type: if jkt.is_some() { "DPoP" } else { "Bearer" }.into(),
            expires_in: lt.access_token,
            scope,
            id_token,
            refresh_token,
        })
    }

    /// Validates an access token: signature, issuer (where given), expiry, and not revoked.
    pub async fn check_access_token(
        &self,
        env_id: &str,
        token: &str,
        issuer: Option<&str>,
    ) -> ApiResult<Option<AccessTokenClaims>> {
        // By its kid: a key superseded since (CONTRACT §9) verifies until it retires; a
        // kid this instance does not know yet (another instance rotated) reloads the keys.
        let Some(kid) = jwt::kid(token) else {
            return Ok(None);
        };
        let now = self.now();
        let mut keys = self.env_keys(env_id).await?;
        if keys.verifying(&kid, now).is_none() {
            keys = self.keys.reload_for_unknown_kid(env_id).await?;
        }
        let Some(key) = keys.verifying(&kid, now) else {
            return Ok(None);
        };
        let Some(claims) = jwt::verify(key, "at+jwt", token) else {
            return Ok(None);
        };
        let Ok(claims) = serde_json::from_value::<AccessTokenClaims>(claims) else {
            return Ok(None);
        };
        if issuer.is_some_and(|i| claims.iss != i) || claims.exp <= self.now() {
            return Ok(None);
        }
        // A token of a client that was deleted is dead with it.
        if self.lookup_client(env_id, &claims.client_id).await?.is_none() {
            return Ok(None);
        }
        let revoked = self
            .store
            .access_token_revoked(env_id, &claims.jti, claims.gid.as_deref(), claims.sid.as_deref())
            .await?;
        Ok((!revoked).then_some(claims))
    }
}
