//! The sign-on page (for people) and the flows API (for native apps and tests).
//! Both end the same way: the flow is `COMPLETED` and resumes at `/as/resume`.

use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pixie_core::params::Params;
use pixie_core::wire::{Flow, FlowError, UsernamePassword, USERNAME_PASSWORD_CHECK};
use pixie_store::{FlowRow, FlowStatus};
use serde_json::json;

use super::authorize::redirect;
use super::cookies::{self, Kind};
use super::pages::{error_page, signon_page, SignOn};
use super::{paths, AppState};
use crate::authz::{CompletedVia, Credentials};
use crate::crypto;
use crate::error::ApiError;

/// The CSRF token of a sign-on form: bound to the flow cookie, which a cross-site
/// attacker cannot read, and to the flow.
fn csrf_token(flow_cookie: &str, flow_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(crypto::sha256(
        format!("pixie csrf\0{flow_cookie}\0{flow_id}").as_bytes(),
    ))
}

async fn client_name(s: &AppState, flow: &FlowRow) -> String {
    match s.svc.lookup_client(&flow.env_id, &flow.client_id).await {
        Ok(Some(c)) => c.metadata.client_name,
        _ => String::new(),
    }
}

/// `GET <issuer>/signon?flowId=…`.
pub(super) async fn page(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let Some(flow_id) = params.non_empty("flowId") else {
        return error_page(base.url(), "flowId is missing");
    };
    let (flow, cookie) = match bound_flow(&s, &base, &env_id, &headers, flow_id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if let Some(done) = not_waiting_page(&base, &env_id, &flow) {
        return done;
    }
    let action = format!("{}{}", base.issuer(&env_id), paths::SIGNON);
    let name = client_name(&s, &flow).await;
    signon_page(
        StatusCode::OK,
        base.url(),
        &SignOn {
            action: &action,
            flow_id: &flow.id,
            csrf: &csrf_token(&cookie, &flow.id),
            client_name: &name,
            username: "",
            error: None,
        },
    )
}

/// `POST <issuer>/signon` (the form).
pub(super) async fn submit(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::Base>,
    Path(env_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let public_url = base.url().to_owned();
    let (Some(flow_id), Some(csrf)) = (form.non_empty("flowId"), form.get("csrf")) else {
        return error_page(
            &public_url,
            "the sign-on form is incomplete: start again from the application",
        );
    };
    let (flow, cookie) = match bound_flow(&s, &base, &env_id, &headers, flow_id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let expected = csrf_token(&cookie, flow_id);
    if !crypto::ct_eq(expected.as_bytes(), csrf.as_bytes()) {
        return error_page(
            &public_url,
            "the sign-on form does not belong to this browser: start again from the application",
        );
    }
    if let Some(done) = not_waiting_page(&base, &env_id, &flow) {
        return done;
    }
    let username = form.get("username").unwrap_or("");
    let password = form.get("password").unwrap_or("");
    let addr = s.client_addr(peer, &headers);
    match attempt(&s, &env_id, &flow, username, password, &addr, CompletedVia::Form).await {
        Ok(Attempt::SignedOn) => redirect(&base.resume_url(&env_id, &flow.id)),
        Ok(Attempt::Throttled(wait)) => {
            let msg = format!("Too many failed sign-ons. Try again in {} minute(s).", (wait + 59) / 60);
            let mut page = super::pages::error_page(&public_url, &msg);
            *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            retry_after(page, wait)
        }
        Ok(Attempt::FlowSpent) => error_page(&public_url, FLOW_SPENT),
        Ok(Attempt::Lost) => error_page(&public_url, FLOW_FINISHED),
        Ok(Attempt::Refused) => {
            let action = format!("{}{}", base.issuer(&env_id), paths::SIGNON);
            let name = client_name(&s, &flow).await;
            signon_page(
                StatusCode::BAD_REQUEST,
                &public_url,
                &SignOn {
                    action: &action,
                    flow_id: &flow.id,
                    csrf: &expected,
                    client_name: &name,
                    username,
                    error: Some("Wrong username or password."),
                },
            )
        }
        Err(e) => e.into_response(),
    }
}

const FLOW_SPENT: &str = "this sign-on had too many failed attempts: go back to the application and start again";
const FLOW_FINISHED: &str = "this sign-on is finished: go back to the application";

/// What the page and its form answer for a flow that no longer waits for a sign-on;
/// `None` while it does.
fn not_waiting_page(base: &super::Base, env_id: &str, flow: &FlowRow) -> Option<Response> {
    match flow.status {
        FlowStatus::UsernamePasswordRequired => None,
        FlowStatus::Completed => Some(resume_completed(base, env_id, flow)),
        FlowStatus::Consumed => Some(error_page(base.url(), FLOW_FINISHED)),
    }
}

/// The page's answer for a flow already signed on: on to `/as/resume` when this page's
/// own form signed it on (a double submit, the back button); otherwise a page that
/// stops. A flow signed on through the flows API by whoever learned its id must not be
/// resumed by this browser: it would sign the victim on as the attacker (login CSRF).
fn resume_completed(base: &super::Base, env_id: &str, flow: &FlowRow) -> Response {
    if flow.completed_via.as_deref() == Some(CompletedVia::Form.as_str()) {
        return redirect(&base.resume_url(env_id, &flow.id));
    }
    error_page(
        base.url(),
        "this sign-on was completed somewhere else: if that was not you, close this page; \
         otherwise go back to the application and start again",
    )
}

/// The live flow `flow_id`, if this browser started it: its flow cookie must be the
/// one the flow was bound to. Otherwise a page that says what to do: a flow started
/// elsewhere must never be signed on here (an attacker's flow, sent to a victim,
/// would resume in the attacker's browser with the victim's session).
async fn bound_flow(
    s: &AppState,
    base: &super::Base,
    env_id: &str,
    headers: &HeaderMap,
    flow_id: &str,
) -> Result<(FlowRow, String), Response> {
    let Some(cookie) = cookies::get(headers, &cookies::name(Kind::Flow, env_id, base.secure())) else {
        return Err(error_page(
            base.url(),
            "cookies are needed to sign on: enable them, go back to the application and start again",
        ));
    };
    let flow = match s.svc.flow(env_id, flow_id).await {
        Ok(f) => f,
        Err(ApiError::NotFound(_)) => {
            return Err(error_page(
                base.url(),
                "this sign-on has expired: go back to the application and start again",
            ))
        }
        Err(e) => return Err(e.into_response()),
    };
    if !crypto::ct_eq(&crypto::sha256(cookie.as_bytes()), &flow.cookie_hash) {
        return Err(error_page(
            base.url(),
            "this sign-on was started in another browser or tab: go back to the application \
             and start again here (if you did not start it, someone may be trying to trick you)",
        ));
    }
    Ok((flow, cookie))
}

/// What a sign-on attempt came to.
enum Attempt {
    /// Signed on: the flow is completed.
    SignedOn,
    /// Wrong username or password.
    Refused,
    /// Too many failures for this user or address: wait this many seconds.
    Throttled(i64),
    /// Too many failures on this flow: it is spent.
    FlowSpent,
    /// Another attempt completed the flow first.
    Lost,
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
async fn attempt(
    s: &AppState,
    env_id: &str,
    flow: &FlowRow,
    username: &str,
    password: &str,
    addr: &str,
    via: CompletedVia,
) -> Result<Attempt, ApiError> {
    let now = s.svc.now();
    // The audit log names a user by id; what was typed appears only as a short digest,
    // so a password typed into the username box is never written, and a 60 KB
    // "username" makes a line of the usual size.
    let typed = crate::throttle::username_digest(username);
    let reserved = match s.svc.reserve_signon(now, env_id, username, addr).await? {
        Ok(r) => r,
        Err(wait) => {
            let fields =
                serde_json::json!({"env": env_id, "client": flow.client_id, "username_digest": typed, "addr": addr});
            s.svc.obs.audit(now, "signon.throttled", fields);
            return Ok(Attempt::Throttled(wait));
        }
    };
    if !s
        .svc
        .store
        .reserve_flow_attempt(env_id, &flow.id, crate::throttle::PER_FLOW, now)
        .await?
    {
        s.svc.signon_not_failed(&reserved, false).await?;
        let current = s.svc.flow(env_id, &flow.id).await.map(|f| f.status);
        return Ok(match current {
            Ok(FlowStatus::UsernamePasswordRequired) => Attempt::FlowSpent,
            _ => Attempt::Lost,
        });
    }
    let checked = if plausible_username(username) && password.len() <= 1024 {
        s.svc.check_credentials(env_id, username, password).await?
    } else {
        Credentials::UnknownUser
    };
    match checked {
        Credentials::Valid(user) => {
            s.svc.signon_not_failed(&reserved, true).await?;
            // Of two sign-ons racing on one flow, exactly one completes it.
            if s.svc.complete_flow(env_id, &flow.id, &user, via).await? {
                Ok(Attempt::SignedOn)
            } else {
                Ok(Attempt::Lost)
            }
        }
        Credentials::WrongPassword(user_id) => {
            let fields = serde_json::json!({"env": env_id, "client": flow.client_id, "user": user_id, "addr": addr});
            s.svc.obs.audit(now, "signon.failed", fields);
            Ok(Attempt::Refused)
        }
        Credentials::UnknownUser => {
            let fields =
                serde_json::json!({"env": env_id, "client": flow.client_id, "username_digest": typed, "addr": addr});
            s.svc.obs.audit(now, "signon.failed", fields);
            Ok(Attempt::Refused)
        }
    }
}

fn retry_after(mut resp: Response, wait: i64) -> Response {
    if let Ok(v) = axum::http::HeaderValue::from_str(&wait.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn flow_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(FlowError {
            code: code.into(),
            message: message.into(),
        }),
    )
        .into_response()
}

/// The flows API's answer to a sign-on on a flow that is not waiting for one.
fn not_waiting(status: FlowStatus) -> Response {
    flow_error(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
        &format!(
            "the flow is {}, not waiting for a username and password",
            status.as_str()
        ),
    )
}

fn flow_view(base: &super::Base, env_id: &str, flow: &FlowRow, status: FlowStatus) -> Response {
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
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// `GET <issuer>/flows/<flowId>`.
pub(super) async fn get_flow(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::Base>,
    Path((env_id, flow_id)): Path<(String, String)>,
) -> Response {
    match s.svc.flow(&env_id, &flow_id).await {
        Ok(f) if f.status == FlowStatus::Consumed => {
            flow_error(StatusCode::NOT_FOUND, "NOT_FOUND", "the flow is finished")
        }
        Ok(f) => flow_view(&base, &env_id, &f, f.status),
        Err(ApiError::NotFound(_)) => flow_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such flow, or it expired"),
        Err(e) => e.into_response(),
    }
}

/// `POST <issuer>/flows/<flowId>` with `application/vnd.pixie.usernamePassword.check+json`.
pub(super) async fn post_flow(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::Base>,
    Path((env_id, flow_id)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some(USERNAME_PASSWORD_CHECK) {
        return flow_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            &format!("Content-Type must be {USERNAME_PASSWORD_CHECK}"),
        );
    }
    let creds: UsernamePassword = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(_) => {
            return flow_error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "the body must be {\"username\": string, \"password\": string}",
            )
        }
    };
    let flow = match s.svc.flow(&env_id, &flow_id).await {
        Ok(f) => f,
        Err(ApiError::NotFound(_)) => {
            return flow_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such flow, or it expired")
        }
        Err(e) => return e.into_response(),
    };
    if flow.status != FlowStatus::UsernamePasswordRequired {
        return not_waiting(flow.status);
    }
    let addr = s.client_addr(peer, &headers);
    match attempt(
        &s,
        &env_id,
        &flow,
        &creds.username,
        &creds.password,
        &addr,
        CompletedVia::Api,
    )
    .await
    {
        Ok(Attempt::SignedOn) => flow_view(&base, &env_id, &flow, FlowStatus::Completed),
        Ok(Attempt::Refused) => flow_error(
            StatusCode::BAD_REQUEST,
            "INVALID_CREDENTIALS",
            "the username or password is wrong",
        ),
        Ok(Attempt::Throttled(wait)) => retry_after(
            flow_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_ATTEMPTS",
                &format!("too many failed sign-ons for this user or address; retry after {wait} seconds"),
            ),
            wait,
        ),
        Ok(Attempt::FlowSpent) => flow_error(
            StatusCode::BAD_REQUEST,
            "TOO_MANY_FAILURES",
            &format!(
                "this flow had {} failed sign-ons: start a new authorization",
                crate::throttle::PER_FLOW
            ),
        ),
        Ok(Attempt::Lost) => not_waiting(FlowStatus::Completed),
        Err(e) => e.into_response(),
    }
}
