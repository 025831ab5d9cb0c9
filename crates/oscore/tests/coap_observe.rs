//! OSCORE Observe end to end on 127.0.0.1 (RFC 8613 §4.1.3.5, §7.4.1, §8.3.1, §8.4.2):
//! an ace-coap server with `OscoreLayer` whose observable resource changes, our
//! `OscoreObserver` as client, and a UDP proxy between them that replays an old
//! notification under a new Message ID and Outer Observe value (so that only the OSCORE
//! Notification Number check can catch it) and tampers with another one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ace_coap::{Client, Code, Config, FnResource, Message, PeerIdentity, Router, Server};
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::coap::{ObserveEvent, OscoreClient, OscoreLayer, OscoreObserver};
use ace_oscore::consts::option;
use ace_oscore::{ContextParams, ContextSet, Error, MemorySequenceStore, Packet, SecurityContext};
use tokio::net::UdpSocket;

fn params() -> ContextParams {
    ContextParams::new(
        &hex::decode("0102030405060708090a0b0c0d0e0f10").unwrap(),
        &hex::decode("9e7ca92223786340").unwrap(),
        b"",
        b"\x01",
    )
}

/// What the proxy does with the n-th distinct notification (1 = the registration's answer).
fn filter(n: usize, first: &mut Option<Packet>, mut p: Packet) -> Packet {
    match n {
        1 => *first = Some(p.clone()),
        // Replay notification 1 (authentic, older Partial IV) with this one's Message ID,
        // token and Outer Observe value: the CoAP layer takes it as new.
        3 => {
            let old = first.clone().unwrap();
            p.message.remove_option(option::OSCORE);
            p.message.add_option(
                option::OSCORE,
                old.message.option(option::OSCORE).unwrap().to_vec(),
            );
            p.message.payload = old.message.payload;
        }
        5 => p.message.payload[2] ^= 0x01,
        _ => {}
    }
    p
}

/// Client ↔ proxy (front) ↔ proxy (back) ↔ server; server → client notifications pass
/// through [`filter`].
async fn proxy(server: SocketAddr) -> SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = front.local_addr().unwrap();
    tokio::spawn(async move {
        let mut client: Option<SocketAddr> = None;
        let mut by_mid: HashMap<u16, usize> = HashMap::new();
        let mut first = None;
        let (mut a, mut b) = (vec![0u8; 2048], vec![0u8; 2048]);
        loop {
            tokio::select! {
                r = front.recv_from(&mut a) => {
                    let (n, from) = r.unwrap();
                    client = Some(from);
                    back.send_to(&a[..n], server).await.unwrap();
                }
                r = back.recv_from(&mut b) => {
                    let (n, _) = r.unwrap();
                    let mut out = b[..n].to_vec();
                    if let Ok(p) = Packet::decode(&out)
                        && p.message.has_option(option::OBSERVE)
                        && p.message.has_option(option::OSCORE)
                    {
                        let next = by_mid.len() + 1;
                        let k = *by_mid.entry(p.message_id).or_insert(next);
                        out = filter(k, &mut first, p).to_vec().unwrap();
                    }
                    if let Some(c) = client {
                        front.send_to(&out, c).await.unwrap();
                    }
                }
            }
        }
    });
    addr
}

/// Pumps the observer until it reports an event or `wait` passes.
async fn pump(
    obs: &mut OscoreObserver<RustCrypto>,
    sock: &UdpSocket,
    wait: Duration,
) -> Option<ObserveEvent> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = Vec::new();
    let mut rx = vec![0u8; 2048];
    loop {
        loop {
            buf.clear();
            let Some(t) = obs.poll_transmit(Instant::now(), &mut buf) else {
                break;
            };
            sock.send_to(&buf[..t.size], t.destination).await.unwrap();
        }
        if let Some(ev) = obs.poll_event() {
            return Some(ev);
        }
        let timer = obs.poll_timeout().map_or(deadline, |t| {
            tokio::time::Instant::from_std(t).min(deadline)
        });
        tokio::select! {
            r = sock.recv_from(&mut rx) => {
                let (n, from) = r.unwrap();
                let _ = obs.handle_datagram(Instant::now(), from, &rx[..n]);
            }
            () = tokio::time::sleep_until(timer) => {
                if tokio::time::Instant::now() >= deadline {
                    return None;
                }
                obs.handle_timeout(Instant::now());
            }
        }
    }
}

#[tokio::test]
async fn ordered_verified_notifications_replay_and_tamper_rejected_then_cancel() {
    let value = Arc::new(AtomicU32::new(0));
    let v = Arc::clone(&value);
    let router = Router::new().mount(
        "/counter",
        FnResource::new(move |req| {
            // Only OSCORE-verified requests reach here (no allow_unprotected).
            assert!(matches!(req.identity, PeerIdentity::Oscore { .. }));
            Message::response(Code::CONTENT, v.load(Ordering::SeqCst).to_string()).into()
        })
        .observable(),
    );
    let mut set = ContextSet::new();
    set.insert(SecurityContext::new(RustCrypto, params().peer()).unwrap());
    let server = Server::bind_with_security(
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
        router,
        OscoreLayer::new(set, MemorySequenceStore::new()),
    )
    .await
    .unwrap();
    let server_addr = server.local_addr().unwrap();
    let handle = server.handle();
    let server_task = tokio::spawn(async move {
        let _ = server.serve().await;
    });
    let via = proxy(server_addr).await;

    let (coap, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    tokio::spawn(driver.run());
    let client = OscoreClient::new(
        coap,
        SecurityContext::new(RustCrypto, params()).unwrap(),
        MemorySequenceStore::new(),
    );
    let mut obs = client.observer(Config::default(), [7; 32]);
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let wait = Duration::from_secs(5);

    let h = obs
        .observe(Instant::now(), via, Message::request(Code::GET, "/counter"))
        .unwrap();
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    let mut record = |ev: ObserveEvent| match ev {
        ObserveEvent::Notification {
            handle,
            sequence,
            response,
        } => {
            assert_eq!(handle, h);
            assert_eq!(response.code, Code::CONTENT);
            accepted.push((sequence, String::from_utf8(response.payload).unwrap()));
        }
        ObserveEvent::Rejected { handle, error } => {
            assert_eq!(handle, h);
            rejected.push(error);
        }
        other => panic!("unexpected {other:?}"),
    };
    record(
        pump(&mut obs, &sock, wait)
            .await
            .expect("registration answer"),
    );
    for v in 1..=5u32 {
        value.store(v, Ordering::SeqCst);
        assert_eq!(handle.notify("/counter").await.unwrap(), 1);
        record(pump(&mut obs, &sock, wait).await.expect("notification"));
    }
    // Notification 3 (value 2) was replaced by a replay of notification 1, notification 5
    // (value 4) was tampered with; the rest arrived verified and in order.
    let values: Vec<&str> = accepted.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["0", "1", "3", "5"]);
    assert!(
        accepted.windows(2).all(|w| w[0].0 < w[1].0),
        "Observe values (Partial IV) increase: {accepted:?}"
    );
    assert_eq!(rejected, [Error::ReplayDetected, Error::DecryptionFailed]);
    assert_eq!(obs.observations(), 1);

    // Cancel: the next notification is answered with a Reset, which deregisters us.
    assert!(obs.cancel(h));
    assert_eq!(obs.observations(), 0);
    value.store(6, Ordering::SeqCst);
    assert_eq!(handle.notify("/counter").await.unwrap(), 1);
    let give_up = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(
            pump(&mut obs, &sock, Duration::from_millis(100))
                .await
                .is_none(),
            "no event after cancel"
        );
        if handle.notify("/counter").await.unwrap() == 0 {
            break;
        }
        assert!(Instant::now() < give_up, "server kept the observer");
    }
    server_task.abort();
}
