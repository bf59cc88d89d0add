//! Token request bodies and Authorization headers: client authentication and the code
//! checks never panic; a Basic header is never mistaken for a public client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixie_core::client::AuthMethod;
use pixie_core::params::Params;
use pixie_core::token::{check_code, presented_client, CodeBinding};
use pixie_core::{ChallengeMethod, CodeChallenge};

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (Some(String::from_utf8_lossy(&data[..i]).into_owned()), &data[i + 1..]),
        None => (None, data),
    };
    let params = Params::parse(body);
    if let Ok(c) = presented_client(header.as_deref(), &params) {
        if header.is_some() {
            assert_eq!(c.method, AuthMethod::ClientSecretBasic);
        }
        assert!(!c.client_id.is_empty());
    }
    let ch = CodeChallenge::parse(ChallengeMethod::S256, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap();
    for challenge in [None, Some(&ch)] {
        let b = CodeBinding {
            redirect_uri: "https://app.example/cb",
            redirect_uri_sent: true,
            challenge,
        };
        let _ = check_code(&b, &params);
    }
});
