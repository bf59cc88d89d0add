//! `pixie serve` and the store commands as an operator runs them: real processes, one store.

mod common;

use std::process::Command;

use common::{pixie, run_json, serve};

#[test]
fn serve_and_store_commands_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut cmd = pixie();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data]);
    let server = serve(cmd);
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["admin-token", "master.key"] {
            let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }

    // While the server runs, the CLI writes to the same store through variables.
    let env = run_json(
        pixie().env("PIXIE_DATA_DIR", data).args([
            "env",
            "create",
            "acme",
            "--pkce-allowed",
            "plain,S256",
            "--pkce-required",
            "none",
        ]),
        None,
    );
    assert_eq!(env["pkce"]["allowed"], serde_json::json!(["plain", "S256"]));
    assert_eq!(env["pkce"]["required"], serde_json::json!([]));
    let app = run_json(
        pixie().args([
            "app",
            "create",
            "--data-dir",
            data,
            "--env",
            "acme",
            "--name",
            "Native",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--public",
        ]),
        None,
    );
    assert!(app.get("client_secret").is_none());
    let conf = run_json(
        pixie().args([
            "app",
            "create",
            "--data-dir",
            data,
            "--env",
            "acme",
            "--name",
            "Web",
            "--redirect-uri",
            "https://web.example/cb",
        ]),
        None,
    );
    assert!(conf["client_secret"].is_string());
    let user = run_json(
        pixie().args([
            "user",
            "create",
            "--data-dir",
            data,
            "--env",
            "acme",
            "--username",
            "tom",
            "--password-stdin",
        ]),
        Some("pw of tom\n"),
    );
    assert_eq!(user["username"], "tom");
    // A key rotation from the CLI (CONTRACT §9), listed with its predecessor retiring.
    let rotated = run_json(
        pixie().args([
            "key",
            "rotate",
            "--data-dir",
            data,
            "--env",
            "acme",
            "--alg",
            "ES256",
            "--json",
        ]),
        None,
    );
    assert_eq!(rotated["status"], "active");
    let keys = run_json(
        pixie().args(["key", "list", "--data-dir", data, "--env", "acme", "--json"]),
        None,
    );
    let items = keys["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{keys}");
    assert_eq!(items.iter().filter(|k| k["status"] == "retiring").count(), 1, "{keys}");

    // The running server sees all of it at once.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    common::install_tls_provider();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let d: serde_json::Value = http
            .get(format!("{}/acme/.well-known/openid-configuration", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(d["issuer"], format!("{}/acme", server.url));
        let jwks: serde_json::Value = http
            .get(format!("{}/acme/as/jwks", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == rotated["kid"]),
            "{jwks}"
        );
        let resp = http
            .get(format!(
                "{}/admin/environments/acme/applications/{}",
                server.url,
                app["client_id"].as_str().unwrap()
            ))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let resp = http
            .post(format!("{}/admin/environments/acme/users", server.url))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({"username": "tom", "password": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 409, "the CLI's user is visible to the server");
    });

    // Errors are one line on stderr and a non-zero exit.
    let out = pixie()
        .args(["env", "create", "acme", "--data-dir", data])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = pixie()
        .args([
            "app",
            "create",
            "--data-dir",
            data,
            "--env",
            "default",
            "--name",
            "P",
            "--redirect-uri",
            "https://a.example/cb",
            "--code-challenge-method",
            "plain",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("code_challenge_method"));
}

/// The text a store command printed, or its one-line error.
fn run_text(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().unwrap();
    match out.status.success() {
        true => Ok(String::from_utf8(out.stdout).unwrap()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

/// The management verbs (CONTRACT §5, issue 18) against a store a server is running on:
/// lists with cursors, user show / set / disable / delete, secret rotation, environment
/// removal, each as a table and with `--json`.
#[test]
fn store_commands_manage_what_they_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut cmd = pixie();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data]);
    let server = serve(cmd);
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let cli = |args: &[&str]| {
        let mut c = pixie();
        c.env("PIXIE_DATA_DIR", data).args(args);
        c
    };
    for id in ["e1", "e2", "e3"] {
        run_json(&mut cli(&["env", "create", id]), None);
    }
    // Environments, two at a time: the cursor leads to the rest.
    let first = run_json(&mut cli(&["env", "list", "--limit", "2", "--json"]), None);
    let ids: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["default", "e1"]);
    let next = first["next"].as_str().unwrap();
    let rest = run_json(
        &mut cli(&["env", "list", "--limit", "2", "--after", next, "--json"]),
        None,
    );
    let ids: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["e2", "e3"]);
    let table = run_text(&mut cli(&["env", "list", "--limit", "2"])).unwrap();
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains("more: pixie env list --after "), "{table}");

    // Users: created with a role, found by name, changed, disabled, removed.
    let user = run_json(
        &mut cli(&[
            "user",
            "create",
            "--env",
            "e1",
            "--username",
            "ann",
            "--role",
            "admin",
            "--password-stdin",
        ]),
        Some("ann's password\n"),
    );
    assert_eq!(user["roles"], serde_json::json!(["admin"]));
    let id = user["id"].as_str().unwrap();
    let shown = run_json(
        &mut cli(&["user", "show", "--env", "e1", "--username", "ann", "--json"]),
        None,
    );
    assert_eq!(shown["id"], id);
    let set = run_json(
        &mut cli(&[
            "user",
            "set",
            "--env",
            "e1",
            "--id",
            id,
            "--email",
            "ann@example.com",
            "--role",
            "ops",
            "--json",
        ]),
        None,
    );
    assert_eq!(set["email"], "ann@example.com");
    assert_eq!(set["roles"], serde_json::json!(["ops"]));
    let set = run_json(
        &mut cli(&["user", "set", "--env", "e1", "--id", id, "--password-stdin", "--json"]),
        Some("a new password\n"),
    );
    assert_eq!(set["disabled"], false);
    let disabled = run_json(
        &mut cli(&["user", "disable", "--env", "e1", "--username", "ann", "--json"]),
        None,
    );
    assert_eq!(disabled["disabled"], true);
    let listed = run_text(&mut cli(&["user", "list", "--env", "e1"])).unwrap();
    assert!(listed.contains("ann") && listed.contains("disabled"), "{listed}");
    let enabled = run_json(
        &mut cli(&[
            "user",
            "set",
            "--env",
            "e1",
            "--username",
            "ann",
            "--disabled",
            "false",
            "--json",
        ]),
        None,
    );
    assert_eq!(enabled["disabled"], false);
    // The running server sees the change at once.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    common::install_tls_provider();
    let http = reqwest::Client::new();
    let get = |path: String| {
        let (http, token, url) = (http.clone(), token.trim().to_owned(), server.url.clone());
        rt.block_on(async move {
            let resp = http
                .get(format!("{url}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap_or_default())
        })
    };
    let (st, seen) = get(format!("/admin/environments/e1/users/{id}"));
    assert_eq!((st, &seen["email"]), (200, &serde_json::json!("ann@example.com")));
    let deleted = run_json(&mut cli(&["user", "delete", "--env", "e1", "--id", id, "--json"]), None);
    assert_eq!(deleted["deleted"], id);
    assert_eq!(get(format!("/admin/environments/e1/users/{id}")).0, 404);
    let err = run_text(&mut cli(&["user", "show", "--env", "e1", "--username", "ann"])).unwrap_err();
    assert!(err.contains("no user named ann"), "{err}");
    // Ids are base64url: one may start with '-' and is still a value, not a flag.
    let err = run_text(&mut cli(&["user", "show", "--env", "e1", "--id", "-3xYz"])).unwrap_err();
    assert!(err.contains("user not found"), "{err}");
    let err = run_text(&mut cli(&["app", "rotate-secret", "--env", "e1", "-3xYz"])).unwrap_err();
    assert!(err.contains("application not found"), "{err}");
    // --username and --id exclude each other; one is needed.
    assert!(run_text(&mut cli(&["user", "show", "--env", "e1"])).is_err());
    assert!(run_text(&mut cli(&[
        "user",
        "show",
        "--env",
        "e1",
        "--id",
        "a",
        "--username",
        "b"
    ]))
    .is_err());

    // Applications: listed without secrets; a rotated secret is printed once.
    let app = run_json(
        &mut cli(&[
            "app",
            "create",
            "--env",
            "e1",
            "--name",
            "Web",
            "--redirect-uri",
            "https://web.example/cb",
        ]),
        None,
    );
    let client_id = app["client_id"].as_str().unwrap();
    let apps = run_json(&mut cli(&["app", "list", "--env", "e1", "--json"]), None);
    assert_eq!(apps["items"][0]["client_id"], client_id);
    assert!(apps["items"][0].get("client_secret").is_none());
    let rotated = run_json(
        &mut cli(&["app", "rotate-secret", "--env", "e1", client_id, "--json"]),
        None,
    );
    assert!(rotated["client_secret"].is_string());
    assert_ne!(rotated["client_secret"], app["client_secret"]);
    let text = run_text(&mut cli(&["app", "rotate-secret", "--env", "e1", client_id])).unwrap();
    assert!(text.contains("client_secret") && text.contains("shown once"), "{text}");

    // Keys as a table.
    let keys = run_text(&mut cli(&["key", "list", "--env", "e1"])).unwrap();
    assert!(keys.starts_with("KID ") && keys.contains("active"), "{keys}");

    // An environment removed: gone from the list and from the server.
    let gone = run_json(&mut cli(&["env", "delete", "e1", "--json"]), None);
    assert_eq!(gone["deleted"], "e1");
    // The server's cache of the environment lasts a second (cache::TTL).
    let started = std::time::Instant::now();
    while get("/admin/environments/e1".into()).0 != 404 {
        assert!(started.elapsed().as_secs() < 5, "the server still serves e1");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let err = run_text(&mut cli(&["env", "delete", "e1"])).unwrap_err();
    assert!(err.contains("not found") || err.contains("unknown"), "{err}");
}

#[test]
fn flags_beat_variables_beat_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pixie.toml");
    std::fs::write(
        &conf,
        format!("listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\npublic_url = \"http://from-file.example\"\nadmin_token = \"file-token-0123456789\"\n", dir.path().display()),
    )
    .unwrap();
    let mut cmd = pixie();
    cmd.args(["serve", "--config", conf.to_str().unwrap()]);
    let server = serve(cmd);
    assert_eq!(server.url, "http://from-file.example");
    drop(server);

    let mut cmd = pixie();
    cmd.env("PIXIE_PUBLIC_URL", "http://from-env.example")
        .args(["serve", "--config", conf.to_str().unwrap()]);
    assert_eq!(serve(cmd).url, "http://from-env.example");

    let mut cmd = pixie();
    cmd.env("PIXIE_PUBLIC_URL", "http://from-env.example").args([
        "serve",
        "--config",
        conf.to_str().unwrap(),
        "--public-url",
        "http://from-flag.example/",
    ]);
    assert_eq!(serve(cmd).url, "http://from-flag.example");
    // The admin token came from the file: none was generated.
    assert!(!dir.path().join("admin-token").exists());
}

#[test]
fn startup_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = pixie()
        .args(["env", "create", "acme", "--data-dir", data])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = pixie()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
        .env("PIXIE_MASTER_KEY", "ab".repeat(32))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("master key"), "{err}");
    let out = pixie()
        .args(["serve", "--data-dir", data, "--database-url", "mysql://nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
    let out = pixie()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
        .env("PIXIE_KEY_ROTATION_DAYS", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key-rotation-days 0"));
    // A console for an environment that does not exist.
    let out = pixie()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
            "--console-env",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--console-env nope") && err.contains("environment 'nope' not found"),
        "{err}"
    );
    // An unreachable PostgreSQL is named, with the OS's reason, and no password.
    let out = pixie()
        .args([
            "serve",
            "--data-dir",
            data,
            "--database-url",
            "postgres://pixie:s3cret@127.0.0.1:1/pixie",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to PostgreSQL at 127.0.0.1:1/pixie") && err.contains("refused"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

#[cfg(unix)]
#[test]
fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = pixie();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let mut server = serve(cmd);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a clean exit after SIGTERM");
    // The same store starts again at once.
    let mut cmd = pixie();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let again = serve(cmd);
    assert!(again.url.starts_with("http://127.0.0.1:"));
}

/// The files that hold password hashes, keys and typed usernames are the owner's alone:
/// the data dir pixie creates is 0700, the database (and its WAL), the master key, the
/// admin token and the audit log 0600.
#[cfg(unix)]
#[test]
fn data_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let audit = dir.path().join("audit.log");
    let mut cmd = pixie();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--audit-log")
        .arg(&audit);
    let server = serve(cmd);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data dir");
    for f in ["pixie.db", "pixie.db-wal", "pixie.db-shm", "admin-token", "master.key"] {
        let p = data.join(f);
        if p.exists() || f == "pixie.db" {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
    assert_eq!(mode(&audit), 0o600, "the audit log");
    drop(server);
}

/// A flood of failed sign-ons with 60 KB usernames from many (forwarded) addresses does
/// not grow the server: the throttle keeps digests in the store, not the names typed.
#[cfg(target_os = "linux")]
#[test]
fn a_guessing_flood_does_not_grow_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = pixie();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--trusted-proxies",
        "127.0.0.1",
        "--data-dir",
    ])
    .arg(dir.path());
    let server = serve(cmd);
    let pid = server.child.id();
    let rss_kib = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    common::install_tls_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let app: serde_json::Value = http
            .post(format!("{}/admin/environments/default/applications", server.url))
            .bearer_auth(token.trim())
            .json(
                &serde_json::json!({"client_name": "x", "redirect_uris": ["http://127.0.0.1/cb"],
                "token_endpoint_auth_method": "none"}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let client = app["client_id"].as_str().unwrap().to_owned();
        let authorize = format!(
            "{}/default/as/authorize?response_type=code&client_id={client}&redirect_uri=http://127.0.0.1/cb\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            server.url
        );
        let flow = |addr: String| {
            let (http, authorize) = (http.clone(), authorize.clone());
            async move {
                let resp = http
                    .get(&authorize)
                    .header("x-forwarded-for", addr)
                    .send()
                    .await
                    .unwrap();
                let loc = resp.headers()["location"].to_str().unwrap().to_owned();
                loc.split("flowId=").nth(1).unwrap().to_owned()
            }
        };
        // Warm up (the first sign-on allocates what every later one reuses).
        let _ = flow("203.0.113.250".into()).await;
        let before = rss_kib();
        let mut n = 0;
        for a in 0..20 {
            let addr = format!("203.0.113.{a}");
            for f in 0..10 {
                let id = flow(addr.clone()).await;
                for g in 0..5 {
                    let name = format!("{a}-{f}-{g}-{}", "x".repeat(60_000));
                    let resp = http
                        .post(format!("{}/default/flows/{id}", server.url))
                        .header("x-forwarded-for", &addr)
                        .header("content-type", "application/vnd.pixie.usernamePassword.check+json")
                        .json(&serde_json::json!({"username": name, "password": "guess"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 400);
                    n += 1;
                }
            }
        }
        let grown = rss_kib().saturating_sub(before);
        assert!(
            grown < 20 * 1024,
            "{n} failed sign-ons with 60 KB usernames grew the server by {grown} KiB"
        );
    });
}

/// The admin token can come from a file (kept out of process listings), and a weak one
/// is refused at start.
#[test]
fn admin_token_from_a_file_and_never_weak() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = pixie()
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-token", "a", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if common::exit_within(&mut child, 20).is_none() {
        panic!("a one-character admin token was accepted: the server is running");
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 16 characters"), "{err}");
    let file = dir.path().join("token.txt");
    std::fs::write(&file, "a-token-kept-in-a-file-0123456789\n").unwrap();
    let mut cmd = pixie();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("PIXIE_ADMIN_TOKEN_FILE", &file);
    let server = serve(cmd);
    common::install_tls_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/admin/environments/default", server.url))
            .bearer_auth("a-token-kept-in-a-file-0123456789")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 200);
    assert!(!dir.path().join("admin-token").exists(), "none generated");
    drop(server);
    // A short token in <data-dir>/admin-token is refused too.
    std::fs::write(dir.path().join("admin-token"), "short\n").unwrap();
    let out = pixie()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = out;
    if common::exit_within(&mut child, 20).is_none() {
        panic!("a five-character admin-token file was accepted");
    }
    let err = String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned();
    assert!(err.contains("shorter than 16"), "{err}");
}

/// An expired TLS certificate starts the server with a warning that says so (clients
/// will refuse every handshake; the log should tell the operator why).
#[test]
fn an_expired_certificate_is_warned_about_at_start() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let openssl = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let made = openssl(&[
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
        "-keyout",
        "key.pem",
        "-out",
        "fresh.pem",
    ]) && openssl(&[
        "x509",
        "-in",
        "fresh.pem",
        "-signkey",
        "key.pem",
        "-days",
        "-1",
        "-out",
        "expired.pem",
    ]);
    if !made {
        assert!(std::env::var_os("CI").is_none(), "openssl is needed");
        eprintln!("SKIPPED: openssl is not installed");
        return;
    }
    let mut child = pixie()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "expired.pem",
            "--tls-key",
            "key.pem",
            "--data-dir",
            "data",
        ])
        .current_dir(d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("pixie listening on https://"), "{line}");
    let _ = child.kill();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let _ = child.wait();
    assert!(err.contains("EXPIRED"), "{err}");
}

/// `--log-format json`: every log line is one JSON object; every request line and audit
/// event carries the request id (the caller's when well formed, else a fresh one), and
/// the response carries it back (CONTRACT §10).
#[test]
fn json_logs_and_request_ids() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let mut child = pixie()
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--audit-log")
        .arg(&audit)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.trim().strip_prefix("pixie listening on ").unwrap().to_owned();
    common::install_tls_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (echoed, fresh) = rt.block_on(async {
        let http = reqwest::Client::new();
        let get = |id: &'static str| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let resp = http
                    .get(format!("{url}/default/.well-known/openid-configuration"))
                    .header("x-request-id", id)
                    .send()
                    .await
                    .unwrap();
                resp.headers()["x-request-id"].to_str().unwrap().to_owned()
            }
        };
        let echoed = get("trace-abc.123_X").await;
        let fresh = get("not valid!").await;
        // A failed client authentication is an audit event.
        http.post(format!("{url}/default/as/token"))
            .header("x-request-id", "audit-me-7")
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "x"),
            ])
            .send()
            .await
            .unwrap();
        (echoed, fresh)
    });
    assert_eq!(echoed, "trace-abc.123_X");
    assert_ne!(fresh, "not valid!");
    assert!(
        fresh.len() <= 64
            && fresh
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _ = child.kill();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let _ = child.wait();
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for l in &lines {
        assert!(
            l["timestamp"].is_string() && l["level"].is_string() && l["message"].is_string(),
            "{l}"
        );
    }
    let requests: Vec<_> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert!(requests.iter().any(|l| l["request_id"] == "trace-abc.123_X"), "{err}");
    assert!(requests.iter().any(|l| l["request_id"] == fresh.as_str()), "{err}");
    let audit = std::fs::read_to_string(&audit).unwrap();
    assert!(
        audit.lines().any(|l| l.contains("\"request_id\":\"audit-me-7\"")),
        "{audit}"
    );
}

/// An OTLP/HTTP receiver on loopback: answers every POST 200 and keeps the bodies sent
/// to `/v1/traces`, decoded.
struct OtlpReceiver {
    url: String,
    received: std::sync::Arc<
        std::sync::Mutex<Vec<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest>>,
    >,
}

/// A received span: name, attributes as text, span id, parent span id.
#[derive(Debug)]
struct ReceivedSpan(String, std::collections::HashMap<String, String>, Vec<u8>, Vec<u8>);

impl OtlpReceiver {
    fn start() -> Self {
        use std::io::{BufRead, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                    let mut conn = conn;
                    loop {
                        let mut request_line = String::new();
                        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut length = 0usize;
                        loop {
                            let mut h = String::new();
                            reader.read_line(&mut h).unwrap();
                            if h.trim().is_empty() {
                                break;
                            }
                            if let Some((k, v)) = h.split_once(':') {
                                if k.eq_ignore_ascii_case("content-length") {
                                    length = v.trim().parse().unwrap();
                                }
                            }
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        if request_line.starts_with("POST /v1/traces ") {
                            let decoded = <opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest as prost::Message>::decode(&body[..]).unwrap();
                            sink.lock().unwrap().push(decoded);
                        }
                        let _ = conn.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
                        );
                    }
                });
            }
        });
        Self { url, received }
    }

    /// Every span received so far.
    fn spans(&self) -> Vec<ReceivedSpan> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        let mut out = Vec::new();
        for req in self.received.lock().unwrap().iter() {
            for rs in &req.resource_spans {
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        let attrs = span
                            .attributes
                            .iter()
                            .map(|kv| {
                                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                    Some(Value::StringValue(s)) => s.clone(),
                                    Some(Value::IntValue(i)) => i.to_string(),
                                    Some(Value::BoolValue(b)) => b.to_string(),
                                    other => format!("{other:?}"),
                                };
                                (kv.key.clone(), v)
                            })
                            .collect();
                        out.push(ReceivedSpan(
                            span.name.clone(),
                            attrs,
                            span.span_id.clone(),
                            span.parent_span_id.clone(),
                        ));
                    }
                }
            }
        }
        out
    }
}

/// `--otlp-endpoint`: one span per request (route template, status, env, client) with
/// child spans for store calls, the password check and signing, exported over OTLP/HTTP
/// to a receiver this test runs (CONTRACT §10). Spans still queued at SIGTERM are sent.
#[test]
fn otlp_traces_reach_a_collector() {
    let receiver = OtlpReceiver::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = pixie();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--otlp-endpoint",
        &receiver.url,
        "--data-dir",
    ])
    .arg(dir.path());
    let server = serve(cmd);
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    common::install_tls_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client_id = rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let app: serde_json::Value = http
            .post(format!("{}/admin/environments/default/applications", server.url))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({"client_name": "svc", "grant_types": ["client_credentials"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (id, secret) = (
            app["client_id"].as_str().unwrap(),
            app["client_secret"].as_str().unwrap(),
        );
        let resp = http
            .post(format!("{}/default/as/token", server.url))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        // A password check: a sign-on attempt through the flows API.
        let public: serde_json::Value = http
            .post(format!("{}/admin/environments/default/applications", server.url))
            .bearer_auth(token.trim())
            .json(
                &serde_json::json!({"client_name": "spa", "redirect_uris": ["http://127.0.0.1/cb"],
                "token_endpoint_auth_method": "none"}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let resp = http
            .get(format!(
                "{}/default/as/authorize?response_type=code&client_id={}&redirect_uri=http://127.0.0.1/cb\
                 &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
                server.url,
                public["client_id"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        let loc = resp.headers()["location"].to_str().unwrap().to_owned();
        let flow = loc.split("flowId=").nth(1).unwrap();
        let resp = http
            .post(format!("{}/default/flows/{flow}", server.url))
            .header("content-type", "application/vnd.pixie.usernamePassword.check+json")
            .json(&serde_json::json!({"username": "nobody", "password": "guess"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        id.to_owned()
    });
    // SIGTERM: the server exits cleanly and sends the spans it still holds.
    let mut server = server;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = common::exit_within(&mut server.child, 20).expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    let spans = receiver.spans();
    let token_span = spans
        .iter()
        .find(|ReceivedSpan(name, ..)| name == "POST /{env}/as/token")
        .unwrap_or_else(|| panic!("no token request span in {spans:?}"));
    let attrs = &token_span.1;
    assert_eq!(attrs.get("http.route").map(String::as_str), Some("/{env}/as/token"));
    assert_eq!(attrs.get("http.response.status_code").map(String::as_str), Some("200"));
    assert_eq!(attrs.get("env").map(String::as_str), Some("default"));
    assert_eq!(attrs.get("client").map(String::as_str), Some(client_id.as_str()));
    let children =
        |parent: &Vec<u8>| -> Vec<&String> { spans.iter().filter(|s| &s.3 == parent).map(|s| &s.0).collect() };
    let under_token = children(&token_span.2);
    assert!(under_token.iter().any(|n| n.as_str() == "sign"), "{under_token:?}");
    assert!(
        !under_token.iter().all(|n| n.as_str() == "sign"),
        "store spans too: {under_token:?}"
    );
    let flow_span = spans
        .iter()
        .find(|ReceivedSpan(name, ..)| name == "POST /{env}/flows/{flow_id}")
        .expect("a flows API span");
    assert_eq!(
        flow_span.1.get("http.response.status_code").map(String::as_str),
        Some("400")
    );
    assert!(children(&flow_span.2).iter().any(|n| n.as_str() == "password check"));
}

/// A collector that is down never fails or slows a request.
#[test]
fn an_absent_collector_costs_requests_nothing() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", unused.local_addr().unwrap());
    drop(unused);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = pixie();
    cmd.env("OTEL_BSP_SCHEDULE_DELAY", "10")
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--otlp-endpoint",
            &url,
            "--data-dir",
        ])
        .arg(dir.path());
    let server = serve(cmd);
    common::install_tls_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..50 {
            let resp = http
                .get(format!("{}/default/.well-known/openid-configuration", server.url))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
        }
    });
    // Bad endpoints are refused at start, not at the first export.
    let out = pixie()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--otlp-endpoint",
            "collector:4318",
            "--data-dir",
        ])
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("otlp-endpoint"));
}
