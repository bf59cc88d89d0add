//! The `fapi2` profile (CONTRACT §8 "One switch") against a running server: the
//! environment's settings, clients refused at registration with the rule named, and an
//! end-to-end flow as FAPI 2.0 has it (PAR, S256, `private_key_jwt`, DPoP); clients
//! registered before the switch are refused at authorization and token time.

use pixie_testkit::*;
use reqwest::Method;
use serde_json::{json, Value};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn assertion(key: &DpopKey, client_id: &str, aud: &str, now: i64) -> String {
    let mut jti = [0u8; 12];
    aws_lc_rs::rand::fill(&mut jti).unwrap();
    key.sign(
        json!({"alg": "ES256", "kid": "k1"}),
        json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 60, "jti": b64(&jti)}),
    )
}

#[tokio::test]
async fn a_fapi2_environment_end_to_end() {
    let s = TestServer::start().await;
    // The environment: refused when its settings cannot meet the profile.
    for (body, rule) in [
        (
            json!({"id": "bank", "profile": "fapi2", "pkce": {"allowed": ["plain", "S256"]}}),
            "S256",
        ),
        (
            json!({"id": "bank", "profile": "fapi2", "pkce": {"mode": "report"}}),
            "enforce",
        ),
        (
            json!({"id": "bank", "profile": "fapi2", "lifetimes": {"code": 120}}),
            "lifetimes.code",
        ),
    ] {
        let (st, e) = s.admin(Method::POST, "/admin/environments", Some(body.clone())).await;
        assert_eq!(st, 400, "{body}: {e}");
        let d = e["error_description"].as_str().unwrap();
        assert!(d.contains("profile fapi2") && d.contains(rule), "{body}: {d}");
    }
    let (st, env) = s
        .admin(
            Method::POST,
            "/admin/environments",
            Some(json!({"id": "bank", "profile": "fapi2"})),
        )
        .await;
    assert_eq!((st, env["profile"].as_str()), (201, Some("fapi2")), "{env}");
    let (st, e) = s
        .admin(
            Method::PATCH,
            "/admin/environments/bank",
            Some(json!({"pkce": {"allowed": ["plain", "S256"], "required": ["S256"]}})),
        )
        .await;
    assert_eq!(st, 400, "the policy cannot be loosened under the profile: {e}");
    let (_, meta) = s.get_json("/bank/.well-known/openid-configuration").await;
    assert_eq!(meta["require_pushed_authorization_requests"], true);
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        meta["id_token_signing_alg_values_supported"],
        json!(["ES256"]),
        "no RS256 (FAPI 2.0 §5.4)"
    );
    assert_eq!(
        meta["dpop_signing_alg_values_supported"],
        json!(["ES256", "PS256", "EdDSA"])
    );

    // Clients: refused with the rule named, unless confidential with private_key_jwt.
    let key = DpopKey::new();
    let mut jwk = key.jwk.clone();
    jwk["kid"] = json!("k1");
    let app = |extra: Value| {
        let mut m = json!({"client_name": "Bank app", "redirect_uris": [REDIRECT],
                           "grant_types": ["authorization_code", "refresh_token"], "scope": "openid profile email"});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    for (extra, rule) in [
        (json!({}), "client_secret_"),
        (
            json!({"token_endpoint_auth_method": "client_secret_post"}),
            "client_secret_",
        ),
        (json!({"token_endpoint_auth_method": "none"}), "none"),
        (
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}, "code_challenge_method": "plain"}),
            "plain",
        ),
        (
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]},
                   "redirect_uris": ["http://app.example/cb"]}),
            "https",
        ),
    ] {
        let (st, e) = s
            .admin(
                Method::POST,
                "/admin/environments/bank/applications",
                Some(app(extra.clone())),
            )
            .await;
        assert_eq!(
            (st, e["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{extra}: {e}"
        );
        assert!(e["error_description"].as_str().unwrap().contains(rule), "{extra}: {e}");
    }
    let (st, client) = s
        .admin(
            Method::POST,
            "/admin/environments/bank/applications",
            Some(app(
                json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}}),
            )),
        )
        .await;
    assert_eq!(st, 201, "{client}");
    let id = client["client_id"].as_str().unwrap().to_owned();
    let (st, _) = s
        .admin(
            Method::POST,
            "/admin/environments/bank/users",
            Some(json!({"username": "tom", "password": PASSWORD})),
        )
        .await;
    assert_eq!(st, 201);

    // Without PAR: refused at the redirect URI.
    let mut pairs = TestServer::pairs(&id);
    pairs.retain(|(k, _)| *k != "nonce");
    let resp = s.authorize("bank", &pairs, &[]).await;
    let q = query(&location(&resp));
    assert_eq!(q["error"], "invalid_request", "{q:?}");
    assert!(q["error_description"].contains("request_uri"));

    // PAR (client assertion + DPoP), sign-on, token (client assertion + DPoP).
    let dpop = DpopKey::new();
    let (issuer, par_url, token_url) = (s.url("/bank"), s.url("/bank/as/par"), s.url("/bank/as/token"));
    // A push must name its redirect_uri, and a client assertion's aud is the issuer
    // alone (not the endpoint's URL).
    let mut form: Vec<(&str, String)> = pairs
        .iter()
        .filter(|(k, _)| *k != "redirect_uri")
        .map(|(k, v)| (*k, v.to_string()))
        .collect();
    form.push(("client_assertion_type", JWT_BEARER.into()));
    form.push(("client_assertion", assertion(&key, &id, &issuer, s.now())));
    let resp = s
        .http
        .post(&par_url)
        .header("DPoP", dpop.proof("POST", &par_url, s.now(), None))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("redirect_uri is required"));
    let mut form: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
    form.push(("client_assertion_type", JWT_BEARER.into()));
    form.push(("client_assertion", assertion(&key, &id, &par_url, s.now())));
    let resp = s
        .http
        .post(&par_url)
        .header("DPoP", dpop.proof("POST", &par_url, s.now(), None))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "aud = the endpoint's URL is refused under fapi2");
    let mut form: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
    form.push(("client_assertion_type", JWT_BEARER.into()));
    form.push(("client_assertion", assertion(&key, &id, &issuer, s.now())));
    let resp = s
        .http
        .post(&par_url)
        .header("DPoP", dpop.proof("POST", &par_url, s.now(), None))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let pushed: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{pushed}");
    let resp = s
        .authorize(
            "bank",
            &[
                ("client_id", id.as_str()),
                ("request_uri", pushed["request_uri"].as_str().unwrap()),
            ],
            &[],
        )
        .await;
    let (q, _) = s.sign_on_and_resume("bank", resp).await;
    assert_eq!(q["iss"], issuer, "iss in the response");
    let exchange = |with_dpop: bool| {
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", q["code"].clone()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_verifier", VERIFIER.to_owned()),
            ("client_assertion_type", JWT_BEARER.to_owned()),
            ("client_assertion", assertion(&key, &id, &issuer, s.now())),
        ];
        let mut req = s.http.post(&token_url).form(&form);
        if with_dpop {
            req = req.header("DPoP", dpop.proof("POST", &token_url, s.now(), None));
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (st, body) = exchange(false).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("invalid_request")),
        "DPoP required: {body}"
    );
    let (st, tok) = exchange(true).await;
    assert_eq!((st, tok["token_type"].as_str()), (200, Some("DPoP")), "{tok}");
    use base64::Engine as _;
    let header = tok["id_token"].as_str().unwrap().split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(
        header["alg"], "ES256",
        "the client's RS256 default does not apply under fapi2"
    );
}

/// Clients registered before the environment took the profile are refused at
/// authorization and token time, with the rule named.
#[tokio::test]
async fn clients_from_before_the_switch_are_refused() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let (_, rs) = s
        .admin(
            Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "Resource server", "redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]})),
        )
        .await;
    let (st, e) = s
        .admin(
            Method::PATCH,
            "/admin/environments/default",
            Some(json!({"profile": "fapi2"})),
        )
        .await;
    assert_eq!(st, 200, "{e}");
    let resp = s.authorize("default", &TestServer::pairs(&client), &[]).await;
    let q = query(&location(&resp));
    assert_eq!(q["error"], "unauthorized_client", "{q:?}");
    assert!(q["error_description"].contains("profile fapi2"), "{q:?}");
    let (st, body, _) = s
        .token(
            "default",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", &client),
            ],
        )
        .await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
    // Introspection too: a client_secret client from before cannot read tokens.
    let resp = s
        .http
        .post(s.url("/default/as/introspect"))
        .basic_auth(rs["client_id"].as_str().unwrap(), rs["client_secret"].as_str())
        .form(&[("token", "anything")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    // And back: the profile can be turned off.
    let (st, env) = s
        .admin(
            Method::PATCH,
            "/admin/environments/default",
            Some(json!({"profile": "none"})),
        )
        .await;
    assert_eq!((st, env["profile"].as_str()), (200, Some("none")));
    assert!(query(&location(
        &s.authorize("default", &TestServer::pairs(&client), &[]).await
    ))
    .contains_key("flowId"));
}
