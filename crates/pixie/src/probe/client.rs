//! The probe's side of the protocol: discovery, getting codes (through a person at a
//! browser and a loopback receiver, or headlessly with pixie's flows API), and token
//! requests. Nothing here judges; `super` does.

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use pixie_core::params::append_query;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;
use tokio::sync::mpsc;

/// What discovery said.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// `issuer`.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `code_challenge_methods_supported`, if published.
    pub methods: Option<Vec<String>>,
    /// `authorization_response_iss_parameter_supported`.
    pub iss_supported: bool,
    /// `registration_endpoint`, if published.
    pub registration_endpoint: Option<String>,
    /// `client_id_metadata_document_supported`.
    pub cimd_supported: bool,
    /// `userinfo_endpoint`, when published on the issuer's origin (the probe sends an
    /// access token nowhere else).
    pub userinfo_endpoint: Option<String>,
}

/// What one metadata URL answered.
#[derive(Debug, Clone)]
pub struct MetadataAnswer {
    /// The URL.
    pub url: String,
    /// The HTTP status (`None`: no answer).
    pub status: Option<u16>,
    /// The `issuer` of a JSON document, if it was one.
    pub issuer: Option<String>,
}

/// How the probe signs on to get codes.
pub enum Login {
    /// A person opens each URL in a browser; the redirect lands on a loopback receiver.
    Browser(mpsc::Receiver<String>),
    /// pixie's flows API with these credentials.
    Flows {
        /// Username.
        username: String,
        /// Password.
        password: String,
    },
}

/// The answer at the redirect URI.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// `code`, when the request was accepted.
    pub code: Option<String>,
    /// `error` and `error_description`, when it was refused.
    pub error: Option<(String, String)>,
    /// `iss`, if sent.
    pub iss: Option<String>,
    /// `state`, if sent.
    pub state: Option<String>,
}

/// The probe's HTTP side.
pub struct Client {
    http: reqwest::Client,
    /// Discovery.
    pub meta: Metadata,
    client_id: String,
    client_secret: Option<String>,
    /// The redirect URI requests use.
    pub redirect_uri: String,
    scope: String,
    login: Login,
    cookies: HashMap<String, String>,
    /// The issuer's origin: the only one that gets a password, a cookie or a secret.
    home: String,
}

/// The most the probe reads of any answer: a discovery document or a token response is
/// a few KB; a server that sends more is refused, not buffered.
pub const MAX_BODY: usize = 1 << 20;

/// Reads a response body, refusing one over [`MAX_BODY`].
async fn read_body(mut resp: reqwest::Response, what: &str) -> Result<Vec<u8>, String> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(format!("{what}: the answer is larger than {MAX_BODY} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{what}: {e}"))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("{what}: the answer is larger than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The origin (`scheme://host[:port]`) of a URL, lower-cased.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    ))
}

/// Why a request got no answer, in the words of the deepest cause ("Connection refused
/// (os error 111)", "dns error: …"), not reqwest's "error sending request".
fn reason(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    match e.is_timeout() {
        true => "no answer in time".into(),
        false => cause.to_string(),
    }
}

fn pairs(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

impl Client {
    /// Reads discovery (OpenID Connect first, then RFC 8414).
    pub async fn discover(
        issuer: &str,
        client_id: String,
        client_secret: Option<String>,
        redirect_uri: String,
        scope: String,
        login: Login,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let issuer = issuer.trim_end_matches('/');
        let (scheme_host, path) = match issuer
            .find("://")
            .and_then(|i| issuer[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(cut) => (&issuer[..cut], &issuer[cut..]),
            None => (issuer, ""),
        };
        let candidates = [
            format!("{issuer}/.well-known/openid-configuration"),
            format!("{scheme_host}/.well-known/oauth-authorization-server{path}"),
        ];
        let mut doc = None;
        // What each place answered, to say why none had a document.
        let mut answers = Vec::new();
        for url in &candidates {
            match http.get(url).send().await {
                Ok(resp) if resp.status().is_success() => {
                    let body = read_body(resp, url).await?;
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(v) => {
                            doc = Some(v);
                            break;
                        }
                        Err(_) => answers.push(format!("{url}: not JSON")),
                    }
                }
                Ok(resp) => answers.push(format!("{url}: HTTP {}", resp.status().as_u16())),
                Err(e) => answers.push(format!("{url}: {}", reason(&e))),
            }
        }
        let doc = doc.ok_or_else(|| format!("no discovery document ({})", answers.join("; ")))?;
        let s = |k: &str| {
            doc[k]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("discovery has no {k}"))
        };
        let meta = Metadata {
            issuer: s("issuer")?,
            authorization_endpoint: s("authorization_endpoint")?,
            token_endpoint: s("token_endpoint")?,
            methods: doc["code_challenge_methods_supported"]
                .as_array()
                .map(|a| a.iter().filter_map(|m| m.as_str().map(str::to_owned)).collect()),
            iss_supported: doc["authorization_response_iss_parameter_supported"] == true,
            registration_endpoint: doc["registration_endpoint"].as_str().map(str::to_owned),
            cimd_supported: doc["client_id_metadata_document_supported"] == true,
            userinfo_endpoint: doc["userinfo_endpoint"].as_str().map(str::to_owned),
        };
        // Endpoints are URLs: whitespace or hidden characters in one are an attempt to
        // disguise what the operator is asked to open.
        for (name, url) in [
            ("authorization_endpoint", &meta.authorization_endpoint),
            ("token_endpoint", &meta.token_endpoint),
        ] {
            if url
                .chars()
                .any(|c| c.is_whitespace() || pixie_core::names::is_hidden(c))
            {
                return Err(format!(
                    "discovery's {name} holds spaces or control characters: refusing to go on"
                ));
            }
        }
        // RFC 8414 §3.3: the issuer in the document is the one asked for, exactly;
        // otherwise this is another server's document (a mix-up, or an impostor).
        if meta.issuer.trim_end_matches('/') != issuer {
            return Err(format!(
                "discovery names the issuer {:?}, not {issuer:?} (RFC 8414 §3.3 requires them identical): refusing to go on",
                meta.issuer
            ));
        }
        let home = origin(issuer).ok_or_else(|| format!("--issuer {issuer:?} is not an absolute URL"))?;
        let mut meta = meta;
        if meta.userinfo_endpoint.as_deref().and_then(origin).as_deref() != Some(home.as_str()) {
            meta.userinfo_endpoint = None;
        }
        // The secret goes only where the issuer lives.
        if client_secret.is_some() && origin(&meta.token_endpoint).as_deref() != Some(home.as_str()) {
            return Err(format!(
                "the token endpoint {:?} is not on the issuer's origin {home}: pixie probe sends a client secret only there",
                meta.token_endpoint
            ));
        }
        Ok(Self {
            http,
            meta,
            client_id,
            client_secret,
            redirect_uri,
            scope,
            login,
            cookies: HashMap::new(),
            home,
        })
    }

    /// The metadata URLs an MCP client tries, in its order (MCP authorization,
    /// "Authorization Server Metadata Discovery"), and what each answered.
    pub async fn mcp_metadata(&self) -> Vec<MetadataAnswer> {
        let issuer = self.meta.issuer.trim_end_matches('/');
        let (scheme_host, path) = match issuer
            .find("://")
            .and_then(|i| issuer[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(cut) => (&issuer[..cut], &issuer[cut..]),
            None => (issuer, ""),
        };
        let urls = [
            format!("{scheme_host}/.well-known/oauth-authorization-server{path}"),
            format!("{scheme_host}/.well-known/openid-configuration{path}"),
            format!("{issuer}/.well-known/openid-configuration"),
        ];
        let mut out = Vec::new();
        for url in urls {
            let (status, issuer) = match self.http.get(&url).send().await {
                Err(_) => (None, None),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let doc = match read_body(resp, &url).await {
                        Ok(body) => serde_json::from_slice::<Value>(&body).ok(),
                        Err(_) => None,
                    };
                    (Some(status), doc.and_then(|d| d["issuer"].as_str().map(str::to_owned)))
                }
            };
            out.push(MetadataAnswer { url, status, issuer });
        }
        out
    }

    /// Whether `url` is on the issuer's origin.
    fn at_home(&self, url: &str) -> bool {
        origin(url).as_deref() == Some(self.home.as_str())
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            if let Some((k, v)) = v
                .to_str()
                .ok()
                .and_then(|c| c.split(';').next())
                .and_then(|c| c.split_once('='))
            {
                self.cookies.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A GET; the issuer's cookies go only to the issuer's origin, and only its
    /// cookies are kept.
    async fn get(&mut self, url: &str) -> Result<(u16, Option<String>, String), String> {
        let home = self.at_home(url);
        let mut req = self.http.get(url);
        if home {
            req = req.header(COOKIE, self.cookie_header());
        }
        let resp = req.send().await.map_err(|e| format!("GET {url}: {e}"))?;
        if home {
            self.keep_cookies(resp.headers());
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_body(resp, url).await?;
        Ok((status, location, String::from_utf8_lossy(&body).into_owned()))
    }

    fn answer_from(&self, location: &str) -> Option<Answer> {
        let rest = location.strip_prefix(self.redirect_uri.split('?').next().unwrap_or(""))?;
        let q = pairs(rest.split_once('?').map_or("", |(_, q)| q));
        Some(Answer {
            code: q.get("code").cloned(),
            error: q
                .get("error")
                .map(|e| (e.clone(), q.get("error_description").cloned().unwrap_or_default())),
            iss: q.get("iss").cloned(),
            state: q.get("state").cloned(),
        })
    }

    /// Sends an authorization request with these extra parameters and returns what
    /// came back at the redirect URI.
    pub async fn authorize(&mut self, extra: &[(&str, &str)]) -> Result<Answer, String> {
        let state = crate::probe::random(12);
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", self.scope.as_str()),
            ("state", state.as_str()),
        ];
        params.extend_from_slice(extra);
        let url = append_query(&self.meta.authorization_endpoint, &params);
        let answer = match &mut self.login {
            Login::Browser(rx) => {
                eprintln!(
                    "\nOpen this URL in a browser and sign on (waiting up to 5 minutes):\n{}\n\
                     If the browser shows an error page instead of coming back, the server refused \
                     the request before redirecting: most often {} is not a registered redirect URI \
                     of client {}.\n",
                    crate::probe::printable(&url, 8192),
                    crate::probe::printable(&self.redirect_uri, 200),
                    crate::probe::printable(&self.client_id, 200),
                );
                let query = tokio::time::timeout(Duration::from_secs(300), rx.recv())
                    .await
                    .map_err(|_| {
                        format!(
                            "no answer at the redirect URI {} within 5 minutes: is it registered for the client \
                             (exactly, port included)? The server shows an error page, not a redirect, when it is not",
                            crate::probe::printable(&self.redirect_uri, 200)
                        )
                    })?
                    .ok_or("the loopback receiver stopped")?;
                let q = pairs(&query);
                Answer {
                    code: q.get("code").cloned(),
                    error: q
                        .get("error")
                        .map(|e| (e.clone(), q.get("error_description").cloned().unwrap_or_default())),
                    iss: q.get("iss").cloned(),
                    state: q.get("state").cloned(),
                }
            }
            Login::Flows { .. } => self.authorize_headless(&url).await?,
        };
        if answer.state.as_deref() != Some(state.as_str()) && answer.code.is_some() {
            return Err("the response's state differs from the request's".into());
        }
        Ok(answer)
    }

    async fn authorize_headless(&mut self, url: &str) -> Result<Answer, String> {
        let (status, location, body) = self.get(url).await?;
        let location = location
            .ok_or_else(|| format!("authorization request answered {status} without a redirect: {body:.200}"))?;
        if let Some(a) = self.answer_from(&location) {
            return Ok(a); // refused, or a session answered at once
        }
        let flow_id = location
            .split_once('?')
            .map(|(_, q)| pairs(q))
            .and_then(|q| q.get("flowId").cloned())
            .ok_or_else(|| format!("redirected to {location}, which is neither the redirect URI nor a sign-on flow"))?;
        let Login::Flows { username, password } = &self.login else {
            return Err("no credentials".into());
        };
        // One path segment of pixie's flow ids (base64url): anything else would let
        // the authorization endpoint choose where on the issuer the password goes.
        if flow_id.is_empty()
            || flow_id.len() > 128
            || !flow_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "the sign-on flow id {:?} is not a flow id: refusing to send the password",
                crate::probe::printable(&flow_id, 80)
            ));
        }
        let flows = format!("{}/flows/{flow_id}", self.meta.issuer);
        let resp = self
            .http
            .post(&flows)
            .header("content-type", pixie_core::wire::USERNAME_PASSWORD_CHECK)
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .map_err(|e| format!("POST {flows}: {e}"))?;
        let body: Value =
            serde_json::from_slice(&read_body(resp, "flows API").await?).map_err(|e| format!("flows API: {e}"))?;
        let resume = body["resumeUrl"]
            .as_str()
            .ok_or_else(|| format!("sign-on failed: {}", body["message"].as_str().unwrap_or("no resumeUrl")))?
            .to_owned();
        // The session cookie this GET carries is the issuer's: it goes nowhere else.
        if !self.at_home(&resume) {
            return Err(format!(
                "the flows API sent the resume URL {resume:?}, which is not on the issuer's origin {}: not followed",
                self.home
            ));
        }
        let (_, location, _) = self.get(&resume).await?;
        let location = location.ok_or("resume did not redirect")?;
        self.answer_from(&location)
            .ok_or_else(|| format!("resume redirected to {location}"))
    }

    /// Exchanges a code; returns the status and JSON body.
    pub async fn exchange(&self, code: &str, verifier: Option<&str>) -> Result<(u16, Value), String> {
        self.exchange_with(code, verifier, &[]).await
    }

    /// The HTTP status of the userinfo endpoint for this access token (`None` when the
    /// issuer publishes none on its origin, or it did not answer).
    pub async fn userinfo_status(&self, access_token: &str) -> Option<u16> {
        let url = self.meta.userinfo_endpoint.as_ref()?;
        let resp = self.http.get(url).bearer_auth(access_token).send().await.ok()?;
        Some(resp.status().as_u16())
    }

    /// A code exchange with extra parameters (`resource`, say).
    pub async fn exchange_with(
        &self,
        code: &str,
        verifier: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Result<(u16, Value), String> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
        ];
        form.extend_from_slice(extra);
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        let mut req = self.http.post(&self.meta.token_endpoint);
        match &self.client_secret {
            Some(secret) => {
                let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let basic = STANDARD.encode(format!("{}:{}", enc(&self.client_id), enc(secret)));
                req = req.header("authorization", format!("Basic {basic}"));
            }
            None => form.push(("client_id", self.client_id.as_str())),
        }
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("token request: {e}"))?;
        let status = resp.status().as_u16();
        let body = read_body(resp, "token request").await?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }
}

/// A loopback receiver (RFC 8252 §7.3): answers the redirect and passes on its query.
pub async fn receiver(redirect_uri: &str) -> Result<(String, mpsc::Receiver<String>), String> {
    let rest = redirect_uri
        .strip_prefix("http://")
        .ok_or("--redirect-uri must be a loopback http:// URI")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path }.to_owned();
    // RFC 8252 §7.3: a loopback receiver, reachable from this machine only.
    let host = authority
        .strip_prefix('[')
        .and_then(|v6| v6.split_once(']').map(|(h, _)| h))
        .unwrap_or_else(|| authority.rsplit_once(':').map_or(authority, |(h, _)| h));
    if !matches!(host, "127.0.0.1" | "::1" | "localhost") {
        return Err(format!(
            "--redirect-uri must name a loopback host (127.0.0.1, [::1] or localhost), not {host:?}: \
             the receiver takes the code, and only this machine may reach it"
        ));
    }
    // A port is whatever follows the host (after `]` for an IPv6 literal).
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').is_some_and(|(_, rest)| rest.starts_with(':')),
        None => authority.contains(':'),
    };
    let bind = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:0")
    };
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(authority, |(h, _)| &authority[..h.len() + 2]),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let (tx, rx) = mpsc::channel(4);
    let app = axum::Router::new().route(
        &path,
        axum::routing::get(move |axum::extract::RawQuery(q): axum::extract::RawQuery| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(q.unwrap_or_default()).await;
                axum::response::Html(
                    "<!doctype html><title>pixie probe</title><p>Received. You can close this tab.</p>",
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{host}:{port}{path}"), rx))
}
