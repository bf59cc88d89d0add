//! The layers every request passes through, outermost first:
//!
//! 1. [`SetRequestIdLayer`] gives a request without an `X-Request-Id` a fresh one, and
//!    [`PropagateRequestIdLayer`] sends it back (CONTRACT §10);
//! 2. [`TraceLayer`]: the request span (route template, status, env, client; exported
//!    only when a collector is configured), then one log line and the request metrics;
//! 3. response headers every answer carries (`no-store` unless the handler chose a cache
//!    policy, `nosniff`, `no-referrer`);
//! 4. the request context: an ill-formed caller's request id replaced (one that is not
//!    1-64 characters of `[A-Za-z0-9._-]`), the public base URL, HSTS under https, the
//!    request id for the audit log, and the error shape for answers the framework wrote
//!    (plain text or nothing);
//! 5. the whole-request timeout (408) and panic catching (500), innermost, so that their
//!    answers get the same shape, headers and log line as any other.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;

use super::state::{AppState, Base};
use crate::observe::RequestIds;
use crate::service::Service;
use crate::telemetry::TRACE_TARGET;

/// CORS for the endpoints a browser-based client calls from its own origin (CONTRACT
/// §7): discovery, JWKS, token, introspection, revocation. Any origin, never with
/// credentials (no cookie reaches these endpoints; clients authenticate in the request);
/// preflight `OPTIONS` answered here. The authorization endpoint and the pages get none:
/// they are navigated to, not fetched.
pub fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::Method;
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}

/// `X-Request-Id`.
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps every route of `router` (and its fallback) in pixie's layers.
pub fn wrap(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let svc = state.svc.clone();
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), request_context))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(RequestSpan)
                .on_request(())
                .on_response(RequestLine { svc: svc.clone() })
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), FreshIds { svc }))
}

/// Fresh request ids from the service's generator.
#[derive(Clone)]
struct FreshIds {
    svc: Arc<Service>,
}

impl MakeRequestId for FreshIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&self.svc.obs.request_ids.fresh())
            .ok()
            .map(RequestId::new)
    }
}

/// What the log line and the metrics name a request by: set by [`request_context`] on
/// the response, read by [`RequestLine`].
#[derive(Clone, Debug)]
struct RequestFacts {
    method: axum::http::Method,
    route: Arc<str>,
    path: String,
    request_id: String,
}

/// The request span: disabled (and free) unless a trace exporter listens.
#[derive(Clone, Copy)]
struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> Span {
        let route = route_of(req.extensions());
        tracing::info_span!(
            target: TRACE_TARGET,
            "request",
            otel.name = %format_args!("{} {route}", req.method()),
            otel.kind = "server",
            http.request.method = %req.method(),
            http.route = route,
            http.response.status_code = tracing::field::Empty,
            // A caller's ill-formed id is replaced further in; the span keeps none of it.
            request_id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .filter(|id| RequestIds::is_well_formed(id))
                .unwrap_or(""),
            env = env_of(route, req.uri().path()).unwrap_or(""),
            client = tracing::field::Empty,
        )
    }
}

/// The route template, or `unmatched`.
fn route_of(ext: &axum::http::Extensions) -> &str {
    ext.get::<MatchedPath>().map_or("unmatched", |m| m.as_str())
}

/// The environment a request names: the path segment where the template has `{env}`.
fn env_of<'a>(route: &str, path: &'a str) -> Option<&'a str> {
    let at = route.split('/').position(|s| s == "{env}")?;
    path.split('/').nth(at)
}

/// One log line per request (method, route, path — never the query, which carries codes
/// and tokens — status, duration and request id) and the request metrics.
#[derive(Clone)]
struct RequestLine {
    svc: Arc<Service>,
}

impl<B> OnResponse<B> for RequestLine {
    fn on_response(self, resp: &axum::http::Response<B>, latency: Duration, span: &Span) {
        let status = resp.status().as_u16();
        span.record("http.response.status_code", status);
        let Some(facts) = resp.extensions().get::<RequestFacts>() else {
            return;
        };
        self.svc.obs.http_request(&facts.route, status, latency);
        tracing::info!(
            target: "pixie::http",
            method = %facts.method,
            request_id = %facts.request_id,
            route = %facts.route,
            path = %facts.path,
            status,
            micros = latency.as_micros() as u64,
            "request"
        );
    }
}

/// The public base URL, HSTS under https, the request id for everything the request
/// runs (the audit log reads it), and the error shape of the framework's own answers:
/// one middleware, as each costs a clone of the route's service per request.
async fn request_context(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let base = base_of(&state, &req);
    let https = base.secure();
    let replaced = replace_ill_formed_id(&state, &mut req);
    let facts = RequestFacts {
        method: req.method().clone(),
        route: Arc::from(route_of(req.extensions())),
        path: loggable_path(req.uri().path()),
        request_id: req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    };
    req.extensions_mut().insert(base);
    let resp = crate::observe::REQUEST_ID
        .scope(facts.request_id.clone(), next.run(req))
        .await;
    let mut resp = error_shape(resp).await;
    if let Some(id) = replaced {
        resp.headers_mut().insert(&REQUEST_ID, id);
    }
    if https {
        // Browsers take it only over https; then they never try plain http again.
        resp.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    resp.extensions_mut().insert(facts);
    resp
}

/// A path as the log line writes it: bytes outside printable ASCII percent-encoded, so a
/// request cannot put terminal controls, line breaks or direction overrides in the log.
fn loggable_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if (0x21..=0x7e).contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request's public base URL: the configured one, or what a trusted proxy forwards.
fn base_of(state: &AppState, req: &Request) -> Base {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = match peer {
        Some(ip) if !state.svc.public_url_configured => crate::net::forwarded_base(ip, req.headers(), &state.trusted),
        _ => None,
    };
    Base(forwarded.unwrap_or_else(|| state.svc.public_url.clone()))
}

/// Replaces a caller's request id that CONTRACT §10 does not accept with a fresh one
/// (set on the request for what runs next); returns it, for the response.
fn replace_ill_formed_id(state: &AppState, req: &mut Request) -> Option<HeaderValue> {
    let sent = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok());
    if sent.is_some_and(RequestIds::is_well_formed) {
        return None;
    }
    let fresh = HeaderValue::from_str(&state.svc.obs.request_ids.fresh()).ok()?;
    req.headers_mut().insert(&REQUEST_ID, fresh.clone());
    Some(fresh)
}

/// A handler that panicked answers 500 `server_error`; what it said is logged, not sent.
fn panic_response(cause: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = cause
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(cause = %what, "a handler panicked");
    let body = pixie_core::wire::ErrorBody {
        error: "server_error".into(),
        error_description: "internal error".into(),
    };
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

/// Gives every error response an RFC 6749-shaped body. pixie's own errors already have
/// one (JSON, an HTML page, or the flows API's); this catches the framework's
/// rejections (a bad path encoding, 405, 413, a timeout, …), which answer in plain text
/// or nothing, and renders them through the one error type.
async fn error_shape(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let structured = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    if structured {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let mut out = crate::error::ApiError::Rejected {
        status,
        text: String::from_utf8_lossy(&text).into_owned(),
    }
    .into_response();
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::env_of;

    #[test]
    fn logged_paths_hold_no_controls() {
        assert_eq!(super::loggable_path("/default/as/jwks"), "/default/as/jwks");
        assert_eq!(super::loggable_path("/a\u{9b}2J\u{202e}"), "/a%C2%9B2J%E2%80%AE");
        assert_eq!(super::loggable_path("/a b\n"), "/a%20b%0A");
    }

    #[test]
    fn env_is_the_segment_under_the_template_placeholder() {
        assert_eq!(env_of("/{env}/as/token", "/prod/as/token"), Some("prod"));
        assert_eq!(
            env_of("/admin/environments/{env}/users", "/admin/environments/e1/users"),
            Some("e1")
        );
        assert_eq!(env_of("/healthz", "/healthz"), None);
    }
}
