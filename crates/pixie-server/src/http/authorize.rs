//! The authorization endpoint and `/as/resume` (CONTRACT §4).

use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pixie_core::authorize::{self, RedirectError};
use pixie_core::client::GrantType;
use pixie_core::params::{append_query, Params};
use pixie_core::report::{method_label, Outcome};
use pixie_core::{ErrorCode, OAuthError, PkceParams};

use super::cookies::{self, Kind};
use super::pages::error_page;
use super::{paths, AppState};
use crate::authz::{lifetimes, session_id, Pending};
use crate::crypto;
use crate::error::ApiError;

/// A 302 to `location`, never cached.
pub(super) fn redirect(location: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The authorization response: `code`, `state`, `iss` (RFC 9207) at the redirect URI.
fn code_redirect(base: &super::Base, env_id: &str, pending: &Pending, code: &str) -> Response {
    let iss = base.issuer(env_id);
    let mut params = vec![("code", code)];
    if let Some(state) = &pending.state {
        params.push(("state", state));
    }
    params.push(("iss", &iss));
    redirect(&append_query(&pending.redirect_uri, &params))
}

/// An error response at the redirect URI, with `state` and `iss`.
fn error_redirect(
    base: &super::Base,
    env_id: &str,
    redirect_uri: &str,
    state: Option<&str>,
    e: &OAuthError,
) -> Response {
    let iss = base.issuer(env_id);
    let mut params = vec![("error", e.code.as_str()), ("error_description", &e.description)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", &iss));
    redirect(&append_query(redirect_uri, &params))
}

fn page_error(base: &super::Base, e: ApiError) -> Response {
    match e {
        ApiError::NotFound(what) => error_page(base.url(), &format!("{what} not found")),
        ApiError::Invalid { description, .. } => error_page(base.url(), &description),
        other => other.into_response(),
    }
}

/// The parameters of an authorization request: a GET's query, a POST's form.
pub(super) struct AuthorizeParams(Params);

impl<S: Send + Sync> axum::extract::FromRequest<S> for AuthorizeParams {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        if req.method() != Method::POST {
            return Ok(Self(Params::parse(req.uri().query().unwrap_or("").as_bytes())));
        }
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !form {
            let base = req
                .extensions()
                .get::<super::Base>()
                .cloned()
                .unwrap_or(super::Base(String::new()));
            return Err(error_page(
                base.url(),
                "the request body must be application/x-www-form-urlencoded",
            ));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self(Params::parse(&body)))
    }
}

/// `GET|POST <issuer>/as/authorize`.
pub(super) async fn authorize(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::Base>,
    Path(env_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AuthorizeParams(params): AuthorizeParams,
) -> Response {
    let addr = s.client_addr(peer, &headers);
    match authorize_inner(&s, &base, &env_id, &headers, &params, &addr).await {
        Ok(resp) => resp,
        Err(e) => page_error(&base, e),
    }
}

async fn authorize_inner(
    s: &AppState,
    base: &super::Base,
    env_id: &str,
    headers: &HeaderMap,
    params: &Params,
    addr: &str,
) -> Result<Response, ApiError> {
    let env = s.svc.environment(env_id).await?;
    // Phase 1: until client and redirect URI are known good, errors are pages.
    let client_ref = authorize::client_and_redirect(params).map_err(|e| ApiError::invalid(e.0))?;
    let client = s
        .svc
        .lookup_client(env_id, client_ref.client_id)
        .await?
        .ok_or_else(|| ApiError::invalid("client_id is not a registered client of this issuer"))?;
    let (redirect_uri, sent) = authorize::resolve_redirect_uri(&client.metadata, client_ref.redirect_uri)
        .map_err(|e| ApiError::invalid(e.0))?;
    let state = params.get("state").filter(|v| v.len() <= authorize::MAX_STATE_LEN);
    if !client.metadata.has_grant(GrantType::AuthorizationCode) {
        let e = OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client_id: this client is not registered for authorization_code",
        );
        return Ok(error_redirect(base, env_id, &redirect_uri, state, &e));
    }
    // Phase 2: errors go back to the client.
    let method = method_label(
        PkceParams {
            code_challenge: params.get("code_challenge"),
            code_challenge_method: params.get("code_challenge_method"),
        }
        .observed_method(),
    );
    let (obs, now) = (&s.svc.obs, s.svc.now());
    let request = match authorize::validate(params, &client.metadata, &env.pkce) {
        Ok(r) => {
            match &r.pkce.would_reject {
                Some(v) => obs.pkce_check(
                    now,
                    env_id,
                    &client.client_id,
                    method,
                    Outcome::WouldReject,
                    v.rule.as_str(),
                ),
                None => obs.pkce_check(now, env_id, &client.client_id, method, Outcome::Accepted, ""),
            }
            r
        }
        Err(RedirectError { error, pkce }) => {
            if let Some(r) = pkce {
                obs.pkce_check(
                    now,
                    env_id,
                    &client.client_id,
                    method,
                    Outcome::Rejected,
                    r.rule.as_str(),
                );
            }
            return Ok(error_redirect(base, env_id, &redirect_uri, state, &error));
        }
    };
    let pending = Pending::new(&client.client_id, redirect_uri, sent, &request);
    let lt = lifetimes(&env, &client.metadata);
    let secure = base.secure();
    // A live session skips sign-on, unless the client asked for a fresh one
    // (`prompt=login`, or a sign-on more recent than `max_age`).
    if let Some(cookie) = cookies::get(headers, &cookies::name(Kind::Session, env_id, secure)) {
        if let Some(session) = s.svc.session(env_id, &cookie).await? {
            if request.session_is_fresh_enough(session.auth_time, now) {
                let code = s
                    .svc
                    .issue_code(
                        env_id,
                        &pending,
                        &session.user_id,
                        session.auth_time,
                        &session_id(&session.id_hash),
                        &lt,
                    )
                    .await?;
                return Ok(code_redirect(base, env_id, &pending, &code));
            }
        }
    }
    if request.prompt.none {
        let e = OAuthError::new(
            ErrorCode::LoginRequired,
            "prompt=none was sent, and the user is not signed on",
        );
        return Ok(error_redirect(
            base,
            env_id,
            &pending.redirect_uri,
            pending.state.as_deref(),
            &e,
        ));
    }
    // Each flow is a stored row: bound how many one address may start.
    if let Err(wait) = s.svc.count_flow_start(now, env_id, addr).await? {
        let msg = format!(
            "Too many sign-ons were started from your network. Try again in {} minute(s).",
            (wait + 59) / 60
        );
        let mut page = error_page(base.url(), &msg);
        *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            page.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(page);
    }
    // Sign-on: a flow bound to this user agent by a fresh flow cookie. Never one the
    // request brought: a value planted in the victim's browser would be known to
    // whoever planted it, who could then resume the victim's sign-on.
    let flow_cookie_name = cookies::name(Kind::Flow, env_id, secure);
    let flow_cookie = crypto::random_token::<32>();
    let flow_id = s.svc.start_flow(env_id, &pending, &flow_cookie, &lt).await?;
    let mut resp = redirect(&format!("{}{}?flowId={flow_id}", base.issuer(env_id), paths::SIGNON));
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(&flow_cookie_name, &flow_cookie, lt.flow, secure),
    );
    Ok(resp)
}

/// `GET <issuer>/as/resume?flowId=…`: with the flow cookie, for a completed flow,
/// issues the code and a session.
pub(super) async fn resume(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    match resume_inner(&s, &base, &env_id, &headers, &params).await {
        Ok(resp) => resp,
        Err(e) => page_error(&base, e),
    }
}

async fn resume_inner(
    s: &AppState,
    base: &super::Base,
    env_id: &str,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, ApiError> {
    let env = s.svc.environment(env_id).await?;
    let flow_id = params
        .non_empty("flowId")
        .ok_or_else(|| ApiError::invalid("flowId is missing"))?;
    let secure = base.secure();
    let cookie = cookies::get(headers, &cookies::name(Kind::Flow, env_id, secure)).ok_or_else(|| {
        ApiError::invalid("the flow cookie is missing: resume in the browser (or client) that started the sign-on")
    })?;
    let Some((pending, user_id, auth_time)) = s.svc.consume_flow(env_id, flow_id, &cookie).await? else {
        return Err(ApiError::invalid(
            "this sign-on flow cannot be resumed: it is unknown, expired, not completed, already resumed, \
             or belongs to another browser",
        ));
    };
    // The client may have been removed while the user signed on.
    let client = s.svc.client(env_id, &pending.client_id).await?;
    let lt = lifetimes(&env, &client.metadata);
    let session = s.svc.start_session(env_id, &user_id, auth_time, &lt).await?;
    let sid = session_id(&crypto::sha256(session.as_bytes()));
    let code = s
        .svc
        .issue_code(env_id, &pending, &user_id, auth_time, &sid, &lt)
        .await?;
    let mut resp = code_redirect(base, env_id, &pending, &code);
    resp.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(
            &cookies::name(Kind::Session, env_id, secure),
            &session,
            lt.session,
            secure,
        ),
    );
    Ok(resp)
}

/// The CSRF token of the sign-off form: bound to the session cookie, which another
/// site can neither read nor send along with its own form (`SameSite=Lax`).
fn signoff_csrf(session_cookie: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(crypto::sha256(format!("pixie signoff\0{session_cookie}").as_bytes()))
}

/// The origin (`scheme://host[:port]`) of a base URL.
fn origin_of(url: &str) -> &str {
    match url.find("://") {
        Some(i) => url[i + 3..].find('/').map_or(url, |j| &url[..i + 3 + j]),
        None => url,
    }
}

/// `GET <issuer>/as/signoff`: a confirmation page (a link must not sign anyone off).
pub(super) async fn signoff_page(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = s.svc.environment(&env_id).await {
        return page_error(&base, e);
    }
    let session = cookies::get(&headers, &cookies::name(Kind::Session, &env_id, base.secure()));
    let csrf = session.as_deref().map(signoff_csrf).unwrap_or_default();
    let action = format!("{}{}", base.issuer(&env_id), paths::SIGNOFF);
    super::pages::signoff_page(base.url(), &action, &csrf)
}

/// `POST <issuer>/as/signoff`: ends the session of this browser and revokes every token
/// issued under it. Only from this site's own form: a foreign `Origin` is refused, and
/// the form's CSRF token must match the session cookie.
pub(super) async fn signoff(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = s.svc.environment(&env_id).await {
        return page_error(&base, e);
    }
    let foreign = headers
        .get(header::ORIGIN)
        .is_some_and(|o| o.as_bytes() != origin_of(base.url()).as_bytes());
    let secure = base.secure();
    let name = cookies::name(Kind::Session, &env_id, secure);
    if let Some(cookie) = cookies::get(&headers, &name) {
        let form = Params::parse(&body);
        let sent = form.get("csrf").unwrap_or("");
        if foreign || !crypto::ct_eq(signoff_csrf(&cookie).as_bytes(), sent.as_bytes()) {
            return error_page(
                base.url(),
                "this sign-off did not come from this site's own page: open the sign-off page and use its button",
            );
        }
        let hash = crypto::sha256(cookie.as_bytes());
        match s
            .svc
            .store
            .end_session(&env_id, &hash, &session_id(&hash), s.svc.now())
            .await
        {
            Ok(n) => {
                let fields = serde_json::json!({"env": env_id, "revoked": n});
                s.svc.obs.audit(s.svc.now(), "session.ended", fields);
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    let mut resp = super::pages::signed_off_page(base.url());
    resp.headers_mut()
        .append(header::SET_COOKIE, cookies::set(&name, "", 0, secure));
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins() {
        assert_eq!(
            super::origin_of("https://login.example.com/pixie"),
            "https://login.example.com"
        );
        assert_eq!(super::origin_of("http://127.0.0.1:7636"), "http://127.0.0.1:7636");
    }
}
