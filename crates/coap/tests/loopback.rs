//! tokio loopback tests: real UDP sockets on 127.0.0.1, every wait bounded.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ace_coap::config::TransmissionParams;
use ace_coap::consts::content_format;
use ace_coap::{Client, Code, Config, FnResource, Message, Router, Server, ServerHandle};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Fast retransmission for tests (ACK_TIMEOUT 100 ms).
fn fast() -> Config {
    Config {
        transmission: TransmissionParams {
            ack_timeout: Duration::from_millis(100),
            ..TransmissionParams::default()
        },
        ..Config::default()
    }
}

async fn start(
    router: Router,
) -> (
    SocketAddr,
    ServerHandle,
    tokio::task::JoinHandle<ace_coap::Result<()>>,
) {
    let server = Server::bind(loopback(), fast(), router).await.unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    let task = tokio::spawn(server.serve());
    (addr, handle, task)
}

async fn client() -> Client {
    let (client, driver) = Client::bind(loopback(), fast()).await.unwrap();
    tokio::spawn(driver.run());
    client
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 256) as u8).collect()
}

#[tokio::test]
async fn get_and_post_round_trip() {
    let store = Arc::new(Mutex::new(b"initial".to_vec()));
    let (s1, s2) = (store.clone(), store.clone());
    let router = Router::new()
        .mount(
            "/data",
            FnResource::new(move |_| {
                Message::response(Code::CONTENT, s1.lock().unwrap().clone())
                    .with_content_format(content_format::TEXT_PLAIN)
                    .into()
            }),
        )
        .mount(
            "/data/set",
            FnResource::new(move |req| {
                *s2.lock().unwrap() = req.payload().to_vec();
                Message::new(Code::CHANGED).into()
            })
            .methods(&[Code::POST]),
        );
    let (addr, handle, task) = start(router).await;
    let c = client().await;
    let r = timeout(LIMIT, c.get(addr, "/data")).await.unwrap().unwrap();
    assert_eq!(
        (r.code, r.payload.as_slice(), r.content_format()),
        (Code::CONTENT, &b"initial"[..], Some(0))
    );
    let r = timeout(
        LIMIT,
        c.post(addr, "/data/set", b"updated".to_vec(), Some(0)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.code, Code::CHANGED);
    let r = timeout(LIMIT, c.get(addr, "/data")).await.unwrap().unwrap();
    assert_eq!(r.payload, b"updated");
    let r = timeout(LIMIT, c.delete(addr, "/data"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.code, Code::METHOD_NOT_ALLOWED);
    let r = timeout(LIMIT, c.get(addr, "/missing"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.code, Code::NOT_FOUND);
    let r = timeout(LIMIT, c.get(addr, "/.well-known/core"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8(r.payload).unwrap(), "</data>,</data/set>");
    handle.shutdown().await;
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn blockwise_transfer_over_4_kib_both_directions() {
    let big = body(10_000);
    let b2 = big.clone();
    let received = Arc::new(Mutex::new(Vec::new()));
    let r2 = received.clone();
    let router = Router::new()
        .mount(
            "/big",
            FnResource::new(move |_| Message::response(Code::CONTENT, b2.clone()).into()),
        )
        .mount(
            "/upload",
            FnResource::new(move |req| {
                *r2.lock().unwrap() = req.payload().to_vec();
                Message::response(Code::CHANGED, format!("{}", req.payload().len())).into()
            })
            .methods(&[Code::PUT]),
        );
    let (addr, handle, _task) = start(router).await;
    let c = client().await;
    let r = timeout(LIMIT, c.get(addr, "/big")).await.unwrap().unwrap();
    assert_eq!(r.payload, big);
    let up = body(6000);
    let r = timeout(LIMIT, c.put(addr, "/upload", up.clone(), None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.code, r.payload.as_slice()),
        (Code::CHANGED, &b"6000"[..])
    );
    assert_eq!(*received.lock().unwrap(), up);
    handle.shutdown().await;
}

#[tokio::test]
async fn observe_a_changing_resource() {
    let value = Arc::new(AtomicUsize::new(0));
    let v2 = value.clone();
    let router = Router::new().mount(
        "/counter",
        FnResource::new(move |_| {
            Message::response(Code::CONTENT, v2.load(Ordering::SeqCst).to_string()).into()
        })
        .observable(),
    );
    let (addr, handle, _task) = start(router).await;
    let c = client().await;
    let mut obs = timeout(LIMIT, c.observe(addr, "/counter"))
        .await
        .unwrap()
        .unwrap();
    let first = timeout(LIMIT, obs.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.response.payload, b"0");
    let mut last_seq = first.sequence.unwrap();
    for i in 1..=3 {
        value.store(i, Ordering::SeqCst);
        assert_eq!(
            timeout(LIMIT, handle.notify("/counter"))
                .await
                .unwrap()
                .unwrap(),
            1
        );
        let u = timeout(LIMIT, obs.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(u.response.payload, i.to_string().as_bytes());
        let seq = u.sequence.unwrap();
        assert!(seq > last_seq);
        last_seq = seq;
    }
    timeout(LIMIT, obs.cancel()).await.unwrap().unwrap();
    let end = timeout(LIMIT, obs.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(end.sequence, None, "final response to the deregistration");
    assert_eq!(
        timeout(LIMIT, handle.notify("/counter"))
            .await
            .unwrap()
            .unwrap(),
        0
    );
    handle.shutdown().await;
}

/// A UDP proxy on loopback for one client: drops and duplicates datagrams by a fixed
/// pattern. Returns its address and the counters (dropped, duplicated).
async fn lossy_proxy(server: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let sock = UdpSocket::bind(loopback()).await.unwrap();
    let addr = sock.local_addr().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let duplicated = Arc::new(AtomicUsize::new(0));
    let (d, u) = (dropped.clone(), duplicated.clone());
    tokio::spawn(async move {
        let mut client: Option<SocketAddr> = None;
        let mut buf = vec![0u8; 65_535];
        let mut n_up = 0usize;
        let mut n_down = 0usize;
        // bounded: the proxy stops by itself after 30 s
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while let Ok(Ok((len, from))) =
            tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await
        {
            let data = buf[..len].to_vec();
            let (to, n) = if from == server {
                n_down += 1;
                (client, n_down)
            } else {
                client = Some(from);
                n_up += 1;
                (Some(server), n_up)
            };
            let Some(to) = to else { continue };
            // Drop the 1st and every 4th datagram in each direction; duplicate every 3rd.
            if n == 1 || n % 4 == 0 {
                d.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            let _ = sock.send_to(&data, to).await;
            if n % 3 == 0 {
                u.fetch_add(1, Ordering::SeqCst);
                let _ = sock.send_to(&data, to).await;
            }
        }
    });
    (addr, dropped, duplicated)
}

#[tokio::test]
async fn loss_and_duplication_proxy_exchanges_complete_exactly_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let router = Router::new().mount(
        "/append",
        FnResource::new(move |req| {
            c2.fetch_add(1, Ordering::SeqCst);
            l2.lock().unwrap().push(req.payload().to_vec());
            Message::new(Code::CHANGED).into()
        })
        .methods(&[Code::POST]),
    );
    let (server, handle, _task) = start(router).await;
    let (proxy, dropped, duplicated) = lossy_proxy(server).await;
    let c = client().await;
    for i in 0..8u8 {
        let r = timeout(LIMIT, c.post(proxy, "/append", vec![i], None))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.code, Code::CHANGED);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        8,
        "every POST handled exactly once despite loss and duplicates"
    );
    assert_eq!(
        *log.lock().unwrap(),
        (0..8u8).map(|i| vec![i]).collect::<Vec<_>>()
    );
    assert!(
        dropped.load(Ordering::SeqCst) >= 2,
        "the proxy did drop datagrams"
    );
    assert!(
        duplicated.load(Ordering::SeqCst) >= 1,
        "the proxy did duplicate datagrams"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn timeout_when_nobody_answers() {
    // A bound socket that never answers: the client gives up after MAX_RETRANSMIT.
    let silent = UdpSocket::bind(loopback()).await.unwrap();
    let cfg = Config {
        transmission: TransmissionParams {
            ack_timeout: Duration::from_millis(20),
            max_retransmit: 2,
            ..TransmissionParams::default()
        },
        ..Config::default()
    };
    let (c, driver) = Client::bind(loopback(), cfg).await.unwrap();
    tokio::spawn(driver.run());
    let r = timeout(LIMIT, c.get(silent.local_addr().unwrap(), "/x"))
        .await
        .unwrap();
    assert_eq!(r, Err(ace_coap::Error::Timeout));
}

/// The shell's direct paths under contention (two worker threads, 48 concurrent
/// requests): deferred answers given with `respond` from other tasks (piggybacked, or
/// after the piggyback window as a separate CON), `try_respond` from inside the handler
/// (queued for the server task), requests from many tasks of one client; each answer
/// reaches the right request, each handler runs once. After shutdown every path reports
/// `Shutdown`, and a client whose driver never ran, or was aborted, fails instead of
/// hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_and_queued_paths_under_contention_then_shutdown() {
    let mut server = Server::bind(loopback(), fast(), Router::new())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    let calls = Arc::new(AtomicUsize::new(0));
    let (h1, h2, c1, c2) = (handle.clone(), handle.clone(), calls.clone(), calls.clone());
    let router = server.endpoint_mut().router_mut();
    router.insert(
        "/later",
        Box::new(
            FnResource::new(move |req| {
                c1.fetch_add(1, Ordering::SeqCst);
                let (id, h, payload) = (req.id(), h1.clone(), req.payload().to_vec());
                // Odd payloads answer after the piggyback window (50 ms with `fast`).
                let wait = Duration::from_millis(if payload[0] % 2 == 1 { 80 } else { 0 });
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = h
                        .respond(id, Message::response(Code::CHANGED, payload))
                        .await;
                });
                ace_coap::Handled::Deferred
            })
            .methods(&[Code::POST]),
        ),
        false,
    );
    router.insert(
        "/sync",
        Box::new(
            FnResource::new(move |req| {
                c2.fetch_add(1, Ordering::SeqCst);
                let answer = Message::response(Code::CHANGED, req.payload().to_vec());
                h2.try_respond(req.id(), answer).unwrap();
                ace_coap::Handled::Deferred
            })
            .methods(&[Code::POST]),
        ),
        false,
    );
    let task = tokio::spawn(server.serve());
    let c = client().await;
    let mut tasks = Vec::new();
    for i in 0..48u8 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let path = if i % 3 == 0 { "/sync" } else { "/later" };
            let r = timeout(LIMIT, c.post(addr, path, vec![i, 0xAA], None))
                .await
                .unwrap()
                .unwrap();
            assert_eq!((r.code, r.payload), (Code::CHANGED, vec![i, 0xAA]));
        }));
    }
    for t in tasks {
        timeout(LIMIT, t).await.unwrap().unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 48, "each handler ran once");

    // The server's own client uses the server's engine and socket.
    let own = handle.client();
    let r = timeout(LIMIT, own.post(addr, "/sync", vec![7], None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.payload, vec![7]);

    handle.shutdown().await;
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
    let stale = ace_coap::Request::new(
        Message::request(Code::GET, "/x"),
        addr,
        ace_coap::PeerIdentity::Anonymous,
    )
    .unwrap()
    .id();
    assert_eq!(
        handle.respond(stale, Message::new(Code::CONTENT)).await,
        Err(ace_coap::Error::Shutdown)
    );
    assert_eq!(
        handle.try_respond(stale, Message::new(Code::CONTENT)),
        Err(ace_coap::Error::Shutdown)
    );
    assert_eq!(
        timeout(LIMIT, own.get(addr, "/sync")).await.unwrap(),
        Err(ace_coap::Error::Shutdown)
    );
    let (never, driver) = Client::bind(loopback(), fast()).await.unwrap();
    drop(driver);
    assert_eq!(
        timeout(LIMIT, never.get(addr, "/sync")).await.unwrap(),
        Err(ace_coap::Error::Shutdown)
    );
    // A driver task that is aborted: a request in flight and later ones fail.
    let silent = UdpSocket::bind(loopback()).await.unwrap();
    let (aborted, driver) = Client::bind(loopback(), fast()).await.unwrap();
    let driver = tokio::spawn(driver.run());
    let pending = {
        let c = aborted.clone();
        let to = silent.local_addr().unwrap();
        tokio::spawn(async move { c.get(to, "/x").await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    driver.abort();
    assert_eq!(
        timeout(LIMIT, pending).await.unwrap().unwrap(),
        Err(ace_coap::Error::Shutdown)
    );
    assert_eq!(
        timeout(LIMIT, aborted.get(addr, "/sync")).await.unwrap(),
        Err(ace_coap::Error::Shutdown)
    );
}
