//! `/admin/openapi.json` (issue 19): an OpenAPI 3.1 document of the admin API, made from
//! the routing table. Every operation it names is served (no 405, no "endpoint not
//! found") and needs the admin token; routes the contract lists are all in it.

use pixie_testkit::*;
use serde_json::{json, Value};

#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let s = TestServer::start().await;
    let (st, doc) = s.get_json("/admin/openapi.json").await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["components"]["securitySchemes"]["adminToken"]["scheme"], "bearer");
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, methods) in paths {
        for (method, op) in methods.as_object().unwrap() {
            operations += 1;
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}");
            // Every parameter of the path is declared.
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                assert!(
                    declared.contains(&seg.trim_matches(['{', '}'])),
                    "{method} {path}: {seg}"
                );
            }
            // Served, behind the admin token, on an environment that does not exist.
            let url = s.url(&path.replace("{env}", "nope").replace(['{', '}'], ""));
            let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let resp = s.http.request(m.clone(), &url).json(&json!({})).send().await.unwrap();
            assert_eq!(resp.status(), 401, "{method} {path} needs the admin token");
            let resp = s
                .http
                .request(m, &url)
                .bearer_auth(&s.token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path}: {body}");
            assert_ne!(body["error_description"], "endpoint not found", "{method} {path}");
            assert!(status < 500, "{method} {path}: {status} {body}");
        }
    }
    // CONTRACT §5 and §9, each in the document.
    for (method, path) in [
        ("post", "/admin/environments"),
        ("get", "/admin/environments"),
        ("get", "/admin/environments/{env}"),
        ("patch", "/admin/environments/{env}"),
        ("delete", "/admin/environments/{env}"),
        ("post", "/admin/environments/{env}/applications"),
        ("get", "/admin/environments/{env}/applications"),
        ("get", "/admin/environments/{env}/applications/{client_id}"),
        ("patch", "/admin/environments/{env}/applications/{client_id}"),
        ("delete", "/admin/environments/{env}/applications/{client_id}"),
        ("post", "/admin/environments/{env}/applications/{client_id}/secret"),
        ("post", "/admin/environments/{env}/users"),
        ("get", "/admin/environments/{env}/users"),
        ("get", "/admin/environments/{env}/users/{user_id}"),
        ("patch", "/admin/environments/{env}/users/{user_id}"),
        ("delete", "/admin/environments/{env}/users/{user_id}"),
        ("get", "/admin/environments/{env}/pkce-report"),
        ("get", "/admin/environments/{env}/keys"),
        ("post", "/admin/environments/{env}/keys/rotate"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is missing");
    }
    assert!(operations >= 24, "{operations}");
    // An admin path the document does not name is not served.
    let resp = s
        .http
        .get(s.url("/admin/environments/default/secrets"))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
