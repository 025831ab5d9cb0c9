//! Fuzz target: `ace-oscore`'s `OscoreLayer` with outer block-wise (RFC 8613 §4.1.3.4.2)
//! over the `ace-coap` server engine.
//!
//! The layer holds one fixed context (RFC 8613 C.1.2, server side: Recipient ID empty) over
//! the "accept any tag" backend, so the fuzzer reaches decryption's output (the plaintext is
//! the ciphertext without its 8-byte tag), the replay window, inner block-wise and
//! protection of responses, after the engine's outer Block1 reassembly; responses can be
//! cut into outer Block2 blocks (`fragment_responses`).
//!
//! Input: `[cfg:u8]` then datagrams (`[peer:u8][len:u8][bytes…]`, repeated); `cfg` picks
//! MAX_UNFRAGMENTED_SIZE, `fragment_responses`, the block size, outer block-wise on/off and
//! whether unprotected requests pass. Invariants: no panic; every datagram sent is a
//! well-formed CoAP message (client endpoint, `ace_oscore::Packet::decode`); an OSCORE
//! response's outer Block2 block is no larger than its SZX says; an answer to a protected
//! request that is itself not protected is an error (4.xx/5.xx) or a 2.31 Continue / outer
//! Block2 block; the engine's tables stay within their configured bounds.

#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::net::SocketAddr;

use ace_coap::{Endpoint, Transmit};
use ace_crypto::backend::fuzzing::AcceptAll;
use ace_oscore::coap::OscoreLayer;
use ace_oscore::{ContextParams, ContextSet, MemorySequenceStore, SecurityContext};
use common::{Hooks, OSCORE};
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

type Layer = OscoreLayer<AcceptAll>;

/// Tracks protected requests and checks what answers them; the tables.
#[derive(Default)]
struct Checks {
    /// (peer, message ID) of the requests seen so far.
    seen: HashSet<(SocketAddr, [u8; 2])>,
    /// (message ID, token) of the piggybacked answer to this round's protected request.
    protected_request: Option<(u16, Vec<u8>)>,
}

impl Hooks<Layer> for Checks {
    fn before(&mut self, _server: &mut Endpoint<Layer>, from: SocketAddr, datagram: &[u8]) {
        // A CON request carrying the OSCORE option with a fresh message ID (not answered
        // from the deduplication cache): (message ID, token) of its piggybacked answer.
        let protected_request = ace_oscore::Packet::decode(datagram)
            .ok()
            .filter(|p| {
                p.ty == ace_oscore::MessageType::Confirmable
                    && p.message.is_request()
                    && p.message.option(OSCORE).is_some()
            })
            .map(|p| (p.message_id, p.token));
        let fresh = datagram
            .get(2..4)
            .is_some_and(|mid| self.seen.insert((from, [mid[0], mid[1]])));
        self.protected_request = protected_request.filter(|_| fresh);
    }

    fn sent(&mut self, from: SocketAddr, t: &Transmit, buf: &[u8]) {
        let p = common::decode_checking_outer_block2(buf);
        let answer = p.ty == ace_oscore::MessageType::Acknowledgement
            && t.destination == from
            && self
                .protected_request
                .as_ref()
                .is_some_and(|(mid, token)| *mid == p.message_id && *token == p.token);
        let m = p.message;
        if answer && m.code >> 5 == 2 && m.option(OSCORE).is_none() {
            // Only the engine's own outer block-wise answers go out unprotected.
            assert_eq!(m.code, 0x5f, "unprotected success answer: {m:?}");
        }
    }

    fn end_of_round(&mut self, server: &Endpoint<Layer>) {
        common::check_usage(server);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let (_, policy) = common::outer_policy(cfg);
    let mut contexts = ContextSet::new();
    contexts.insert(SecurityContext::new(AcceptAll, server_params()).expect("C.1.2 derives"));
    let layer = OscoreLayer::new(contexts, MemorySequenceStore::default())
        .with_outer_blockwise(policy)
        .allow_unprotected(cfg & 0x40 != 0);
    let mut server = common::blockwise_server(cfg, layer);
    common::drive(&mut server, rest, 4, &mut Checks::default());
});
