//! Headless Chromium through WebDriver (Debian's `chromium` and `chromium-driver`) for
//! the tests of pixie's pages. Without `chromedriver` a test skips, unless
//! `PIXIE_REQUIRE_BROWSER` is set (as CI does), which turns the skip into a failure.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A Chromium session with its own chromedriver and an empty profile; both end on drop.
pub struct Chromium {
    /// The WebDriver client.
    pub client: fantoccini::Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// The chromedriver process, ended on drop (a failed start included).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Chromium {
    /// Starts Chromium with a window of `width` × `height` CSS pixels; `None` (after
    /// saying SKIPPED) when chromedriver is not installed and not required.
    pub async fn start(width: u32, height: u32) -> Option<Self> {
        let have_driver = Command::new("chromedriver")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !have_driver {
            assert!(
                std::env::var_os("PIXIE_REQUIRE_BROWSER").is_none(),
                "PIXIE_REQUIRE_BROWSER is set but chromedriver is missing"
            );
            eprintln!("SKIPPED: chromedriver is not installed (apt-get install chromium chromium-driver)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Driver(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        // Without the background-networking flags Chromium keeps calling out, and this
        // machine's closed network refuses it.
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                         format!("--window-size={width},{height}"),
                         format!("--user-data-dir={}", profile.path().display())]
            }),
        );
        for _ in 0..50 {
            let mut builder = fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(caps.clone());
            if let Ok(client) = builder.connect(&format!("http://127.0.0.1:{port}")).await {
                return Some(Chromium {
                    client,
                    _driver: driver,
                    _profile: profile,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer");
    }

    /// Ends the browser session (then the driver, on drop).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
