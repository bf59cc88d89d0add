//! The authorization code flow with PKCE, end to end over HTTP (CONTRACT §3, §4):
//! every rule has a test that fails when the rule is broken.

use pixie_testkit::*;
use serde_json::{json, Value};

fn strict() -> Value {
    json!({})
}

fn permissive() -> Value {
    json!({"allowed": ["plain", "S256"], "required": [], "require_for_public_clients": false})
}

async fn exchange(
    s: &TestServer,
    env: &str,
    client: &str,
    code: &str,
    verifier: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", client),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    s.token(env, &form).await
}

#[tokio::test]
async fn the_whole_flow_through_the_flows_api() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", strict(), json!({})).await;
    let resp = s.authorize("default", &TestServer::pairs(&client), &[]).await;
    assert_eq!(resp.status(), 302);
    let cookies = set_cookies(&resp);
    let set_cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let loc = location(&resp);
    assert!(loc.starts_with(&s.url("/default/signon?")), "{loc}");
    let flow_id = query(&loc)["flowId"].clone();

    // The flows API: status, a wrong password (the flow stays open), the right one.
    let flow_url = s.url(&format!("/default/flows/{flow_id}"));
    let (st, flow) = s.get_json(&format!("/default/flows/{flow_id}")).await;
    assert_eq!(st, 200);
    assert_eq!(
        (flow["id"].as_str(), flow["status"].as_str()),
        (Some(flow_id.as_str()), Some("USERNAME_PASSWORD_REQUIRED"))
    );
    let post = |body: Value, ct: &'static str| s.http.post(&flow_url).header("content-type", ct).json(&body).send();
    let ct = "application/vnd.pixie.usernamePassword.check+json";
    let resp = post(json!({"username": "tom", "password": "wrong"}), ct).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], "INVALID_CREDENTIALS");
    let resp = post(json!({"username": "nobody", "password": "wrong"}), ct)
        .await
        .unwrap();
    assert_eq!(
        resp.json::<Value>().await.unwrap()["code"],
        "INVALID_CREDENTIALS",
        "no user enumeration"
    );
    assert_eq!(
        s.get_json(&format!("/default/flows/{flow_id}")).await.1["status"],
        "USERNAME_PASSWORD_REQUIRED"
    );
    let resp = post(json!({"username": "tom", "password": PASSWORD}), "application/json")
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let resp = post(json!({"username": "tom", "password": PASSWORD}), ct)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let done: Value = resp.json().await.unwrap();
    assert_eq!(done["status"], "COMPLETED");
    let resume = done["resumeUrl"].as_str().unwrap().to_owned();
    assert_eq!(resume, s.url(&format!("/default/as/resume?flowId={flow_id}")));

    // Resume without the flow cookie fails; with it, the code comes back.
    let resp = s.http.get(&resume).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    let resp = s
        .http
        .get(&resume)
        .header("cookie", "pixie_flow_default=someoneelsescookie")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "another browser's cookie does not resume");
    let resp = s
        .http
        .get(&resume)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let session: Vec<String> = set_cookies(&resp)
        .into_iter()
        .filter(|c| c.starts_with("pixie_session_default="))
        .collect();
    assert_eq!(session.len(), 1);
    let back = location(&resp);
    assert!(back.starts_with("http://127.0.0.1/cb?"), "{back}");
    let q = query(&back);
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], s.url("/default"));
    let code = q["code"].clone();
    assert!(code.len() >= 43, "a code carries at least 256 bits");
    // A flow resumes once.
    assert_eq!(
        s.http
            .get(&resume)
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );

    let (st, tok, headers) = exchange(&s, "default", &client, &code, Some(VERIFIER)).await;
    assert_eq!(st, 200, "{tok}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["scope"], "openid profile email");
    assert!(tok["expires_in"].as_i64().unwrap() > 0);
    assert!(tok["id_token"].is_string() && tok["refresh_token"].is_string());
    let (st, info) = s.userinfo("default", tok["access_token"].as_str().unwrap()).await;
    assert_eq!(st, 200);
    assert_eq!(
        (info["preferred_username"].as_str(), info["email"].as_str()),
        (Some("tom"), Some("tom@example.com"))
    );

    // A live session skips sign-on.
    let resp = s.authorize("default", &TestServer::pairs(&client), &session).await;
    assert_eq!(resp.status(), 302);
    let q = query(&location(&resp));
    assert!(q.contains_key("code") && q["iss"] == s.url("/default"));
    // prompt=login forces sign-on again.
    let mut pairs = TestServer::pairs(&client);
    pairs.push(("prompt", "login"));
    let resp = s.authorize("default", &pairs, &session).await;
    assert!(location(&resp).contains("/signon?flowId="));
}

#[tokio::test]
async fn the_sign_on_page_works_without_javascript() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", strict(), json!({})).await;
    let resp = s.authorize("default", &TestServer::pairs(&client), &[]).await;
    let cookies = set_cookies(&resp);
    let page_url = location(&resp);
    let resp = s
        .http
        .get(&page_url)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script"));
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    };
    let (flow_id, csrf) = (field("flowId"), field("csrf"));
    let submit = |csrf: String, password: &'static str, cookies: Vec<String>| {
        s.http
            .post(s.url("/default/signon"))
            .header("cookie", cookies.join("; "))
            .form(&[
                ("flowId", flow_id.as_str()),
                ("csrf", csrf.as_str()),
                ("username", "tom"),
                ("password", password),
            ])
            .send()
    };
    // A forged form (no valid CSRF token) is refused.
    let resp = submit("forged".into(), PASSWORD, cookies.clone()).await.unwrap();
    assert_eq!(resp.status(), 400);
    let resp = submit(csrf.clone(), PASSWORD, vec![]).await.unwrap();
    assert_eq!(resp.status(), 400, "no flow cookie");
    let resp = submit(csrf.clone(), "wrong", cookies.clone()).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("Wrong username or password"));
    let resp = submit(csrf, PASSWORD, cookies.clone()).await.unwrap();
    assert_eq!(resp.status(), 302);
    let resume = location(&resp);
    let resp = s
        .http
        .get(&resume)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let q = query(&location(&resp));
    let (st, _, _) = exchange(&s, "default", &client, &q["code"], Some(VERIFIER)).await;
    assert_eq!(st, 200);
}

/// Every authorization-endpoint PKCE rule: an error at the redirect URI with `state`
/// and `iss`, and a description that names the parameter.
#[tokio::test]
async fn pkce_rejections_at_the_authorization_endpoint() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", strict(), json!({})).await;
    let plain_client = s
        .env_with_public_client("legacy", permissive(), json!({"code_challenge_method": "S256"}))
        .await;
    let base = |c: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("state", "xyz"),
            ("client_id", c),
        ]
    };
    let client: &'static str = Box::leak(client.into_boxed_str());
    let plain_client: &'static str = Box::leak(plain_client.into_boxed_str());
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("default", client, vec![], "code_challenge is required"),
        (
            "default",
            client,
            vec![("code_challenge", VERIFIER), ("code_challenge_method", "plain")],
            "code_challenge_method 'plain' is not allowed",
        ),
        (
            "default",
            client,
            vec![("code_challenge", VERIFIER)],
            "code_challenge_method 'plain' is not allowed",
        ),
        (
            "default",
            client,
            vec![("code_challenge", "too-short"), ("code_challenge_method", "S256")],
            "code_challenge is malformed",
        ),
        (
            "default",
            client,
            vec![("code_challenge", CHALLENGE), ("code_challenge_method", "S512")],
            "code_challenge_method 'S512' is not supported",
        ),
        (
            "default",
            client,
            vec![("code_challenge_method", "S256")],
            "code_challenge is missing",
        ),
        (
            "legacy",
            plain_client,
            vec![("code_challenge", VERIFIER), ("code_challenge_method", "plain")],
            "must be 'S256' for this client",
        ),
        ("legacy", plain_client, vec![], "must be 'S256' for this client"),
    ];
    for (env, c, extra, expected) in cases {
        let mut pairs = base(c);
        pairs.extend(extra.iter().copied());
        let resp = s.authorize(env, &pairs, &[]).await;
        assert_eq!(resp.status(), 302, "{env} {extra:?}");
        let loc = location(&resp);
        assert!(loc.starts_with(REDIRECT), "{loc}");
        let q = query(&loc);
        assert_eq!(q["error"], "invalid_request", "{extra:?}");
        assert!(
            q["error_description"].contains(expected),
            "{extra:?}: {}",
            q["error_description"]
        );
        assert_eq!(q["state"], "xyz");
        assert_eq!(q["iss"], s.url(&format!("/{env}")));
        assert!(!q.contains_key("code"));
    }
}

#[tokio::test]
async fn other_authorization_errors() {
    let s = TestServer::start().await;
    let client: &'static str = Box::leak(
        s.env_with_public_client("default", strict(), json!({}))
            .await
            .into_boxed_str(),
    );
    // Unknown client, mismatching or unregistered redirect URI: a page, never a redirect.
    for pairs in [
        vec![
            ("response_type", "code"),
            ("client_id", "nope"),
            ("redirect_uri", REDIRECT),
        ],
        vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", "https://evil.example/cb"),
        ],
        vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", "http://127.0.0.1/other"),
        ],
        vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", REDIRECT),
            ("redirect_uri", REDIRECT),
        ],
        vec![("response_type", "code"), ("redirect_uri", REDIRECT)],
    ] {
        let resp = s.authorize("default", &pairs, &[]).await;
        assert_eq!(resp.status(), 400, "{pairs:?}");
        assert!(resp.headers().get("location").is_none());
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
    // A loopback redirect URI matches on any port (RFC 8252 §7.3).
    let mut pairs = TestServer::pairs(client);
    pairs[2] = ("redirect_uri", "http://127.0.0.1:51234/cb");
    let resp = s.authorize("default", &pairs, &[]).await;
    assert_eq!(resp.status(), 302);
    assert!(location(&resp).contains("/signon?flowId="));
    // Errors after the client is known redirect.
    let expect = |pairs: Vec<(&'static str, String)>, error: &'static str| {
        let s = &s;
        async move {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let resp = s.authorize("default", &pairs, &[]).await;
            assert_eq!(resp.status(), 302);
            let q = query(&location(&resp));
            assert_eq!(q["error"], error, "{pairs:?}: {q:?}");
            assert_eq!(q["iss"], s.url("/default"));
        }
    };
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&'static str, String)> = TestServer::pairs(client)
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        for (k, val) in extra {
            v.retain(|(key, _)| key != k);
            v.push((k, (*val).to_owned()));
        }
        v
    };
    expect(with(&[("response_type", "token")]), "unsupported_response_type").await;
    expect(with(&[("scope", "openid admin")]), "invalid_scope").await;
    expect(with(&[("prompt", "none")]), "login_required").await;
    let mut repeated = with(&[]);
    repeated.push(("state", "again".into()));
    expect(repeated, "invalid_request").await;
    let mut repeated = with(&[]);
    repeated.push(("code_challenge", CHALLENGE.into()));
    expect(repeated, "invalid_request").await;
}

#[tokio::test]
async fn pkce_rejections_at_the_token_endpoint() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", strict(), json!({})).await;
    let cases: Vec<(Option<&str>, &str, &str)> = vec![
        (None, "invalid_grant", "code_verifier is required"),
        (Some("short"), "invalid_grant", "code_verifier is malformed"),
        (
            Some("has spaces but is certainly long enough to be a verifier ok"),
            "invalid_grant",
            "code_verifier is malformed",
        ),
        (
            Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            "invalid_grant",
            "code_verifier does not match",
        ),
    ];
    for (verifier, error, desc) in cases {
        let (q, _) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
        let (st, body, headers) = exchange(&s, "default", &client, &q["code"], verifier).await;
        assert_eq!(st, 400, "{verifier:?}");
        assert_eq!(body["error"], error);
        assert!(body["error_description"].as_str().unwrap().contains(desc), "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        // The failed attempt spent the code: the right verifier cannot follow.
        let (st, body, _) = exchange(&s, "default", &client, &q["code"], Some(VERIFIER)).await;
        assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
    }
}

#[tokio::test]
async fn soft_pkce_and_the_downgrade() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("legacy", permissive(), json!({})).await;
    // No PKCE at all is fine under the permissive policy…
    let no_pkce: Vec<(&str, &str)> = TestServer::pairs(&client)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let (q, _) = s.code_via_flows("legacy", &no_pkce).await;
    // …but a verifier for a code issued without a challenge is a downgrade: invalid_request.
    let (st, body, _) = exchange(&s, "legacy", &client, &q["code"], Some(VERIFIER)).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    assert!(body["error_description"].as_str().unwrap().starts_with("code_verifier"));
    let (q, _) = s.code_via_flows("legacy", &no_pkce).await;
    assert_eq!(exchange(&s, "legacy", &client, &q["code"], None).await.0, 200);
    // A challenge that was sent obliges the verifier ("soft" PKCE), plain included.
    let (q, _) = s.code_via_flows("legacy", &TestServer::pairs(&client)).await;
    assert_eq!(
        exchange(&s, "legacy", &client, &q["code"], None).await.1["error"],
        "invalid_grant"
    );
    let mut plain = no_pkce.clone();
    plain.push(("code_challenge", VERIFIER));
    let (q, _) = s.code_via_flows("legacy", &plain).await;
    assert_eq!(exchange(&s, "legacy", &client, &q["code"], Some(VERIFIER)).await.0, 200);
}

#[tokio::test]
async fn the_policy_captured_with_the_code_decides() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("legacy", permissive(), json!({})).await;
    let mut plain: Vec<(&str, &str)> = TestServer::pairs(&client)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    plain.push(("code_challenge", VERIFIER));
    plain.push(("code_challenge_method", "plain"));
    let (q, _) = s.code_via_flows("legacy", &plain).await;
    // The operator tightens the policy while the code is in flight.
    let (st, _) = s
        .admin(
            reqwest::Method::PATCH,
            "/admin/environments/legacy",
            Some(json!({"pkce": {}})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(exchange(&s, "legacy", &client, &q["code"], Some(VERIFIER)).await.0, 200);
    // New requests meet the new policy.
    let resp = s.authorize("legacy", &plain, &[]).await;
    assert_eq!(query(&location(&resp))["error"], "invalid_request");
}

#[tokio::test]
async fn code_reuse_revokes_its_tokens() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", strict(), json!({})).await;
    let (q, _) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    let (st, tok, _) = exchange(&s, "default", &client, &q["code"], Some(VERIFIER)).await;
    assert_eq!(st, 200);
    let at = tok["access_token"].as_str().unwrap();
    assert_eq!(s.userinfo("default", at).await.0, 200);
    let (st, body, _) = exchange(&s, "default", &client, &q["code"], Some(VERIFIER)).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        s.userinfo("default", at).await.0,
        401,
        "the replay revoked the access token"
    );
    let (st, body, _) = s
        .token(
            "default",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tok["refresh_token"].as_str().unwrap()),
                ("client_id", &client),
            ],
        )
        .await;
    assert_eq!(
        (st, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "and the refresh token"
    );
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_and_redirect_uri() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", strict(), json!({})).await;
    let other = s.env_with_public_client("default", strict(), json!({})).await;
    let (q, _) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    // Another client cannot use it, and does not spend it.
    let (st, body, _) = exchange(&s, "default", &other, &q["code"], Some(VERIFIER)).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")));
    // The wrong redirect URI fails (and spends it).
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", "https://app.example/cb"),
        ("client_id", client.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (st, body, _) = s.token("default", &form).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("redirect_uri"));
    let (q, _) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    assert_eq!(exchange(&s, "default", &other, &q["code"], Some(VERIFIER)).await.0, 400);
    assert_eq!(
        exchange(&s, "default", &client, &q["code"], Some(VERIFIER)).await.0,
        200,
        "the other client did not spend it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_exchanges_one_winner() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", strict(), json!({})).await;
    let (q, _) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    let code = q["code"].clone();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (http, url, client, code) = (s.http.clone(), s.url("/default/as/token"), client.clone(), code.clone());
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
    let mut statuses = Vec::new();
    let mut winner = Value::Null;
    for t in tasks {
        let (st, body) = t.await.unwrap();
        if st == 200 {
            winner = body;
        }
        statuses.push(st);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 19, "{statuses:?}");

    // The 19 replays revoke what the winner got, even the replays that came while its
    // tokens were being issued.
    let rt = winner["refresh_token"].as_str().unwrap();
    assert_eq!(s.refresh("default", &client, rt, None).await.0, 400);
    assert_eq!(
        s.userinfo("default", winner["access_token"].as_str().unwrap()).await.0,
        401
    );
}

#[tokio::test]
async fn confidential_client_authentication() {
    let s = TestServer::start().await;
    s.env_with_public_client("default", strict(), json!({})).await;
    let (_, app) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "Web", "redirect_uris": [REDIRECT]})),
        )
        .await;
    let (id, secret) = (
        app["client_id"].as_str().unwrap().to_owned(),
        app["client_secret"].as_str().unwrap().to_owned(),
    );
    let (q, _) = s.code_via_flows("default", &TestServer::pairs(&id)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let post = |user: &str, pass: &str| {
        s.http
            .post(s.url("/default/as/token"))
            .basic_auth(user, Some(pass))
            .form(&form)
            .send()
    };
    let resp = post(&id, "wrong").await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_client");
    // client_secret_post by a client_secret_basic client: the method must be the registered one.
    let mut with_post = form.to_vec();
    with_post.extend([("client_id", id.as_str()), ("client_secret", secret.as_str())]);
    let (st, body, _) = s.token("default", &with_post).await;
    assert_eq!((st, body["error"].as_str()), (401, Some("invalid_client")));
    // No authentication at all.
    let mut none = form.to_vec();
    none.push(("client_id", id.as_str()));
    assert_eq!(s.token("default", &none).await.0, 401);
    let resp = post(&id, &secret).await.unwrap();
    assert_eq!(resp.status(), 200, "wrong secrets did not spend the code");
    // Not a form.
    let resp = s
        .http
        .post(s.url("/default/as/token"))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_request");
    let (st, body, _) = s
        .token("default", &[("grant_type", "password"), ("client_id", "x")])
        .await;
    assert_eq!((st, body["error"].as_str()), (401, Some("invalid_client")));
}

#[tokio::test]
async fn post_authorize_client_secret_post_and_token_shapes() {
    let s = TestServer::start().await;
    s.env_with_public_client("default", strict(), json!({})).await;
    let (_, app) = s
        .admin(
            reqwest::Method::POST,
            "/admin/environments/default/applications",
            Some(json!({"client_name": "Post", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_post"})),
        )
        .await;
    let (id, secret) = (
        app["client_id"].as_str().unwrap(),
        app["client_secret"].as_str().unwrap(),
    );
    // The authorization endpoint takes a form POST as well as a GET.
    let resp = s
        .http
        .post(s.url("/default/as/authorize"))
        .form(&TestServer::pairs(id))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let cookies = set_cookies(&resp);
    let flow_id = query(&location(&resp))["flowId"].clone();
    let body: Value = s
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
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", id),
        ("client_secret", secret),
        ("code_verifier", VERIFIER),
    ];
    let (st, tok, _) = s.token("default", &form).await;
    assert_eq!(st, 200, "{tok}");
    assert!(
        tok.get("refresh_token").is_none(),
        "no refresh_token grant, no refresh token"
    );
    // The access token is an RFC 9068 JWT signed with ES256.
    let at = tok["access_token"].as_str().unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value = serde_json::from_slice(&b64.decode(at.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(
        (header["typ"].as_str(), header["alg"].as_str()),
        (Some("at+jwt"), Some("ES256"))
    );
    let claims: Value = serde_json::from_slice(&b64.decode(at.split('.').nth(1).unwrap()).unwrap()).unwrap();
    for c in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"] {
        assert!(claims.get(c).is_some(), "access token lacks {c}");
    }
    let (_, jwks) = s.get_json("/default/as/jwks").await;
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == header["kid"]));
    // Userinfo by POST; a tampered token is refused with RFC 6750's invalid_token.
    let resp = s
        .http
        .post(s.url("/default/as/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut forged = at.to_owned();
    forged.pop();
    forged.push(if at.ends_with('A') { 'B' } else { 'A' });
    let resp = s
        .http
        .get(s.url("/default/as/userinfo"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    let resp = s.http.get(s.url("/default/as/userinfo")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

/// The value of a hidden form field in a page.
fn form_field(page: &str, name: &str) -> String {
    let m = format!("name=\"{name}\" value=\"");
    let i = page.find(&m).unwrap_or_else(|| panic!("no {name} in {page}")) + m.len();
    page[i..i + page[i..].find('"').unwrap()].to_owned()
}

/// POSTs a consent decision to a flow (the flows API).
async fn flow_consent(s: &TestServer, flow_id: &str, approve: bool) -> (u16, Value) {
    let resp = s
        .http
        .post(s.url(&format!("/default/flows/{flow_id}")))
        .header("content-type", "application/vnd.pixie.consent+json")
        .json(&json!({"approve": approve}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or_default())
}

/// Authorize → flows API sign-on; returns the flow id, its cookies and the sign-on answer.
async fn sign_on_via_flows(s: &TestServer, pairs: &[(&str, &str)]) -> (String, Vec<String>, Value) {
    let resp = s.authorize("default", pairs, &[]).await;
    assert_eq!(resp.status(), 302);
    let cookies = set_cookies(&resp);
    let flow_id = query(&location(&resp))["flowId"].clone();
    let resp = s.flow_sign_on("default", &flow_id, "tom", PASSWORD).await;
    assert_eq!(resp.status(), 200);
    (flow_id, cookies, resp.json().await.unwrap())
}

/// Follows a resume URL with the flow's cookies; returns the final redirect's query.
async fn resume(s: &TestServer, url: &str, cookies: &[String]) -> std::collections::HashMap<String, String> {
    let resp = s
        .http
        .get(s.local(url))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let loc = location(&resp);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    query(&loc)
}

/// Consent through the flows API (CONTRACT §7): a client that asks for it gets
/// `CONSENT_REQUIRED` after the password; a denial ends in `access_denied`; an approval
/// is remembered per client × scopes × resources; the admin API lists it and revoking it
/// revokes the client's tokens for the user.
#[tokio::test]
async fn consent_through_the_flows_api() {
    let s = TestServer::start().await;
    let client = s
        .env_with_public_client("default", strict(), json!({"require_consent": true}))
        .await;
    let pairs = TestServer::pairs(&client);
    let (flow, cookies, body) = sign_on_via_flows(&s, &pairs).await;
    assert_eq!(body["status"], "CONSENT_REQUIRED", "{body}");
    assert_eq!(body["client"]["client_id"], json!(client));
    assert_eq!(body["client"]["redirect_host"], "127.0.0.1");
    assert_eq!(body["client"]["verified"], true, "registered by the operator");
    assert_eq!(body["scopes"], json!(["openid", "profile", "email"]));
    assert_eq!(body["resources"], json!([]));
    let (st, again) = s.get_json(&format!("/default/flows/{flow}")).await;
    assert_eq!((st, &again["status"]), (200, &json!("CONSENT_REQUIRED")));
    // Resuming before the decision: refused.
    let resp = s
        .http
        .get(s.url(&format!("/default/as/resume?flowId={flow}")))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Deny: COMPLETED, then access_denied at the redirect URI (with state and iss).
    let (st, done) = flow_consent(&s, &flow, false).await;
    assert_eq!((st, &done["status"]), (200, &json!("COMPLETED")), "{done}");
    let q = resume(&s, done["resumeUrl"].as_str().unwrap(), &cookies).await;
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-123");
    assert!(q.contains_key("iss") && !q.contains_key("code"));
    // A second decision on a decided flow: refused.
    assert_eq!(flow_consent(&s, &flow, true).await.0, 400);
    // A denial is not remembered; approve this time: a code that works.
    let (flow, cookies, body) = sign_on_via_flows(&s, &pairs).await;
    assert_eq!(body["status"], "CONSENT_REQUIRED");
    let (_, done) = flow_consent(&s, &flow, true).await;
    let q = resume(&s, done["resumeUrl"].as_str().unwrap(), &cookies).await;
    let tokens = exchange(&s, "default", &client, &q["code"], Some(VERIFIER)).await;
    assert_eq!(tokens.0, 200, "{}", tokens.1);
    let access = tokens.1["access_token"].as_str().unwrap().to_owned();
    // Remembered: the same request (scopes in another order) needs no consent.
    let mut reordered = pairs.clone();
    reordered.retain(|(k, _)| *k != "scope");
    reordered.push(("scope", "email openid profile"));
    let (_, _, body) = sign_on_via_flows(&s, &reordered).await;
    assert_eq!(body["status"], "COMPLETED", "{body}");
    // Other scopes: asked again.
    let mut fewer = pairs.clone();
    fewer.retain(|(k, _)| *k != "scope");
    fewer.push(("scope", "openid"));
    let (_, _, body) = sign_on_via_flows(&s, &fewer).await;
    assert_eq!(body["status"], "CONSENT_REQUIRED");
    // The admin API: list, revoke (tokens revoked), 404 after.
    let user_id = jwt_sub(&access);
    let path = format!("/admin/environments/default/users/{user_id}/consents");
    let (st, list) = s.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["items"][0]["client_id"], json!(client));
    assert_eq!(list["items"][0]["scopes"], json!(["email", "openid", "profile"]));
    assert_eq!(s.introspect("default", &client, &access).await["active"], true);
    let one = format!("{path}/{client}");
    assert_eq!(s.admin(reqwest::Method::DELETE, &one, None).await.0, 204);
    assert_eq!(s.introspect("default", &client, &access).await["active"], false);
    assert_eq!(s.admin(reqwest::Method::DELETE, &one, None).await.0, 404);
    let (_, _, body) = sign_on_via_flows(&s, &pairs).await;
    assert_eq!(
        body["status"], "CONSENT_REQUIRED",
        "consent is asked again once revoked"
    );
    // Clients that do not ask for consent never see it.
    let plain = s.env_with_public_client("default", strict(), json!({})).await;
    let (_, _, body) = sign_on_via_flows(&s, &TestServer::pairs(&plain)).await;
    assert_eq!(body["status"], "COMPLETED");
}

/// The `sub` of a JWT, unverified.
fn jwt_sub(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

/// Consent through the pages: after the sign-on form, the consent page (the client's
/// name, the host its codes go to, what it asks for); Allow gives a code. With a live
/// session a new request goes straight to the consent page; Deny gives access_denied;
/// `prompt=none` gets consent_required. Another browser cannot decide.
#[tokio::test]
async fn consent_through_the_pages() {
    let s = TestServer::start().await;
    let client = s
        .env_with_public_client(
            "default",
            strict(),
            json!({"require_consent": true, "client_name": "Files <b>app</b>"}),
        )
        .await;
    let pairs = TestServer::pairs(&client);
    let resp = s.authorize("default", &pairs, &[]).await;
    let mut cookies = set_cookies(&resp);
    let page = s
        .http
        .get(s.local(&location(&resp)))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (flow, csrf) = (form_field(&page, "flowId"), form_field(&page, "csrf"));
    let resp = s.signon_form("default", &cookies, &flow, &csrf, "tom", PASSWORD).await;
    assert_eq!(resp.status(), 302);
    let consent_url = location(&resp);
    assert!(consent_url.contains("/default/consent?flowId="), "{consent_url}");
    let consent = |cookies: Vec<String>, url: String| {
        let s = &s;
        async move {
            let resp = s
                .http
                .get(s.local(&url))
                .header("cookie", cookies.join("; "))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (st, page) = consent(cookies.clone(), consent_url.clone()).await;
    assert_eq!(st, 200, "{page}");
    assert!(
        page.contains("Files &#60;b&#62;app&#60;/b&#62;"),
        "the name, escaped: {page}"
    );
    assert!(page.contains("127.0.0.1") && page.contains("<li>profile</li>") && page.contains("id=\"approve\""));
    // Whoever learns the flow id cannot decide for the person through the flows API.
    let resp = s
        .http
        .post(s.url(&format!("/default/flows/{flow}")))
        .header("content-type", "application/vnd.pixie.consent+json")
        .json(&json!({"approve": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (st, still) = consent(cookies.clone(), consent_url.clone()).await;
    assert!(st == 200 && still.contains("id=\"approve\""), "still undecided");
    // Another browser (no flow cookie of this flow) sees no form.
    let (st, other) = consent(vec![], consent_url.clone()).await;
    assert_eq!(st, 400);
    assert!(!other.contains("id=\"approve\""));
    let decide = |cookies: Vec<String>, flow: String, csrf: String, decision: &'static str| {
        let s = &s;
        async move {
            s.http
                .post(s.url("/default/consent"))
                .header("cookie", cookies.join("; "))
                .form(&[
                    ("flowId", flow.as_str()),
                    ("csrf", csrf.as_str()),
                    ("decision", decision),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // A forged form (no valid CSRF token) changes nothing.
    let resp = decide(cookies.clone(), flow.clone(), "forged".into(), "approve").await;
    assert_eq!(resp.status(), 400);
    let resp = decide(cookies.clone(), flow.clone(), form_field(&page, "csrf"), "approve").await;
    assert_eq!(resp.status(), 302);
    let resumed = s
        .http
        .get(s.local(&location(&resp)))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 302);
    assert!(query(&location(&resumed)).contains_key("code"));
    // The browser now holds a session.
    cookies.extend(set_cookies(&resumed));
    let resp = s
        .http
        .get(s.url(&format!("/default/as/resume?flowId={flow}")))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "a flow resumes once");
    // With a live session, other scopes: straight to the consent page; Deny.
    let mut fewer = pairs.clone();
    fewer.retain(|(k, _)| *k != "scope");
    fewer.push(("scope", "openid"));
    let resp = s.authorize("default", &fewer, &cookies).await;
    assert_eq!(resp.status(), 302);
    let url = location(&resp);
    assert!(url.contains("/default/consent?flowId="), "{url}");
    // As a browser keeps them: a new cookie replaces the old one of its name.
    let fresh = set_cookies(&resp);
    let name = |c: &String| c.split('=').next().unwrap_or_default().to_owned();
    let mut with_flow: Vec<String> = cookies
        .iter()
        .filter(|c| !fresh.iter().any(|f| name(f) == name(c)))
        .cloned()
        .collect();
    with_flow.extend(fresh);
    let (st, page) = consent(with_flow.clone(), url).await;
    assert_eq!(st, 200, "{page}");
    let resp = decide(
        with_flow.clone(),
        form_field(&page, "flowId"),
        form_field(&page, "csrf"),
        "deny",
    )
    .await;
    let q = resume(&s, &location(&resp), &with_flow).await;
    assert_eq!(q["error"], "access_denied");
    // prompt=none cannot show the consent page.
    let mut silent = fewer.clone();
    silent.push(("prompt", "none"));
    let resp = s.authorize("default", &silent, &cookies).await;
    assert_eq!(query(&location(&resp))["error"], "consent_required");
    // The first consent (all three scopes) is remembered: a code at once.
    let resp = s.authorize("default", &pairs, &cookies).await;
    assert!(query(&location(&resp)).contains_key("code"));
}

/// `/` is a small page for a person (issue 19): what the server is, where discovery
/// is; with the sign-on page's security headers, and no environment named.
#[tokio::test]
async fn the_root_is_a_page_for_people() {
    let s = TestServer::start().await;
    s.admin(
        reqwest::Method::POST,
        "/admin/environments",
        Some(json!({"id": "secret-tenant"})),
    )
    .await;
    let resp = s.http.get(s.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let html = resp.text().await.unwrap();
    assert!(html.contains("/.well-known/openid-configuration"), "{html}");
    assert!(html.contains(env!("CARGO_PKG_VERSION")));
    assert!(
        !html.contains("secret-tenant") && !html.contains("default"),
        "no environment is named"
    );
    assert!(!html.contains("<script"));
}

/// The attack on two decisions racing for one consent flow (two tabs, or two calls of
/// the flows API at once; found by an attack on the live server): exactly one wins,
/// and what is remembered is what won. A denial that wins leaves no consent behind
/// (the losing approval used to be remembered all the same, and the next sign-on then
/// skipped the consent the user had just denied).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_consent_decisions_remember_only_the_winner() {
    let s = TestServer::start().await;
    let client = s
        .env_with_public_client("default", strict(), json!({"require_consent": true}))
        .await;
    let pairs = TestServer::pairs(&client);
    let (st, users) = s
        .admin(reqwest::Method::GET, "/admin/environments/default/users", None)
        .await;
    assert_eq!(st, 200, "{users}");
    let tom = users["items"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["username"] == "tom"))
        .unwrap_or_else(|| panic!("no tom in {users}"));
    let consent = format!(
        "/admin/environments/default/users/{}/consents/{client}",
        tom["id"].as_str().unwrap()
    );
    let mut denied = 0;
    for round in 0..12 {
        let (flow, _, body) = sign_on_via_flows(&s, &pairs).await;
        assert_eq!(body["status"], "CONSENT_REQUIRED", "round {round}: {body}");
        let (approve, deny) = tokio::join!(flow_consent(&s, &flow, true), flow_consent(&s, &flow, false));
        assert_eq!(
            [approve.0, deny.0].iter().filter(|&&st| st == 200).count(),
            1,
            "round {round}: one decision wins: {approve:?} {deny:?}"
        );
        // Withdrawing says whether a consent was remembered (204) or not (404).
        let (st, _) = s.admin(reqwest::Method::DELETE, &consent, None).await;
        let remembered = match st {
            204 => true,
            404 => false,
            other => panic!("round {round}: withdrawal answered {other}"),
        };
        assert_eq!(remembered, approve.0 == 200, "round {round}: {approve:?} {deny:?}");
        denied += usize::from(deny.0 == 200);
    }
    eprintln!("the denial won {denied} of 12 rounds");
}
