//! The sign-on page (for people) and the flows API (for native apps and tests).
//! Both end the same way: the flow is `COMPLETED` and resumes at `/as/resume`. The
//! decisions are [`crate::grants::signon`]'s; this module parses and renders.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pixie_core::params::Params;
use pixie_core::wire::{
    ConsentDecision, ConsentFlow, Flow, UsernamePassword, CONSENT_DECISION, USERNAME_PASSWORD_CHECK,
};
use pixie_store::{FlowRow, FlowStatus};
use serde_json::json;

use super::cookies::{self, Kind};
use super::pages::{error_page, signon_page, SignOn};
use super::respond::{redirect, too_many};
use super::state::{paths, AppState};
use crate::authz::CompletedVia;
use crate::crypto;
use crate::error::flows_error;
use crate::grants::consent;
use crate::grants::signon::{self, Attempted, NotThisBrowser, SignOnAttempt};

/// The flow cookie this browser sent for `env_id`.
pub(super) fn flow_cookie(headers: &HeaderMap, base: &super::state::Base, env_id: &str) -> Option<String> {
    cookies::get(headers, &cookies::name(Kind::Flow, env_id, base.secure()))
}

/// `GET <issuer>/signon?flowId=…`.
pub(super) async fn page(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (flow, csrf) = match page_flow(&s, &base, &env_id, &headers, query.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if let Some(done) = not_waiting_page(&base, &env_id, &flow) {
        return done;
    }
    form_page(&s, &base, &env_id, &flow, &csrf, "", None).await
}

/// The flow a page's query (`flowId=…`) names, if this browser started it, with the
/// CSRF token of its forms; otherwise the page to show.
pub(super) async fn page_flow(
    s: &AppState,
    base: &super::state::Base,
    env_id: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(FlowRow, String), Response> {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let Some(flow_id) = params.non_empty("flowId") else {
        return Err(error_page(base.url(), "flowId is missing"));
    };
    let cookie = flow_cookie(headers, base, env_id);
    let flow = signon::browser_flow(&s.svc, env_id, flow_id, cookie.as_deref())
        .await
        .map_err(|e| not_this_browser(base, e))?;
    let csrf = signon::csrf_token(cookie.as_deref().unwrap_or_default(), &flow.id);
    Ok((flow, csrf))
}

/// The sign-on form for `flow`; after a failed attempt, with the username kept and the
/// error shown (then 400).
async fn form_page(
    s: &AppState,
    base: &super::state::Base,
    env_id: &str,
    flow: &FlowRow,
    csrf: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let action = format!("{}{}", base.issuer(env_id), paths::SIGNON);
    let name = signon::client_name(&s.svc, flow).await;
    let form = SignOn {
        action: &action,
        flow_id: &flow.id,
        csrf,
        client_name: &name,
        username,
        error,
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    signon_page(status, base.url(), &form)
}

/// `POST <issuer>/signon` (the form).
pub(super) async fn submit(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let (flow, expected) = match form_flow(&s, &base, &env_id, &headers, &form).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if let Some(done) = not_waiting_page(&base, &env_id, &flow) {
        return done;
    }
    let username = form.get("username").unwrap_or("");
    let attempt = SignOnAttempt {
        env_id: &env_id,
        flow: &flow,
        username,
        password: form.get("password").unwrap_or(""),
        addr: &s.client_addr(peer, &headers),
        via: CompletedVia::Form,
    };
    match signon::attempt(&s.svc, attempt).await {
        Ok(Attempted::Refused) => {
            let error = Some("Wrong username or password.");
            form_page(&s, &base, &env_id, &flow, &expected, username, error).await
        }
        Ok(outcome) => attempted_page(&base, &env_id, &flow, outcome),
        Err(e) => e.into_response(),
    }
}

/// The flow a sign-on form names, if this browser started it and the form's CSRF
/// token is the one this browser was given; with that token. Otherwise the page to show.
pub(super) async fn form_flow(
    s: &AppState,
    base: &super::state::Base,
    env_id: &str,
    headers: &HeaderMap,
    form: &Params,
) -> Result<(FlowRow, String), Response> {
    let (Some(flow_id), Some(csrf)) = (form.non_empty("flowId"), form.get("csrf")) else {
        return Err(error_page(
            base.url(),
            "the sign-on form is incomplete: start again from the application",
        ));
    };
    let cookie = flow_cookie(headers, base, env_id);
    let flow = signon::browser_flow(&s.svc, env_id, flow_id, cookie.as_deref())
        .await
        .map_err(|e| not_this_browser(base, e))?;
    let expected = signon::csrf_token(cookie.as_deref().unwrap_or_default(), flow_id);
    if !crypto::ct_eq(expected.as_bytes(), csrf.as_bytes()) {
        let msg = "the sign-on form does not belong to this browser: start again from the application";
        return Err(error_page(base.url(), msg));
    }
    Ok((flow, expected))
}

/// The page's answer to an attempt that did not refuse the password.
fn attempted_page(base: &super::state::Base, env_id: &str, flow: &FlowRow, outcome: Attempted) -> Response {
    match outcome {
        Attempted::SignedOn => redirect(&base.resume_url(env_id, &flow.id)),
        Attempted::ConsentRequired => redirect(&consent_url(base, env_id, &flow.id)),
        Attempted::Throttled(wait) => {
            let msg = format!("Too many failed sign-ons. Try again in {} minute(s).", (wait + 59) / 60);
            too_many(error_page(base.url(), &msg), wait)
        }
        Attempted::FlowSpent => error_page(base.url(), FLOW_SPENT),
        Attempted::Lost | Attempted::Refused => error_page(base.url(), FLOW_FINISHED),
    }
}

/// The consent page of a flow.
pub(super) fn consent_url(base: &super::state::Base, env_id: &str, flow_id: &str) -> String {
    format!("{}{}?flowId={flow_id}", base.issuer(env_id), paths::CONSENT)
}

/// The page for a browser that may not sign on to the flow it names.
pub(super) fn not_this_browser(base: &super::state::Base, why: NotThisBrowser) -> Response {
    let msg = match why {
        NotThisBrowser::NoCookie => {
            "cookies are needed to sign on: enable them, go back to the application and start again"
        }
        NotThisBrowser::Expired => "this sign-on has expired: go back to the application and start again",
        NotThisBrowser::Elsewhere => {
            "this sign-on was started in another browser or tab: go back to the application \
             and start again here (if you did not start it, someone may be trying to trick you)"
        }
        NotThisBrowser::Store(e) => return e.into_response(),
    };
    error_page(base.url(), msg)
}

const FLOW_SPENT: &str = "this sign-on had too many failed attempts: go back to the application and start again";
pub(super) const FLOW_FINISHED: &str = "this sign-on is finished: go back to the application";

/// What the page and its form answer for a flow that no longer waits for a sign-on;
/// `None` while it does.
pub(super) fn not_waiting_page(base: &super::state::Base, env_id: &str, flow: &FlowRow) -> Option<Response> {
    match flow.status {
        FlowStatus::UsernamePasswordRequired => None,
        FlowStatus::ConsentRequired => Some(match signed_on_here(flow) {
            true => redirect(&consent_url(base, env_id, &flow.id)),
            false => completed_elsewhere(base),
        }),
        FlowStatus::Completed => Some(resume_completed(base, env_id, flow)),
        FlowStatus::Consumed => Some(error_page(base.url(), FLOW_FINISHED)),
    }
}

/// Whether this page's own form signed the flow on (see [`resume_completed`]).
pub(super) fn signed_on_here(flow: &FlowRow) -> bool {
    flow.completed_via.as_deref() == Some(CompletedVia::Form.as_str())
}

/// The page for a flow signed on elsewhere (through the flows API).
pub(super) fn completed_elsewhere(base: &super::state::Base) -> Response {
    error_page(
        base.url(),
        "this sign-on was completed somewhere else: if that was not you, close this page; \
         otherwise go back to the application and start again",
    )
}

/// The page's answer for a flow already signed on: on to `/as/resume` when this page's
/// own form signed it on (a double submit, the back button); otherwise a page that
/// stops. A flow signed on through the flows API by whoever learned its id must not be
/// resumed by this browser: it would sign the victim on as the attacker (login CSRF).
fn resume_completed(base: &super::state::Base, env_id: &str, flow: &FlowRow) -> Response {
    if signed_on_here(flow) {
        return redirect(&base.resume_url(env_id, &flow.id));
    }
    completed_elsewhere(base)
}

/// The flows API's answer to a sign-on on a flow that is not waiting for one.
fn not_waiting(status: FlowStatus) -> Response {
    flows_error(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
        &format!(
            "the flow is {}, not waiting for a username and password",
            status.as_str()
        ),
    )
}

fn flow_view(base: &super::state::Base, env_id: &str, flow: &FlowRow, status: FlowStatus) -> Response {
    let self_url = format!("{}{}/{}", base.issuer(env_id), paths::FLOWS, flow.id);
    let (resume_url, links) = match status {
        FlowStatus::Completed => {
            let r = base.resume_url(env_id, &flow.id);
            (
                Some(r.clone()),
                json!({"self": {"href": self_url}, "resume": {"href": r}}),
            )
        }
        _ => (
            None,
            json!({"self": {"href": self_url}, "usernamePassword.check": {"href": self_url}}),
        ),
    };
    let body = Flow {
        id: flow.id.clone(),
        status: status.as_str().into(),
        resume_url,
        expires_at: flow.expires_at,
        links,
    };
    Json(body).into_response()
}

/// `GET <issuer>/flows/<flowId>`.
pub(super) async fn get_flow(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path((env_id, flow_id)): Path<(String, String)>,
) -> Response {
    match s.svc.flow(&env_id, &flow_id).await {
        Ok(f) if f.status == FlowStatus::Consumed => {
            flows_error(StatusCode::NOT_FOUND, "NOT_FOUND", "the flow is finished")
        }
        Ok(f) if f.status == FlowStatus::ConsentRequired => consent_json(&s, &env_id, &f).await,
        Ok(f) => flow_view(&base, &env_id, &f, f.status),
        Err(e) => e.flows_response(),
    }
}

/// A flow waiting for consent, as the flows API shows it.
async fn consent_json(s: &AppState, env_id: &str, flow: &FlowRow) -> Response {
    let asked = match consent::asked(&s.svc, env_id, flow).await {
        Ok(a) => a,
        Err(e) => return e.flows_response(),
    };
    let self_url = format!("{}{}/{}", s.svc.issuer(env_id), paths::FLOWS, flow.id);
    Json(ConsentFlow {
        id: flow.id.clone(),
        status: FlowStatus::ConsentRequired.as_str().into(),
        client: asked.client,
        scopes: asked.scopes,
        resources: asked.resources,
        expires_at: flow.expires_at,
        links: json!({"self": {"href": self_url}, "consent": {"href": self_url}}),
    })
    .into_response()
}

/// What a flow is posted: a username and password (`usernamePassword.check`), or a
/// consent decision; the content type says which.
pub(super) enum FlowAction {
    /// `{"username": string, "password": string}`.
    Password(UsernamePassword),
    /// `{"approve": bool}`.
    Consent(ConsentDecision),
}

impl<S: Send + Sync> FromRequest<S> for FlowAction {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let kind = content_type.split(';').next().map(str::trim).unwrap_or("").to_owned();
        if kind != USERNAME_PASSWORD_CHECK && kind != CONSENT_DECISION {
            let msg = format!("Content-Type must be {USERNAME_PASSWORD_CHECK} or {CONSENT_DECISION}");
            return Err(flows_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                &msg,
            ));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let parsed = match kind.as_str() {
            USERNAME_PASSWORD_CHECK => serde_json::from_slice(&body).map(Self::Password).ok(),
            _ => serde_json::from_slice(&body).map(Self::Consent).ok(),
        };
        parsed.ok_or_else(|| {
            let msg = match kind.as_str() {
                USERNAME_PASSWORD_CHECK => "the body must be {\"username\": string, \"password\": string}",
                _ => "the body must be {\"approve\": true or false}",
            };
            flows_error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", msg)
        })
    }
}

/// `POST <issuer>/flows/<flowId>`: a username and password, or a consent decision.
pub(super) async fn post_flow(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path((env_id, flow_id)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    action: FlowAction,
) -> Response {
    let flow = match s.svc.flow(&env_id, &flow_id).await {
        Ok(f) => f,
        Err(e) => return e.flows_response(),
    };
    match action {
        FlowAction::Password(creds) => {
            let addr = s.client_addr(peer, &headers);
            password_check(&s, &base, &env_id, &flow, &creds, &addr).await
        }
        FlowAction::Consent(decision) => consent_decision(&s, &base, &env_id, &flow, decision.approve).await,
    }
}

/// The flows API's sign-on attempt.
async fn password_check(
    s: &AppState,
    base: &super::state::Base,
    env_id: &str,
    flow: &FlowRow,
    creds: &UsernamePassword,
    addr: &str,
) -> Response {
    if flow.status != FlowStatus::UsernamePasswordRequired {
        return not_waiting(flow.status);
    }
    let attempt = SignOnAttempt {
        env_id,
        flow,
        username: &creds.username,
        password: &creds.password,
        addr,
        via: CompletedVia::Api,
    };
    match signon::attempt(&s.svc, attempt).await {
        Ok(Attempted::ConsentRequired) => match s.svc.flow(env_id, &flow.id).await {
            Ok(waiting) => consent_json(s, env_id, &waiting).await,
            Err(e) => e.flows_response(),
        },
        Ok(outcome) => attempted_json(base, env_id, flow, outcome),
        Err(e) => e.into_response(),
    }
}

/// The flows API's consent decision: then `COMPLETED` with the resume URL (after a
/// denial the resume answers `access_denied`).
async fn consent_decision(
    s: &AppState,
    base: &super::state::Base,
    env_id: &str,
    flow: &FlowRow,
    approve: bool,
) -> Response {
    if flow.status != FlowStatus::ConsentRequired {
        return not_waiting(flow.status);
    }
    // A flow signed on in a browser is decided on its consent page, by the person
    // holding its flow cookie: not by whoever learns its id (a consent bypass).
    if signed_on_here(flow) {
        return flows_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "this flow was signed on in a browser: the user decides on its consent page",
        );
    }
    match consent::decide(&s.svc, env_id, flow, approve).await {
        Ok(true) => flow_view(base, env_id, flow, FlowStatus::Completed),
        Ok(false) => not_waiting(FlowStatus::Completed),
        Err(e) => e.into_response(),
    }
}

/// The flows API's answer to a sign-on attempt.
fn attempted_json(base: &super::state::Base, env_id: &str, flow: &FlowRow, outcome: Attempted) -> Response {
    match outcome {
        Attempted::SignedOn => flow_view(base, env_id, flow, FlowStatus::Completed),
        Attempted::Refused => flows_error(
            StatusCode::BAD_REQUEST,
            "INVALID_CREDENTIALS",
            "the username or password is wrong",
        ),
        Attempted::Throttled(wait) => {
            let msg = format!("too many failed sign-ons for this user or address; retry after {wait} seconds");
            too_many(
                flows_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS", &msg),
                wait,
            )
        }
        Attempted::FlowSpent => {
            let msg = format!(
                "this flow had {} failed sign-ons: start a new authorization",
                crate::throttle::PER_FLOW
            );
            flows_error(StatusCode::BAD_REQUEST, "TOO_MANY_FAILURES", &msg)
        }
        Attempted::Lost | Attempted::ConsentRequired => not_waiting(FlowStatus::Completed),
    }
}
