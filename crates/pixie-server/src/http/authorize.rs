//! The authorization endpoint and `/as/resume` (CONTRACT §4).

use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use pixie_core::params::{append_query, Params};
use pixie_core::OAuthError;

use super::cookies::{self, Kind};
use super::pages::error_page;
use super::respond::redirect;
use super::state::{paths, AppState};
use crate::authz::Pending;
use crate::grants::authorization::{self, AuthorizeRequest, Authorized, Resumed};

/// The authorization response: `code`, `state`, `iss` (RFC 9207) at the redirect URI.
fn code_redirect(base: &super::state::Base, env_id: &str, pending: &Pending, code: &str) -> Response {
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
    base: &super::state::Base,
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
                .get::<super::state::Base>()
                .cloned()
                .unwrap_or(super::state::Base(String::new()));
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
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    AuthorizeParams(params): AuthorizeParams,
) -> Response {
    let session = cookies::get(&headers, &cookies::name(Kind::Session, &env_id, base.secure()));
    let request = AuthorizeRequest {
        env_id: &env_id,
        params: &params,
        session_cookie: session.as_deref(),
        addr: &s.client_addr(peer, &headers),
    };
    match authorization::authorize(&s.svc, request).await {
        Ok(outcome) => authorized(&base, &env_id, outcome),
        Err(e) => super::pages::error_response(e, base.url()),
    }
}

/// The answer to a decided authorization request.
fn authorized(base: &super::state::Base, env_id: &str, outcome: Authorized) -> Response {
    match outcome {
        Authorized::Code { pending, code } => code_redirect(base, env_id, &pending, &code),
        Authorized::Refused {
            redirect_uri,
            state,
            error,
        } => error_redirect(base, env_id, &redirect_uri, state.as_deref(), &error),
        Authorized::Consent {
            flow_id,
            flow_cookie,
            lifetime,
        } => {
            let mut resp = redirect(&format!("{}{}?flowId={flow_id}", base.issuer(env_id), paths::CONSENT));
            let name = cookies::name(Kind::Flow, env_id, base.secure());
            let cookie = cookies::set(&name, &flow_cookie, lifetime, base.secure());
            resp.headers_mut().append(header::SET_COOKIE, cookie);
            resp
        }
        Authorized::SignOn {
            flow_id,
            flow_cookie,
            lifetime,
        } => {
            let mut resp = redirect(&format!("{}{}?flowId={flow_id}", base.issuer(env_id), paths::SIGNON));
            let name = cookies::name(Kind::Flow, env_id, base.secure());
            let cookie = cookies::set(&name, &flow_cookie, lifetime, base.secure());
            resp.headers_mut().append(header::SET_COOKIE, cookie);
            resp
        }
        Authorized::Throttled(wait) => {
            let msg = format!(
                "Too many sign-ons were started from your network. Try again in {} minute(s).",
                (wait + 59) / 60
            );
            super::respond::too_many(error_page(base.url(), &msg), wait)
        }
    }
}

/// `GET <issuer>/as/resume?flowId=…`: with the flow cookie, for a completed flow,
/// issues the code and a session.
pub(super) async fn resume(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let secure = base.secure();
    let flow_cookie = cookies::get(&headers, &cookies::name(Kind::Flow, &env_id, secure));
    match authorization::resume(&s.svc, &env_id, params.non_empty("flowId"), flow_cookie.as_deref()).await {
        Ok(Resumed::Code {
            pending,
            code,
            session_cookie,
            session_lifetime,
        }) => {
            let mut resp = code_redirect(&base, &env_id, &pending, &code);
            let name = cookies::name(Kind::Session, &env_id, secure);
            let cookie = cookies::set(&name, &session_cookie, session_lifetime, secure);
            resp.headers_mut().append(header::SET_COOKIE, cookie);
            resp
        }
        Ok(Resumed::Denied { pending }) => {
            let e = OAuthError::new(pixie_core::ErrorCode::AccessDenied, "the user did not consent");
            error_redirect(&base, &env_id, &pending.redirect_uri, pending.state.as_deref(), &e)
        }
        Err(e) => super::pages::error_response(e, base.url()),
    }
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
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = s.svc.environment(&env_id).await {
        return super::pages::error_response(e, base.url());
    }
    let session = cookies::get(&headers, &cookies::name(Kind::Session, &env_id, base.secure()));
    let csrf = session.as_deref().map(authorization::signoff_csrf).unwrap_or_default();
    let action = format!("{}{}", base.issuer(&env_id), paths::SIGNOFF);
    super::pages::signoff_page(base.url(), &action, &csrf)
}

/// `POST <issuer>/as/signoff`: ends the session of this browser and revokes every token
/// issued under it; the session cookie is cleared.
pub(super) async fn signoff(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<super::state::Base>,
    Path(env_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = s.svc.environment(&env_id).await {
        return super::pages::error_response(e, base.url());
    }
    let same_origin = headers
        .get(header::ORIGIN)
        .is_none_or(|o| o.as_bytes() == origin_of(base.url()).as_bytes());
    let name = cookies::name(Kind::Session, &env_id, base.secure());
    if let Some(cookie) = cookies::get(&headers, &name) {
        let form = Params::parse(&body);
        let csrf = form.get("csrf").unwrap_or("");
        if let Err(e) = authorization::sign_off(&s.svc, &env_id, &cookie, csrf, same_origin).await {
            return super::pages::error_response(e, base.url());
        }
    }
    let mut resp = super::pages::signed_off_page(base.url());
    resp.headers_mut()
        .append(header::SET_COOKIE, cookies::set(&name, "", 0, base.secure()));
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
