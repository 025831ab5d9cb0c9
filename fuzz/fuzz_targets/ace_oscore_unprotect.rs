//! Fuzz target: verifying arbitrary messages with a fixed security context (RFC 8613 §8.2,
//! §8.4).
//!
//! The input is a CoAP datagram. It is handed (1) to a server `ContextSet` holding the
//! RFC 8613 C.1.2 context, with the real RustCrypto backend, where nothing unauthenticated
//! may ever be accepted; and (2) to the same context over an "accept any tag" backend, so
//! that the fuzzer also reaches plaintext decoding, Echo handling, the replay window and the
//! response path. No input may panic; every error maps to a CoAP response code.

#![no_main]

use ace_crypto::backend::fuzzing::AcceptAll as AcceptAnyTag;
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::{ContextParams, ContextSet, Packet, RequestOutcome, SecurityContext};
use libfuzzer_sys::fuzz_target;

fn server_params() -> ContextParams {
    let secret = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
    ContextParams::new(
        &secret,
        &[0x9e, 0x7c, 0xa9, 0x22, 0x23, 0x78, 0x63, 0x40],
        &[0x01],
        &[],
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::decode(data) else {
        return;
    };
    let msg = packet.message;

    // (1) real crypto: only the RFC C.4 request would authenticate; anything the fuzzer
    // builds must be rejected or be exactly that request.
    let mut real = ContextSet::new();
    real.insert(SecurityContext::new(RustCrypto, server_params()).expect("C.1.2 derives"));
    if let Err(e) = real.unprotect_request(&msg) {
        let r = e.to_response();
        assert!(r.code >> 5 == 4 || r.code >> 5 == 5);
    }

    // (2) any tag accepted: exercise everything after decryption, fresh and restored.
    for restored in [false, true] {
        let ctx = if restored {
            SecurityContext::restore(AcceptAnyTag, server_params(), 100, b"echo-val")
        } else {
            SecurityContext::new(AcceptAnyTag, server_params())
        }
        .expect("derives");
        let mut set = ContextSet::new();
        set.insert(ctx);
        match set.unprotect_request(&msg) {
            Ok((i, RequestOutcome::Accepted(mut v))) => {
                let ctx = set.get_mut(i).expect("index");
                // replay must now be detected
                assert!(ctx.unprotect_request(&msg).is_err());
                let _ = ctx.protect_response(&mut v.binding, &ace_oscore::Message::new(0x45));
            }
            Ok((
                i,
                RequestOutcome::EchoRequired {
                    mut binding,
                    response,
                },
            )) => {
                let ctx = set.get_mut(i).expect("index");
                let out = ctx
                    .protect_response(&mut binding, &response)
                    .expect("echo response protects");
                assert!(
                    out.message.option(9).is_some_and(|o| !o.is_empty()),
                    "Echo response carries a Partial IV"
                );
            }
            Err(e) => {
                let _ = e.to_response();
            }
        }
        // and as a response to a fixed request
        let mut client =
            SecurityContext::new(AcceptAnyTag, server_params().peer()).expect("derives");
        if let Ok(sent) = client.protect_request(&ace_oscore::Message::new(1)) {
            let mut b = sent.binding;
            let mut resp = msg.clone();
            if resp.is_request() {
                resp.code = 0x45;
            }
            let _ = client.unprotect_response(&mut b, &resp);
            let _ = client.unprotect_response(&mut b, &resp);
        }
    }
});
