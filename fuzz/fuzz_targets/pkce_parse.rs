//! Verifier, challenge and method parsing: never a panic; whatever parses round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixie_core::{token_pkce, ChallengeMethod, CodeChallenge, CodeVerifier};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = ChallengeMethod::parse(&s);
    if let Ok(v) = CodeVerifier::parse(&s) {
        assert_eq!(v.as_str(), &*s);
        for m in ChallengeMethod::ALL {
            let c = CodeChallenge::from_verifier(&v, m);
            assert!(c.verify(&v));
            let again = CodeChallenge::parse(m, &c.value()).expect("a computed challenge parses");
            assert!(token_pkce(Some(&again), Some(&s)).is_ok());
        }
    }
    for m in ChallengeMethod::ALL {
        if let Ok(c) = CodeChallenge::parse(m, &s) {
            assert_eq!(c.value(), &*s, "parsing keeps the wire form");
            let _ = token_pkce(Some(&c), Some(&s));
        }
    }
});
