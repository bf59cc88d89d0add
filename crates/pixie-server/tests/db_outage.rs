//! The database goes away and comes back: requests that need it get 503
//! `temporarily_unavailable`, /healthz says so, and pixie recovers by itself.
//! A TCP proxy between pixie and PostgreSQL is cut and restored. Needs
//! `PIXIE_TEST_DATABASE_URL` (SKIPPED without; required with `PIXIE_REQUIRE_POSTGRES`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pixie_testkit::*;
use serde_json::json;

/// A switchable TCP proxy: while down, it refuses and drops every connection.
struct Proxy {
    up: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    port: u16,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (up2, live2) = (up.clone(), live.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                live2.lock().unwrap().push(task.abort_handle());
            }
        });
        Self { up, live, port }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for t in self.live.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_goes_away_and_comes_back() {
    if postgres_url().is_none() {
        assert!(
            std::env::var_os("PIXIE_REQUIRE_POSTGRES").is_none(),
            "PIXIE_REQUIRE_POSTGRES is set but PIXIE_TEST_DATABASE_URL is not"
        );
        eprintln!("SKIPPED: set PIXIE_TEST_DATABASE_URL to run the database outage test");
        return;
    }
    let db = fresh_postgres_database().await;
    // postgres://user@host:port/name → route host:port through the proxy.
    let (scheme_user, rest) = db.split_once('@').unwrap();
    let (hostport, name) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(hostport.to_owned()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.database_url = format!("{scheme_user}@127.0.0.1:{}/{name}", proxy.port);
    let s = TestServer::start_with(dir, cfg).await;
    let client = s.env_with_public_client("default", json!({}), json!({})).await;
    assert_eq!(s.get_json("/default/.well-known/openid-configuration").await.0, 200);

    proxy.cut();
    assert_eq!(s.http.get(s.url("/healthz")).send().await.unwrap().status(), 503);
    // What needs the store fails at once; discovery may be answered from the cache
    // until its entry is older than cache::TTL, then it fails too.
    tokio::time::sleep(pixie_server::cache::TTL + Duration::from_millis(100)).await;
    let (st, body) = s.get_json("/default/.well-known/openid-configuration").await;
    assert_eq!(st, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("client_id", client.as_str()),
    ];
    let (st, body, _) = s.token("default", &form).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );

    proxy.restore();
    let mut healthy = false;
    for _ in 0..50 {
        if s.http.get(s.url("/healthz")).send().await.unwrap().status() == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "pixie recovers without a restart");
    let t = s.tokens("default", &client).await;
    assert!(t["access_token"].is_string());
}
