//! Fuzz target: the datagram → response path of the `ace-coap` server engine.
//!
//! The input is split into datagrams (`[peer:u8][len:u8][bytes…]`, repeated); each is fed
//! to a server endpoint with a small router (plain, observable, block-wise upload and
//! download, deferred). Between datagrams the fuzzer also triggers notifications and
//! timers. Every datagram the server sends is fed to a client endpoint, which must accept
//! it as well-formed: the server never panics and never emits a malformed message.

#![no_main]

#[path = "common/mod.rs"]
mod common;

use ace_coap::{Code, Config, Endpoint, FnResource, Handled, Message, Router};
use libfuzzer_sys::fuzz_target;

fn router() -> Router {
    Router::new()
        .mount(
            "/a",
            FnResource::new(|_| Message::response(Code::CONTENT, "a").into()),
        )
        .mount(
            "/obs",
            FnResource::new(|_| Message::response(Code::CONTENT, "o").into()).observable(),
        )
        .mount(
            "/big",
            FnResource::new(|_| Message::response(Code::CONTENT, vec![7u8; 3000]).into())
                .observable(),
        )
        .mount(
            "/up",
            FnResource::new(|r| Message::response(Code::CHANGED, r.payload().to_vec()).into())
                .methods(&[Code::POST, Code::PUT]),
        )
        .mount("/later", FnResource::new(|_| Handled::Deferred))
}

fuzz_target!(|data: &[u8]| {
    let config = Config {
        max_body_size: 4096,
        max_peers: 4,
        max_dedup_per_peer: 8,
        max_observers: 4,
        ..Config::default()
    };
    let mut server = Endpoint::new(config, router(), [0; 32]);
    common::drive(&mut server, data, 8, &mut common::NoHooks);
});
