//! Fuzz target: verifying arbitrary Group OSCORE messages with a fixed group context
//! (draft-ietf-core-oscore-groupcomm §6.2, §6.4, §7.2, §7.4).
//!
//! The input is a CoAP datagram. It is handed (1) to a P-256 group context (group and
//! pairwise mode) with the real RustCrypto backend, where nothing forged may be accepted,
//! and (2) to the same context over a backend that accepts any signature and any AEAD tag,
//! so that the fuzzer also reaches plaintext decoding, the replay window, bounded recipient
//! contexts and the response path. No input may panic; every error maps to a response code.

#![no_main]

use std::sync::Arc;

use ace_crypto::KeyType;
use ace_crypto::backend::fuzzing::AcceptAll;
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::Packet;
use group_oscore::testing;
use group_oscore::{GroupContext, Mode, RequestMode};
use libfuzzer_sys::fuzz_target;

const GID: &[u8] = b"\xdd\x11";

fn setup<B: group_oscore::GroupBackend + Copy>(backend: B) -> (GroupContext<B>, GroupContext<B>) {
    let a = testing::member(KeyType::P256, b"\x25", 0x31).expect("member");
    let b = testing::member(KeyType::P256, b"\x52", 0x32).expect("member");
    let store = Arc::new(testing::store(GID, &[&a, &b]).expect("store"));
    let server = GroupContext::new(
        backend,
        testing::params(&b, GID).with_max_recipients(1),
        store.clone(),
    )
    .expect("context");
    let client = GroupContext::new(backend, testing::params(&a, GID), store).expect("context");
    (server, client)
}

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::decode(data) else {
        return;
    };
    let msg = packet.message;

    // (1) real crypto: nothing the fuzzer builds may verify.
    let (mut server, _) = setup(RustCrypto);
    match server.unprotect_request(&msg) {
        Ok(_) => panic!("forged request accepted"),
        Err(e) => {
            let r = e.to_response();
            assert!(r.code >> 5 == 4 || r.code >> 5 == 5);
        }
    }

    // (2) everything accepted: exercise the code after verification.
    let (mut server, mut client) = setup(AcceptAll);
    match server.unprotect_request(&msg) {
        Ok(mut v) => {
            assert!(
                server.unprotect_request(&msg).is_err(),
                "replay must be detected"
            );
            for mode in [Mode::Group, Mode::Pairwise] {
                let _ =
                    server.protect_response(&mut v.binding, &ace_oscore::Message::new(0x45), mode);
            }
        }
        Err(e) => {
            let _ = e.to_response();
        }
    }
    for mode in [RequestMode::Group, RequestMode::Pairwise(b"\x52".to_vec())] {
        if let Ok(sent) = client.protect_request(&ace_oscore::Message::new(1), &mode) {
            let mut b = sent.binding;
            let mut resp = msg.clone();
            if resp.is_request() {
                resp.code = 0x45;
            }
            let first = client.unprotect_response(&mut b, &resp);
            if first.is_ok() {
                assert!(
                    client.unprotect_response(&mut b, &resp).is_err(),
                    "response replay"
                );
            }
        }
    }
});
