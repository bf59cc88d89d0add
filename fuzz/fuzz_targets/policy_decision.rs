//! The authorization-time and token-time decisions over arbitrary policies and
//! parameters, with the contract's invariants checked on every outcome.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pixie_core::{authorize_pkce, token_pkce, ClientPkcePolicy, EnvPkcePolicy, PkceParams, PolicyMode};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    env: EnvPkcePolicy,
    client: ClientPkcePolicy,
    public: bool,
    params: PkceParams<'a>,
    verifier: Option<&'a str>,
}

fuzz_target!(|input: Input<'_>| {
    if input.env.validate().is_err() || input.client.validate(&input.env).is_err() {
        return;
    }
    match authorize_pkce(&input.env, &input.client, input.public, input.params) {
        Ok(out) => {
            if input.env.mode == PolicyMode::Enforce {
                assert!(out.would_reject.is_none(), "enforce mode lets nothing through");
                if !input.env.required.is_empty() {
                    let m = out.recorded.as_ref().expect("required PKCE was recorded").method();
                    assert!(input.env.required.contains(m));
                }
                if let Some(m) = input.client.code_challenge_method {
                    assert_eq!(out.recorded.as_ref().map(|c| c.method()), Some(m));
                }
            }
            if let Some(c) = &out.recorded {
                assert!(
                    input.env.allowed.contains(c.method()),
                    "only allowed methods are recorded"
                );
                assert!(input.params.code_challenge.is_some());
            }
            if let Some(v) = &out.would_reject {
                assert!(v.rule.is_requirement());
            }
            let token = token_pkce(out.recorded.as_ref(), input.verifier);
            if out.recorded.is_none() && input.verifier.is_some() {
                assert!(token.is_err(), "a verifier without a challenge is a downgrade");
            }
            if out.recorded.is_some() && input.verifier.is_none() {
                assert!(token.is_err(), "a recorded challenge obliges the verifier");
            }
        }
        Err(r) => {
            assert!(r.rule.check_number().is_some());
            assert!(
                r.error.description.contains("code_challenge"),
                "the description names the parameter"
            );
        }
    }
});
