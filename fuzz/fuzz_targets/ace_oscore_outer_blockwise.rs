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

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ace_coap::{
    Code, Config, Endpoint, Error, FnResource, Handled, Message, OuterBlockwise, Router,
};
use ace_crypto::backend::fuzzing::AcceptAll;
use ace_oscore::coap::OscoreLayer;
use ace_oscore::{ContextParams, ContextSet, MemorySequenceStore, SecurityContext};
use libfuzzer_sys::fuzz_target;

const OSCORE: u16 = 9;
const BLOCK2: u16 = 23;
const MAX_BODY: usize = 4096;
const LIMITS: [usize; 8] = [0, 16, 64, 100, 256, 1024, 4096, 65536];

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

fn router() -> Router {
    Router::new()
        .mount(
            "/a",
            FnResource::new(|_| Message::response(Code::CONTENT, "a").into()),
        )
        .mount(
            "/obs",
            FnResource::new(|_| Message::response(Code::CONTENT, vec![5u8; 200]).into())
                .observable(),
        )
        .mount(
            "/big",
            FnResource::new(|_| Message::response(Code::CONTENT, vec![7u8; 3000]).into())
                .observable(),
        )
        .mount(
            "/up",
            FnResource::new(|r| Message::response(Code::CHANGED, r.payload().to_vec()).into())
                .methods(&[Code::POST, Code::PUT, Code::FETCH]),
        )
        .mount("/later", FnResource::new(|_| Handled::Deferred))
}

fn check_usage(server: &Endpoint<Layer>) {
    let c = server.config();
    let u = server.usage();
    assert!(u.peers <= c.max_peers, "{u:?}");
    assert!(u.dedup_entries <= c.max_dedup_total, "{u:?}");
    assert!(u.dedup_reply_bytes <= c.max_dedup_reply_bytes, "{u:?}");
    assert!(u.observers <= c.max_observers, "{u:?}");
    assert!(u.block1_assemblies <= c.max_block1_assemblies, "{u:?}");
    assert!(u.block2_cached <= c.max_block2_cache.max(1), "{u:?}");
    assert!(u.deferred <= c.max_deferred, "{u:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let max_unfragmented = LIMITS[usize::from(cfg & 7)];
    let policy = OuterBlockwise::new(max_unfragmented).fragment_responses(cfg & 8 != 0);
    let mut contexts = ContextSet::new();
    contexts.insert(SecurityContext::new(AcceptAll, server_params()).expect("C.1.2 derives"));
    let layer = OscoreLayer::new(contexts, MemorySequenceStore::default())
        .with_outer_blockwise((cfg & 0x80 == 0).then_some(policy))
        .allow_unprotected(cfg & 0x40 != 0);
    let config = Config {
        block_szx: (cfg >> 4) & 3,
        max_body_size: MAX_BODY,
        max_peers: 4,
        max_dedup_per_peer: 8,
        max_observers: 4,
        max_block1_assemblies: 3,
        max_block1_per_peer: 2,
        max_block2_cache: 3,
        max_deferred: 2,
        ..Config::default()
    };
    let mut server = Endpoint::with_security(config, router(), layer, [0; 32]);
    let mut client = Endpoint::new(Config::default(), Router::new(), [1; 32]);
    let server_addr: SocketAddr = "127.0.0.1:5683".parse().expect("literal");
    let mut now = Instant::now();
    let mut buf = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while let [peer, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;
        let from = SocketAddr::from(([127, 0, 0, 1], 40000 + u16::from(*peer % 4)));
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
            .is_some_and(|mid| seen.insert((from, [mid[0], mid[1]])));
        let protected_request = protected_request.filter(|_| fresh);
        let _ = server.handle_datagram(now, from, datagram);
        match peer >> 5 {
            1 => {
                server.notify(now, "/obs");
            }
            2 => {
                server.notify(now, "/big");
            }
            3 => {
                now += Duration::from_secs(u64::from(*len));
                server.handle_timeout(now);
            }
            _ => {}
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            let p =
                ace_oscore::Packet::decode(&buf).expect("the server sends well-formed messages");
            let answer = p.ty == ace_oscore::MessageType::Acknowledgement
                && t.destination == from
                && protected_request
                    .as_ref()
                    .is_some_and(|(mid, token)| *mid == p.message_id && *token == p.token);
            let m = p.message;
            if m.option(OSCORE).is_some()
                && let Some(b2) = m.option(BLOCK2).and_then(ace_coap::BlockOption::decode)
            {
                assert!(m.payload.len() <= b2.size(), "outer block larger than SZX");
            }
            if answer && m.code >> 5 == 2 && m.option(OSCORE).is_none() {
                // Only the engine's own outer block-wise answers go out unprotected.
                assert_eq!(m.code, 0x5f, "unprotected success answer: {m:?}");
            }
            let r = client.handle_datagram(now, server_addr, &buf);
            assert!(
                !matches!(r, Err(Error::Malformed(_))),
                "server sent a malformed message"
            );
            while client.poll_transmit(now, &mut buf).is_some() {}
        }
        let _ = server.poll_timeout();
        while server.poll_event().is_some() {}
        while client.poll_event().is_some() {}
        check_usage(&server);
    }
});
