//! Two `pixie serve` processes on one PostgreSQL database: a flow hops between them
//! and single use holds across them. Needs `PIXIE_TEST_DATABASE_URL` (SKIPPED without;
//! required with `PIXIE_REQUIRE_POSTGRES`).

mod common;

use common::{pixie, serve};
use pixie_testkit::*;
use serde_json::{json, Value};

#[test]
fn two_processes_one_database() {
    if postgres_url().is_none() {
        assert!(
            std::env::var_os("PIXIE_REQUIRE_POSTGRES").is_none(),
            "PIXIE_REQUIRE_POSTGRES is set but PIXIE_TEST_DATABASE_URL is not"
        );
        eprintln!("SKIPPED: set PIXIE_TEST_DATABASE_URL to run the two-process test");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(fresh_postgres_database());
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // The listening line names the shared public URL, so pick the ports here.
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let ports = (free_port(), free_port());
    let start = |dir: &std::path::Path, port: u16| {
        let mut cmd = pixie();
        cmd.args(["serve", "--public-url", "http://pixie.test"])
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir)
            .env("PIXIE_DATABASE_URL", &db)
            .env("PIXIE_MASTER_KEY", "cd".repeat(32))
            .env("PIXIE_ADMIN_TOKEN", "shared-admin-token");
        cmd
    };
    // Started together: one migration, one default environment.
    let (ca, cb) = (start(dirs.0.path(), ports.0), start(dirs.1.path(), ports.1));
    let (ta, tb) = (
        std::thread::spawn(move || serve(ca)),
        std::thread::spawn(move || serve(cb)),
    );
    let (_a_proc, _b_proc) = (ta.join().unwrap(), tb.join().unwrap());
    let a = TestServer::remote(&format!("http://127.0.0.1:{}", ports.0), "shared-admin-token");
    let b = TestServer::remote(&format!("http://127.0.0.1:{}", ports.1), "shared-admin-token");
    rt.block_on(async {
        let client = a.env_with_public_client("default", json!({}), json!({})).await;
        // Authorize at A, sign on through B, resume at A, token at B.
        let resp = a.authorize("default", &TestServer::pairs(&client), &[]).await;
        let cookies = set_cookies(&resp);
        let flow_id = query(&location(&resp))["flowId"].clone();
        let body: Value = b
            .flow_sign_on("default", &flow_id, "tom", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        let resume = a.local(body["resumeUrl"].as_str().unwrap());
        let resp = a
            .http
            .get(&resume)
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .unwrap();
        let q = query(&location(&resp));
        assert_eq!(q["iss"], "http://pixie.test/default");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client.as_str()),
            ("code_verifier", VERIFIER),
        ];
        // The same code at both processes at once: one winner.
        let (ra, rb) = tokio::join!(a.token("default", &form), b.token("default", &form));
        assert_eq!(
            [ra.0, rb.0].iter().filter(|s| **s == 200).count(),
            1,
            "{} {}",
            ra.1,
            rb.1
        );
        // One refresh token at both at once: one winner.
        let t = b.tokens("default", &client).await;
        let rt_value = t["refresh_token"].as_str().unwrap();
        let (ra, rb) = tokio::join!(
            a.refresh("default", &client, rt_value, None),
            b.refresh("default", &client, rt_value, None)
        );
        assert_eq!([ra.0, rb.0].iter().filter(|s| **s == 200).count(), 1);
    });
}
