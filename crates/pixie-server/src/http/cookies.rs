//! The flow and session cookies: `HttpOnly`, `SameSite=Lax`, and under https `Secure`
//! with the `__Host-` prefix. One of each per environment.

use axum::http::{header, HeaderMap, HeaderValue};

/// Which cookie.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Binds a pending authorization to the user agent that started it.
    Flow,
    /// A signed-on user.
    Session,
}

/// The cookie's name for an environment.
pub fn name(kind: Kind, env_id: &str, secure: bool) -> String {
    let base = match kind {
        Kind::Flow => "pixie_flow",
        Kind::Session => "pixie_session",
    };
    if secure {
        format!("__Host-{base}_{env_id}")
    } else {
        format!("{base}_{env_id}")
    }
}

/// The value of a cookie, if present and shaped like one of ours (base64url, ≤ 64).
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A `Set-Cookie` value.
pub fn set(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    // Our names and values are ASCII tokens: this cannot fail.
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("pixie_invalid=; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_shape() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; pixie_flow_default=abc-_9; b=2"),
        );
        assert_eq!(get(&h, "pixie_flow_default").as_deref(), Some("abc-_9"));
        assert_eq!(get(&h, "missing"), None);
        h.insert(header::COOKIE, HeaderValue::from_static("pixie_flow_default=<script>"));
        assert_eq!(get(&h, "pixie_flow_default"), None);
        assert_eq!(name(Kind::Session, "acme", true), "__Host-pixie_session_acme");
        let v = set("n", "v", 60, true);
        assert_eq!(
            v.to_str().unwrap(),
            "n=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
    }
}
