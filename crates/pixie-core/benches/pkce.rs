//! Criterion benchmarks of the PKCE hot path: S256 verify and the policy decision.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pixie_core::{authorize_pkce, token_pkce, ChallengeMethod, CodeChallenge, CodeVerifier, EnvPkcePolicy, PkceParams};

const V: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const C: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn bench(c: &mut Criterion) {
    let challenge = CodeChallenge::parse(ChallengeMethod::S256, C).unwrap();
    let verifier = CodeVerifier::parse(V).unwrap();
    c.bench_function("s256_verify", |b| {
        b.iter(|| black_box(&challenge).verify(black_box(&verifier)))
    });
    c.bench_function("token_pkce_s256", |b| {
        b.iter(|| token_pkce(Some(black_box(&challenge)), Some(black_box(V))))
    });
    let env = EnvPkcePolicy::strict();
    c.bench_function("authorize_pkce_strict_s256", |b| {
        b.iter(|| {
            authorize_pkce(
                black_box(&env),
                &Default::default(),
                true,
                PkceParams {
                    code_challenge: Some(black_box(C)),
                    code_challenge_method: Some("S256"),
                },
            )
        })
    });
    c.bench_function("generate_verifier_43", |b| {
        b.iter(|| CodeVerifier::generate(&mut rand_core::OsRng, 43))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
