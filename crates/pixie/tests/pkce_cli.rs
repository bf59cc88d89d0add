//! `pixie pkce` as a user runs it: the binary, its output and its exit codes,
//! checked against an independent implementation (openssl + basenc) where present.

use std::process::Command;

fn pixie(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pixie"))
        .args(args)
        .output()
        .expect("run pixie")
}

fn generate(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["pkce", "generate"];
    all.extend_from_slice(args);
    let out = pixie(&all);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("generate prints JSON")
}

#[test]
fn generate_then_verify() {
    for (args, method) in [
        (&[][..], "S256"),
        (&["--method", "plain"][..], "plain"),
        (&["--method", "S256", "--length", "128"][..], "S256"),
    ] {
        let j = generate(args);
        assert_eq!(j["code_challenge_method"], method);
        let v = j["code_verifier"].as_str().unwrap();
        let c = j["code_challenge"].as_str().unwrap();
        let ok = pixie(&["pkce", "verify", "--verifier", v, "--challenge", c, "--method", method]);
        assert_eq!(ok.status.code(), Some(0));
        if method == "plain" {
            assert_eq!(v, c);
        }
    }
    assert_eq!(generate(&[])["code_verifier"].as_str().unwrap().len(), 43);
    assert_eq!(
        generate(&["--length", "128"])["code_verifier"].as_str().unwrap().len(),
        128
    );
}

#[test]
fn verify_fails_with_one_line_reason() {
    let j = generate(&[]);
    let v = j["code_verifier"].as_str().unwrap();
    let other = generate(&[]);
    let c = other["code_challenge"].as_str().unwrap();
    for (verifier, challenge) in [(v, c), ("short", c), (v, "not-a-challenge")] {
        let out = pixie(&[
            "pkce",
            "verify",
            "--verifier",
            verifier,
            "--challenge",
            challenge,
            "--method",
            "S256",
        ]);
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    }
}

#[test]
fn unknown_method_exits_2() {
    assert_eq!(pixie(&["pkce", "generate", "--method", "S512"]).status.code(), Some(2));
    assert_eq!(pixie(&["pkce", "generate", "--method", "s256"]).status.code(), Some(2));
    assert_eq!(pixie(&["pkce", "generate", "--length", "42"]).status.code(), Some(2));
    let out = pixie(&[
        "pkce",
        "verify",
        "--verifier",
        "a",
        "--challenge",
        "b",
        "--method",
        "md5",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn rfc7636_appendix_b_through_the_cli() {
    let out = pixie(&[
        "pkce",
        "verify",
        "--verifier",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "--challenge",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "--method",
        "S256",
    ]);
    assert_eq!(out.status.code(), Some(0));
}

/// Base64url values may start with '-': they are values, not flags.
#[test]
fn values_starting_with_a_hyphen() {
    let v = "-BjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let out = pixie(&["pkce", "verify", "--verifier", v, "--challenge", v, "--method", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The S256 challenge agrees with `openssl dgst -sha256 -binary | basenc --base64url`.
#[test]
fn s256_agrees_with_openssl() {
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(have("openssl") && have("basenc")) {
        eprintln!("SKIPPED: openssl or basenc not installed");
        return;
    }
    for _ in 0..5 {
        let j = generate(&[]);
        let v = j["code_verifier"].as_str().unwrap();
        let script = format!("printf '%s' '{v}' | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=\\n'");
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            j["code_challenge"].as_str().unwrap()
        );
    }
}

/// CLI habits (issue 19): `pkce verify` defaults to S256 like `generate`, a method in
/// the wrong case is named, a misspelt flag gets a suggestion, help shows no empty
/// `[env: X=]` markers, and completions are printed for bash, zsh and fish.
#[test]
fn cli_habits() {
    let pair = generate(&[]);
    let out = pixie(&[
        "pkce",
        "verify",
        "--verifier",
        pair["code_verifier"].as_str().unwrap(),
        "--challenge",
        pair["code_challenge"].as_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = pixie(&[
        "pkce",
        "verify",
        "--verifier",
        pair["code_verifier"].as_str().unwrap(),
        "--challenge",
        "not-the-challenge-not-the-challenge-not-the-challenge",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (j["ok"].clone(), j["method"].clone()),
        (serde_json::json!(false), serde_json::json!("S256"))
    );
    assert!(j["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let help = String::from_utf8(pixie(&["serve", "--help"]).stdout).unwrap();
    assert!(
        help.contains("default: `127.0.0.1:7636`") && help.contains("default: `./pixie-data`"),
        "{help}"
    );
    let out = pixie(&["pkce", "generate", "--method", "s256"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean S256?"));
    let out = pixie(&["app", "create", "--redirect-url", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("'--redirect-uri'"));
    let help = String::from_utf8(pixie(&["serve", "--help"]).stdout).unwrap();
    assert!(help.contains("[env: PIXIE_LISTEN]") && !help.contains("=]"), "{help}");
    for shell in ["bash", "zsh", "fish"] {
        let out = pixie(&["completions", shell]);
        assert!(out.status.success());
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(
            script.contains("rotate-secret") && script.contains("redirect-uri"),
            "{shell}"
        );
    }
}
