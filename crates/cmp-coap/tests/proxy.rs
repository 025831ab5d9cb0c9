//! The proxy and the client over loopback, with an in-process fake HTTP CMP upstream
//! that answers with real `openssl cmp` messages (tests/data). Every wait is bounded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ace_coap::consts::option;
use ace_coap::{Client, Code, Message};
use cmp_coap::consts::{content_format, failure_info};
use cmp_coap::proxy::{self, ProxyConfig};
use cmp_coap::{
    BodyType, ClientConfig, CmpClient, CmpHandler, CmpRequest, CmpServer, Error, ResponseContent,
    ServerConfig, classify,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

mod common;

use common::{LIMIT, big_nested, data, read_request};

#[derive(Clone)]
enum Mode {
    Reply(Vec<u8>),
    Silent,
    Garbage,
    Status(u16),
}

type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A fake RFC 6712 server on 127.0.0.1.
async fn fake_upstream(mode: Mode) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mode = mode.clone();
            let seen = Arc::clone(&seen2);
            tokio::spawn(async move {
                let Some(req) = read_request(&mut s).await else {
                    return;
                };
                seen.lock().unwrap().push(req);
                let out = match mode {
                    Mode::Reply(body) => {
                        let mut v = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        v.extend_from_slice(&body);
                        v
                    }
                    Mode::Silent => {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                    Mode::Garbage => b"SSH-2.0-OpenSSH\r\n\r\n".to_vec(),
                    Mode::Status(s) => format!("HTTP/1.0 {s} X\r\n\r\n").into_bytes(),
                };
                let _ = s.write_all(&out).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, seen)
}

/// A port on which nothing listens (bound, then released).
async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

async fn start_proxy(upstream: SocketAddr, tweak: impl FnOnce(&mut ProxyConfig)) -> SocketAddr {
    let mut config = ProxyConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream,
        upstream_path: "/pkix/".into(),
        map_path_suffix: false,
        upstream_timeout: Duration::from_secs(5),
        ..ProxyConfig::default()
    };
    tweak(&mut config);
    let server = proxy::bind(config).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    addr
}

async fn coap_client(szx: u8) -> Client {
    let config = ace_coap::Config {
        block_szx: szx,
        ..ace_coap::Config::default()
    };
    let (client, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    tokio::spawn(driver.run());
    client
}

#[tokio::test]
async fn ir_through_proxy_is_relayed_byte_for_byte() {
    let ip = data("ir-rsp.der");
    let (up, seen) = fake_upstream(Mode::Reply(ip.clone())).await;
    let proxy = start_proxy(up, |_| {}).await;
    let client = CmpClient::new(coap_client(6).await, proxy, ClientConfig::default());
    let ir = data("ir.der");
    let rsp = tokio::time::timeout(LIMIT, client.send(ir.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rsp.code, Code::CHANGED);
    assert_eq!(rsp.der, ip);
    assert_eq!(rsp.info.body_type, BodyType::Ip);
    let ResponseContent::Certificates { responses, .. } = &rsp.content else {
        panic!()
    };
    assert_eq!(
        responses[0].certificate.as_deref(),
        Some(data("issued.der").as_slice())
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (head, body) = &seen[0];
    assert!(head.starts_with("POST /pkix/ HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Type: application/pkixcmp"));
    assert_eq!(body, &ir, "the proxy must not alter the DER (R8)");
}

#[tokio::test]
async fn path_suffix_mapping_reaches_upstream() {
    let (up, seen) = fake_upstream(Mode::Reply(data("cr-rsp.der"))).await;
    let proxy = start_proxy(up, |c| {
        c.upstream_path = "/.well-known/cmp".into();
        c.map_path_suffix = true;
    })
    .await;
    let client = CmpClient::new(
        coap_client(6).await,
        proxy,
        ClientConfig {
            path: "/.well-known/cmp/p/devices/cr".into(),
            ..ClientConfig::default()
        },
    );
    let rsp = tokio::time::timeout(LIMIT, client.send(data("cr.der")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rsp.info.body_type, BodyType::Cp);
    let head = seen.lock().unwrap()[0].0.clone();
    assert!(
        head.starts_with("POST /.well-known/cmp/p/devices/certification HTTP/1.1"),
        "{head}"
    );
}

#[tokio::test]
async fn large_messages_go_blockwise_both_ways() {
    let big_req = big_nested(8);
    let big_rsp = big_nested(10);
    assert!(big_req.len() > 3000 && big_rsp.len() > 4000);
    let (up, seen) = fake_upstream(Mode::Reply(big_rsp.clone())).await;
    let proxy = start_proxy(up, |_| {}).await;
    // 64-byte blocks (SZX 2) as on a 6LoWPAN link
    let client = CmpClient::new(coap_client(2).await, proxy, ClientConfig::default());
    let rsp = tokio::time::timeout(LIMIT, client.send(big_req.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rsp.der, big_rsp);
    assert_eq!(
        seen.lock().unwrap()[0].1,
        big_req,
        "whole body reassembled before HTTP"
    );
}

async fn raw_post(
    client: &Client,
    proxy: SocketAddr,
    path: &str,
    body: Vec<u8>,
    cf: Option<u16>,
) -> Message {
    tokio::time::timeout(LIMIT, client.post(proxy, path, body, cf))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn bad_input_gets_the_coap_error_codes() {
    let (up, seen) = fake_upstream(Mode::Reply(data("ir-rsp.der"))).await;
    let proxy = start_proxy(up, |c| c.server.max_message_size = 2000).await;
    let c = coap_client(6).await;
    let cmp = "/.well-known/cmp";
    let ir = data("ir.der");
    let pkix = Some(content_format::PKIXCMP);
    // non-DER payload → 4.00 (never sent upstream: the openssl mock hangs on it)
    let r = raw_post(&c, proxy, cmp, b"hello, not DER".to_vec(), pkix).await;
    assert_eq!(r.code, Code::BAD_REQUEST);
    // a response type sent as request → 4.00
    assert_eq!(
        raw_post(&c, proxy, cmp, data("ir-rsp.der"), pkix)
            .await
            .code,
        Code::BAD_REQUEST
    );
    // wrong / missing Content-Format → 4.15
    assert_eq!(
        raw_post(&c, proxy, cmp, ir.clone(), Some(0)).await.code,
        Code::UNSUPPORTED_CONTENT_FORMAT
    );
    assert_eq!(
        raw_post(&c, proxy, cmp, ir.clone(), Some(42)).await.code,
        Code::UNSUPPORTED_CONTENT_FORMAT
    );
    assert_eq!(
        raw_post(&c, proxy, cmp, ir.clone(), None).await.code,
        Code::UNSUPPORTED_CONTENT_FORMAT
    );
    // oversized (Block1 beyond max_message_size) → 4.13 with Size1
    let big = big_nested(8);
    let m = raw_post(&c, proxy, cmp, big, pkix).await;
    assert_eq!(m.code, Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(m.options.get_uint(option::SIZE1).unwrap(), Some(2000));
    // unknown path → 4.04; GET → 4.05
    assert_eq!(
        raw_post(&c, proxy, "/.well-known/cmp/nope", ir.clone(), pkix)
            .await
            .code,
        Code::NOT_FOUND
    );
    assert_eq!(
        raw_post(&c, proxy, "/cmp", ir.clone(), pkix).await.code,
        Code::NOT_FOUND
    );
    let g = tokio::time::timeout(LIMIT, c.get(proxy, cmp))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.code, Code::METHOD_NOT_ALLOWED);
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the upstream"
    );
    // and the valid request still works
    let ok = raw_post(&c, proxy, cmp, ir, pkix).await;
    assert_eq!(ok.code, Code::CHANGED);
    assert_eq!(ok.content_format(), Some(content_format::PKIXCMP));
}

#[tokio::test]
async fn oversized_single_request_gets_4_13_with_size1() {
    let (up, _) = fake_upstream(Mode::Reply(data("ir-rsp.der"))).await;
    let proxy = start_proxy(up, |c| c.server.max_message_size = 300).await;
    let c = coap_client(6).await;
    let r = raw_post(&c, proxy, "/.well-known/cmp", data("ir.der"), Some(259)).await;
    assert_eq!(r.code, Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(r.options.get_uint(option::SIZE1).unwrap(), Some(300));
}

#[tokio::test]
async fn upstream_failures_map_to_5xx_and_failure_info() {
    let ir = data("ir.der");
    // upstream down → 5.02 → systemUnavail
    let proxy = start_proxy(closed_port().await, |_| {}).await;
    let client = CmpClient::new(coap_client(6).await, proxy, ClientConfig::default());
    let e = tokio::time::timeout(LIMIT, client.send(ir.clone()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(e, Error::CoapStatus { code, .. } if code == Code::new(5, 2)),
        "{e}"
    );
    assert_eq!(e.failure_info(), failure_info::SYSTEM_UNAVAIL);

    // upstream accepts and never answers → 5.04 within the proxy timeout
    let (silent, _) = fake_upstream(Mode::Silent).await;
    let proxy = start_proxy(silent, |c| c.upstream_timeout = Duration::from_millis(300)).await;
    let client = CmpClient::new(coap_client(6).await, proxy, ClientConfig::default());
    let t0 = Instant::now();
    let e = tokio::time::timeout(LIMIT, client.send(ir.clone()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(e, Error::CoapStatus { code, .. } if code == Code::GATEWAY_TIMEOUT),
        "{e}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));

    // not HTTP → 5.02; 404 → 4.04 (badRequest); 503 → 5.03
    for (mode, code, fi) in [
        (Mode::Garbage, Code::new(5, 2), failure_info::SYSTEM_UNAVAIL),
        (
            Mode::Status(404),
            Code::NOT_FOUND,
            failure_info::BAD_REQUEST,
        ),
        (
            Mode::Status(503),
            Code::SERVICE_UNAVAILABLE,
            failure_info::SYSTEM_UNAVAIL,
        ),
        (
            Mode::Reply(b"\x30\x00".to_vec()),
            Code::new(5, 2),
            failure_info::SYSTEM_UNAVAIL,
        ),
    ] {
        let (up, _) = fake_upstream(mode).await;
        let proxy = start_proxy(up, |_| {}).await;
        let client = CmpClient::new(coap_client(6).await, proxy, ClientConfig::default());
        let e = tokio::time::timeout(LIMIT, client.send(ir.clone()))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&e, Error::CoapStatus { code: c, .. } if *c == code),
            "{e}"
        );
        assert_eq!(e.failure_info(), fi);
    }
}

#[tokio::test]
async fn concurrency_limit_answers_5_03_with_max_age() {
    let (silent, _) = fake_upstream(Mode::Silent).await;
    let proxy = start_proxy(silent, |c| {
        c.server.max_concurrent = 1;
        c.upstream_timeout = Duration::from_millis(1500);
    })
    .await;
    let c1 = coap_client(6).await;
    let c2 = coap_client(6).await;
    let ir = data("ir.der");
    let first = tokio::spawn({
        let ir = ir.clone();
        async move { c1.post(proxy, "/.well-known/cmp", ir, Some(259)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = raw_post(&c2, proxy, "/.well-known/cmp", ir, Some(259)).await;
    assert_eq!(second.code, Code::SERVICE_UNAVAILABLE);
    assert_eq!(second.options.get_uint(option::MAX_AGE).unwrap(), Some(5));
    let first = tokio::time::timeout(LIMIT, first)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.code, Code::GATEWAY_TIMEOUT);
}

/// A CA that answers with the recorded delayed-delivery transaction of `openssl cmp
/// -poll_count 2 -check_after 1`.
struct PollingCa {
    polls: Mutex<u32>,
}

impl CmpHandler for PollingCa {
    async fn handle(&self, request: CmpRequest) -> cmp_coap::Result<Vec<u8>> {
        Ok(match request.info.body_type {
            BodyType::Ir => data("poll-ip-waiting.der"),
            BodyType::PollReq => {
                let n = {
                    let mut p = self.polls.lock().unwrap();
                    *p += 1;
                    *p
                };
                if n == 1 {
                    data("poll-rep1.der")
                } else {
                    data("poll-ip.der")
                }
            }
            _ => return Err(Error::Handler("unexpected".into())),
        })
    }
}

#[tokio::test]
async fn delayed_delivery_polls_until_the_certificate() {
    let server = CmpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        ace_coap::Config::default(),
        ServerConfig {
            success_code: Code::CONTENT,
            ..ServerConfig::default()
        },
        PollingCa {
            polls: Mutex::new(0),
        },
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    let client = CmpClient::new(coap_client(6).await, addr, ClientConfig::default());
    let mut polls = vec![data("poll-req2.der"), data("poll-req1.der")];
    let mut seen = Vec::new();
    let t0 = Instant::now();
    let rsp = tokio::time::timeout(
        LIMIT,
        client.send_with_polling(data("poll-ir.der"), |last| {
            seen.push(last.info.body_type);
            Ok(polls.pop().unwrap())
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(seen, vec![BodyType::Ip, BodyType::PollRep]);
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "checkAfter 1 was honoured"
    );
    assert_eq!(rsp.code, Code::CONTENT, "configured 2.05 (d01 §2.3)");
    let ResponseContent::Certificates { responses, .. } = &rsp.content else {
        panic!()
    };
    assert_eq!(
        responses[0].certificate.as_deref(),
        Some(data("issued.der").as_slice())
    );
    // a callback returning something else than a pollReq is refused
    let e = client
        .send_with_polling(data("poll-ir.der"), |_| Ok(data("ir.der")))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Misuse(_)), "{e}");
}

struct SlowCa;

impl CmpHandler for SlowCa {
    async fn handle(&self, _request: CmpRequest) -> cmp_coap::Result<Vec<u8>> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(data("ir-rsp.der"))
    }
}

#[tokio::test]
async fn handler_timeout_is_5_03_and_discovery_lists_the_resource() {
    let server = CmpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        ace_coap::Config::default(),
        ServerConfig {
            handler_timeout: Duration::from_millis(200),
            ..ServerConfig::default()
        },
        SlowCa,
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    let coap = coap_client(6).await;
    let r = raw_post(&coap, addr, "/.well-known/cmp", data("ir.der"), Some(259)).await;
    assert_eq!(r.code, Code::SERVICE_UNAVAILABLE);
    let paths = cmp_coap::client::discover(&coap, addr, LIMIT)
        .await
        .unwrap();
    assert_eq!(paths, vec!["/.well-known/cmp".to_owned()]);
    let all = coap.get(addr, "/.well-known/core").await.unwrap();
    assert_eq!(
        String::from_utf8(all.payload).unwrap(),
        "</.well-known/cmp>;rt=\"ace.cmp\";ct=259"
    );
}

#[tokio::test]
async fn client_refuses_bad_requests_and_bad_responses() {
    let client = CmpClient::new(
        coap_client(6).await,
        closed_port().await,
        ClientConfig::default(),
    );
    assert!(matches!(
        client.send(b"junk".to_vec()).await,
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        client.send(data("ir-rsp.der")).await,
        Err(Error::NotARequest(BodyType::Ip))
    ));
    // a response of another transaction is refused
    let (up, _) = fake_upstream(Mode::Reply(data("cr-rsp.der"))).await;
    let proxy = start_proxy(up, |_| {}).await;
    let client = CmpClient::new(coap_client(6).await, proxy, ClientConfig::default());
    let e = tokio::time::timeout(LIMIT, client.send(data("ir.der")))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e, Error::TransactionIdMismatch);
}

fn cmp_post(body: Vec<u8>) -> Message {
    let mut m = Message::request(Code::POST, "/.well-known/cmp")
        .with_content_format(content_format::PKIXCMP);
    m.payload = body;
    m
}

#[tokio::test]
async fn non_request_is_refused_unless_configured() {
    let ip = data("ir-rsp.der");
    let (up, seen) = fake_upstream(Mode::Reply(ip.clone())).await;
    let proxy = start_proxy(up, |_| {}).await;
    let c = coap_client(6).await;
    // NON POST with a valid ir → 4.00 (CMP over CoAP requests are Confirmable), nothing
    // forwarded
    let r = tokio::time::timeout(LIMIT, c.request(proxy, cmp_post(data("ir.der")), false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.code, Code::BAD_REQUEST);
    assert!(
        String::from_utf8_lossy(&r.payload).contains("Confirmable"),
        "diagnostic payload names the rule"
    );
    assert!(seen.lock().unwrap().is_empty());
    // the same request as CON goes through
    let r = tokio::time::timeout(LIMIT, c.request(proxy, cmp_post(data("ir.der")), true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.code, r.payload.len()), (Code::CHANGED, ip.len()));
    assert_eq!(seen.lock().unwrap().len(), 1);

    // with require_confirmable off a NON request is served (NON response)
    let lenient = start_proxy(up, |c| c.server.require_confirmable = false).await;
    let r = tokio::time::timeout(LIMIT, c.request(lenient, cmp_post(data("ir.der")), false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.code, Code::CHANGED);
    assert_eq!(r.payload, ip);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

/// A CoAP CON POST of `body` to `/.well-known/cmp` with Content-Format 259, encoded by
/// hand (RFC 7252 §3) so that the test sees the proxy's datagrams exactly.
fn con_post_datagram(mid: u16, token: u8, body: &[u8]) -> Vec<u8> {
    let mut d = vec![0x41, 0x02]; // ver 1, CON, TKL 1; POST
    d.extend_from_slice(&mid.to_be_bytes());
    d.push(token);
    d.push(0xBB); // Uri-Path (11), length 11
    d.extend_from_slice(b".well-known");
    d.push(0x03); // Uri-Path, length 3
    d.extend_from_slice(b"cmp");
    d.extend_from_slice(&[0x12, 0x01, 0x03]); // Content-Format (12) = 259
    d.push(0xFF);
    d.extend_from_slice(body);
    d
}

#[tokio::test]
async fn fast_upstream_answer_is_piggybacked_on_the_ack() {
    // ace-coap's piggyback window (default 100 ms): an upstream that answers at once gets
    // its ip into the ACK of the client's CON: one datagram back, no separate response.
    let ip = data("ir-rsp.der");
    let (up, seen) = fake_upstream(Mode::Reply(ip.clone())).await;
    let proxy = start_proxy(up, |_| {}).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&con_post_datagram(0x7A7A, 0x5C, &data("ir.der")), proxy)
        .await
        .unwrap();
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(LIMIT, sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, proxy);
    let d = &buf[..n];
    assert_eq!(d[0] >> 6, 1, "version 1");
    assert_eq!((d[0] >> 4) & 3, 2, "type ACK");
    assert_eq!(d[0] & 0x0F, 1, "TKL 1");
    assert_eq!(d[1], 0x44, "2.04 Changed piggybacked");
    assert_eq!(&d[2..5], &[0x7A, 0x7A, 0x5C], "request's MID and token");
    assert!(d.ends_with(&ip), "the ip is the ACK's payload");
    assert_eq!(seen.lock().unwrap().len(), 1);
    // nothing else follows (no separate CON response, no second ACK)
    let more = tokio::time::timeout(Duration::from_millis(400), sock.recv_from(&mut buf)).await;
    assert!(more.is_err(), "no further datagram: {more:?}");
}

/// A keep-alive fake upstream: answers every request on a connection (ir → ip,
/// certConf → pkiConf, cr → cp, genm → genp) and records (connection number, body type).
/// `close_after_first`: the server closes each connection after its first answer.
async fn keep_alive_upstream(
    close_after_first: bool,
) -> (SocketAddr, Arc<Mutex<Vec<(usize, BodyType)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<(usize, BodyType)>>> = Arc::default();
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        for conn in 0usize.. {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let seen = Arc::clone(&seen2);
            tokio::spawn(async move {
                while let Some((_, body)) = read_request(&mut s).await {
                    let t = classify(&body).unwrap().body_type;
                    seen.lock().unwrap().push((conn, t));
                    let answer = data(match t {
                        BodyType::Ir => "ir-rsp.der",
                        BodyType::CertConf => "ir-pkiconf.der",
                        BodyType::Cr => "cr-rsp.der",
                        _ => "genm-rsp.der",
                    });
                    let mut v = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: {}\r\n\r\n",
                        answer.len()
                    )
                    .into_bytes();
                    v.extend_from_slice(&answer);
                    if s.write_all(&v).await.is_err() || close_after_first {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn a_transaction_keeps_its_upstream_connection() {
    let (up, seen) = keep_alive_upstream(false).await;
    let proxy = start_proxy(up, |c| c.transaction_idle = Duration::from_secs(30)).await;
    let client = CmpClient::new(coap_client(6).await, proxy, ClientConfig::default());
    let send = |m: &str| {
        let m = data(m);
        let client = client.clone();
        async move {
            tokio::time::timeout(LIMIT, client.send(m))
                .await
                .unwrap()
                .unwrap()
                .info
                .body_type
        }
    };
    // ir → ip (certConf follows): the connection stays; the certConf of the same
    // transaction goes over it; pkiConf ends the transaction
    assert_eq!(send("ir.der").await, BodyType::Ip);
    assert_eq!(send("ir-certconf.der").await, BodyType::PkiConf);
    // another transaction (cr, its own transactionID) gets a new connection, and so does
    // a genm (genp ends its transaction at once)
    assert_eq!(send("cr.der").await, BodyType::Cp);
    assert_eq!(send("genm.der").await, BodyType::Genp);
    // the ir's transaction is over: a second certConf with its transactionID opens a new one
    assert_eq!(send("ir-certconf.der").await, BodyType::PkiConf);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (0, BodyType::Ir),
            (0, BodyType::CertConf),
            (1, BodyType::Cr),
            (2, BodyType::Genm),
            (3, BodyType::CertConf),
        ]
    );
}

#[tokio::test]
async fn a_kept_connection_closed_by_the_server_is_replaced() {
    let (up, seen) = keep_alive_upstream(true).await;
    let proxy = start_proxy(up, |c| c.transaction_idle = Duration::from_secs(30)).await;
    let client = CmpClient::new(coap_client(6).await, proxy, ClientConfig::default());
    for (m, t) in [
        ("ir.der", BodyType::Ip),
        ("ir-certconf.der", BodyType::PkiConf),
    ] {
        let rsp = tokio::time::timeout(LIMIT, client.send(data(m)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rsp.info.body_type, t);
    }
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(0, BodyType::Ir), (1, BodyType::CertConf)]
    );
    // with transaction connections off (the default), every exchange has its own connection
    let (up, seen) = keep_alive_upstream(false).await;
    let proxy = start_proxy(up, |_| {}).await;
    let client = CmpClient::new(coap_client(6).await, proxy, ClientConfig::default());
    for m in ["ir.der", "ir-certconf.der"] {
        tokio::time::timeout(LIMIT, client.send(data(m)))
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(0, BodyType::Ir), (1, BodyType::CertConf)]
    );
}

/// Answers the ip after `delay`.
struct Slow {
    delay: Duration,
    ip: Vec<u8>,
}

impl CmpHandler for Slow {
    async fn handle(&self, _request: CmpRequest) -> cmp_coap::Result<Vec<u8>> {
        tokio::time::sleep(self.delay).await;
        Ok(self.ip.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_refuses_new_exchanges_and_finishes_those_in_flight() {
    let ip = data("ir-rsp.der");
    let server = CmpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        ace_coap::Config::default(),
        ServerConfig::default(),
        Slow {
            delay: Duration::from_millis(400),
            ip: ip.clone(),
        },
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let (handle, drain) = (server.handle(), server.drain());
    let serving = tokio::spawn(server.serve());
    let client = CmpClient::new(coap_client(6).await, addr, ClientConfig::default());
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.send(data("ir.der")).await }
    });
    let t0 = Instant::now();
    while drain.in_flight() == 0 {
        assert!(t0.elapsed() < LIMIT, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let draining = tokio::spawn({
        let drain = drain.clone();
        async move { drain.drain(LIMIT).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // a new exchange while draining: 5.03 with Max-Age, at once
    let err = tokio::time::timeout(LIMIT, client.send(data("cr.der")))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, Error::CoapStatus { code, .. } if *code == Code::SERVICE_UNAVAILABLE),
        "{err:?}"
    );
    assert!(
        tokio::time::timeout(LIMIT, draining)
            .await
            .unwrap()
            .unwrap()
    );
    assert_eq!(drain.in_flight(), 0);
    handle.shutdown().await;
    tokio::time::timeout(LIMIT, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // the exchange in flight got its answer
    let rsp = tokio::time::timeout(LIMIT, first)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(rsp.der, ip);
    // a drain that runs out of time says so
    let server = CmpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        ace_coap::Config::default(),
        ServerConfig::default(),
        Slow {
            delay: Duration::from_secs(5),
            ip,
        },
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let drain = server.drain();
    tokio::spawn(server.serve());
    let client = CmpClient::new(coap_client(6).await, addr, ClientConfig::default());
    tokio::spawn(async move { client.send(data("ir.der")).await });
    let t0 = Instant::now();
    while drain.in_flight() == 0 {
        assert!(t0.elapsed() < LIMIT, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!drain.drain(Duration::from_millis(100)).await);
}
