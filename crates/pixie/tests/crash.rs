//! Crash safety: full flows under load, `kill -9`, a restart on the same store, and
//! everything acknowledged before the kill is still there and works.

mod common;

use std::sync::{Arc, Mutex};

use common::{pixie, serve};
use pixie_testkit::{TestServer, PASSWORD};
use serde_json::json;

#[cfg(unix)]
#[test]
fn kill_9_under_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let start = || {
        let mut cmd = pixie();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir", &data]);
        serve(cmd)
    };
    let mut server = start();
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let s = Arc::new(TestServer::remote(&server.url, token.trim()));
    let client = rt.block_on(s.env_with_public_client("default", json!({}), json!({})));

    // Load: flows, application and user registrations, each recorded once acknowledged.
    let refresh_tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let apps = Arc::new(Mutex::new(Vec::<String>::new()));
    let users = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (s, client, rts, apps, users) = (
            s.clone(),
            client.clone(),
            refresh_tokens.clone(),
            apps.clone(),
            users.clone(),
        );
        workers.push(rt.spawn(async move {
            for i in 0.. {
                let (q, _) = match tokio::spawn({
                    let (s, client) = (s.clone(), client.clone());
                    async move { s.code_via_flows("default", &TestServer::pairs(&client)).await }
                })
                .await
                {
                    Ok(r) => r,
                    Err(_) => return, // the server died mid-flow
                };
                let form = [
                    ("grant_type", "authorization_code"),
                    ("code", q["code"].as_str()),
                    ("redirect_uri", pixie_testkit::REDIRECT),
                    ("client_id", client.as_str()),
                    ("code_verifier", pixie_testkit::VERIFIER),
                ];
                let Ok(resp) = s.http.post(s.url("/default/as/token")).form(&form).send().await else {
                    return;
                };
                if let Ok(t) = resp.json::<serde_json::Value>().await {
                    if let Some(rt) = t["refresh_token"].as_str() {
                        rts.lock().unwrap().push(rt.to_owned());
                    }
                }
                let meta = json!({"client_name": format!("w{w}-{i}"), "redirect_uris": ["https://a.example/cb"]});
                let Ok(resp) = s
                    .http
                    .post(s.url("/admin/environments/default/applications"))
                    .bearer_auth(&s.token)
                    .json(&meta)
                    .send()
                    .await
                else {
                    return;
                };
                if resp.status() == 201 {
                    if let Ok(app) = resp.json::<serde_json::Value>().await {
                        apps.lock().unwrap().push(app["client_id"].as_str().unwrap().to_owned());
                    }
                }
                let name = format!("user-{w}-{i}");
                let body = json!({"username": name, "password": PASSWORD});
                let Ok(resp) = s
                    .http
                    .post(s.url("/admin/environments/default/users"))
                    .bearer_auth(&s.token)
                    .json(&body)
                    .send()
                    .await
                else {
                    return;
                };
                if resp.status() == 201 {
                    users.lock().unwrap().push(name);
                }
            }
        }));
    }
    // Let the load build up, then kill -9 in the middle of it.
    while refresh_tokens.lock().unwrap().len() < 12 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for w in workers {
        let _ = rt.block_on(w);
    }
    let (rts, apps, users) = (
        refresh_tokens.lock().unwrap().clone(),
        apps.lock().unwrap().clone(),
        users.lock().unwrap().clone(),
    );
    assert!(rts.len() >= 12 && !apps.is_empty() && !users.is_empty());

    // The store is sound before anything else touches it.
    rt.block_on(async {
        let store = pixie_store::Store::connect(&format!("sqlite://{data}/pixie.db"))
            .await
            .unwrap();
        assert_eq!(store.integrity_check().await.unwrap(), "ok");
        store.close().await;
    });
    let server = start();
    let s = TestServer::remote(&server.url, token.trim());
    rt.block_on(async {
        for rt_value in &rts {
            let (st, body) = s.refresh("default", &client, rt_value, None).await;
            assert_eq!(st, 200, "an acknowledged refresh token was lost: {body}");
        }
        for app in &apps {
            let (st, _) = s
                .admin(
                    reqwest::Method::GET,
                    &format!("/admin/environments/default/applications/{app}"),
                    None,
                )
                .await;
            assert_eq!(st, 200, "an acknowledged application was lost");
        }
        for user in &users {
            let (st, _) = s
                .admin(
                    reqwest::Method::POST,
                    "/admin/environments/default/users",
                    Some(json!({"username": user, "password": "x"})),
                )
                .await;
            assert_eq!(st, 409, "an acknowledged user was lost");
        }
    });
    eprintln!(
        "survived kill -9: {} refresh tokens, {} applications, {} users",
        rts.len(),
        apps.len(),
        users.len()
    );
}
