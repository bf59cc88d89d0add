//! Authorization request parameters, as a query string: never a panic, and whatever is
//! accepted is within the client's registration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixie_core::authorize::{client_and_redirect, resolve_redirect_uri, validate};
use pixie_core::client::ClientMetadata;
use pixie_core::params::Params;
use pixie_core::EnvPkcePolicy;

fuzz_target!(|data: &[u8]| {
    let client: ClientMetadata = serde_json::from_str(
        r#"{"redirect_uris":["https://app.example/cb","http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","scope":"openid email"}"#,
    )
    .unwrap();
    let params = Params::parse(data);
    let Ok(r) = client_and_redirect(&params) else { return };
    if let Ok((uri, _)) = resolve_redirect_uri(&client, r.redirect_uri) {
        assert!(client
            .redirect_uris
            .iter()
            .any(|reg| pixie_core::client::redirect_uri_matches(reg, &uri)));
    }
    for env in [EnvPkcePolicy::strict(), EnvPkcePolicy::permissive()] {
        if let Ok(req) = validate(&params, &client, &env) {
            assert!(req.scopes.iter().all(|s| client.allows_scope(s)));
            assert!(params.first_repeated().is_none());
        }
    }
});
