//! Two pixie instances on one PostgreSQL database, as behind a load balancer: a flow
//! may hop between them, sessions and registrations are shared at once, and single
//! use holds across instances.
//!
//! Needs `PIXIE_TEST_DATABASE_URL`; says SKIPPED without it, and fails instead when
//! `PIXIE_REQUIRE_POSTGRES` is set (as in CI).

use pixie_testkit::*;
use serde_json::{json, Value};

const PUBLIC: &str = "http://pixie.test";

struct Pair {
    a: TestServer,
    b: TestServer,
    _running: (TestServer, TestServer),
}

async fn two_instances() -> Option<Pair> {
    if postgres_url().is_none() {
        assert!(
            std::env::var_os("PIXIE_REQUIRE_POSTGRES").is_none(),
            "PIXIE_REQUIRE_POSTGRES is set but PIXIE_TEST_DATABASE_URL is not"
        );
        eprintln!("SKIPPED: set PIXIE_TEST_DATABASE_URL to run the two-instance tests");
        return None;
    }
    let db = fresh_postgres_database().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = "ab".repeat(32);
    let mut cfg = config(dir_a.path());
    cfg.database_url = db.clone();
    cfg.master_key = Some(master.clone());
    cfg.admin_token = Some("shared-admin-token".into());
    cfg.public_url = Some(PUBLIC.into());
    let mut cfg_b = cfg.clone();
    cfg_b.data_dir = dir_b.path().to_path_buf();
    // Both start together: migrations and the default environment must not collide.
    let (a, b) = tokio::join!(TestServer::start_with(dir_a, cfg), TestServer::start_with(dir_b, cfg_b));
    assert_eq!(
        a.running.as_ref().unwrap().service().store.backend(),
        pixie_store::Backend::Postgres
    );
    // Talk to each instance at its own address; the URLs they print say pixie.test.
    let at = |s: &TestServer| TestServer::remote(&format!("http://{}", s.running.as_ref().unwrap().addr), &s.token);
    Some(Pair {
        a: at(&a),
        b: at(&b),
        _running: (a, b),
    })
}

/// The path of a URL pixie printed (for the public host), to send to either instance.
fn path(url: &str) -> String {
    url.strip_prefix(PUBLIC).unwrap_or(url).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flow_hops_between_instances() {
    let Some(p) = two_instances().await else { return };
    // Registered through A, usable at B at once.
    let client = p.a.env_with_public_client("default", json!({}), json!({})).await;
    // Authorize at A, sign on through B, resume at A, token at B.
    let resp = p.a.authorize("default", &TestServer::pairs(&client), &[]).await;
    let cookies = set_cookies(&resp);
    let flow_id = query(&location(&resp))["flowId"].clone();
    let body: Value =
        p.b.flow_sign_on("default", &flow_id, "tom", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(body["status"], "COMPLETED");
    let resume = path(body["resumeUrl"].as_str().unwrap());
    let resp =
        p.a.http
            .get(p.a.url(&resume))
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 302);
    let session: Vec<String> = set_cookies(&resp)
        .into_iter()
        .filter(|c| c.starts_with("pixie_session_"))
        .collect();
    let q = query(&location(&resp));
    assert_eq!(
        q["iss"],
        format!("{PUBLIC}/default"),
        "one issuer, whichever instance answers"
    );
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (st, tok, _) = p.b.token("default", &form).await;
    assert_eq!(st, 200, "{tok}");
    // Tokens from B are good at A.
    assert_eq!(
        p.a.userinfo("default", tok["access_token"].as_str().unwrap()).await.0,
        200
    );
    // The session made at A is honoured at B: no sign-on.
    let resp = p.b.authorize("default", &TestServer::pairs(&client), &session).await;
    assert!(query(&location(&resp)).contains_key("code"), "{}", location(&resp));
    // A policy change through B applies at A within the cache's time-to-live.
    let (st, _) =
        p.b.admin(
            reqwest::Method::PATCH,
            "/admin/environments/default",
            Some(json!({"pkce": {"allowed": ["plain", "S256"], "required": []}})),
        )
        .await;
    assert_eq!(st, 200);
    let changed = std::time::Instant::now();
    loop {
        let (_, d) = p.a.get_json("/default/.well-known/openid-configuration").await;
        if d["code_challenge_methods_supported"] == json!(["plain", "S256"]) {
            break;
        }
        assert!(
            changed.elapsed() < pixie_server::cache::TTL + std::time::Duration::from_millis(500),
            "stale past the TTL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // PKCE observations from both instances are in one report, B's within its 2 s flush.
    let mut report = Value::Null;
    for _ in 0..50 {
        report =
            p.a.admin(reqwest::Method::GET, "/admin/environments/default/pkce-report", None)
                .await
                .1;
        if report["clients"][0]["counts"]["S256"]["accepted"].as_i64() >= Some(2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(report["clients"][0]["counts"]["S256"]["accepted"], 2, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_use_holds_across_instances() {
    let Some(p) = two_instances().await else { return };
    let client = p.a.env_with_public_client("default", json!({}), json!({})).await;
    // One code, exchanged concurrently at A and B: exactly one success.
    let (q, _) = p.a.code_via_flows("default", &TestServer::pairs(&client)).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = if i % 2 == 0 { &p.a } else { &p.b };
        let (http, url, client, code) = (
            s.http.clone(),
            s.url("/default/as/token"),
            client.clone(),
            q["code"].clone(),
        );
        tasks.push(tokio::spawn(async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("client_id", client.as_str()),
                ("code_verifier", VERIFIER),
            ];
            let resp = http.post(url).form(&form).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }));
    }
    let mut wins = Vec::new();
    for t in tasks {
        let (st, body) = t.await.unwrap();
        if st == 200 {
            wins.push(body);
        } else {
            assert_eq!(body["error"], "invalid_grant");
        }
    }
    assert_eq!(wins.len(), 1, "one code, one token response");
    // The replays revoked what that code gave, its refresh token included, even the
    // replays that came while it was being issued.
    let replayed = wins[0]["refresh_token"].as_str().unwrap();
    assert_eq!(p.b.refresh("default", &client, replayed, None).await.0, 400);
    // One refresh token of a fresh grant, presented concurrently at A and B: one success.
    let fresh = p.b.tokens("default", &client).await;
    let rt = fresh["refresh_token"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = if i % 2 == 0 { &p.a } else { &p.b };
        let (http, url, client, rt) = (s.http.clone(), s.url("/default/as/token"), client.clone(), rt.clone());
        tasks.push(tokio::spawn(async move {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
                ("client_id", client.as_str()),
            ];
            http.post(url).form(&form).send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
}

/// A DPoP proof is good once across instances, raced at both; a nonce one instance
/// gives is accepted by the other (both seal with the shared master key).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dpop_proof_is_good_once_across_instances() {
    let Some(p) = two_instances().await else { return };
    let (st, app) =
        p.a.admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(
                json!({"client_name": "Service", "redirect_uris": ["https://app.example/cb"],
                        "grant_types": ["client_credentials"], "scope": "files:read"}),
            ),
        )
        .await;
    assert_eq!(st, 201, "{app}");
    let (id, secret) = (
        app["client_id"].as_str().unwrap().to_owned(),
        app["client_secret"].as_str().unwrap().to_owned(),
    );
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let key = DpopKey::new();
    let htu = format!("{PUBLIC}/default/as/token");
    let send = |s: &TestServer, proof: String| {
        let req = s
            .http
            .post(s.url("/default/as/token"))
            .basic_auth(&id, Some(&secret))
            .header("DPoP", proof)
            .form(&[("grant_type", "client_credentials")]);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let nonce = resp.headers().get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned());
            (status, resp.json::<Value>().await.unwrap(), nonce)
        }
    };
    for _ in 0..5 {
        let proof = key.proof("POST", &htu, now(), None);
        let (x, y) = tokio::join!(send(&p.a, proof.clone()), send(&p.b, proof));
        let mut statuses = [x.0, y.0];
        statuses.sort();
        assert_eq!(statuses, [200, 400], "{:?} {:?}", x.1, y.1);
    }
    // Nonces: one instance's is good at the other.
    let (st, _) =
        p.a.admin(
            reqwest::Method::PATCH,
            "/admin/environments/default",
            Some(json!({"dpop_nonce": true})),
        )
        .await;
    assert_eq!(st, 200);
    // Past the environment cache's second, both instances require nonces.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (st, body, _) = send(&p.a, key.proof("POST", &htu, now(), None)).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("use_dpop_nonce")), "{body}");
    let (st, body, nonce) = send(&p.b, key.proof("POST", &htu, now(), None)).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("use_dpop_nonce")), "{body}");
    let nonce = nonce.unwrap();
    let claims = json!({"jti": "n-1", "htm": "POST", "htu": htu, "iat": now(), "nonce": nonce});
    let proof = key.sign(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}), claims);
    let (st, body, _) = send(&p.a, proof).await;
    assert_eq!(st, 200, "B's nonce at A: {body}");
}

/// A client assertion (`private_key_jwt`) is good once across instances, raced at both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_assertion_is_good_once_across_instances() {
    let Some(p) = two_instances().await else { return };
    let key = DpopKey::new();
    let mut jwk = key.jwk.clone();
    jwk["kid"] = json!("k1");
    let (st, app) =
        p.a.admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(
                json!({"client_name": "Bank", "redirect_uris": ["https://app.example/cb"],
                        "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
                        "jwks": {"keys": [jwk]}}),
            ),
        )
        .await;
    assert_eq!(st, 201, "{app}");
    let id = app["client_id"].as_str().unwrap().to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let send = |s: &TestServer, assertion: String| {
        let req = s.http.post(s.url("/default/as/token")).form(&[
            ("grant_type", "client_credentials".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", assertion),
        ]);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    for i in 0..5 {
        let claims = json!({"iss": id, "sub": id, "aud": format!("{PUBLIC}/default"), "exp": now + 60,
                            "jti": format!("race-{i}")});
        let assertion = key.sign(json!({"alg": "ES256", "kid": "k1"}), claims);
        let (x, y) = tokio::join!(send(&p.a, assertion.clone()), send(&p.b, assertion));
        let mut statuses = [x, y];
        statuses.sort();
        assert_eq!(statuses, [200, 401]);
    }
}

/// A key rotated at one instance: its tokens verify at the other at once (an unknown
/// `kid` reloads the keys), and the other's JWKS lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotated_key_is_known_at_the_other_instance_at_once() {
    let Some(p) = two_instances().await else { return };
    let client = p.a.env_with_public_client("default", json!({}), json!({})).await;
    // B reads the keys before the rotation (its cache now holds the old set).
    let _ = p.b.get_json("/default/as/jwks").await;
    let (st, key) =
        p.a.admin(
            reqwest::Method::POST,
            "/admin/environments/default/keys/rotate",
            Some(json!({"alg": "ES256"})),
        )
        .await;
    assert_eq!(st, 201, "{key}");
    let tok = p.a.tokens("default", &client).await;
    let at = tok["access_token"].as_str().unwrap();
    let (st, body) = p.b.userinfo("default", at).await;
    assert_eq!(st, 200, "a token of A's new key, at B: {body}");
    let (_, jwks) = p.b.get_json("/default/as/jwks").await;
    assert!(
        jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == key["kid"]),
        "{jwks}"
    );
}

/// An environment removed and created again at one instance: the other answers 404 for
/// it within its one-second cache, then serves the new environment's keys only (not the
/// removed one's, which it had read), and a disabled user's tokens die at both at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_environment_and_a_disabled_user_at_the_other_instance() {
    let Some(p) = two_instances().await else { return };
    let client = p.a.env_with_public_client("re", json!({}), json!({})).await;
    let kids = |jwks: Value| -> Vec<String> {
        let mut k: Vec<String> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        k.sort();
        k
    };
    let (_, old) = p.b.get_json("/re/as/jwks").await;
    let old = kids(old);
    let tok = p.b.tokens("re", &client).await;
    let access = tok["access_token"].as_str().unwrap().to_owned();

    // A disabled user: their token dies at the other instance at once.
    let (_, found) =
        p.a.admin(reqwest::Method::GET, "/admin/environments/re/users?username=tom", None)
            .await;
    let id = found["items"][0]["id"].as_str().unwrap().to_owned();
    let path_user = format!("/admin/environments/re/users/{id}");
    let (st, _) =
        p.a.admin(reqwest::Method::PATCH, &path_user, Some(json!({"disabled": true})))
            .await;
    assert_eq!(st, 200);
    assert_eq!(p.b.userinfo("re", &access).await.0, 401);
    assert_eq!(p.b.introspect("re", &client, &access).await["active"], false);

    assert_eq!(
        p.a.admin(reqwest::Method::DELETE, "/admin/environments/re", None)
            .await
            .0,
        204
    );
    let started = std::time::Instant::now();
    while p.b.get_json("/re/as/jwks").await.0 != 404 {
        assert!(
            started.elapsed().as_secs() < 5,
            "the other instance still serves the removed environment"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    p.a.env_with_public_client("re", json!({}), json!({})).await;
    let (_, fresh) = p.a.get_json("/re/as/jwks").await;
    let fresh = kids(fresh);
    assert!(fresh.iter().all(|k| !old.contains(k)));
    let (st, at_b) = p.b.get_json("/re/as/jwks").await;
    assert_eq!(st, 200);
    assert_eq!(
        kids(at_b),
        fresh,
        "the other instance serves the new keys, not the removed ones"
    );
}
