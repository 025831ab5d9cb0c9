//! Fuzz target: the datagram → response path of the `ace-coap` server engine.
//!
//! The input is split into datagrams (`[peer:u8][len:u8][bytes…]`, repeated); each is fed
//! to a server endpoint with a small router (plain, observable, block-wise upload and
//! download, deferred). Between datagrams the fuzzer also triggers notifications and
//! timers. Every datagram the server sends is fed to a client endpoint, which must accept
//! it as well-formed: the server never panics and never emits a malformed message.

#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ace_coap::{Code, Config, Endpoint, Error, FnResource, Handled, Message, Router};
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
    let mut client = Endpoint::new(Config::default(), Router::new(), [1; 32]);
    let server_addr: SocketAddr = "127.0.0.1:5683".parse().expect("literal");
    let mut now = Instant::now();
    let mut buf = Vec::new();
    let mut rest = data;
    while let [peer, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;
        let from = SocketAddr::from(([127, 0, 0, 1], 40000 + u16::from(*peer % 8)));
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
        while server.poll_transmit(now, &mut buf).is_some() {
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
    }
});
