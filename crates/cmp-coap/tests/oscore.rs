//! CMP over CoAP protected with OSCORE (RFC 8613; feature `oscore`): `CmpClient` over
//! ace-oscore's `OscoreClient`, `CmpServer` / the proxy behind ace-oscore's `OscoreLayer`,
//! both used as they are. Loopback only; every wait is bounded.
//!
//! Shown: the handler sees the OSCORE identity and the PKIMessage byte for byte (CMP
//! protection untouched); a proxy behind OSCORE relays the exact ir/ip; large messages
//! (3.3 KB request, 4.1 KB response) at 64-byte blocks — outer Block1 for the protected
//! request, inner Block2 for the response; a plain client is refused (4.01) and nothing
//! reaches the upstream; a client with the wrong key fails verification.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ace_coap::{Code, PeerIdentity};
use ace_oscore::coap::{OscoreClient, OscoreLayer};
use ace_oscore::crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::{ContextParams, ContextSet, MemorySequenceStore, SecurityContext};
use cmp_coap::proxy::{self, ProxyConfig};
use cmp_coap::{ClientConfig, CmpClient, CmpHandler, CmpRequest, CmpServer, Error, ServerConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

mod common;

use common::{LIMIT, big_nested, data, read_request};

const SECRET: [u8; 16] = *b"0123456789abcdef";
const SALT: [u8; 8] = *b"cmp-salt";

fn context(secret: &[u8], sender: &[u8], recipient: &[u8]) -> SecurityContext<RustCrypto> {
    SecurityContext::new(
        RustCrypto,
        ContextParams::new(secret, &SALT, sender, recipient),
    )
    .unwrap()
}

/// The server's layer: one context, the EE's Sender ID "ee".
fn layer() -> OscoreLayer<RustCrypto> {
    let mut set = ContextSet::new();
    set.insert(context(&SECRET, b"ra", b"ee"));
    OscoreLayer::new(set, MemorySequenceStore::default())
}

/// A CMP client over OSCORE (Sender ID "ee") with `szx`-sized CoAP blocks.
async fn oscore_client(
    peer: SocketAddr,
    secret: &[u8],
    szx: u8,
) -> CmpClient<OscoreClient<RustCrypto>> {
    let (coap, driver) = ace_coap::Client::bind(
        "127.0.0.1:0".parse().unwrap(),
        ace_coap::Config {
            block_szx: szx,
            ..ace_coap::Config::default()
        },
    )
    .await
    .unwrap();
    tokio::spawn(driver.run());
    let oscore = OscoreClient::new(
        coap,
        context(secret, b"ee", b"ra"),
        MemorySequenceStore::default(),
    );
    CmpClient::new(
        oscore,
        peer,
        ClientConfig {
            request_timeout: LIMIT,
            ..ClientConfig::default()
        },
    )
}

/// A CMP client over plain CoAP (no OSCORE).
async fn plain_client(peer: SocketAddr) -> CmpClient<ace_coap::Client> {
    let (coap, driver) =
        ace_coap::Client::bind("127.0.0.1:0".parse().unwrap(), ace_coap::Config::default())
            .await
            .unwrap();
    tokio::spawn(driver.run());
    CmpClient::new(coap, peer, ClientConfig::default())
}

/// Answers `response` and records what it saw.
struct Recording {
    response: Vec<u8>,
    seen: Arc<Mutex<Vec<CmpRequest>>>,
}

impl CmpHandler for Recording {
    async fn handle(&self, request: CmpRequest) -> cmp_coap::Result<Vec<u8>> {
        self.seen.lock().unwrap().push(request);
        Ok(self.response.clone())
    }
}

/// A `CmpServer` on 127.0.0.1 behind [`layer`] whose handler answers `response`, and what
/// the handler saw.
async fn recording_server(
    coap: ace_coap::Config,
    response: Vec<u8>,
) -> (
    CmpServer<OscoreLayer<RustCrypto>>,
    Arc<Mutex<Vec<CmpRequest>>>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = CmpServer::bind_with_security(
        "127.0.0.1:0".parse().unwrap(),
        coap,
        ServerConfig::default(),
        Recording {
            response,
            seen: Arc::clone(&seen),
        },
        layer(),
    )
    .await
    .unwrap();
    (server, seen)
}

#[tokio::test]
async fn oscore_protected_exchange_reaches_the_handler_unchanged() {
    let ip = data("ir-rsp.der");
    let (server, seen) = recording_server(ace_coap::Config::default(), ip.clone()).await;
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    tokio::spawn(server.serve());

    let client = oscore_client(addr, &SECRET, 6).await;
    let ir = data("ir.der");
    let rsp = tokio::time::timeout(LIMIT, client.send(ir.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rsp.code, Code::CHANGED);
    assert_eq!(rsp.der, ip, "the ip comes back byte for byte");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].der, ir, "the handler gets the ir byte for byte");
        assert!(
            matches!(&seen[0].identity, PeerIdentity::Oscore { sender_id, .. } if sender_id == b"ee"),
            "{:?}",
            seen[0].identity
        );
    }
    // discovery through OSCORE too
    let paths = cmp_coap::client::discover(client.transport(), addr, LIMIT)
        .await
        .unwrap();
    assert_eq!(paths, vec!["/.well-known/cmp".to_owned()]);

    // a plain CoAP client is refused by the OSCORE layer before the handler runs
    let plain = plain_client(addr).await;
    let err = tokio::time::timeout(LIMIT, plain.send(ir.clone()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, Error::CoapStatus { code, .. } if *code == Code::UNAUTHORIZED),
        "{err:?}"
    );
    // a client with the wrong Master Secret: the server cannot verify (4.01, unprotected)
    let wrong = oscore_client(addr, b"fedcba9876543210", 6).await;
    let err = tokio::time::timeout(LIMIT, wrong.send(ir))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Oscore(_)), "{err:?}");
    assert_eq!(
        err.failure_info(),
        cmp_coap::consts::failure_info::NOT_AUTHORIZED
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "nothing else reached the handler"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn large_messages_blockwise_under_oscore() {
    let big_req = big_nested(8);
    let big_rsp = big_nested(10);
    assert!(big_req.len() > 3000 && big_rsp.len() > 4000);
    let coap = ace_coap::Config {
        block_szx: 2,
        ..ace_coap::Config::default()
    };
    let (server, seen) = recording_server(coap, big_rsp.clone()).await;
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    // 64-byte CoAP blocks: the protected request goes as outer Block1 (reassembled by the
    // server before verification), the response as inner Block2 (followed by OscoreClient)
    let client = oscore_client(addr, &SECRET, 2).await;
    let rsp = tokio::time::timeout(LIMIT, client.send(big_req.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rsp.der, big_rsp);
    assert_eq!(seen.lock().unwrap()[0].der, big_req);
}

/// A fake RFC 6712 server answering `ip` once per connection; counts requests.
async fn fake_upstream(ip: Vec<u8>) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let ip = ip.clone();
            let seen = Arc::clone(&seen2);
            tokio::spawn(async move {
                let Some((_, body)) = read_request(&mut s).await else {
                    return;
                };
                seen.lock().unwrap().push(body);
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: {}\r\n\r\n",
                    ip.len()
                )
                .into_bytes();
                out.extend_from_slice(&ip);
                let _ = s.write_all(&out).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn proxy_behind_oscore_relays_exact_bytes() {
    let ip = data("ir-rsp.der");
    let (upstream, seen) = fake_upstream(ip.clone()).await;
    let config = ProxyConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream,
        upstream_path: "/pkix/".into(),
        map_path_suffix: false,
        upstream_timeout: Duration::from_secs(5),
        ..ProxyConfig::default()
    };
    let server = proxy::bind_with_security(config, layer()).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    let client = oscore_client(addr, &SECRET, 6).await;
    let ir = data("ir.der");
    for _ in 0..3 {
        let rsp = tokio::time::timeout(LIMIT, client.send(ir.clone()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rsp.der, ip);
    }
    assert_eq!(
        *seen.lock().unwrap(),
        vec![ir.clone(); 3],
        "exact ir upstream"
    );
    // unprotected: refused at the proxy, the upstream sees nothing more
    let plain = plain_client(addr).await;
    let err = tokio::time::timeout(LIMIT, plain.send(ir))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err.failure_info(),
        cmp_coap::consts::failure_info::NOT_AUTHORIZED
    );
    assert_eq!(seen.lock().unwrap().len(), 3);
}
