//! CMP over CoAP, transport floor: what our CoAP leg and proxy cost on top of an HTTP
//! exchange when the CMP server costs **nothing**. The must-show comparison of RFC 9482
//! issue #10 (an ir through our proxy next to the same ir sent directly over HTTP, goal
//! ≤ 1.2×) is made against a real CMP server by `cargo xtask bench-cmp`
//! (`crates/cmp-coap/examples/bench_vs_http.rs`: fresh ir transactions answered live by
//! `openssl cmp -port`); this bench keeps the floor under it.
//!
//! Groups (`cargo bench -p ace-benches --bench cmp_coap`, then `cargo xtask ratios`):
//!
//! * `ir_round_trip`: the upstream is an **in-process fake HTTP CMP server** on 127.0.0.1
//!   (tokio) that reads the RFC 6712 POST and answers at once with a recorded `openssl cmp`
//!   `ip` (crates/cmp-coap/tests/data/ir-rsp.der); the ir is `tests/data/ir.der`.
//!   - `bare`: the ir posted with the proxy's own HTTP client (`cmp_coap::proxy::forward`):
//!     one loopback HTTP exchange, ~50 µs here.
//!   - `via_proxy`: `CmpClient` (CoAP, 1024-byte blocks) → our proxy → the same upstream:
//!     `bare` + the CoAP leg.
//!   - `via_proxy_separate_response`: the same against a second proxy with
//!     `piggyback_window = 0` (empty ACK at once, then a separate CON response the client
//!     ACKs: 4 datagrams instead of 2): the effect of the piggyback window in the same run.
//! * `cmp_coap_leg`: the CoAP leg alone.
//!   - `cmp_client_to_handler`: `CmpClient` → `CmpServer` whose handler answers the ip at
//!     once (all CMP checks, ace-coap client driver, deferred handler task, piggybacked
//!     response), ~45 µs here.
//!   - `bare`: a raw tokio UDP exchange of the same bytes (ir out, ip back) between two
//!     sockets of the same runtime, ~14 µs: the floor of any datagram transport here.
//!
//! Why ≤ 1.2× cannot be reached here: against an upstream that answers instantly,
//! `via_proxy / bare` = (HTTP + CoAP leg) / HTTP. Even a zero-cost proxy needs at least one
//! datagram exchange on top of the HTTP exchange, i.e. ≥ (50 + 14) / 50 ≈ 1.28× with the raw
//! UDP floor; with the measured CoAP leg (~45 µs) it is ≈ 1.9×. The ratio only says
//! something about a deployment once the CMP server's own work is in the denominator, which
//! is what `cargo xtask bench-cmp` measures (there: ≈ 1.1×, see the cmp-coap README).
//!
//! The proxy's handler runs asynchronously (`Handled::Deferred`); since ace-coap holds the
//! empty ACK back for `Config::piggyback_window` (100 ms), the fast upstream's answer is
//! piggybacked on the ACK: 2 datagrams per exchange, not 4 (empty ACK, CON response,
//! client ACK).
//!
//! Message IDs: ace-coap never reuses a Message ID towards one peer within
//! EXCHANGE_LIFETIME (247 s, RFC 7252 §4.4), so one client socket can send at most 65,536
//! requests per 247 s before it has to wait. A long criterion run can exceed that, so
//! `via_proxy` moves to a fresh client socket every [`REQUESTS_PER_SOCKET`] requests (a
//! new source port is a new peer, for the client's ID allocator and for the proxy's
//! deduplication cache alike). The switch happens outside the timed section
//! (`iter_custom`). The protocol parameters stay the RFC defaults.
//!
//! Block size: ace-coap's default SZX 6 (1024-byte blocks, the largest) on loopback, so the
//! ir (402 B) and the ip (912 B) each travel in one datagram: no block-wise round trips.
//! Both HTTP legs open one connection per exchange (`Connection: close`, TCP_NODELAY), the
//! proxy's default; its per-transaction connections (`ProxyConfig::transaction_idle`) do
//! not apply, since every ir starts a new exchange here.
//!
//! `via_proxy` ≈ `ir_round_trip/bare` + `cmp_coap_leg/cmp_client_to_handler`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cmp_coap::proxy::{self, ProxyConfig};
use cmp_coap::{ClientConfig, CmpClient, CmpPath, CmpRequest, classify};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Requests sent from one client socket before the bench moves to a fresh one (each
/// request takes one Message ID; 65,536 exist per peer and EXCHANGE_LIFETIME).
const REQUESTS_PER_SOCKET: u64 = 30_000;

/// A `CmpClient` on a fresh UDP socket (a new peer for the proxy).
async fn fresh_client(proxy: SocketAddr) -> CmpClient {
    let (coap, driver) = ace_coap::Client::bind(
        "127.0.0.1:0".parse().expect("addr"),
        ace_coap::Config::default(),
    )
    .await
    .expect("client");
    tokio::spawn(driver.run());
    CmpClient::new(coap, proxy, ClientConfig::default())
}

/// A CMP client that moves to a fresh socket every [`REQUESTS_PER_SOCKET`] requests.
struct Rotating {
    proxy: SocketAddr,
    client: CmpClient,
    sent_on_socket: u64,
}

impl Rotating {
    fn new(rt: &tokio::runtime::Runtime, proxy: SocketAddr) -> Self {
        Self {
            proxy,
            client: rt.block_on(fresh_client(proxy)),
            sent_on_socket: 0,
        }
    }

    /// Sends `iters` irs; returns the time spent in the exchanges (socket switches are
    /// not timed).
    fn run(
        &mut self,
        rt: &tokio::runtime::Runtime,
        iters: u64,
        ir: &[u8],
        ip_len: usize,
    ) -> Duration {
        let mut timed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if self.sent_on_socket >= REQUESTS_PER_SOCKET {
                self.client = rt.block_on(fresh_client(self.proxy));
                self.sent_on_socket = 0;
            }
            let n = left.min(REQUESTS_PER_SOCKET - self.sent_on_socket);
            let start = Instant::now();
            for _ in 0..n {
                let rsp = rt
                    .block_on(self.client.send(ir.to_vec()))
                    .expect("via proxy");
                assert_eq!(rsp.der.len(), ip_len);
            }
            timed += start.elapsed();
            self.sent_on_socket += n;
            left -= n;
        }
        timed
    }
}

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

/// The runtime the benches run on (two workers), and the ir and ip of tests/data.
fn setup() -> (tokio::runtime::Runtime, Vec<u8>, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    (rt, data("ir.der"), data("ir-rsp.der"))
}

fn bench_cmp_coap(c: &mut Criterion) {
    let (rt, ir, ip) = setup();
    let (config, proxy_addr, separate_addr) = rt.block_on(async {
        let upstream = fake_upstream(ip.clone()).await;
        let config = ProxyConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            upstream,
            upstream_path: "/pkix/".into(),
            map_path_suffix: false,
            upstream_timeout: Duration::from_secs(5),
            // Several client sockets send up to REQUESTS_PER_SOCKET requests each within
            // EXCHANGE_LIFETIME (247 s); room for all of them in the proxy's dedup cache
            // (the default total, 262,144, would also do for ~8 sockets). Each request's
            // piggybacked response (~960 bytes) stays cached for duplicates for
            // MAX_TRANSMIT_SPAN + MAX_LATENCY (145 s): the default 16 MiB reply budget
            // holds ~17,000 of them and then answers 5.03 (back-pressure); a run sends
            // ~20,000-40,000 requests, so the bench raises it to 256 MiB.
            coap: ace_coap::Config {
                max_dedup_total: 1 << 20,
                max_dedup_reply_bytes: 256 << 20,
                ..ace_coap::Config::default()
            },
            ..ProxyConfig::default()
        };
        let server = proxy::bind(config.clone()).await.expect("proxy");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(server.serve());
        // The same proxy with the piggyback window off: empty ACK at once, then the
        // response as a separate CON that the client ACKs (ace-coap's former behaviour).
        let mut separate_config = config.clone();
        separate_config.coap.piggyback_window = Duration::ZERO;
        let separate = proxy::bind(separate_config).await.expect("proxy");
        let separate_addr = separate.local_addr().expect("addr");
        tokio::spawn(separate.serve());
        (config, addr, separate_addr)
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
    let mut piggybacked = Rotating::new(&rt, proxy_addr);
    g.bench_function("via_proxy", |b| {
        b.iter_custom(|iters| piggybacked.run(&rt, iters, &ir, ip.len()));
    });
    let mut separate = Rotating::new(&rt, separate_addr);
    g.bench_function("via_proxy_separate_response", |b| {
        b.iter_custom(|iters| separate.run(&rt, iters, &ir, ip.len()));
    });
    g.finish();
}

/// A CMP handler that answers the recorded ip at once (no upstream).
struct Immediate(Vec<u8>);

impl cmp_coap::CmpHandler for Immediate {
    async fn handle(&self, _request: CmpRequest) -> cmp_coap::Result<Vec<u8>> {
        Ok(self.0.clone())
    }
}

/// The CoAP leg alone, to show what `via_proxy` adds to `bare`: `cmp_client_to_handler` is
/// `CmpClient` → `CmpServer` with a handler answering the ip at once (all CMP checks,
/// ace-coap client driver, deferred handler task, piggybacked response), `bare` a raw
/// tokio UDP exchange of the same bytes (ir out, ip back) between two sockets of the same
/// runtime: the floor of any datagram transport here.
fn bench_coap_leg(c: &mut Criterion) {
    let (rt, ir, ip) = setup();
    let (socket, echo_addr, server_addr) = rt.block_on(async {
        let echo = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let echo_addr = echo.local_addr().expect("addr");
        let answer = ip.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((_, from)) = echo.recv_from(&mut buf).await {
                let _ = echo.send_to(&answer, from).await;
            }
        });
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let server = cmp_coap::CmpServer::bind(
            "127.0.0.1:0".parse().expect("addr"),
            ace_coap::Config {
                // room for every request of a run in the dedup cache (see bench_cmp_coap)
                max_dedup_total: 1 << 20,
                max_dedup_reply_bytes: 256 << 20,
                ..ace_coap::Config::default()
            },
            cmp_coap::ServerConfig::default(),
            Immediate(ip.clone()),
        )
        .await
        .expect("server");
        let server_addr = server.local_addr().expect("addr");
        tokio::spawn(server.serve());
        (socket, echo_addr, server_addr)
    });
    let mut g = c.benchmark_group("cmp_coap_leg");
    g.bench_function(ace_benches::BASELINE_ID, |b| {
        let mut buf = vec![0u8; 2048];
        b.iter(|| {
            let n = rt.block_on(async {
                socket.send_to(&ir, echo_addr).await.expect("send");
                socket.recv_from(&mut buf).await.expect("recv").0
            });
            assert_eq!(n, ip.len());
        });
    });
    let mut direct = Rotating::new(&rt, server_addr);
    g.bench_function("cmp_client_to_handler", |b| {
        b.iter_custom(|iters| direct.run(&rt, iters, &ir, ip.len()));
    });
    g.finish();
}

criterion_group!(benches, bench_cmp_coap, bench_coap_leg);
criterion_main!(benches);
