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

#[test]
fn flags_beat_variables_beat_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pixie.toml");
    std::fs::write(
        &conf,
        format!("listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\npublic_url = \"http://from-file.example\"\nadmin_token = \"file-token\"\n", dir.path().display()),
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
