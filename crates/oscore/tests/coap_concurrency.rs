//! One `OscoreClient`, shared (behind an `Arc`) by 8 concurrent tokio tasks, sending
//! protected GETs to an ace-coap server with `OscoreLayer` on 127.0.0.1 — the concurrent
//! measurement of `ace bench`.
//!
//! Regression: `OscoreClient::request` used to take the Sender Sequence Number (protect) and
//! hand the message to the ace-coap driver in two unordered steps, so a task preempted in
//! between sent its Partial IV after others had sent higher ones; once the gap exceeded the
//! server's 64-entry replay window (RFC 8613 §7.4) the server answered an unprotected 4.01
//! "Replay detected". The client now hands messages to the engine in Partial IV order, so on
//! a lossless path the server sees strictly increasing Partial IVs, which this test checks
//! (a much stronger and more reliably triggered condition than the 64-gap failure) besides
//! every response being a verified 2.05.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ace_coap::{Client, Code, Config, FnResource, Message, PeerIdentity, Router, SecurityLayer};
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::coap::{OscoreClient, OscoreLayer};
use ace_oscore::consts::option;
use ace_oscore::{ContextParams, ContextSet, MemorySequenceStore, OscoreOption, SecurityContext};

const TASKS: usize = 8;
const PER_TASK: usize = 1500;

fn params() -> ContextParams {
    ContextParams::new(&[7u8; 16], &[9u8; 8], b"\x01", b"\x02")
}

/// `OscoreLayer` that records the Partial IV of every protected request in the order the
/// server's engine hands them to the layer (= arrival order on loopback).
struct Recording {
    inner: OscoreLayer<RustCrypto>,
    seen: Arc<Mutex<Vec<u64>>>,
}

impl SecurityLayer for Recording {
    type Context = <OscoreLayer<RustCrypto> as SecurityLayer>::Context;

    fn unprotect(
        &mut self,
        peer: SocketAddr,
        request: Message,
    ) -> Result<(Message, PeerIdentity, Self::Context), Message> {
        let piv = request
            .options
            .get(option::OSCORE)
            .and_then(|v| OscoreOption::decode(v).ok())
            .and_then(|o| o.partial_iv_u64());
        if let Some(p) = piv {
            self.seen.lock().unwrap().push(p);
        }
        self.inner.unprotect(peer, request)
    }

    fn protect(
        &mut self,
        peer: SocketAddr,
        response: Message,
        context: &mut Self::Context,
    ) -> Result<Message, Message> {
        self.inner.protect(peer, response, context)
    }
}

async fn start_server(config: Config, seen: Arc<Mutex<Vec<u64>>>) -> SocketAddr {
    let mut set = ContextSet::new();
    set.insert(SecurityContext::new(RustCrypto, params().peer()).unwrap());
    let router = Router::new().mount(
        "/temp",
        FnResource::new(|_| Message::response(Code::CONTENT, "21.5").into()),
    );
    let layer = Recording {
        inner: OscoreLayer::new(set, MemorySequenceStore::new()),
        seen,
    };
    let server =
        ace_coap::Server::bind_with_security("127.0.0.1:0".parse().unwrap(), config, router, layer)
            .await
            .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = server.serve().await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_gets_through_one_client_all_verify_in_order() {
    let mut config = Config::default();
    config.transmission.nstart = TASKS;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = start_server(config.clone(), seen.clone()).await;
    let (coap, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    tokio::spawn(driver.run());
    let client = Arc::new(OscoreClient::new(
        coap,
        SecurityContext::new(RustCrypto, params()).unwrap(),
        MemorySequenceStore::new(),
    ));
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..PER_TASK {
                    let resp = client
                        .request(addr, Message::request(Code::GET, "/temp"))
                        .await
                        .unwrap_or_else(|e| panic!("task {t} request {i}: {e}"));
                    assert_eq!(resp.code, Code::CONTENT, "task {t} request {i}");
                    assert_eq!(resp.payload, b"21.5", "task {t} request {i}");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("concurrent requests timed out");

    let total = (TASKS * PER_TASK) as u64;
    assert_eq!(client.sender_sequence_number().unwrap(), total);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len() as u64, total, "one unprotect per request");
    let reordered: Vec<(u64, u64)> = seen
        .windows(2)
        .filter(|w| w[1] <= w[0])
        .map(|w| (w[0], w[1]))
        .take(10)
        .collect();
    assert!(
        reordered.is_empty(),
        "Partial IVs reached the server out of order (first pairs: {reordered:?})"
    );
}
