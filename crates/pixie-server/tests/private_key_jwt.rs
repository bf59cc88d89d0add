//! `private_key_jwt` client authentication (RFC 7523, CONTRACT §8) against a running
//! server: keys inline or at a `jwks_uri` (with rotation), every way an assertion can be
//! wrong refused with `401 invalid_client`, an assertion good once, and the method at
//! the token, PAR, introspection and revocation endpoints.

use std::sync::{Arc, Mutex};

use pixie_testkit::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A key with a `kid`, as a client registers it.
fn public_jwk(key: &DpopKey, kid: &str) -> Value {
    let mut jwk = key.jwk.clone();
    jwk["kid"] = json!(kid);
    jwk
}

/// An assertion by `key` (`kid`) for `client_id`, with these claims over the defaults.
fn assertion(key: &DpopKey, kid: &str, client_id: &str, aud: &str, now: i64, patch: Value) -> String {
    let mut claims = json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 60, "iat": now,
                            "jti": b64(&rand_bytes())});
    for (k, v) in patch.as_object().unwrap() {
        claims[k] = v.clone();
    }
    key.sign(json!({"alg": "ES256", "typ": "JWT", "kid": kid}), claims)
}

fn rand_bytes() -> [u8; 12] {
    let mut b = [0u8; 12];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    b
}

/// A client credentials request authenticated by `client_assertion`.
async fn token(s: &TestServer, assertion: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    let resp = s
        .http
        .post(s.url("/default/as/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn register(s: &TestServer, keys: Value) -> (u16, Value) {
    let mut meta = json!({"client_name": "Bank", "redirect_uris": [REDIRECT],
                          "grant_types": ["authorization_code", "client_credentials"],
                          "token_endpoint_auth_method": "private_key_jwt", "scope": "openid files:read"});
    for (k, v) in keys.as_object().unwrap() {
        meta[k] = v.clone();
    }
    s.admin(Method::POST, "/admin/environments/default/applications", Some(meta))
        .await
}

#[tokio::test]
async fn a_client_authenticates_with_its_key() {
    let s = TestServer::start().await;
    let (_, meta) = s.get_json("/default/.well-known/openid-configuration").await;
    assert!(meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("private_key_jwt")));
    assert_eq!(
        meta["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256", "PS256", "EdDSA"])
    );
    let (key, other) = (DpopKey::new(), DpopKey::new());
    let (st, app) = register(&s, json!({"jwks": {"keys": [public_jwk(&key, "k1")]}})).await;
    assert_eq!(st, 201, "{app}");
    assert!(
        app.get("client_secret").is_none(),
        "no secret for a key-authenticated client"
    );
    let id = app["client_id"].as_str().unwrap().to_owned();
    let issuer = s.url("/default");
    let token_url = s.url("/default/as/token");
    let now = s.now();

    let good = assertion(&key, "k1", &id, &issuer, now, json!({}));
    let (st, body) = token(&s, &good, &[]).await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = token(&s, &good, &[]).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (401, Some("invalid_client")),
        "a replay: {body}"
    );
    let (st, body) = token(
        &s,
        &assertion(&key, "k1", &id, &token_url, now, json!({})),
        &[("client_id", &id)],
    )
    .await;
    assert_eq!(st, 200, "aud = the endpoint, client_id repeated: {body}");

    // Every way an assertion can be wrong: 401 invalid_client, the same words each time.
    let par_url = s.url("/default/as/par");
    let wrong = [
        (assertion(&other, "k1", &id, &issuer, now, json!({})), "another key"),
        (assertion(&key, "k9", &id, &issuer, now, json!({})), "unknown kid"),
        (
            assertion(&key, "k1", &id, &issuer, now, json!({"iss": "someone"})),
            "iss",
        ),
        (
            assertion(&key, "k1", &id, "https://evil.example/default", now, json!({})),
            "aud",
        ),
        (
            assertion(&key, "k1", &id, &par_url, now, json!({})),
            "another endpoint's aud",
        ),
        (
            assertion(&key, "k1", &id, &issuer, now, json!({"exp": now - 1})),
            "expired",
        ),
        (
            assertion(&key, "k1", &id, &issuer, now, json!({"exp": now + 600})),
            "exp too far",
        ),
        (
            assertion(&key, "k1", &id, &issuer, now, json!({"nbf": now + 120})),
            "not yet valid",
        ),
        (assertion(&key, "k1", &id, &issuer, now, json!({"jti": ""})), "no jti"),
        (
            key.sign(
                json!({"alg": "HS256", "kid": "k1"}),
                json!({"iss": id, "sub": id, "aud": issuer,
                  "exp": now + 60, "jti": "h"}),
            ),
            "HS256",
        ),
        (
            key.sign(
                json!({"alg": "none", "kid": "k1"}),
                json!({"iss": id, "sub": id, "aud": issuer,
                  "exp": now + 60, "jti": "n"}),
            ),
            "none",
        ),
        ("not-a-jwt".to_owned(), "garbage"),
    ];
    for (a, why) in wrong {
        let (st, body) = token(&s, &a, &[]).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{why}: {body}"
        );
    }
    let good = assertion(&key, "k1", &id, &issuer, now, json!({}));
    let (st, body) = token(&s, &good, &[("client_secret", "x")]).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("invalid_request")),
        "two methods: {body}"
    );
    let resp = s
        .http
        .post(s.url("/default/as/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_assertion", good.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "another assertion type");
    // A client registered for secrets cannot switch to an assertion.
    let (_, basic) = s
        .admin(
            Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "Old", "redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]})),
        )
        .await;
    let basic_id = basic["client_id"].as_str().unwrap();
    let (st, _) = token(&s, &assertion(&key, "k1", basic_id, &issuer, now, json!({})), &[]).await;
    assert_eq!(st, 401);

    // The same method at PAR, introspection and revocation.
    let pushed = s
        .http
        .post(&par_url)
        .form(&[
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &assertion(&key, "k1", &id, &par_url, now, json!({})),
            ),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 201, "{:?}", pushed.text().await);
    let (_, tok) = token(&s, &assertion(&key, "k1", &id, &issuer, now, json!({})), &[]).await;
    let at = tok["access_token"].as_str().unwrap();
    let introspect_url = s.url("/default/as/introspect");
    let seen: Value = s
        .http
        .post(&introspect_url)
        .form(&[
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &assertion(&key, "k1", &id, &introspect_url, now, json!({})),
            ),
            ("token", at),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["active"], true, "{seen}");
    let revoke_url = s.url("/default/as/revoke");
    let resp = s
        .http
        .post(&revoke_url)
        .form(&[
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion(&key, "k1", &id, &issuer, now, json!({}))),
            ("token", at),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        s.introspect(
            "default",
            &s.env_with_public_client("default", json!({}), json!({})).await,
            at
        )
        .await["active"],
        false
    );
}

/// What a client must register for `private_key_jwt`, refused with the field named.
#[tokio::test]
async fn registration_needs_public_keys() {
    let s = TestServer::start().await;
    let key = DpopKey::new();
    let mut private = public_jwk(&key, "k1");
    private["d"] = json!("AAAA");
    for (keys, field) in [
        (json!({}), "jwks"),
        (json!({"jwks": {"keys": [private]}}), "jwks"),
        (json!({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}), "jwks"),
        // Key material no assertion could verify against: a zero RSA modulus, a
        // 1024-bit one, a P-256 point of the wrong size.
        (
            json!({"jwks": {"keys": [{"kty": "RSA", "n": "AA", "e": "AQAB"}]}}),
            "jwks",
        ),
        (
            json!({"jwks": {"keys": [{"kty": "RSA", "n": "xcXF".repeat(43), "e": "AQAB"}]}}),
            "jwks",
        ),
        (
            json!({"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AQ", "y": "Ag"}]}}),
            "jwks",
        ),
        (json!({"jwks": [public_jwk(&key, "k1")]}), "jwks"),
        (json!({"jwks_uri": "http://keys.example/jwks"}), "jwks_uri"),
        (
            json!({"jwks": {"keys": [public_jwk(&key, "k1")]}, "jwks_uri": "https://keys.example/jwks"}),
            "jwks",
        ),
    ] {
        let (st, body) = register(&s, keys.clone()).await;
        assert_eq!(st, 400, "{keys}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().starts_with(field),
            "{keys}: {body}"
        );
    }
    let (st, body) = s
        .admin(
            Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "x", "redirect_uris": [REDIRECT], "jwks": {"keys": [public_jwk(&key, "k1")]}})),
        )
        .await;
    assert_eq!(st, 400, "jwks without private_key_jwt: {body}");
}

/// Keys at a `jwks_uri`: fetched, kept, and fetched again for a new `kid` (rotation),
/// no more than once a minute.
#[tokio::test]
async fn keys_from_a_jwks_uri_follow_rotation() {
    let served: Arc<Mutex<(Value, u32)>> = Arc::new(Mutex::new((Value::Null, 0)));
    let state = served.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let state = state.clone();
            async move {
                let mut s = state.lock().unwrap();
                s.1 += 1;
                axum::Json(s.0.clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.insecure_cimd_loopback = true;
    let s = TestServer::start_with(dir, cfg).await;
    let (k1, k2) = (DpopKey::new(), DpopKey::new());
    served.lock().unwrap().0 = json!({"keys": [public_jwk(&k1, "k1")]});
    let (st, app) = register(&s, json!({"jwks_uri": jwks_uri})).await;
    assert_eq!(st, 201, "{app}");
    let id = app["client_id"].as_str().unwrap().to_owned();
    let issuer = s.url("/default");
    let fetches = || served.lock().unwrap().1;

    assert_eq!(
        token(&s, &assertion(&k1, "k1", &id, &issuer, s.now(), json!({})), &[])
            .await
            .0,
        200
    );
    assert_eq!(
        token(&s, &assertion(&k1, "k1", &id, &issuer, s.now(), json!({})), &[])
            .await
            .0,
        200
    );
    assert_eq!(fetches(), 1, "kept");
    // The client rotates to k2. Within the minute an unknown kid fetches nothing.
    served.lock().unwrap().0 = json!({"keys": [public_jwk(&k2, "k2")]});
    assert_eq!(
        token(&s, &assertion(&k2, "k2", &id, &issuer, s.now(), json!({})), &[])
            .await
            .0,
        401
    );
    assert_eq!(fetches(), 1);
    s.advance(61);
    assert_eq!(
        token(&s, &assertion(&k2, "k2", &id, &issuer, s.now(), json!({})), &[])
            .await
            .0,
        200
    );
    assert_eq!(fetches(), 2, "fetched again for the new kid");
    assert_eq!(
        token(&s, &assertion(&k1, "k1", &id, &issuer, s.now(), json!({})), &[])
            .await
            .0,
        401,
        "k1 is gone"
    );
}

/// A key withdrawn from a `jwks_uri` set stops working as soon as the operator
/// patches the application, without waiting for the kept copy to expire.
#[tokio::test]
async fn patching_the_client_drops_its_kept_keys() {
    let served: Arc<Mutex<Value>> = Arc::new(Mutex::new(Value::Null));
    let state = served.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let state = state.clone();
            async move {
                let body = state.lock().unwrap().clone();
                ([("cache-control", "max-age=86400")], axum::Json(body))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.insecure_cimd_loopback = true;
    let s = TestServer::start_with(dir, cfg).await;
    let key = DpopKey::new();
    *served.lock().unwrap() = json!({"keys": [public_jwk(&key, "k1")]});
    let (_, app) = register(&s, json!({"jwks_uri": jwks_uri})).await;
    let id = app["client_id"].as_str().unwrap().to_owned();
    let issuer = s.url("/default");
    assert_eq!(
        token(&s, &assertion(&key, "k1", &id, &issuer, s.now(), json!({})), &[])
            .await
            .0,
        200
    );
    // Compromised: withdrawn from the set. Kept for a day unless the operator acts.
    *served.lock().unwrap() = json!({"keys": [public_jwk(&DpopKey::new(), "k2")]});
    assert_eq!(
        token(&s, &assertion(&key, "k1", &id, &issuer, s.now(), json!({})), &[])
            .await
            .0,
        200
    );
    let (st, _) = s
        .admin(
            Method::PATCH,
            &format!("/admin/environments/default/applications/{id}"),
            Some(json!({"jwks_uri": jwks_uri})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        token(&s, &assertion(&key, "k1", &id, &issuer, s.now(), json!({})), &[])
            .await
            .0,
        401
    );
}
