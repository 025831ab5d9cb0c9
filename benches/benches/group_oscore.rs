//! Group OSCORE bench (draft-ietf-core-oscore-groupcomm).
//!
//! Group `group_mode`: a client protects a 64-byte request in group mode (EdDSA, Ed25519,
//! AES-CCM-16-64-128) and a server verifies it (`protect_unprotect`), next to `bare`: the
//! same Ed25519 sign + verify over an input of the Countersign_structure's size and the same
//! AES-CCM seal + open of the 64-byte plaintext with an AAD of the Enc_structure's size.
//! The ratio is Group OSCORE's processing around the crypto (option, external_aad, keystream
//! HKDF, replay window). Goal: at most 1.2.
//!
//! Group `pairwise`: the same request in pairwise mode (P-256 keys, pairwise keys derived
//! once before the loop) next to `bare` = plain ace-oscore (RFC 8613) protect + unprotect of
//! the same request.
//!
//! Every iteration uses a fresh Partial IV, so the replay windows accept every message.

use std::hint::black_box;
use std::sync::Arc;

use ace_benches::BASELINE_ID;
use ace_oscore::consts::{code, option};
use ace_oscore::crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::crypto::{AeadBackend, Algorithm, CryptoBackend, KeyType, SignBackend};
use ace_oscore::{ContextParams, Message, RequestOutcome, SecurityContext, SequenceConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use group_oscore::testing;
use group_oscore::{GroupContext, RequestMode};

const GID: &[u8] = b"\x37\xcb\xf3\x21";
const SEQ: SequenceConfig = SequenceConfig {
    reservation_block: 1 << 30,
};

fn request() -> Message {
    Message::new(code::POST)
        .with_option(option::URI_PATH, b"t".to_vec())
        .with_payload(vec![0x5a_u8; 60])
}

fn pair(kind: KeyType) -> (GroupContext<RustCrypto>, GroupContext<RustCrypto>) {
    let a = testing::member(kind, b"\x01", 7).expect("member");
    let b = testing::member(kind, b"\x02", 8).expect("member");
    let store = Arc::new(testing::store(GID, &[&a, &b]).expect("store"));
    let mk = |m: &testing::Member| {
        GroupContext::new(
            RustCrypto,
            testing::params(m, GID).with_sequence_config(SEQ),
            store.clone(),
        )
        .expect("context")
    };
    (mk(&a), mk(&b))
}

fn bench_group_mode(c: &mut Criterion) {
    let (mut client, mut server) = pair(KeyType::Ed25519);
    let req = request();
    // Sizes of the real structures, for the baseline.
    let sample = client
        .protect_request(&req, &RequestMode::Group)
        .expect("protects");
    let raw = sample
        .message
        .option(option::OSCORE)
        .expect("option")
        .to_vec();
    let aad_array = client.aad_array(
        client.sender_id(),
        sample.binding.partial_iv(),
        GID,
        &raw,
        client.own_credential().bytes(),
    );
    let enc_len = aad_array.len() + 13; // Enc_structure around it (1 + 9 + 1 + 2)
    let ct_len = sample.message.payload.len() - 64;
    let cs_len = aad_array.len() + ct_len + 27; // Countersign_structure around both
    let mut plaintext = vec![code::POST, 0xb1, b't', 0xff];
    plaintext.extend_from_slice(&req.payload);
    assert_eq!(plaintext.len(), 64);
    let sk = testing::member(KeyType::Ed25519, b"\x09", 9).expect("member");
    let pk = RustCrypto.public_key(&sk.private_key).expect("pk");
    let enc = vec![0u8; enc_len];
    let to_sign = vec![0x42u8; cs_len];
    let (key, nonce) = ([7u8; 16], [3u8; 13]);

    let mut group = c.benchmark_group("group_mode");
    group.bench_function("protect_unprotect", |b| {
        b.iter(|| {
            let sent = client
                .protect_request(black_box(&req), &RequestMode::Group)
                .expect("protects");
            black_box(
                server
                    .unprotect_request(black_box(&sent.message))
                    .expect("verifies"),
            )
        })
    });
    group.bench_function(BASELINE_ID, |b| {
        b.iter(|| {
            let a = Algorithm::AES_CCM_16_64_128;
            let ct = RustCrypto
                .seal(a, &key, &nonce, &enc, black_box(&plaintext))
                .expect("seals");
            let sig = RustCrypto
                .sign(Algorithm::EdDSA, &sk.private_key, black_box(&to_sign))
                .expect("signs");
            RustCrypto
                .verify(Algorithm::EdDSA, &pk, black_box(&to_sign), &sig)
                .expect("verifies");
            black_box(RustCrypto.open(a, &key, &nonce, &enc, &ct).expect("opens"))
        })
    });
    group.finish();
}

fn bench_pairwise(c: &mut Criterion) {
    let (mut client, mut server) = pair(KeyType::P256);
    let req = request();
    let mode = RequestMode::Pairwise(b"\x02".to_vec());
    // derive the pairwise keys on both sides before measuring
    let first = client.protect_request(&req, &mode).expect("protects");
    server.unprotect_request(&first.message).expect("verifies");

    let params = ContextParams::new(&[1; 16], &[2; 8], b"", b"\x01").with_sequence_config(SEQ);
    let mut oc = SecurityContext::new(RustCrypto, params.clone()).expect("derives");
    let mut os = SecurityContext::new(RustCrypto, params.peer()).expect("derives");

    let mut group = c.benchmark_group("pairwise");
    group.bench_function("protect_unprotect", |b| {
        b.iter(|| {
            let sent = client
                .protect_request(black_box(&req), &mode)
                .expect("protects");
            black_box(
                server
                    .unprotect_request(black_box(&sent.message))
                    .expect("verifies"),
            )
        })
    });
    group.bench_function(BASELINE_ID, |b| {
        b.iter(|| {
            let sent = oc.protect_request(black_box(&req)).expect("protects");
            match os
                .unprotect_request(black_box(&sent.message))
                .expect("verifies")
            {
                RequestOutcome::Accepted(v) => black_box(v),
                RequestOutcome::EchoRequired { .. } => unreachable!("fresh context"),
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_group_mode, bench_pairwise);
criterion_main!(benches);
