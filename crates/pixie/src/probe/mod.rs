//! `pixie probe`: audits any authorization server's PKCE handling against RFC 7636,
//! RFC 9700 and OAuth 2.1, and prints what it expected, what it saw, and a verdict.

mod client;

use std::io::Read as _;
use std::process::ExitCode;

use clap::Args;
use pixie_core::{ChallengeMethod, CodeChallenge, CodeVerifier};
use serde::Serialize;

use client::{Answer, Client, Login};

/// `pixie probe` options.
#[derive(Args)]
pub struct ProbeArgs {
    /// The issuer to audit (its discovery document is read).
    #[arg(long)]
    issuer: String,
    /// A client registered there for the authorization code flow (may start with `-`).
    #[arg(long, allow_hyphen_values = true)]
    client_id: String,
    /// The client's secret (sent with HTTP Basic); leave out for a public client.
    #[arg(long, allow_hyphen_values = true)]
    client_secret: Option<String>,
    /// A loopback redirect URI registered for the client (RFC 8252); port 0 or none picks one.
    #[arg(long, default_value = "http://127.0.0.1/callback")]
    redirect_uri: String,
    /// Scope to request.
    #[arg(long, default_value = "openid")]
    scope: String,
    /// Sign on headlessly through pixie's flows API as this user (password from stdin),
    /// instead of through a person at a browser.
    #[arg(long)]
    flows_login: Option<String>,
    /// Also audit the rules MCP clients depend on (metadata URLs, S256, registration,
    /// resource indicators).
    #[arg(long)]
    mcp: bool,
    /// With --mcp: a resource server (RFC 8707) the client may ask tokens for; checks
    /// that `resource` is honoured and named in the access token's `aud`.
    #[arg(long, requires = "mcp")]
    resource: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// How much a check matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// A MUST of the references: failing it fails the probe.
    Must,
    /// A SHOULD or RECOMMENDED.
    Should,
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// As expected.
    Pass,
    /// A MUST broken.
    Fail,
    /// A SHOULD not followed.
    Warn,
    /// Could not be checked (`n/a`; `observed` says why).
    #[serde(rename = "n/a")]
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub check: &'static str,
    /// What the references expect.
    pub expected: &'static str,
    /// Where they say so.
    pub reference: &'static str,
    /// MUST or SHOULD.
    pub level: Level,
    /// What happened, in words.
    pub observed: String,
    /// The HTTP status of the answer that decided it, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The OAuth `error` code of that answer, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `true` as expected, `false` not, `null` not checked (see `observed` for why).
    pub ok: Option<bool>,
    /// The verdict.
    pub verdict: Verdict,
}

/// What a check saw: words, and the status and error code behind them.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    text: String,
    status: Option<u16>,
    error: Option<String>,
}

impl From<String> for Seen {
    fn from(text: String) -> Self {
        Self {
            text,
            ..Self::default()
        }
    }
}

impl From<&str> for Seen {
    fn from(text: &str) -> Self {
        text.to_owned().into()
    }
}

/// Text from the audited server, safe to print: control characters (terminal escape
/// sequences, carriage returns) and invisible or direction-changing ones are replaced,
/// and it is cut to `max` characters. A hostile server must not be able to rewrite
/// what the operator sees.
pub fn printable(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if pixie_core::names::is_hidden(c) { '\u{FFFD}' } else { c })
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

fn check(
    check: &'static str,
    expected: &'static str,
    reference: &'static str,
    level: Level,
    ok: Option<bool>,
    seen: impl Into<Seen>,
) -> Check {
    let seen = seen.into();
    let observed = printable(&seen.text, 300);
    let verdict = match (ok, level) {
        (None, _) => Verdict::Skip,
        (Some(true), _) => Verdict::Pass,
        (Some(false), Level::Must) => Verdict::Fail,
        (Some(false), Level::Should) => Verdict::Warn,
    };
    Check {
        check,
        expected,
        reference,
        level,
        observed,
        status: seen.status,
        error: seen.error.map(|e| printable(&e, 100)),
        ok,
        verdict,
    }
}

/// A list of methods as a person reads it.
fn methods_text(methods: Option<&Vec<String>>) -> String {
    match methods {
        None => "code_challenge_methods_supported is not published".into(),
        Some(m) if m.is_empty() => "code_challenge_methods_supported is empty".into(),
        Some(m) => format!("advertised: {}", m.join(", ")),
    }
}

/// Random unreserved characters (state values).
pub fn random(bytes: usize) -> String {
    use base64::Engine as _;
    let mut b = vec![0u8; bytes];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn s256_pair() -> (CodeVerifier, String) {
    let v = CodeVerifier::generate(&mut rand_core::OsRng, 64).unwrap_or_else(|_| unreachable!("64 is in 43..=128"));
    let c = CodeChallenge::from_verifier(&v, ChallengeMethod::S256).value();
    (v, c)
}

fn describe(a: &Answer) -> Seen {
    match (&a.code, &a.error) {
        (Some(_), _) => "accepted (a code was issued)".into(),
        (None, Some((e, d))) => Seen {
            text: format!("refused: {e} ({d})"),
            status: None,
            error: Some(e.clone()),
        },
        (None, None) => "no code and no error".into(),
    }
}

fn token_observed(status: u16, body: &serde_json::Value) -> Seen {
    let error = body["error"].as_str().map(str::to_owned);
    let text = match (status, &error) {
        (200, _) => "HTTP 200: tokens issued".into(),
        (_, Some(e)) => match body["error_description"].as_str() {
            Some(d) => format!("HTTP {status}: {e} ({d})"),
            None => format!("HTTP {status}: {e}"),
        },
        (_, None) => format!("HTTP {status}, no error code"),
    };
    Seen {
        text,
        status: Some(status),
        error,
    }
}

/// Runs every check.
async fn run_checks(c: &mut Client) -> Result<Vec<Check>, String> {
    use Level::{Must, Should};
    let mut out = Vec::new();
    let methods = c.meta.methods.clone();
    out.push(check(
        "S256 advertised",
        "code_challenge_methods_supported lists S256",
        "RFC 9700 §2.1.1; RFC 8414",
        Should,
        Some(methods.as_ref().is_some_and(|m| m.iter().any(|x| x == "S256"))),
        methods_text(methods.as_ref()),
    ));
    out.push(check(
        "plain not advertised",
        "plain is not offered",
        "RFC 9700 §2.1.1; OAuth 2.1 §4.1.1",
        Should,
        Some(!methods.as_ref().is_some_and(|m| m.iter().any(|x| x == "plain"))),
        methods_text(methods.as_ref()),
    ));

    // The baseline: an S256 flow works, and its code works once.
    let (verifier, challenge) = s256_pair();
    let a = c
        .authorize(&[("code_challenge", &challenge), ("code_challenge_method", "S256")])
        .await?;
    let iss_ok = a.iss.as_deref() == Some(c.meta.issuer.as_str());
    out.push(check(
        "iss in the authorization response",
        "iss is present and equals the issuer",
        "RFC 9207 §2",
        if c.meta.iss_supported { Must } else { Should },
        Some(iss_ok),
        format!(
            "{}; authorization_response_iss_parameter_supported is {}",
            match &a.iss {
                Some(iss) => format!("iss={iss}"),
                None => "no iss".into(),
            },
            c.meta.iss_supported
        ),
    ));
    let Some(code) = a.code.clone() else {
        out.push(check(
            "S256 flow",
            "a code for an S256 request",
            "RFC 7636 §4.4",
            Must,
            Some(false),
            describe(&a),
        ));
        return Ok(out);
    };
    let (st, body) = c.exchange(&code, Some(verifier.as_str())).await?;
    let first_access = body["access_token"].as_str().map(str::to_owned);
    out.push(check(
        "S256 flow",
        "the right verifier gets tokens",
        "RFC 7636 §4.6",
        Must,
        Some(st == 200),
        token_observed(st, &body),
    ));
    // Before the reuse: the first access token works (else its revocation says nothing).
    let worked = match &first_access {
        Some(t) => c.userinfo_status(t).await,
        None => None,
    };
    let (st, body) = c.exchange(&code, Some(verifier.as_str())).await?;
    out.push(check(
        "code reuse",
        "a used code is refused (invalid_grant)",
        "RFC 6749 §4.1.2; OAuth 2.1 §4.1.3",
        Must,
        Some(st == 400),
        token_observed(st, &body),
    ));
    let (ok, seen): (Option<bool>, Seen) = match (&first_access, worked) {
        (None, _) => (None, "not checked: the first exchange issued no access token".into()),
        (Some(_), None) => (None, "not checked: no userinfo endpoint on the issuer's origin".into()),
        (Some(_), Some(before)) if before != 200 => (
            None,
            format!("not checked: the access token got HTTP {before} at userinfo before the reuse").into(),
        ),
        (Some(t), Some(_)) => match c.userinfo_status(t).await {
            Some(after) => (
                Some(after == 401),
                Seen {
                    text: format!("userinfo with the first access token after the reuse: HTTP {after}"),
                    status: Some(after),
                    error: None,
                },
            ),
            None => (None, "not checked: userinfo did not answer".into()),
        },
    };
    out.push(check(
        "code reuse revokes",
        "the tokens issued for a reused code are revoked (userinfo refuses them)",
        "RFC 6749 §4.1.2; RFC 9700 §4.5",
        Should,
        ok,
        seen,
    ));

    // The verifier is enforced.
    let (_, challenge) = s256_pair();
    let a = c
        .authorize(&[("code_challenge", &challenge), ("code_challenge_method", "S256")])
        .await?;
    let (ok, observed) = match &a.code {
        Some(code) => {
            let (st, body) = c.exchange(code, None).await?;
            (
                Some(st == 400 && body["error"] == "invalid_grant"),
                token_observed(st, &body),
            )
        }
        None => (None, describe(&a)),
    };
    out.push(check(
        "token without verifier",
        "refused (invalid_grant)",
        "RFC 7636 §4.6; RFC 9700 §2.1.1",
        Must,
        ok,
        observed,
    ));
    let (_, challenge) = s256_pair();
    let (wrong, _) = s256_pair();
    let a = c
        .authorize(&[("code_challenge", &challenge), ("code_challenge_method", "S256")])
        .await?;
    let (ok, observed) = match &a.code {
        Some(code) => {
            let (st, body) = c.exchange(code, Some(wrong.as_str())).await?;
            (
                Some(st == 400 && body["error"] == "invalid_grant"),
                token_observed(st, &body),
            )
        }
        None => (None, describe(&a)),
    };
    out.push(check(
        "wrong verifier",
        "refused (invalid_grant)",
        "RFC 7636 §4.6",
        Must,
        ok,
        observed,
    ));

    // Requests without PKCE, with plain, and the downgrade.
    let a = c.authorize(&[]).await?;
    out.push(check(
        "request without PKCE",
        "refused (invalid_request)",
        "OAuth 2.1 §4.1.1; RFC 9700 §2.1.1",
        Should,
        Some(a.code.is_none()),
        describe(&a),
    ));
    let (verifier, _) = s256_pair();
    let (ok, observed) = match &a.code {
        Some(code) => {
            let (st, body) = c.exchange(code, Some(verifier.as_str())).await?;
            (Some(st == 400), token_observed(st, &body))
        }
        None => (
            None,
            Seen::from("not reachable here: requests without PKCE are refused, so no code without a challenge exists to try it on"),
        ),
    };
    out.push(check(
        "downgrade (verifier without challenge)",
        "a code_verifier for a code issued without a challenge is refused",
        "RFC 9700 §2.1.1",
        Must,
        ok,
        observed,
    ));
    let (plain, _) = s256_pair();
    let a = c
        .authorize(&[("code_challenge", plain.as_str()), ("code_challenge_method", "plain")])
        .await?;
    out.push(check(
        "plain accepted",
        "refused",
        "RFC 9700 §2.1.1; OAuth 2.1 §4.1.1",
        Should,
        Some(a.code.is_none()),
        describe(&a),
    ));
    Ok(out)
}

/// The payload of a JWT, unverified (the probe reads claims; it trusts nothing in them).
fn jwt_payload(token: &str) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The checks of `--mcp`: what MCP clients (authorization specification 2025-11-25)
/// require of an authorization server.
async fn run_mcp_checks(c: &mut Client, resource: Option<&str>) -> Result<Vec<Check>, String> {
    use Level::{Must, Should};
    let mut out = Vec::new();
    let answers = c.mcp_metadata().await;
    let issuer = c.meta.issuer.trim_end_matches('/').to_owned();
    let serves = |a: &client::MetadataAnswer| {
        a.status == Some(200) && a.issuer.as_deref().map(|i| i.trim_end_matches('/')) == Some(issuer.as_str())
    };
    let observed = answers
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a.status.map_or("-".into(), |s| s.to_string()),
                printable(&a.url, 120)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    out.push(check(
        "MCP metadata discovery",
        "one of the URLs MCP clients try, in order, serves this issuer's metadata",
        "MCP authorization (metadata discovery); RFC 8414 §3",
        Must,
        Some(answers.iter().any(serves)),
        observed.clone(),
    ));
    out.push(check(
        "MCP metadata at every URL",
        "all three URLs serve it (clients differ in which they try)",
        "MCP authorization (metadata discovery)",
        Should,
        Some(answers.iter().all(serves)),
        observed,
    ));
    out.push(check(
        "S256 advertised (MCP)",
        "code_challenge_methods_supported lists S256 (MCP clients refuse otherwise)",
        "MCP authorization (PKCE)",
        Must,
        Some(c.meta.methods.as_ref().is_some_and(|m| m.iter().any(|x| x == "S256"))),
        methods_text(c.meta.methods.as_ref()),
    ));
    out.push(check(
        "client registration offered",
        "client_id_metadata_document_supported or a registration_endpoint",
        "MCP authorization (client registration)",
        Should,
        Some(c.meta.cimd_supported || c.meta.registration_endpoint.is_some()),
        format!(
            "client_id_metadata_document_supported is {}; registration_endpoint: {}",
            c.meta.cimd_supported,
            c.meta
                .registration_endpoint
                .as_deref()
                .map_or("none".into(), |u| printable(u, 120))
        ),
    ));
    let Some(resource) = resource else {
        out.push(check(
            "resource in aud",
            "the access token's aud names the resource asked for",
            "RFC 8707 §2; MCP authorization (resource parameter)",
            Must,
            None,
            "not checked: pass --resource",
        ));
        return Ok(out);
    };
    let (verifier, challenge) = s256_pair();
    let a = c
        .authorize(&[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", resource),
        ])
        .await?;
    let (ok, observed) = match &a.code {
        None => (Some(false), describe(&a)),
        Some(code) => {
            let (st, body) = c
                .exchange_with(code, Some(verifier.as_str()), &[("resource", resource)])
                .await?;
            let token = body["access_token"].as_str().unwrap_or("");
            match (st, jwt_payload(token)) {
                (200, Some(claims)) => {
                    let aud = &claims["aud"];
                    let named = aud == resource || aud.as_array().is_some_and(|a| a.iter().any(|v| v == resource));
                    (
                        Some(named),
                        Seen::from(format!("aud {}", printable(&aud.to_string(), 200))),
                    )
                }
                (200, None) => (
                    None,
                    "the access token is not a JWT: its audience cannot be read".into(),
                ),
                _ => (Some(false), token_observed(st, &body)),
            }
        }
    };
    out.push(check(
        "resource in aud",
        "the access token's aud names the resource asked for",
        "RFC 8707 §2; MCP authorization (resource parameter)",
        Must,
        ok,
        observed,
    ));
    Ok(out)
}

/// Columns the text report fits in.
const WIDTH: usize = 100;

/// The report for a terminal: a line per check (verdict, name, level), then what was
/// expected (and where it is written) and what was seen, wrapped to [`WIDTH`] columns.
fn table(issuer: &str, checks: &[Check]) -> String {
    let mut out = String::new();
    for line in crate::output::wrap(&format!("PKCE probe of {issuer}"), WIDTH) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    let indent = " ".repeat(9);
    for c in checks {
        let verdict = match c.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Warn => "warn",
            Verdict::Skip => "n/a",
        };
        let level = match c.level {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
        };
        out.push_str(&format!("{verdict:<8} {} ({level})\n", c.check));
        for (label, text) in [
            ("expected", format!("{} [{}]", c.expected, c.reference)),
            ("observed", c.observed.clone()),
        ] {
            let width = WIDTH - indent.len() - label.len() - 1;
            for (i, part) in crate::output::wrap(&text, width).iter().enumerate() {
                let head = if i == 0 { label } else { "" };
                out.push_str(&format!("{indent}{head:<8} {part}\n"));
            }
        }
    }
    out
}

/// Runs `pixie probe`: exit 0 when no MUST is broken, 1 when one is, 2 when the probe
/// itself could not run.
pub fn run(args: ProbeArgs) -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = match crate::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pixie: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        let (login, redirect_uri) = match &args.flows_login {
            Some(user) => {
                let mut password = String::new();
                std::io::stdin()
                    .take(4096)
                    .read_to_string(&mut password)
                    .map_err(|e| format!("reading the password from standard input: {e}"))?;
                let password = password.trim_end_matches(['\r', '\n']).to_owned();
                (
                    Login::Flows {
                        username: user.clone(),
                        password,
                    },
                    args.redirect_uri.clone(),
                )
            }
            None => {
                let (uri, rx) = client::receiver(&args.redirect_uri).await?;
                (Login::Browser(rx), uri)
            }
        };
        let mut c = Client::discover(
            &args.issuer,
            args.client_id.clone(),
            args.client_secret.clone(),
            redirect_uri,
            args.scope.clone(),
            login,
        )
        .await?;
        let mut checks = run_checks(&mut c).await?;
        if args.mcp {
            checks.extend(run_mcp_checks(&mut c, args.resource.as_deref()).await?);
        }
        Ok::<_, String>((c.meta.issuer.clone(), checks))
    });
    let (issuer, checks) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pixie probe: {}", printable(&e, 1000));
            return ExitCode::from(2);
        }
    };
    let issuer = printable(&issuer, 300);
    let failures = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    if args.json {
        let out = serde_json::json!({"issuer": issuer, "checks": checks, "must_failures": failures});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print!("{}", table(&issuer, &checks));
        println!("{failures} MUST failure(s)");
    }
    if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
