//! The admin console (CONTRACT §11), first part: it signs its operators in through
//! pixie's own authorization code flow with S256 PKCE, as a public client of the
//! `--console-env` environment, and lets in users whose roles hold `admin`.
//!
//! Its session is a cookie sealed with the master key (so any instance of a shared
//! store reads it): the user, their generation, an expiry and the CSRF secret. Each
//! request reads the user again, so disabling them, a new password or a removed role
//! ends their console session at once.

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pixie_core::params::Params;
use serde::{Deserialize, Serialize};

use super::pages::secure_headers;
use super::state::{AppState, Base};
use crate::crypto;
use crate::service::Service;

/// The console's client id in its environment.
pub const CLIENT_ID: &str = "pixie-console";
/// How long a console session lasts.
const SESSION_SECONDS: i64 = 8 * 3600;
/// How long a sign-in may take, from the redirect to the callback.
const SIGNIN_SECONDS: i64 = 600;
/// The role that opens the console.
pub const ADMIN_ROLE: &str = "admin";

/// The console client's redirect URI under a public URL.
pub fn redirect_uri(public_url: &str) -> String {
    format!("{}/console/callback", public_url.trim_end_matches('/'))
}

/// The console's client: public, S256 PKCE, code flow, its redirect URI under `/console/`.
pub fn client_metadata(public_url: &str) -> pixie_core::client::ClientMetadata {
    use pixie_core::client::{AuthMethod, ClientMetadata, GrantType, SigningAlg};
    ClientMetadata {
        client_name: "pixie console".into(),
        redirect_uris: vec![redirect_uri(public_url)],
        grant_types: vec![GrantType::AuthorizationCode],
        response_types: vec!["code".into()],
        token_endpoint_auth_method: AuthMethod::None,
        scope: "openid profile".into(),
        code_challenge_method: Some(pixie_core::ChallengeMethod::S256),
        require_pkce: true,
        id_token_signed_response_alg: SigningAlg::ES256,
        lifetimes: Default::default(),
        require_consent: false,
        self_registered: false,
        require_pushed_authorization_requests: false,
        dpop_bound_access_tokens: false,
        jwks: None,
        jwks_uri: None,
    }
}

/// What a sign-in in progress keeps (in a sealed cookie) until the callback.
#[derive(Serialize, Deserialize)]
struct SignIn {
    state: String,
    nonce: String,
    verifier: String,
    exp: i64,
}

/// A console session (in a sealed cookie).
#[derive(Serialize, Deserialize)]
struct Session {
    env: String,
    sub: String,
    generation: i64,
    exp: i64,
    csrf: String,
    /// Names the session for its revocation at sign-out (a copy of the cookie dies too).
    sid: String,
}

/// The revocation key of a console session (kept in the store's revocations).
fn revoked_key(sid: &str) -> String {
    format!("console-{sid}")
}

const SIGNIN_AAD: &[u8] = b"pixie console sign-in";
const SESSION_AAD: &[u8] = b"pixie console session";

fn cookie_name(base: &Base, what: &str) -> String {
    match base.secure() {
        true => format!("__Host-pixie_console{what}"),
        false => format!("pixie_console{what}"),
    }
}

fn seal<T: Serialize>(svc: &Service, value: &T, aad: &[u8]) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(svc.keys.master().seal(&json, aad))
}

fn open<T: for<'de> Deserialize<'de>>(svc: &Service, headers: &HeaderMap, name: &str, aad: &[u8]) -> Option<T> {
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)?;
    if value.len() > 2048 {
        return None;
    }
    let sealed = URL_SAFE_NO_PAD.decode(value).ok()?;
    let json = svc.keys.master().open(&sealed, aad).ok()?;
    serde_json::from_slice(&json).ok()
}

/// A `Set-Cookie` for the console: `HttpOnly`, `SameSite` as given, `Secure` under https.
fn set_cookie(base: &Base, name: &str, value: &str, max_age: i64, same_site: &str) -> HeaderValue {
    let secure = if base.secure() { "; Secure" } else { "" };
    let v = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("pixie_invalid=; Max-Age=0"))
}

fn redirect(to: &str) -> Response {
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    secure_headers(&mut resp);
    resp
}

#[derive(Template)]
#[template(path = "console_message.html")]
struct MessagePage<'a> {
    public_url: &'a str,
    heading: &'a str,
    message: &'a str,
    link: bool,
    signout_csrf: Option<&'a str>,
}

fn message(base: &Base, status: StatusCode, heading: &str, message: &str, link: bool) -> Response {
    message_with_signout(base, status, heading, message, link, None)
}

fn message_with_signout(
    base: &Base,
    status: StatusCode,
    heading: &str,
    message: &str,
    link: bool,
    signout_csrf: Option<&str>,
) -> Response {
    let page = MessagePage {
        public_url: base.url(),
        heading,
        message,
        link,
        signout_csrf,
    };
    let mut resp = match page.render() {
        Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    secure_headers(&mut resp);
    resp
}

/// One environment's line on the home page.
struct EnvLine {
    id: String,
    allowed: String,
    required: String,
    mode: String,
}

#[derive(Template)]
#[template(path = "console_home.html")]
struct HomePage<'a> {
    public_url: &'a str,
    username: &'a str,
    env: &'a str,
    envs: Vec<EnvLine>,
    csrf: &'a str,
}

/// Who is signed in to the console, checked against the store on every request.
enum Operator {
    /// An admin.
    Admin(Admin),
    /// Signed in, without the admin role.
    NotAdmin { username: String, csrf: String },
    /// No (valid) session: sign in.
    None,
}

/// A signed-in operator with the admin role.
pub(super) struct Admin {
    /// Their user id (what the audit log names).
    pub user_id: String,
    /// Their username.
    pub username: String,
    /// The session's CSRF secret, which every form carries.
    pub csrf: String,
}

impl Admin {
    /// The refusal page when a posted form lacks the session's CSRF token.
    pub(super) fn refuse_without_csrf(&self, base: &Base, form: &Params) -> Option<Response> {
        match crypto::ct_eq(form.get("csrf").unwrap_or("").as_bytes(), self.csrf.as_bytes()) {
            true => None,
            false => Some(message(
                base,
                StatusCode::FORBIDDEN,
                "Refused",
                "this form did not carry the console's CSRF token",
                false,
            )),
        }
    }
}

impl Admin {
    /// Writes a console change to the audit log, naming the operator.
    pub(super) fn audit(&self, s: &AppState, event: &str, mut fields: serde_json::Value) {
        fields["operator"] = self.user_id.clone().into();
        fields["via"] = "console".into();
        s.svc.obs.audit(s.svc.now(), event, fields);
    }
}

/// The request's public base (set by the router's first layer; a 500 without it).
async fn base_of(parts: &Parts) -> Result<Base, Response> {
    parts
        .extensions
        .get::<Base>()
        .cloned()
        .ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A console page's operator: an admin, or the answer instead (404 without a console,
/// the way to sign in, or the page saying the role is missing).
impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let base = base_of(parts).await?;
        admin_or_response(s, &base, &parts.headers).await
    }
}

/// A console form's POST: the admin and the form, once its CSRF token checks out.
pub(super) struct AdminForm(pub Admin, pub Params);

impl FromRequest<AppState> for AdminForm {
    type Rejection = Response;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let op = Admin::from_request_parts(&mut parts, s).await?;
        let base = base_of(&parts).await?;
        let body = axum::body::Bytes::from_request(Request::from_parts(parts, body), s)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = Params::parse(&body);
        match op.refuse_without_csrf(&base, &form) {
            Some(refusal) => Err(refusal),
            None => Ok(AdminForm(op, form)),
        }
    }
}

/// What a refused change shows: the admin API's description (it names the field), a
/// conflict in words, anything else as the API answers it.
pub(super) fn refused(base: &Base, e: crate::error::ApiError) -> Response {
    use crate::error::ApiError;
    match e {
        ApiError::Invalid { description, .. } => message_page(base, StatusCode::BAD_REQUEST, "Not saved", &description),
        ApiError::Conflict(what) => message_page(
            base,
            StatusCode::CONFLICT,
            "Not saved",
            &format!("{what} already exists"),
        ),
        e => e.into_response(),
    }
}

/// The admin behind a console request, or what to answer instead: 404 without a
/// console, the way to sign in, or the page saying the role is missing.
async fn admin_or_response(s: &AppState, base: &Base, headers: &HeaderMap) -> Result<Admin, Response> {
    let Some(env_id) = s.console_env.clone() else {
        return Err(not_found());
    };
    match operator(s, &env_id, base, headers).await {
        Ok(Operator::Admin(admin)) => Ok(admin),
        Ok(Operator::NotAdmin { username, csrf }) => Err(lacks_role(base, &username, &csrf)),
        Ok(Operator::None) => Err(redirect(&format!("{}/console/signin", base.url()))),
        Err(e) => Err(e.into_response()),
    }
}

/// A rendered console page with the security headers.
pub(super) fn html(page: &impl Template) -> Response {
    let mut resp = match page.render() {
        Ok(html) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    secure_headers(&mut resp);
    resp
}

/// A message page (a refused change, say) with the security headers.
pub(super) fn message_page(base: &Base, status: StatusCode, heading: &str, text: &str) -> Response {
    message(base, status, heading, text, false)
}

/// A 303 to `to` (after a form's POST).
pub(super) fn redirect_to(to: &str) -> Response {
    redirect(to)
}

/// `YYYY-MM-DD` of a day since the epoch.
pub(super) fn day_label(day: i64) -> String {
    time_label(day * 86_400)[..10].to_owned()
}

/// `YYYY-MM-DD HH:MM` (UTC) of seconds since the epoch.
pub(super) fn time_label(t: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

async fn operator(s: &AppState, env_id: &str, base: &Base, headers: &HeaderMap) -> crate::error::ApiResult<Operator> {
    let Some(session) = open::<Session>(&s.svc, headers, &cookie_name(base, ""), SESSION_AAD) else {
        return Ok(Operator::None);
    };
    if session.env != env_id || session.exp <= s.svc.now() {
        return Ok(Operator::None);
    }
    // Signed out: every copy of the cookie is over.
    if s.svc
        .store
        .access_token_revoked(env_id, &revoked_key(&session.sid), None, None)
        .await?
    {
        return Ok(Operator::None);
    }
    // Read afresh: a disabled user, a new password or a removed role shows at once.
    let Some(user) = s.svc.store.get_user(env_id, &session.sub).await? else {
        return Ok(Operator::None);
    };
    if user.disabled_at.is_some() || user.generation != session.generation {
        return Ok(Operator::None);
    }
    Ok(match user.roles.iter().any(|r| r == ADMIN_ROLE) {
        true => Operator::Admin(Admin {
            user_id: user.id,
            username: user.username,
            csrf: session.csrf,
        }),
        false => Operator::NotAdmin {
            username: user.username,
            csrf: session.csrf,
        },
    })
}

fn not_found() -> Response {
    crate::error::ApiError::NotFound("endpoint").into_response()
}

/// `GET /console/`: the home page, or the way to sign in.
pub(super) async fn home(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    Admin { username, csrf, .. }: Admin,
) -> Response {
    let Some(env_id) = s.console_env.clone() else {
        return not_found();
    };
    let envs = match s.svc.list_environments(Some("500"), None).await {
        Ok(page) => page.items,
        Err(e) => return e.into_response(),
    };
    let envs = envs
        .into_iter()
        .map(|e| EnvLine {
            allowed: e.pkce.allowed.names().join(", "),
            required: match e.pkce.required.names().join(", ") {
                r if r.is_empty() => "none".into(),
                r => r,
            },
            mode: e.pkce.mode.as_str().to_owned(),
            id: e.id,
        })
        .collect();
    html(&HomePage {
        public_url: base.url(),
        username: &username,
        env: &env_id,
        envs,
        csrf: &csrf,
    })
}

fn lacks_role(base: &Base, username: &str, csrf: &str) -> Response {
    let text = format!(
        "You are signed in as {username}, but the console is for users with the {ADMIN_ROLE} role. \
         Ask an administrator to add it to your roles, or sign out and sign in as another user."
    );
    message_with_signout(
        base,
        StatusCode::FORBIDDEN,
        "You lack the admin role",
        &text,
        false,
        Some(csrf),
    )
}

/// `GET /console/signin`: to the environment's authorization endpoint, with S256 PKCE,
/// `state` and `nonce` kept in a sealed cookie for the callback.
pub(super) async fn signin(State(s): State<AppState>, axum::Extension(base): axum::Extension<Base>) -> Response {
    let Some(env_id) = s.console_env.clone() else {
        return not_found();
    };
    let verifier = match pixie_core::CodeVerifier::generate(&mut rand_core::OsRng, 64) {
        Ok(v) => v,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let challenge = pixie_core::CodeChallenge::from_verifier(&verifier, pixie_core::ChallengeMethod::S256);
    let signin = SignIn {
        state: crypto::random_token::<16>(),
        nonce: crypto::random_token::<16>(),
        verifier: verifier.as_str().to_owned(),
        exp: s.svc.now() + SIGNIN_SECONDS,
    };
    let authorize = pixie_core::params::append_query(
        &format!("{}{}", base.issuer(&env_id), super::state::paths::AUTHORIZE),
        &[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", &redirect_uri(base.url())),
            ("scope", "openid profile"),
            ("state", &signin.state),
            ("nonce", &signin.nonce),
            ("code_challenge", &challenge.value()),
            ("code_challenge_method", "S256"),
        ],
    );
    let mut resp = redirect(&authorize);
    let cookie = set_cookie(
        &base,
        &cookie_name(&base, "_signin"),
        &seal(&s.svc, &signin, SIGNIN_AAD),
        SIGNIN_SECONDS,
        "Lax",
    );
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    resp
}

/// `GET /console/callback`: checks `state`, exchanges the code with the verifier (in
/// process, at the token grant), checks the ID token (signature, issuer, audience,
/// nonce, expiry), and starts a console session for an admin.
pub(super) async fn callback(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let Some(env_id) = s.console_env.clone() else {
        return not_found();
    };
    let q = Params::parse(query.unwrap_or_default().as_bytes());
    let fail = |why: &str| message(&base, StatusCode::BAD_REQUEST, "Sign-in failed", why, true);
    let Some(signin) = open::<SignIn>(&s.svc, &headers, &cookie_name(&base, "_signin"), SIGNIN_AAD) else {
        return fail("this browser did not start a console sign-in (or it took more than 10 minutes)");
    };
    if signin.exp <= s.svc.now() || !crypto::ct_eq(q.get("state").unwrap_or("").as_bytes(), signin.state.as_bytes()) {
        return fail("the sign-in's state does not match this browser's: start again");
    }
    if let Some(error) = q.get("error") {
        // Only a plausible OAuth error code is repeated; anything else is not echoed.
        let plausible = error.len() <= 64 && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        let said = if plausible { error } else { "an error" };
        return fail(&format!("the authorization server answered {said}"));
    }
    let Some(code) = q.get("code") else {
        return fail("no code came back");
    };
    // RFC 9207: the response names its issuer, and it must be the console's.
    if q.get("iss") != Some(base.issuer(&env_id).as_str()) {
        return fail("the response does not name the console's issuer (iss): start again");
    }
    match complete(&s, &env_id, &base, code, &signin).await {
        Ok(Some(session)) => {
            let username = session.1;
            let session = session.0;
            let mut resp = redirect(&format!("{}/console/", base.url()));
            let value = seal(&s.svc, &session, SESSION_AAD);
            let h = resp.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&base, &cookie_name(&base, ""), &value, SESSION_SECONDS, "Strict"),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(&base, &cookie_name(&base, "_signin"), "", 0, "Lax"),
            );
            let fields = serde_json::json!({"env": env_id, "user": session.sub, "username": username});
            s.svc.obs.audit(s.svc.now(), "console.signin", fields);
            resp
        }
        Ok(None) => fail("the code could not be exchanged, or the ID token did not check out: start again"),
        Err(e) => e.into_response(),
    }
}

/// The exchange and the ID token's checks; the session to start and the username.
async fn complete(
    s: &AppState,
    env_id: &str,
    base: &Base,
    code: &str,
    signin: &SignIn,
) -> crate::error::ApiResult<Option<(Session, String)>> {
    let env = s.svc.environment(env_id).await?;
    let client = s.svc.client(env_id, CLIENT_ID).await?;
    let issuer = base.issuer(env_id);
    let redirect = redirect_uri(base.url());
    let params = Params::from_pairs([
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
        ("client_id", CLIENT_ID),
        ("code_verifier", signin.verifier.as_str()),
    ]);
    let req = crate::grants::token::TokenRequest {
        env: &env,
        client: &client,
        params: &params,
        issuer: &issuer,
        dpop: None,
    };
    let Ok(tokens) = crate::grants::token::issue(&s.svc, req).await else {
        return Ok(None);
    };
    let Some(id_token) = tokens.id_token.as_deref() else {
        return Ok(None);
    };
    let now = s.svc.now();
    let keys = s.svc.env_keys(env_id).await?;
    let Some(kid) = crate::jwt::kid(id_token) else {
        return Ok(None);
    };
    let Some(key) = keys.verifying(&kid, now) else {
        return Ok(None);
    };
    let Some(claims) = crate::jwt::verify(key, "JWT", id_token) else {
        return Ok(None);
    };
    let checks = claims["iss"] == issuer.as_str()
        && claims["aud"] == CLIENT_ID
        && claims["nonce"] == signin.nonce.as_str()
        && claims["exp"].as_i64().is_some_and(|exp| exp > now);
    let Some(sub) = claims["sub"].as_str().filter(|_| checks) else {
        return Ok(None);
    };
    let Some(user) = s.svc.store.get_user(env_id, sub).await? else {
        return Ok(None);
    };
    Ok(Some((
        Session {
            env: env_id.to_owned(),
            sub: user.id.clone(),
            generation: user.generation,
            exp: now + SESSION_SECONDS,
            csrf: crypto::random_token::<16>(),
            sid: crypto::random_token::<16>(),
        },
        user.username,
    )))
}

/// `POST /console/signout`: ends the console session (with the form's CSRF token).
pub(super) async fn signout(
    State(s): State<AppState>,
    axum::Extension(base): axum::Extension<Base>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(env_id) = s.console_env.clone() else {
        return not_found();
    };
    let form = Params::parse(&body);
    let session = open::<Session>(&s.svc, &headers, &cookie_name(&base, ""), SESSION_AAD);
    let Some(session) = session.filter(|sess| sess.env == env_id) else {
        return redirect(&format!("{}/console/", base.url()));
    };
    if !crypto::ct_eq(form.get("csrf").unwrap_or("").as_bytes(), session.csrf.as_bytes()) {
        return message(
            &base,
            StatusCode::FORBIDDEN,
            "Refused",
            "this form did not carry the console's CSRF token",
            false,
        );
    }
    // The session is revoked in the store (a copied cookie dies too), and the
    // environment's sign-on session of this browser ends with it: signing in again
    // asks for the password.
    if let Err(e) = s
        .svc
        .store
        .revoke_access_token(&env_id, &revoked_key(&session.sid), session.exp)
        .await
    {
        return crate::error::ApiError::from(e).into_response();
    }
    let sso_name = super::cookies::name(super::cookies::Kind::Session, &env_id, base.secure());
    if let Some(sso) = super::cookies::get(&headers, &sso_name) {
        let csrf = crate::grants::authorization::signoff_csrf(&sso);
        if let Err(e) = crate::grants::authorization::sign_off(&s.svc, &env_id, &sso, &csrf, true).await {
            return e.into_response();
        }
    }
    s.svc.obs.audit(
        s.svc.now(),
        "console.signout",
        serde_json::json!({"env": env_id, "user": session.sub}),
    );
    let mut resp = message(
        &base,
        StatusCode::OK,
        "Signed out",
        "You are signed out of the console.",
        true,
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&base, &cookie_name(&base, ""), "", 0, "Strict"),
    );
    resp.headers_mut()
        .append(header::SET_COOKIE, super::cookies::set(&sso_name, "", 0, base.secure()));
    resp
}
