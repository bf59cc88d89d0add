//! Sign-on attempts (the page's form and the flows API): the throttle, the password
//! check and the flow's completion, and which browser a flow belongs to.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pixie_store::{FlowRow, FlowStatus};

use crate::authz::{CompletedVia, Credentials};
use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::service::Service;

/// The CSRF token of a sign-on form: bound to the flow cookie, which a cross-site
/// attacker cannot read, and to the flow.
pub fn csrf_token(flow_cookie: &str, flow_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(crypto::sha256(
        format!("pixie csrf\0{flow_cookie}\0{flow_id}").as_bytes(),
    ))
}

/// Why a browser may not sign on to a flow.
#[derive(Debug)]
pub enum NotThisBrowser {
    /// It sent no flow cookie.
    NoCookie,
    /// The flow is unknown or expired.
    Expired,
    /// The flow was started in another browser.
    Elsewhere,
    /// The store failed.
    Store(ApiError),
}

/// The live flow `flow_id`, if the browser holding `cookie` started it: a flow started
/// elsewhere must never be signed on here (an attacker's flow, sent to a victim, would
/// resume in the attacker's browser with the victim's session).
pub async fn browser_flow(
    svc: &Service,
    env_id: &str,
    flow_id: &str,
    cookie: Option<&str>,
) -> Result<FlowRow, NotThisBrowser> {
    let cookie = cookie.ok_or(NotThisBrowser::NoCookie)?;
    let flow = match svc.flow(env_id, flow_id).await {
        Ok(f) => f,
        Err(ApiError::NotFound(_) | ApiError::UnknownEnvironment(_)) => return Err(NotThisBrowser::Expired),
        Err(e) => return Err(NotThisBrowser::Store(e)),
    };
    if !crypto::ct_eq(&crypto::sha256(cookie.as_bytes()), &flow.cookie_hash) {
        return Err(NotThisBrowser::Elsewhere);
    }
    Ok(flow)
}

/// The name of the client a flow is for, as the sign-on page shows it ("" when it is
/// gone). A client that registered itself chose its own name: the page says so, as the
/// consent page does.
pub async fn client_name(svc: &Service, flow: &FlowRow) -> String {
    match svc.lookup_client(&flow.env_id, &flow.client_id).await {
        Ok(Some(c)) if c.metadata.self_registered => {
            let name = match c.metadata.client_name.as_str() {
                "" => c.client_id.as_str(),
                name => name,
            };
            format!("{name} (registered itself, not verified by this site)")
        }
        Ok(Some(c)) => c.metadata.client_name,
        _ => String::new(),
    }
}

/// A sign-on attempt on a flow.
#[derive(Debug, Clone, Copy)]
pub struct SignOnAttempt<'a> {
    /// The environment.
    pub env_id: &'a str,
    /// The flow, waiting for a sign-on.
    pub flow: &'a FlowRow,
    /// What was typed as the username.
    pub username: &'a str,
    /// The password.
    pub password: &'a str,
    /// The client's address.
    pub addr: &'a str,
    /// The page's form or the flows API.
    pub via: CompletedVia,
}

/// What a sign-on attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    /// Signed on: the flow is completed.
    SignedOn,
    /// Signed on; the flow waits for the user's consent to the client.
    ConsentRequired,
    /// Wrong username or password.
    Refused,
    /// Too many failures for this user or address: wait this many seconds.
    Throttled(i64),
    /// Too many failures on this flow: it is spent.
    FlowSpent,
    /// Another attempt completed the flow first.
    Lost,
}

/// Whether the user must consent to the flow's client before it gets a code.
async fn consent_needed(svc: &Service, env_id: &str, flow: &FlowRow, user_id: &str) -> ApiResult<bool> {
    let Some(client) = svc.lookup_client(env_id, &flow.client_id).await? else {
        // Removed meanwhile: `/as/resume` will say so.
        return Ok(false);
    };
    let pending: crate::authz::Pending = serde_json::from_str(&flow.request).map_err(ApiError::internal)?;
    super::consent::needed(svc, env_id, user_id, &client, &pending).await
}

/// Whether a username could exist (as `create_user` allows), so is worth a check.
fn plausible_username(username: &str) -> bool {
    !username.is_empty()
        && username.len() <= 4 * crate::service::MAX_USERNAME_CHARS
        && username.chars().count() <= crate::service::MAX_USERNAME_CHARS
}

/// Checks credentials for a flow and completes it, within the throttle's limits. The
/// attempt is reserved (against the user, the address and the flow) before the
/// password is checked, so concurrent guesses cannot outrun the count.
pub async fn attempt(svc: &Service, a: SignOnAttempt<'_>) -> ApiResult<Attempted> {
    let (now, env_id, flow) = (svc.now(), a.env_id, a.flow);
    // The audit log names a user by id; what was typed appears only as a short digest,
    // so a password typed into the username box is never written, and a 60 KB
    // "username" makes a line of the usual size.
    let typed = crate::throttle::username_digest(a.username);
    let who = serde_json::json!({"env": env_id, "client": flow.client_id, "username_digest": typed, "addr": a.addr});
    let reserved = match svc.reserve_signon(now, env_id, a.username, a.addr).await? {
        Ok(r) => r,
        Err(wait) => {
            svc.obs.audit(now, "signon.throttled", who);
            return Ok(Attempted::Throttled(wait));
        }
    };
    if !svc
        .store
        .reserve_flow_attempt(env_id, &flow.id, crate::throttle::PER_FLOW, now)
        .await?
    {
        svc.signon_not_failed(&reserved, false).await?;
        return Ok(match svc.flow(env_id, &flow.id).await.map(|f| f.status) {
            Ok(FlowStatus::UsernamePasswordRequired) => Attempted::FlowSpent,
            _ => Attempted::Lost,
        });
    }
    let checked = if plausible_username(a.username) && a.password.len() <= 1024 {
        svc.check_credentials(env_id, a.username, a.password).await?
    } else {
        Credentials::UnknownUser
    };
    match checked {
        Credentials::Valid(user) => {
            svc.signon_not_failed(&reserved, true).await?;
            if consent_needed(svc, env_id, flow, &user.id).await? {
                let waits = svc
                    .store
                    .await_consent(env_id, &flow.id, (&user.id, user.generation), now, now, a.via.as_str())
                    .await?;
                return Ok(if waits {
                    Attempted::ConsentRequired
                } else {
                    Attempted::Lost
                });
            }
            // Of two sign-ons racing on one flow, exactly one completes it.
            Ok(match svc.complete_flow(env_id, &flow.id, &user, a.via).await? {
                true => Attempted::SignedOn,
                false => Attempted::Lost,
            })
        }
        Credentials::WrongPassword(user_id) => {
            let fields = serde_json::json!({"env": env_id, "client": flow.client_id, "user": user_id, "addr": a.addr});
            svc.obs.audit(now, "signon.failed", fields);
            Ok(Attempted::Refused)
        }
        // A disabled user is told what a wrong password is told (and counts as a
        // failure): the answer never confirms a password. The audit log says why.
        Credentials::Disabled(user_id) => {
            let fields = serde_json::json!({"env": env_id, "client": flow.client_id, "user": user_id, "addr": a.addr});
            svc.obs.audit(now, "signon.disabled", fields);
            Ok(Attempted::Refused)
        }
        Credentials::UnknownUser => {
            svc.obs.audit(now, "signon.failed", who);
            Ok(Attempted::Refused)
        }
    }
}
