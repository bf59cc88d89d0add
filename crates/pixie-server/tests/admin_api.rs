//! The admin API, discovery and persistence over HTTP (CONTRACT §2, §5, §6).

use pixie_testkit::*;
use reqwest::Method;
use serde_json::{json, Value};

const REQUIRED_DISCOVERY_FIELDS: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
    "response_types_supported",
    "grant_types_supported",
    "code_challenge_methods_supported",
    "token_endpoint_auth_methods_supported",
    "id_token_signing_alg_values_supported",
    "authorization_response_iss_parameter_supported",
];

async fn discovery(s: &TestServer, env: &str) -> Value {
    let (status, oidc) = s.get_json(&format!("/{env}/.well-known/openid-configuration")).await;
    assert_eq!(status, 200);
    let (status, rfc8414) = s
        .get_json(&format!("/.well-known/oauth-authorization-server/{env}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(oidc, rfc8414, "both discovery documents agree");
    let (status, inserted) = s.get_json(&format!("/.well-known/openid-configuration/{env}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        oidc, inserted,
        "the path-inserted OpenID discovery URL answers the same"
    );
    for f in REQUIRED_DISCOVERY_FIELDS {
        assert!(oidc.get(f).is_some(), "discovery lacks {f}");
    }
    assert_eq!(oidc["issuer"], format!("{}/{env}", s.base));
    assert_eq!(oidc["response_types_supported"], json!(["code"]));
    assert_eq!(oidc["authorization_response_iss_parameter_supported"], true);
    oidc
}

#[tokio::test]
async fn discovery_for_strict_and_permissive_environments() {
    let s = TestServer::start().await;
    let d = discovery(&s, "default").await;
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    for m in ["none", "client_secret_basic", "client_secret_post"] {
        assert!(d["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(m)));
    }
    let (st, _) = s
        .admin(
            Method::POST,
            "/admin/environments",
            Some(json!({"id": "legacy", "pkce": {"allowed": ["plain", "S256"], "required": []}})),
        )
        .await;
    assert_eq!(st, 201);
    let d = discovery(&s, "legacy").await;
    let mut methods: Vec<String> = serde_json::from_value(d["code_challenge_methods_supported"].clone()).unwrap();
    methods.sort();
    assert_eq!(methods, ["S256", "plain"]);
    // A policy change shows at once.
    let (st, _) = s
        .admin(
            Method::PATCH,
            "/admin/environments/legacy",
            Some(json!({"pkce": {"allowed": ["plain"], "required": []}})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        discovery(&s, "legacy").await["code_challenge_methods_supported"],
        json!(["plain"])
    );
    // JWKS: one RS256 and one ES256 key, with kids.
    let (st, jwks) = s.get_json("/legacy/as/jwks").await;
    assert_eq!(st, 200);
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs.len(), 2);
    assert!(algs.contains(&"RS256") && algs.contains(&"ES256"));
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["kid"].is_string() && k.get("d").is_none()));
    // Unknown environment.
    assert_eq!(s.get_json("/nope/.well-known/openid-configuration").await.0, 404);
    assert_eq!(s.get_json("/.well-known/oauth-authorization-server/nope").await.0, 404);
    assert_eq!(s.get_json("/.well-known/openid-configuration/nope").await.0, 404);
    assert_eq!(s.http.get(s.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn admin_happy_paths() {
    let s = TestServer::start().await;
    let (st, env) = s
        .admin(Method::POST, "/admin/environments", Some(json!({"id": "acme"})))
        .await;
    assert_eq!(st, 201, "{env}");
    assert_eq!(env["issuer"], format!("{}/acme", s.base));
    assert_eq!(
        env["pkce"],
        json!({"allowed": ["S256"], "required": ["S256"], "require_for_public_clients": true, "mode": "enforce"})
    );
    let (st, got) = s.admin(Method::GET, "/admin/environments/acme", None).await;
    assert_eq!((st, &got), (200, &env));
    let (st, patched) = s
        .admin(
            Method::PATCH,
            "/admin/environments/acme",
            Some(json!({"pkce": {"allowed": ["plain", "S256"], "mode": "report"}})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(patched["pkce"]["mode"], "report");
    assert_eq!(
        patched["pkce"]["required"],
        json!(["S256"]),
        "left-out fields take the strict default"
    );

    let (st, app) = s
        .admin(
            Method::POST,
            "/admin/environments/acme/applications",
            Some(json!({
                "client_name": "Web", "redirect_uris": ["https://web.example/cb"],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "client_secret_post", "scope": "openid email",
                "code_challenge_method": "S256", "require_pkce": true, "id_token_signed_response_alg": "ES256"
            })),
        )
        .await;
    assert_eq!(st, 201, "{app}");
    let id = app["client_id"].as_str().unwrap().to_owned();
    assert!(app["client_secret"].as_str().unwrap().len() >= 43, "a 256-bit secret");
    assert_eq!(app["code_challenge_method"], "S256");
    assert_eq!(app["require_pkce"], true);
    let path = format!("/admin/environments/acme/applications/{id}");
    let (st, got) = s.admin(Method::GET, &path, None).await;
    assert_eq!(st, 200);
    assert!(got.get("client_secret").is_none(), "the secret is shown once");
    assert_eq!(got["client_name"], "Web");
    let (st, got) = s
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"client_name": "Web 2", "require_pkce": false})),
        )
        .await;
    assert_eq!(st, 200, "{got}");
    assert_eq!(
        (got["client_name"].as_str(), got["require_pkce"].as_bool()),
        (Some("Web 2"), Some(false))
    );
    assert!(got.get("client_secret").is_none());
    assert_eq!(s.admin(Method::DELETE, &path, None).await.0, 204);
    assert_eq!(s.admin(Method::GET, &path, None).await.0, 404);

    let (st, public) = s
        .admin(
            Method::POST,
            "/admin/environments/acme/applications",
            Some(json!({"client_name": "Native", "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"})),
        )
        .await;
    assert_eq!(st, 201);
    assert!(public.get("client_secret").is_none(), "public clients have no secret");

    let (st, user) = s
        .admin(
            Method::POST,
            "/admin/environments/acme/users",
            Some(json!({"username": "tom", "password": "s3cret-pw", "email": "tom@example.com", "name": "Tom"})),
        )
        .await;
    assert_eq!(st, 201, "{user}");
    assert_eq!(user["username"], "tom");
    assert!(
        !user.to_string().contains("s3cret-pw"),
        "the password is never returned"
    );
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
}

#[tokio::test]
async fn admin_error_statuses() {
    let s = TestServer::start().await;
    // 401: no token, wrong token, wrong scheme.
    for auth in [None, Some("Bearer wrong"), Some(&*format!("Basic {}", s.token))] {
        let mut req = s.http.get(s.url("/admin/environments/default"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"].is_string() && body["error_description"].is_string());
    }
    let cases: Vec<(Method, &str, Value, u16, &str)> = vec![
        (Method::POST, "/admin/environments", json!({"id": "Bad_Id"}), 400, "id"),
        (Method::POST, "/admin/environments", json!({"id": "admin"}), 400, "id"),
        (Method::POST, "/admin/environments", json!({"id": "console"}), 400, "id"),
        (Method::POST, "/admin/environments", json!({"pkce": {}}), 400, "id"),
        (
            Method::POST,
            "/admin/environments",
            json!({"id": "x", "pkce": {"allowed": ["S512"]}}),
            400,
            "pkce.allowed",
        ),
        (
            Method::POST,
            "/admin/environments",
            json!({"id": "x", "pkce": {"allowed": []}}),
            400,
            "pkce.allowed",
        ),
        (
            Method::POST,
            "/admin/environments",
            json!({"id": "x", "pkce": {"allowed": ["plain"], "required": ["S256"]}}),
            400,
            "pkce.required",
        ),
        (
            Method::POST,
            "/admin/environments",
            json!({"id": "x", "pkce": {"mode": "audit"}}),
            400,
            "pkce.mode",
        ),
        (Method::POST, "/admin/environments", json!({"id": 7}), 400, "id"),
        (Method::POST, "/admin/environments", json!({"id": "default"}), 409, ""),
        (Method::GET, "/admin/environments/nope", Value::Null, 404, ""),
        (Method::PATCH, "/admin/environments/nope", json!({"pkce": {}}), 404, ""),
        (
            Method::PATCH,
            "/admin/environments/default",
            json!({"pkce": {"allowed": ["plain"]}}),
            400,
            "pkce.required",
        ),
        (
            Method::POST,
            "/admin/environments/default/applications",
            json!({"redirect_uris": ["https://a.example/cb"], "code_challenge_method": "plain"}),
            400,
            "code_challenge_method",
        ),
        (
            Method::POST,
            "/admin/environments/default/applications",
            json!({"redirect_uris": ["not a uri"]}),
            400,
            "redirect_uris",
        ),
        (
            Method::POST,
            "/admin/environments/default/applications",
            json!({"redirect_uris": "https://a.example/cb"}),
            400,
            "redirect_uris",
        ),
        (
            Method::POST,
            "/admin/environments/default/applications",
            // private_key_jwt needs the client's keys.
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            400,
            "jwks",
        ),
        (
            Method::POST,
            "/admin/environments/default/applications",
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_jwt"}),
            400,
            "token_endpoint_auth_method",
        ),
        (
            Method::POST,
            "/admin/environments/nope/applications",
            json!({"redirect_uris": ["https://a.example/cb"]}),
            404,
            "",
        ),
        (
            Method::GET,
            "/admin/environments/default/applications/nope",
            Value::Null,
            404,
            "",
        ),
        (
            Method::DELETE,
            "/admin/environments/default/applications/nope",
            Value::Null,
            404,
            "",
        ),
        (
            Method::POST,
            "/admin/environments/default/users",
            json!({"username": "u"}),
            400,
            "password",
        ),
        (
            Method::POST,
            "/admin/environments/default/users",
            json!({"username": "", "password": "p"}),
            400,
            "username",
        ),
        (
            Method::POST,
            "/admin/environments/nope/users",
            json!({"username": "u", "password": "p"}),
            404,
            "",
        ),
    ];
    for (method, path, body, status, field) in cases {
        let body_opt = (!body.is_null()).then(|| body.clone());
        let (st, resp) = s.admin(method.clone(), path, body_opt).await;
        assert_eq!(st, status, "{method} {path} {body}: {resp}");
        assert!(resp["error"].is_string(), "{resp}");
        let desc = resp["error_description"].as_str().unwrap();
        assert!(
            desc.contains(field),
            "{method} {path} {body}: description {desc:?} does not name {field}"
        );
    }
    // Invalid JSON altogether.
    let resp = s
        .http
        .post(s.url("/admin/environments"))
        .bearer_auth(&s.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // 409 for a duplicate username.
    let user = json!({"username": "tom", "password": "pw"});
    assert_eq!(
        s.admin(Method::POST, "/admin/environments/default/users", Some(user.clone()))
            .await
            .0,
        201
    );
    assert_eq!(
        s.admin(Method::POST, "/admin/environments/default/users", Some(user))
            .await
            .0,
        409
    );
}

#[tokio::test]
async fn a_restart_loses_nothing() {
    let s = TestServer::start().await;
    assert_eq!(
        s.admin(
            Method::POST,
            "/admin/environments",
            Some(json!({"id": "keep", "pkce": {"allowed": ["plain", "S256"], "required": []}}))
        )
        .await
        .0,
        201
    );
    let (_, app) = s
        .admin(
            Method::POST,
            "/admin/environments/keep/applications",
            Some(json!({"client_name": "A", "redirect_uris": ["https://a.example/cb"]})),
        )
        .await;
    let user = json!({"username": "tom", "password": "pw"});
    assert_eq!(
        s.admin(Method::POST, "/admin/environments/keep/users", Some(user.clone()))
            .await
            .0,
        201
    );
    let (_, jwks_before) = s.get_json("/keep/as/jwks").await;
    let (_, default_jwks_before) = s.get_json("/default/as/jwks").await;
    let token = s.token.clone();

    let s = s.restart().await;
    assert_eq!(s.token, token, "the generated admin token is kept");
    let (_, jwks_after) = s.get_json("/keep/as/jwks").await;
    assert_eq!(jwks_before, jwks_after, "same keys, same kids");
    assert_eq!(s.get_json("/default/as/jwks").await.1, default_jwks_before);
    let (st, env) = s.admin(Method::GET, "/admin/environments/keep", None).await;
    assert_eq!(st, 200);
    assert_eq!(env["pkce"]["required"], json!([]));
    let (st, got) = s
        .admin(
            Method::GET,
            &format!(
                "/admin/environments/keep/applications/{}",
                app["client_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!((st, got["client_name"].as_str()), (200, Some("A")));
    assert_eq!(
        s.admin(Method::POST, "/admin/environments/keep/users", Some(user))
            .await
            .0,
        409,
        "the user survived"
    );
    assert_eq!(
        s.get_json("/.well-known/oauth-authorization-server/default").await.0,
        200
    );
}

#[tokio::test]
async fn the_wrong_master_key_is_a_clear_startup_error() {
    let s = TestServer::start().await;
    let dir = s.dir.path().to_path_buf();
    let s = s.restart().await; // the right key from master.key works
    let (_, _) = s.get_json("/default/as/jwks").await;
    let mut cfg = pixie_testkit::config(&dir);
    cfg.master_key = Some("ab".repeat(32));
    let err = pixie_server::start(cfg)
        .await
        .expect_err("a wrong master key must not start");
    let msg = err.to_string();
    assert!(msg.contains("master key"), "{msg}");
    assert!(msg.contains("decryption failed"), "{msg}");
    let mut cfg = pixie_testkit::config(&dir);
    cfg.master_key = Some("too-short".into());
    assert!(pixie_server::start(cfg)
        .await
        .unwrap_err()
        .to_string()
        .contains("master key"));
    // The database alone holds no usable private key material.
    if pixie_testkit::postgres_backend() {
        return; // the rows are checked on SQLite; PostgreSQL stores the same bytes
    }
    let db = std::fs::read(dir.join("pixie.db")).unwrap();
    let wal = std::fs::read(dir.join("pixie.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("\"d\":"), "no private JWK member in the store");
        assert!(
            !bytes.windows(3).any(|w| w == [0x02, 0x01, 0x00]) || !text.contains("PRIVATE"),
            "no PEM"
        );
    }
}

/// CORS (CONTRACT §7): discovery, JWKS, token, introspection and revocation answer any
/// origin, preflight included, never with credentials; the authorization endpoint, the
/// pages, UserInfo and the admin API do not.
#[tokio::test]
async fn cors_only_where_a_browser_client_fetches() {
    let s = TestServer::start().await;
    let origin = "https://app.example";
    for path in [
        "/default/.well-known/openid-configuration",
        "/.well-known/openid-configuration/default",
        "/.well-known/oauth-authorization-server/default",
        "/default/as/jwks",
    ] {
        let resp = s.http.get(s.url(path)).header("origin", origin).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["access-control-allow-origin"], "*", "{path}");
        assert!(resp.headers().get("access-control-allow-credentials").is_none());
    }
    for path in ["/default/as/token", "/default/as/introspect", "/default/as/revoke"] {
        let preflight = s
            .http
            .request(Method::OPTIONS, s.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success(), "{path}: {}", preflight.status());
        let h = preflight.headers();
        assert_eq!(h["access-control-allow-origin"], "*", "{path}");
        assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
        let allowed = h["access-control-allow-headers"].to_str().unwrap().to_lowercase();
        assert!(
            allowed.contains("authorization") && allowed.contains("content-type"),
            "{allowed}"
        );
        assert!(h.get("access-control-allow-credentials").is_none());
        // The answer itself (here an error) carries the header too.
        let resp = s
            .http
            .post(s.url(path))
            .header("origin", origin)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["access-control-allow-origin"], "*", "{path}");
    }
    for path in [
        "/default/as/authorize?client_id=x",
        "/default/signon?flowId=x",
        "/default/as/userinfo",
        "/admin/environments/default",
    ] {
        let resp = s.http.get(s.url(path)).header("origin", origin).send().await.unwrap();
        assert!(resp.headers().get("access-control-allow-origin").is_none(), "{path}");
    }
    let preflight = s
        .http
        .request(Method::OPTIONS, s.url("/default/as/authorize"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight.headers().get("access-control-allow-origin").is_none());
}

/// RFC 7591 dynamic registration (CONTRACT §7): off by default; when on, published in
/// metadata; the redirect-URI and metadata rules with RFC 7591's errors; unknown
/// metadata ignored; the environment's PKCE policy applies; such clients are third
/// parties (consent, not verified); 20 registrations an hour per address; a client that
/// never completes a flow is gone after 24 hours.
#[tokio::test]
async fn dynamic_registration() {
    let s = TestServer::start().await;
    s.env_with_public_client("default", json!({}), json!({})).await;
    let register = |body: Value| {
        let s = &s;
        async move {
            let resp = s
                .http
                .post(s.url("/default/as/register"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let retry = resp.headers().get("retry-after").is_some();
            let cors = resp.headers().get("access-control-allow-origin").is_some();
            let body: Value = resp.json().await.unwrap_or_default();
            (status, body, retry, cors)
        }
    };
    let public = json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none",
                        "client_name": "Agent", "grant_types": ["authorization_code", "refresh_token"],
                        "software_id": "ignored", "logo_uri": "https://x.example/l.png", "resource": "x"});
    // Off by default: no endpoint, nothing in metadata.
    assert_eq!(register(public.clone()).await.0, 404);
    assert!(discovery(&s, "default").await.get("registration_endpoint").is_none());
    let (st, env) = s
        .admin(
            Method::PATCH,
            "/admin/environments/default",
            Some(json!({"registration": {"dynamic": true}})),
        )
        .await;
    assert_eq!(st, 200, "{env}");
    assert_eq!(
        env["registration"],
        json!({"dynamic": true, "client_id_metadata_documents": false})
    );
    assert_eq!(
        discovery(&s, "default").await["registration_endpoint"],
        json!(s.url("/default/as/register"))
    );
    // A public client: 201, no secret, every scope of the environment.
    let (st, app, _, cors) = register(public.clone()).await;
    assert_eq!(st, 201, "{app}");
    assert!(cors, "the registration endpoint answers CORS");
    assert!(app["client_id"].is_string() && app["client_id_issued_at"].is_i64());
    assert!(app.get("client_secret").is_none());
    assert_eq!(app["scope"], "openid profile email offline_access");
    assert_eq!(app["token_endpoint_auth_method"], "none");
    let client = app["client_id"].as_str().unwrap().to_owned();
    // A confidential one: a secret that does not expire.
    let (st, conf, _, _) = register(json!({"redirect_uris": ["https://app.example/cb"]})).await;
    assert_eq!(st, 201, "{conf}");
    assert!(conf["client_secret"].is_string());
    assert_eq!(conf["client_secret_expires_at"], 0);
    // The rules, with RFC 7591's errors.
    for (body, error) in [
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#f"]}),
            "invalid_redirect_uri",
        ),
        // What the consent page shows as the host must be where the browser goes.
        (
            json!({"redirect_uris": ["https://g\u{43e}\u{43e}gle.com/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://evil.example\\.good.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["com.example://accounts.google.com/cb"]}),
            "invalid_redirect_uri",
        ),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "code_challenge_method": "plain"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "scope": "openid admin"}),
            "invalid_client_metadata",
        ),
    ] {
        let (st, e, _, _) = register(body.clone()).await;
        assert_eq!((st, e["error"].as_str()), (400, Some(error)), "{body}: {e}");
    }
    let resp = s
        .http
        .post(s.url("/default/as/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Anyone can get a secret by registering: such a client learns nothing about the
    // tokens of others at the introspection endpoint (an operator's confidential
    // client, a resource server, does).
    let tok = s
        .tokens(
            "default",
            &s.env_with_public_client("default", json!({}), json!({})).await,
        )
        .await;
    let access = tok["access_token"].as_str().unwrap();
    let refresh = tok["refresh_token"].as_str().unwrap();
    for token in [access, refresh] {
        let seen: Value = s
            .http
            .post(s.url("/default/as/introspect"))
            .basic_auth(conf["client_id"].as_str().unwrap(), conf["client_secret"].as_str())
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(seen, json!({"active": false}));
    }
    // A third party: consent, not verified; then a code as usual.
    let resp = s.authorize("default", &TestServer::pairs(&client), &[]).await;
    let cookies = set_cookies(&resp);
    let flow = query(&location(&resp))["flowId"].clone();
    let body: Value = s
        .flow_sign_on("default", &flow, "tom", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "CONSENT_REQUIRED", "{body}");
    assert_eq!(body["client"]["verified"], false);
    let done: Value = s
        .http
        .post(s.url(&format!("/default/flows/{flow}")))
        .header("content-type", "application/vnd.pixie.consent+json")
        .json(&json!({"approve": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = s
        .http
        .get(s.local(done["resumeUrl"].as_str().unwrap()))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert!(query(&location(&resp)).contains_key("code"));
    // Its PKCE checks are in the report under its client_id, like any client's; and a
    // request of it without PKCE is refused by the environment's policy.
    let without: Vec<_> = TestServer::pairs(&client)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let resp = s.authorize("default", &without, &[]).await;
    assert_eq!(query(&location(&resp))["error"], "invalid_request");
    let (_, report) = s
        .admin(Method::GET, "/admin/environments/default/pkce-report", None)
        .await;
    let entry = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == client.as_str())
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    assert_eq!(entry["counts"]["S256"]["accepted"], 1, "{entry}");
    assert_eq!(entry["counts"]["none"]["rejected"], 1, "{entry}");
    // 20 registrations an hour from one address (two so far, errors not counted).
    for i in 2..20 {
        let (st, _, _, _) = register(json!({"redirect_uris": [format!("https://a{i}.example/cb")]})).await;
        assert_eq!(st, 201, "registration {i}");
    }
    let (st, e, retry, _) = register(json!({"redirect_uris": ["https://more.example/cb"]})).await;
    assert_eq!((st, retry), (429, true), "{e}");
    // A day later: the clients that never completed a flow are gone; the used one stays.
    let app_path = |id: &str| format!("/admin/environments/default/applications/{id}");
    let unused = conf["client_id"].as_str().unwrap();
    assert_eq!(s.admin(Method::GET, &app_path(unused), None).await.0, 200);
    s.running.as_ref().unwrap().service().sweep_expired(1000).await.unwrap();
    assert_eq!(
        s.admin(Method::GET, &app_path(unused), None).await.0,
        200,
        "not before the day is out"
    );
    s.advance(24 * 3600 + 60);
    s.running.as_ref().unwrap().service().sweep_expired(1000).await.unwrap();
    assert_eq!(s.admin(Method::GET, &app_path(unused), None).await.0, 404, "gone");
    assert_eq!(
        s.admin(Method::GET, &app_path(&client), None).await.0,
        200,
        "kept: it completed a flow"
    );
    let resp = s.authorize("default", &TestServer::pairs(&client), &[]).await;
    assert_eq!(resp.status(), 302);
    // Registration again possible: a new hour.
    assert_eq!(register(public).await.0, 201);
}

/// A body over the limit is 413 with the usual JSON error everywhere, the admin API's
/// JSON bodies included.
#[tokio::test]
async fn oversized_bodies_are_413_everywhere() {
    let s = TestServer::start().await;
    let token = s.token.clone();
    let big = format!("{{\"id\": \"{}\"}}", "x".repeat(70 * 1024));
    let resp = s
        .http
        .post(s.url("/admin/environments"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"].is_string() && body["error_description"].is_string(),
        "{body}"
    );
    let resp = s
        .http
        .post(s.url("/default/as/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type={}", "x".repeat(70 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}
