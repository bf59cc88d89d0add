//! pixie driven by a third-party client, the `openidconnect` crate: discovery, its own
//! PKCE (S256), the code exchange, ID token verification against the JWKS, userinfo.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use pixie_testkit::*;
use serde_json::json;

/// Signs on through the flows API and returns the code from the final redirect.
async fn code_for(s: &TestServer, auth_url: &str, state: &str) -> String {
    let resp = s.http.get(auth_url).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let cookies = set_cookies(&resp);
    let flow_id = query(&location(&resp))["flowId"].clone();
    let body: serde_json::Value = s
        .flow_sign_on("default", &flow_id, "tom", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let resp = s
        .http
        .get(body["resumeUrl"].as_str().unwrap())
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    let q = query(&location(&resp));
    assert_eq!(q["state"], state, "state comes back unchanged");
    assert_eq!(q["iss"], s.url("/default"), "RFC 9207 iss");
    q["code"].clone()
}

async fn run(alg: &str, confidential: bool) {
    let s = TestServer::start().await;
    s.env_with_public_client("default", json!({}), json!({})).await;
    let mut meta = json!({"client_name": "oidc", "redirect_uris": [REDIRECT], "id_token_signed_response_alg": alg});
    if !confidential {
        meta["token_endpoint_auth_method"] = json!("none");
    }
    let (st, app) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(meta),
        )
        .await;
    assert_eq!(st, 201);
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(s.url("/default")).unwrap(), &http)
        .await
        .expect("discovery and JWKS parse");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(app["client_id"].as_str().unwrap().into()),
        app["client_secret"].as_str().map(|s| ClientSecret::new(s.into())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let code = code_for(&s, url.as_str(), csrf.secret()).await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange succeeds");
    let id_token = tokens.id_token().expect("an ID token for openid");
    let alg_enum = if alg == "ES256" {
        CoreJwsSigningAlgorithm::EcdsaP256Sha256
    } else {
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    };
    let id_verifier = client.id_token_verifier().set_allowed_algs(vec![alg_enum]);
    let claims = id_token.claims(&id_verifier, &nonce).expect("the ID token verifies");
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    assert!(claims.auth_time().is_some());
    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().to_owned(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo answers");
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.email().map(|e| e.as_str()), Some("tom@example.com"));
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("tom"));

    // A wrong verifier from the same library is refused with invalid_grant.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (_, wrong) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let code = code_for(&s, url.as_str(), csrf.secret()).await;
    let err = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(wrong)
        .request_async(&http)
        .await;
    match err {
        Err(openidconnect::RequestTokenError::ServerResponse(r)) => {
            assert_eq!(r.error().as_ref(), "invalid_grant");
            assert!(r.error_description().unwrap().contains("code_verifier"));
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

#[tokio::test]
async fn public_client_rs256() {
    run("RS256", false).await;
}

#[tokio::test]
async fn confidential_client_es256() {
    run("ES256", true).await;
}
