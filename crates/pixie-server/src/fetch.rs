//! Fetching a document whose URL a client chose (Client ID Metadata Documents; later a
//! client's `jwks_uri`), without letting the client turn pixie against the operator's
//! network (SSRF): https only, the name resolved here and every address it resolves to
//! public ([`pixie_core::address::is_public`]), the connection pinned to the address
//! that was checked (so a second resolution cannot swap it), no redirects, no proxy,
//! bounded in size and time. `allow_loopback_http` (`--insecure-cimd-loopback`, for
//! development and tests) also accepts `http://127.0.0.1:<port>/…`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Why a fetch was refused or failed; the text names it for an error page.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// The URL is not one pixie fetches.
    #[error("{0}")]
    Url(&'static str),
    /// The name resolves to an address pixie does not fetch from.
    #[error("its host resolves to an address that is not public")]
    NotPublic,
    /// The host could not be resolved or reached, or did not answer in time.
    #[error("it could not be fetched: {0}")]
    Unreachable(String),
    /// The answer was not a 200 (redirects are not followed).
    #[error("the server answered {0} (redirects are not followed)")]
    Status(u16),
    /// The answer was larger than the limit.
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    /// The answer was not a JSON object.
    #[error("the document is not a JSON object")]
    NotJson,
}

/// A fetched document and how long it may be kept, by its `Cache-Control: max-age`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// The JSON object.
    pub document: serde_json::Value,
    /// `max-age`, when the answer gave one (and no `no-store`/`no-cache`).
    pub max_age: Option<u64>,
}

/// The fetcher's limits.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Also accept `http://127.0.0.1:<port>/…` (development and tests only).
    pub allow_loopback_http: bool,
    /// The most bytes read.
    pub max_bytes: usize,
    /// The longest a fetch may take, connection included.
    pub timeout: Duration,
}

impl Default for Fetcher {
    fn default() -> Self {
        Self {
            allow_loopback_http: false,
            max_bytes: 5 * 1024,
            timeout: Duration::from_secs(5),
        }
    }
}

impl Fetcher {
    /// Fetches a JSON object from `url` within the rules above.
    pub async fn fetch_json(&self, url: &str) -> Result<Fetched, FetchError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| FetchError::Url("it is not a URL"))?;
        let loopback_http =
            self.allow_loopback_http && parsed.scheme() == "http" && parsed.host_str() == Some("127.0.0.1");
        if parsed.scheme() != "https" && !loopback_http {
            return Err(FetchError::Url("it must be an https URL"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
            return Err(FetchError::Url("it must have no user information and no fragment"));
        }
        let host = parsed
            .host_str()
            .ok_or(FetchError::Url("it must name a host"))?
            .to_owned();
        let port = parsed
            .port_or_known_default()
            .ok_or(FetchError::Url("it must name a port"))?;
        // One deadline for resolving, connecting and reading together.
        let deadline = tokio::time::Instant::now() + self.timeout;
        let addr = tokio::time::timeout_at(deadline, self.vetted_address(&host, port, loopback_http))
            .await
            .map_err(|_| FetchError::Unreachable("its host did not resolve in time".into()))??;
        // pixie's one crypto library for TLS (idempotent; the first call wins).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(self.timeout)
            .resolve(&host, addr)
            .build()
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        let fetch = async {
            let mut resp = client
                .get(parsed.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| FetchError::Unreachable(without_url(&e)))?;
            if resp.status() != reqwest::StatusCode::OK {
                return Err(FetchError::Status(resp.status().as_u16()));
            }
            let max_age = max_age(resp.headers());
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| FetchError::Unreachable(without_url(&e)))?
            {
                if body.len() + chunk.len() > self.max_bytes {
                    return Err(FetchError::TooLarge(self.max_bytes));
                }
                body.extend_from_slice(&chunk);
            }
            let document: serde_json::Value = serde_json::from_slice(&body).map_err(|_| FetchError::NotJson)?;
            if !document.is_object() {
                return Err(FetchError::NotJson);
            }
            Ok(Fetched { document, max_age })
        };
        tokio::time::timeout_at(deadline, fetch)
            .await
            .map_err(|_| FetchError::Unreachable("it did not answer in time".into()))?
    }

    /// The address to connect to: every address the name resolves to must be public
    /// (or, in loopback mode, the loopback address itself).
    async fn vetted_address(&self, host: &str, port: u16, loopback_http: bool) -> Result<SocketAddr, FetchError> {
        if loopback_http {
            return Ok(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port));
        }
        // An address written as the host is checked as it is.
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return match pixie_core::address::is_public(ip) {
                true => Ok(SocketAddr::new(ip, port)),
                false => Err(FetchError::NotPublic),
            };
        }
        // (Bounded by the caller's one deadline for resolving and fetching.)
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| FetchError::Unreachable("its host does not resolve".into()))?
            .collect();
        let first = *resolved
            .first()
            .ok_or_else(|| FetchError::Unreachable("its host does not resolve".into()))?;
        if resolved.iter().any(|a| !pixie_core::address::is_public(a.ip())) {
            return Err(FetchError::NotPublic);
        }
        Ok(first)
    }
}

/// A reqwest error's text without the URL (which the caller already names).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "…");
    }
    text
}

/// `Cache-Control: max-age=N`, unless the answer says not to keep it.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let cc = headers
        .get(reqwest::header::CACHE_CONTROL)?
        .to_str()
        .ok()?
        .to_ascii_lowercase();
    if cc.contains("no-store") || cc.contains("no-cache") {
        return Some(0);
    }
    cc.split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;
    use axum::response::IntoResponse;

    /// A document server on loopback; returns its base URL.
    async fn server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route(
                "/doc",
                axum::routing::get(|| async {
                    (
                        [(header::CACHE_CONTROL, "public, max-age=300")],
                        axum::Json(serde_json::json!({"client_id": "x"})),
                    )
                }),
            )
            .route("/big", axum::routing::get(|| async { "x".repeat(6000) }))
            .route(
                "/array",
                axum::routing::get(|| async { axum::Json(serde_json::json!([1])) }),
            )
            .route(
                "/moved",
                axum::routing::get(|| async { axum::response::Redirect::temporary("/doc").into_response() }),
            )
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    fn loopback() -> Fetcher {
        Fetcher {
            allow_loopback_http: true,
            timeout: Duration::from_millis(500),
            ..Fetcher::default()
        }
    }

    #[tokio::test]
    async fn documents_within_the_limits() {
        let base = server().await;
        let f = loopback();
        let got = f.fetch_json(&format!("{base}/doc")).await.unwrap();
        assert_eq!(got.document["client_id"], "x");
        assert_eq!(got.max_age, Some(300));
        assert_eq!(
            f.fetch_json(&format!("{base}/big")).await,
            Err(FetchError::TooLarge(5 * 1024))
        );
        assert_eq!(f.fetch_json(&format!("{base}/array")).await, Err(FetchError::NotJson));
        assert_eq!(
            f.fetch_json(&format!("{base}/moved")).await,
            Err(FetchError::Status(307))
        );
        assert!(matches!(
            f.fetch_json(&format!("{base}/slow")).await,
            Err(FetchError::Unreachable(_))
        ));
    }

    #[tokio::test]
    async fn only_https_to_public_addresses() {
        let base = server().await;
        // Without the development switch, loopback http is refused before connecting.
        let strict = Fetcher::default();
        assert_eq!(
            strict.fetch_json(&format!("{base}/doc")).await,
            Err(FetchError::Url("it must be an https URL"))
        );
        for url in [
            "https://127.0.0.1/doc",
            "https://localhost/doc",
            "https://10.0.0.1/doc",
            "https://[::1]/doc",
            "https://169.254.169.254/latest",
        ] {
            assert_eq!(strict.fetch_json(url).await, Err(FetchError::NotPublic), "{url}");
        }
        assert_eq!(
            strict.fetch_json("https://user:pw@example.com/doc").await,
            Err(FetchError::Url("it must have no user information and no fragment"))
        );
        // The switch covers 127.0.0.1 over http only, not other hosts.
        let dev = loopback();
        assert_eq!(
            dev.fetch_json("http://localhost:1/doc").await,
            Err(FetchError::Url("it must be an https URL"))
        );
    }
}
