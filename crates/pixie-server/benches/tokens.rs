//! Criterion benchmarks of token signing and checking: the crypto floor of a flow.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pixie_core::client::SigningAlg;
use pixie_server::jwt;
use pixie_server::keys::SigningKey;
use serde_json::json;

fn bench(c: &mut Criterion) {
    let claims = json!({"iss": "https://id.example/default", "sub": "u", "aud": "c", "exp": 2_000_000_000, "iat": 1, "jti": "j", "scope": "openid"});
    for alg in [SigningAlg::ES256, SigningAlg::RS256] {
        let (key, _) = SigningKey::generate(alg).unwrap();
        let token = jwt::sign(&key, "at+jwt", &claims).unwrap();
        c.bench_function(&format!("jwt_sign_{}", alg.as_str()), |b| {
            b.iter(|| jwt::sign(&key, "at+jwt", black_box(&claims)))
        });
        c.bench_function(&format!("jwt_verify_{}", alg.as_str()), |b| {
            b.iter(|| jwt::verify(&key, "at+jwt", black_box(&token)))
        });
    }
    c.bench_function("argon2id_verify", |b| {
        let h = pixie_server::crypto::hash_password("correct horse").unwrap();
        b.iter(|| pixie_server::crypto::verify_password(black_box("correct horse"), &h))
    });
    c.bench_function("random_code_256bit", |b| {
        b.iter(pixie_server::crypto::random_token::<32>)
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
