//! Criterion benchmarks of the PKCE hot path: S256 verify, the policy decision, and the
//! repeated-parameter check of every request.
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
    // A 64 KiB token body of ~17k distinct names: the repeat check that runs on every
    // token and authorization request (it was quadratic: 180 ms for this body).
    let body: String = (0..17_000).map(|i| format!("p{i}=&")).collect();
    let params = pixie_core::params::Params::parse(body.as_bytes());
    c.bench_function("first_repeated_17k_names", |b| {
        b.iter(|| black_box(&params).first_repeated())
    });
    c.bench_function("generate_verifier_43", |b| {
        b.iter(|| CodeVerifier::generate(&mut rand_core::OsRng, 43))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
