//! Fuzz target: datagram → response path of the `ace-server` RS (an `ace-coap` endpoint
//! with `/authz-info` and the protected demo resources, in-memory stores).
//!
//! The first input byte selects the mode: even → the rest is a stream of datagrams
//! (`[peer:u8][len:u8][bytes…]`, as in `ace_coap_datagram`); odd → the rest is the payload
//! of a CON POST to `/authz-info` (Content-Format `application/ace+cbor` or none), so the
//! token/authz-info decoders see unframed bytes. Every response must be a well-formed CoAP
//! message (checked by feeding it to a client endpoint), and nothing may panic.

#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ace_coap::{Config, Endpoint, PlainCoap, Router};
use ace_core::MemoryAcceptedTokens;
use ace_server::demo::{self, DemoState};
use ace_server::{ManualClock, RsService};
use ace_token::UnixTime;
use ace_token::crypto::{CryptoBackend, KeyType, PrivateKey};
use libfuzzer_sys::fuzz_target;

fn authz_info_post(payload: &[u8], with_cf: bool) -> Vec<u8> {
    // CON POST, TKL 4, MID 0x1234, token, Uri-Path "authz-info" (delta 11, len 10),
    // Content-Format 19 (delta 1, len 1), payload.
    let mut m = vec![0x44, 0x02, 0x12, 0x34, 1, 2, 3, 4, 0xBA];
    m.extend_from_slice(b"authz-info");
    if with_cf {
        m.extend_from_slice(&[0x11, 19]);
    }
    if !payload.is_empty() {
        m.push(0xFF);
        m.extend_from_slice(payload);
    }
    m
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    // A fixed AS key (the fuzzer cannot forge signatures; it exercises every refusal path).
    let as_key = PrivateKey::from_bytes(KeyType::P256, &[7u8; 32]).expect("valid scalar");
    let as_public = ace_token::RustCrypto
        .public_key(&as_key)
        .expect("public key");
    let engine = ace_server::local::rs_engine(
        as_public,
        "coap://as.example/token",
        Box::new(MemoryAcceptedTokens::new()),
    );
    let rs = RsService::new(engine)
        .with_clock(Arc::new(ManualClock::new(UnixTime(1_800_000_000))))
        .with_sink(Arc::new(ace_server::LogEffects));
    let router = demo::mount(&rs, Router::new(), &DemoState::default());
    let config = Config {
        max_body_size: 4096,
        max_peers: 4,
        max_dedup_per_peer: 8,
        ..Config::default()
    };
    let mut server = Endpoint::with_security(config, router, PlainCoap, [0; 32]);
    let mut relay = common::Relay::new();
    let mut now = Instant::now();
    let mut datagrams: Vec<(u8, Vec<u8>)> = Vec::new();
    if mode % 2 == 1 {
        datagrams.push((0, authz_info_post(rest, mode & 2 == 2)));
    } else {
        datagrams.extend(common::datagrams(rest).map(|(peer, _, d)| (peer, d.to_vec())));
    }
    for (peer, datagram) in datagrams {
        let from = SocketAddr::from(([127, 0, 0, 1], 40000 + u16::from(peer % 8)));
        let _ = server.handle_datagram(now, from, &datagram);
        if peer >> 5 == 3 {
            now += Duration::from_secs(u64::from(peer & 0x1f));
            server.handle_timeout(now);
            let _ = rs.expire();
        }
        relay.flush(&mut server, now, |_, _| {});
    }
});
