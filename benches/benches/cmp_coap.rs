//! CMP over CoAP: an `ir` round trip through our CoAP-to-HTTP proxy next to the same `ir`
//! sent directly over HTTP, in the same run (goal: via_proxy ≤ 1.2 × bare).
//!
//! The upstream is an **in-process fake HTTP CMP server** on 127.0.0.1 (tokio) that reads
//! the RFC 6712 POST and answers with a recorded `openssl cmp` `ip`
//! (crates/cmp-coap/tests/data/ir-rsp.der); the ir is `tests/data/ir.der`. `bare` posts the
//! ir with the proxy's own HTTP client (`cmp_coap::proxy::forward`); `via_proxy` sends it
//! with `CmpClient` (CoAP, Block1/Block2 at 1024-byte blocks) to the proxy, which
//! forwards it over HTTP to the same upstream. Both sides run on loopback in one process.
//! The proxy answers with a separate response (empty ACK, then a CON response that the
//! client ACKs) because the handler runs asynchronously.

use std::net::SocketAddr;
use std::time::Duration;

use cmp_coap::proxy::{self, ProxyConfig};
use cmp_coap::{ClientConfig, CmpClient, CmpPath, CmpRequest, classify};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../crates/cmp-coap/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("test data")
}

async fn fake_upstream(response: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\nContent-Length: {}\r\n\r\n",
                    response.len()
                )
                .into_bytes();
                out.extend_from_slice(&response);
                let _ = s.write_all(&out).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

fn bench_cmp_coap(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ir = data("ir.der");
    let ip = data("ir-rsp.der");
    let (config, client) = rt.block_on(async {
        let upstream = fake_upstream(ip.clone()).await;
        let config = ProxyConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            upstream,
            upstream_path: "/pkix/".into(),
            map_path_suffix: false,
            upstream_timeout: Duration::from_secs(5),
            // One client sends tens of thousands of requests within EXCHANGE_LIFETIME
            // (247 s); ace-coap's default dedup budget (1024 per peer) would answer 5.03.
            coap: ace_coap::Config {
                max_dedup_per_peer: 1 << 20,
                max_dedup_total: 1 << 20,
                ..ace_coap::Config::default()
            },
            ..ProxyConfig::default()
        };
        let server = proxy::bind(config.clone()).await.expect("proxy");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(server.serve());
        let (coap, driver) = ace_coap::Client::bind(
            "127.0.0.1:0".parse().expect("addr"),
            ace_coap::Config::default(),
        )
        .await
        .expect("client");
        tokio::spawn(driver.run());
        (config, CmpClient::new(coap, addr, ClientConfig::default()))
    });
    let request = CmpRequest {
        der: ir.clone(),
        info: classify(&ir).expect("ir"),
        path: CmpPath::default(),
        peer: "127.0.0.1:1".parse().expect("addr"),
        identity: ace_coap::PeerIdentity::Anonymous,
    };
    let http = proxy::build_http_request(&request, &config).expect("http request");

    let mut g = c.benchmark_group("ir_round_trip");
    g.bench_function(ace_benches::BASELINE_ID, |b| {
        b.iter(|| {
            let rsp = rt.block_on(proxy::forward(&http, &config)).expect("bare");
            assert_eq!(rsp.len(), ip.len());
        });
    });
    g.bench_function("via_proxy", |b| {
        b.iter(|| {
            let rsp = rt.block_on(client.send(ir.clone())).expect("via proxy");
            assert_eq!(rsp.der.len(), ip.len());
        });
    });
    g.finish();
}

criterion_group!(benches, bench_cmp_coap);
criterion_main!(benches);
