//! Client ID Metadata Documents (CONTRACT §7) against a running server: a client whose
//! `client_id` is the URL of its document, served here on 127.0.0.1 (the server runs
//! with `insecure_cimd_loopback`, as the contract allows for tests). Off by default;
//! when on, published in metadata; the document must name itself and be public; the
//! fetcher follows no redirect and reads no more than 5 KB; a document is kept by its
//! caching headers within a minute and a day, and an error is not kept; the client is a
//! third party (consent) that meets the PKCE policy and appears in the PKCE report.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use pixie_testkit::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A canned answer: status, headers, body.
type Answer = (u16, Vec<(String, String)>, String);

/// What the document server answers for a path, and how often it was asked.
#[derive(Clone, Default)]
struct Documents {
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    hits: Arc<Mutex<HashMap<String, u32>>>,
}

impl Documents {
    fn set(&self, path: &str, status: u16, headers: &[(&str, &str)], body: impl Into<String>) {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.answers
            .lock()
            .unwrap()
            .insert(path.to_owned(), (status, headers, body.into()));
    }
    fn hits(&self, path: &str) -> u32 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

async fn serve_document(State(docs): State<Documents>, Path(path): Path<String>) -> impl IntoResponse {
    *docs.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let Some((status, headers, body)) = docs.answers.lock().unwrap().get(&path).cloned() else {
        return (StatusCode::NOT_FOUND, HeaderMap::new(), String::new());
    };
    let mut map = HeaderMap::new();
    map.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    for (k, v) in headers {
        map.insert(header::HeaderName::try_from(k).unwrap(), v.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), map, body)
}

/// Starts the document server; returns it and its base URL.
async fn document_server() -> (Documents, String) {
    let docs = Documents::default();
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::get(serve_document))
        .with_state(docs.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (docs, base)
}

async fn server(loopback: bool) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.insecure_cimd_loopback = loopback;
    TestServer::start_with(dir, cfg).await
}

fn document(client_id: &str) -> Value {
    json!({"client_id": client_id, "client_name": "Agent Smith", "redirect_uris": [REDIRECT],
           "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none",
           "logo_uri": "https://agent.example/logo.png"})
}

async fn documents_on(s: &TestServer, env: &str) {
    let (st, body) = s
        .admin(
            Method::PATCH,
            &format!("/admin/environments/{env}"),
            Some(json!({"registration": {"client_id_metadata_documents": true}})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["registration"]["client_id_metadata_documents"], true);
}

/// The page an authorization request gets (status, body).
async fn authorize_page(s: &TestServer, client_id: &str) -> (u16, String) {
    let resp = s.authorize("default", &TestServer::pairs(client_id), &[]).await;
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Signs on through the flows API, consents, resumes; returns the redirect's query.
async fn code_with_consent(s: &TestServer, pairs: &[(&str, &str)]) -> HashMap<String, String> {
    code_after_sign_on(s, pairs, true).await
}

/// Signs on through the flows API, consents when `consent` (else none may be asked),
/// resumes; returns the redirect's query.
async fn code_after_sign_on(s: &TestServer, pairs: &[(&str, &str)], consent: bool) -> HashMap<String, String> {
    let resp = s.authorize("default", pairs, &[]).await;
    assert_eq!(resp.status(), 302);
    let cookies = set_cookies(&resp);
    let flow = query(&location(&resp))["flowId"].clone();
    let body: Value = s
        .flow_sign_on("default", &flow, "tom", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    if !consent {
        assert_eq!(body["status"], "COMPLETED", "{body}");
        let resp = s
            .http
            .get(s.local(body["resumeUrl"].as_str().unwrap()))
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap();
        return query(&location(&resp));
    }
    assert_eq!(body["status"], "CONSENT_REQUIRED", "{body}");
    assert_eq!(body["client"]["verified"], false);
    assert_eq!(body["client"]["client_name"], "Agent Smith");
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
    query(&location(&resp))
}

#[tokio::test]
async fn a_client_identified_by_its_document() {
    let (docs, base) = document_server().await;
    let s = server(true).await;
    s.env_with_public_client("default", json!({}), json!({})).await;
    let client_id = format!("{base}/clients/agent.json");
    docs.set(
        "clients/agent.json",
        200,
        &[("cache-control", "max-age=600")],
        document(&client_id).to_string(),
    );

    // Off by default: the URL is no client, nothing is fetched, nothing in metadata.
    let (st, page) = authorize_page(&s, &client_id).await;
    assert_eq!(st, 400);
    assert!(page.contains("not a registered client"), "{page}");
    assert_eq!(docs.hits("clients/agent.json"), 0);
    let (_, meta) = s.get_json("/default/.well-known/openid-configuration").await;
    assert!(meta.get("client_id_metadata_document_supported").is_none(), "{meta}");

    documents_on(&s, "default").await;
    let (_, meta) = s.get_json("/default/.well-known/openid-configuration").await;
    assert_eq!(meta["client_id_metadata_document_supported"], true);

    // The whole flow: a third party (consent), public, PKCE as for every client.
    let q = code_with_consent(&s, &TestServer::pairs(&client_id)).await;
    let code = q.get("code").unwrap_or_else(|| panic!("{q:?}")).clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (st, tok, _) = s.token("default", &form).await;
    assert_eq!(st, 200, "{tok}");
    assert!(tok["refresh_token"].is_string());
    let (st, again) = s
        .refresh("default", &client_id, tok["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(
        docs.hits("clients/agent.json"),
        1,
        "kept by max-age; the token endpoint never fetches"
    );

    // No code_challenge: refused by the environment's strict policy, like any client.
    let without: Vec<_> = TestServer::pairs(&client_id)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let resp = s.authorize("default", &without, &[]).await;
    assert_eq!(query(&location(&resp))["error"], "invalid_request");

    // Kept by max-age (600 s): a changed document is read once that has passed.
    let mut changed = document(&client_id);
    changed["client_name"] = json!("Agent Jones");
    docs.set("clients/agent.json", 200, &[], changed.to_string());
    assert_eq!(
        s.authorize("default", &TestServer::pairs(&client_id), &[])
            .await
            .status(),
        302
    );
    assert_eq!(docs.hits("clients/agent.json"), 1);
    s.advance(601);
    assert_eq!(
        s.authorize("default", &TestServer::pairs(&client_id), &[])
            .await
            .status(),
        302
    );
    assert_eq!(docs.hits("clients/agent.json"), 2);
    // No caching headers: kept a minute, no less.
    assert_eq!(
        s.authorize("default", &TestServer::pairs(&client_id), &[])
            .await
            .status(),
        302
    );
    assert_eq!(docs.hits("clients/agent.json"), 2);
    s.advance(61);
    // A document that went bad: the error page names why, and the error is not kept.
    docs.set("clients/agent.json", 500, &[], "{}");
    let (st, page) = authorize_page(&s, &client_id).await;
    assert_eq!(st, 400);
    assert!(page.contains("answered 500"), "{page}");
    docs.set(
        "clients/agent.json",
        200,
        &[("cache-control", "max-age=31536000")],
        changed.to_string(),
    );
    assert_eq!(
        s.authorize("default", &TestServer::pairs(&client_id), &[])
            .await
            .status(),
        302
    );
    assert_eq!(docs.hits("clients/agent.json"), 4, "the error was not kept");
    // A year's max-age is kept a day at most.
    s.advance(24 * 3600 + 1);
    assert_eq!(
        s.authorize("default", &TestServer::pairs(&client_id), &[])
            .await
            .status(),
        302
    );
    assert_eq!(docs.hits("clients/agent.json"), 5);

    // It is in the PKCE report under its URL.
    let (st, report) = s
        .admin(Method::GET, "/admin/environments/default/pkce-report", None)
        .await;
    assert_eq!(st, 200);
    let entry = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == client_id.as_str())
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    assert!(entry["counts"]["S256"]["accepted"].as_i64().unwrap() >= 1, "{entry}");
    assert!(entry["counts"]["none"]["rejected"].as_i64().unwrap() >= 1, "{entry}");

    // Documents turned off: the stored client is no longer served, anywhere: not at
    // the authorization endpoint, and neither its refresh token nor its access token.
    // (Tom consented before: no consent asked now.)
    let q = code_after_sign_on(&s, &TestServer::pairs(&client_id), false).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (st, tok, _) = s.token("default", &form).await;
    assert_eq!(st, 200, "{tok}");
    let access = tok["access_token"].as_str().unwrap().to_owned();
    let refresh = tok["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(s.userinfo("default", &access).await.0, 200);
    let (st, _) = s
        .admin(
            Method::PATCH,
            "/admin/environments/default",
            Some(json!({"registration": {"client_id_metadata_documents": false}})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(authorize_page(&s, &client_id).await.0, 400);
    let (st, body) = s.refresh("default", &client_id, &refresh, None).await;
    assert_eq!((st, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    assert_eq!(s.userinfo("default", &access).await.0, 401);
    let resp = s
        .http
        .post(s.url("/default/as/introspect"))
        .form(&[("token", access.as_str()), ("client_id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "the client itself is not served");
}

/// Deleting a client stored from its document revokes what it holds for good: fetched
/// again, it is a new client, whose tokens of before stay dead and whose users consent
/// again.
#[tokio::test]
async fn a_deleted_document_client_comes_back_with_nothing() {
    let (docs, base) = document_server().await;
    let s = server(true).await;
    s.env_with_public_client("default", json!({}), json!({})).await;
    documents_on(&s, "default").await;
    let client_id = format!("{base}/clients/agent.json");
    docs.set("clients/agent.json", 200, &[], document(&client_id).to_string());
    let q = code_with_consent(&s, &TestServer::pairs(&client_id)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let (st, tok, _) = s.token("default", &form).await;
    assert_eq!(st, 200, "{tok}");
    let access = tok["access_token"].as_str().unwrap().to_owned();
    let refresh = tok["refresh_token"].as_str().unwrap().to_owned();
    let encoded: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let (st, _) = s
        .admin(
            Method::DELETE,
            &format!("/admin/environments/default/applications/{encoded}"),
            None,
        )
        .await;
    assert_eq!(st, 204);
    // Anyone brings it back by naming it at the authorization endpoint.
    let q = code_with_consent(&s, &TestServer::pairs(&client_id)).await;
    assert!(q.contains_key("code"), "asked to consent again, then a code: {q:?}");
    assert_eq!(
        s.userinfo("default", &access).await.0,
        401,
        "the old access token stays dead"
    );
    assert_eq!(s.introspect("default", &client_id, &access).await["active"], false);
    let (st, body) = s.refresh("default", &client_id, &refresh, None).await;
    assert_eq!(st, 400, "the old refresh token stays dead: {body}");
}

/// Every way a document is refused gets the error page (400) naming why.
#[tokio::test]
async fn bad_documents_are_refused_with_the_reason() {
    let (docs, base) = document_server().await;
    let s = server(true).await;
    s.env_with_public_client("default", json!({}), json!({})).await;
    documents_on(&s, "default").await;
    let id = |name: &str| format!("{base}/c/{name}");
    let mut secret = document(&id("basic"));
    secret["token_endpoint_auth_method"] = json!("client_secret_basic");
    let mut carries = document(&id("secret"));
    carries["client_secret"] = json!("s3cret");
    let mut plain = document(&id("plain"));
    plain["code_challenge_method"] = json!("plain");
    let mut http_redirect = document(&id("http-redirect"));
    http_redirect["redirect_uris"] = json!(["http://agent.example/cb"]);
    type Case<'a> = (&'a str, u16, Vec<(&'a str, &'a str)>, String, &'a str);
    let cases: Vec<Case> = vec![
        (
            "other",
            200,
            vec![],
            document(&id("someone-else")).to_string(),
            "not the URL",
        ),
        ("basic", 200, vec![], secret.to_string(), "only none"),
        ("secret", 200, vec![], carries.to_string(), "client_secret"),
        ("plain", 200, vec![], plain.to_string(), "plain"),
        (
            "http-redirect",
            200,
            vec![],
            http_redirect.to_string(),
            "redirect_uris[0]",
        ),
        (
            "moved",
            302,
            vec![("location", "/c/target")],
            String::new(),
            "redirects are not followed",
        ),
        (
            "huge",
            200,
            vec![],
            format!("{{\"pad\": \"{}\"}}", "x".repeat(6000)),
            "larger than 5120",
        ),
        ("not-json", 200, vec![], "<html>".into(), "not a JSON object"),
        ("missing", 404, vec![], String::new(), "answered 404"),
    ];
    for (name, status, headers, body, why) in cases {
        docs.set(&format!("c/{name}"), status, &headers, body);
        let (st, page) = authorize_page(&s, &id(name)).await;
        assert_eq!(st, 400, "{name}: {page}");
        assert!(page.contains("metadata document"), "{name}: {page}");
        assert!(page.contains(why), "{name}: expected {why:?} in {page}");
    }
    assert_eq!(docs.hits("c/target"), 0, "the redirect was not followed");
    // One document, one spelling: a dot segment (encoded too) is no document URL, and a
    // URL a parser would rewrite is refused by name.
    docs.set("c/other", 200, &[], document(&id("other")).to_string());
    let (st, page) = authorize_page(&s, &format!("{base}/c/legit/%2e%2e/other")).await;
    assert_eq!(st, 400);
    assert!(page.contains("not a registered client"), "{page}");
    let port = base.rsplit(':').next().unwrap();
    let (st, page) = authorize_page(&s, &format!("http://127.0.0.1:0{port}/c/other")).await;
    assert_eq!(st, 400);
    assert!(page.contains("canonical form"), "{page}");
    // The right document at a URL that refused before is fetched again (errors are
    // not kept), and then works.
    docs.set("c/other", 200, &[], document(&id("other")).to_string());
    assert_eq!(
        s.authorize("default", &TestServer::pairs(&id("other")), &[])
            .await
            .status(),
        302
    );
}

/// Without `--insecure-cimd-loopback`, pixie fetches from no loopback, private or
/// otherwise non-public address, however the URL names it; a URL that is not a
/// document URL (http, no path) is no client at all.
#[tokio::test]
async fn the_fetcher_cannot_be_turned_against_the_network() {
    let (docs, base) = document_server().await;
    let s = server(false).await;
    s.env_with_public_client("default", json!({}), json!({})).await;
    documents_on(&s, "default").await;
    let port = base.rsplit(':').next().unwrap();
    let http_id = format!("{base}/c/agent.json");
    docs.set("c/agent.json", 200, &[], document(&http_id).to_string());
    let (st, page) = authorize_page(&s, &http_id).await;
    assert_eq!(st, 400);
    assert!(page.contains("not a registered client"), "{page}");
    for url in [
        format!("https://127.0.0.1:{port}/c/agent.json"),
        format!("https://localhost:{port}/c/agent.json"),
        format!("https://[::1]:{port}/c/agent.json"),
        format!("https://10.0.0.1:{port}/c/agent.json"),
        "https://169.254.169.254/latest/meta-data/x".to_owned(),
        format!("https://[::ffff:127.0.0.1]:{port}/c/agent.json"),
        format!("https://[::ffff:7f00:1]:{port}/c/agent.json"),
        format!("https://2130706433:{port}/c/agent.json"),
    ] {
        let (st, page) = authorize_page(&s, &url).await;
        assert_eq!(st, 400, "{url}: {page}");
        assert!(
            page.contains("not public") || page.contains("could not be fetched") || page.contains("canonical form"),
            "{url}: {page}"
        );
    }
    assert_eq!(docs.hits("c/agent.json"), 0, "nothing reached the loopback server");
}

/// One address cannot make pixie fetch without end: 30 fetches per 10 minutes.
#[tokio::test]
async fn document_fetches_are_bounded_per_address() {
    let (docs, base) = document_server().await;
    let s = server(true).await;
    s.env_with_public_client("default", json!({}), json!({})).await;
    documents_on(&s, "default").await;
    for i in 0..30 {
        let (st, _) = authorize_page(&s, &format!("{base}/junk/{i}")).await;
        assert_eq!(st, 400);
    }
    let resp = s
        .authorize("default", &TestServer::pairs(&format!("{base}/junk/x")), &[])
        .await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    assert_eq!(docs.hits("junk/x"), 0);
}
