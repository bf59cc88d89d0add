//! A pixie server started in-process on an ephemeral port, with a fresh data dir.
#![allow(dead_code)]

use pixie_server::{Running, ServeConfig, Settings};
use serde_json::Value;

/// A running test server and what a test needs to talk to it.
pub struct TestServer {
    pub running: Option<Running>,
    pub base: String,
    pub token: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

pub fn config(dir: &std::path::Path) -> ServeConfig {
    ServeConfig::from_settings(Settings {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_path_buf()),
        ..Settings::default()
    })
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir).await
    }

    pub async fn start_in(dir: tempfile::TempDir) -> Self {
        let running = pixie_server::start(config(dir.path())).await.expect("server starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base: running.public_url.clone(),
            token: running.admin_token.clone(),
            running: Some(running),
            dir,
            http,
        }
    }

    /// Stops the server and starts a new one on the same data dir.
    pub async fn restart(mut self) -> Self {
        self.running.take().unwrap().shutdown().await;
        Self::start_in(self.dir).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}
