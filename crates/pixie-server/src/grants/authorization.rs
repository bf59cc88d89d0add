//! The authorization endpoint's decisions (CONTRACT §4): the client and redirect URI
//! (errors as pages), the request and its PKCE (errors at the redirect URI), a session
//! reused or a sign-on flow started; `/as/resume` (code and session for a completed
//! flow); and sign-off.

use pixie_core::authorize::{self, RedirectError};
use pixie_core::client::GrantType;
use pixie_core::params::Params;
use pixie_core::report::{method_label, Outcome};
use pixie_core::{ErrorCode, OAuthError, PkceParams};

use crate::authz::{lifetimes, session_id, Pending};
use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// What an authorization request comes to (errors before the redirect URI is known
/// good are an [`ApiError`], shown as a page).
#[derive(Debug)]
pub enum Authorized {
    /// A live session signed the user on: answer with this code.
    Code {
        /// The validated request.
        pending: Pending,
        /// The authorization code.
        code: String,
    },
    /// An error the client is told at its redirect URI.
    Refused {
        /// The redirect URI.
        redirect_uri: String,
        /// The request's `state`, when it was acceptable.
        state: Option<String>,
        /// The error.
        error: OAuthError,
    },
    /// The user must sign on: a flow bound to a fresh flow cookie.
    SignOn {
        /// The flow.
        flow_id: String,
        /// The flow cookie's value (a new random one, never one the request brought).
        flow_cookie: String,
        /// How long the flow (and its cookie) lives, in seconds.
        lifetime: i64,
    },
    /// The signed-on user must consent first: a flow, bound to a fresh flow cookie,
    /// waits for the decision at the consent page.
    Consent {
        /// The flow.
        flow_id: String,
        /// The flow cookie's value.
        flow_cookie: String,
        /// How long the flow (and its cookie) lives, in seconds.
        lifetime: i64,
    },
    /// Too many flows were started from this address: retry after this many seconds.
    Throttled(i64),
}

/// An authorization request: its parameters, the browser's session cookie, the client's
/// address.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizeRequest<'a> {
    /// The environment.
    pub env_id: &'a str,
    /// The query (GET) or form (POST).
    pub params: &'a Params,
    /// The session cookie's value, if the browser sent one.
    pub session_cookie: Option<&'a str>,
    /// The client's address, for the flow-start throttle.
    pub addr: &'a str,
}

/// Decides an authorization request.
pub async fn authorize(svc: &Service, req: AuthorizeRequest<'_>) -> ApiResult<Authorized> {
    let env_id = req.env_id;
    let env = svc.environment(env_id).await?;
    // A pushed request (RFC 9126): its parameters only, the request's own ignored.
    let taken;
    let pushed = req.params.get("request_uri").is_some();
    let params = if pushed {
        taken = super::par::take(svc, env_id, req.params).await?;
        &taken
    } else {
        req.params
    };
    // Phase 1: until client and redirect URI are known good, errors are pages.
    let client_ref = authorize::client_and_redirect(params).map_err(|e| ApiError::invalid(e.0))?;
    let client = super::documents::authorization_client(svc, &env, client_ref.client_id, req.addr)
        .await?
        .ok_or_else(|| ApiError::invalid("client_id is not a registered client of this issuer"))?;
    let (redirect_uri, sent) = authorize::resolve_redirect_uri(&client.metadata, client_ref.redirect_uri)
        .map_err(|e| ApiError::invalid(e.0))?;
    let state = params.get("state").filter(|v| v.len() <= authorize::MAX_STATE_LEN);
    let refused = |error| Authorized::Refused {
        redirect_uri: redirect_uri.clone(),
        state: state.map(str::to_owned),
        error,
    };
    if !client.metadata.has_grant(GrantType::AuthorizationCode) {
        return Ok(refused(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client_id: this client is not registered for authorization_code",
        )));
    }
    // Phase 2: errors go back to the client.
    let profile = env.settings.profile;
    if let Err(rule) = pixie_core::profile::check_client(profile, &client.metadata) {
        return Ok(refused(OAuthError::new(ErrorCode::UnauthorizedClient, rule)));
    }
    let par_required = env.settings.require_par || profile.requires_par();
    if !pushed && pixie_core::par::must_push(par_required, &client.metadata) {
        return Ok(refused(pixie_core::par::not_pushed()));
    }
    // A pushed request's PKCE was counted when it was pushed.
    let request = match validate(svc, &env, &client, params, !pushed) {
        Ok(r) => r,
        Err(error) => return Ok(refused(error)),
    };
    let resources = match resources(svc, env_id, params).await? {
        Ok(r) => r,
        Err(error) => return Ok(refused(error)),
    };
    let mut pending = Pending::new(&client.client_id, redirect_uri.clone(), sent, &request);
    pending.resources = resources;
    // RFC 9449 §10: the code is bound to this DPoP key.
    if let Some(jkt) = params.get("dpop_jkt") {
        if !pixie_core::dpop::is_thumbprint(jkt) {
            return Ok(refused(OAuthError::invalid_request(
                "dpop_jkt: it must be a JWK SHA-256 thumbprint (43 base64url characters)",
            )));
        }
        pending.dpop_jkt = Some(jkt.to_owned());
    }
    let lt = lifetimes(&env, &client.metadata);
    let now = svc.now();
    // A live session skips sign-on, unless the client asked for a fresh one
    // (`prompt=login`, or a sign-on more recent than `max_age`).
    if let Some(cookie) = req.session_cookie {
        if let Some(session) = svc.session(env_id, cookie).await? {
            if request.session_is_fresh_enough(session.auth_time, now) {
                if super::consent::needed(svc, env_id, &session.user_id, &client, &pending).await? {
                    if request.prompt.none {
                        return Ok(refused(OAuthError::new(
                            ErrorCode::ConsentRequired,
                            "prompt=none was sent, and the user has not consented to this client",
                        )));
                    }
                    let flow_cookie = crypto::random_token::<32>();
                    let flow_id = svc.start_flow(env_id, &pending, &flow_cookie, &lt).await?;
                    let waiting = svc
                        .store
                        .await_consent(
                            env_id,
                            &flow_id,
                            (&session.user_id, session.user_generation),
                            session.auth_time,
                            now,
                            "form",
                        )
                        .await?;
                    if !waiting {
                        return Err(ApiError::Internal);
                    }
                    return Ok(Authorized::Consent {
                        flow_id,
                        flow_cookie,
                        lifetime: lt.flow,
                    });
                }
                // Unless the session ended meanwhile (then: sign on again).
                if let Some(code) = svc.issue_code(env_id, &pending, &session, &lt).await? {
                    return Ok(Authorized::Code { pending, code });
                }
            }
        }
    }
    if request.prompt.none {
        return Ok(refused(OAuthError::new(
            ErrorCode::LoginRequired,
            "prompt=none was sent, and the user is not signed on",
        )));
    }
    // Each flow is a stored row: bound how many one address may start.
    if let Err(wait) = svc.count_flow_start(now, env_id, req.addr).await? {
        return Ok(Authorized::Throttled(wait));
    }
    // A flow bound to this user agent by a fresh flow cookie. Never one the request
    // brought: a value planted in the victim's browser would be known to whoever
    // planted it, who could then resume the victim's sign-on.
    let flow_cookie = crypto::random_token::<32>();
    let flow_id = svc.start_flow(env_id, &pending, &flow_cookie, &lt).await?;
    Ok(Authorized::SignOn {
        flow_id,
        flow_cookie,
        lifetime: lt.flow,
    })
}

/// Validates the request against the client and the environment's PKCE policy, and
/// (when `record`) records the PKCE outcome (metrics, readiness report, audit log).
pub(super) fn validate(
    svc: &Service,
    env: &pixie_store::EnvironmentRow,
    client: &pixie_store::ClientRow,
    params: &Params,
    record: bool,
) -> Result<authorize::AuthorizeRequest, OAuthError> {
    if !record {
        return authorize::validate(params, &client.metadata, &env.pkce).map_err(|e| e.error);
    }
    let method = method_label(
        PkceParams {
            code_challenge: params.get("code_challenge"),
            code_challenge_method: params.get("code_challenge_method"),
        }
        .observed_method(),
    );
    let (obs, now, env_id, client_id) = (&svc.obs, svc.now(), env.id.as_str(), client.client_id.as_str());
    match authorize::validate(params, &client.metadata, &env.pkce) {
        Ok(r) => {
            match &r.pkce.would_reject {
                Some(v) => obs.pkce_check(now, env_id, client_id, method, Outcome::WouldReject, v.rule.as_str()),
                None => obs.pkce_check(now, env_id, client_id, method, Outcome::Accepted, ""),
            }
            Ok(r)
        }
        Err(RedirectError { error, pkce }) => {
            if let Some(r) = pkce {
                obs.pkce_check(now, env_id, client_id, method, Outcome::Rejected, r.rule.as_str());
            }
            Err(error)
        }
    }
}

/// The resources an authorization request names (RFC 8707), each registered in the
/// environment; an error for the redirect URI (`invalid_target`) otherwise.
pub(super) async fn resources(
    svc: &Service,
    env_id: &str,
    params: &Params,
) -> ApiResult<Result<Vec<String>, OAuthError>> {
    let requested = match pixie_core::resource::requested_resources(params) {
        Ok(r) if r.is_empty() => return Ok(Ok(r)),
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let registered = svc.directory.resources(env_id).await?;
    let uris: Vec<&str> = registered.iter().map(|r| r.uri.as_str()).collect();
    Ok(pixie_core::resource::check_registered(&requested, &uris).map(|()| requested))
}

/// What `/as/resume` gives a browser whose flow is signed on.
#[derive(Debug)]
pub enum Resumed {
    /// A code, and a session.
    Code {
        /// The authorization request.
        pending: Pending,
        /// The authorization code.
        code: String,
        /// The new session cookie's value.
        session_cookie: String,
        /// How long the session lives, in seconds.
        session_lifetime: i64,
    },
    /// The user refused consent: `access_denied` at the redirect URI.
    Denied {
        /// The authorization request.
        pending: Pending,
    },
}

/// Resumes a completed flow for the browser holding its flow cookie, once: starts a
/// session and issues the code.
pub async fn resume(
    svc: &Service,
    env_id: &str,
    flow_id: Option<&str>,
    flow_cookie: Option<&str>,
) -> ApiResult<Resumed> {
    let env = svc.environment(env_id).await?;
    let flow_id = flow_id.ok_or_else(|| ApiError::invalid("flowId is missing"))?;
    let cookie = flow_cookie.ok_or_else(|| {
        ApiError::invalid("the flow cookie is missing: resume in the browser (or client) that started the sign-on")
    })?;
    let Some(flow) = svc.consume_flow(env_id, flow_id, cookie).await? else {
        return Err(ApiError::invalid(
            "this sign-on flow cannot be resumed: it is unknown, expired, not completed, already resumed, \
             or belongs to another browser",
        ));
    };
    let pending = flow.pending;
    if flow.denied {
        return Ok(Resumed::Denied { pending });
    }
    // The client may have been removed while the user signed on.
    let client = svc.client(env_id, &pending.client_id).await?;
    let lt = lifetimes(&env, &client.metadata);
    // The user may have been disabled, removed or given a new password meanwhile (or,
    // for the code, the client removed or the consent withdrawn).
    let user_changed = || {
        ApiError::invalid(
            "this sign-on is no longer valid: the account was disabled, removed or given a new password \
             since, or the application was removed or its consent withdrawn; sign on again",
        )
    };
    let (session_cookie, session) = svc
        .start_session(env_id, (&flow.user_id, flow.user_generation), flow.auth_time, &lt)
        .await?
        .ok_or_else(user_changed)?;
    let code = svc
        .issue_code(env_id, &pending, &session, &lt)
        .await?
        .ok_or_else(user_changed)?;
    Ok(Resumed::Code {
        pending,
        code,
        session_cookie,
        session_lifetime: lt.session,
    })
}

/// The CSRF token of the sign-off form: bound to the session cookie, which another
/// site can neither read nor send along with its own form (`SameSite=Lax`).
pub fn signoff_csrf(session_cookie: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(crypto::sha256(format!("pixie signoff\0{session_cookie}").as_bytes()))
}

/// Ends the session a sign-off form names and revokes every token issued under it.
/// Only from this site's own form: `same_origin` (the `Origin` header, when sent, is
/// pixie's) and the form's CSRF token must match the session cookie.
pub async fn sign_off(
    svc: &Service,
    env_id: &str,
    session_cookie: &str,
    csrf: &str,
    same_origin: bool,
) -> ApiResult<()> {
    if !same_origin || !crypto::ct_eq(signoff_csrf(session_cookie).as_bytes(), csrf.as_bytes()) {
        return Err(ApiError::invalid(
            "this sign-off did not come from this site's own page: open the sign-off page and use its button",
        ));
    }
    let hash = crypto::sha256(session_cookie.as_bytes());
    let n = svc
        .store
        .end_session(env_id, &hash, &session_id(&hash), svc.now())
        .await?;
    let fields = serde_json::json!({"env": env_id, "revoked": n});
    svc.obs.audit(svc.now(), "session.ended", fields);
    Ok(())
}
