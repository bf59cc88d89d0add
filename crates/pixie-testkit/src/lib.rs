//! Test helpers: a pixie server started in-process on an ephemeral port with a fresh
//! data dir (or one already running at a URL), and the requests that drive its flows.
#![allow(missing_docs)]

pub mod chromium;

use pixie_server::{Running, ServeConfig, Settings};
use serde_json::Value;

/// reqwest is built with rustls but no provider of its own: use aws-lc-rs, pixie's
/// one crypto library, as the process default (idempotent).
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The admin URL of the test PostgreSQL, if one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("PIXIE_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// Whether test servers run on PostgreSQL (`PIXIE_TEST_BACKEND=postgres`).
pub fn postgres_backend() -> bool {
    if std::env::var("PIXIE_TEST_BACKEND").as_deref() != Ok("postgres") {
        return false;
    }
    assert!(
        postgres_url().is_some(),
        "PIXIE_TEST_BACKEND=postgres needs PIXIE_TEST_DATABASE_URL"
    );
    true
}

/// Creates an empty PostgreSQL database and returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection as _;
    let admin = postgres_url().expect("PIXIE_TEST_DATABASE_URL");
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("the test PostgreSQL answers");
    let name = format!("pixie_t_{}", random_hex());
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
    format!("{base}/{name}")
}

fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("{:016x}", h.finish())
}

/// The PostgreSQL database of a test data dir: created once, then reused (restarts).
async fn postgres_database_for(dir: &std::path::Path) -> String {
    let file = dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return url;
    }
    let url = fresh_postgres_database().await;
    std::fs::write(&file, &url).unwrap();
    url
}

/// A running test server and what a test needs to talk to it.
pub struct TestServer {
    pub running: Option<Running>,
    pub base: String,
    pub token: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

fn http_client() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// A test server's configuration: an ephemeral port, `dir` as the data dir, and the
/// data dir's PostgreSQL database when one was made for it.
pub fn config(dir: &std::path::Path) -> ServeConfig {
    ServeConfig::from_settings(Settings {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_path_buf()),
        database_url: std::fs::read_to_string(dir.join("test-database-url")).ok(),
        ..Settings::default()
    })
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir).await
    }

    pub async fn start_in(dir: tempfile::TempDir) -> Self {
        let cfg = config(dir.path());
        Self::start_with(dir, cfg).await
    }

    pub async fn start_with(dir: tempfile::TempDir, mut cfg: ServeConfig) -> Self {
        install_tls_provider();
        if postgres_backend() && cfg.database_url.starts_with("sqlite:") {
            cfg.database_url = postgres_database_for(dir.path()).await;
        }
        let running = pixie_server::start(cfg).await.expect("server starts");
        let http = http_client();
        Self {
            base: running.public_url.clone(),
            token: running.admin_token.clone(),
            running: Some(running),
            dir,
            http,
        }
    }

    /// Drives a server that runs elsewhere (another process) at `base`.
    pub fn remote(base: &str, admin_token: &str) -> Self {
        Self {
            running: None,
            base: base.trim_end_matches('/').to_owned(),
            token: admin_token.to_owned(),
            dir: tempfile::tempdir().expect("a temp dir"),
            http: http_client(),
        }
    }

    /// Stops the server and starts a new one on the same data dir.
    pub async fn restart(mut self) -> Self {
        self.running.take().unwrap().shutdown().await;
        Self::start_in(self.dir).await
    }

    /// A URL pixie printed, pointed at this server (whatever public URL it printed).
    pub fn local(&self, url: &str) -> String {
        match url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        {
            Some(path) => self.url(path),
            None => url.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// A self-signed certificate for 127.0.0.1 and its key (PEM files in `dir`), made with
/// openssl; `None` (and "SKIPPED" on stderr) without openssl, outside CI.
pub fn self_signed_cert(dir: &std::path::Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl is needed to make a test certificate"
        );
        eprintln!("SKIPPED: openssl is not installed");
        return None;
    }
    Some((cert, key))
}

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const REDIRECT: &str = "http://127.0.0.1/cb";
pub const PASSWORD: &str = "correct horse battery";

/// The query parameters of a URL.
pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    url_pairs(q)
}

pub fn url_pairs(q: &str) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `name=value` of each Set-Cookie header.
pub fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect()
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

impl TestServer {
    /// Creates an environment with a PKCE policy (JSON), a public client and user "tom".
    pub async fn env_with_public_client(&self, env: &str, pkce: Value, client_extra: Value) -> String {
        if env != "default" {
            let (st, body) = self
                .admin(
                    reqwest::Method::POST,
                    "/admin/environments",
                    Some(serde_json::json!({"id": env, "pkce": pkce})),
                )
                .await;
            assert!(st == 201 || st == 409, "{body}");
        }
        let mut meta = serde_json::json!({
            "client_name": "Test app", "redirect_uris": [REDIRECT, "https://app.example/cb"],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
        });
        for (k, v) in client_extra.as_object().unwrap() {
            meta[k] = v.clone();
        }
        let (st, app) = self
            .admin(
                reqwest::Method::POST,
                &format!("/admin/environments/{env}/applications"),
                Some(meta),
            )
            .await;
        assert_eq!(st, 201, "{app}");
        let user =
            serde_json::json!({"username": "tom", "password": PASSWORD, "email": "tom@example.com", "name": "Tom"});
        let (st, _) = self
            .admin(
                reqwest::Method::POST,
                &format!("/admin/environments/{env}/users"),
                Some(user),
            )
            .await;
        assert!(st == 201 || st == 409);
        app["client_id"].as_str().unwrap().to_owned()
    }

    /// POSTs a username/password check to a sign-on flow (the flows API).
    pub async fn flow_sign_on(&self, env: &str, flow_id: &str, username: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/{env}/flows/{flow_id}")))
            .header("content-type", "application/vnd.pixie.usernamePassword.check+json")
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// POSTs the sign-on page's form (as a browser with these cookies submits it).
    pub async fn signon_form(
        &self,
        env: &str,
        cookies: &[String],
        flow_id: &str,
        csrf: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/{env}/signon")))
            .header("cookie", cookies.join("; "))
            .form(&[
                ("flowId", flow_id),
                ("csrf", csrf),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
    }

    /// GET the authorization endpoint with these query pairs (and cookies).
    pub async fn authorize(&self, env: &str, pairs: &[(&str, &str)], cookies: &[String]) -> reqwest::Response {
        let mut req = self.http.get(self.url(&format!("/{env}/as/authorize"))).query(pairs);
        if !cookies.is_empty() {
            req = req.header("cookie", cookies.join("; "));
        }
        req.send().await.unwrap()
    }

    /// A standard S256 request's pairs.
    pub fn pairs(client_id: &str) -> Vec<(&str, &str)> {
        vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile email"),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
    }

    /// Runs authorize → flows API sign-on → resume; returns the final redirect's query
    /// and the cookies (flow and session).
    pub async fn code_via_flows(
        &self,
        env: &str,
        pairs: &[(&str, &str)],
    ) -> (std::collections::HashMap<String, String>, Vec<String>) {
        let resp = self.authorize(env, pairs, &[]).await;
        self.sign_on_and_resume(env, resp).await
    }

    /// Given the answer of an authorization request that started a sign-on flow: signs
    /// "tom" on through the flows API and resumes in the same browser; returns the final
    /// redirect's query and the cookies (flow and session).
    pub async fn sign_on_and_resume(
        &self,
        env: &str,
        authorized: reqwest::Response,
    ) -> (std::collections::HashMap<String, String>, Vec<String>) {
        assert_eq!(authorized.status(), 302);
        let mut cookies = set_cookies(&authorized);
        let flow_id = query(&location(&authorized))["flowId"].clone();
        let resp = self.flow_sign_on(env, &flow_id, "tom", PASSWORD).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "COMPLETED", "{body}");
        let resume = self.local(body["resumeUrl"].as_str().unwrap());
        let resp = self
            .http
            .get(&resume)
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302, "{:?}", resp.text().await);
        cookies.extend(set_cookies(&resp));
        (query(&location(&resp)), cookies)
    }

    /// The form of a public client's code exchange (the standard S256 request's
    /// redirect URI and verifier).
    pub fn code_exchange<'a>(client_id: &'a str, code: &'a str) -> [(&'a str, &'a str); 5] {
        [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
        ]
    }

    /// POSTs a token request (public client: client_id in the body).
    pub async fn token(&self, env: &str, form: &[(&str, &str)]) -> (u16, Value, reqwest::header::HeaderMap) {
        let resp = self
            .http
            .post(self.url(&format!("/{env}/as/token")))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.json().await.unwrap_or(Value::Null), headers)
    }

    pub async fn userinfo(&self, env: &str, token: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(&format!("/{env}/as/userinfo")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

impl TestServer {
    /// Moves the server's clock forward.
    pub fn advance(&self, secs: i64) {
        self.running.as_ref().unwrap().service().clock.advance(secs);
    }

    /// Introspects a token as a public client (client_id in the body).
    pub async fn introspect(&self, env: &str, client_id: &str, token: &str) -> Value {
        let resp = self
            .http
            .post(self.url(&format!("/{env}/as/introspect")))
            .form(&[("token", token), ("client_id", client_id)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// Runs the whole flow and exchanges the code; returns the token response.
    pub async fn tokens(&self, env: &str, client_id: &str) -> Value {
        let (q, _) = self.code_via_flows(env, &TestServer::pairs(client_id)).await;
        let (st, tok, _) = self.token(env, &TestServer::code_exchange(client_id, &q["code"])).await;
        assert_eq!(st, 200, "{tok}");
        tok
    }

    pub async fn refresh(&self, env: &str, client_id: &str, rt: &str, scope: Option<&str>) -> (u16, Value) {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", client_id),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let (st, body, _) = self.token(env, &form).await;
        (st, body)
    }
}

/// A client's DPoP key (ES256, RFC 9449) and the proofs it makes. Proofs are assembled
/// and signed here with aws-lc-rs, independently of the server's JOSE crate, so a test
/// can also make every malformed proof an attacker would.
pub struct DpopKey {
    pair: aws_lc_rs::signature::EcdsaKeyPair,
    /// The public key as a JWK.
    pub jwk: Value,
}

impl Default for DpopKey {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopKey {
    /// A fresh P-256 key.
    pub fn new() -> Self {
        use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64(&public[1..33]), "y": b64(&public[33..65])});
        Self { pair, jwk }
    }

    /// The key's RFC 7638 SHA-256 thumbprint, computed here from its members.
    pub fn jkt(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.jwk["x"].as_str().unwrap(),
            self.jwk["y"].as_str().unwrap()
        );
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// A proof for `htm` `htu` now (`iat` the server's clock, so advance it with the
    /// server's), with a fresh `jti`, and `ath` for `access_token`.
    pub fn proof(&self, htm: &str, htu: &str, iat: i64, access_token: Option<&str>) -> String {
        let mut claims = serde_json::json!({"jti": b64(&aws_lc_rs_random()), "htm": htm, "htu": htu, "iat": iat});
        if let Some(t) = access_token {
            claims["ath"] = Value::String(b64(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, t.as_bytes()).as_ref()
            ));
        }
        self.sign(
            serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}),
            claims,
        )
    }

    /// Signs any header and claims with this key (ES256), as given.
    pub fn sign(&self, header: Value, claims: Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = self.pair.sign(&rng, input.as_bytes()).unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }
}

fn aws_lc_rs_random() -> [u8; 16] {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl TestServer {
    /// The server's clock now (seconds since the epoch).
    pub fn now(&self) -> i64 {
        self.running.as_ref().unwrap().service().now()
    }
}

/// Whether `node` runs and `dir/node_modules/<package>` is installed (`npm ci` in
/// `dir`). When not, the test says it was skipped, or fails when `PIXIE_REQUIRE_NODE`
/// is set (as in CI).
pub fn node_interop_ready(dir: &std::path::Path, package: &str) -> bool {
    let ready = dir.join("node_modules").join(package).is_dir()
        && std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var_os("PIXIE_REQUIRE_NODE").is_none(),
            "PIXIE_REQUIRE_NODE is set but node or {}/node_modules is missing (npm ci there)",
            dir.display()
        );
        eprintln!("skipped: node or {}/node_modules missing", dir.display());
    }
    ready
}
