//! Client metadata JSON and redirect URI matching: never a panic; exact matches always
//! match, and loopback matching never crosses hosts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixie_core::client::{redirect_uri_matches, validate_redirect_uri, ClientMetadata};
use pixie_core::EnvPkcePolicy;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<ClientMetadata>(data) {
        let _ = m.validate(&EnvPkcePolicy::strict());
        let _ = m.validate(&EnvPkcePolicy::permissive());
    }
    let s = String::from_utf8_lossy(data);
    let _ = validate_redirect_uri(&s);
    let (a, b) = s.split_once(' ').unwrap_or((&s, ""));
    assert!(redirect_uri_matches(a, a));
    if redirect_uri_matches(a, b) && a != b {
        // Only loopback URIs match inexactly, and only on the same loopback host.
        assert!(a.starts_with("http://") && b.starts_with("http://"));
        let host = |u: &str| {
            u[7..]
                .split(['/', '?'])
                .next()
                .unwrap_or("")
                .rsplit_once(':')
                .map_or(u[7..].split(['/', '?']).next().unwrap_or("").to_owned(), |(h, _)| {
                    h.to_owned()
                })
        };
        assert_eq!(host(a).trim_end_matches(']'), host(b).trim_end_matches(']'));
    }
});
