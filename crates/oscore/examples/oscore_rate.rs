//! Loopback OSCORE request rate: the same Rust `OscoreClient` (plugtest context A) against
//! (a) our ace-coap server with `OscoreLayer` and (b) aiocoap 0.4.17's OSCORE server
//! (`tests/interop/aiocoap_server.py`, `OscoreSiteWrapper`), both with context B, in one run.
//! Prints requests per second for each and the ratio. It measures; it asserts nothing about
//! timing.
//!
//! ```text
//! ACE_INTEROP_PYTHON=/var/tmp/ace-rs-venv/bin/python \
//!   cargo run --release -p ace-oscore --features coap --example oscore_rate -- [SECONDS] [CONCURRENCY]
//! ```
//! SECONDS (default 3) is the measuring time per server, after a 0.5 s warm-up; CONCURRENCY
//! (default 1) is the number of requests in flight (each a `GET /hello`, CON, answered with a
//! piggybacked 2.05 "Hello World!"). Each server gets one thread: ours runs on its own
//! current-thread tokio runtime, aiocoap is a single-threaded asyncio process; the client
//! runs on the main thread's current-thread runtime.

#[path = "../tests/interop/peer.rs"]
mod peer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ace_coap::{Client, Code, Config, Message};
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::coap::OscoreClient;
use ace_oscore::{SecurityContext, SequenceConfig};
use peer::{A, AiocoapServer, B, OurServer, SharedStore, scratch_dir};
use tokio::sync::oneshot;

const WARM_UP: Duration = Duration::from_millis(500);
/// Upper bound for a single request (a lost datagram would otherwise stall a worker).
const REQUEST_LIMIT: Duration = Duration::from_secs(20);
/// Requests sent from one client UDP endpoint before the next one takes over. A CoAP
/// endpoint must not reuse a Message ID towards the same peer within EXCHANGE_LIFETIME
/// (247 s, RFC 7252 §4.4/§4.5: the server would answer a reused ID from its deduplication
/// cache), and there are only 65536; at tens of thousands of requests per second one
/// endpoint runs out within seconds. So the load comes from a sequence of endpoints, each
/// an `OscoreClient` restored from the previous one's persisted sequence number (Appendix
/// B.1.1), exactly as after a restart: one context, fresh nonces throughout.
const PER_ENDPOINT: u64 = 20_000;

/// The next client endpoint: context A, continuing at the persisted sequence number.
async fn client(store: &SharedStore) -> Arc<OscoreClient<RustCrypto>> {
    let persisted = store.0.lock().unwrap().get(b"", None);
    let ctx = match persisted {
        None => A.context(),
        Some(p) => SecurityContext::restore_without_echo(
            RustCrypto,
            A.params(SequenceConfig::default()),
            p,
        )
        .unwrap(),
    };
    let (client, driver) = Client::bind("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    tokio::spawn(driver.run());
    Arc::new(OscoreClient::new(client, ctx, store.clone()))
}

/// Runs `concurrency` request loops against `server` for `duration`; returns completed
/// requests. Any error or wrong answer aborts the program.
async fn drive(
    store: &SharedStore,
    server: SocketAddr,
    concurrency: usize,
    duration: Duration,
) -> u64 {
    let deadline = Instant::now() + duration;
    let mut total = 0;
    while Instant::now() < deadline {
        let client = client(store).await;
        let started = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (client, started, done) = (client.clone(), started.clone(), done.clone());
                tokio::spawn(async move {
                    while Instant::now() < deadline
                        && started.fetch_add(1, Ordering::Relaxed) < PER_ENDPOINT
                    {
                        let resp = tokio::time::timeout(
                            REQUEST_LIMIT,
                            client.request(server, Message::request(Code::GET, "/hello")),
                        )
                        .await
                        .unwrap_or_else(|_| panic!("request to {server} timed out"))
                        .unwrap_or_else(|e| panic!("request to {server} failed: {e:?}"));
                        assert_eq!(resp.payload, b"Hello World!");
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        total += done.load(Ordering::Relaxed);
    }
    total
}

/// CPU time (user + system) of a process or thread from `/proc/<path>/stat`, in seconds
/// (clock ticks of 1/100 s, Linux's USER_HZ).
fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_else(|e| panic!("{stat_path}: {e}"));
    // Fields after the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

struct Measured {
    per_second: f64,
    requests: u64,
    took: Duration,
    /// Server CPU time per request in microseconds.
    server_cpu_us: f64,
}

/// Warm-up, then a measured run, reading the server's CPU time from `server_stat` around it.
async fn rate(
    store: &SharedStore,
    server: SocketAddr,
    server_stat: &str,
    concurrency: usize,
    duration: Duration,
) -> Measured {
    drive(store, server, concurrency, WARM_UP).await;
    let cpu = cpu_seconds(server_stat);
    let start = Instant::now();
    let requests = drive(store, server, concurrency, duration).await;
    let took = start.elapsed();
    let cpu = cpu_seconds(server_stat) - cpu;
    Measured {
        per_second: requests as f64 / took.as_secs_f64(),
        requests,
        took,
        server_cpu_us: cpu * 1e6 / requests as f64,
    }
}

fn show(name: &str, m: &Measured) {
    println!(
        "  {name:<34} {:>8.0} req/s ({} in {:.2} s), server CPU {:>6.1} µs/request",
        m.per_second,
        m.requests,
        m.took.as_secs_f64(),
        m.server_cpu_us
    );
}

/// ace-coap's defaults remember at most 1024 message IDs per peer for deduplication
/// (evicting only entries older than MAX_TRANSMIT_WAIT, 93 s) and answer 5.03 beyond that, so
/// one client cannot sustain more than ~11 CON requests/s against a default server. For
/// the rate run the deduplication tables are made large enough for every request of the run
/// (aiocoap's deduplication table has no such bound).
fn rate_config() -> Config {
    Config {
        max_dedup_per_peer: 1 << 20,
        max_dedup_total: 1 << 20,
        ..Config::default()
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(3.0, |s| s.parse().expect("SECONDS"));
    let concurrency: usize = args.next().map_or(1, |s| s.parse().expect("CONCURRENCY"));
    assert!(concurrency > 0 && seconds > 0.0);
    let duration = Duration::from_secs_f64(seconds);

    // Our server on its own thread and runtime.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let ours = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = OurServer::start_with(&[B], rate_config()).await;
            // "/proc/thread-self" links to "<pid>/task/<tid>": this runtime's only thread.
            let me = std::fs::read_link("/proc/thread-self").unwrap();
            let stat = format!("/proc/{}/stat", me.display());
            addr_tx.send((server.addr, stat)).unwrap();
            let _ = stop_rx.await;
            server.stop().await;
        });
    });
    let (our_addr, our_stat) = addr_rx.recv().unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = scratch_dir(&std::env::temp_dir(), "rate");
        let lifetime = Duration::from_secs_f64(2.0 * (seconds + 1.0) + 30.0);
        let aiocoap = AiocoapServer::start(&dir, &[B], lifetime).await;
        let store = SharedStore::default();
        println!(
            "aiocoap server on {}, our server on {our_addr}",
            aiocoap.addr
        );

        let aiocoap_stat = format!("/proc/{}/stat", aiocoap.pid().expect("aiocoap pid"));
        let theirs = rate(&store, aiocoap.addr, &aiocoap_stat, concurrency, duration).await;
        let mine = rate(&store, our_addr, &our_stat, concurrency, duration).await;
        println!(
            "OSCORE GET /hello over UDP on 127.0.0.1, one Rust OscoreClient (context A), \
             concurrency {concurrency}:"
        );
        show("aiocoap 0.4.17 OscoreSiteWrapper:", &theirs);
        show("ace-oscore OscoreLayer (ace-coap):", &mine);
        println!(
            "  ratio ours / aiocoap: {:.1}x requests/s, {:.1}x less server CPU per request",
            mine.per_second / theirs.per_second,
            theirs.server_cpu_us / mine.server_cpu_us
        );
        aiocoap.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
    stop_tx.send(()).unwrap();
    ours.join().unwrap();
}
