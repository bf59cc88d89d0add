//! The token lifecycle (CONTRACT §4): refresh rotation and reuse detection, revocation,
//! introspection, client credentials, lifetimes and expiry, clean-up, restarts.

use pixie_testkit::*;
use serde_json::{json, Value};

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}")).to_owned()
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let srv = TestServer::start().await;
    let client = srv.env_with_public_client("default", json!({}), json!({})).await;
    let first = srv.tokens("default", &client).await;
    let (st, second) = srv.refresh("default", &client, &s(&first, "refresh_token"), None).await;
    assert_eq!(st, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"], "rotated");
    assert!(second["id_token"].is_string(), "openid was granted: a fresh ID token");
    assert_eq!(second["scope"], "openid profile email");
    let at2 = s(&second, "access_token");
    assert_eq!(srv.introspect("default", &client, &at2).await["active"], true);
    // The first refresh token is spent; presenting it again revokes the whole family.
    let (st, body) = srv.refresh("default", &client, &s(&first, "refresh_token"), None).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        srv.introspect("default", &client, &at2).await["active"],
        false,
        "the access token from the first refresh"
    );
    assert_eq!(
        srv.introspect("default", &client, &s(&first, "access_token")).await["active"],
        false
    );
    assert_eq!(srv.userinfo("default", &at2).await.0, 401);
    let (st, _) = srv
        .refresh("default", &client, &s(&second, "refresh_token"), None)
        .await;
    assert_eq!(st, 400, "the newest refresh token of the family is revoked too");
}

#[tokio::test]
async fn refresh_scope_may_narrow_not_widen() {
    let srv = TestServer::start().await;
    let client = srv.env_with_public_client("default", json!({}), json!({})).await;
    let t = srv.tokens("default", &client).await;
    let (st, body) = srv
        .refresh(
            "default",
            &client,
            &s(&t, "refresh_token"),
            Some("openid offline_access"),
        )
        .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    // An invalid_scope does not spend the token.
    let (st, narrow) = srv
        .refresh("default", &client, &s(&t, "refresh_token"), Some("openid"))
        .await;
    assert_eq!(st, 200, "{narrow}");
    assert_eq!(narrow["scope"], "openid");
    let info = srv.userinfo("default", &s(&narrow, "access_token")).await.1;
    assert!(info.get("email").is_none(), "email was not granted this time");
    // Another client cannot use it.
    let other = srv.env_with_public_client("default", json!({}), json!({})).await;
    let (st, body) = srv.refresh("default", &other, &s(&narrow, "refresh_token"), None).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
    let (st, _) = srv
        .refresh("default", &client, &s(&narrow, "refresh_token"), None)
        .await;
    assert_eq!(st, 200, "and that attempt did not spend it");
    // PKCE never applies to the refresh grant: a verifier there is not a downgrade.
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client.as_str()),
        ("code_verifier", VERIFIER),
        ("refresh_token", "x"),
    ];
    let (st, body, _) = srv.token("default", &form).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn client_credentials_for_confidential_clients_that_registered_it() {
    let srv = TestServer::start().await;
    let (_, api) = srv
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "API", "grant_types": ["client_credentials"], "scope": "reports:read reports:write"})),
        )
        .await;
    let (id, secret) = (s(&api, "client_id"), s(&api, "client_secret"));
    let post = |scope: Option<&'static str>| {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(sc) = scope {
            form.push(("scope", sc));
        }
        srv.http
            .post(srv.url("/default/as/token"))
            .basic_auth(&id, Some(&secret))
            .form(&form)
            .send()
    };
    let resp = post(Some("reports:read")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let tok: Value = resp.json().await.unwrap();
    assert_eq!(tok["scope"], "reports:read");
    assert!(tok.get("refresh_token").is_none() && tok.get("id_token").is_none());
    let resp = srv
        .http
        .post(srv.url("/default/as/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", s(&tok, "access_token"))])
        .send()
        .await
        .unwrap();
    let info: Value = resp.json().await.unwrap();
    assert_eq!(
        (info["active"].as_bool(), info["sub"].as_str()),
        (Some(true), Some(id.as_str()))
    );
    let body: Value = post(Some("openid")).await.unwrap().json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
    // No scope asked, none granted: the answer has no `scope` (not an empty one).
    let tok: Value = post(None).await.unwrap().json().await.unwrap();
    assert!(tok["access_token"].is_string() && tok.get("scope").is_none(), "{tok}");
    // A client without the grant, and public clients, cannot use it.
    let web = srv.env_with_public_client("default", json!({}), json!({})).await;
    let (st, body, _) = srv
        .token(
            "default",
            &[("grant_type", "client_credentials"), ("client_id", web.as_str())],
        )
        .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("unauthorized_client")));
    let (st, _) = srv
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"})),
        )
        .await;
    assert_eq!(st, 400);
}

#[tokio::test]
async fn revocation() {
    let srv = TestServer::start().await;
    let client = srv.env_with_public_client("default", json!({}), json!({})).await;
    let revoke = |token: String, hint: Option<&'static str>, client: String| {
        let mut form = vec![("token", token), ("client_id", client)];
        if let Some(h) = hint {
            form.push(("token_type_hint", h.to_owned()));
        }
        srv.http.post(srv.url("/default/as/revoke")).form(&form).send()
    };
    // Revoking a refresh token revokes the access tokens of its grant. The hint is
    // honoured but not trusted: a wrong one still finds the token.
    let t = srv.tokens("default", &client).await;
    let resp = revoke(s(&t, "refresh_token"), Some("access_token"), client.clone())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        srv.introspect("default", &client, &s(&t, "access_token")).await["active"],
        false
    );
    assert_eq!(
        srv.refresh("default", &client, &s(&t, "refresh_token"), None).await.0,
        400
    );
    // Revoking an access token revokes that token only.
    let t = srv.tokens("default", &client).await;
    assert_eq!(
        revoke(s(&t, "access_token"), None, client.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(srv.userinfo("default", &s(&t, "access_token")).await.0, 401);
    assert_eq!(
        srv.introspect("default", &client, &s(&t, "access_token")).await["active"],
        false
    );
    assert_eq!(
        srv.refresh("default", &client, &s(&t, "refresh_token"), None).await.0,
        200
    );
    // A client cannot revoke another client's token (it gets the 200 an unknown token
    // gets, so it learns nothing, and the token stays live); unknown tokens are a 200.
    let other = srv.env_with_public_client("default", json!({}), json!({})).await;
    let t = srv.tokens("default", &client).await;
    let resp = revoke(s(&t, "access_token"), None, other.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        srv.introspect("default", &client, &s(&t, "access_token")).await["active"],
        true
    );
    assert_eq!(
        revoke("no-such-token".into(), None, client.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        revoke("a.b.c".into(), Some("refresh_token"), client.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    // The caller must authenticate.
    let resp = srv
        .http
        .post(srv.url("/default/as/revoke"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = srv
        .http
        .post(srv.url("/default/as/revoke"))
        .form(&[("token", "x"), ("client_id", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn introspection_is_inactive_for_expired_revoked_foreign_and_malformed() {
    let srv = TestServer::start().await;
    let client = srv.env_with_public_client("default", json!({}), json!({})).await;
    let other_env_client = srv.env_with_public_client("acme", json!({}), json!({})).await;
    let t = srv.tokens("default", &client).await;
    let info = srv.introspect("default", &client, &s(&t, "access_token")).await;
    assert_eq!(info["active"], true);
    assert_eq!(
        (info["token_type"].as_str(), info["username"].as_str()),
        (Some("Bearer"), Some("tom"))
    );
    assert_eq!(info["client_id"], client.as_str());
    assert_eq!(info["iss"], srv.url("/default"));
    assert_eq!(info["scope"], "openid profile email");
    let rt = srv.introspect("default", &client, &s(&t, "refresh_token")).await;
    assert_eq!(
        (rt["active"].as_bool(), rt["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    // Another environment's token, and garbage, are inactive.
    let foreign = srv.tokens("acme", &other_env_client).await;
    assert_eq!(
        srv.introspect("default", &client, &s(&foreign, "access_token")).await["active"],
        false
    );
    assert_eq!(
        srv.introspect("acme", &other_env_client, &s(&t, "refresh_token")).await["active"],
        false
    );
    for junk in ["x", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", &"A".repeat(5000)] {
        assert_eq!(
            srv.introspect("default", &client, junk).await,
            json!({"active": false}),
            "{junk:.20}"
        );
    }
    // Expired: past the access token's lifetime, but the refresh token lives on.
    srv.advance(3601);
    assert_eq!(
        srv.introspect("default", &client, &s(&t, "access_token")).await["active"],
        false
    );
    assert_eq!(srv.userinfo("default", &s(&t, "access_token")).await.0, 401);
    assert_eq!(
        srv.introspect("default", &client, &s(&t, "refresh_token")).await["active"],
        true
    );
}

#[tokio::test]
async fn code_replay_revocation_shows_at_introspection() {
    let srv = TestServer::start().await;
    let client = srv.env_with_public_client("default", json!({}), json!({})).await;
    let (q, _) = srv.code_via_flows("default", &TestServer::pairs(&client)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (_, t, _) = srv.token("default", &form).await;
    assert_eq!(
        srv.introspect("default", &client, &s(&t, "refresh_token")).await["active"],
        true
    );
    assert_eq!(srv.token("default", &form).await.0, 400);
    assert_eq!(
        srv.introspect("default", &client, &s(&t, "access_token")).await["active"],
        false
    );
    assert_eq!(
        srv.introspect("default", &client, &s(&t, "refresh_token")).await["active"],
        false
    );
}

#[tokio::test]
async fn lifetimes_per_environment_and_per_client() {
    let srv = TestServer::start().await;
    let lifetimes =
        json!({"code": 30, "access_token": 600, "refresh_token_idle": 1000, "refresh_token_absolute": 2500});
    let (st, env) = srv
        .admin(
            reqwest::Method::POST,
            "/admin/environments",
            Some(json!({"id": "short", "lifetimes": lifetimes})),
        )
        .await;
    assert_eq!(st, 201, "{env}");
    assert_eq!(env["lifetimes"]["code"], 30);
    assert_eq!(env["lifetimes"]["session"], 8 * 3600, "left out: the default");
    let client = srv.env_with_public_client("short", json!({}), json!({})).await;
    let fast = srv
        .env_with_public_client("short", json!({}), json!({"lifetimes": {"access_token": 60}}))
        .await;
    assert_eq!(srv.tokens("short", &client).await["expires_in"], 600);
    assert_eq!(srv.tokens("short", &fast).await["expires_in"], 60);
    // A code past its lifetime is invalid_grant.
    let (q, _) = srv.code_via_flows("short", &TestServer::pairs(&client)).await;
    srv.advance(31);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (st, body, _) = srv.token("short", &form).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
    // Refresh tokens: idle expiry restarts with each rotation, capped by the absolute one.
    let t = srv.tokens("short", &client).await;
    srv.advance(900);
    let (st, t2) = srv.refresh("short", &client, &s(&t, "refresh_token"), None).await;
    assert_eq!(st, 200);
    srv.advance(900);
    let (st, t3) = srv.refresh("short", &client, &s(&t2, "refresh_token"), None).await;
    assert_eq!(st, 200, "each rotation restarts the idle lifetime");
    srv.advance(1001);
    assert_eq!(
        srv.refresh("short", &client, &s(&t3, "refresh_token"), None).await.0,
        400,
        "idle expiry"
    );
    let t = srv.tokens("short", &client).await;
    let mut rt = s(&t, "refresh_token");
    for _ in 0..2 {
        srv.advance(990);
        let (st, next) = srv.refresh("short", &client, &rt, None).await;
        assert_eq!(st, 200);
        rt = s(&next, "refresh_token");
    }
    srv.advance(600); // 2580 s after the grant began
    assert_eq!(srv.refresh("short", &client, &rt, None).await.0, 400, "absolute expiry");
    // Invalid lifetimes name the field.
    let (st, body) = srv
        .admin(
            reqwest::Method::PATCH,
            "/admin/environments/short",
            Some(json!({"lifetimes": {"code": 6000}})),
        )
        .await;
    assert_eq!(st, 400);
    assert!(
        body["error_description"].as_str().unwrap().contains("lifetimes.code"),
        "{body}"
    );
    let (st, body) = srv
        .admin(
            reqwest::Method::POST,
            "/admin/environments/short/applications",
            Some(json!({"redirect_uris": [REDIRECT], "lifetimes": {"access_token": 0}})),
        )
        .await;
    assert_eq!(st, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("lifetimes.access_token"),
        "{body}"
    );
}

#[tokio::test]
async fn expired_rows_are_swept_in_batches() {
    let srv = TestServer::start().await;
    let client = srv.env_with_public_client("default", json!({}), json!({})).await;
    let live = srv.tokens("default", &client).await;
    for _ in 0..3 {
        srv.tokens("default", &client).await;
    }
    let svc = srv.running.as_ref().unwrap().service().clone();
    assert_eq!(svc.sweep_expired(2).await.unwrap(), 0, "nothing has expired");
    // A revocation (of a token living three hours) is kept while the token could live.
    let store = &svc.store;
    let until = svc.now() + 3 * 3600;
    store.revoke_access_token("default", "some-jti", until).await.unwrap();
    // Two hours later the flows and (used) codes are past (access tokens are not
    // stored); sessions, refresh tokens and the revocation are not.
    srv.advance(2 * 3600);
    let n = svc.sweep_expired(2).await.unwrap();
    assert_eq!(
        n,
        4 + 4 + 3,
        "flows, codes and the counters (flows started, sign-ons, admin-token checks) went, in batches of 2"
    );
    assert_eq!(svc.sweep_expired(2).await.unwrap(), 0);
    assert!(store
        .access_token_revoked("default", "some-jti", None, None)
        .await
        .unwrap());
    let (st, _) = srv.refresh("default", &client, &s(&live, "refresh_token"), None).await;
    assert_eq!(st, 200, "live refresh tokens survive the sweep");
    srv.advance(2 * 3600);
    svc.sweep_expired(100).await.unwrap();
    assert!(
        !store
            .access_token_revoked("default", "some-jti", None, None)
            .await
            .unwrap(),
        "swept once past"
    );
}

#[tokio::test]
async fn refresh_across_a_restart() {
    let srv = TestServer::start().await;
    let client = srv.env_with_public_client("default", json!({}), json!({})).await;
    let t = srv.tokens("default", &client).await;
    let srv = srv.restart().await;
    assert_eq!(
        srv.introspect("default", &client, &s(&t, "access_token")).await["active"],
        true
    );
    let (st, t2) = srv.refresh("default", &client, &s(&t, "refresh_token"), None).await;
    assert_eq!(st, 200, "{t2}");
    assert_eq!(srv.userinfo("default", &s(&t2, "access_token")).await.0, 200);
}

#[tokio::test]
async fn tokens_are_bound_to_their_session_and_sign_off_revokes_them() {
    let srv = TestServer::start().await;
    let client = srv.env_with_public_client("default", json!({}), json!({})).await;
    let exchange = |code: String| {
        let client = client.clone();
        let srv = &srv;
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("client_id", client.as_str()),
                ("code_verifier", VERIFIER),
            ];
            srv.token("default", &form).await.1
        }
    };
    // Two browsers, two sessions.
    let (q1, cookies1) = srv.code_via_flows("default", &TestServer::pairs(&client)).await;
    let t1 = exchange(q1["code"].clone()).await;
    let (q2, _) = srv.code_via_flows("default", &TestServer::pairs(&client)).await;
    let t2 = exchange(q2["code"].clone()).await;
    use base64::Engine as _;
    let claims = |jwt: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(jwt.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let (sid1, sid2) = (
        claims(&s(&t1, "id_token"))["sid"].clone(),
        claims(&s(&t2, "id_token"))["sid"].clone(),
    );
    assert!(
        sid1.is_string() && sid2.is_string() && sid1 != sid2,
        "the ID token names its session"
    );
    // A refreshed token stays in its session.
    let (_, t1b) = srv.refresh("default", &client, &s(&t1, "refresh_token"), None).await;
    assert_eq!(claims(&s(&t1b, "id_token"))["sid"], sid1);
    let session: Vec<String> = cookies1
        .into_iter()
        .filter(|c| c.starts_with("pixie_session_"))
        .collect();
    // A GET shows a confirmation; it signs nobody off.
    let resp = srv
        .http
        .get(srv.url("/default/as/signoff"))
        .header("cookie", session.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains("method=\"post\""));
    let csrf = {
        let m = "name=\"csrf\" value=\"";
        let i = page.find(m).unwrap() + m.len();
        page[i..i + page[i..].find('"').unwrap()].to_owned()
    };
    assert_eq!(
        srv.introspect("default", &client, &s(&t1b, "access_token")).await["active"],
        true
    );
    // POST: the session ends, its tokens are revoked, the other browser's are not.
    let resp = srv
        .http
        .post(srv.url("/default/as/signoff"))
        .header("cookie", session.join("; "))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(
        srv.introspect("default", &client, &s(&t1b, "access_token")).await["active"],
        false
    );
    assert_eq!(
        srv.refresh("default", &client, &s(&t1b, "refresh_token"), None).await.0,
        400
    );
    assert_eq!(
        srv.introspect("default", &client, &s(&t2, "refresh_token")).await["active"],
        true
    );
    // The old session cookie no longer skips sign-on.
    let resp = srv.authorize("default", &TestServer::pairs(&client), &session).await;
    assert!(location(&resp).contains("/signon?flowId="));
}

/// The payload of a JWT, unverified (the tests check claims; pixie verifies).
fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// Resource indicators (RFC 8707, CONTRACT §7): resources registered through the admin
/// API; `resource` (which may repeat) accepted at authorization, recorded with the code,
/// repeated or narrowed at the token endpoint and on refresh, never widened; the access
/// token's `aud` names them; anything unregistered is `invalid_target`.
#[tokio::test]
async fn resource_indicators_name_the_audience() {
    let s = TestServer::start().await;
    let (files, mail) = ("https://mcp.example.com/mcp", "https://mail.example.com/api");
    let client = s
        .env_with_public_client(
            "default",
            json!({}),
            json!({"scope": "openid profile email files:read mail:send"}),
        )
        .await;
    // The admin API: create (201), duplicate (409), invalid (400), list.
    for (uri, scopes) in [
        (files, json!(["files:read", "files:write"])),
        (mail, json!(["mail:send"])),
    ] {
        let body = json!({"uri": uri, "scopes": scopes, "name": "x"});
        let (st, r) = s
            .admin(
                reqwest::Method::POST,
                "/admin/environments/default/resources",
                Some(body),
            )
            .await;
        assert_eq!(st, 201, "{r}");
        assert_eq!(r["uri"], uri);
    }
    let (st, _) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/resources",
            Some(json!({"uri": files})),
        )
        .await;
    assert_eq!(st, 409);
    for bad in ["/relative", "https://a.example/#frag", "https://a.example/ x"] {
        let (st, body) = s
            .admin(
                reqwest::Method::POST,
                "/admin/environments/default/resources",
                Some(json!({"uri": bad})),
            )
            .await;
        assert_eq!(st, 400, "{bad}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().starts_with("uri:"),
            "{body}"
        );
    }
    let (st, body) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/resources",
            Some(json!({"uri": "https://b.example/", "scopes": ["has space"]})),
        )
        .await;
    assert_eq!(
        (
            st,
            body["error_description"].as_str().map(|d| d.starts_with("scopes[0]"))
        ),
        (400, Some(true))
    );
    let (st, list) = s
        .admin(reqwest::Method::GET, "/admin/environments/default/resources", None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["next"], Value::Null);
    // Their scopes are scopes of the environment.
    let (_, d) = s.get_json("/default/.well-known/openid-configuration").await;
    let supported = d["scopes_supported"].as_array().unwrap();
    for scope in ["openid", "files:read", "files:write", "mail:send"] {
        assert!(supported.contains(&json!(scope)), "{scope} in {supported:?}");
    }

    // Authorization with both resources (repeated: allowed for `resource` alone).
    let mut pairs = TestServer::pairs(&client);
    pairs.push(("resource", files));
    pairs.push(("resource", mail));
    let (q, _) = s.code_via_flows("default", &pairs).await;
    let code = q["code"].clone();
    // Widening at the token endpoint: invalid_target (and the code is spent).
    let exchange = |code: String, resources: Vec<&'static str>| {
        let client = client.clone();
        let s = &s;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", REDIRECT.to_owned()),
                ("client_id", client),
                ("code_verifier", VERIFIER.to_owned()),
            ];
            for r in resources {
                form.push(("resource", r.to_owned()));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (st, body, _) = s.token("default", &form).await;
            (st, body)
        }
    };
    let (st, body) = exchange(code.clone(), vec!["https://other.example/"]).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    // A fresh code, narrowed to one resource: `aud` is that resource.
    let (q, _) = s.code_via_flows("default", &pairs).await;
    let (st, tok) = exchange(q["code"].clone(), vec![files]).await;
    assert_eq!(st, 200, "{tok}");
    assert_eq!(jwt_claims(tok["access_token"].as_str().unwrap())["aud"], json!(files));
    // Narrowing one token does not shrink the grant (RFC 8707 §2.2): its refresh token
    // may ask for the other resource.
    let narrowed_rt = tok["refresh_token"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", narrowed_rt.as_str()),
        ("client_id", client.as_str()),
        ("resource", mail),
    ];
    let (st, body, _) = s.token("default", &form).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["aud"], json!(mail));
    let after_narrowing = body["refresh_token"].as_str().unwrap().to_owned();
    // None named at the token endpoint: all that were authorized, `aud` an array.
    let (q, _) = s.code_via_flows("default", &pairs).await;
    let (st, tok) = exchange(q["code"].clone(), vec![]).await;
    assert_eq!(st, 200, "{tok}");
    let at = tok["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(at)["aud"], json!([files, mail]));
    // The ID token's audience stays the client; introspection reports the resources.
    assert_eq!(jwt_claims(tok["id_token"].as_str().unwrap())["aud"], json!(client));
    let info = s.introspect("default", &client, at).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["aud"], json!([files, mail]));
    // A token for resource servers is theirs, not UserInfo's (no replay by a resource
    // server that was handed it).
    let (st, body) = s.userinfo("default", at).await;
    assert_eq!((st, body["error"].as_str()), (401, Some("invalid_token")), "{body}");
    // Refresh: narrow, never widen.
    let rt = tok["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", client.as_str()),
        ("resource", "https://other.example/"),
    ];
    let (st, body, _) = s.token("default", &form).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", client.as_str()),
        ("resource", mail),
    ];
    let (st, body, _) = s.token("default", &form).await;
    assert_eq!(st, 200, "a refused refresh leaves the token usable: {body}");
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["aud"], json!(mail));
    // Without `resource`, as before: `aud` is the client.
    let plain = s.tokens("default", &client).await;
    assert_eq!(
        jwt_claims(plain["access_token"].as_str().unwrap())["aud"],
        json!(client)
    );

    // An unregistered or malformed resource at authorization: invalid_target at the
    // redirect URI; other parameters may still not repeat.
    for bad in ["https://other.example/", "/relative"] {
        let mut pairs = TestServer::pairs(&client);
        pairs.push(("resource", bad));
        let resp = s.authorize("default", &pairs, &[]).await;
        assert_eq!(resp.status(), 302);
        let loc = location(&resp);
        assert!(loc.starts_with(REDIRECT), "{loc}");
        assert_eq!(query(&loc)["error"], "invalid_target", "{loc}");
    }
    let mut pairs = TestServer::pairs(&client);
    pairs.push(("scope", "openid"));
    let loc = location(&s.authorize("default", &pairs, &[]).await);
    assert_eq!(query(&loc)["error"], "invalid_request", "{loc}");

    // Removing a resource: 204, then 404; new requests for it are invalid_target.
    let path = format!(
        "/admin/environments/default/resources/{}",
        form_urlencoded::byte_serialize(mail.as_bytes()).collect::<String>()
    );
    assert_eq!(s.admin(reqwest::Method::DELETE, &path, None).await.0, 204);
    assert_eq!(s.admin(reqwest::Method::DELETE, &path, None).await.0, 404);
    // A removed resource is never named again, even by a grant that had it: asked for,
    // invalid_target; not asked for, the token names what is left.
    let refresh = |rt: String, resource: Option<&'static str>| {
        let (s, client) = (&s, client.clone());
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
                ("client_id", client.as_str()),
            ];
            if let Some(r) = resource {
                form.push(("resource", r));
            }
            let (st, body, _) = s.token("default", &form).await;
            (st, body)
        }
    };
    let (st, body) = refresh(after_narrowing.clone(), Some(mail)).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    let (st, body) = refresh(after_narrowing, None).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["aud"], json!(files));
    let mut pairs = TestServer::pairs(&client);
    pairs.push(("resource", mail));
    let loc = location(&s.authorize("default", &pairs, &[]).await);
    assert_eq!(query(&loc)["error"], "invalid_target", "{loc}");
}

/// An environment registers at most `MAX_RESOURCES` resource servers (each is read on
/// every discovery request).
#[tokio::test]
async fn resources_are_bounded() {
    let s = TestServer::start().await;
    for i in 0..pixie_server::service::MAX_RESOURCES {
        let body = json!({"uri": format!("https://r{i}.example/"), "scopes": [format!("s{i}")]});
        let (st, r) = s
            .admin(
                reqwest::Method::POST,
                "/admin/environments/default/resources",
                Some(body),
            )
            .await;
        assert_eq!(st, 201, "{r}");
    }
    let body = json!({"uri": "https://one-more.example/"});
    let (st, r) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/resources",
            Some(body),
        )
        .await;
    assert_eq!(st, 400, "{r}");
    let (_, d) = s.get_json("/default/.well-known/openid-configuration").await;
    assert_eq!(
        d["scopes_supported"].as_array().unwrap().len(),
        4 + pixie_server::service::MAX_RESOURCES
    );
}

/// A refused code says why (issue 19): unknown, another client's, already used (and
/// then "any" tokens, since an exchange without its verifier got none), expired.
#[tokio::test]
async fn a_refused_code_says_why() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let other = s.env_with_public_client("default", json!({}), json!({})).await;
    let why = |body: &Value| body["error_description"].as_str().unwrap().to_owned();

    let (st, body, _) = s
        .token("default", &TestServer::code_exchange(&client, "no-such-code"))
        .await;
    assert_eq!(st, 400);
    assert!(why(&body).starts_with("code is unknown"), "{body}");

    let (q, _) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    let (_, body, _) = s.token("default", &TestServer::code_exchange(&other, &q["code"])).await;
    assert_eq!(why(&body), "code was issued to another client");
    // Spent by a request without its verifier: no tokens; the replay says "any".
    let no_verifier = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client.as_str()),
    ];
    let (st, body, _) = s.token("default", &no_verifier).await;
    assert_eq!(st, 400, "{body}");
    let (_, body, _) = s
        .token("default", &TestServer::code_exchange(&client, &q["code"]))
        .await;
    assert_eq!(
        why(&body),
        "code was already used; any tokens issued for it are now revoked"
    );

    let (q, _) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    s.advance(3600);
    let (_, body, _) = s
        .token("default", &TestServer::code_exchange(&client, &q["code"]))
        .await;
    assert!(why(&body).starts_with("code has expired"), "{body}");
}
