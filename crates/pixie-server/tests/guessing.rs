//! Guessing attacks (issue: hardening): sign-on throttling per user and per address,
//! forwarded addresses believed only from trusted proxies, unknown users cost the same,
//! and https serving with Secure, __Host- cookies.

use pixie_testkit::*;
use serde_json::{json, Value};

async fn sign_on(s: &TestServer, flow: &str, user: &str, pw: &str, xff: Option<&str>) -> (u16, Option<String>, Value) {
    let mut req = s
        .http
        .post(s.url(&format!("/default/flows/{flow}")))
        .header("content-type", "application/vnd.pixie.usernamePassword.check+json")
        .json(&json!({"username": user, "password": pw}));
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    let resp = req.send().await.unwrap();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status().as_u16(), retry, resp.json().await.unwrap_or(Value::Null))
}

async fn new_flow(s: &TestServer, client: &str) -> String {
    let resp = s.authorize("default", &TestServer::pairs(client), &[]).await;
    query(&location(&resp))["flowId"].clone()
}

#[tokio::test]
async fn throttling_per_user_and_per_address() {
    let s = TestServer::start().await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    // A flow takes PER_FLOW failures, so the guesses are spread over flows.
    let mut flow = String::new();
    for i in 0..pixie_server::throttle::PER_USER_ADDRESS {
        if i % pixie_server::throttle::PER_FLOW == 0 {
            flow = new_flow(&s, &client).await;
        }
        assert_eq!(sign_on(&s, &flow, "tom", "guess", None).await.0, 400);
    }
    let flow = new_flow(&s, &client).await;
    // Now even the right password waits: 429 with Retry-After.
    let (st, retry, body) = sign_on(&s, &flow, "tom", PASSWORD, None).await;
    assert_eq!(st, 429, "{body}");
    assert_eq!(body["code"], "TOO_MANY_ATTEMPTS");
    let retry: i64 = retry.expect("Retry-After").parse().unwrap();
    assert!(retry > 0 && retry <= pixie_server::throttle::WINDOW);
    // The sign-on page says the same, as a page.
    let resp = s.authorize("default", &TestServer::pairs(&client), &[]).await;
    let cookies = set_cookies(&resp);
    let page = s
        .http
        .get(location(&resp))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let grab = |name: &str| {
        let m = format!("name=\"{name}\" value=\"");
        let i = page.find(&m).unwrap() + m.len();
        page[i..i + page[i..].find('"').unwrap()].to_owned()
    };
    let resp = s
        .http
        .post(s.url("/default/signon"))
        .header("cookie", cookies.join("; "))
        .form(&[
            ("flowId", grab("flowId")),
            ("csrf", grab("csrf")),
            ("username", "tom".into()),
            ("password", PASSWORD.into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert!(resp.text().await.unwrap().contains("Too many failed sign-ons"));
    // After the window, the user signs on (in a new flow: the old one has expired).
    s.advance(pixie_server::throttle::WINDOW);
    let flow = new_flow(&s, &client).await;
    assert_eq!(sign_on(&s, &flow, "tom", PASSWORD, None).await.0, 200);

    // Per address: many users guessed from one address.
    let mut flow = flow;
    for i in 0..pixie_server::throttle::PER_ADDRESS {
        if i % pixie_server::throttle::PER_FLOW == 0 {
            flow = new_flow(&s, &client).await;
        }
        let (st, _, body) = sign_on(&s, &flow, &format!("u{i}"), "guess", None).await;
        assert_eq!((st, body["code"].as_str()), (400, Some("INVALID_CREDENTIALS")));
    }
    let flow = new_flow(&s, &client).await;
    assert_eq!(
        sign_on(&s, &flow, "tom", PASSWORD, None).await.0,
        429,
        "this address is throttled for everyone"
    );
    // X-Forwarded-For from an untrusted peer is ignored: a client cannot pick a new address.
    assert_eq!(sign_on(&s, &flow, "tom", PASSWORD, Some("203.0.113.77")).await.0, 429);
}

#[tokio::test]
async fn forwarded_addresses_from_a_trusted_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.trusted_proxies = "127.0.0.0/8".into();
    let s = TestServer::start_with(dir, cfg).await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let mut flow = String::new();
    for i in 0..pixie_server::throttle::PER_ADDRESS {
        if i % pixie_server::throttle::PER_FLOW == 0 {
            flow = new_flow(&s, &client).await;
        }
        sign_on(&s, &flow, &format!("u{i}"), "guess", Some("203.0.113.1")).await;
    }
    let flow = new_flow(&s, &client).await;
    assert_eq!(
        sign_on(&s, &flow, "ann", "guess", Some("203.0.113.1")).await.0,
        429,
        "the forwarded address is throttled"
    );
    assert_eq!(
        sign_on(&s, &flow, "tom", PASSWORD, Some("203.0.113.2")).await.0,
        200,
        "another client behind the proxy is not"
    );
}

#[tokio::test]
async fn unknown_users_cost_what_known_users_cost() {
    let s = TestServer::start().await;
    s.env_with_public_client("default", json!({}), json!({})).await;
    let svc = s.running.as_ref().unwrap().service().clone();
    use pixie_server::authz::Credentials;
    assert!(matches!(
        svc.check_credentials("default", "nobody", "x").await.unwrap(),
        Credentials::UnknownUser
    ));
    assert!(matches!(
        svc.check_credentials("default", "tom", "x").await.unwrap(),
        Credentials::WrongPassword(_)
    ));
    assert!(matches!(
        svc.check_credentials("default", "tom", PASSWORD).await.unwrap(),
        Credentials::Valid(_)
    ));
    // The unknown-user path verifies against a hash of the same Argon2id parameters as
    // a real one: the same memory and passes, so the same time.
    let dummy = svc.dummy_password_hash_for_tests().await;
    let real = pixie_server::crypto::hash_password("anything").unwrap();
    let params = |h: &str| h.split('$').take(4).collect::<Vec<_>>().join("$");
    assert_eq!(params(&dummy), params(&real));
    assert!(params(&real).contains("m=19456,t=2,p=1"));
}

#[tokio::test]
async fn https_serving_and_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = self_signed_cert(dir.path()) else {
        return;
    };
    let mut cfg = config(dir.path());
    cfg.tls = Some((cert.clone(), key));
    let running = pixie_server::start(cfg).await.expect("serves https");
    assert!(
        running.public_url.starts_with("https://127.0.0.1:"),
        "{}",
        running.public_url
    );
    let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    install_tls_provider();
    let http = reqwest::Client::builder()
        .add_root_certificate(root)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let d: Value = http
        .get(format!(
            "{}/default/.well-known/openid-configuration",
            running.public_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], format!("{}/default", running.public_url));
    let s = TestServer::remote(&running.public_url, &running.admin_token);
    let s = TestServer { http, ..s };
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let resp = s.authorize("default", &TestServer::pairs(&client), &[]).await;
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("__Host-pixie_flow_default="), "{set_cookie}");
    assert!(
        set_cookie.contains("; Secure") && set_cookie.contains("HttpOnly") && set_cookie.contains("Path=/"),
        "{set_cookie}"
    );
    let (q, cookies) = s.code_via_flows("default", &TestServer::pairs(&client)).await;
    assert!(q.contains_key("code"));
    assert!(
        cookies.iter().any(|c| c.starts_with("__Host-pixie_session_default=")),
        "{cookies:?}"
    );
    // Plain http to the https port is refused, not served.
    let plain = reqwest::Client::new()
        .get(format!("{}/healthz", running.public_url.replace("https", "http")))
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    running.shutdown().await;
}

#[tokio::test]
async fn forwarded_proto_and_host_only_from_trusted_proxies() {
    let get = |s: &TestServer, headers: Vec<(&'static str, &'static str)>| {
        let mut req = s.http.get(s.url("/default/.well-known/openid-configuration"));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            req.send().await.unwrap().json::<Value>().await.unwrap()["issuer"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let fwd = vec![
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "login.example.com"),
    ];
    // Behind a trusted proxy, with no --public-url: the forwarded base is the issuer,
    // and cookies follow its scheme.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.trusted_proxies = "127.0.0.1".into();
    let s = TestServer::start_with(dir, cfg).await;
    assert_eq!(get(&s, fwd.clone()).await, "https://login.example.com/default");
    assert_eq!(
        get(&s, vec![]).await,
        s.url("/default"),
        "without the headers: the listen address"
    );
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    let mut req = s
        .http
        .get(s.url("/default/as/authorize"))
        .query(&TestServer::pairs(&client));
    for (k, v) in &fwd {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    assert!(location(&resp).starts_with("https://login.example.com/default/signon"));
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("__Host-pixie_flow_default="));
    // From an untrusted peer the headers are ignored.
    let s = TestServer::start().await;
    assert_eq!(get(&s, fwd.clone()).await, s.url("/default"));
    // A configured --public-url always wins.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.trusted_proxies = "127.0.0.1".into();
    cfg.public_url = Some("https://id.example.org".into());
    let s = TestServer::start_with(dir, cfg).await;
    let d: Value = s
        .http
        .get(format!(
            "http://{}/default/.well-known/openid-configuration",
            s.running.as_ref().unwrap().addr
        ))
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], "https://id.example.org/default");
}
