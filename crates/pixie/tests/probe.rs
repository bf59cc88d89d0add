//! `pixie probe` against pixie (strict and permissive) and against a deliberately
//! non-compliant server, headless through the flows API.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{pixie, run_json, serve};
use serde_json::{json, Value};

fn probe(issuer: &str, client_id: &str) -> (Option<i32>, Value) {
    probe_with(issuer, client_id, &[])
}

fn probe_with(issuer: &str, client_id: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let mut child = pixie()
        .args([
            "probe",
            "--issuer",
            issuer,
            "--client-id",
            client_id,
            "--flows-login",
            "tom",
            "--json",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"pw of tom\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let json =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), json)
}

fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn setup_env(data: &str, env: &str, extra: &[&str]) -> String {
    if env != "default" {
        let mut args = vec!["env", "create", env, "--data-dir", data];
        args.extend_from_slice(extra);
        assert!(pixie().args(&args).output().unwrap().status.success());
    }
    let app = run_json(
        pixie().args([
            "app",
            "create",
            "--data-dir",
            data,
            "--env",
            env,
            "--name",
            "probe",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--public",
        ]),
        None,
    );
    run_json(
        pixie().args([
            "user",
            "create",
            "--data-dir",
            data,
            "--env",
            env,
            "--username",
            "tom",
            "--password-stdin",
        ]),
        Some("pw of tom\n"),
    );
    app["client_id"].as_str().unwrap().to_owned()
}

#[test]
fn probe_pixie_strict_and_permissive() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut cmd = pixie();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data]);
    let server = serve(cmd);
    let strict = setup_env(data, "default", &[]);
    let (code, report) = probe(&format!("{}/default", server.url), &strict);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["must_failures"], 0);
    for (check, verdict) in verdicts(&report) {
        // Without PKCE nothing gets a code, so the downgrade has nothing to try: n/a, said why.
        let expected = if check == "downgrade (verifier without challenge)" {
            "n/a"
        } else {
            "pass"
        };
        assert_eq!(verdict, expected, "strict pixie: {check}");
    }
    // Structured JSON: ok, the HTTP status and error code of what decided a check.
    let checks = report["checks"].as_array().unwrap();
    let by = |name: &str| checks.iter().find(|c| c["check"] == name).unwrap().clone();
    let reuse = by("code reuse");
    assert_eq!(
        (reuse["ok"].clone(), reuse["status"].clone()),
        (json!(true), json!(400))
    );
    assert_eq!(reuse["error"], "invalid_grant");
    let downgrade = by("downgrade (verifier without challenge)");
    assert_eq!(downgrade["ok"], Value::Null);
    assert!(
        downgrade["observed"].as_str().unwrap().contains("not reachable"),
        "{downgrade}"
    );
    assert_eq!(by("request without PKCE")["error"], "invalid_request");
    // Pixie revokes the first tokens of a reused code.
    assert_eq!(by("code reuse revokes")["verdict"], "pass");
    assert_eq!(by("code reuse revokes")["status"], 401);
    assert_eq!(by("S256 advertised")["observed"], "advertised: S256", "no debug text");
    let permissive = setup_env(
        data,
        "legacy",
        &[
            "--pkce-allowed",
            "plain,S256",
            "--pkce-required",
            "none",
            "--no-require-for-public-clients",
        ],
    );
    let (code, report) = probe(&format!("{}/legacy", server.url), &permissive);
    assert_eq!(code, Some(0), "a permissive policy breaks no MUST: {report}");
    let v = verdicts(&report);
    let get = |name: &str| v.iter().find(|(c, _)| c == name).map(|(_, v)| v.as_str()).unwrap();
    assert_eq!(get("request without PKCE"), "warn");
    assert_eq!(get("plain accepted"), "warn");
    assert_eq!(get("plain not advertised"), "warn");
    assert_eq!(
        get("downgrade (verifier without challenge)"),
        "pass",
        "reached, and refused"
    );
    assert_eq!(get("token without verifier"), "pass");
    assert_eq!(get("code reuse"), "pass");
}

/// `pixie probe --mcp` against pixie: the metadata URLs MCP clients try, S256, and a
/// registered resource honoured and named in `aud`; registration is not offered yet
/// (a SHOULD: a warning). Against an unregistered resource the MUST fails.
#[test]
fn probe_mcp_against_pixie() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut cmd = pixie();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data]);
    let server = serve(cmd);
    let client = setup_env(data, "default", &[]);
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let resource = "https://mcp.example.com/mcp";
    common::install_tls_provider();
    let created = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::Client::new()
            .post(format!("{}/admin/environments/default/resources", server.url))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({"uri": resource, "scopes": ["files:read"]}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(created, 201);
    let issuer = format!("{}/default", server.url);
    let (code, report) = probe_with(&issuer, &client, &["--mcp", "--resource", resource]);
    assert_eq!(code, Some(0), "{report}");
    let v = verdicts(&report);
    let get = |name: &str| v.iter().find(|(c, _)| c == name).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(get("MCP metadata discovery"), "pass");
    assert_eq!(get("MCP metadata at every URL"), "pass");
    assert_eq!(get("S256 advertised (MCP)"), "pass");
    assert_eq!(get("resource in aud"), "pass");
    assert_eq!(get("client registration offered"), "warn");
    let (code, report) = probe_with(&issuer, &client, &["--mcp", "--resource", "https://elsewhere.example/"]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        verdicts(&report)
            .iter()
            .find(|(c, _)| c == "resource in aud")
            .unwrap()
            .1,
        "fail"
    );
    // Without --resource the check is skipped, not passed.
    let (_, report) = probe_with(&issuer, &client, &["--mcp"]);
    assert_eq!(
        verdicts(&report)
            .iter()
            .find(|(c, _)| c == "resource in aud")
            .unwrap()
            .1,
        "n/a"
    );
}

/// Client ids are base64url: one may start with '-', and is still a value.
#[test]
fn a_client_id_starting_with_a_hyphen_is_a_value() {
    let out = pixie()
        .args([
            "probe",
            "--issuer",
            "http://127.0.0.1:9/x",
            "--client-id",
            "-abc",
            "--flows-login",
            "tom",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("unexpected argument"), "{err}");
    assert_eq!(out.status.code(), Some(2), "the probe ran (and found no server): {err}");
}

/// A server that issues codes and accepts any verifier, any number of times: the
/// probe must fail it, and exit 1.
#[test]
fn probe_fails_a_server_that_ignores_pkce() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let issuer = base.clone();
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || {
                    let issuer = issuer.clone();
                    async move {
                        axum::Json(serde_json::json!({
                            "issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
                            "token_endpoint": format!("{issuer}/token"), "code_challenge_methods_supported": ["plain", "S256"],
                        }))
                    }
                }),
            )
            .route(
                "/authorize",
                axum::routing::get(|axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    let loc = format!("{}?code=same-code&state={}", q["redirect_uri"], q["state"]);
                    (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, loc)])
                }),
            )
            .route(
                "/token",
                axum::routing::post(|| async { axum::Json(serde_json::json!({"access_token": "x", "token_type": "Bearer"})) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    });
    let (code, report) = probe(&base, "any");
    assert_eq!(code, Some(1), "{report}");
    let v = verdicts(&report);
    let get = |name: &str| v.iter().find(|(c, _)| c == name).map(|(_, v)| v.as_str()).unwrap();
    for must in [
        "code reuse",
        "token without verifier",
        "wrong verifier",
        "downgrade (verifier without challenge)",
    ] {
        assert_eq!(get(must), "fail", "{must}");
    }
    assert_eq!(
        get("iss in the authorization response"),
        "warn",
        "not advertised: a SHOULD"
    );
    assert!(report["must_failures"].as_u64().unwrap() >= 4);
    // The table form says the same, for a person.
    let mut child = pixie()
        .args(["probe", "--issuer", &base, "--client-id", "any", "--flows-login", "tom"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"x\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL") && text.contains("MUST failure(s)"), "{text}");
    // A terminal's 100 columns, words whole.
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
    assert!(text.contains("FAIL     code reuse (MUST)"), "{text}");
    // Its token endpoint hands out the same tokens for a reused code; with no userinfo
    // endpoint the revocation cannot be seen: n/a, not pass.
    assert_eq!(get("code reuse revokes"), "n/a");
    drop(rt);
    let _ = Command::new("true").status();
}

/// `pixie pkce report` as an operator runs it, after traffic against a server in report
/// mode (stopped with SIGTERM, which saves its observations).
#[cfg(unix)]
#[test]
fn pkce_report_table_after_report_mode_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut cmd = pixie();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data]);
    let mut server = serve(cmd);
    let client = setup_env(data, "mig", &["--pkce-allowed", "plain,S256", "--pkce-mode", "report"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    common::install_tls_provider();
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for _ in 0..3 {
            let resp = http
                .get(format!("{}/mig/as/authorize", server.url))
                .query(&[
                    ("response_type", "code"),
                    ("client_id", &client),
                    ("redirect_uri", "http://127.0.0.1/callback"),
                    ("scope", "openid"),
                ])
                .send()
                .await
                .unwrap();
            let loc = resp.headers()["location"].to_str().unwrap().to_owned();
            assert!(loc.contains("/signon?flowId="), "report mode lets it through: {loc}");
        }
    });
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    server.child.wait().unwrap();
    let out = pixie()
        .args(["pkce", "report", "--env", "mig", "--data-dir", data])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    // The client by the name it was given, its id, the rule, and what to do.
    let line = text
        .lines()
        .find(|l| l.starts_with("probe ") && l.contains(&client))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("0/0/3"), "none: 3 would_reject: {line}");
    assert!(line.contains("required_missing=3"), "{line}");
    assert!(line.contains("not ready: 3 request(s) without PKCE"), "{line}");
    let todo = text.split("What to do:").nth(1).unwrap_or_else(|| panic!("{text}"));
    assert!(
        todo.contains(&format!(
            "probe ({client}): update the client to send S256 before switching"
        )),
        "{text}"
    );
    let json = run_json(
        pixie().args(["pkce", "report", "--env", "mig", "--data-dir", data, "--json"]),
        None,
    );
    assert_eq!(json["clients"][0]["rules"]["required_missing"], 3);
}

/// `pixie bench` against pixie for a second: flows complete, none fail.
#[test]
fn the_load_tool_completes_flows_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut cmd = pixie();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data]);
    let server = serve(cmd);
    let client = setup_env(data, "default", &[]);
    let mut child = pixie()
        .args([
            "bench",
            "--issuer",
            &format!("{}/default", server.url),
            "--client-id",
            &client,
            "--username",
            "tom",
        ])
        .args(["--concurrency", "4", "--duration", "1", "--warmup", "0", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"pw of tom\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert!(j["completed"].as_u64().unwrap() > 0);
    assert_eq!(j["errors"], 0);
    for step in ["authorize", "token", "flow"] {
        assert!(j["latency_ms"][step]["p99"].as_f64().unwrap() > 0.0, "{step}");
    }
}

/// A key rotation under load (issue 18): `pixie bench` runs flows while the ES256 key is
/// rotated through the admin API and the RS256 key through the CLI (as another instance
/// would): no flow fails, a token issued before the rotation still verifies, and a new
/// one is signed by the new key.
#[test]
fn a_key_rotation_under_load_fails_no_flow() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut cmd = pixie();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data]);
    let server = serve(cmd);
    let admin = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let client = setup_env(data, "default", &[]);
    let backend = run_json(
        pixie().args([
            "app",
            "create",
            "--data-dir",
            data,
            "--env",
            "default",
            "--name",
            "backend",
            "--redirect-uri",
            "https://backend.example/cb",
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "client_secret_post",
        ]),
        None,
    );
    let (id, secret) = (
        backend["client_id"].as_str().unwrap().to_owned(),
        backend["client_secret"].as_str().unwrap().to_owned(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    common::install_tls_provider();
    let http = reqwest::Client::new();
    let token_url = format!("{}/default/as/token", server.url);
    let introspect_url = format!("{}/default/as/introspect", server.url);
    let creds = [("client_id", id.as_str()), ("client_secret", secret.as_str())];
    let token = || {
        rt.block_on(async {
            let mut form = vec![("grant_type", "client_credentials")];
            form.extend_from_slice(&creds);
            let tok: Value = http
                .post(&token_url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            tok["access_token"].as_str().unwrap().to_owned()
        })
    };
    let active = |t: &str| {
        rt.block_on(async {
            let mut form = vec![("token", t)];
            form.extend_from_slice(&creds);
            let body: Value = http
                .post(&introspect_url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["active"] == true
        })
    };
    let before = token();
    assert!(active(&before));

    let mut bench = pixie()
        .args([
            "bench",
            "--issuer",
            &format!("{}/default", server.url),
            "--client-id",
            &client,
        ])
        .args([
            "--username",
            "tom",
            "--concurrency",
            "4",
            "--duration",
            "4",
            "--warmup",
            "0",
            "--json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    bench.stdin.take().unwrap().write_all(b"pw of tom\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let rotated: Value = rt.block_on(async {
        http.post(format!("{}/admin/environments/default/keys/rotate", server.url))
            .bearer_auth(admin.trim())
            .json(&serde_json::json!({"alg": "ES256"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let by_cli = run_json(
        pixie().args([
            "key",
            "rotate",
            "--data-dir",
            data,
            "--env",
            "default",
            "--alg",
            "RS256",
            "--json",
        ]),
        None,
    );
    assert_eq!(by_cli["status"], "active");
    let out = bench.wait_with_output().unwrap();
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert!(j["completed"].as_u64().unwrap() > 0, "{j}");
    assert_eq!(j["errors"], 0, "no flow failed across the rotation: {j}");

    assert!(active(&before), "a token issued before the rotation still verifies");
    let after = token();
    use base64::Engine as _;
    let header = after.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["kid"], rotated["kid"], "the new key signs");
    assert!(active(&after));
}

/// `pixie bench --signin interaction` against a server shaped like
/// bench/oidc-provider/server.mjs: the sign-in goes through its interaction form with the
/// password, the session cookie it sets is kept, and only then do flows run. A wrong
/// password stops the tool before any flow.
#[test]
fn the_load_tool_signs_in_through_an_interaction_form() {
    use axum::extract::{Form, Query};
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use serde_json::json;
    use std::collections::HashMap;
    type Q = Query<HashMap<String, String>>;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let issuer = base.clone();
        let has = |h: &HeaderMap, c: &str| h.get(header::COOKIE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(c));
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let i = issuer.clone();
                    async move { axum::Json(json!({"authorization_endpoint": format!("{i}/auth"), "token_endpoint": format!("{i}/token")})) }
                }),
            )
            .route(
                "/auth",
                get(move |h: HeaderMap, Query(q): Q| async move {
                    if has(&h, "_session=s1") {
                        let to = format!("{}?code=c1", q["redirect_uri"]);
                        (StatusCode::SEE_OTHER, [(header::LOCATION, to), (header::SET_COOKIE, "x=1".into())])
                    } else {
                        let c = "_interaction=i1; path=/".to_owned();
                        (StatusCode::SEE_OTHER, [(header::LOCATION, "/interaction/abc".into()), (header::SET_COOKIE, c)])
                    }
                }),
            )
            .route(
                "/interaction/abc/login",
                post(move |h: HeaderMap, Form(f): Form<HashMap<String, String>>| async move {
                    if !has(&h, "_interaction=i1") || f["username"] != "tom" || f["password"] != "pw of tom" {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    (StatusCode::SEE_OTHER, [(header::LOCATION, "/auth/abc")]).into_response()
                }),
            )
            .route(
                "/auth/abc",
                get(move |h: HeaderMap| async move {
                    assert!(has(&h, "_interaction=i1"));
                    let cookies = axum::response::AppendHeaders([(header::SET_COOKIE, "_session=s1"), (header::SET_COOKIE, "_interaction=; expires=Thu, 01 Jan 1970 00:00:00 GMT")]);
                    (StatusCode::SEE_OTHER, cookies, [(header::LOCATION, "http://127.0.0.1/callback?code=c0")])
                }),
            )
            .route("/token", post(|| async { axum::Json(json!({"access_token": "a", "token_type": "Bearer"})) }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    });
    let bench = |password: &[u8]| {
        let mut child = pixie()
            .args([
                "bench",
                "--issuer",
                &base,
                "--client-id",
                "c",
                "--username",
                "tom",
                "--signin",
                "interaction",
            ])
            .args(["--concurrency", "2", "--duration", "1", "--warmup", "0", "--json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(password).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = bench(b"pw of tom\n");
    let j: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert!(j["completed"].as_u64().unwrap() > 0, "{j}");
    assert_eq!(j["errors"], 0);
    let out = bench(b"wrong\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    drop(rt);
}

// --- `pixie probe` against a hostile server (security review, part two) ------------

/// A server the probe audits, and a second ("foreign") one on another port that only
/// records what reaches it.
struct Hostile {
    rt: tokio::runtime::Runtime,
    base: String,
    hits: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Starts both; `app` builds the audited server's routes from (its base, the foreign base).
fn hostile(app: impl FnOnce(String, String) -> axum::Router) -> Hostile {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (base, foreign) = rt.block_on(async {
        let l1 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let l2 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", l1.local_addr().unwrap());
        let foreign = format!("http://{}", l2.local_addr().unwrap());
        let record = hits.clone();
        let spy = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let record = record.clone();
            async move {
                let mut seen = format!("{} {}", req.method(), req.uri());
                for (k, v) in req.headers() {
                    seen.push_str(&format!(" {k}: {}", v.to_str().unwrap_or("?")));
                }
                record.lock().unwrap().push(seen);
                axum::Json(serde_json::json!({"access_token": "x", "token_type": "Bearer"}))
            }
        });
        let a = app(base.clone(), foreign.clone());
        tokio::spawn(async move { axum::serve(l1, a).await });
        tokio::spawn(async move { axum::serve(l2, spy).await });
        (base, foreign)
    });
    let _ = foreign;
    Hostile { rt, base, hits }
}

/// A discovery route answering `doc`.
fn discovery(doc: Value) -> axum::Router {
    axum::Router::new().route(
        "/.well-known/openid-configuration",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc) }
        }),
    )
}

/// Runs the probe (flows login "tom", password on stdin) with extra arguments; the
/// exit code, stdout and stderr.
fn probe_raw(issuer: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut child = pixie()
        .args(["probe", "--issuer", issuer, "--client-id", "c", "--flows-login", "tom"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"the password\n").unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A dead issuer is said to be dead (issue 19): the OS's reason, not "no document".
#[test]
fn the_probe_says_why_there_is_no_discovery() {
    let (code, _, err) = probe_raw("http://127.0.0.1:1/default", &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
}

/// RFC 8414 §3.3: a discovery document for another issuer is refused, and nothing is
/// sent to the endpoints it names.
#[test]
fn the_probe_refuses_a_discovery_for_another_issuer() {
    let h = hostile(|_, foreign| {
        discovery(serde_json::json!({
            "issuer": foreign, "authorization_endpoint": format!("{foreign}/authorize"),
            "token_endpoint": format!("{foreign}/token"), "code_challenge_methods_supported": ["S256"],
        }))
    });
    let (code, _, err) = probe_raw(&h.base, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("issuer"), "{err}");
    assert!(h.hits.lock().unwrap().is_empty(), "{:?}", h.hits.lock().unwrap());
    drop(h.rt);
}

/// The client secret, the password and the issuer's cookies go only to the issuer's
/// origin, whatever endpoints the server names.
#[test]
fn the_probe_sends_secrets_only_to_the_issuer() {
    // A token endpoint elsewhere, with a client secret: refused before any request
    // (the server would hand out codes, so the next step would be the token request).
    let h = hostile(|base, foreign| {
        discovery(serde_json::json!({
            "issuer": base, "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{foreign}/token"), "code_challenge_methods_supported": ["S256"],
        }))
        .route(
            "/authorize",
            axum::routing::get(
                |axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    let loc = format!("{}?code=a-code&state={}", q["redirect_uri"], q["state"]);
                    (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, loc)])
                },
            ),
        )
    });
    let (code, _, err) = probe_raw(&h.base, &["--client-secret", "the-client-secret"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("token endpoint"), "{err}");
    assert!(h.hits.lock().unwrap().is_empty(), "{:?}", h.hits.lock().unwrap());
    drop(h.rt);
    // A resume URL elsewhere: not followed with the issuer's session cookie.
    let h = hostile(|base, foreign| {
        let b = base.clone();
        discovery(serde_json::json!({
            "issuer": base, "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"), "code_challenge_methods_supported": ["S256"],
        }))
        .route(
            "/authorize",
            axum::routing::get(move || {
                let b = b.clone();
                async move {
                    (
                        axum::http::StatusCode::FOUND,
                        [
                            (axum::http::header::LOCATION, format!("{b}/signon?flowId=F")),
                            (axum::http::header::SET_COOKIE, "session=issuer-cookie-value".to_owned()),
                        ],
                    )
                }
            }),
        )
        .route(
            "/flows/F",
            axum::routing::post(move || {
                let foreign = foreign.clone();
                async move {
                    axum::Json(serde_json::json!({"status": "COMPLETED", "resumeUrl": format!("{foreign}/resume")}))
                }
            }),
        )
    });
    let (code, _, err) = probe_raw(&h.base, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("resume"), "{err}");
    let hits = h.hits.lock().unwrap().clone();
    assert!(hits.iter().all(|r| !r.contains("issuer-cookie-value")), "{hits:?}");
    assert!(hits.is_empty(), "{hits:?}");
    drop(h.rt);
}

/// What a hostile server says is printed without its terminal escape sequences.
#[test]
fn the_probe_prints_no_terminal_escapes_from_the_server() {
    let h = hostile(|base, _| {
        discovery(serde_json::json!({
            "issuer": base, "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"), "code_challenge_methods_supported": ["S256\u{1b}[2J"],
        }))
        .route(
            "/authorize",
            axum::routing::get(
                |axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    let loc = pixie_core::params::append_query(
                        &q["redirect_uri"],
                        &[
                            ("error", "invalid_request"),
                            ("error_description", "\u{1b}[2J\u{1b}[HALL CHECKS PASS\r"),
                            ("state", &q["state"]),
                        ],
                    );
                    (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, loc)])
                },
            ),
        )
    });
    let (_, out, err) = probe_raw(&h.base, &[]);
    assert!(!out.contains('\u{1b}') && !err.contains('\u{1b}'), "{out:?} {err:?}");
    assert!(!out.contains('\r'), "{out:?}");
    drop(h.rt);
}

/// A discovery document of megabytes is refused, not read whole.
#[test]
fn the_probe_reads_bounded_answers() {
    let h = hostile(|base, _| {
        discovery(serde_json::json!({
            "issuer": base, "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"), "code_challenge_methods_supported": ["S256"],
            "padding": "x".repeat(5 << 20),
        }))
    });
    let (code, _, err) = probe_raw(&h.base, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("larger than"), "{err}");
    drop(h.rt);
}

/// The loopback receiver listens on a loopback address only.
#[test]
fn the_probe_receiver_is_loopback_only() {
    let mut child = pixie()
        .args([
            "probe",
            "--issuer",
            "http://127.0.0.1:9",
            "--client-id",
            "c",
            "--redirect-uri",
            "http://0.0.0.0:0/cb",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = common::exit_within(&mut child, 20);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{err}");
    assert!(err.contains("loopback"), "{err}");
}

/// An authorization endpoint carrying terminal escape sequences is refused at
/// discovery: the URL the operator is asked to open cannot be disguised.
#[test]
fn the_probe_refuses_endpoints_with_hidden_characters() {
    let h = hostile(|base, _| {
        discovery(serde_json::json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize\u{1b}[2J\u{1b}[31mFAKE\u{1b}]0;pwned\u{7}\r"),
            "token_endpoint": format!("{base}/token"), "code_challenge_methods_supported": ["S256"],
        }))
    });
    let mut child = pixie()
        .args(["probe", "--issuer", &h.base, "--client-id", "c"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = common::exit_within(&mut child, 20);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{err:?}");
    assert!(
        !err.contains('\u{1b}') && !String::from_utf8_lossy(&out.stdout).contains('\u{1b}'),
        "{err:?}"
    );
    drop(h.rt);
}
