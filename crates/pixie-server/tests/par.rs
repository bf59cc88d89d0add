//! Pushed authorization requests (RFC 9126, CONTRACT §8) against a running server: a
//! push checked like an authorization request (errors as JSON), a single-use
//! `request_uri` bound to its client that expires, the pushed parameters only at the
//! authorization endpoint, and pushing required per environment or per client.

use pixie_testkit::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Pushes `pairs` (a public client: `client_id` in the body); status and body.
async fn push(s: &TestServer, env: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let resp = s
        .http
        .post(s.url(&format!("/{env}/as/par")))
        .form(pairs)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The authorization request that uses a pushed request.
async fn authorize_pushed(s: &TestServer, client_id: &str, request_uri: &str) -> reqwest::Response {
    s.authorize(
        "default",
        &[("client_id", client_id), ("request_uri", request_uri)],
        &[],
    )
    .await
}

#[tokio::test]
async fn a_pushed_request_is_used_once_by_its_client() {
    let s = TestServer::start().await;
    let app = s.env_with_public_client("default", json!({}), json!({})).await;
    let other = s.env_with_public_client("default", json!({}), json!({})).await;
    let (_, meta) = s.get_json("/default/.well-known/openid-configuration").await;
    assert_eq!(meta["pushed_authorization_request_endpoint"], s.url("/default/as/par"));
    assert_eq!(meta["require_pushed_authorization_requests"], false);

    let (st, pushed) = push(&s, "default", &TestServer::pairs(&app)).await;
    assert_eq!(st, 201, "{pushed}");
    assert_eq!(pushed["expires_in"], 60);
    let uri = pushed["request_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"), "{uri}");

    // Another client cannot use it, and trying does not spend it.
    let resp = authorize_pushed(&s, &other, &uri).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("request_uri"));

    // Its client: the pushed parameters, and only those (the query's own are ignored).
    let resp = s
        .authorize(
            "default",
            &[
                ("client_id", app.as_str()),
                ("request_uri", uri.as_str()),
                ("redirect_uri", "https://attacker.example/cb"),
                ("code_challenge", "x"),
            ],
            &[],
        )
        .await;
    assert_eq!(resp.status(), 302, "{:?}", resp.text().await);
    let cookies = set_cookies(&resp);
    let flow = query(&location(&resp))["flowId"].clone();
    let body: Value = s
        .flow_sign_on("default", &flow, "tom", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "COMPLETED", "{body}");
    let resp = s
        .http
        .get(s.local(body["resumeUrl"].as_str().unwrap()))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    let loc = location(&resp);
    assert!(loc.starts_with(REDIRECT), "the pushed redirect_uri: {loc}");
    let q = query(&loc);
    assert_eq!(q["state"], "st-123");
    let (st, tok, _) = s.token("default", &TestServer::code_exchange(&app, &q["code"])).await;
    assert_eq!(st, 200, "the pushed challenge: {tok}");

    // Once only.
    let resp = authorize_pushed(&s, &app, &uri).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("already used"));

    // Expired after 60 seconds.
    let (_, pushed) = push(&s, "default", &TestServer::pairs(&app)).await;
    s.advance(61);
    let resp = authorize_pushed(&s, &app, pushed["request_uri"].as_str().unwrap()).await;
    assert_eq!(resp.status(), 400);
    // Unknown, or not a request_uri of pixie's.
    for junk in ["urn:ietf:params:oauth:request_uri:nope", "https://evil.example/req", ""] {
        assert_eq!(authorize_pushed(&s, &app, junk).await.status(), 400, "{junk}");
    }
    // Without its client_id: refused, and it stays usable.
    let (_, pushed) = push(&s, "default", &TestServer::pairs(&app)).await;
    let uri = pushed["request_uri"].as_str().unwrap();
    let resp = s.authorize("default", &[("request_uri", uri)], &[]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(authorize_pushed(&s, &app, uri).await.status(), 302);
}

/// Every check of the authorization endpoint runs at push time, errors as JSON, and
/// the PKCE report counts a pushed request once.
#[tokio::test]
async fn a_push_is_checked_like_an_authorization_request() {
    let s = TestServer::start().await;
    let app = s.env_with_public_client("default", json!({}), json!({})).await;
    let without_pkce: Vec<_> = TestServer::pairs(&app)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut p: Vec<(&str, &str)> = TestServer::pairs(&app)
            .into_iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .collect();
        p.extend_from_slice(extra);
        p
    };
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (without_pkce, 400, "invalid_request", "code_challenge"),
        (
            with(&[("code_challenge_method", "plain")]),
            400,
            "invalid_request",
            "code_challenge_method",
        ),
        (
            with(&[("redirect_uri", "https://evil.example/cb")]),
            400,
            "invalid_request",
            "redirect_uri",
        ),
        (
            with(&[("response_type", "token")]),
            400,
            "unsupported_response_type",
            "response_type",
        ),
        (
            with(&[("resource", "https://unknown.example/api")]),
            400,
            "invalid_target",
            "resource",
        ),
        (
            with(&[("request_uri", "urn:ietf:params:oauth:request_uri:x")]),
            400,
            "invalid_request",
            "request_uri",
        ),
        (with(&[("client_id", "someone-else")]), 401, "invalid_client", ""),
        (vec![("response_type", "code")], 400, "invalid_request", "client_id"),
    ];
    for (pairs, status, error, names) in cases {
        let (st, body) = push(&s, "default", &pairs).await;
        assert_eq!((st, body["error"].as_str()), (status, Some(error)), "{pairs:?}: {body}");
        assert!(
            body["error_description"].as_str().unwrap_or("").contains(names),
            "{pairs:?}: {body}"
        );
    }
    // A confidential client authenticates (Basic); its client_id need not be repeated.
    let (st, conf) = s
        .admin(
            Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "Bank", "redirect_uris": [REDIRECT]})),
        )
        .await;
    assert_eq!(st, 201);
    let (id, secret) = (
        conf["client_id"].as_str().unwrap(),
        conf["client_secret"].as_str().unwrap(),
    );
    let pairs: Vec<_> = TestServer::pairs(id)
        .into_iter()
        .filter(|(k, _)| *k != "client_id")
        .collect();
    let resp = s
        .http
        .post(s.url("/default/as/par"))
        .basic_auth(id, Some("wrong"))
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s
        .http
        .post(s.url("/default/as/par"))
        .basic_auth(id, Some(secret))
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let pushed: Value = resp.json().await.unwrap();
    assert_eq!(
        authorize_pushed(&s, id, pushed["request_uri"].as_str().unwrap())
            .await
            .status(),
        302
    );
    // One push and its use count once in the PKCE report (S256 accepted: the Basic
    // client's push and use, and the two earlier rejections are another client's).
    let (_, report) = s
        .admin(Method::GET, "/admin/environments/default/pkce-report", None)
        .await;
    let entry = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == id)
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    assert_eq!(entry["counts"]["S256"]["accepted"], 1, "{entry}");
}

/// `require_par` per environment, `require_pushed_authorization_requests` per client:
/// an authorization request without `request_uri` is refused with `invalid_request`.
#[tokio::test]
async fn pushing_can_be_required() {
    let s = TestServer::start().await;
    let app = s.env_with_public_client("default", json!({}), json!({})).await;
    let strict = s
        .env_with_public_client(
            "default",
            json!({}),
            json!({"require_pushed_authorization_requests": true}),
        )
        .await;
    let refused = |resp: reqwest::Response| {
        let q = query(&location(&resp));
        assert_eq!(q["error"], "invalid_request", "{q:?}");
        assert!(q["error_description"].contains("request_uri"), "{q:?}");
    };
    assert_eq!(
        s.authorize("default", &TestServer::pairs(&app), &[]).await.status(),
        302
    );
    assert!(query(&location(&s.authorize("default", &TestServer::pairs(&app), &[]).await)).contains_key("flowId"));
    refused(s.authorize("default", &TestServer::pairs(&strict), &[]).await);
    let (_, pushed) = push(&s, "default", &TestServer::pairs(&strict)).await;
    let resp = authorize_pushed(&s, &strict, pushed["request_uri"].as_str().unwrap()).await;
    assert!(query(&location(&resp)).contains_key("flowId"));

    let (st, env) = s
        .admin(
            Method::PATCH,
            "/admin/environments/default",
            Some(json!({"require_par": true})),
        )
        .await;
    assert_eq!((st, env["require_par"].as_bool()), (200, Some(true)), "{env}");
    let (_, meta) = s.get_json("/default/.well-known/openid-configuration").await;
    assert_eq!(meta["require_pushed_authorization_requests"], true);
    refused(s.authorize("default", &TestServer::pairs(&app), &[]).await);
    let (_, pushed) = push(&s, "default", &TestServer::pairs(&app)).await;
    let resp = authorize_pushed(&s, &app, pushed["request_uri"].as_str().unwrap()).await;
    assert!(query(&location(&resp)).contains_key("flowId"));
}

/// Two requests racing for one `request_uri`: exactly one wins.
#[tokio::test]
async fn a_request_uri_is_won_once_under_concurrency() {
    let s = TestServer::start().await;
    let app = s.env_with_public_client("default", json!({}), json!({})).await;
    let (_, pushed) = push(&s, "default", &TestServer::pairs(&app)).await;
    let uri = pushed["request_uri"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, url) = (s.http.clone(), s.url("/default/as/authorize"));
        let (app, uri) = (app.clone(), uri.clone());
        tasks.push(tokio::spawn(async move {
            http.get(url)
                .query(&[("client_id", app.as_str()), ("request_uri", uri.as_str())])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [302, 400, 400, 400, 400, 400, 400, 400]);
}
