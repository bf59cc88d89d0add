//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! CONTRACT §7): a `client_id` that is an `https://` URL with a path names the client's
//! own metadata document. These are the decisions about one: which ids are document
//! URLs, whether a fetched document describes the client it claims to, and how long
//! it is kept. Fetching it is the server's business.

use serde_json::Value;

use crate::client::{AuthMethod, ClientMetadata};
use crate::registration::metadata_from_registration;

/// The longest document URL accepted as a `client_id`.
pub const MAX_DOCUMENT_URL_LEN: usize = 2000;
/// The shortest time a fetched document is kept, whatever its caching headers say.
pub const MIN_CACHE_SECONDS: i64 = 60;
/// The longest time a fetched document is kept, whatever its caching headers say.
pub const MAX_CACHE_SECONDS: i64 = 24 * 3600;

/// Whether `client_id` is the URL of a metadata document: `https://host/path` (a path
/// other than `/`), no user information, query or fragment, no `.` or `..` segment
/// (nor `%2e`). The server also requires the URL in its canonical form.
/// With `loopback_http` (development and tests only) `http://127.0.0.1:<port>/path` too.
pub fn is_document_url(client_id: &str, loopback_http: bool) -> bool {
    let rest = match client_id.strip_prefix("https://") {
        Some(rest) => rest,
        None if loopback_http => match client_id.strip_prefix("http://127.0.0.1:") {
            Some(rest) => rest,
            None => return false,
        },
        None => return false,
    };
    if client_id.len() > MAX_DOCUMENT_URL_LEN
        || client_id
            .bytes()
            .any(|b| !b.is_ascii_graphic() || matches!(b, b'?' | b'#' | b'\\'))
    {
        return false;
    }
    let Some((authority, path)) = rest.split_once('/') else {
        return false;
    };
    // A dot segment, also percent-encoded (`%2e%2e`), would let a URL under one path
    // name a document under another.
    !authority.is_empty()
        && !authority.contains('@')
        && !path.is_empty()
        && !path.to_ascii_lowercase().contains("%2e")
        && path.split('/').all(|segment| segment != "." && segment != "..")
}

/// The metadata of the client a fetched document describes, or why the document is
/// refused. The document must name itself (`client_id` equal to the URL it was fetched
/// from, exactly), and a document cannot carry a secret: the client is public
/// (`token_endpoint_auth_method` `none`, or left out). The other fields follow
/// registration's rules ([`metadata_from_registration`]); the client is a third party.
pub fn metadata_from_document(document: &Value, url: &str, env_scopes: &[String]) -> Result<ClientMetadata, String> {
    let Some(fields) = document.as_object() else {
        return Err("the document is not a JSON object".into());
    };
    match fields.get("client_id") {
        Some(Value::String(id)) if id == url => {}
        Some(Value::String(_)) => return Err("its client_id is not the URL it was fetched from".into()),
        _ => return Err("it has no client_id".into()),
    }
    if fields.contains_key("client_secret") || fields.contains_key("client_secret_expires_at") {
        return Err("it carries a client_secret (a document is public; a secret in it is no secret)".into());
    }
    match fields.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) if m == "none" => {}
        Some(_) => {
            return Err(
                "token_endpoint_auth_method: only none is accepted for a client identified by a document".into(),
            )
        }
    }
    let mut body = document.clone();
    body["token_endpoint_auth_method"] = Value::String("none".into());
    // Registration's own PKCE escape hatches do not apply to documents either.
    let metadata = metadata_from_registration(&body, env_scopes).map_err(|e| e.description)?;
    debug_assert_eq!(metadata.token_endpoint_auth_method, AuthMethod::None);
    Ok(metadata)
}

/// How long a document fetched `now` is kept: its `Cache-Control: max-age` (none, or
/// `no-store`/`no-cache`, count as nothing), within [`MIN_CACHE_SECONDS`] and
/// [`MAX_CACHE_SECONDS`]. Returns the time it expires.
pub fn cached_until(now: i64, max_age: Option<u64>) -> i64 {
    let age = max_age.map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX));
    now + age.clamp(MIN_CACHE_SECONDS, MAX_CACHE_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "https://app.example/oauth/client.json";

    fn scopes() -> Vec<String> {
        ["openid", "files:read"].map(String::from).to_vec()
    }

    #[test]
    fn which_ids_are_document_urls() {
        for yes in [URL, "https://app.example:8443/c", "https://[2001:db8::1]/c"] {
            assert!(is_document_url(yes, false), "{yes}");
        }
        for no in [
            "my-client",
            "https://app.example",
            "https://app.example/",
            "http://app.example/c",
            "https://app.example/c?x=1",
            "https://app.example/c#x",
            "https://user@app.example/c",
            "https://app.example/a/../c",
            "https://app.example/./c",
            "https://app.example/legit/%2e%2e/attacker/c.json",
            "https://app.example/legit/%2E./c",
            "https://app.example/c d",
            "https:///c",
            "http://127.0.0.1:8080/c",
        ] {
            assert!(!is_document_url(no, false), "{no}");
        }
        assert!(is_document_url("http://127.0.0.1:8080/c", true));
        assert!(!is_document_url("http://localhost:8080/c", true));
        assert!(!is_document_url(
            &format!("https://a.example/{}", "x".repeat(2000)),
            false
        ));
    }

    #[test]
    fn a_document_names_itself_and_is_public() {
        let doc = json!({"client_id": URL, "client_name": "Agent", "redirect_uris": ["http://127.0.0.1/cb"],
                         "grant_types": ["authorization_code", "refresh_token"], "logo_uri": "https://x/l.png"});
        let m = metadata_from_document(&doc, URL, &scopes()).unwrap();
        assert!(m.is_public() && m.self_registered && m.require_consent);
        assert_eq!(m.client_name, "Agent");
        assert_eq!(m.scope, "openid files:read");

        let other = json!({"client_id": "https://evil.example/c", "redirect_uris": ["https://evil.example/cb"]});
        assert!(metadata_from_document(&other, URL, &scopes())
            .unwrap_err()
            .contains("not the URL"));
        let no_id = json!({"redirect_uris": ["https://app.example/cb"]});
        assert!(metadata_from_document(&no_id, URL, &scopes()).is_err());
        for refused in [
            json!({"client_id": URL, "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
            json!({"client_id": URL, "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_jwt"}),
            json!({"client_id": URL, "redirect_uris": ["https://app.example/cb"], "client_secret": "s3cret"}),
            json!({"client_id": URL, "redirect_uris": ["http://app.example/cb"]}),
            json!({"client_id": URL}),
            json!([URL]),
        ] {
            assert!(metadata_from_document(&refused, URL, &scopes()).is_err(), "{refused}");
        }
    }

    #[test]
    fn documents_are_kept_between_a_minute_and_a_day() {
        assert_eq!(cached_until(1000, None), 1060);
        assert_eq!(cached_until(1000, Some(5)), 1060);
        assert_eq!(cached_until(1000, Some(600)), 1600);
        assert_eq!(cached_until(1000, Some(10 * 86_400)), 1000 + 86_400);
        assert_eq!(cached_until(1000, Some(u64::MAX)), 1000 + 86_400);
    }
}
