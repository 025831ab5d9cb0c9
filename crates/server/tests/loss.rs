//! The AS/RS path over a lossy network: an in-test UDP proxy on loopback in front of the AS
//! and one in front of the RS drops and duplicates datagrams in both directions (a
//! deterministic, seeded pattern), while our client runs, three times over, token request
//! (OSCORE to the AS) → `/authz-info` upload → five authorized GETs of `/temp` and one
//! block-wise GET of `/big` (OSCORE to the RS).
//!
//! Shows: CoAP retransmission recovers every dropped datagram (all exchanges complete with
//! the right responses), and deduplication keeps every handler to exactly one run per
//! exchange although requests arrive twice: the AS issued exactly 3 tokens, the RS stored
//! exactly 3, the `/temp` handler ran exactly 15 times; the proxies' counters show that
//! datagrams really were dropped and duplicated. ACK_TIMEOUT is 100 ms (configurable
//! `TransmissionParams`) to keep the run short; the whole test is bounded by 60 s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ace_coap::{Client, Code, Config, FnResource, Handled, Message, Router, TransmissionParams};
use ace_core::{
    AsEffect, ClientConfig, ClientEngine, CoapCode, Confirmation, ContentFormat, CreationHints,
    MemoryAcceptedTokens, MemoryTokenStore, RsEffect, Scope,
};
use ace_oscore::coap::{OscoreClient, OscoreLayer};
use ace_oscore::{ContextParams, ContextSet, MemorySequenceStore, SecurityContext};
use ace_server::local::{self, AS_SENDER_ID, CLIENT_ID, CLIENT_SENDER_ID, RS_SENDER_ID};
use ace_server::{AsService, EffectSink, PersistError, RsService, demo};
use ace_token::crypto::{CryptoBackend, KeyType, PrivateKey, os_rng};
use ace_token::{PopKey, RustCrypto, UnixTime};
use tokio::net::UdpSocket;

const LIMIT: Duration = Duration::from_secs(60);
const ROUNDS: usize = 3;
const GETS_PER_ROUND: usize = 5;

// ---------------------------------------------------------------------------------------------
// The lossy proxy
// ---------------------------------------------------------------------------------------------

/// What a proxy did.
#[derive(Default, Debug)]
struct ProxyStats {
    forwarded: AtomicUsize,
    dropped: AtomicUsize,
    duplicated: AtomicUsize,
}

/// Seeded decisions per direction: the first datagram is always dropped (so every direction
/// of every proxy loses at least one), then about 20 % dropped (never more than two in a row,
/// so that CoAP's retransmissions always get through within MAX_RETRANSMIT) and about 15 %
/// sent twice.
struct Pattern {
    state: u64,
    run: u32,
    first: bool,
}

enum Fate {
    Drop,
    Once,
    Twice,
}

impl Pattern {
    fn new(seed: u64) -> Self {
        Self {
            state: seed | 1,
            run: 0,
            first: true,
        }
    }

    fn next(&mut self) -> Fate {
        if self.first {
            self.first = false;
            self.run = 1;
            return Fate::Drop;
        }
        // xorshift64
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let r = self.state % 100;
        if r < 20 && self.run < 2 {
            self.run += 1;
            return Fate::Drop;
        }
        self.run = 0;
        if r >= 85 { Fate::Twice } else { Fate::Once }
    }
}

async fn send(sock: &UdpSocket, to: SocketAddr, data: &[u8], fate: Fate, stats: &ProxyStats) {
    let copies = match fate {
        Fate::Drop => {
            stats.dropped.fetch_add(1, Ordering::SeqCst);
            0
        }
        Fate::Once => 1,
        Fate::Twice => {
            stats.duplicated.fetch_add(1, Ordering::SeqCst);
            2
        }
    };
    for _ in 0..copies {
        stats.forwarded.fetch_add(1, Ordering::SeqCst);
        let _ = sock.send_to(data, to).await;
    }
}

/// A UDP proxy on 127.0.0.1 for one client in front of `upstream`; returns its address.
async fn lossy_proxy(upstream: SocketAddr, seed: u64, stats: Arc<ProxyStats>) -> SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = front.local_addr().unwrap();
    tokio::spawn(async move {
        let mut up = Pattern::new(seed);
        let mut down = Pattern::new(seed.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15);
        let mut client: Option<SocketAddr> = None;
        let mut a = vec![0u8; 2048];
        let mut b = vec![0u8; 2048];
        loop {
            tokio::select! {
                r = front.recv_from(&mut a) => {
                    let Ok((n, from)) = r else { return };
                    client = Some(from);
                    send(&back, upstream, &a[..n], up.next(), &stats).await;
                }
                r = back.recv_from(&mut b) => {
                    let Ok((n, _)) = r else { return };
                    if let Some(c) = client {
                        send(&front, c, &b[..n], down.next(), &stats).await;
                    }
                }
            }
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// AS, RS, client
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Counts {
    issued: AtomicUsize,
    stored: AtomicUsize,
}

impl EffectSink for Counts {
    fn as_effects(&self, effects: &[AsEffect]) -> Result<(), PersistError> {
        let n = effects
            .iter()
            .filter(|e| matches!(e, AsEffect::TokenIssued(_)))
            .count();
        self.issued.fetch_add(n, Ordering::SeqCst);
        Ok(())
    }

    fn rs_effects(&self, effects: &[RsEffect]) -> Result<(), PersistError> {
        let n = effects
            .iter()
            .filter(|e| matches!(e, RsEffect::TokenStored { .. }))
            .count();
        self.stored.fetch_add(n, Ordering::SeqCst);
        Ok(())
    }
}

fn context(secret: &[u8], sender: &[u8], recipient: &[u8]) -> SecurityContext<RustCrypto> {
    SecurityContext::new(
        RustCrypto,
        ContextParams::new(secret, b"", sender, recipient),
    )
    .unwrap()
}

fn coap_config() -> Config {
    Config {
        transmission: TransmissionParams {
            ack_timeout: Duration::from_millis(100),
            max_retransmit: 6,
            ..TransmissionParams::default()
        },
        ..Config::default()
    }
}

#[tokio::test]
async fn retransmission_and_dedup_through_a_lossy_proxy() {
    tokio::time::timeout(LIMIT, run()).await.unwrap();
}

#[allow(clippy::too_many_lines)]
async fn run() {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let config = coap_config();
    let mut rng = os_rng();
    let signing_key = PrivateKey::generate(KeyType::P256, &mut rng);
    let as_public = RustCrypto.public_key(&signing_key).unwrap();
    let client_key = PrivateKey::generate(KeyType::P256, &mut rng);
    let client_public = RustCrypto.public_key(&client_key).unwrap();
    let as_secret = *b"loss-test-as-ms1";
    let rs_secret = *b"loss-test-rs-ms1";
    let counts = Arc::new(Counts::default());
    let temp_runs = Arc::new(AtomicUsize::new(0));

    // AS over OSCORE.
    let as_service = AsService::new(local::as_engine(
        &signing_key,
        b"unused-secret",
        3600,
        "temp:r big:r",
        Box::new(MemoryTokenStore::new()),
    ))
    .with_sink(counts.clone());
    let mut set = ContextSet::new();
    set.insert(context(&as_secret, AS_SENDER_ID, CLIENT_SENDER_ID));
    let as_server = ace_server::bind_coap(
        loopback,
        config.clone(),
        as_service.router(),
        OscoreLayer::new(set, MemorySequenceStore::default()),
    )
    .await
    .unwrap();
    let as_addr = as_server.local_addr().unwrap();
    let as_handle = as_server.handle();
    tokio::spawn(as_server.serve());

    // RS: /authz-info unprotected; /temp (counting its runs) and /big over OSCORE.
    let rs_service = RsService::new(local::rs_engine(
        as_public,
        &format!("coap://{as_addr}/token"),
        Box::new(MemoryAcceptedTokens::new()),
    ))
    .with_sink(counts.clone())
    .with_identity_map(local::provisioned_identity_map(client_public.clone()));
    let runs = temp_runs.clone();
    let router = rs_service
        .mount_authz_info(Router::new())
        .mount(
            "/temp",
            rs_service.protect(FnResource::new(move |_| {
                runs.fetch_add(1, Ordering::SeqCst);
                Handled::Response(Message::response(Code::CONTENT, b"21.5 C".to_vec()))
            })),
        )
        .mount(
            "/big",
            rs_service.protect(FnResource::new(|_| {
                Handled::Response(Message::response(Code::CONTENT, demo::big_body()))
            })),
        );
    let mut set = ContextSet::new();
    set.insert(context(&rs_secret, RS_SENDER_ID, CLIENT_SENDER_ID));
    let rs_server = ace_server::bind_coap(
        loopback,
        config.clone(),
        router,
        OscoreLayer::new(set, MemorySequenceStore::default()).allow_unprotected(true),
    )
    .await
    .unwrap();
    let rs_addr = rs_server.local_addr().unwrap();
    let rs_handle = rs_server.handle();
    tokio::spawn(rs_server.serve());

    // Proxies.
    let as_stats = Arc::new(ProxyStats::default());
    let rs_stats = Arc::new(ProxyStats::default());
    let as_proxy = lossy_proxy(as_addr, 0x5eed_0001, as_stats.clone()).await;
    let rs_proxy = lossy_proxy(rs_addr, 0x5eed_0002, rs_stats.clone()).await;

    // Client: talks only to the proxies.
    let (coap, driver) = Client::bind(loopback, config.clone()).await.unwrap();
    tokio::spawn(driver.run());
    let to_as = OscoreClient::new(
        coap.clone(),
        context(&as_secret, CLIENT_SENDER_ID, AS_SENDER_ID),
        MemorySequenceStore::default(),
    );
    let to_rs = OscoreClient::new(
        coap.clone(),
        context(&rs_secret, CLIENT_SENDER_ID, RS_SENDER_ID),
        MemorySequenceStore::default(),
    );
    let mut cc = ClientConfig::new(CLIENT_ID);
    cc.req_cnf = Some(Confirmation::cose_key(PopKey::public(client_public)));
    let engine = ClientEngine::new(cc);

    // Creation hints from an unprotected GET.
    let r = coap.get(rs_proxy, "/temp").await.unwrap();
    assert_eq!(r.code, Code::UNAUTHORIZED);
    let hints = CreationHints::decode(&r.payload).unwrap();
    assert_eq!(hints.audience.as_deref(), Some(local::AUDIENCE));

    let big = demo::big_body();
    for round in 0..ROUNDS {
        let step = engine
            .request_token(&hints, Some(Scope::Text("temp:r big:r".to_owned())))
            .unwrap();
        let msg = Message::request(Code::POST, "/token")
            .with_payload(step.payload().unwrap())
            .with_content_format(ContentFormat::ACE_CBOR.0);
        let resp = to_as.request(as_proxy, msg).await.unwrap();
        assert_eq!(resp.code, Code::CREATED, "round {round}");
        let info = step
            .handle_response(
                UnixTime::now(),
                CoapCode {
                    class: resp.code.class(),
                    detail: resp.code.detail(),
                },
                &resp.payload,
            )
            .unwrap();
        assert_eq!(counts.issued.load(Ordering::SeqCst), round + 1);

        let (cf, req) = info.authz_info_request();
        let up = coap
            .post(rs_proxy, "/authz-info", req.encode().unwrap(), Some(cf.0))
            .await
            .unwrap();
        assert_eq!(up.code, Code::CREATED, "round {round}");
        assert_eq!(counts.stored.load(Ordering::SeqCst), round + 1);

        for _ in 0..GETS_PER_ROUND {
            let r = to_rs
                .request(rs_proxy, Message::request(Code::GET, "/temp"))
                .await
                .unwrap();
            assert_eq!(
                (r.code, r.payload.as_slice()),
                (Code::CONTENT, &b"21.5 C"[..])
            );
        }
        let r = to_rs
            .request(rs_proxy, Message::request(Code::GET, "/big"))
            .await
            .unwrap();
        assert_eq!(r.code, Code::CONTENT);
        assert!(r.payload == big, "block-wise /big differs in round {round}");
    }

    // Let late duplicates arrive (they must not re-run anything).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        counts.issued.load(Ordering::SeqCst),
        ROUNDS,
        "AS handler runs"
    );
    assert_eq!(
        counts.stored.load(Ordering::SeqCst),
        ROUNDS,
        "RS authz-info runs"
    );
    assert_eq!(
        temp_runs.load(Ordering::SeqCst),
        ROUNDS * GETS_PER_ROUND,
        "/temp handler runs"
    );
    let dropped = as_stats.dropped.load(Ordering::SeqCst) + rs_stats.dropped.load(Ordering::SeqCst);
    let duplicated =
        as_stats.duplicated.load(Ordering::SeqCst) + rs_stats.duplicated.load(Ordering::SeqCst);
    eprintln!("proxy AS: {as_stats:?}\nproxy RS: {rs_stats:?}");
    assert!(
        as_stats.dropped.load(Ordering::SeqCst) > 0 && rs_stats.dropped.load(Ordering::SeqCst) > 0,
        "both proxies must have dropped datagrams: {dropped}"
    );
    assert!(
        as_stats.duplicated.load(Ordering::SeqCst) > 0
            && rs_stats.duplicated.load(Ordering::SeqCst) > 0,
        "both proxies must have duplicated datagrams: {duplicated}"
    );
    as_handle.shutdown().await;
    rs_handle.shutdown().await;
}
