//! Outer block-wise (RFC 8613 §4.1.3.4.2, §8.2.1, §8.4.1; RFC 7959) end to end on 127.0.0.1:
//! our `OscoreClient` → a recording UDP proxy → an ace-coap server with `OscoreLayer`
//! (contexts RFC 8613 C.1.1 / C.1.2). The OSCORE message is protected whole, cut into outer
//! Block1/Block2 blocks by the CoAP layers and reassembled before it is verified; the outer
//! Block options are class U (visible to the proxy, not integrity protected), so a tampered
//! block makes the reassembled message fail verification.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ace_coap::{
    BlockOption, Client, Code, Config, FnResource, Message, OuterBlockwise, PeerIdentity, Router,
    Server,
};
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::coap::{OscoreClient, OscoreLayer};
use ace_oscore::consts::option;
use ace_oscore::message::decode_uint;
use ace_oscore::{ContextParams, ContextSet, Error, MemorySequenceStore, Packet, SecurityContext};
use tokio::net::UdpSocket;

const LIMIT: Duration = Duration::from_secs(30);

fn params() -> ContextParams {
    ContextParams::new(
        &hex::decode("0102030405060708090a0b0c0d0e0f10").unwrap(),
        &hex::decode("9e7ca92223786340").unwrap(),
        b"",
        b"\x01",
    )
}

fn body(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// One datagram as the proxy saw it.
#[derive(Debug, Clone)]
struct Seen {
    to_server: bool,
    code: u8,
    oscore: Option<Vec<u8>>,
    block1: Option<BlockOption>,
    block2: Option<BlockOption>,
    size1: Option<u32>,
    payload: usize,
}

type Log = Arc<Mutex<Vec<Seen>>>;
type Tamper = Box<dyn FnMut(&mut Packet) + Send>;

fn seen(p: &Packet, to_server: bool) -> Seen {
    let m = &p.message;
    Seen {
        to_server,
        code: m.code,
        oscore: m.option(option::OSCORE).map(<[u8]>::to_vec),
        block1: m.option(option::BLOCK1).and_then(BlockOption::decode),
        block2: m.option(option::BLOCK2).and_then(BlockOption::decode),
        size1: m.option(option::SIZE1).and_then(decode_uint),
        payload: m.payload.len(),
    }
}

/// Client ↔ proxy ↔ server; every datagram is logged, client → server ones pass `tamper`.
async fn proxy(server: SocketAddr, mut tamper: Tamper) -> (SocketAddr, Log) {
    let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = front.local_addr().unwrap();
    let log: Log = Arc::default();
    let l = log.clone();
    tokio::spawn(async move {
        let mut client: Option<SocketAddr> = None;
        let (mut a, mut b) = (vec![0u8; 2048], vec![0u8; 2048]);
        loop {
            tokio::select! {
                r = front.recv_from(&mut a) => {
                    let (n, from) = r.unwrap();
                    client = Some(from);
                    let mut p = Packet::decode(&a[..n]).unwrap();
                    tamper(&mut p);
                    l.lock().unwrap().push(seen(&p, true));
                    back.send_to(&p.to_vec().unwrap(), server).await.unwrap();
                }
                r = back.recv_from(&mut b) => {
                    let (n, _) = r.unwrap();
                    l.lock().unwrap().push(seen(&Packet::decode(&b[..n]).unwrap(), false));
                    if let Some(c) = client {
                        front.send_to(&b[..n], c).await.unwrap();
                    }
                }
            }
        }
    });
    (addr, log)
}

/// What `/echo` saw: (Content-Format, body).
type Bodies = Arc<Mutex<Vec<(Option<u16>, Vec<u8>)>>>;

/// `/echo` (POST: the body with every byte inverted, Content-Format kept, counted) and
/// `/big` (GET: 5000 bytes).
fn router(runs: Arc<AtomicUsize>, bodies: Bodies) -> Router {
    Router::new()
        .mount(
            "/echo",
            FnResource::new(move |req| {
                runs.fetch_add(1, Ordering::SeqCst);
                assert!(matches!(req.identity, PeerIdentity::Oscore { .. }));
                let cf = req.message.content_format();
                bodies.lock().unwrap().push((cf, req.payload().to_vec()));
                let out: Vec<u8> = req.payload().iter().map(|b| !b).collect();
                let mut resp = Message::response(Code::CHANGED, out);
                if let Some(cf) = cf {
                    resp = resp.with_content_format(cf);
                }
                resp.into()
            })
            .methods(&[Code::POST]),
        )
        .mount(
            "/big",
            FnResource::new(|_| Message::response(Code::CONTENT, body(5000, 0x33)).into()),
        )
}

struct Setup {
    client: Arc<OscoreClient<RustCrypto>>,
    addr: SocketAddr,
    log: Log,
    runs: Arc<AtomicUsize>,
    bodies: Bodies,
}

async fn setup(policy: Option<OuterBlockwise>, tamper: Tamper) -> Setup {
    setup_with(policy, tamper, None).await
}

/// [`setup`] with the client's MAX_UNFRAGMENTED_SIZE and inner SZX.
async fn setup_with(
    policy: Option<OuterBlockwise>,
    tamper: Tamper,
    client_max: Option<(usize, u8)>,
) -> Setup {
    let runs = Arc::new(AtomicUsize::new(0));
    let bodies: Bodies = Arc::default();
    let mut set = ContextSet::new();
    set.insert(SecurityContext::new(RustCrypto, params().peer()).unwrap());
    let layer = OscoreLayer::new(set, MemorySequenceStore::new()).with_outer_blockwise(policy);
    let server = Server::bind_with_security(
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
        router(runs.clone(), bodies.clone()),
        layer,
    )
    .await
    .unwrap();
    let server_addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    let (addr, log) = proxy(server_addr, tamper).await;
    let (c, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    tokio::spawn(driver.run());
    let ctx = SecurityContext::new(RustCrypto, params()).unwrap();
    Setup {
        client: Arc::new(match client_max {
            Some((max, szx)) => OscoreClient::new(c, ctx, MemorySequenceStore::new())
                .with_max_unfragmented_size(max, szx),
            None => OscoreClient::new(c, ctx, MemorySequenceStore::new()),
        }),
        addr,
        log,
        runs,
        bodies,
    }
}

fn take(log: &Log) -> Vec<Seen> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// A 5 KiB POST and its 5 KiB answer, both through outer block-wise: the protected request
/// leaves in 1024-byte outer Block1 blocks (every block carries the same OSCORE option: one
/// Partial IV for the whole message), the server answers 2.31 (unprotected, hop-by-hop) until
/// the last block, verifies the reassembled message once, and its protected answer comes back
/// in outer Block2 blocks that the client fetches with the same protected request (no
/// payload) and reassembles before verifying. Then a GET of 5000 bytes (outer Block2 only).
#[tokio::test]
async fn five_kib_request_and_response_through_outer_blockwise() {
    tokio::time::timeout(LIMIT, async {
        let policy = OuterBlockwise::new(16 * 1024).fragment_responses(true);
        let s = setup(Some(policy), Box::new(|_| {})).await;
        let sent = body(5120, 0x5A);
        let req = Message::request(Code::POST, "/echo")
            .with_content_format(42)
            .with_payload(sent.clone());
        let resp = s.client.request(s.addr, req).await.unwrap();
        assert_eq!(resp.code, Code::CHANGED);
        let expected: Vec<u8> = sent.iter().map(|b| !b).collect();
        assert_eq!(resp.payload, expected, "5120 bytes back, byte-exact");
        assert_eq!(resp.content_format(), Some(42));
        assert_eq!(s.runs.load(Ordering::SeqCst), 1, "handler ran once");
        assert_eq!(*s.bodies.lock().unwrap(), vec![(Some(42), sent)]);

        let log = take(&s.log);
        let up: Vec<&Seen> = log.iter().filter(|d| d.to_server).collect();
        let down: Vec<&Seen> = log.iter().filter(|d| !d.to_server).collect();
        let b1: Vec<&&Seen> = up.iter().filter(|d| d.block1.is_some()).collect();
        assert!(b1.len() >= 5, "{} outer Block1 blocks", b1.len());
        let oscore = b1[0].oscore.clone().expect("OSCORE option on block 0");
        assert!(
            b1.iter()
                .all(|d| d.oscore.as_ref() == Some(&oscore) && d.code == 0x02),
            "outer POST, one OSCORE option (Partial IV) for every block"
        );
        assert!(b1.iter().all(|d| d.payload <= 1024));
        assert_eq!(
            b1[0].size1,
            Some(u32::try_from(b1.iter().map(|d| d.payload).sum::<usize>()).unwrap())
        );
        let continues: Vec<&&Seen> = down.iter().filter(|d| d.code == 0x5F).collect();
        assert_eq!(continues.len(), b1.len() - 1);
        assert!(
            continues.iter().all(|d| d.oscore.is_none()),
            "2.31 Continue is an outer, unprotected response"
        );
        let answer: Vec<&&Seen> = down.iter().filter(|d| d.code == 0x44).collect();
        assert!(answer.len() >= 5, "{} outer Block2 blocks", answer.len());
        assert!(
            answer
                .iter()
                .all(|d| d.oscore.is_some() && d.block2.is_some())
        );
        assert_eq!(
            answer[0].block1.map(|b| b.more),
            Some(false),
            "final response echoes Block1"
        );
        let follow_ups: Vec<&&Seen> = up
            .iter()
            .filter(|d| d.block2.is_some_and(|b| b.num > 0))
            .collect();
        assert_eq!(follow_ups.len(), answer.len() - 1);
        assert!(
            follow_ups
                .iter()
                .all(|d| d.oscore.as_ref() == Some(&oscore) && d.payload == 0),
            "follow-ups repeat the protected request's OSCORE option, without payload"
        );

        let resp = s
            .client
            .request(s.addr, Message::request(Code::GET, "/big"))
            .await
            .unwrap();
        assert_eq!(resp.payload, body(5000, 0x33));
        let log = take(&s.log);
        let nums: Vec<u32> = log
            .iter()
            .filter(|d| !d.to_server)
            .filter_map(|d| d.block2.map(|b| b.num))
            .collect();
        assert_eq!(
            nums,
            vec![0, 1, 2, 3, 4],
            "one protected message, five outer blocks"
        );
        assert!(
            log.iter()
                .filter(|d| d.to_server)
                .all(|d| d.code == 0x05 || d.code == 0x02)
        );
    })
    .await
    .unwrap();
}

/// MAX_UNFRAGMENTED_SIZE: a request whose outer blocks add up beyond it is answered 4.13 with
/// Size1 (unprotected) and discarded — the handler never runs; one within it is accepted, and
/// with the default policy the large answer comes back with inner Block2 (each block its own
/// protected response, no outer Block2 option).
#[tokio::test]
async fn reassembly_bound_and_default_policy() {
    tokio::time::timeout(LIMIT, async {
        let s = setup(Some(OuterBlockwise::new(3000)), Box::new(|_| {})).await;
        let req = Message::request(Code::POST, "/echo").with_payload(body(5120, 1));
        let err = s.client.request(s.addr, req).await.unwrap_err();
        assert!(
            matches!(err, Error::UnprotectedResponse(0x8D)),
            "4.13 expected, got {err:?}"
        );
        assert_eq!(
            s.runs.load(Ordering::SeqCst),
            0,
            "discarded, never processed"
        );
        let log = take(&s.log);
        let too_large = log.iter().find(|d| d.code == 0x8D).unwrap();
        assert_eq!(too_large.size1, Some(3000));
        assert!(too_large.oscore.is_none());

        let sent = body(2500, 2);
        let req = Message::request(Code::POST, "/echo").with_payload(sent.clone());
        let resp = s.client.request(s.addr, req).await.unwrap();
        assert_eq!(resp.payload, sent.iter().map(|b| !b).collect::<Vec<u8>>());
        assert_eq!(s.runs.load(Ordering::SeqCst), 1);
        let log = take(&s.log);
        assert!(
            log.iter().any(|d| d.to_server && d.block1.is_some()),
            "outer Block1 used"
        );
        assert!(
            log.iter().all(|d| d.to_server || d.block2.is_none()),
            "answer in inner Block2 (encrypted), no outer Block2"
        );
        let protected_answers = log
            .iter()
            .filter(|d| !d.to_server && d.oscore.is_some())
            .count();
        assert_eq!(protected_answers, 3, "2500 bytes in three inner blocks");
    })
    .await
    .unwrap();
}

/// The outer Block options and the blocks' bytes are not integrity protected on their own:
/// a proxy flipping one bit in block 2 makes the reassembled OSCORE message fail verification
/// (4.00 "Decryption failed"), and the handler never runs. Without an outer block-wise policy
/// the server cannot take a fragmented request at all (block 0 fails verification).
#[tokio::test]
async fn tampered_block_fails_verification_and_no_policy_refuses() {
    tokio::time::timeout(LIMIT, async {
        let tamper: Tamper = Box::new(|p: &mut Packet| {
            let num = p
                .message
                .option(option::BLOCK1)
                .and_then(BlockOption::decode)
                .map(|b| b.num);
            if num == Some(2)
                && let Some(b) = p.message.payload.get_mut(10)
            {
                *b ^= 0x01;
            }
        });
        let s = setup(Some(OuterBlockwise::new(16 * 1024)), tamper).await;
        let req = Message::request(Code::POST, "/echo").with_payload(body(4000, 3));
        let err = s.client.request(s.addr, req).await.unwrap_err();
        assert!(
            matches!(err, Error::UnprotectedResponse(0x80)),
            "4.00 expected, got {err:?}"
        );
        assert_eq!(s.runs.load(Ordering::SeqCst), 0);

        let s = setup(None, Box::new(|_| {})).await;
        let req = Message::request(Code::POST, "/echo").with_payload(body(4000, 3));
        let err = s.client.request(s.addr, req).await.unwrap_err();
        assert!(
            matches!(err, Error::UnprotectedResponse(0x80)),
            "block 0 alone does not verify: {err:?}"
        );
        let log = take(&s.log);
        assert_eq!(
            log.iter()
                .filter(|d| d.to_server && d.block1.is_some())
                .count(),
            1,
            "refused at block 0"
        );
        assert_eq!(s.runs.load(Ordering::SeqCst), 0);
    })
    .await
    .unwrap();
}

/// One `OscoreClient` shared by 6 tasks, each POSTing 3000 bytes with Content-Format 259
/// (`application/pkixcmp`, what a CMP client sends) at once: every answer verified and
/// byte-exact, every handler run once with its own body and the Content-Format.
#[tokio::test]
async fn concurrent_large_posts_through_one_client() {
    tokio::time::timeout(LIMIT, async {
        let policy = OuterBlockwise::new(16 * 1024).fragment_responses(true);
        let s = setup(Some(policy), Box::new(|_| {})).await;
        let tasks: Vec<_> = (0..6u8)
            .map(|k| {
                let (client, addr) = (s.client.clone(), s.addr);
                tokio::spawn(async move {
                    let sent = body(3000, k);
                    let req = Message::request(Code::POST, "/echo")
                        .with_content_format(259)
                        .with_payload(sent.clone());
                    let resp = client.request(addr, req).await.unwrap();
                    assert_eq!(resp.content_format(), Some(259));
                    assert_eq!(resp.payload, sent.iter().map(|b| !b).collect::<Vec<u8>>());
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.runs.load(Ordering::SeqCst), 6);
        let mut seen = s.bodies.lock().unwrap().clone();
        seen.sort();
        let mut expected: Vec<(Option<u16>, Vec<u8>)> =
            (0..6u8).map(|k| (Some(259), body(3000, k))).collect();
        expected.sort();
        assert_eq!(seen, expected);
    })
    .await
    .unwrap();
}

/// RFC 8613 §4.1.3.4.2: a message above the peer's MAX_UNFRAGMENTED_SIZE "SHOULD be
/// fragmented by the sending endpoint using Inner Block options". With the client's bound at
/// 2000 bytes a 5000-byte POST goes as ten inner Block1 blocks of 512 bytes, each its own
/// protected request (a fresh Partial IV per block, no outer Block option), each 2.31
/// protected; the handler runs once on the reassembled body. A 1500-byte POST still goes
/// whole (outer Block1).
#[tokio::test]
async fn inner_block1_above_the_clients_max_unfragmented_size() {
    tokio::time::timeout(LIMIT, async {
        let s = setup_with(
            Some(OuterBlockwise::new(16 * 1024)),
            Box::new(|_| {}),
            Some((2000, 5)),
        )
        .await;
        let sent = body(5000, 9);
        let req = Message::request(Code::POST, "/echo").with_payload(sent.clone());
        let resp = s.client.request(s.addr, req).await.unwrap();
        assert_eq!(resp.payload, sent.iter().map(|b| !b).collect::<Vec<u8>>());
        assert_eq!(s.runs.load(Ordering::SeqCst), 1);
        assert_eq!(s.bodies.lock().unwrap()[0].1, sent);
        let log = take(&s.log);
        let up: Vec<&Seen> = log.iter().filter(|d| d.to_server).collect();
        assert!(up.iter().all(|d| d.block1.is_none() && d.block2.is_none()));
        let mut pivs: Vec<Vec<u8>> = up.iter().map(|d| d.oscore.clone().unwrap()).collect();
        let n = pivs.len();
        pivs.dedup();
        assert_eq!(
            pivs.len(),
            n,
            "a fresh OSCORE option (Partial IV) per request"
        );
        assert_eq!(
            n,
            10 + 4,
            "10 inner Block1 blocks, then 4 inner Block2 follow-ups"
        );
        assert!(
            log.iter()
                .filter(|d| !d.to_server)
                .all(|d| d.oscore.is_some() && d.block1.is_none()),
            "2.31 Continue is protected (inner) here"
        );

        let sent = body(1500, 10);
        let req = Message::request(Code::POST, "/echo").with_payload(sent.clone());
        let resp = s.client.request(s.addr, req).await.unwrap();
        assert_eq!(resp.payload, sent.iter().map(|b| !b).collect::<Vec<u8>>());
        let log = take(&s.log);
        assert!(
            log.iter().any(|d| d.to_server && d.block1.is_some()),
            "outer Block1"
        );
    })
    .await
    .unwrap();
}
