//! The driver shared by the `ace-coap` engine targets (`ace_coap_datagram`,
//! `ace_coap_outer_blockwise`, `ace_oscore_outer_blockwise`), included by each with
//! `#[path = "common/mod.rs"] mod common;` (not a target of its own).
//!
//! The input is split into datagrams (`[peer:u8][len:u8][bytes…]`, repeated); each is fed
//! to the server endpoint, and by `peer >> 5` the fuzzer also triggers notifications of
//! `/obs` and `/big` and timers. Every datagram the server sends is fed to a client
//! endpoint, which must accept it as well-formed.

#![allow(dead_code)] // each target uses its own part of it

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ace_coap::{
    Code, Config, Endpoint, Error, FnResource, Handled, Message, OuterBlockwise, Router,
    SecurityLayer, Transmit,
};

pub const OSCORE: u16 = 9;
pub const BLOCK2: u16 = 23;
pub const MAX_BODY: usize = 4096;
/// MAX_UNFRAGMENTED_SIZE values picked by `cfg & 7`.
pub const LIMITS: [usize; 8] = [0, 16, 64, 100, 256, 1024, 4096, 65536];

/// The router of the outer block-wise targets.
pub fn blockwise_router() -> Router {
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

/// The server configuration of the outer block-wise targets (`cfg` picks the block size).
pub fn blockwise_config(cfg: u8) -> Config {
    Config {
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
    }
}

/// The server of the outer block-wise targets over `layer` (`cfg` picks the block size).
pub fn blockwise_server<S: SecurityLayer>(cfg: u8, layer: S) -> Endpoint<S> {
    Endpoint::with_security(blockwise_config(cfg), blockwise_router(), layer, [0; 32])
}

/// `cfg`'s MAX_UNFRAGMENTED_SIZE (`cfg & 7`, from [`LIMITS`]) and outer block-wise policy
/// (`fragment_responses` by `cfg & 8`; none where `cfg & 0x80` is set).
pub fn outer_policy(cfg: u8) -> (usize, Option<OuterBlockwise>) {
    let max_unfragmented = LIMITS[usize::from(cfg & 7)];
    let policy = OuterBlockwise::new(max_unfragmented).fragment_responses(cfg & 8 != 0);
    (max_unfragmented, (cfg & 0x80 == 0).then_some(policy))
}

/// The engine's tables stay within their configured bounds.
pub fn check_usage<S: SecurityLayer>(server: &Endpoint<S>) {
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

/// Decodes a datagram the server sent (it must be well-formed) and checks that an OSCORE
/// message's outer Block2 block is no larger than its SZX says.
pub fn decode_checking_outer_block2(buf: &[u8]) -> ace_oscore::Packet {
    let p = ace_oscore::Packet::decode(buf).expect("the server sends well-formed messages");
    let m = &p.message;
    if m.option(OSCORE).is_some()
        && let Some(b2) = m.option(BLOCK2).and_then(ace_coap::BlockOption::decode)
    {
        assert!(m.payload.len() <= b2.size(), "outer block larger than SZX");
    }
    p
}

/// What a target checks around the shared loop; every hook does nothing by default.
pub trait Hooks<S: SecurityLayer> {
    /// Before the server handles `datagram` from `from`.
    fn before(&mut self, _server: &mut Endpoint<S>, _from: SocketAddr, _datagram: &[u8]) {}
    /// After the server handled `datagram`.
    fn after(&mut self, _server: &mut Endpoint<S>, _datagram: &[u8]) {}
    /// For each datagram the server sends (`buf`), before the client gets it; `from` is the
    /// peer of the round's input datagram.
    fn sent(&mut self, _from: SocketAddr, _transmit: &Transmit, _buf: &[u8]) {}
    /// At the end of each round.
    fn end_of_round(&mut self, _server: &Endpoint<S>) {}
}

/// No extra checks.
pub struct NoHooks;

impl<S: SecurityLayer> Hooks<S> for NoHooks {}

/// The input's datagrams: `(peer, len, bytes)` from `[peer:u8][len:u8][bytes…]`, repeated
/// (the last one cut short where the input ends).
pub fn datagrams(mut rest: &[u8]) -> impl Iterator<Item = (u8, u8, &[u8])> {
    std::iter::from_fn(move || {
        let [peer, len, tail @ ..] = rest else {
            return None;
        };
        let n = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;
        Some((*peer, *len, datagram))
    })
}

/// A client endpoint that gets every datagram the server sends.
pub struct Relay {
    client: Endpoint,
    server_addr: SocketAddr,
    buf: Vec<u8>,
}

impl Relay {
    pub fn new() -> Self {
        Self {
            client: Endpoint::new(Config::default(), Router::new(), [1; 32]),
            server_addr: "127.0.0.1:5683".parse().expect("literal"),
            buf: Vec::new(),
        }
    }

    /// Hands all the server sends to the client (after `sent` looked at it), which must
    /// find it well-formed; then polls both sides' timers and events.
    pub fn flush<S: SecurityLayer>(
        &mut self,
        server: &mut Endpoint<S>,
        now: Instant,
        mut sent: impl FnMut(&Transmit, &[u8]),
    ) {
        let client = &mut self.client;
        let buf = &mut self.buf;
        while let Some(t) = server.poll_transmit(now, buf) {
            sent(&t, buf);
            let r = client.handle_datagram(now, self.server_addr, buf);
            assert!(
                !matches!(r, Err(Error::Malformed(_))),
                "server sent a malformed message"
            );
            while client.poll_transmit(now, buf).is_some() {}
        }
        let _ = server.poll_timeout();
        while server.poll_event().is_some() {}
        while client.poll_event().is_some() {}
    }
}

/// Feeds `data` (see [`datagrams`]) to `server`, the peer address picked by `peer % peers`,
/// and relays all it sends to a client endpoint.
pub fn drive<S: SecurityLayer>(
    server: &mut Endpoint<S>,
    data: &[u8],
    peers: u8,
    hooks: &mut impl Hooks<S>,
) {
    let mut relay = Relay::new();
    let mut now = Instant::now();
    for (peer, len, datagram) in datagrams(data) {
        let from = SocketAddr::from(([127, 0, 0, 1], 40000 + u16::from(peer % peers)));
        hooks.before(server, from, datagram);
        let _ = server.handle_datagram(now, from, datagram);
        hooks.after(server, datagram);
        match peer >> 5 {
            1 => {
                server.notify(now, "/obs");
            }
            2 => {
                server.notify(now, "/big");
            }
            3 => {
                now += Duration::from_secs(u64::from(len));
                server.handle_timeout(now);
            }
            _ => {}
        }
        relay.flush(server, now, |t, buf| hooks.sent(from, t, buf));
        hooks.end_of_round(server);
    }
}
