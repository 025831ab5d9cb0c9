//! OSCORE (RFC 8613) bench: protect a 64-byte request on the client and verify it on the
//! server (`protect_unprotect_64B`), next to its limit, AES-CCM-16-64-128 seal + open of the
//! same 64 bytes through ace-crypto's RustCrypto backend (`bare`).
//!
//! "64-byte request" = the unprotected request as OSCORE encrypts it (RFC 8613 §5.3
//! plaintext): Code (1) + Uri-Path "t" (2) + payload marker (1) + 60-byte payload = 64 bytes;
//! `bare` seals and opens exactly those 64 bytes with a 20-byte AAD, the size of the OSCORE
//! AAD here, so the ratio is the cost of OSCORE's processing around the AEAD.
//! `cargo xtask bench` prints `protect_unprotect_64B / bare` (goal: at most 1.5).
//!
//! Each iteration uses a fresh Partial IV (the client's sequence number advances), so the
//! server's replay window accepts every message, as in real use.

use std::hint::black_box;

use ace_benches::BASELINE_ID;
use ace_oscore::consts::{code, option};
use ace_oscore::crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::crypto::{AeadBackend, Algorithm};
use ace_oscore::{ContextParams, Message, RequestOutcome, SecurityContext, SequenceConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench_oscore(c: &mut Criterion) {
    let params =
        ContextParams::new(&[1; 16], &[2; 8], b"", b"\x01").with_sequence_config(SequenceConfig {
            reservation_block: 1 << 30,
        });
    let mut client = SecurityContext::new(RustCrypto, params.clone()).expect("derives");
    let mut server = SecurityContext::new(RustCrypto, params.peer()).expect("derives");
    let request = Message::new(code::POST)
        .with_option(option::URI_PATH, b"t".to_vec())
        .with_payload(vec![0x5a_u8; 60]);
    // The same 64 bytes the OSCORE path encrypts (Code, Uri-Path option, 0xff, payload).
    let mut payload = vec![code::POST, 0xb1, b't', 0xff];
    payload.extend_from_slice(&request.payload);
    assert_eq!(payload.len(), 64);

    let mut group = c.benchmark_group("oscore");
    group.bench_function("protect_unprotect_64B", |b| {
        b.iter(|| {
            let sent = client
                .protect_request(black_box(&request))
                .expect("protects");
            match server
                .unprotect_request(black_box(&sent.message))
                .expect("verifies")
            {
                RequestOutcome::Accepted(v) => black_box(v),
                RequestOutcome::EchoRequired { .. } => unreachable!("fresh context"),
            }
        })
    });
    let key = [7u8; 16];
    let nonce = [3u8; 13];
    let aad = [0u8; 20];
    group.bench_function(BASELINE_ID, |b| {
        b.iter(|| {
            let ct = RustCrypto
                .seal(
                    Algorithm::AES_CCM_16_64_128,
                    &key,
                    &nonce,
                    &aad,
                    black_box(&payload),
                )
                .expect("seals");
            black_box(
                RustCrypto
                    .open(
                        Algorithm::AES_CCM_16_64_128,
                        &key,
                        &nonce,
                        &aad,
                        black_box(&ct),
                    )
                    .expect("opens"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench_oscore);
criterion_main!(benches);
