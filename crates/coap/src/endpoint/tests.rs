//! Engine tests on a simulated network with a virtual clock: no sockets, no sleeps.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::config::TransmissionParams;
use crate::consts::option;
use crate::message::{BlockOption, Code, Frame, Message, MessageType};
use crate::resource::{FnResource, Handled, PeerIdentity, Request, RequestId};
use crate::security::OuterBlockwise;

const C: &str = "127.0.0.1:40000";
const S: &str = "127.0.0.1:5683";

fn c_addr() -> SocketAddr {
    C.parse().unwrap()
}
fn s_addr() -> SocketAddr {
    S.parse().unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    Deliver,
    Drop,
    Duplicate,
}

type Filter = Box<dyn FnMut(SocketAddr, &Frame) -> Fate>;

/// Two endpoints joined by a simulated network with latency, loss and duplication.
struct Net<S: SecurityLayer = PlainCoap> {
    now: Instant,
    client: Endpoint,
    server: Endpoint<S>,
    latency: Duration,
    queue: VecDeque<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    filter: Filter,
    /// Every datagram sent: (time, from, frame).
    log: Vec<(Instant, SocketAddr, Frame)>,
    events: Vec<Event>,
}

impl Net<PlainCoap> {
    fn new(router: Router) -> Self {
        Self::with(Config::default(), Config::default(), router)
    }
    fn with(client_cfg: Config, server_cfg: Config, router: Router) -> Self {
        Net::with_server(client_cfg, Endpoint::new(server_cfg, router, [7; 32]))
    }
}

impl<S: SecurityLayer> Net<S> {
    fn with_server(client_cfg: Config, server: Endpoint<S>) -> Self {
        Self {
            now: Instant::now(),
            client: Endpoint::new(client_cfg, Router::new(), [9; 32]),
            server,
            latency: Duration::from_millis(10),
            queue: VecDeque::new(),
            filter: Box::new(|_, _| Fate::Deliver),
            log: Vec::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        let mut buf = Vec::new();
        loop {
            let mut any = false;
            while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
                any = true;
                self.emit(c_addr(), t.destination, buf.clone());
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
                any = true;
                self.emit(s_addr(), t.destination, buf.clone());
            }
            while let Some(e) = self.client.poll_event() {
                self.events.push(e);
            }
            if !any {
                break;
            }
        }
    }

    fn emit(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        let frame = Frame::decode(&bytes).expect("engines send well-formed messages");
        let fate = (self.filter)(from, &frame);
        self.log.push((self.now, from, frame));
        let at = self.now + self.latency;
        match fate {
            Fate::Drop => {}
            Fate::Deliver => self.queue.push_back((at, from, to, bytes)),
            Fate::Duplicate => {
                self.queue.push_back((at, from, to, bytes.clone()));
                self.queue.push_back((at + self.latency, from, to, bytes));
            }
        }
    }

    /// Advances to the next delivery or timer. Returns false when nothing is left.
    fn step(&mut self, horizon: Instant) -> bool {
        self.drain();
        let next_delivery = self.queue.iter().map(|q| q.0).min();
        let next_timer = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = [next_delivery, next_timer].into_iter().flatten().min() else {
            return false;
        };
        if next > horizon {
            self.now = self.now.max(horizon);
            return false;
        }
        self.now = self.now.max(next);
        if next_delivery == Some(next) {
            let idx = self.queue.iter().position(|q| q.0 == next).unwrap();
            let (_, from, to, bytes) = self.queue.remove(idx).unwrap();
            if to == s_addr() {
                let _ = self.server.handle_datagram(self.now, from, &bytes);
            } else {
                let _ = self.client.handle_datagram(self.now, from, &bytes);
            }
        } else {
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
        self.drain();
        true
    }

    /// Runs until `done` holds (checked after each step) or `limit` of virtual time passes.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) {
        let end = self.now + limit;
        self.drain();
        while !done(self) && self.now < end {
            if !self.step(end) {
                break;
            }
        }
    }

    /// Runs until the client has an event for `h`, then returns it.
    fn wait(&mut self, h: RequestHandle) -> Event {
        self.run_until(Duration::from_secs(600), |n| {
            n.events.iter().any(|e| handle_of(e) == h)
        });
        let i = self
            .events
            .iter()
            .position(|e| handle_of(e) == h)
            .expect("no event for request");
        self.events.remove(i)
    }

    fn sent_by(&self, from: SocketAddr) -> Vec<&Frame> {
        self.log
            .iter()
            .filter(|(_, f, _)| *f == from)
            .map(|(_, _, fr)| fr)
            .collect()
    }
}

fn handle_of(e: &Event) -> RequestHandle {
    match e {
        Event::Response { handle, .. }
        | Event::Notification { handle, .. }
        | Event::Failed { handle, .. }
        | Event::GroupResponse { handle, .. }
        | Event::GroupDone { handle, .. } => *handle,
    }
}

fn response(e: Event) -> Message {
    match e {
        Event::Response { response, .. } => response,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn counting(
    body: &'static [u8],
    counter: Arc<AtomicUsize>,
) -> FnResource<impl FnMut(&Request) -> Handled + Send> {
    FnResource::new(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Message::response(Code::CONTENT, body).into()
    })
}

fn get(path: &str) -> Message {
    Message::request(Code::GET, path)
}

// ---------------------------------------------------------------- reliability

#[test]
fn piggybacked_response_matches_mid_and_token() {
    let n = Arc::new(AtomicUsize::new(0));
    let mut net = Net::new(Router::new().mount("/hello", counting(b"world", n.clone())));
    let h = net
        .client
        .request(net.now, s_addr(), get("/hello"), true)
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(
        (r.code, r.payload.as_slice()),
        (Code::CONTENT, &b"world"[..])
    );
    let req = net.sent_by(c_addr())[0].clone();
    let ack = net.sent_by(s_addr())[0].clone();
    assert_eq!(req.mtype, MessageType::Confirmable);
    assert_eq!(req.token.len(), 8, "8-byte random tokens");
    assert_eq!(ack.mtype, MessageType::Acknowledgement);
    assert_eq!((ack.mid, &ack.token), (req.mid, &req.token));
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert_eq!(net.client.usage().client_exchanges, 0);
    assert_eq!(net.client.usage().retransmissions, 0);
}

#[test]
fn non_request_gets_non_response() {
    let mut net = Net::new(Router::new().mount("/x", counting(b"x", Arc::default())));
    let h = net
        .client
        .request(net.now, s_addr(), get("/x"), false)
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.code, Code::CONTENT);
    let resp = net.sent_by(s_addr())[0].clone();
    assert_eq!(resp.mtype, MessageType::NonConfirmable);
}

#[test]
fn retransmission_backoff_then_give_up() {
    let mut net = Net::new(Router::new());
    net.filter = Box::new(|from, _| {
        if from == c_addr() {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    let t0 = net.now;
    let h = net.client.request(t0, s_addr(), get("/x"), true).unwrap();
    let e = net.wait(h);
    assert_eq!(
        e,
        Event::Failed {
            handle: h,
            error: Error::Timeout
        }
    );
    let times: Vec<Duration> = net
        .log
        .iter()
        .filter(|(_, f, _)| *f == c_addr())
        .map(|(t, _, _)| *t - t0)
        .collect();
    assert_eq!(
        times.len(),
        5,
        "1 transmission + MAX_RETRANSMIT (4) retransmissions"
    );
    let first = times[1];
    assert!(
        first >= Duration::from_secs(2) && first <= Duration::from_secs(3),
        "initial timeout in [2 s, 3 s]: {first:?}"
    );
    for i in 1..4 {
        let gap = times[i + 1] - times[i];
        let expect = first * (1 << i);
        assert!(
            gap.abs_diff(expect) < Duration::from_millis(1),
            "gap {i} = {gap:?}, expected {expect:?}"
        );
    }
    // give up after the last timeout: t0 + 31 × initial timeout
    let gave_up = net.now - t0;
    assert!(
        gave_up.abs_diff(first * 31) < Duration::from_millis(1),
        "gave up at {gave_up:?}"
    );
    // all retransmissions carry the same MID
    let frames = net.sent_by(c_addr());
    assert!(frames.iter().all(|f| f.mid == frames[0].mid));
    assert_eq!(net.client.stats().retransmissions, 4);
    assert_eq!(net.client.usage().client_exchanges, 0);
}

#[test]
fn duplicate_con_is_answered_from_cache_and_handled_once() {
    let n = Arc::new(AtomicUsize::new(0));
    let mut net = Net::new(Router::new().mount("/c", counting(b"once", n.clone())));
    // Lose the first piggybacked ACK: the client retransmits, the server must not run
    // the handler again but resend the same ACK.
    let mut dropped = false;
    net.filter = Box::new(move |from, _| {
        if from == s_addr() && !dropped {
            dropped = true;
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    let h = net
        .client
        .request(net.now, s_addr(), get("/c"), true)
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.payload, b"once");
    assert_eq!(n.load(Ordering::SeqCst), 1, "handler ran exactly once");
    let acks = net.sent_by(s_addr());
    assert_eq!(acks.len(), 2);
    assert_eq!(
        acks[0], acks[1],
        "the cached response is resent byte for byte"
    );
    assert_eq!(net.server.stats().duplicates, 1);
}

#[test]
fn duplicating_network_delivers_exactly_once() {
    let n = Arc::new(AtomicUsize::new(0));
    let mut net = Net::new(Router::new().mount("/d", counting(b"d", n.clone())));
    net.filter = Box::new(|_, _| Fate::Duplicate);
    let h = net
        .client
        .request(net.now, s_addr(), get("/d"), true)
        .unwrap();
    let _ = net.wait(h);
    net.run_until(Duration::from_secs(10), |_| false);
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert!(net.events.is_empty(), "no second event: {:?}", net.events);
    assert!(net.server.stats().duplicates >= 1);
}

#[test]
fn lossy_duplicating_network_many_requests_complete_once_each() {
    let n = Arc::new(AtomicUsize::new(0));
    let mut net = Net::new(Router::new().mount("/l", counting(b"l", n.clone())));
    let mut i = 0u32;
    // deterministic pattern: drop every 3rd datagram, duplicate every 4th
    net.filter = Box::new(move |_, _| {
        i += 1;
        match i % 12 {
            3 | 6 | 9 | 0 => Fate::Drop,
            4 | 8 => Fate::Duplicate,
            _ => Fate::Deliver,
        }
    });
    let handles: Vec<_> = (0..10)
        .map(|_| {
            net.client
                .request(net.now, s_addr(), get("/l"), true)
                .unwrap()
        })
        .collect();
    for h in handles {
        assert_eq!(response(net.wait(h)).code, Code::CONTENT);
    }
    assert_eq!(n.load(Ordering::SeqCst), 10);
}

#[test]
fn separate_response_empty_ack_then_con() {
    let pending: Arc<Mutex<Vec<RequestId>>> = Arc::default();
    let p2 = pending.clone();
    let router = Router::new().mount(
        "/slow",
        FnResource::new(move |req| {
            p2.lock().unwrap().push(req.id());
            Handled::Deferred
        }),
    );
    let mut net = Net::new(router);
    let h = net
        .client
        .request(net.now, s_addr(), get("/slow"), true)
        .unwrap();
    net.run_until(Duration::from_secs(1), |_| false);
    let sent = net.sent_by(s_addr());
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].mtype, sent[0].msg.code),
        (MessageType::Acknowledgement, Code::EMPTY)
    );
    // the client does not retransmit after the empty ACK
    net.run_until(Duration::from_secs(30), |_| false);
    assert_eq!(net.sent_by(c_addr()).len(), 1);
    let id = pending.lock().unwrap()[0];
    net.server
        .respond(net.now, id, Message::response(Code::CONTENT, "later"))
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.payload, b"later");
    let sep = net.sent_by(s_addr())[1].clone();
    assert_eq!(sep.mtype, MessageType::Confirmable);
    let ack = net.sent_by(c_addr())[1].clone();
    assert_eq!(
        (ack.mtype, ack.mid, ack.msg.code),
        (MessageType::Acknowledgement, sep.mid, Code::EMPTY)
    );
    net.run_until(Duration::from_secs(1), |_| false);
    assert_eq!(
        net.server.usage().retransmissions,
        0,
        "the client's ACK stopped retransmission"
    );
    assert_eq!(
        net.server.respond(net.now, id, Message::new(Code::CONTENT)),
        Err(Error::UnknownHandle)
    );
}

#[test]
fn nstart_one_outstanding_request_per_peer() {
    let mut net = Net::new(Router::new().mount("/n", counting(b"n", Arc::default())));
    let hs: Vec<_> = (0..3)
        .map(|_| {
            net.client
                .request(net.now, s_addr(), get("/n"), true)
                .unwrap()
        })
        .collect();
    net.drain();
    assert_eq!(
        net.sent_by(c_addr()).len(),
        1,
        "NSTART = 1: one request in flight, two queued"
    );
    let mut order = Vec::new();
    for h in &hs {
        let _ = net.wait(*h);
        order.push(net.sent_by(c_addr()).len());
    }
    assert_eq!(
        order,
        vec![2, 3, 3],
        "each request starts when the previous completes"
    );
    // with NSTART = 3 all go at once
    let cfg = Config {
        transmission: TransmissionParams {
            nstart: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut net = Net::with(cfg, Config::default(), Router::new());
    for _ in 0..3 {
        net.client
            .request(net.now, s_addr(), get("/n"), true)
            .unwrap();
    }
    net.drain();
    assert_eq!(net.sent_by(c_addr()).len(), 3);
}

#[test]
fn token_matching_rejects_unknown_and_mismatched_tokens() {
    let mut client = Endpoint::new(Config::default(), Router::new(), [1; 32]);
    let now = Instant::now();
    let mut buf = Vec::new();
    // A CON response with a token we never used → RST.
    let stray = Frame {
        mtype: MessageType::Confirmable,
        mid: 77,
        token: vec![1, 2, 3],
        msg: Message::new(Code::CONTENT),
    };
    client
        .handle_datagram(now, s_addr(), &stray.encode(1152).unwrap())
        .unwrap();
    let _ = client.poll_transmit(now, &mut buf).unwrap();
    let rst = Frame::decode(&buf).unwrap();
    assert_eq!(
        (rst.mtype, rst.mid, rst.msg.code),
        (MessageType::Reset, 77, Code::EMPTY)
    );
    // A piggybacked ACK with the right MID but the wrong token is ignored.
    let h = client.request(now, s_addr(), get("/x"), true).unwrap();
    let _ = client.poll_transmit(now, &mut buf).unwrap();
    let req = Frame::decode(&buf).unwrap();
    let wrong = Frame {
        mtype: MessageType::Acknowledgement,
        mid: req.mid,
        token: vec![9; 8],
        msg: Message::new(Code::CONTENT),
    };
    client
        .handle_datagram(now, s_addr(), &wrong.encode(1152).unwrap())
        .unwrap();
    assert!(client.poll_event().is_none());
    // From the wrong peer: ignored as well.
    let right = Frame {
        token: req.token.clone(),
        ..wrong
    };
    client
        .handle_datagram(
            now,
            "127.0.0.1:9".parse().unwrap(),
            &right.encode(1152).unwrap(),
        )
        .unwrap();
    assert!(client.poll_event().is_none());
    client
        .handle_datagram(now, s_addr(), &right.encode(1152).unwrap())
        .unwrap();
    assert!(matches!(client.poll_event(), Some(Event::Response { handle, .. }) if handle == h));
}

#[test]
fn reset_fails_the_request_and_ping_gets_reset() {
    let mut client = Endpoint::new(Config::default(), Router::new(), [1; 32]);
    let now = Instant::now();
    let mut buf = Vec::new();
    let h = client.request(now, s_addr(), get("/x"), true).unwrap();
    let _ = client.poll_transmit(now, &mut buf).unwrap();
    let req = Frame::decode(&buf).unwrap();
    client
        .handle_datagram(now, s_addr(), &Frame::empty(MessageType::Reset, req.mid))
        .unwrap();
    assert_eq!(
        client.poll_event(),
        Some(Event::Failed {
            handle: h,
            error: Error::Reset
        })
    );
    assert_eq!(client.usage().retransmissions, 0);
    // CoAP ping: empty CON → RST with the same MID
    let mut server = Endpoint::new(Config::default(), Router::new(), [2; 32]);
    server
        .handle_datagram(
            now,
            c_addr(),
            &Frame::empty(MessageType::Confirmable, 0x1234),
        )
        .unwrap();
    let _ = server.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(buf, Frame::empty(MessageType::Reset, 0x1234));
}

// ---------------------------------------------------------------- request checks

fn server_answer(server: &mut Endpoint, frame: &Frame) -> Option<Frame> {
    let now = Instant::now();
    let _ = server.handle_datagram(now, c_addr(), &frame.encode(usize::MAX).unwrap());
    let mut buf = Vec::new();
    server
        .poll_transmit(now, &mut buf)
        .map(|_| Frame::decode(&buf).unwrap())
}

fn con(mid: u16, msg: Message) -> Frame {
    Frame {
        mtype: MessageType::Confirmable,
        mid,
        token: vec![0xAA],
        msg,
    }
}

#[test]
fn request_checks_give_the_rfc_codes() {
    let router = Router::new().mount(
        "/r",
        FnResource::new(|_| Message::response(Code::CHANGED, "").into()).methods(&[Code::PUT]),
    );
    let mut s = Endpoint::new(
        Config {
            max_body_size: 100,
            ..Config::default()
        },
        router,
        [3; 32],
    );
    let code = |s: &mut Endpoint, mid, m| server_answer(s, &con(mid, m)).unwrap().msg.code;
    assert_eq!(code(&mut s, 1, get("/nope")), Code::NOT_FOUND);
    assert_eq!(code(&mut s, 2, get("/r")), Code::METHOD_NOT_ALLOWED);
    assert_eq!(
        code(&mut s, 3, Message::request(Code::PUT, "/r")),
        Code::CHANGED
    );
    assert_eq!(
        code(&mut s, 4, get("/r").with_option(13, b"x".to_vec())),
        Code::BAD_OPTION,
        "unknown critical option"
    );
    assert_eq!(
        code(
            &mut s,
            5,
            Message::request(Code::PUT, "/r").with_option(14, b"x".to_vec())
        ),
        Code::CHANGED,
        "unknown elective option ignored"
    );
    assert_eq!(
        code(
            &mut s,
            6,
            get("/r").with_option(option::PROXY_URI, b"coap://x".to_vec())
        ),
        Code::PROXYING_NOT_SUPPORTED
    );
    assert_eq!(
        code(&mut s, 7, Message::request(Code(0x1F), "/r")),
        Code::METHOD_NOT_ALLOWED,
        "unknown method"
    );
    assert_eq!(
        code(
            &mut s,
            8,
            Message::request(Code::PUT, "/r").with_option(option::BLOCK1, vec![1, 2, 3, 4])
        ),
        Code::BAD_OPTION
    );
    let mut bad_path = Message::new(Code::GET);
    bad_path.options.add(option::URI_PATH, vec![0xFF, 0xFE]);
    assert_eq!(code(&mut s, 9, bad_path), Code::BAD_REQUEST);
    assert_eq!(
        code(
            &mut s,
            10,
            get("/r").with_option(option::OSCORE, Vec::new())
        ),
        Code::BAD_OPTION,
        "PlainCoap refuses OSCORE"
    );
    let big = Message::request(Code::PUT, "/r").with_payload(vec![0; 101]);
    let r = server_answer(&mut s, &con(11, big)).unwrap();
    assert_eq!(r.msg.code, Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(r.msg.options.get_uint(option::SIZE1).unwrap(), Some(100));
}

#[test]
fn malformed_datagrams_rst_for_con_ignore_otherwise() {
    let mut s = Endpoint::new(Config::default(), Router::new(), [4; 32]);
    let now = Instant::now();
    let mut buf = Vec::new();
    let cases: &[(&[u8], bool)] = &[
        (&[0x40], false),                     // too short: ignore
        (&[0x80, 0x01, 0, 1], false),         // version 2: ignore
        (&[0x49, 0x01, 0, 2, 1], true),       // CON, TKL 9 → RST
        (&[0x59, 0x01, 0, 3, 1], false),      // NON, TKL 9 → ignore
        (&[0x40, 0x01, 0, 4, 0xFF], true),    // payload marker, no payload → RST
        (&[0x40, 0x01, 0, 5, 0xF1, 0], true), // option delta 15 → RST
        (&[0x40, 0x01, 0, 6, 0x0D], true),    // option length runs out → RST
        (&[0x41, 0x00, 0, 7, 0xAB], true),    // empty message with token → RST
        (&[0x40, 0x21, 0, 8], true),          // class 1 (reserved) → RST
        (&[0x60, 0x01, 0, 9], false),         // request in an ACK → ignore
    ];
    for (bytes, rst) in cases {
        assert!(
            matches!(
                s.handle_datagram(now, c_addr(), bytes),
                Err(Error::Malformed(_))
            ),
            "{bytes:?}"
        );
        let sent = s.poll_transmit(now, &mut buf).map(|_| buf.clone());
        if *rst {
            let mid = u16::from_be_bytes([bytes[2], bytes[3]]);
            assert_eq!(
                sent,
                Some(Frame::empty(MessageType::Reset, mid)),
                "{bytes:?}"
            );
        } else {
            assert_eq!(sent, None, "{bytes:?}");
        }
    }
    assert_eq!(s.stats().malformed, cases.len() as u64);
}

// ---------------------------------------------------------------- memory bounds

#[test]
fn peer_table_and_dedup_bounds() {
    let cfg = Config {
        max_peers: 4,
        max_dedup_per_peer: 3,
        ..Config::default()
    };
    let mut s = Endpoint::new(
        cfg,
        Router::new().mount("/x", counting(b"x", Arc::default())),
        [5; 32],
    );
    let now = Instant::now();
    let mut buf = Vec::new();
    for port in 1000..1010u16 {
        let from = SocketAddr::from(([127, 0, 0, 1], port));
        let f = con(1, get("/x"));
        s.handle_datagram(now, from, &f.encode(1152).unwrap())
            .unwrap();
    }
    let mut answered = 0;
    while s.poll_transmit(now, &mut buf).is_some() {
        answered += 1;
    }
    assert_eq!(
        answered, 4,
        "datagrams from peers beyond max_peers are dropped"
    );
    assert_eq!(s.usage().peers, 4);
    assert_eq!(s.stats().dropped_at_limit, 6);
    // per-peer budget: the 4th message ID from one peer gets 5.03 with Max-Age
    let from = SocketAddr::from(([127, 0, 0, 1], 1000));
    for mid in 2..=3u16 {
        s.handle_datagram(now, from, &con(mid, get("/x")).encode(1152).unwrap())
            .unwrap();
        let _ = s.poll_transmit(now, &mut buf).unwrap();
    }
    s.handle_datagram(now, from, &con(4, get("/x")).encode(1152).unwrap())
        .unwrap();
    let _ = s.poll_transmit(now, &mut buf).unwrap();
    let r = Frame::decode(&buf).unwrap();
    assert_eq!(r.msg.code, Code::SERVICE_UNAVAILABLE);
    assert_eq!(r.msg.options.get_uint(option::MAX_AGE).unwrap(), Some(247));
    // after EXCHANGE_LIFETIME everything is forgotten
    let later = now + Duration::from_secs(248);
    s.handle_timeout(later);
    assert_eq!(s.usage().dedup_entries, 0);
    assert_eq!(s.usage().peers, 0);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn client_exchange_bound() {
    let cfg = Config {
        max_client_exchanges: 2,
        max_body_size: 10,
        ..Config::default()
    };
    let mut c = Endpoint::new(cfg, Router::new(), [1; 32]);
    let now = Instant::now();
    c.request(now, s_addr(), get("/a"), true).unwrap();
    c.request(now, s_addr(), get("/a"), true).unwrap();
    assert_eq!(
        c.request(now, s_addr(), get("/a"), true),
        Err(Error::LimitReached(Limit::ClientExchanges))
    );
    let mut c = Endpoint::new(
        Config {
            max_body_size: 10,
            ..Config::default()
        },
        Router::new(),
        [1; 32],
    );
    let big = Message::request(Code::POST, "/a").with_payload(vec![0; 11]);
    assert_eq!(
        c.request(now, s_addr(), big, true),
        Err(Error::BodyTooLarge { limit: 10 })
    );
    assert_eq!(
        c.request(now, s_addr(), Message::new(Code::CONTENT), true),
        Err(Error::Misuse("not a request method"))
    );
}

use crate::error::Limit;

// ---------------------------------------------------------------- block-wise

fn big_body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn block2_server_and_client() {
    let body = big_body(5000);
    let b2 = body.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let router = Router::new().mount(
        "/big",
        FnResource::new(move |_| {
            c2.fetch_add(1, Ordering::SeqCst);
            Message::response(Code::CONTENT, b2.clone()).into()
        }),
    );
    let mut net = Net::new(router);
    let h = net
        .client
        .request(net.now, s_addr(), get("/big"), true)
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.payload, body);
    let blocks: Vec<BlockOption> = net
        .sent_by(s_addr())
        .iter()
        .map(|f| f.msg.block2().unwrap())
        .collect();
    assert_eq!(blocks.len(), 5);
    assert!(
        blocks
            .iter()
            .enumerate()
            .all(|(i, b)| b.num == i as u32 && b.szx == 6 && b.more == (i < 4))
    );
    let first = net.sent_by(s_addr())[0].clone();
    assert_eq!(
        first.msg.options.get_uint(option::SIZE2).unwrap(),
        Some(5000)
    );
    assert!(first.msg.options.contains(option::ETAG));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "follow-ups served from the cached representation"
    );
    // each block request used a fresh token
    let tokens: std::collections::HashSet<_> = net
        .sent_by(c_addr())
        .iter()
        .map(|f| f.token.clone())
        .collect();
    assert_eq!(tokens.len(), 5);
}

#[test]
fn block2_client_asks_smaller_blocks_and_server_honours() {
    let router = Router::new().mount(
        "/big",
        FnResource::new(|_| Message::response(Code::CONTENT, big_body(700)).into()),
    );
    let mut s = Endpoint::new(Config::default(), router, [1; 32]);
    let req = get("/big").with_option(
        option::BLOCK2,
        BlockOption {
            num: 2,
            more: false,
            szx: 4,
        }
        .encode(),
    );
    let r = server_answer(&mut s, &con(1, req)).unwrap();
    assert_eq!(
        r.msg.block2(),
        Some(BlockOption {
            num: 2,
            more: false,
            szx: 4
        }),
        "the last 256-byte block"
    );
    assert_eq!(r.msg.payload, big_body(700)[512..]);
    let req = get("/big").with_option(
        option::BLOCK2,
        BlockOption {
            num: 1,
            more: false,
            szx: 4,
        }
        .encode(),
    );
    let r = server_answer(&mut s, &con(3, req)).unwrap();
    assert_eq!(
        r.msg.block2(),
        Some(BlockOption {
            num: 1,
            more: true,
            szx: 4
        })
    );
    assert_eq!(r.msg.payload, big_body(700)[256..512]);
    let out_of_range = get("/big").with_option(
        option::BLOCK2,
        BlockOption {
            num: 9,
            more: false,
            szx: 6,
        }
        .encode(),
    );
    assert_eq!(
        server_answer(&mut s, &con(2, out_of_range))
            .unwrap()
            .msg
            .code,
        Code::BAD_OPTION
    );
}

#[test]
fn block2_client_body_limit() {
    let router = Router::new().mount(
        "/big",
        FnResource::new(|_| Message::response(Code::CONTENT, big_body(5000)).into()),
    );
    let mut net = Net::with(
        Config {
            max_body_size: 2000,
            ..Config::default()
        },
        Config::default(),
        router,
    );
    let h = net
        .client
        .request(net.now, s_addr(), get("/big"), true)
        .unwrap();
    assert_eq!(
        net.wait(h),
        Event::Failed {
            handle: h,
            error: Error::BodyTooLarge { limit: 2000 }
        }
    );
}

#[test]
fn block1_upload_reassembled() {
    let got: Arc<Mutex<Vec<u8>>> = Arc::default();
    let g2 = got.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let router = Router::new().mount(
        "/up",
        FnResource::new(move |req| {
            c2.fetch_add(1, Ordering::SeqCst);
            *g2.lock().unwrap() = req.payload().to_vec();
            Message::response(Code::CHANGED, "ok").into()
        })
        .methods(&[Code::POST]),
    );
    let mut net = Net::new(router);
    let body = big_body(3000);
    let h = net
        .client
        .request(
            net.now,
            s_addr(),
            Message::request(Code::POST, "/up").with_payload(body.clone()),
            true,
        )
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.code, Code::CHANGED);
    assert_eq!(*got.lock().unwrap(), body);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let server_codes: Vec<Code> = net.sent_by(s_addr()).iter().map(|f| f.msg.code).collect();
    assert_eq!(
        server_codes,
        vec![Code::CONTINUE, Code::CONTINUE, Code::CHANGED]
    );
    assert_eq!(
        r.options.get(option::BLOCK1).and_then(BlockOption::decode),
        Some(BlockOption {
            num: 2,
            more: false,
            szx: 6
        })
    );
    let first = net.sent_by(c_addr())[0].clone();
    assert_eq!(
        first.msg.options.get_uint(option::SIZE1).unwrap(),
        Some(3000)
    );
    assert_eq!(net.server.usage().block1_assemblies, 0);
}

#[test]
fn block1_server_adapts_to_smaller_block_size() {
    // The server prefers 256-byte blocks; the client starts with 1024 and must follow.
    let got: Arc<Mutex<Vec<u8>>> = Arc::default();
    let g2 = got.clone();
    let router = Router::new().mount(
        "/up",
        FnResource::new(move |req| {
            *g2.lock().unwrap() = req.payload().to_vec();
            Message::new(Code::CHANGED).into()
        })
        .methods(&[Code::PUT]),
    );
    // a test server that answers 2.31 with szx 4 to the first block, then behaves
    let mut net = Net::new(router);
    let body = big_body(2000);
    let h = net
        .client
        .request(
            net.now,
            s_addr(),
            Message::request(Code::PUT, "/up").with_payload(body.clone()),
            true,
        )
        .unwrap();
    net.drain();
    // intercept: take the first request, answer it by hand with a smaller szx
    let (_, _, _, bytes) = net.queue.pop_front().unwrap();
    let req = Frame::decode(&bytes).unwrap();
    assert_eq!(
        req.msg.block1(),
        Some(BlockOption {
            num: 0,
            more: true,
            szx: 6
        })
    );
    let cont = Frame {
        mtype: MessageType::Acknowledgement,
        mid: req.mid,
        token: req.token.clone(),
        msg: Message::new(Code::CONTINUE).with_option(
            option::BLOCK1,
            BlockOption {
                num: 0,
                more: true,
                szx: 4,
            }
            .encode(),
        ),
    };
    net.client
        .handle_datagram(net.now, s_addr(), &cont.encode(1152).unwrap())
        .unwrap();
    net.drain();
    let (_, _, _, bytes) = net.queue.front().cloned().unwrap();
    let next = Frame::decode(&bytes).unwrap();
    assert_eq!(
        next.msg.block1(),
        Some(BlockOption {
            num: 4,
            more: true,
            szx: 4
        }),
        "offset 1024 in 256-byte blocks"
    );
    // The real server never saw block 0, so it answers 4.08 — the client reports the
    // final response as is.
    let r = response(net.wait(h));
    assert_eq!(r.code, Code::REQUEST_ENTITY_INCOMPLETE);
}

#[test]
fn block1_limits_413_and_408() {
    let router = Router::new().mount(
        "/up",
        FnResource::new(|_| Message::new(Code::CHANGED).into()).methods(&[Code::POST]),
    );
    let mut net = Net::with(
        Config::default(),
        Config {
            max_body_size: 2048,
            ..Config::default()
        },
        router,
    );
    let h = net
        .client
        .request(
            net.now,
            s_addr(),
            Message::request(Code::POST, "/up").with_payload(big_body(5000)),
            true,
        )
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.code, Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(r.options.get_uint(option::SIZE1).unwrap(), Some(2048));
    assert_eq!(
        net.sent_by(c_addr()).len(),
        1,
        "Size1 on block 0 is enough to refuse"
    );

    // Without Size1 the limit triggers while accumulating.
    let router = Router::new().mount(
        "/up",
        FnResource::new(|_| Message::new(Code::CHANGED).into()).methods(&[Code::POST]),
    );
    let mut s = Endpoint::new(
        Config {
            max_body_size: 1500,
            ..Config::default()
        },
        router,
        [1; 32],
    );
    let block = |num, more| {
        Message::request(Code::POST, "/up")
            .with_option(option::BLOCK1, BlockOption { num, more, szx: 6 }.encode())
            .with_payload(vec![0; 1024])
    };
    assert_eq!(
        server_answer(&mut s, &con(1, block(0, true)))
            .unwrap()
            .msg
            .code,
        Code::CONTINUE
    );
    let r = server_answer(&mut s, &con(2, block(1, true))).unwrap();
    assert_eq!(r.msg.code, Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(s.usage().block1_assemblies, 0);
    // A block without its predecessors: 4.08 Request Entity Incomplete.
    assert_eq!(
        server_answer(&mut s, &con(3, block(2, true)))
            .unwrap()
            .msg
            .code,
        Code::REQUEST_ENTITY_INCOMPLETE
    );
    // A non-final block of the wrong size: 4.00.
    let short = Message::request(Code::POST, "/up")
        .with_option(
            option::BLOCK1,
            BlockOption {
                num: 0,
                more: true,
                szx: 6,
            }
            .encode(),
        )
        .with_payload(vec![0; 10]);
    assert_eq!(
        server_answer(&mut s, &con(4, short)).unwrap().msg.code,
        Code::BAD_REQUEST
    );
}

#[test]
fn block1_then_block2_response() {
    let router = Router::new().mount(
        "/echo",
        FnResource::new(|req| Message::response(Code::CHANGED, req.payload().to_vec()).into())
            .methods(&[Code::POST]),
    );
    let mut net = Net::new(router);
    let body = big_body(4500);
    let h = net
        .client
        .request(
            net.now,
            s_addr(),
            Message::request(Code::POST, "/echo").with_payload(body.clone()),
            true,
        )
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.code, Code::CHANGED);
    assert_eq!(r.payload, body);
}

// ---------------------------------------------------------------- observe

fn sensor_router(value: Arc<Mutex<String>>) -> Router {
    let v = value;
    Router::new().mount(
        "/temp",
        FnResource::new(move |_| {
            Message::response(Code::CONTENT, v.lock().unwrap().clone()).into()
        })
        .observable()
        .rt("temperature"),
    )
}

fn notifications(events: &[Event]) -> Vec<(u32, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Notification {
                sequence, response, ..
            } => Some((*sequence, response.payload.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn observe_register_notify_cancel() {
    let value = Arc::new(Mutex::new("20".to_owned()));
    let mut net = Net::new(sensor_router(value.clone()));
    let h = net
        .client
        .observe(net.now, s_addr(), get("/temp"), true)
        .unwrap();
    net.run_until(Duration::from_secs(1), |n| !n.events.is_empty());
    assert_eq!(net.server.observer_count("/temp"), 1);
    for v in ["21", "22"] {
        *value.lock().unwrap() = v.to_owned();
        assert_eq!(net.server.notify(net.now, "/temp"), 1);
        net.run_until(Duration::from_secs(1), |_| false);
    }
    let got = notifications(&net.events);
    assert_eq!(
        got.iter().map(|g| g.1.clone()).collect::<Vec<_>>(),
        vec![b"20".to_vec(), b"21".to_vec(), b"22".to_vec()]
    );
    assert!(
        got.windows(2).all(|w| w[1].0 > w[0].0),
        "increasing sequence numbers"
    );
    // notifications are NON by default (CON at least every 24 h)
    let server_frames = net.sent_by(s_addr());
    assert_eq!(server_frames[1].mtype, MessageType::NonConfirmable);
    assert!(
        server_frames
            .iter()
            .all(|f| f.token == server_frames[0].token)
    );
    net.events.clear();
    net.client.cancel_observe(net.now, h).unwrap();
    let e = net.wait(h);
    let r = response(e);
    assert_eq!(r.code, Code::CONTENT);
    assert_eq!(r.observe(), None);
    assert_eq!(net.server.observer_count("/temp"), 0);
    let dereg = net.sent_by(c_addr()).last().cloned().unwrap();
    assert_eq!(dereg.msg.observe(), Some(1));
    assert_eq!(net.client.usage().client_exchanges, 0);
}

#[test]
fn observe_unchanged_sends_no_notification() {
    let value = Arc::new(Mutex::new("20".to_owned()));
    let changed = Arc::new(Mutex::new(false));
    let (v, c) = (value.clone(), changed.clone());
    let router = Router::new().mount(
        "/temp",
        FnResource::new(move |req| {
            if req.is_notification() && !*c.lock().unwrap() {
                Handled::Unchanged
            } else {
                Message::response(Code::CONTENT, v.lock().unwrap().clone()).into()
            }
        })
        .observable(),
    );
    let mut net = Net::new(router);
    net.client
        .observe(net.now, s_addr(), get("/temp"), true)
        .unwrap();
    net.run_until(Duration::from_secs(1), |n| !n.events.is_empty());
    let frames_before = net.sent_by(s_addr()).len();
    // Nothing this observer sees changed: no datagram, not counted, still registered.
    assert_eq!(net.server.notify(net.now, "/temp"), 0);
    net.run_until(Duration::from_secs(1), |_| false);
    assert_eq!(net.sent_by(s_addr()).len(), frames_before);
    assert_eq!(net.server.observer_count("/temp"), 1);
    *value.lock().unwrap() = "21".to_owned();
    *changed.lock().unwrap() = true;
    assert_eq!(net.server.notify(net.now, "/temp"), 1);
    net.run_until(Duration::from_secs(1), |_| false);
    let got = notifications(&net.events);
    assert_eq!(
        got.iter().map(|g| g.1.clone()).collect::<Vec<_>>(),
        vec![b"20".to_vec(), b"21".to_vec()]
    );
}

#[test]
fn unchanged_answer_to_a_fresh_request_is_a_server_error() {
    let router = Router::new().mount("/x", FnResource::new(|_| Handled::Unchanged));
    let mut net = Net::new(router);
    let h = net
        .client
        .request(net.now, s_addr(), get("/x"), true)
        .unwrap();
    assert_eq!(response(net.wait(h)).code, Code::INTERNAL_SERVER_ERROR);
}

#[test]
fn observe_rst_on_notification_deregisters() {
    let value = Arc::new(Mutex::new("1".to_owned()));
    let mut net = Net::new(sensor_router(value));
    let h = net
        .client
        .observe(net.now, s_addr(), get("/temp"), true)
        .unwrap();
    net.run_until(Duration::from_secs(1), |n| !n.events.is_empty());
    assert!(net.client.forget(h));
    net.server.notify(net.now, "/temp");
    net.run_until(Duration::from_secs(1), |_| false);
    let rst = net.sent_by(c_addr()).last().cloned().unwrap();
    assert_eq!(rst.mtype, MessageType::Reset);
    assert_eq!(net.server.observer_count("/temp"), 0);
}

#[test]
fn observe_con_notification_timeout_deregisters() {
    let value = Arc::new(Mutex::new("1".to_owned()));
    let server_cfg = Config {
        notification_con_interval: Duration::ZERO,
        ..Config::default()
    };
    let mut net = Net::with(Config::default(), server_cfg, sensor_router(value));
    net.client
        .observe(net.now, s_addr(), get("/temp"), true)
        .unwrap();
    net.run_until(Duration::from_secs(1), |n| !n.events.is_empty());
    // the client vanishes: nothing it sends arrives any more
    net.filter = Box::new(|from, _| {
        if from == c_addr() {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    net.server.notify(net.now, "/temp");
    net.drain();
    assert_eq!(
        net.sent_by(s_addr()).last().unwrap().mtype,
        MessageType::Confirmable
    );
    net.run_until(Duration::from_secs(200), |n| {
        n.server.observer_count("/temp") == 0
    });
    assert_eq!(net.server.observer_count("/temp"), 0);
    assert_eq!(net.server.stats().retransmissions, 4);
}

#[test]
fn observe_new_notification_replaces_pending_con() {
    let value = Arc::new(Mutex::new("1".to_owned()));
    let server_cfg = Config {
        notification_con_interval: Duration::ZERO,
        ..Config::default()
    };
    let mut net = Net::with(Config::default(), server_cfg, sensor_router(value));
    net.client
        .observe(net.now, s_addr(), get("/temp"), true)
        .unwrap();
    net.run_until(Duration::from_secs(1), |n| !n.events.is_empty());
    net.filter = Box::new(|from, _| {
        if from == c_addr() {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    net.server.notify(net.now, "/temp");
    net.server.notify(net.now, "/temp");
    assert_eq!(
        net.server.usage().retransmissions,
        1,
        "one CON notification in flight per observer"
    );
}

#[test]
fn observe_reordered_notifications_dropped() {
    use super::client::is_fresh;
    let t = Instant::now();
    assert!(is_fresh(1, t, 2, t));
    assert!(!is_fresh(2, t, 1, t));
    assert!(is_fresh(0xFF_FFFF, t, 0, t), "24-bit wrap");
    assert!(!is_fresh(5, t, 5, t));
    assert!(
        is_fresh(2, t, 1, t + Duration::from_secs(129)),
        "older than 128 s"
    );

    let value = Arc::new(Mutex::new("1".to_owned()));
    let mut net = Net::new(sensor_router(value));
    let h = net
        .client
        .observe(net.now, s_addr(), get("/temp"), true)
        .unwrap();
    net.run_until(Duration::from_secs(1), |n| !n.events.is_empty());
    let first = net.sent_by(s_addr())[0].clone();
    let seq = first.msg.observe().unwrap();
    let inject = |net: &mut Net, mid: u16, seq: u32, body: &str| {
        let mut msg = Message::response(Code::CONTENT, body);
        msg.options.set_uint(option::OBSERVE, seq);
        let f = Frame {
            mtype: MessageType::NonConfirmable,
            mid,
            token: first.token.clone(),
            msg,
        };
        net.client
            .handle_datagram(net.now, s_addr(), &f.encode(1152).unwrap())
            .unwrap();
        net.drain();
    };
    inject(&mut net, 1000, seq + 2, "new");
    inject(&mut net, 1001, seq + 1, "old"); // arrives late: stale
    inject(&mut net, 1002, seq + 3, "newer");
    let got: Vec<Vec<u8>> = notifications(&net.events)
        .into_iter()
        .map(|n| n.1)
        .collect();
    assert_eq!(got, vec![b"1".to_vec(), b"new".to_vec(), b"newer".to_vec()]);
    assert_eq!(net.client.stats().stale_notifications, 1);
    let _ = h;
}

#[test]
fn observe_large_representation_fetched_blockwise() {
    let body = Arc::new(Mutex::new(big_body(3000)));
    let b2 = body.clone();
    let router = Router::new().mount(
        "/big",
        FnResource::new(move |_| {
            Message::response(Code::CONTENT, b2.lock().unwrap().clone()).into()
        })
        .observable(),
    );
    let mut net = Net::new(router);
    net.client
        .observe(net.now, s_addr(), get("/big"), true)
        .unwrap();
    net.run_until(Duration::from_secs(5), |n| !n.events.is_empty());
    *body.lock().unwrap() = big_body(2500).into_iter().rev().collect();
    net.server.notify(net.now, "/big");
    net.run_until(Duration::from_secs(5), |n| n.events.len() >= 2);
    let got = notifications(&net.events);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, big_body(3000));
    assert_eq!(
        got[1].1,
        big_body(2500).into_iter().rev().collect::<Vec<u8>>()
    );
    assert_eq!(
        net.server.observer_count("/big"),
        1,
        "block follow-ups did not cancel the observation"
    );
}

#[test]
fn observe_refused_on_non_observable_resource() {
    let mut net = Net::new(Router::new().mount("/x", counting(b"x", Arc::default())));
    let h = net
        .client
        .observe(net.now, s_addr(), get("/x"), true)
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!((r.code, r.observe()), (Code::CONTENT, None));
    assert_eq!(net.server.observer_count("/x"), 0);
}

#[test]
fn observer_bounds() {
    let value = Arc::new(Mutex::new("1".to_owned()));
    let server_cfg = Config {
        max_observers: 2,
        ..Config::default()
    };
    let mut net = Net::with(
        Config {
            transmission: TransmissionParams {
                nstart: 4,
                ..Default::default()
            },
            ..Config::default()
        },
        server_cfg,
        sensor_router(value),
    );
    for _ in 0..3 {
        net.client
            .observe(net.now, s_addr(), get("/temp"), true)
            .unwrap();
    }
    net.run_until(Duration::from_secs(2), |n| n.events.len() >= 3);
    assert_eq!(net.server.observer_count("/temp"), 2);
    assert_eq!(notifications(&net.events).len(), 2);
    assert_eq!(
        net.events
            .iter()
            .filter(|e| matches!(e, Event::Response { .. }))
            .count(),
        1
    );
}

// ---------------------------------------------------------------- discovery and security hook

#[test]
fn well_known_core_over_the_engine() {
    let router = Router::new()
        .mount(
            "/authz-info",
            FnResource::new(|_| Message::new(Code::CREATED).into())
                .methods(&[Code::POST])
                .rt("ace.ai")
                .ct(19),
        )
        .mount(
            "/temp",
            FnResource::new(|_| Message::new(Code::CONTENT).into())
                .observable()
                .ct(0),
        );
    let mut net = Net::new(router);
    let h = net
        .client
        .request(net.now, s_addr(), get("/.well-known/core"), true)
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.content_format(), Some(40));
    assert_eq!(
        String::from_utf8(r.payload).unwrap(),
        "</authz-info>;rt=\"ace.ai\";ct=19,</temp>;ct=0;obs"
    );
}

/// A toy layer: requests must carry option 65000 naming the peer ("kid"); responses get
/// the same option and their payload reversed. It proves the hook order and that the
/// identity reaches the resource and the context reaches every notification.
struct Toy {
    protected: Arc<AtomicUsize>,
}

impl SecurityLayer for Toy {
    type Context = Vec<u8>;
    fn unprotect(
        &mut self,
        _peer: SocketAddr,
        mut request: Message,
    ) -> Result<(Message, PeerIdentity, Vec<u8>), Message> {
        let Some(kid) = request.options.get(65000).map(<[u8]>::to_vec) else {
            return Err(Message::new(Code::UNAUTHORIZED));
        };
        request.options.remove(65000);
        Ok((
            request,
            PeerIdentity::Other {
                scheme: "toy".into(),
                id: kid.clone(),
            },
            kid,
        ))
    }
    fn protect(
        &mut self,
        _peer: SocketAddr,
        mut response: Message,
        kid: &mut Vec<u8>,
    ) -> Result<Message, Message> {
        self.protected.fetch_add(1, Ordering::SeqCst);
        response.payload.reverse();
        response.options.set(65000, kid.clone());
        Ok(response)
    }
}

#[test]
fn security_layer_wraps_routing_and_notifications() {
    let protected = Arc::new(AtomicUsize::new(0));
    let router = Router::new().mount(
        "/who",
        FnResource::new(|req| {
            let PeerIdentity::Other { id, .. } = &req.identity else {
                return Message::new(Code::FORBIDDEN).into();
            };
            Message::response(Code::CONTENT, id.clone()).into()
        })
        .observable(),
    );
    let server = Endpoint::with_security(
        Config::default(),
        router,
        Toy {
            protected: protected.clone(),
        },
        [3; 32],
    );
    let mut net = Net::with_server(Config::default(), server);
    let h = net
        .client
        .request(net.now, s_addr(), get("/who"), true)
        .unwrap();
    assert_eq!(
        response(net.wait(h)).code,
        Code::UNAUTHORIZED,
        "unprotect failure answered as is"
    );
    assert_eq!(protected.load(Ordering::SeqCst), 0);
    let h = net
        .client
        .request(
            net.now,
            s_addr(),
            get("/who").with_option(65000, b"abc".to_vec()),
            true,
        )
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(
        r.payload, b"cba",
        "resource saw identity 'abc', protect reversed it"
    );
    assert_eq!(r.options.get(65000), Some(&b"abc"[..]));
    let h = net
        .client
        .observe(
            net.now,
            s_addr(),
            get("/who").with_option(65000, b"xyz".to_vec()),
            true,
        )
        .unwrap();
    net.run_until(Duration::from_secs(1), |n| !n.events.is_empty());
    net.server.notify(net.now, "/who");
    net.run_until(Duration::from_secs(1), |_| false);
    let got = notifications(&net.events);
    assert_eq!(
        got.iter().map(|g| g.1.clone()).collect::<Vec<_>>(),
        vec![b"zyx".to_vec(), b"zyx".to_vec()]
    );
    assert_eq!(protected.load(Ordering::SeqCst), 3);
    let _ = h;
}

// ---------------------------------------------------------------- outer block-wise

/// `x XOR 0x5A ‖ FNV-1a(x)`: a toy AEAD, so that a single outer block cannot verify.
fn toy_seal(x: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = x.iter().map(|b| b ^ 0x5A).collect();
    out.extend_from_slice(&fnv1a(x));
    out
}

fn toy_open(c: &[u8]) -> Option<Vec<u8>> {
    let (body, tag) = c.split_at(c.len().checked_sub(8)?);
    let x: Vec<u8> = body.iter().map(|b| b ^ 0x5A).collect();
    (fnv1a(&x)[..] == *tag).then_some(x)
}

/// An OSCORE-shaped toy layer: a protected request is an outer POST with the OSCORE option
/// whose payload seals the body of an inner POST `/echo`; responses are sealed the same way
/// and get an (empty) OSCORE option. It records the outer messages `unprotect` saw.
struct ToyOscore {
    policy: Option<OuterBlockwise>,
    /// (payload length, had Block1, had Block2) of every message handed to `unprotect`.
    seen: OuterSeen,
    protected: Arc<AtomicUsize>,
}

impl SecurityLayer for ToyOscore {
    type Context = ();
    fn unprotect(
        &mut self,
        _peer: SocketAddr,
        request: Message,
    ) -> Result<(Message, PeerIdentity, ()), Message> {
        self.seen.lock().unwrap().push((
            request.payload.len(),
            request.options.contains(option::BLOCK1),
            request.options.contains(option::BLOCK2),
        ));
        let body = toy_open(&request.payload)
            .ok_or_else(|| Message::response(Code::BAD_REQUEST, "Decryption failed"))?;
        Ok((
            Message::request(Code::POST, "/echo").with_payload(body),
            PeerIdentity::Anonymous,
            (),
        ))
    }
    fn protect(
        &mut self,
        _peer: SocketAddr,
        mut response: Message,
        _context: &mut (),
    ) -> Result<Message, Message> {
        self.protected.fetch_add(1, Ordering::SeqCst);
        response.payload = toy_seal(&response.payload);
        // Inner block options are encrypted in OSCORE: not visible outside.
        for n in [option::BLOCK2, option::SIZE2, option::ETAG] {
            response.options.remove(n);
        }
        response.options.set(option::OSCORE, Vec::new());
        Ok(response)
    }
    fn outer_blockwise(&self) -> Option<OuterBlockwise> {
        self.policy
    }
}

type OuterSeen = Arc<Mutex<Vec<(usize, bool, bool)>>>;

fn toy_net(policy: Option<OuterBlockwise>) -> (Net<ToyOscore>, OuterSeen, Arc<AtomicUsize>) {
    let seen: OuterSeen = Arc::default();
    let protected = Arc::new(AtomicUsize::new(0));
    let router = Router::new().mount(
        "/echo",
        FnResource::new(|req| {
            let mut body = req.payload().to_vec();
            body.reverse();
            Message::response(Code::CHANGED, body).into()
        })
        .methods(&[Code::POST]),
    );
    let layer = ToyOscore {
        policy,
        seen: seen.clone(),
        protected: protected.clone(),
    };
    let server = Endpoint::with_security(Config::default(), router, layer, [5; 32]);
    (Net::with_server(Config::default(), server), seen, protected)
}

fn toy_request(body: &[u8]) -> Message {
    Message::new(Code::POST)
        .with_option(option::OSCORE, vec![0x09, 0x01])
        .with_payload(toy_seal(body))
}

/// RFC 8613 §4.1.3.4.2: the protected request is cut into outer Block1 blocks by the
/// client engine and reassembled by the server engine before `unprotect` (called once, on
/// the whole message); the protected response is cut into outer Block2 blocks after
/// `protect` (called once) and the follow-ups are served from the cache.
#[test]
fn outer_block1_and_block2_around_the_security_layer() {
    let policy = OuterBlockwise::new(8192).fragment_responses(true);
    let (mut net, seen, protected) = toy_net(Some(policy));
    let body = big_body(5000);
    let h = net
        .client
        .request(net.now, s_addr(), toy_request(&body), true)
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.code, Code::CHANGED);
    let mut expected = body.clone();
    expected.reverse();
    assert_eq!(toy_open(&r.payload).unwrap(), expected);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(5008, false, false)],
        "one unprotect, on the reassembled message, outer Block options removed"
    );
    assert_eq!(protected.load(Ordering::SeqCst), 1);
    let from_client = net.sent_by(c_addr());
    let blocks1: Vec<BlockOption> = from_client.iter().filter_map(|f| f.msg.block1()).collect();
    assert_eq!(
        blocks1.len(),
        5,
        "5008 bytes in 1024-byte outer Block1 blocks"
    );
    assert!(
        from_client
            .iter()
            .all(|f| f.msg.options.get(option::OSCORE) == Some(&[0x09, 0x01][..]))
    );
    let from_server = net.sent_by(s_addr());
    let continues = from_server
        .iter()
        .filter(|f| f.msg.code == Code::CONTINUE)
        .count();
    assert_eq!(continues, 4);
    assert!(
        from_server
            .iter()
            .filter(|f| f.msg.code == Code::CONTINUE)
            .all(|f| !f.msg.options.contains(option::OSCORE)),
        "2.31 is an outer (unprotected) response"
    );
    let final_blocks: Vec<&&Frame> = from_server
        .iter()
        .filter(|f| f.msg.code == Code::CHANGED)
        .collect();
    assert_eq!(
        final_blocks.len(),
        5,
        "5008-byte protected response in outer Block2 blocks"
    );
    let first = &final_blocks[0].msg;
    assert_eq!(first.block2().map(|b| (b.num, b.more)), Some((0, true)));
    assert_eq!(
        first.block1().map(|b| (b.num, b.more)),
        Some((4, false)),
        "Block1 echo"
    );
    assert_eq!(first.options.get_uint(option::SIZE2).unwrap(), Some(5008));
    assert!(
        !first.options.contains(option::ETAG),
        "no ETag added to the outer message"
    );
    assert!(
        final_blocks
            .iter()
            .all(|f| f.msg.options.contains(option::OSCORE))
    );

    // Early negotiation: an outer Block2 block 0 with SZX 0 in the request.
    let before = net.sent_by(s_addr()).len();
    let req = toy_request(&big_body(40)).with_option(
        option::BLOCK2,
        BlockOption {
            num: 0,
            more: false,
            szx: 0,
        }
        .encode(),
    );
    let h = net.client.request(net.now, s_addr(), req, true).unwrap();
    let r = response(net.wait(h));
    let mut expected = big_body(40);
    expected.reverse();
    assert_eq!(toy_open(&r.payload).unwrap(), expected);
    let blocks: Vec<(u32, u8)> = net.sent_by(s_addr())[before..]
        .iter()
        .filter_map(|f| f.msg.block2().map(|b| (b.num, b.szx)))
        .collect();
    assert_eq!(
        blocks,
        vec![(0, 0), (1, 0), (2, 0)],
        "48 bytes in 16-byte outer blocks"
    );
    assert_eq!(
        protected.load(Ordering::SeqCst),
        2,
        "protected once, cut three times"
    );
}

#[test]
fn outer_reassembly_bound_and_errors() {
    let (mut net, seen, _) = toy_net(Some(OuterBlockwise::new(2048)));
    // Beyond MAX_UNFRAGMENTED_SIZE: 4.13 with Size1, nothing reaches the layer.
    let h = net
        .client
        .request(net.now, s_addr(), toy_request(&big_body(5000)), true)
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.code, Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(r.options.get_uint(option::SIZE1).unwrap(), Some(2048));
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(net.server.usage().block1_assemblies, 0, "state dropped");
    // Within the bound: reassembled; responses use inner Block2 (policy default), i.e. the
    // 2008-byte response is cut before protection: two protected blocks.
    let h = net
        .client
        .request(net.now, s_addr(), toy_request(&big_body(2000)), true)
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.code, Code::CHANGED);
    assert_eq!(*seen.lock().unwrap(), vec![(2008, false, false)]);
    let b2 = toy_open(&r.payload).unwrap();
    assert_eq!(b2.len(), 1024, "inner block 0 of 2000");

    // An outer Block2 follow-up with nothing cached: 4.08; malformed outer Block1: 4.02.
    let follow = toy_request(b"x").with_option(
        option::BLOCK2,
        BlockOption {
            num: 3,
            more: false,
            szx: 6,
        }
        .encode(),
    );
    let a = server_answer_with(&mut net.server, &con(0x100, follow)).unwrap();
    assert_eq!(a.msg.code, Code::REQUEST_ENTITY_INCOMPLETE);
    let bad = toy_request(b"x").with_option(option::BLOCK1, vec![0x0F]);
    let a = server_answer_with(&mut net.server, &con(0x101, bad)).unwrap();
    assert_eq!(a.msg.code, Code::BAD_OPTION);
    assert_eq!(seen.lock().unwrap().len(), 1, "neither reached the layer");
}

#[test]
fn without_outer_policy_blocks_reach_the_layer_one_by_one() {
    let (mut net, seen, _) = toy_net(None);
    let h = net
        .client
        .request(net.now, s_addr(), toy_request(&big_body(3000)), true)
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.code, Code::BAD_REQUEST, "block 0 alone does not verify");
    assert_eq!(*seen.lock().unwrap(), vec![(1024, true, false)]);
}

fn server_answer_with<S: SecurityLayer>(server: &mut Endpoint<S>, frame: &Frame) -> Option<Frame> {
    let now = Instant::now();
    let _ = server.handle_datagram(now, c_addr(), &frame.encode(usize::MAX).unwrap());
    let mut buf = Vec::new();
    server
        .poll_transmit(now, &mut buf)
        .map(|_| Frame::decode(&buf).unwrap())
}

// ---------------------------------------------------------------- never panic

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_datagrams_never_panic(datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8)) {
        let value = Arc::new(Mutex::new("v".to_owned()));
        let router = sensor_router(value).mount("/up", FnResource::new(|r| Message::response(Code::CHANGED, r.payload().to_vec()).into()).methods(&[Code::POST, Code::PUT]));
        let mut e = Endpoint::new(Config { max_body_size: 256, ..Config::default() }, router, [0; 32]);
        let mut now = Instant::now();
        let mut buf = Vec::new();
        for d in &datagrams {
            let _ = e.handle_datagram(now, c_addr(), d);
            while e.poll_transmit(now, &mut buf).is_some() {
                prop_assert!(Frame::decode(&buf).is_ok(), "we only send well-formed messages");
            }
            e.notify(now, "/temp");
            now += Duration::from_secs(3);
            e.handle_timeout(now);
            while e.poll_transmit(now, &mut buf).is_some() {}
            while e.poll_event().is_some() {}
        }
    }

    #[test]
    fn structured_requests_never_panic(
        mtype in 0u8..4, code in any::<u8>(), mid in any::<u16>(), token in proptest::collection::vec(any::<u8>(), 0..9),
        opts in proptest::collection::vec((0u16..300, proptest::collection::vec(any::<u8>(), 0..6)), 0..6),
        payload in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut msg = Message::new(Code(code));
        for (n, v) in opts { msg.options.add(n, v); }
        msg.payload = payload;
        let mt = [MessageType::Confirmable, MessageType::NonConfirmable, MessageType::Acknowledgement, MessageType::Reset][mtype as usize];
        let f = Frame { mtype: mt, mid, token, msg };
        if let Ok(bytes) = f.encode(usize::MAX) {
            let value = Arc::new(Mutex::new("v".to_owned()));
            let mut e = Endpoint::new(Config::default(), sensor_router(value), [0; 32]);
            let now = Instant::now();
            let _ = e.handle_datagram(now, c_addr(), &bytes);
            let mut buf = Vec::new();
            while e.poll_transmit(now, &mut buf).is_some() {}
        }
    }
}

// ---------------------------------------------------------------- message ID reuse (RFC 7252 §4.4)

/// Sends 65,536 CON requests from `c` to `peer` at ~30 000/s of virtual time from `t0`,
/// answering each with a piggybacked response; returns the first message ID used.
fn use_every_message_id(c: &mut Endpoint, peer: SocketAddr, t0: Instant) -> u16 {
    let mut buf = Vec::new();
    let mut seen = vec![false; 65_536];
    let mut first = None;
    for i in 0..65_536u64 {
        let now = t0 + Duration::from_micros(i * 33);
        let h = c.request(now, peer, get("/x"), true).unwrap();
        let _ = c.poll_transmit(now, &mut buf).expect("an ID is free");
        let f = Frame::decode(&buf).unwrap();
        assert!(
            !std::mem::replace(&mut seen[usize::from(f.mid)], true),
            "message ID {} reused within EXCHANGE_LIFETIME",
            f.mid
        );
        first.get_or_insert(f.mid);
        let ack = Frame {
            mtype: MessageType::Acknowledgement,
            mid: f.mid,
            token: f.token,
            msg: Message::response(Code::CONTENT, "x"),
        };
        c.handle_datagram(now, peer, &ack.encode(1152).unwrap())
            .unwrap();
        assert!(matches!(c.poll_event(), Some(Event::Response { handle, .. }) if handle == h));
    }
    assert_eq!(c.message_ids_in_use(peer), 65_536);
    first.unwrap()
}

#[test]
fn message_id_not_reused_request_waits_for_exchange_lifetime() {
    let mut c = Endpoint::new(Config::default(), Router::new(), [3; 32]);
    let t0 = Instant::now();
    let first = use_every_message_id(&mut c, s_addr(), t0);
    let t1 = t0 + Duration::from_millis(2200);
    let mut buf = Vec::new();
    // The 65,537th request is accepted but waits: nothing goes out.
    let h = c.request(t1, s_addr(), get("/x"), true).unwrap();
    assert!(c.poll_transmit(t1, &mut buf).is_none());
    assert!(c.stats().message_ids_exhausted >= 1);
    // Another peer has its own ID space.
    let other: SocketAddr = "127.0.0.1:5684".parse().unwrap();
    let h2 = c.request(t1, other, get("/x"), true).unwrap();
    let t = c.poll_transmit(t1, &mut buf).unwrap();
    assert_eq!(t.destination, other);
    assert!(c.forget(h2));
    // It wakes up when the first IDs' EXCHANGE_LIFETIME (247 s) is over, not before.
    let wake = c.poll_timeout().unwrap();
    let lifetime = Duration::from_secs(247);
    assert!(wake >= t0 + lifetime, "{:?}", wake - t0);
    assert!(
        wake <= t0 + lifetime + Duration::from_secs(3),
        "{:?}",
        wake - t0
    );
    c.handle_timeout(wake - Duration::from_millis(1));
    assert!(c.poll_transmit(wake, &mut buf).is_none());
    c.handle_timeout(wake);
    let t = c
        .poll_transmit(wake, &mut buf)
        .expect("sent once an ID is free");
    assert_eq!(t.destination, s_addr());
    let f = Frame::decode(&buf).unwrap();
    assert_eq!(f.mid, first, "the oldest ID is the one reused");
    assert_eq!(f.mtype, MessageType::Confirmable);
    let ack = Frame {
        mtype: MessageType::Acknowledgement,
        mid: f.mid,
        token: f.token,
        msg: Message::response(Code::CONTENT, "late"),
    };
    c.handle_datagram(wake, s_addr(), &ack.encode(1152).unwrap())
        .unwrap();
    match c.poll_event() {
        Some(Event::Response { handle, response }) => {
            assert_eq!(handle, h);
            assert_eq!(response.payload, b"late");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn message_id_wait_bound_gives_typed_error() {
    // Zero wait: refused at once (back-pressure).
    let cfg = Config {
        message_id_wait: Some(Duration::ZERO),
        ..Config::default()
    };
    let mut c = Endpoint::new(cfg, Router::new(), [4; 32]);
    let t0 = Instant::now();
    use_every_message_id(&mut c, s_addr(), t0);
    let t1 = t0 + Duration::from_secs(3);
    assert_eq!(
        c.request(t1, s_addr(), get("/x"), true),
        Err(Error::MessageIdsExhausted)
    );
    assert_eq!(c.usage().client_exchanges, 0);
    assert_eq!(
        Error::MessageIdsExhausted.to_code(),
        Code::SERVICE_UNAVAILABLE
    );

    // Bounded wait: queued, then fails cleanly with the typed error.
    let cfg = Config {
        message_id_wait: Some(Duration::from_secs(10)),
        ..Config::default()
    };
    let mut c = Endpoint::new(cfg, Router::new(), [5; 32]);
    use_every_message_id(&mut c, s_addr(), t0);
    let h = c.request(t1, s_addr(), get("/x"), false).unwrap();
    let mut buf = Vec::new();
    assert!(c.poll_transmit(t1, &mut buf).is_none());
    assert_eq!(c.poll_timeout(), Some(t1 + Duration::from_secs(10)));
    c.handle_timeout(t1 + Duration::from_secs(10));
    assert!(
        c.poll_transmit(t1, &mut buf).is_none(),
        "nothing sent, no ID reused"
    );
    assert_eq!(
        c.poll_event(),
        Some(Event::Failed {
            handle: h,
            error: Error::MessageIdsExhausted
        })
    );
    assert_eq!(c.usage().client_exchanges, 0);
}

// ---------------------------------------------------------------- dedup bounds

#[test]
fn one_peer_can_use_its_whole_message_id_space() {
    let count = Arc::new(AtomicUsize::new(0));
    let mut s = Endpoint::new(
        Config::default(),
        Router::new().mount("/x", counting(b"x", count.clone())),
        [6; 32],
    );
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let mut first_reply = Vec::new();
    // every message ID within ~2.2 s: far above the old 1024-entry budget
    for mid in 0..=u16::MAX {
        let now = t0 + Duration::from_micros(u64::from(mid) * 33);
        s.handle_datagram(now, c_addr(), &con(mid, get("/x")).encode(1152).unwrap())
            .unwrap();
        let _ = s.poll_transmit(now, &mut buf).unwrap();
        let r = Frame::decode(&buf).unwrap();
        assert_eq!(r.msg.code, Code::CONTENT, "mid {mid}");
        if mid == 0 {
            first_reply = buf.clone();
        }
    }
    assert_eq!(count.load(Ordering::SeqCst), 65_536);
    let u = s.usage();
    assert_eq!(u.dedup_entries, 65_536);
    assert_eq!(u.dedup_reply_bytes, 65_536 * first_reply.len());
    let dup = con(0, get("/x")).encode(1152).unwrap();
    // A retransmission while the ACK may have been lost: the same bytes again.
    let t = t0 + Duration::from_secs(40);
    s.handle_datagram(t, c_addr(), &dup).unwrap();
    let _ = s.poll_transmit(t, &mut buf).unwrap();
    assert_eq!(buf, first_reply);
    // 145 s (MAX_TRANSMIT_SPAN + MAX_LATENCY) after the last request no retransmission can arrive: the
    // reply is gone, the ID is kept, a duplicate is dropped silently.
    let t = t0 + Duration::from_secs(148);
    s.handle_timeout(t);
    assert_eq!(s.usage().dedup_reply_bytes, 0);
    assert_eq!(s.usage().dedup_entries, 65_536);
    s.handle_datagram(t, c_addr(), &dup).unwrap();
    assert!(s.poll_transmit(t, &mut buf).is_none());
    assert_eq!(count.load(Ordering::SeqCst), 65_536, "exactly once");
    assert_eq!(s.stats().duplicates, 2);
    assert_eq!(s.stats().dropped_at_limit, 0);
    // After EXCHANGE_LIFETIME the ID is new again.
    let t = t0 + Duration::from_secs(250);
    s.handle_timeout(t);
    assert_eq!(s.usage().dedup_entries, 0);
    s.handle_datagram(t, c_addr(), &dup).unwrap();
    let _ = s.poll_transmit(t, &mut buf).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 65_537);
}

#[test]
fn dedup_total_and_reply_byte_bounds_answer_503() {
    let count = Arc::new(AtomicUsize::new(0));
    let cfg = Config {
        max_dedup_total: 3,
        ..Config::default()
    };
    let mut s = Endpoint::new(
        cfg,
        Router::new().mount("/x", counting(b"x", count.clone())),
        [6; 32],
    );
    let t0 = Instant::now();
    let mut buf = Vec::new();
    for port in 1..=4u16 {
        let from = SocketAddr::from(([127, 0, 0, 1], port));
        s.handle_datagram(t0, from, &con(9, get("/x")).encode(1152).unwrap())
            .unwrap();
        let _ = s.poll_transmit(t0, &mut buf).unwrap();
    }
    let r = Frame::decode(&buf).unwrap();
    assert_eq!(r.msg.code, Code::SERVICE_UNAVAILABLE, "total bound");
    assert_eq!(r.msg.options.get_uint(option::MAX_AGE).unwrap(), Some(247));
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // Reply bytes: once the budget is used, new CONs wait for the reply window (145 s).
    let cfg = Config {
        max_dedup_reply_bytes: 10,
        ..Config::default()
    };
    let mut s = Endpoint::new(
        cfg,
        Router::new().mount("/x", counting(b"x", count.clone())),
        [6; 32],
    );
    let mut codes = Vec::new();
    for mid in 0..4u16 {
        s.handle_datagram(t0, c_addr(), &con(mid, get("/x")).encode(1152).unwrap())
            .unwrap();
        let _ = s.poll_transmit(t0, &mut buf).unwrap();
        let r = Frame::decode(&buf).unwrap();
        codes.push(r.msg.code);
        if r.msg.code == Code::SERVICE_UNAVAILABLE {
            assert_eq!(r.msg.options.get_uint(option::MAX_AGE).unwrap(), Some(145));
        }
    }
    assert_eq!(codes.iter().filter(|c| **c == Code::CONTENT).count(), 2);
    assert_eq!(codes.last(), Some(&Code::SERVICE_UNAVAILABLE));
    assert!(s.usage().dedup_reply_bytes <= 10 + 1152);
    // NON requests need no reply cache and are still served.
    let mut non = con(10, get("/x"));
    non.mtype = MessageType::NonConfirmable;
    s.handle_datagram(t0, c_addr(), &non.encode(1152).unwrap())
        .unwrap();
    let _ = s.poll_transmit(t0, &mut buf).unwrap();
    assert_eq!(Frame::decode(&buf).unwrap().msg.code, Code::CONTENT);
}

// ---------------------------------------------------------------- group communication (RFC 7252 §8)

fn group_addr() -> SocketAddr {
    "224.0.1.187:5683".parse().unwrap()
}

fn mcast_server(leisure: Duration, seed: u8) -> Endpoint {
    let cfg = Config {
        multicast: crate::config::MulticastConfig {
            leisure,
            ..Default::default()
        },
        ..Config::default()
    };
    Endpoint::new(
        cfg,
        Router::new().mount(
            "/who",
            FnResource::new(move |_| Message::response(Code::CONTENT, vec![seed]).into()),
        ),
        [seed; 32],
    )
}

fn non(mid: u16, msg: Message) -> Frame {
    Frame {
        mtype: MessageType::NonConfirmable,
        mid,
        token: vec![0xBB, mid as u8],
        msg,
    }
}

#[test]
fn multicast_response_is_non_after_random_leisure() {
    let leisure = Duration::from_secs(2);
    let mut s = mcast_server(leisure, 1);
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let mut sent_at = Vec::new();
    for port in 0..20u16 {
        let from = SocketAddr::from(([127, 0, 0, 1], 30_000 + port));
        s.handle_multicast_datagram(t0, from, &non(port, get("/who")).encode(1152).unwrap())
            .unwrap();
        assert!(s.poll_transmit(t0, &mut buf).is_none() || leisure.is_zero());
    }
    assert_eq!(s.usage().multicast_pending, 20);
    let mut now = t0;
    while let Some(at) = s.poll_timeout().filter(|t| *t <= t0 + leisure) {
        assert!(at >= now);
        now = at;
        s.handle_timeout(now);
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            let f = Frame::decode(&buf).unwrap();
            assert_eq!(f.mtype, MessageType::NonConfirmable);
            assert_eq!(f.msg.code, Code::CONTENT);
            assert_eq!(f.token, vec![0xBB, (t.destination.port() - 30_000) as u8]);
            sent_at.push(now - t0);
        }
    }
    assert_eq!(sent_at.len(), 20, "every response within the leisure");
    assert!(sent_at.iter().all(|d| *d < leisure));
    let distinct: std::collections::BTreeSet<_> = sent_at.iter().collect();
    assert!(distinct.len() > 10, "random instants: {sent_at:?}");
    assert_eq!(s.usage().multicast_pending, 0);
    // a duplicate of a multicast request is not answered twice
    s.handle_multicast_datagram(
        now,
        SocketAddr::from(([127, 0, 0, 1], 30_000)),
        &non(0, get("/who")).encode(1152).unwrap(),
    )
    .unwrap();
    assert_eq!(s.usage().multicast_pending, 0);
    assert_eq!(s.stats().duplicates, 1);
}

#[test]
fn multicast_errors_suppressed_and_never_reset() {
    let mut s = mcast_server(Duration::ZERO, 1);
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let from = c_addr();
    let mut feed = |s: &mut Endpoint, bytes: Vec<u8>| {
        let _ = s.handle_multicast_datagram(t0, from, &bytes);
        s.handle_timeout(t0);
        s.poll_transmit(t0, &mut buf)
            .map(|_| Frame::decode(&buf).unwrap())
    };
    // 4.04 / 4.05 suppressed by default
    assert!(feed(&mut s, non(1, get("/missing")).encode(1152).unwrap()).is_none());
    let post = Message::request(Code::POST, "/who");
    assert!(feed(&mut s, non(2, post).encode(1152).unwrap()).is_none());
    assert_eq!(s.stats().multicast_suppressed, 2);
    // No-Response: 0 = "all responses wanted" (RFC 7967) brings the 4.04 back
    let mut m = get("/missing");
    m.options.set_uint(option::NO_RESPONSE, 0);
    let r = feed(&mut s, non(3, m).encode(1152).unwrap()).expect("4.04 asked for");
    assert_eq!(r.msg.code, Code::NOT_FOUND);
    assert_eq!(r.mtype, MessageType::NonConfirmable);
    // No-Response 2 suppresses the 2.05
    let mut m = get("/who");
    m.options.set_uint(option::NO_RESPONSE, 2);
    assert!(feed(&mut s, non(4, m).encode(1152).unwrap()).is_none());
    // never RST or ACK to multicast: CON request, CoAP ping, malformed CON, responses
    assert!(feed(&mut s, con(5, get("/who")).encode(1152).unwrap()).is_none());
    assert!(feed(&mut s, Frame::empty(MessageType::Confirmable, 6)).is_none());
    assert!(feed(&mut s, vec![0x48, 0x01, 0x00, 0x07]).is_none());
    let resp = Frame {
        mtype: MessageType::NonConfirmable,
        mid: 8,
        token: vec![1],
        msg: Message::new(Code::CONTENT),
    };
    assert!(feed(&mut s, resp.encode(1152).unwrap()).is_none());
    assert_eq!(s.usage().multicast_pending, 0);
    // the unicast path still sends errors
    let r = server_answer(&mut s, &con(9, get("/missing"))).unwrap();
    assert_eq!(r.msg.code, Code::NOT_FOUND);

    // configured to send errors
    let mut s = Endpoint::new(
        Config {
            multicast: crate::config::MulticastConfig {
                leisure: Duration::ZERO,
                error_responses: true,
                ..Default::default()
            },
            ..Config::default()
        },
        Router::new(),
        [2; 32],
    );
    let r = feed(&mut s, non(1, get("/missing")).encode(1152).unwrap()).unwrap();
    assert_eq!(r.msg.code, Code::NOT_FOUND);
}

#[test]
fn multicast_client_collects_responses_from_every_server() {
    let mut c = Endpoint::new(Config::default(), Router::new(), [9; 32]);
    let t0 = Instant::now();
    let collect = Duration::from_secs(3);
    assert_eq!(
        c.multicast_request(t0, s_addr(), get("/who"), collect),
        Err(Error::Misuse("not a multicast address"))
    );
    let h = c
        .multicast_request(t0, group_addr(), get("/who"), collect)
        .unwrap();
    let mut buf = Vec::new();
    let t = c.poll_transmit(t0, &mut buf).unwrap();
    assert_eq!(t.destination, group_addr());
    let req = buf.clone();
    assert_eq!(
        Frame::decode(&req).unwrap().mtype,
        MessageType::NonConfirmable
    );
    // three servers receive it via multicast; a fourth answers with an error (suppressed)
    let servers: Vec<SocketAddr> = (1..=4u16)
        .map(|i| SocketAddr::from(([127, 0, 0, 1], 5700 + i)))
        .collect();
    let mut eps: Vec<Endpoint> = (1..=3u8)
        .map(|i| mcast_server(Duration::from_secs(1), i))
        .collect();
    eps.push(Endpoint::new(
        Config {
            multicast: crate::config::MulticastConfig {
                leisure: Duration::from_secs(1),
                ..Default::default()
            },
            ..Config::default()
        },
        Router::new(),
        [4; 32],
    ));
    let mut late = None;
    for (ep, addr) in eps.iter_mut().zip(&servers) {
        ep.handle_multicast_datagram(t0, c_addr(), &req).unwrap();
        let leisure_end = t0 + Duration::from_secs(1);
        if let Some(at) = ep.poll_timeout().filter(|t| *t <= leisure_end) {
            ep.handle_timeout(at);
            let _ = ep.poll_transmit(at, &mut buf).unwrap();
            late.get_or_insert(buf.clone());
            c.handle_datagram(at, *addr, &buf).unwrap();
        }
    }
    let mut got = Vec::new();
    while let Some(e) = c.poll_event() {
        match e {
            Event::GroupResponse {
                handle,
                from,
                response,
            } => {
                assert_eq!(handle, h);
                got.push((from, response.payload));
            }
            other => panic!("{other:?}"),
        }
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            (servers[0], vec![1]),
            (servers[1], vec![2]),
            (servers[2], vec![3])
        ]
    );
    assert!(
        c.poll_transmit(t0, &mut buf).is_none(),
        "NON responses need no ACK"
    );
    assert_eq!(c.poll_timeout(), Some(t0 + collect));
    c.handle_timeout(t0 + collect);
    assert_eq!(
        c.poll_event(),
        Some(Event::GroupDone {
            handle: h,
            responses: 3
        })
    );
    assert_eq!(c.usage().group_requests, 0);
    // a response after the collection period is an unknown token: RST, no event
    let mut late = Frame::decode(&late.unwrap()).unwrap();
    late.mid = late.mid.wrapping_add(100);
    let t = t0 + collect + Duration::from_secs(1);
    c.handle_datagram(t, servers[3], &late.encode(1152).unwrap())
        .unwrap();
    assert!(c.poll_event().is_none());
    let _ = c.poll_transmit(t, &mut buf).unwrap();
    assert_eq!(Frame::decode(&buf).unwrap().mtype, MessageType::Reset);
}

// ---------------------------------------------------------------- piggyback window

/// Requests seen by [`deferring_server`]'s resource: (id, confirmable).
type Seen = Arc<Mutex<Vec<(RequestId, bool)>>>;

/// A server whose `/slow` resource defers every request, recording its id, whether it
/// was confirmable, and how often the handler ran.
fn deferring_server(window: Duration) -> (Endpoint, Seen, Arc<AtomicUsize>) {
    let seen: Seen = Arc::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let (s2, r2) = (seen.clone(), runs.clone());
    let router = Router::new().mount(
        "/slow",
        FnResource::new(move |req| {
            r2.fetch_add(1, Ordering::SeqCst);
            s2.lock().unwrap().push((req.id(), req.confirmable()));
            Handled::Deferred
        }),
    );
    let cfg = Config {
        piggyback_window: window,
        ..Config::default()
    };
    (Endpoint::new(cfg, router, [5; 32]), seen, runs)
}

/// Feeds `frame` from the client at `now` and returns every datagram the server sends.
fn feed(server: &mut Endpoint, now: Instant, frame: &Frame) -> Vec<Frame> {
    let _ = server.handle_datagram(now, c_addr(), &frame.encode(usize::MAX).unwrap());
    drain_server(server, now)
}

fn drain_server(server: &mut Endpoint, now: Instant) -> Vec<Frame> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Some(t) = server.poll_transmit(now, &mut buf) {
        assert_eq!(t.destination, c_addr());
        out.push(Frame::decode(&buf).unwrap());
    }
    out
}

#[test]
fn deferred_response_within_window_is_piggybacked() {
    let (mut server, seen, runs) = deferring_server(Duration::from_millis(100));
    let t0 = Instant::now();
    let req = con(0x1234, get("/slow"));
    assert!(
        feed(&mut server, t0, &req).is_empty(),
        "empty ACK held back"
    );
    assert_eq!(
        server.poll_timeout(),
        Some(t0 + Duration::from_millis(100)),
        "the window end is the next timer"
    );
    let t1 = t0 + Duration::from_millis(40);
    server.handle_timeout(t1);
    assert!(drain_server(&mut server, t1).is_empty());
    let (id, confirmable) = seen.lock().unwrap()[0];
    assert!(confirmable);
    server
        .respond(t1, id, Message::response(Code::CONTENT, "soon"))
        .unwrap();
    let sent = drain_server(&mut server, t1);
    assert_eq!(sent.len(), 1, "one datagram: the piggybacked response");
    assert_eq!(
        (sent[0].mtype, sent[0].mid, &sent[0].token, sent[0].msg.code),
        (
            MessageType::Acknowledgement,
            0x1234,
            &req.token,
            Code::CONTENT
        )
    );
    assert_eq!(sent[0].msg.payload, b"soon");
    // nothing else happens at the old window end or later
    let t2 = t0 + Duration::from_secs(10);
    server.handle_timeout(t2);
    assert!(drain_server(&mut server, t2).is_empty());
    assert_eq!(server.usage().retransmissions, 0, "no separate CON");
    assert_eq!(server.usage().deferred, 0);
    // a later duplicate gets the same piggybacked ACK from the cache, handler not re-run
    let dup = feed(&mut server, t2, &req);
    assert_eq!(dup, sent);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn deferred_response_after_window_gets_empty_ack_then_con() {
    let (mut server, seen, _) = deferring_server(Duration::from_millis(100));
    let t0 = Instant::now();
    let req = con(0x2000, get("/slow"));
    assert!(feed(&mut server, t0, &req).is_empty());
    let just_before = t0 + Duration::from_millis(99);
    server.handle_timeout(just_before);
    assert!(drain_server(&mut server, just_before).is_empty());
    let end = t0 + Duration::from_millis(100);
    server.handle_timeout(end);
    let ack = drain_server(&mut server, end);
    assert_eq!(ack.len(), 1);
    assert_eq!(
        (ack[0].mtype, ack[0].mid, ack[0].msg.code),
        (MessageType::Acknowledgement, 0x2000, Code::EMPTY)
    );
    assert!(ack[0].token.is_empty());
    // the response comes later as a separate CON with the request's token
    let t1 = t0 + Duration::from_millis(500);
    let id = seen.lock().unwrap()[0].0;
    server
        .respond(t1, id, Message::response(Code::CONTENT, "late"))
        .unwrap();
    let sep = drain_server(&mut server, t1);
    assert_eq!(sep.len(), 1);
    assert_eq!(
        (sep[0].mtype, &sep[0].token, sep[0].msg.code),
        (MessageType::Confirmable, &req.token, Code::CONTENT)
    );
    assert_ne!(sep[0].mid, 0x2000);
    assert_eq!(
        server.usage().retransmissions,
        1,
        "separate CON awaits its ACK"
    );
    // the client's ACK of the separate response stops its retransmission
    let client_ack = Frame::empty(MessageType::Acknowledgement, sep[0].mid);
    let _ = server.handle_datagram(t1, c_addr(), &client_ack);
    assert_eq!(server.usage().retransmissions, 0);
    // a duplicate of the request is answered with the cached empty ACK
    assert_eq!(feed(&mut server, t1, &req), ack);
}

#[test]
fn duplicate_con_during_window_runs_handler_once_and_acks_once() {
    // response ready within the window, duplicate in between
    let (mut server, seen, runs) = deferring_server(Duration::from_millis(100));
    let t0 = Instant::now();
    let req = con(0x3000, get("/slow"));
    assert!(feed(&mut server, t0, &req).is_empty());
    let t1 = t0 + Duration::from_millis(20);
    assert!(
        feed(&mut server, t1, &req).is_empty(),
        "duplicate during the window: nothing sent yet"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(server.stats().duplicates, 1);
    let t2 = t0 + Duration::from_millis(60);
    let id = seen.lock().unwrap()[0].0;
    server
        .respond(t2, id, Message::response(Code::CONTENT, "x"))
        .unwrap();
    let sent = drain_server(&mut server, t2);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].mtype, MessageType::Acknowledgement);
    assert_eq!(sent[0].msg.code, Code::CONTENT);

    // window expires, duplicates before and after the empty ACK
    let (mut server, seen, runs) = deferring_server(Duration::from_millis(100));
    assert!(feed(&mut server, t0, &req).is_empty());
    assert!(feed(&mut server, t1, &req).is_empty());
    let end = t0 + Duration::from_millis(100);
    server.handle_timeout(end);
    let acks = drain_server(&mut server, end);
    assert_eq!(acks.len(), 1, "one empty ACK at the window end");
    assert_eq!(acks[0].msg.code, Code::EMPTY);
    server.handle_timeout(end + Duration::from_millis(1));
    assert!(drain_server(&mut server, end + Duration::from_millis(1)).is_empty());
    // a retransmission after the ACK gets the cached ACK again (it may have been lost)
    let t3 = t0 + Duration::from_secs(2);
    assert_eq!(feed(&mut server, t3, &req), acks);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let id = seen.lock().unwrap()[0].0;
    server
        .respond(t3, id, Message::response(Code::CONTENT, "x"))
        .unwrap();
    let sep = drain_server(&mut server, t3);
    assert_eq!(sep.len(), 1);
    assert_eq!(sep[0].mtype, MessageType::Confirmable);
}

#[test]
fn non_request_unaffected_by_piggyback_window() {
    let (mut server, seen, _) = deferring_server(Duration::from_millis(100));
    let t0 = Instant::now();
    let req = non(0x4000, get("/slow"));
    assert!(feed(&mut server, t0, &req).is_empty());
    assert_eq!(
        server.poll_timeout(),
        Some(t0 + server.config().transmission.non_lifetime()),
        "no ACK timer for a NON request (the first timer is its dedup expiry)"
    );
    let end = t0 + Duration::from_millis(300);
    server.handle_timeout(end);
    assert!(drain_server(&mut server, end).is_empty(), "never an ACK");
    let (id, confirmable) = seen.lock().unwrap()[0];
    assert!(!confirmable, "the resource sees a NON request");
    server
        .respond(end, id, Message::response(Code::CONTENT, "n"))
        .unwrap();
    let sent = drain_server(&mut server, end);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].mtype, &sent[0].token, sent[0].msg.code),
        (MessageType::NonConfirmable, &req.token, Code::CONTENT)
    );
    assert_eq!(server.usage().retransmissions, 0);
}

#[test]
fn zero_window_acks_at_once_and_window_is_capped() {
    let (mut server, seen, _) = deferring_server(Duration::ZERO);
    let t0 = Instant::now();
    let sent = feed(&mut server, t0, &con(0x5000, get("/slow")));
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].mtype, sent[0].msg.code),
        (MessageType::Acknowledgement, Code::EMPTY)
    );
    let id = seen.lock().unwrap()[0].0;
    server
        .respond(t0, id, Message::response(Code::CONTENT, "z"))
        .unwrap();
    assert_eq!(
        drain_server(&mut server, t0)[0].mtype,
        MessageType::Confirmable
    );

    // a window longer than ACK_TIMEOUT / 2 is capped there
    let (mut server, _, _) = deferring_server(Duration::from_secs(10));
    assert!(feed(&mut server, t0, &con(0x5001, get("/slow"))).is_empty());
    assert_eq!(server.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    server.handle_timeout(t0 + Duration::from_secs(1));
    let ack = drain_server(&mut server, t0 + Duration::from_secs(1));
    assert_eq!(
        (ack.len(), ack[0].msg.code),
        (1, Code::EMPTY),
        "empty ACK at ACK_TIMEOUT / 2"
    );
}

#[test]
fn piggyback_over_the_simulated_network_saves_the_round_trip() {
    // End to end through both engines: a deferred response answered 30 ms after the
    // request arrived reaches the client in the ACK: 1 datagram each way.
    let pending: Arc<Mutex<Vec<RequestId>>> = Arc::default();
    let p2 = pending.clone();
    let router = Router::new().mount(
        "/slow",
        FnResource::new(move |req| {
            p2.lock().unwrap().push(req.id());
            Handled::Deferred
        }),
    );
    let mut net = Net::new(router);
    let h = net
        .client
        .request(net.now, s_addr(), get("/slow"), true)
        .unwrap();
    net.run_until(Duration::from_millis(40), |_| {
        !pending.lock().unwrap().is_empty()
    });
    let id = pending.lock().unwrap()[0];
    net.run_until(Duration::from_millis(30), |_| false);
    net.server
        .respond(net.now, id, Message::response(Code::CONTENT, "quick"))
        .unwrap();
    let r = response(net.wait(h));
    assert_eq!(r.payload, b"quick");
    net.run_until(Duration::from_secs(5), |_| false);
    assert_eq!(net.sent_by(c_addr()).len(), 1, "no client ACK needed");
    let sent = net.sent_by(s_addr());
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].mtype, sent[0].msg.code),
        (MessageType::Acknowledgement, Code::CONTENT)
    );
}

#[test]
fn request_reports_its_message_type() {
    let seen: Arc<Mutex<Vec<bool>>> = Arc::default();
    let s2 = seen.clone();
    let router = Router::new().mount(
        "/t",
        FnResource::new(move |req| {
            s2.lock().unwrap().push(req.confirmable());
            Message::response(Code::CONTENT, "").into()
        }),
    );
    let mut server = Endpoint::new(Config::default(), router, [1; 32]);
    let t0 = Instant::now();
    assert_eq!(
        feed(&mut server, t0, &con(1, get("/t")))[0].mtype,
        MessageType::Acknowledgement
    );
    assert_eq!(
        feed(&mut server, t0, &non(2, get("/t")))[0].mtype,
        MessageType::NonConfirmable
    );
    assert_eq!(*seen.lock().unwrap(), vec![true, false]);
    let built = Request::new(get("/t"), c_addr(), PeerIdentity::Anonymous).unwrap();
    assert!(built.confirmable());
    assert!(!built.with_confirmable(false).confirmable());
}
