//! DPoP (RFC 9449, CONTRACT §8) against a running server: tokens bound to the key of the
//! proof, every way a proof can be wrong refused, a proof good once, key-bound refresh
//! tokens for public clients, `dpop_jkt` binding the code, UserInfo with `Authorization:
//! DPoP` and `ath`, `cnf` in introspection, clients that must use DPoP, and
//! server-provided nonces.

use pixie_testkit::*;
use reqwest::Method;
use serde_json::{json, Value};

/// The claims of a JWT, unverified (the server signed it; here its content is read).
fn claims_of(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// A code for `client` by the flows API, with extra authorization parameters.
async fn code(s: &TestServer, client: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = TestServer::pairs(client);
    pairs.extend_from_slice(extra);
    let (q, _) = s.code_via_flows("default", &pairs).await;
    q["code"].clone()
}

/// A token request with these DPoP headers; status, body, headers.
async fn token_with(
    s: &TestServer,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = s.http.post(s.url("/default/as/token")).form(form);
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

/// UserInfo with `Authorization: <scheme> <token>` and these DPoP headers.
async fn userinfo_with(s: &TestServer, scheme: &str, token: &str, proof: Option<&str>) -> (u16, String, Value) {
    let mut req = s
        .http
        .get(s.url("/default/as/userinfo"))
        .header("authorization", format!("{scheme} {token}"));
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, challenge, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn tokens_are_bound_to_the_proof_key() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (_, meta) = s.get_json("/default/.well-known/openid-configuration").await;
    assert_eq!(
        meta["dpop_signing_alg_values_supported"],
        json!(["ES256", "RS256", "PS256", "EdDSA"])
    );
    let key = DpopKey::new();
    let token_url = s.url("/default/as/token");
    let userinfo_url = s.url("/default/as/userinfo");
    let code = code(&s, &client, &[]).await;
    let proof = key.proof("POST", &token_url, s.now(), None);
    let (st, tok, _) = token_with(&s, &TestServer::code_exchange(&client, &code), &[&proof]).await;
    assert_eq!(st, 200, "{tok}");
    assert_eq!(tok["token_type"], "DPoP");
    let at = tok["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&at)["cnf"], json!({"jkt": key.jkt()}));
    let seen = s.introspect("default", &client, &at).await;
    assert_eq!(
        (seen["token_type"].as_str(), &seen["cnf"]),
        (Some("DPoP"), &json!({"jkt": key.jkt()}))
    );

    // UserInfo: with a proof by the key, for this request and this token.
    let (st, _, body) = userinfo_with(
        &s,
        "DPoP",
        &at,
        Some(&key.proof("GET", &userinfo_url, s.now(), Some(&at))),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    // As a bearer token, without a proof, or with another key's: 401 with the DPoP challenge.
    let other = DpopKey::new();
    for (scheme, proof, why) in [
        ("Bearer", None, "presented as Bearer"),
        ("DPoP", None, "no proof"),
        (
            "DPoP",
            Some(other.proof("GET", &userinfo_url, s.now(), Some(&at))),
            "another key",
        ),
    ] {
        let (st, challenge, body) = userinfo_with(&s, scheme, &at, proof.as_deref()).await;
        assert_eq!(st, 401, "{why}: {body}");
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains("invalid_token"),
            "{why}: {challenge}"
        );
    }
    // A proof that is wrong for this request: 401 invalid_dpop_proof.
    let replayed = key.proof("GET", &userinfo_url, s.now(), Some(&at));
    assert_eq!(userinfo_with(&s, "DPoP", &at, Some(&replayed)).await.0, 200);
    for (proof, why) in [
        (key.proof("GET", &userinfo_url, s.now(), None), "no ath"),
        (
            key.proof("GET", &userinfo_url, s.now(), Some("another token")),
            "ath of another token",
        ),
        (key.proof("POST", &userinfo_url, s.now(), Some(&at)), "htm"),
        (key.proof("GET", &token_url, s.now(), Some(&at)), "htu"),
        (replayed, "replayed"),
    ] {
        let (st, challenge, body) = userinfo_with(&s, "DPoP", &at, Some(&proof)).await;
        assert_eq!(st, 401, "{why}: {body}");
        assert!(challenge.contains("invalid_dpop_proof"), "{why}: {challenge}");
    }

    // The public client's refresh token is bound to the key too.
    let rt = tok["refresh_token"].as_str().unwrap();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", &client),
    ];
    let (st, body, _) = token_with(&s, &refresh, &[]).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (st, body, _) = token_with(&s, &refresh, &[&other.proof("POST", &token_url, s.now(), None)]).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (st, body, _) = token_with(&s, &refresh, &[&key.proof("POST", &token_url, s.now(), None)]).await;
    assert_eq!(st, 200, "refused attempts did not spend the token: {body}");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt()
    );

    // Without a proof, tokens are bearer tokens as before.
    let code = self::code(&s, &client, &[]).await;
    let (st, tok, _) = token_with(&s, &TestServer::code_exchange(&client, &code), &[]).await;
    assert_eq!((st, tok["token_type"].as_str()), (200, Some("Bearer")));
    assert!(claims_of(tok["access_token"].as_str().unwrap()).get("cnf").is_none());
    let (st, _, _) = userinfo_with(&s, "DPoP", tok["access_token"].as_str().unwrap(), None).await;
    assert_eq!(st, 401, "a bearer token is not presented as DPoP");
}

/// Every way a proof can be wrong: `400 invalid_dpop_proof` at the token endpoint.
#[tokio::test]
async fn every_bad_proof_is_refused() {
    let s = TestServer::start().await;
    let (st, app) = s
        .admin(
            Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "Service", "redirect_uris": [REDIRECT],
                        "grant_types": ["client_credentials"], "scope": "files:read"})),
        )
        .await;
    assert_eq!(st, 201, "{app}");
    let (id, secret) = (
        app["client_id"].as_str().unwrap(),
        app["client_secret"].as_str().unwrap(),
    );
    let token = |proofs: Vec<String>| {
        let s = &s;
        async move {
            let mut req = s
                .http
                .post(s.url("/default/as/token"))
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")]);
            for p in &proofs {
                req = req.header("DPoP", p);
            }
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let key = DpopKey::new();
    let other = DpopKey::new();
    let url = s.url("/default/as/token");
    let now = s.now();
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk});
    let claims = json!({"jti": "j-1", "htm": "POST", "htu": url, "iat": now});
    let with_header = |patch: Value| {
        let mut h = header.clone();
        for (k, v) in patch.as_object().unwrap() {
            h[k] = v.clone();
        }
        key.sign(h, claims.clone())
    };
    let with_claims = |patch: Value| {
        let mut c = claims.clone();
        c["jti"] = json!(b64(format!("{patch}").as_bytes()));
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        key.sign(header.clone(), c)
    };
    let mut private = key.jwk.clone();
    private["d"] = json!("AAAA");
    let good = key.proof("POST", &url, now, None);
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = b64(json!({"jti": "x", "htm": "POST", "htu": url, "iat": now + 1})
            .to_string()
            .as_bytes());
        parts.join(".")
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![with_header(json!({"typ": "JWT"}))], "typ"),
        (vec![with_header(json!({"alg": "HS256"}))], "alg"),
        (vec![with_header(json!({"alg": "none"}))], "alg"),
        (vec![with_header(json!({"alg": "RS256"}))], "not a key for RS256"),
        (vec![with_header(json!({"jwk": null}))], "jwk"),
        (vec![with_header(json!({"jwk": private}))], "private"),
        (vec![with_header(json!({"jwk": other.jwk}))], "signature"),
        (vec![tampered], "signature"),
        (vec![with_claims(json!({"htm": "GET"}))], "htm"),
        (vec![with_claims(json!({"htu": s.url("/default/as/par")}))], "htu"),
        (
            vec![with_claims(json!({"htu": "https://evil.example/default/as/token"}))],
            "htu",
        ),
        (vec![with_claims(json!({"iat": now - 120}))], "iat"),
        (vec![with_claims(json!({"iat": now + 120}))], "iat"),
        (vec![with_claims(json!({"jti": null}))], "malformed"),
        (vec![with_claims(json!({"iat": "soon"}))], "malformed"),
        (vec!["not.a.jwt".into()], "JWT"),
        (vec!["x".repeat(9000)], "8 KiB"),
        (
            vec![key.proof("POST", &url, now, None), key.proof("POST", &url, now, None)],
            "exactly one",
        ),
    ];
    for (proofs, why) in cases {
        let (st, body) = token(proofs).await;
        assert_eq!(
            (st, body["error"].as_str()),
            (400, Some("invalid_dpop_proof")),
            "{why}: {body}"
        );
        assert!(
            body["error_description"].as_str().unwrap().contains(why),
            "{why}: {body}"
        );
    }
    // A good proof once; the same proof again is refused.
    let (st, body) = token(vec![good.clone()]).await;
    assert_eq!((st, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
    let (st, body) = token(vec![good]).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
    assert!(body["error_description"].as_str().unwrap().contains("used before"));
}

/// `dpop_jkt` at authorization (or a DPoP proof at PAR) binds the code to the key.
#[tokio::test]
async fn dpop_jkt_binds_the_code() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (key, other) = (DpopKey::new(), DpopKey::new());
    let url = s.url("/default/as/token");
    let jkt = key.jkt();
    let code = code(&s, &client, &[("dpop_jkt", &jkt)]).await;
    let (st, body, _) = token_with(
        &s,
        &TestServer::code_exchange(&client, &code),
        &[&other.proof("POST", &url, s.now(), None)],
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let code = self::code(&s, &client, &[("dpop_jkt", &jkt)]).await;
    let (st, body, _) = token_with(&s, &TestServer::code_exchange(&client, &code), &[]).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let code = self::code(&s, &client, &[("dpop_jkt", &jkt)]).await;
    let (st, body, _) = token_with(
        &s,
        &TestServer::code_exchange(&client, &code),
        &[&key.proof("POST", &url, s.now(), None)],
    )
    .await;
    assert_eq!(st, 200, "{body}");
    // A malformed dpop_jkt is refused at the redirect URI.
    let mut pairs = TestServer::pairs(&client);
    pairs.push(("dpop_jkt", "not-a-thumbprint"));
    let resp = s.authorize("default", &pairs, &[]).await;
    assert_eq!(query(&location(&resp))["error"], "invalid_request");

    // PAR with a DPoP proof: the code is bound to the proof's key.
    let par_url = s.url("/default/as/par");
    let pushed: Value = s
        .http
        .post(&par_url)
        .header("DPoP", key.proof("POST", &par_url, s.now(), None))
        .form(&TestServer::pairs(&client))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uri = pushed["request_uri"].as_str().unwrap_or_else(|| panic!("{pushed}"));
    let resp = s
        .authorize("default", &[("client_id", client.as_str()), ("request_uri", uri)], &[])
        .await;
    let code = s.sign_on_and_resume("default", resp).await.0["code"].clone();
    let (st, body, _) = token_with(
        &s,
        &TestServer::code_exchange(&client, &code),
        &[&other.proof("POST", &url, s.now(), None)],
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    // A malformed dpop_jkt is refused at the push, as JSON.
    let mut pairs = TestServer::pairs(&client);
    pairs.push(("dpop_jkt", "abc"));
    let resp = s.http.post(&par_url).form(&pairs).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_request");
    // A pushed dpop_jkt that is not the proof's key is refused at the push.
    let mut pairs = TestServer::pairs(&client);
    let other_jkt = other.jkt();
    pairs.push(("dpop_jkt", &other_jkt));
    let resp = s
        .http
        .post(&par_url)
        .header("DPoP", key.proof("POST", &par_url, s.now(), None))
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_dpop_proof");
}

/// A client registered with `dpop_bound_access_tokens` gets no token without a proof.
#[tokio::test]
async fn a_client_may_require_dpop() {
    let s = TestServer::start().await;
    let client = s
        .env_with_public_client("default", json!({}), json!({"dpop_bound_access_tokens": true}))
        .await;
    let code = code(&s, &client, &[]).await;
    let (st, body, _) = token_with(&s, &TestServer::code_exchange(&client, &code), &[]).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("DPoP"));
}

/// With `dpop_nonce` on, a proof must carry the server's current nonce: `use_dpop_nonce`
/// and a `DPoP-Nonce` header tell the client which.
#[tokio::test]
async fn server_nonces() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (st, env) = s
        .admin(
            Method::PATCH,
            "/admin/environments/default",
            Some(json!({"dpop_nonce": true})),
        )
        .await;
    assert_eq!((st, env["dpop_nonce"].as_bool()), (200, Some(true)), "{env}");
    let key = DpopKey::new();
    let url = s.url("/default/as/token");
    let code = code(&s, &client, &[]).await;
    let (st, body, headers) = token_with(
        &s,
        &TestServer::code_exchange(&client, &code),
        &[&key.proof("POST", &url, s.now(), None)],
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("use_dpop_nonce")), "{body}");
    let nonce = headers["dpop-nonce"].to_str().unwrap().to_owned();
    let with_nonce = |nonce: &str| {
        let claims = json!({"jti": b64(nonce.as_bytes()), "htm": "POST", "htu": url, "iat": s.now(), "nonce": nonce});
        key.sign(json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}), claims)
    };
    let (st, body, _) = token_with(
        &s,
        &TestServer::code_exchange(&client, &code),
        &[&with_nonce("made-up")],
    )
    .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("use_dpop_nonce")), "{body}");
    let (st, tok, _) = token_with(&s, &TestServer::code_exchange(&client, &code), &[&with_nonce(&nonce)]).await;
    assert_eq!(st, 200, "{tok}");
    // Two minutes on, that nonce is stale.
    s.advance(121);
    let code = self::code(&s, &client, &[]).await;
    let (st, body, _) = token_with(&s, &TestServer::code_exchange(&client, &code), &[&with_nonce(&nonce)]).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("use_dpop_nonce")), "{body}");
    // At UserInfo: 401 with the DPoP challenge and the nonce.
    let at = tok["access_token"].as_str().unwrap();
    let resp = s
        .http
        .get(s.url("/default/as/userinfo"))
        .header("authorization", format!("DPoP {at}"))
        .header(
            "DPoP",
            key.proof("GET", &s.url("/default/as/userinfo"), s.now(), Some(at)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("dpop-nonce"));
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("use_dpop_nonce"));
}

/// Proofs by every algorithm pixie accepts (EdDSA, RS256, PS256; ES256 above) verify,
/// and bind to their key's thumbprint.
#[tokio::test]
async fn every_accepted_algorithm_verifies() {
    use aws_lc_rs::signature::{self, KeyPair};
    let s = TestServer::start().await;
    let (st, app) = s
        .admin(
            Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "Service", "redirect_uris": [REDIRECT],
                        "grant_types": ["client_credentials"], "scope": "files:read"})),
        )
        .await;
    assert_eq!(st, 201);
    let (id, secret) = (
        app["client_id"].as_str().unwrap(),
        app["client_secret"].as_str().unwrap(),
    );
    let url = s.url("/default/as/token");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let sha = |b: &[u8]| b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b).as_ref());
    let claims = |alg: &str| json!({"jti": alg, "htm": "POST", "htu": url, "iat": s.now()});
    let input = |alg: &str, jwk: &Value| {
        format!(
            "{}.{}",
            b64(json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk})
                .to_string()
                .as_bytes()),
            b64(claims(alg).to_string().as_bytes())
        )
    };
    let mut proofs = Vec::new();
    // EdDSA (Ed25519).
    let ed = signature::Ed25519KeyPair::generate().unwrap();
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed.public_key().as_ref())});
    let msg = input("EdDSA", &jwk);
    let sig = ed.sign(msg.as_bytes());
    let jkt = sha(format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        jwk["x"].as_str().unwrap()
    )
    .as_bytes());
    proofs.push((format!("{msg}.{}", b64(sig.as_ref())), jkt));
    // RS256 and PS256 (RSA 2048).
    let rsa = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let public = rsa.public_key();
    let jwk = json!({"kty": "RSA", "n": b64(public.modulus().big_endian_without_leading_zero()),
                     "e": b64(public.exponent().big_endian_without_leading_zero())});
    let jkt = sha(format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        jwk["e"].as_str().unwrap(),
        jwk["n"].as_str().unwrap()
    )
    .as_bytes());
    for (alg, padding) in [
        ("RS256", &signature::RSA_PKCS1_SHA256 as &dyn signature::RsaEncoding),
        ("PS256", &signature::RSA_PSS_SHA256),
    ] {
        let msg = input(alg, &jwk);
        let mut sig = vec![0; rsa.public_modulus_len()];
        rsa.sign(padding, &rng, msg.as_bytes(), &mut sig).unwrap();
        proofs.push((format!("{msg}.{}", b64(&sig)), jkt.clone()));
    }
    for (proof, jkt) in proofs {
        let resp = s
            .http
            .post(&url)
            .basic_auth(id, Some(secret))
            .header("DPoP", &proof)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP", "{body}");
        assert_eq!(claims_of(body["access_token"].as_str().unwrap())["cnf"]["jkt"], jkt);
    }
}

/// A proof replayed at a code exchange (its `jti` is recorded with the code's
/// consumption, in one write): refused, and the code it came with is left usable by
/// its client's next, fresh proof. A proof sent with no code is spent all the same.
#[tokio::test]
async fn a_proof_replayed_at_a_code_exchange_is_refused_and_spends_no_code() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let key = DpopKey::new();
    let token_url = s.url("/default/as/token");
    let proof = key.proof("POST", &token_url, s.now(), None);
    let first = code(&s, &client, &[]).await;
    let (st, body, _) = token_with(&s, &TestServer::code_exchange(&client, &first), &[&proof]).await;
    assert_eq!(st, 200, "{body}");
    let second = code(&s, &client, &[]).await;
    let (st, body, _) = token_with(&s, &TestServer::code_exchange(&client, &second), &[&proof]).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
    assert!(
        body["error_description"].as_str().unwrap().contains("used before"),
        "{body}"
    );
    let fresh = key.proof("POST", &token_url, s.now(), None);
    let (st, body, _) = token_with(&s, &TestServer::code_exchange(&client, &second), &[&fresh]).await;
    assert_eq!(st, 200, "the replay spent the code: {body}");

    let spent = key.proof("POST", &token_url, s.now(), None);
    let no_code = [("grant_type", "authorization_code"), ("client_id", client.as_str())];
    let (st, body, _) = token_with(&s, &no_code, &[&spent]).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let third = code(&s, &client, &[]).await;
    let (st, body, _) = token_with(&s, &TestServer::code_exchange(&client, &third), &[&spent]).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{body}"
    );
}
