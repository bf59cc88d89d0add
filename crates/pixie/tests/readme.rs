//! The README's recipes run as written (issue 19): the code between
//! `<!-- recipe: NAME -->` and `<!-- end recipe -->` markers is run by bash in an empty
//! directory, with `pixie` on the PATH, and must succeed and print what the README says.
//! A README change that breaks a recipe fails here.

mod common;

use std::process::Command;

const README: &str = include_str!("../../../README.md");

/// The shell lines of a recipe: the indented code of every region with this name.
fn recipe(name: &str) -> String {
    let start = format!("<!-- recipe: {name} -->");
    let mut script = String::new();
    let mut inside = false;
    for line in README.lines() {
        if line.trim() == start {
            inside = true;
        } else if line.trim() == "<!-- end recipe -->" {
            inside = false;
        } else if inside && line.starts_with("    ") {
            script.push_str(line.trim_start());
            script.push('\n');
        }
    }
    assert!(!script.is_empty(), "no recipe {name} in the README");
    script
}

/// Runs a recipe against a free port; returns what it printed.
fn run(name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = recipe(name).replace("127.0.0.1:7636", &format!("127.0.0.1:{port}"));
    // The server the recipe starts in the background goes with the shell.
    let script = format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n{script}");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_pixie"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(&script).current_dir(dir.path()).env("PATH", path);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PIXIE_")) {
        cmd.env_remove(k);
    }
    let out = cmd.env("PIXIE_LISTEN", format!("127.0.0.1:{port}")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = std::fs::read_to_string(dir.path().join("pixie.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "recipe {name} failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{}\n--- pixie.log\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn curl_present() -> bool {
    let ok = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("PIXIE_REQUIRE_BROWSER").is_none(),
            "curl is needed in CI to run the README's recipes"
        );
        eprintln!("SKIPPED: curl is not installed");
    }
    ok
}

#[test]
fn the_quick_start_runs_as_written() {
    if !curl_present() {
        return;
    }
    let out = run("quickstart");
    assert!(out.contains("/default/as/authorize?response_type=code"), "{out}");
    assert!(out.contains("\"status\":\"COMPLETED\""), "{out}");
    assert!(
        out.contains("\"access_token\":\"") && out.contains("\"id_token\":\""),
        "{out}"
    );
    assert!(out.contains("\"issuer\":\"http://127.0.0.1:"), "the admin call: {out}");
}

#[test]
fn the_s256_migration_recipe_runs_as_written() {
    if !curl_present() {
        return;
    }
    let out = run("migration");
    assert!(
        out.contains("/acme/signon?flowId="),
        "report mode lets the legacy request through: {out}"
    );
    assert!(out.contains("not ready: 1 request(s) without PKCE"), "{out}");
    assert!(out.contains("What to do:") && out.contains("Legacy app"), "{out}");
    assert!(out.contains("error=invalid_request"), "enforced, it is refused: {out}");
}
