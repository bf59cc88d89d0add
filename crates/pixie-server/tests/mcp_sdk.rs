//! pixie as the authorization server of an MCP server, with the official MCP TypeScript
//! SDK (`@modelcontextprotocol/sdk`, pinned in `interop/mcp/package.json`) as the client
//! and the server: `interop/mcp/e2e.mjs` follows the README's MCP guide against this
//! running pixie (dynamic registration, a registered resource, RFC 9728 metadata, the
//! SDK's OAuth client registering itself, a headless sign-on with consent, a tool call
//! with a token checked against pixie's JWKS with `aud` = the MCP server).
//!
//! Runs when `node` and `interop/mcp/node_modules` are there (`npm ci` in
//! `interop/mcp`); CI installs them and sets `PIXIE_REQUIRE_NODE=1`, which turns their
//! absence into a failure.

use pixie_testkit::*;
use serde_json::{json, Value};

fn interop_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/mcp")
}

#[tokio::test]
async fn the_official_mcp_sdk_registers_signs_on_and_calls_a_tool() {
    if !node_interop_ready(&interop_dir(), "@modelcontextprotocol/sdk") {
        return;
    }
    let s = TestServer::start().await;
    // User "tom" (and an unrelated admin-registered app).
    s.env_with_public_client("default", json!({}), json!({})).await;
    let out = tokio::process::Command::new("node")
        .arg("e2e.mjs")
        .current_dir(interop_dir())
        .env("PIXIE_URL", s.url(""))
        .env("PIXIE_ENV", "default")
        .env("PIXIE_ADMIN_TOKEN", &s.token)
        .env("PIXIE_USER", "tom")
        .env("PIXIE_PASSWORD", PASSWORD)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "e2e.mjs failed:\n{stdout}\n{stderr}");
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert_eq!(seen["ok"], true);
    let resource = seen["resources_asked"][0].as_str().unwrap();
    assert_eq!(seen["tool_saw"]["aud"], resource, "{seen}");
    assert_eq!(seen["consent_client"]["verified"], false);
    assert_eq!(seen["tool_saw"]["scopes"], json!(["files:read"]));
    assert_eq!(seen["refresh_elsewhere"]["body"]["error"], "invalid_target", "{seen}");
    // The client the SDK registered is in pixie, self-registered.
    let client_id = seen["client_id"].as_str().unwrap();
    let (st, app) = s
        .admin(
            reqwest::Method::GET,
            &format!("/admin/environments/default/applications/{client_id}"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{app}");
    assert_eq!(app["token_endpoint_auth_method"], "none");
}
