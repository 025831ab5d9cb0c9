//! Fuzz target: outer block-wise (RFC 8613 §4.1.3.4.2) in the `ace-coap` server engine.
//!
//! The server runs with a stand-in security layer that asks for outer block-wise
//! (`SecurityLayer::outer_blockwise`) and "unprotects" a request carrying the OSCORE option
//! by dropping it (and the outer block options) and reading the inner code and inner
//! Block1/Block2 from the payload (`[code][len][Block1][len][Block2]` inner payload);
//! "protect" does the reverse (inner Block1/Block2/Size2 move into the payload). So the engine's outer Block1 reassembly
//! before `unprotect`, the outer Block2 cutting and caching after `protect`, and their
//! interplay with inner block-wise, deduplication, Observe and timers are reached without
//! crypto.
//!
//! Input: `[cfg:u8]` then datagrams (`[peer:u8][len:u8][bytes…]`, repeated, as in
//! `ace_coap_datagram`); `cfg` picks MAX_UNFRAGMENTED_SIZE, `fragment_responses`, the block
//! size and whether unprotected requests pass. Invariants: no panic; a message handed to
//! `unprotect` is within MAX_UNFRAGMENTED_SIZE / `max_body_size` unless it arrived whole in
//! one datagram; every datagram sent is a well-formed CoAP message (the client endpoint
//! and `ace_oscore::Packet::decode` accept it); an outer Block2 block is no larger than its
//! SZX says; the engine's tables stay within their configured bounds.

#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::net::SocketAddr;

use ace_coap::{Code, Endpoint, Message, OuterBlockwise, PeerIdentity, SecurityLayer};
use common::{BLOCK2, Hooks, MAX_BODY, OSCORE};
use libfuzzer_sys::fuzz_target;

const BLOCK1: u16 = 27;
const SIZE2: u16 = 28;
const SIZE1: u16 = 60;

/// The stand-in OSCORE layer (see the module docs).
struct FakeOscore {
    policy: Option<OuterBlockwise>,
    allow_unprotected: bool,
    /// Payload length of the last protected message handed to `unprotect`.
    last_unprotected: Option<usize>,
}

impl SecurityLayer for FakeOscore {
    type Context = bool;

    fn unprotect(
        &mut self,
        _peer: SocketAddr,
        mut request: Message,
    ) -> Result<(Message, PeerIdentity, bool), Message> {
        if !request.options.contains(OSCORE) {
            return if self.allow_unprotected {
                Ok((request, PeerIdentity::Anonymous, false))
            } else {
                Err(Message::new(Code::UNAUTHORIZED))
            };
        }
        self.last_unprotected = Some(request.payload.len());
        // Outer block options are class U: what is left of them is not the inner message's.
        for n in [BLOCK1, BLOCK2, SIZE1, SIZE2] {
            request.options.remove(n);
        }
        // "Plaintext": [code][len][inner Block1][len][inner Block2] payload.
        let Some((&code, mut rest)) = request.payload.split_first() else {
            return Err(Message::new(Code::BAD_REQUEST));
        };
        for n in [BLOCK1, BLOCK2] {
            let Some((&len, tail)) = rest.split_first() else {
                break;
            };
            let (value, tail) = tail.split_at(usize::from(len).min(tail.len()));
            if len > 0 {
                request.options.set(n, value.to_vec());
            }
            rest = tail;
        }
        request.options.remove(OSCORE);
        request.code = Code(code);
        request.payload = rest.to_vec();
        let identity = PeerIdentity::Oscore {
            sender_id: vec![1],
            id_context: None,
        };
        Ok((request, identity, true))
    }

    fn protect(
        &mut self,
        _peer: SocketAddr,
        mut response: Message,
        protected: &mut bool,
    ) -> Result<Message, Message> {
        if !*protected {
            return Ok(response);
        }
        // Class E options go into the "ciphertext" ([code][len][Block1][len][Block2][len]
        // [Size2] payload), as OSCORE encrypts them.
        let mut payload = vec![response.code.0];
        for n in [BLOCK1, BLOCK2, SIZE2] {
            let value = response.options.get(n).unwrap_or_default().to_vec();
            payload.push(u8::try_from(value.len()).expect("at most 4 bytes"));
            payload.extend_from_slice(&value);
            response.options.remove(n);
        }
        payload.extend_from_slice(&response.payload);
        response.payload = payload;
        response.code = Code::CHANGED;
        response.options.set(OSCORE, Vec::new());
        Ok(response)
    }

    fn outer_blockwise(&self) -> Option<OuterBlockwise> {
        self.policy
    }
}

/// Checks what `unprotect` got and, per datagram sent, the outer Block2 size; the tables.
struct Checks {
    cfg: u8,
    max_unfragmented: usize,
}

impl Hooks<FakeOscore> for Checks {
    fn before(&mut self, server: &mut Endpoint<FakeOscore>, _from: SocketAddr, _datagram: &[u8]) {
        server.security_mut().last_unprotected = None;
    }

    fn after(&mut self, server: &mut Endpoint<FakeOscore>, datagram: &[u8]) {
        let max_unfragmented = self.max_unfragmented;
        if let Some(got) = server.security_mut().last_unprotected
            && policy_on(&self.cfg)
        {
            // Reassembled messages are bounded; a message that arrived whole is as large as
            // its datagram allows.
            assert!(
                got <= max_unfragmented.min(MAX_BODY) || got < datagram.len(),
                "unprotect got {got} bytes (limit {max_unfragmented}, datagram {})",
                datagram.len()
            );
        }
    }

    fn sent(&mut self, _from: SocketAddr, _transmit: &ace_coap::Transmit, buf: &[u8]) {
        common::decode_checking_outer_block2(buf);
    }

    fn end_of_round(&mut self, server: &Endpoint<FakeOscore>) {
        common::check_usage(server);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let (max_unfragmented, policy) = common::outer_policy(cfg);
    let layer = FakeOscore {
        policy,
        allow_unprotected: cfg & 0x40 != 0,
        last_unprotected: None,
    };
    let mut server = common::blockwise_server(cfg, layer);
    let mut checks = Checks {
        cfg,
        max_unfragmented,
    };
    common::drive(&mut server, rest, 4, &mut checks);
});

fn policy_on(cfg: &u8) -> bool {
    cfg & 0x80 == 0
}
