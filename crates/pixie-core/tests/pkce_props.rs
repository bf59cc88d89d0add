//! Property tests: generated verifiers verify, any change breaks them, nothing panics.

use pixie_core::pkce::{MAX_LEN, MIN_LEN};
use pixie_core::{authorize_pkce, token_pkce, ChallengeMethod, CodeChallenge, CodeVerifier, EnvPkcePolicy, PkceParams};
use proptest::prelude::*;
use rand_core::{CryptoRng, RngCore};

/// A deterministic RNG for proptest: proptest picks the seed, so failures reproduce.
struct SeededRng(u64);
impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        // splitmix64: fine for tests; production uses the OS CSPRNG.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for SeededRng {}

const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

fn method() -> impl Strategy<Value = ChallengeMethod> {
    prop_oneof![Just(ChallengeMethod::Plain), Just(ChallengeMethod::S256)]
}

proptest! {
    #[test]
    fn generated_verifiers_verify(seed: u64, len in MIN_LEN..=MAX_LEN, m in method()) {
        let v = CodeVerifier::generate(&mut SeededRng(seed), len).unwrap();
        prop_assert_eq!(v.as_str().len(), len);
        let c = CodeChallenge::from_verifier(&v, m);
        prop_assert!(c.verify(&v));
        // The wire form round-trips through the parser.
        let reparsed = CodeChallenge::parse(m, &c.value()).unwrap();
        prop_assert!(reparsed.verify(&CodeVerifier::parse(v.as_str()).unwrap()));
        prop_assert!(token_pkce(Some(&reparsed), Some(v.as_str())).is_ok());
    }

    #[test]
    fn any_one_character_change_fails(seed: u64, len in MIN_LEN..=MAX_LEN, m in method(), pos: prop::sample::Index, ch: prop::sample::Index) {
        let v = CodeVerifier::generate(&mut SeededRng(seed), len).unwrap();
        let c = CodeChallenge::from_verifier(&v, m);
        let mut bytes = v.as_str().as_bytes().to_vec();
        let i = pos.index(bytes.len());
        let mut replacement = UNRESERVED[ch.index(UNRESERVED.len())];
        if replacement == bytes[i] {
            replacement = if replacement == b'A' { b'B' } else { b'A' };
        }
        bytes[i] = replacement;
        let changed = CodeVerifier::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
        prop_assert!(!c.verify(&changed));
        prop_assert!(token_pkce(Some(&c), Some(changed.as_str())).is_err());
    }

    #[test]
    fn parsers_never_panic(s in ".{0,200}", m in method()) {
        let _ = CodeVerifier::parse(&s);
        let _ = CodeChallenge::parse(m, &s);
        let _ = ChallengeMethod::parse(&s);
    }

    #[test]
    fn parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = CodeVerifier::parse(&s);
        for m in ChallengeMethod::ALL {
            let _ = CodeChallenge::parse(m, &s);
        }
    }

    #[test]
    fn valid_verifiers_are_exactly_the_rfc_grammar(s in "[A-Za-z0-9._~-]{0,140}") {
        prop_assert_eq!(CodeVerifier::parse(&s).is_ok(), (MIN_LEN..=MAX_LEN).contains(&s.len()));
    }

    #[test]
    fn decisions_never_panic(c in proptest::option::of(".{0,140}"), m in proptest::option::of(".{0,10}"), v in proptest::option::of(".{0,140}")) {
        for env in [EnvPkcePolicy::strict(), EnvPkcePolicy::permissive()] {
            let params = PkceParams { code_challenge: c.as_deref(), code_challenge_method: m.as_deref() };
            if let Ok(out) = authorize_pkce(&env, &Default::default(), true, params) {
                let _ = token_pkce(out.recorded.as_ref(), v.as_deref());
            }
        }
    }
}

proptest! {
    /// The repeated-parameter check agrees with the obvious quadratic one: the first
    /// name, in order, that was already seen.
    #[test]
    fn first_repeated_matches_the_quadratic_oracle(names in proptest::collection::vec("[a-e]{1,2}", 0..40)) {
        let params = pixie_core::params::Params::from_pairs(names.iter().map(|n| (n.as_str(), "v")));
        let oracle = names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
            .map(|(_, n)| n.as_str());
        prop_assert_eq!(params.first_repeated(), oracle);
    }
}
