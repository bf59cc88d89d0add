//! `pixie bench`: load against a running server. Signs one user on once (pixie's flows
//! API, or an `/interaction/{uid}/login` form for bench/oidc-provider), then N workers loop for a fixed time: a fresh S256 verifier and challenge, the
//! authorization request with the session cookie, the code from `Location`, the token
//! request with the verifier, a check for an access token. A failed flow is counted
//! as an error and never in the figures.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use pixie_core::params::append_query;
use pixie_core::{ChallengeMethod, CodeChallenge, CodeVerifier};
use serde_json::json;

/// `pixie bench` options.
#[derive(Args)]
pub struct BenchArgs {
    /// The issuer (`<public-url>/<env>`).
    #[arg(long)]
    issuer: String,
    /// A public client registered for the flow (may start with `-`).
    #[arg(long, allow_hyphen_values = true)]
    client_id: String,
    /// Its redirect URI.
    #[arg(long, default_value = "http://127.0.0.1/callback")]
    redirect_uri: String,
    /// The user to sign on as once; the password is read from standard input.
    #[arg(long)]
    username: String,
    /// Concurrent workers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of warm-up first, not measured.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// `flow` (authorize + token), `authorize` only, or `discovery` (the HTTP ceiling).
    #[arg(long, default_value = "flow", value_parser = ["flow", "authorize", "discovery"])]
    mode: String,
    /// Scope to request.
    #[arg(long, default_value = "openid")]
    scope: String,
    /// How to sign on once: `flows` (pixie's flows API) or `interaction` (POST username
    /// and password to `<interaction URL>/login`, as bench/oidc-provider/server.mjs takes it).
    #[arg(long, default_value = "flows", value_parser = ["flows", "interaction"])]
    signin: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Send a DPoP proof (RFC 9449, ES256, a key per worker) with every token request,
    /// and expect DPoP-bound tokens.
    #[arg(long)]
    dpop: bool,
}

/// A worker's DPoP key, and the proofs it makes (a fresh `jti` and `iat` each).
struct DpopSigner {
    pair: aws_lc_rs::signature::EcdsaKeyPair,
    header: String,
    rng: aws_lc_rs::rand::SystemRandom,
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl DpopSigner {
    fn new() -> Result<Self, String> {
        use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|e| e.to_string())?;
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).map_err(|e| e.to_string())?;
        let public = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&public[1..33]), "y": b64(&public[33..65])});
        let header = b64(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk})
            .to_string()
            .as_bytes());
        Ok(Self { pair, header, rng })
    }

    /// A proof for `POST htu` now.
    fn proof(&self, htu: &str) -> Result<String, String> {
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|e| e.to_string())?;
        let iat = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let claims = json!({"jti": b64(&jti), "htm": "POST", "htu": htu, "iat": iat});
        let input = format!("{}.{}", self.header, b64(claims.to_string().as_bytes()));
        let sig = self.pair.sign(&self.rng, input.as_bytes()).map_err(|e| e.to_string())?;
        Ok(format!("{input}.{}", b64(sig.as_ref())))
    }
}

/// The endpoints, from the issuer's discovery document.
struct Endpoints {
    authorize: String,
    token: String,
    discovery: String,
}

struct Target {
    http: reqwest::Client,
    authorize: String,
    token: String,
    discovery: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    cookie: String,
}

#[derive(Default)]
struct Samples {
    /// Microseconds per step: "authorize", "token", "flow", "discovery".
    steps: HashMap<&'static str, Vec<u32>>,
    completed: u64,
    errors: u64,
    first_error: Option<String>,
}

fn us(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

async fn one(t: &Target, mode: &str, s: &mut Samples, record: bool, dpop: Option<&DpopSigner>) -> Result<(), String> {
    let start = Instant::now();
    if mode == "discovery" {
        let resp = t.http.get(&t.discovery).send().await.map_err(|e| e.to_string())?;
        if resp.status() != 200 {
            return Err(format!("discovery {}", resp.status()));
        }
        resp.bytes().await.map_err(|e| e.to_string())?;
        if record {
            s.steps.entry("discovery").or_default().push(us(start.elapsed()));
        }
        return Ok(());
    }
    let verifier = CodeVerifier::generate(&mut rand_core::OsRng, 43).map_err(|e| e.to_string())?;
    let challenge = CodeChallenge::from_verifier(&verifier, ChallengeMethod::S256).value();
    let url = append_query(
        &t.authorize,
        &[
            ("response_type", "code"),
            ("client_id", &t.client_id),
            ("redirect_uri", &t.redirect_uri),
            ("scope", &t.scope),
            ("state", "bench"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let resp = t
        .http
        .get(&url)
        .header("cookie", &t.cookie)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let code = location
        .split_once('?')
        .and_then(|(_, q)| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        })
        .ok_or_else(|| format!("authorize {}: no code in {location:.120}", resp.status()))?;
    let after_authorize = Instant::now();
    if mode == "flow" {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", t.redirect_uri.as_str()),
            ("client_id", t.client_id.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let mut req = t.http.post(&t.token).form(&form);
        if let Some(signer) = dpop {
            req = req.header("DPoP", signer.proof(&t.token)?);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if status != 200 || !body.windows(14).any(|w| w == b"\"access_token\"") {
            return Err(format!("token {status}: {:.120}", String::from_utf8_lossy(&body)));
        }
        const DPOP_TYPE: &[u8] = b"\"token_type\":\"DPoP\"";
        if dpop.is_some() && !body.windows(DPOP_TYPE.len()).any(|w| w == DPOP_TYPE) {
            return Err(format!(
                "token {status}: not DPoP-bound: {:.120}",
                String::from_utf8_lossy(&body)
            ));
        }
    }
    if record {
        let end = Instant::now();
        s.steps
            .entry("authorize")
            .or_default()
            .push(us(after_authorize - start));
        if mode == "flow" {
            s.steps.entry("token").or_default().push(us(end - after_authorize));
            s.steps.entry("flow").or_default().push(us(end - start));
        }
    }
    Ok(())
}

/// The authorization request that starts the one sign-on; its code is never used.
fn sign_on_request(a: &BenchArgs, e: &Endpoints) -> Result<String, String> {
    let verifier = CodeVerifier::generate(&mut rand_core::OsRng, 43).map_err(|e| e.to_string())?;
    let challenge = CodeChallenge::from_verifier(&verifier, ChallengeMethod::S256).value();
    Ok(append_query(
        &e.authorize,
        &[
            ("response_type", "code"),
            ("client_id", &a.client_id),
            ("redirect_uri", &a.redirect_uri),
            ("scope", &a.scope),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    ))
}

/// The `name=value` part of each `Set-Cookie`.
fn cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect()
}

/// `Location`, resolved against the request's URL.
fn location(resp: &reqwest::Response) -> Result<String, String> {
    let raw = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("{} without Location from {}", resp.status(), resp.url()))?;
    resp.url().join(raw).map(String::from).map_err(|e| e.to_string())
}

/// Signs on once through pixie's flows API; returns the session cookie header value.
async fn sign_on_flows(http: &reqwest::Client, a: &BenchArgs, e: &Endpoints, password: &str) -> Result<String, String> {
    let resp = http
        .get(sign_on_request(a, e)?)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let flow_cookies = cookies(&resp);
    let to = location(&resp)?;
    let flow_id = to
        .split("flowId=")
        .nth(1)
        .ok_or_else(|| format!("no sign-on flow: {to:.120}"))?
        .to_owned();
    let body: serde_json::Value = http
        .post(format!("{}/flows/{flow_id}", a.issuer))
        .header("content-type", pixie_core::wire::USERNAME_PASSWORD_CHECK)
        .json(&json!({"username": a.username, "password": password}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let resume = body["resumeUrl"]
        .as_str()
        .ok_or_else(|| format!("sign-on failed: {body}"))?;
    let resp = http
        .get(resume)
        .header("cookie", flow_cookies.join("; "))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let session: Vec<String> = cookies(&resp)
        .into_iter()
        .filter(|c| c.contains("pixie_session_"))
        .collect();
    if session.is_empty() {
        return Err("no session cookie after resume".into());
    }
    Ok(session.join("; "))
}

/// Signs on once through an interaction login form (bench/oidc-provider/server.mjs):
/// follows redirects with a cookie jar, posts the username and password to the first
/// `/interaction/{uid}` URL, and stops at the redirect URI. Returns every cookie kept.
async fn sign_on_interaction(
    http: &reqwest::Client,
    a: &BenchArgs,
    e: &Endpoints,
    password: &str,
) -> Result<String, String> {
    let mut jar: Vec<(String, String)> = Vec::new();
    let header = |jar: &[(String, String)]| {
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut url = sign_on_request(a, e)?;
    let mut signed_in = false;
    for _ in 0..10 {
        let req = if !signed_in && url.contains("/interaction/") {
            signed_in = true;
            let form = [("username", a.username.as_str()), ("password", password)];
            http.post(format!("{}/login", url.trim_end_matches('/'))).form(&form)
        } else {
            http.get(&url)
        };
        let resp = req
            .header("cookie", header(&jar))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        for c in cookies(&resp) {
            let (k, v) = c.split_once('=').unwrap_or((c.as_str(), ""));
            jar.retain(|(name, _)| name != k);
            if !v.is_empty() {
                jar.push((k.to_owned(), v.to_owned()));
            }
        }
        url = location(&resp)?;
        if url.starts_with(&a.redirect_uri) {
            return if signed_in {
                Ok(header(&jar))
            } else {
                Err(format!("no sign-in step before {url:.120}"))
            };
        }
    }
    Err("sign-in did not reach the redirect URI in 10 steps".into())
}

/// Reads the authorization and token endpoints from the discovery document.
async fn endpoints(http: &reqwest::Client, issuer: &str) -> Result<Endpoints, String> {
    let discovery = format!("{issuer}/.well-known/openid-configuration");
    let doc: serde_json::Value = http
        .get(&discovery)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| format!("discovery: {e}"))?;
    let field = |name: &str| {
        doc[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("discovery has no {name}"))
    };
    Ok(Endpoints {
        authorize: field("authorization_endpoint")?,
        token: field("token_endpoint")?,
        discovery,
    })
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// Runs `pixie bench`.
pub fn run(a: BenchArgs) -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut password = String::new();
    if a.mode != "discovery" {
        let _ = std::io::stdin().take(4096).read_to_string(&mut password);
    }
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let rt = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pixie: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(a.concurrency * 2)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let e = endpoints(&http, &a.issuer).await?;
        let cookie = match (a.mode.as_str(), a.signin.as_str()) {
            ("discovery", _) => String::new(),
            (_, "interaction") => sign_on_interaction(&http, &a, &e, &password).await?,
            _ => sign_on_flows(&http, &a, &e, &password).await?,
        };
        let target = Arc::new(Target {
            http,
            authorize: e.authorize,
            token: e.token,
            discovery: e.discovery,
            client_id: a.client_id.clone(),
            redirect_uri: a.redirect_uri.clone(),
            scope: a.scope.clone(),
            cookie,
        });
        let warm_end = Instant::now() + Duration::from_secs(a.warmup);
        let end = warm_end + Duration::from_secs(a.duration);
        let mut workers = Vec::new();
        for _ in 0..a.concurrency.max(1) {
            let (t, mode) = (target.clone(), a.mode.clone());
            let signer = if a.dpop { Some(DpopSigner::new()?) } else { None };
            workers.push(tokio::spawn(async move {
                let mut s = Samples::default();
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    let record = now >= warm_end;
                    match one(&t, &mode, &mut s, record, signer.as_ref()).await {
                        Ok(()) if record => s.completed += 1,
                        Ok(()) => {}
                        Err(e) => {
                            if record {
                                s.errors += 1;
                            }
                            s.first_error.get_or_insert(e);
                        }
                    }
                }
                s
            }));
        }
        let mut all = Samples::default();
        for w in workers {
            let s = w.await.map_err(|e| e.to_string())?;
            all.completed += s.completed;
            all.errors += s.errors;
            if all.first_error.is_none() {
                all.first_error = s.first_error;
            }
            for (k, v) in s.steps {
                all.steps.entry(k).or_default().extend(v);
            }
        }
        Ok::<_, String>(all)
    });
    let mut s = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pixie bench: {e}");
            return ExitCode::from(2);
        }
    };
    let per_second = s.completed as f64 / a.duration.max(1) as f64;
    let mut latency = serde_json::Map::new();
    let order = ["authorize", "token", "flow", "discovery"];
    for step in order {
        if let Some(v) = s.steps.get_mut(step) {
            v.sort_unstable();
            latency.insert(
                step.into(),
                json!({"p50": percentile(v, 0.5), "p90": percentile(v, 0.9), "p99": percentile(v, 0.99), "max": percentile(v, 1.0)}),
            );
        }
    }
    // Written at once, and a closed pipe (`| head`) is not a panic.
    let mut text = String::new();
    if a.json {
        let out = json!({
            "mode": a.mode, "concurrency": a.concurrency, "duration_s": a.duration, "completed": s.completed,
            "errors": s.errors, "per_second": per_second, "latency_ms": latency, "first_error": s.first_error,
        });
        let _ = writeln!(text, "{out}");
    } else {
        let unit = if a.mode == "discovery" { "requests" } else { "flows" };
        let _ = writeln!(
            text,
            "{}: C={} for {} s: {per_second:.0} {unit}/s ({} completed, {} errors)",
            a.mode, a.concurrency, a.duration, s.completed, s.errors
        );
        let _ = writeln!(text, "{:<10} {:>9} {:>9} {:>9} {:>9}", "ms", "p50", "p90", "p99", "max");
        for step in order {
            if let Some(l) = latency.get(step) {
                let _ = writeln!(
                    text,
                    "{step:<10} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                    l["p50"].as_f64().unwrap_or(0.0),
                    l["p90"].as_f64().unwrap_or(0.0),
                    l["p99"].as_f64().unwrap_or(0.0),
                    l["max"].as_f64().unwrap_or(0.0)
                );
            }
        }
        if let Some(e) = &s.first_error {
            let _ = writeln!(text, "first error: {e}");
        }
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    if s.errors > 0 || s.completed == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
