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

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ace_coap::{
    Code, Config, Endpoint, Error, FnResource, Handled, Message, OuterBlockwise, PeerIdentity,
    Router, SecurityLayer,
};
use libfuzzer_sys::fuzz_target;

const OSCORE: u16 = 9;
const BLOCK2: u16 = 23;
const BLOCK1: u16 = 27;
const SIZE2: u16 = 28;
const SIZE1: u16 = 60;
const MAX_BODY: usize = 4096;
const LIMITS: [usize; 8] = [0, 16, 64, 100, 256, 1024, 4096, 65536];

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

fn check_usage(server: &Endpoint<FakeOscore>) {
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
    let layer = FakeOscore {
        policy: (cfg & 0x80 == 0).then_some(policy),
        allow_unprotected: cfg & 0x40 != 0,
        last_unprotected: None,
    };
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
    while let [peer, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;
        let from = SocketAddr::from(([127, 0, 0, 1], 40000 + u16::from(*peer % 4)));
        server.security_mut().last_unprotected = None;
        let _ = server.handle_datagram(now, from, datagram);
        if let Some(got) = server.security_mut().last_unprotected
            && policy_on(&cfg)
        {
            // Reassembled messages are bounded; a message that arrived whole is as large as
            // its datagram allows.
            assert!(
                got <= max_unfragmented.min(MAX_BODY) || got < datagram.len(),
                "unprotect got {got} bytes (limit {max_unfragmented}, datagram {})",
                datagram.len()
            );
        }
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
            let m = ace_oscore::Packet::decode(&buf)
                .expect("the server sends well-formed messages")
                .message;
            if m.option(OSCORE).is_some()
                && let Some(b2) = m.option(BLOCK2).and_then(ace_coap::BlockOption::decode)
            {
                assert!(m.payload.len() <= b2.size(), "outer block larger than SZX");
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

fn policy_on(cfg: &u8) -> bool {
    cfg & 0x80 == 0
}
