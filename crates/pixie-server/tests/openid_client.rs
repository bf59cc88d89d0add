//! PAR and DPoP with a third-party client: panva's `openid-client` (pinned in
//! `interop/openid-client/package.json`) runs `interop/openid-client/e2e.mjs` against
//! this running pixie: discovery, a pushed authorization request with a DPoP proof,
//! S256, a headless sign-on, the code exchange with its own DPoP proofs and ID token
//! checks, UserInfo with `Authorization: DPoP`, a refresh by the same key, and a refresh
//! by another key refused; once plainly, once with server nonces, which the library
//! handles by itself. Then as the client of a `fapi2` environment, set up as the README
//! says: the script registers its own public key and authenticates with
//! `private_key_jwt`.
//!
//! Runs when `node` and `interop/openid-client/node_modules` are there; CI installs
//! them and sets `PIXIE_REQUIRE_NODE=1`.

use pixie_testkit::*;
use serde_json::{json, Value};

#[tokio::test]
async fn openid_client_pushes_and_binds_tokens_with_dpop() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/openid-client");
    if !node_interop_ready(&dir, "openid-client") {
        return;
    }
    let s = TestServer::start().await;
    let client = s
        .env_with_public_client(
            "default",
            json!({}),
            json!({"scope": "openid profile email offline_access"}),
        )
        .await;
    for nonces in [false, true] {
        if nonces {
            let (st, _) = s
                .admin(
                    reqwest::Method::PATCH,
                    "/admin/environments/default",
                    Some(json!({"dpop_nonce": true})),
                )
                .await;
            assert_eq!(st, 200);
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        }
        let out = tokio::process::Command::new("node")
            .arg("e2e.mjs")
            .current_dir(&dir)
            .env("PIXIE_ISSUER", s.url("/default"))
            .env("PIXIE_CLIENT_ID", &client)
            .env("PIXIE_REDIRECT_URI", REDIRECT)
            .env("PIXIE_USER", "tom")
            .env("PIXIE_PASSWORD", PASSWORD)
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "e2e.mjs failed (nonces {nonces}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
        assert_eq!(seen["token_type"], "dpop", "{seen}");
        assert_eq!(seen["cnf"]["jkt"].as_str().map(str::len), Some(43), "{seen}");
        assert_eq!(seen["stolen_refresh"], "invalid_grant");
    }
    // A fapi2 environment, as the README sets one up, with a user.
    let (st, env) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments",
            Some(json!({"id": "bank", "profile": "fapi2"})),
        )
        .await;
    assert_eq!(st, 201, "{env}");
    let (st, _) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/bank/users",
            Some(json!({"username": "tom", "password": PASSWORD})),
        )
        .await;
    assert_eq!(st, 201);
    let out = tokio::process::Command::new("node")
        .arg("e2e.mjs")
        .current_dir(&dir)
        .env("PIXIE_FAPI", "1")
        .env("PIXIE_ADMIN_URL", s.url(""))
        .env("PIXIE_ADMIN_TOKEN", &s.token)
        .env("PIXIE_ISSUER", s.url("/bank"))
        .env("PIXIE_REDIRECT_URI", REDIRECT)
        .env("PIXIE_USER", "tom")
        .env("PIXIE_PASSWORD", PASSWORD)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "e2e.mjs failed (fapi2):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert_eq!(
        (seen["fapi"].as_bool(), seen["token_type"].as_str()),
        (Some(true), Some("dpop")),
        "{seen}"
    );
    let (st, app) = s
        .admin(
            reqwest::Method::GET,
            &format!(
                "/admin/environments/bank/applications/{}",
                seen["client_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(
        (st, app["token_endpoint_auth_method"].as_str()),
        (200, Some("private_key_jwt"))
    );
}
