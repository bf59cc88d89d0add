//! Every combination of environment policy × client policy × client type × request,
//! checked against a small oracle written straight from CONTRACT §3's text, not from
//! the core's code.

use pixie_core::{
    authorize_pkce, ChallengeMethod, ClientPkcePolicy, EnvPkcePolicy, ErrorCode, MethodSet, PkceParams, PolicyMode,
};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const S256_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The requests: (label, code_challenge, code_challenge_method).
const REQUESTS: &[(&str, Option<&str>, Option<&str>)] = &[
    ("none", None, None),
    ("plain implicit", Some(VERIFIER), None),
    ("plain explicit", Some(VERIFIER), Some("plain")),
    ("S256", Some(S256_CHALLENGE), Some("S256")),
    (
        "S256 malformed (padded)",
        Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="),
        Some("S256"),
    ),
    (
        "S256 malformed (short)",
        Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw"),
        Some("S256"),
    ),
    (
        "S256 malformed (alphabet)",
        Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
        Some("S256"),
    ),
    ("plain malformed (short)", Some("abc"), Some("plain")),
    (
        "plain implicit malformed",
        Some("has space and is long enough to pass the length"),
        None,
    ),
    ("empty challenge", Some(""), Some("S256")),
    ("unknown method", Some(S256_CHALLENGE), Some("S512")),
    ("wrong case method", Some(S256_CHALLENGE), Some("s256")),
    ("method without challenge", None, Some("S256")),
    ("unknown method without challenge", None, Some("S512")),
];

/// What the contract says should happen.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// Rejected by check N.
    Reject(u8),
    /// Accepted, recording this method (or none); `would_reject` is check N in report mode.
    Accept {
        recorded: Option<ChallengeMethod>,
        would_reject: Option<u8>,
    },
}

/// The oracle: CONTRACT §3, read line by line.
fn oracle(
    env: &EnvPkcePolicy,
    client: &ClientPkcePolicy,
    public: bool,
    challenge: Option<&str>,
    method: Option<&str>,
) -> Expected {
    // 1. `code_challenge_method` without `code_challenge`, or an unknown method → invalid_request.
    if method.is_some() && challenge.is_none() {
        return Expected::Reject(1);
    }
    if let Some(m) = method {
        if m != "plain" && m != "S256" {
            return Expected::Reject(1);
        }
    }
    let sent: Option<ChallengeMethod> = challenge.map(|_| match method {
        Some("S256") => ChallengeMethod::S256,
        _ => ChallengeMethod::Plain, // absent means plain, RFC 7636 4.3
    });
    // 2. the method is not in `allowed` → invalid_request.
    if let Some(m) = sent {
        if !env.allowed.contains(m) {
            return Expected::Reject(2);
        }
    }
    // 3. `required` is non-empty and no PKCE was sent, or its method is not in `required`.
    let mut requirement: Option<u8> = None;
    if !env.required.is_empty() && sent.is_none_or(|m| !env.required.contains(m)) {
        requirement = Some(3);
    }
    // 4. the client's method is set and differs from what was sent; or `require_pkce` or
    //    `require_for_public_clients` applies and no PKCE was sent.
    if requirement.is_none() {
        let mismatch = client.code_challenge_method.is_some() && client.code_challenge_method != sent;
        let must_send = client.require_pkce || (public && env.require_for_public_clients);
        if mismatch || (must_send && sent.is_none()) {
            requirement = Some(4);
        }
    }
    // `mode: report`: checks 3 and 4 are recorded instead of enforced.
    if let Some(n) = requirement {
        if env.mode == PolicyMode::Enforce {
            return Expected::Reject(n);
        }
    }
    // 5. the challenge is malformed → invalid_request.
    if let (Some(c), Some(m)) = (challenge, sent) {
        let unreserved = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        let ok = match m {
            ChallengeMethod::Plain => (43..=128).contains(&c.len()) && unreserved(c),
            // 32 bytes in unpadded base64url is 43 chars; the last one carries 4 bits of
            // data and 2 zero bits, so it is one of the 16 characters with a zero low pair.
            ChallengeMethod::S256 => {
                let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
                c.len() == 43 && c.bytes().all(alphabet) && "AEIMQUYcgkosw048".contains(&c[42..])
            }
        };
        if !ok {
            return Expected::Reject(5);
        }
    }
    Expected::Accept {
        recorded: sent,
        would_reject: requirement,
    }
}

fn subsets(of: MethodSet) -> Vec<MethodSet> {
    let all = [MethodSet::EMPTY, MethodSet::PLAIN, MethodSet::S256, MethodSet::ALL];
    all.into_iter().filter(|s| s.is_subset(of)).collect()
}

#[test]
fn every_combination_agrees_with_the_oracle() {
    let mut cases = 0;
    let mut seen_outcomes = std::collections::BTreeSet::new();
    for allowed in [MethodSet::PLAIN, MethodSet::S256, MethodSet::ALL] {
        for required in subsets(allowed) {
            for require_for_public_clients in [false, true] {
                for mode in [PolicyMode::Enforce, PolicyMode::Report] {
                    let env = EnvPkcePolicy {
                        allowed,
                        required,
                        require_for_public_clients,
                        mode,
                    };
                    env.validate()
                        .expect("the table only builds valid environment policies");
                    for client_method in [None, Some(ChallengeMethod::Plain), Some(ChallengeMethod::S256)] {
                        for require_pkce in [false, true] {
                            let client = ClientPkcePolicy {
                                code_challenge_method: client_method,
                                require_pkce,
                            };
                            if client.validate(&env).is_err() {
                                continue; // registration refuses it; covered below
                            }
                            for public in [false, true] {
                                for (label, challenge, method) in REQUESTS {
                                    cases += 1;
                                    let expected = oracle(&env, &client, public, *challenge, *method);
                                    let params = PkceParams {
                                        code_challenge: *challenge,
                                        code_challenge_method: *method,
                                    };
                                    let got = match authorize_pkce(&env, &client, public, params) {
                                        Err(r) => {
                                            assert_eq!(r.error.code, ErrorCode::InvalidRequest);
                                            let d = &r.error.description;
                                            assert!(
                                                d.contains("code_challenge"),
                                                "description names no parameter: {d}"
                                            );
                                            Expected::Reject(r.rule.check_number().unwrap())
                                        }
                                        Ok(a) => Expected::Accept {
                                            recorded: a.recorded.map(|c| c.method()),
                                            would_reject: a.would_reject.map(|r| {
                                                assert!(r.rule.is_requirement());
                                                r.rule.check_number().unwrap()
                                            }),
                                        },
                                    };
                                    assert_eq!(
                                        got, expected,
                                        "env {env:?}, client {client:?}, public {public}, request {label}"
                                    );
                                    seen_outcomes.insert(format!("{expected:?}"));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    // The table must reach every kind of outcome, or it is not testing the order.
    for needle in [
        "Reject(1)",
        "Reject(2)",
        "Reject(3)",
        "Reject(4)",
        "Reject(5)",
        "would_reject: Some(3)",
        "would_reject: Some(4)",
        "recorded: Some(S256)",
        "recorded: Some(Plain)",
        "recorded: None",
    ] {
        assert!(
            seen_outcomes.iter().any(|o| o.contains(needle)),
            "no case reached {needle}"
        );
    }
    assert!(cases > 1500, "only {cases} cases");
}

#[test]
fn a_client_method_the_environment_does_not_allow_is_refused() {
    for allowed in [MethodSet::PLAIN, MethodSet::S256] {
        let env = EnvPkcePolicy {
            allowed,
            required: MethodSet::EMPTY,
            ..EnvPkcePolicy::strict()
        };
        for m in ChallengeMethod::ALL {
            let client = ClientPkcePolicy {
                code_challenge_method: Some(m),
                require_pkce: false,
            };
            assert_eq!(client.validate(&env).is_ok(), allowed.contains(m));
        }
    }
}
