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
    /// Could not be checked.
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
    /// What happened.
    pub observed: String,
    /// The verdict.
    pub verdict: Verdict,
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
    observed: String,
) -> Check {
    let observed = printable(&observed, 300);
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
        verdict,
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

fn describe(a: &Answer) -> String {
    match (&a.code, &a.error) {
        (Some(_), _) => "accepted (a code was issued)".into(),
        (None, Some((e, d))) => format!("refused: {e} ({d})"),
        (None, None) => "no code and no error".into(),
    }
}

fn token_observed(status: u16, body: &serde_json::Value) -> String {
    if status == 200 {
        "200: tokens issued".into()
    } else {
        format!("{status}: {}", body["error"].as_str().unwrap_or("?"))
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
        format!("{methods:?}"),
    ));
    out.push(check(
        "plain not advertised",
        "plain is not offered",
        "RFC 9700 §2.1.1; OAuth 2.1 §4.1.1",
        Should,
        Some(!methods.as_ref().is_some_and(|m| m.iter().any(|x| x == "plain"))),
        format!("{methods:?}"),
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
            "{:?}{}",
            a.iss,
            if c.meta.iss_supported {
                " (advertised)"
            } else {
                " (not advertised)"
            }
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
    out.push(check(
        "S256 flow",
        "the right verifier gets tokens",
        "RFC 7636 §4.6",
        Must,
        Some(st == 200),
        token_observed(st, &body),
    ));
    let (st, body) = c.exchange(&code, Some(verifier.as_str())).await?;
    out.push(check(
        "code reuse",
        "a used code is refused (invalid_grant)",
        "RFC 6749 §4.1.2; OAuth 2.1 §4.1.3",
        Must,
        Some(st == 400),
        token_observed(st, &body),
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
        None => (Some(true), "not reachable: requests without PKCE are refused".into()),
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
        format!("{:?}", c.meta.methods),
    ));
    out.push(check(
        "client registration offered",
        "client_id_metadata_document_supported or a registration_endpoint",
        "MCP authorization (client registration)",
        Should,
        Some(c.meta.cimd_supported || c.meta.registration_endpoint.is_some()),
        format!(
            "documents: {}, registration_endpoint: {:?}",
            c.meta.cimd_supported,
            c.meta.registration_endpoint.as_deref().map(|u| printable(u, 120))
        ),
    ));
    let Some(resource) = resource else {
        out.push(check(
            "resource in aud",
            "the access token's aud names the resource asked for",
            "RFC 8707 §2; MCP authorization (resource parameter)",
            Must,
            None,
            "not checked: pass --resource".into(),
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
                    (Some(named), format!("aud {}", printable(&aud.to_string(), 200)))
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

fn table(issuer: &str, checks: &[Check]) -> String {
    let mut rows = vec![[
        "CHECK".to_owned(),
        "EXPECTED".to_owned(),
        "OBSERVED".to_owned(),
        "VERDICT".to_owned(),
    ]];
    for c in checks {
        let verdict = match c.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Warn => "warn",
            Verdict::Skip => "skip",
        };
        let level = match c.level {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
        };
        rows.push([
            c.check.to_owned(),
            format!("{level}: {} [{}]", c.expected, c.reference),
            c.observed.chars().take(70).collect(),
            verdict.to_owned(),
        ]);
    }
    let mut widths = [0usize; 4];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = format!("PKCE probe of {issuer}\n");
    for r in &rows {
        let line: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
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
