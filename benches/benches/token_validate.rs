//! CWT validation bench (ace-token): full `Validator::validate` of a COSE_Sign1 CWT (size check,
//! CBOR decode, header checks, key resolution, signature, claims decode and policy checks) next
//! to its limit, the bare signature verification of the same `Sig_structure` bytes with a
//! prepared key (`bare`). Groups `es256` (p256) and `eddsa` (ed25519-dalek `verify_strict`,
//! which `ace-crypto` uses). Goal: `validate / bare` ≤ 1.10. `cargo xtask bench` prints the ratio.

use std::hint::black_box;

use ace_benches::BASELINE_ID;
use ace_token::cose::{CoseMessage, parse_token};
use ace_token::testing;
use ace_token::{Algorithm, Issuer, KeySet, Policy, RustCrypto, TokenKey, UnixTime, Validator};
use criterion::{Criterion, criterion_group, criterion_main};
use p256::ecdsa::signature::Verifier as _;

const NOW: UnixTime = UnixTime(1_700_000_000);

/// The token and its Sig_structure + signature, as the bare verification sees them.
fn token_and_tbs(
    alg: Algorithm,
    key: &ace_token::PrivateKey,
    kid: &[u8],
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let token = Issuer::new(&RustCrypto)
        .sign1(&testing::claims_for(NOW), alg, key, Some(kid))
        .expect("issues");
    let (_, msg) = parse_token(&token).expect("parses");
    let CoseMessage::Sign1(m) = msg else {
        unreachable!("issued a Sign1")
    };
    (token.clone(), m.tbs_data(&[]), m.signature.clone())
}

fn bench_es256(c: &mut Criterion) {
    let sk = testing::es256_private().expect("fixed key");
    let (token, tbs, sig) = token_and_tbs(Algorithm::ES256, &sk, b"es256");
    let keys = KeySet::new()
        .with(TokenKey::public(testing::es256_public().expect("fixed key")).with_kid(*b"es256"));
    let validator = Validator::new(Policy::new("rs1").with_issuer("as"));
    validator
        .validate(&token, NOW, &keys, &RustCrypto)
        .expect("valid token");

    let sec1 = testing::es256_public()
        .expect("fixed key")
        .to_sec1_uncompressed()
        .expect("P-256");
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).expect("valid key");
    let signature = p256::ecdsa::Signature::from_slice(&sig).expect("64 bytes");
    vk.verify(&tbs, &signature).expect("valid signature");

    let mut group = c.benchmark_group("es256");
    group.bench_function("validate", |b| {
        b.iter(|| black_box(validator.validate(black_box(&token), NOW, &keys, &RustCrypto)).is_ok())
    });
    group.bench_function(BASELINE_ID, |b| {
        b.iter(|| black_box(vk.verify(black_box(&tbs), black_box(&signature))).is_ok())
    });
    group.finish();
}

fn bench_eddsa(c: &mut Criterion) {
    let sk = testing::ed25519_private().expect("fixed key");
    let (token, tbs, sig) = token_and_tbs(Algorithm::EdDSA, &sk, b"ed25519");
    let keys = KeySet::new().with(
        TokenKey::public(testing::ed25519_public().expect("fixed key")).with_kid(*b"ed25519"),
    );
    let validator = Validator::new(Policy::new("rs1").with_issuer("as"));
    validator
        .validate(&token, NOW, &keys, &RustCrypto)
        .expect("valid token");

    let pk: [u8; 32] = testing::from_hex(testing::ED25519_PUB)
        .try_into()
        .expect("32 bytes");
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk).expect("valid key");
    let signature = ed25519_dalek::Signature::from_slice(&sig).expect("64 bytes");
    vk.verify_strict(&tbs, &signature).expect("valid signature");

    let mut group = c.benchmark_group("eddsa");
    group.bench_function("validate", |b| {
        b.iter(|| black_box(validator.validate(black_box(&token), NOW, &keys, &RustCrypto)).is_ok())
    });
    group.bench_function(BASELINE_ID, |b| {
        b.iter(|| black_box(vk.verify_strict(black_box(&tbs), black_box(&signature))).is_ok())
    });
    group.finish();
}

criterion_group!(benches, bench_es256, bench_eddsa);
criterion_main!(benches);
