//! Loopback OSCORE request rate: aiocoap 0.4.17's OSCORE server
//! (`tests/interop/aiocoap_server.py`, `OscoreSiteWrapper`, one asyncio process) and our ace-coap
//! server with `OscoreLayer` (its own thread, current-thread tokio runtime), both with plugtest
//! context B, measured in one run with the same client. Prints requests per second, the
//! server's CPU time per request (from `/proc`), how busy the server thread was, and the
//! ratios. It measures; it asserts nothing about timing.
//!
//! ```text
//! ACE_INTEROP_PYTHON=/var/tmp/ace-rs-venv/bin/python \
//!   cargo run --release -p ace-oscore --features coap --example oscore_rate -- [SECONDS] [WINDOW] [MODE]
//! ```
//! SECONDS (default 3): measuring time per server, after a 0.5 s warm-up. Every request is a
//! `GET /hello` (CON, context A), answered with a piggybacked 2.05 "Hello World!".
//!
//! MODE `pipelined` (default): a load generator that is not the bottleneck. After a warm-up of
//! each server, the measuring time is split into three phases per server, alternating
//! (aiocoap, ours, aiocoap, …), so that load changes on a shared machine hit both alike. Before
//! each phase it protects every request it may send with the sans-IO core
//! (`SecurityContext::protect_request`, fresh Partial IVs, one context for the whole run) and
//! encodes the datagrams; during the phase one thread only sends those bytes over a blocking
//! UDP socket and receives, with WINDOW (default 32) requests in flight (retransmitting a
//! request unanswered for 500 ms with its Message ID, as CoAP does); after the phase it
//! verifies every response (`unprotect_response`: 2.05 "Hello World!"). So the client spends
//! a few µs of syscalls per request and the server thread is saturated (its busy share is
//! printed). Message IDs: a fresh source port every 60 000 requests (RFC 7252 §4.4: no reuse
//! within EXCHANGE_LIFETIME).
//!
//! MODE `client`: the end-to-end client instead, `OscoreClient` over ace-coap (WINDOW tasks
//! each with one request in flight); client-bound on a 2-core machine.

#[path = "../tests/interop/peer.rs"]
mod peer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ace_coap::{Client, Code, Config, Message};
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::coap::OscoreClient;
use ace_oscore::{MessageType, Packet, RequestBinding, SecurityContext, SequenceConfig};
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
    /// Server CPU time / wall time of the phase (1.0: its one thread was always busy).
    server_busy: f64,
    /// Load generator CPU time per request in microseconds (pipelined mode).
    client_cpu_us: Option<f64>,
    /// Requests sent again after 500 ms without an answer (pipelined mode).
    resent: u64,
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
        server_busy: cpu / took.as_secs_f64(),
        client_cpu_us: None,
        resent: 0,
    }
}

fn show(name: &str, m: &Measured) {
    let client = m
        .client_cpu_us
        .map(|c| format!(", client CPU {c:.1} µs/request, {} resent", m.resent))
        .unwrap_or_default();
    println!(
        "  {name:<34} {:>8.0} req/s ({} in {:.2} s), server CPU {:>6.1} µs/request \
         (server thread {:.0} % busy){client}",
        m.per_second,
        m.requests,
        m.took.as_secs_f64(),
        m.server_cpu_us,
        m.server_busy * 100.0
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

// ---------------------------------------------------------------------------------------------
// The pipelined load generator
// ---------------------------------------------------------------------------------------------

/// Requests per source port (distinct Message IDs, below 65 536).
const SEGMENT: usize = 60_000;
/// A request unanswered this long is sent again (same bytes, same Message ID).
const RESEND_AFTER: Duration = Duration::from_millis(500);
/// Give up on in-flight requests this long after the measuring time.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Protected, encoded requests and their bindings (index = token).
struct Load {
    datagrams: Vec<Vec<u8>>,
    bindings: Vec<RequestBinding>,
}

/// Protects `n` `GET /hello` requests with `ctx` (its next Partial IVs) and encodes them as
/// CON datagrams; the token is the request's index, the Message ID its index in its segment.
fn prepare(ctx: &mut SecurityContext<RustCrypto>, n: usize) -> Load {
    let mut req = ace_oscore::Message::new(Code::GET.0);
    req.add_option(ace_oscore::consts::option::URI_PATH, b"hello".to_vec());
    let mut load = Load {
        datagrams: Vec::with_capacity(n),
        bindings: Vec::with_capacity(n),
    };
    for i in 0..n {
        let p = ctx.protect_request(&req).expect("protect");
        let packet = Packet {
            ty: MessageType::Confirmable,
            message_id: (i % SEGMENT) as u16,
            token: (i as u64).to_be_bytes().to_vec(),
            message: p.message,
        };
        load.datagrams.push(packet.to_vec().expect("encode"));
        load.bindings.push(p.binding);
    }
    load
}

/// What one pipelined phase achieved.
struct Phase {
    /// Raw response datagrams by request index (None: not sent or not answered).
    responses: Vec<Option<Vec<u8>>>,
    completed: usize,
    /// From the first send to the last response.
    took: Duration,
    resent: u64,
    /// CPU time of the load generator thread in the phase, seconds.
    client_cpu: f64,
}

/// Sends `load` to `server` with `window` requests in flight until `duration` has passed
/// (or the load is used up), then waits for the answers still in flight.
fn pipeline(server: SocketAddr, load: &Load, window: usize, duration: Duration) -> Phase {
    let me = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    let my_stat = format!("/proc/{}/stat", me.display());
    let cpu0 = cpu_seconds(&my_stat);
    let n = load.datagrams.len();
    let mut responses: Vec<Option<Vec<u8>>> = vec![None; n];
    let (mut completed, mut resent) = (0usize, 0u64);
    let start = Instant::now();
    let deadline = start + duration;
    let mut last_answer = start;
    let mut buf = vec![0u8; 2048];
    let mut next = 0usize;
    'segments: while next < n && Instant::now() < deadline {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let end = (next + SEGMENT - next % SEGMENT).min(n);
        // In flight: request index -> last send instant.
        let mut in_flight: std::collections::HashMap<usize, Instant> =
            std::collections::HashMap::with_capacity(window * 2);
        let mut last_check = Instant::now();
        loop {
            let now = Instant::now();
            while in_flight.len() < window && next < end && now < deadline {
                socket.send_to(&load.datagrams[next], server).expect("send");
                in_flight.insert(next, now);
                next += 1;
            }
            if in_flight.is_empty() {
                break;
            }
            if now > deadline + DRAIN_LIMIT {
                eprintln!("{} requests unanswered; giving up on them", in_flight.len());
                break 'segments;
            }
            match socket.recv_from(&mut buf) {
                Ok((len, from)) if from == server && len >= 4 => {
                    let b0 = buf[0];
                    let tkl = usize::from(b0 & 0x0F);
                    let confirmable = (b0 >> 4) & 0x03 == 0;
                    if confirmable {
                        // A separate response: acknowledge it (empty ACK, its Message ID).
                        let ack = [0x60, 0x00, buf[2], buf[3]];
                        socket.send_to(&ack, server).expect("send ACK");
                    }
                    if buf[1] == 0 || tkl != 8 || len < 12 {
                        continue; // empty ACK (separate response follows) or not ours
                    }
                    let mut t = [0u8; 8];
                    t.copy_from_slice(&buf[4..12]);
                    let i = u64::from_be_bytes(t) as usize;
                    if in_flight.remove(&i).is_some() {
                        responses[i] = Some(buf[..len].to_vec());
                        completed += 1;
                        last_answer = Instant::now();
                    }
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("receive: {e}"),
            }
            let now = Instant::now();
            if now.duration_since(last_check) >= Duration::from_millis(100) {
                last_check = now;
                for (i, sent) in &mut in_flight {
                    if now.duration_since(*sent) >= RESEND_AFTER {
                        socket.send_to(&load.datagrams[*i], server).expect("resend");
                        *sent = now;
                        resent += 1;
                    }
                }
            }
        }
    }
    Phase {
        responses,
        completed,
        took: last_answer.duration_since(start),
        resent,
        client_cpu: cpu_seconds(&my_stat) - cpu0,
    }
}

/// Verifies every response of a phase (after it, so that the check costs the phase nothing).
fn verify(ctx: &mut SecurityContext<RustCrypto>, load: &mut Load, phase: &Phase) {
    for (i, r) in phase.responses.iter().enumerate() {
        let Some(bytes) = r else { continue };
        let packet = Packet::decode(bytes).expect("response decodes");
        let inner = ctx
            .unprotect_response(&mut load.bindings[i], &packet.message)
            .unwrap_or_else(|e| panic!("response {i} does not verify: {e:?}"));
        assert_eq!(inner.code, Code::CONTENT.0, "response {i}");
        assert_eq!(inner.payload, b"Hello World!", "response {i}");
    }
}

/// Measuring phases per server in pipelined mode, alternating between the servers (aiocoap,
/// ours, aiocoap, ours, …) so that a change in the machine's load hits both alike.
const ROUNDS: u32 = 3;

/// Sums over the phases of one server.
#[derive(Default)]
struct Totals {
    requests: u64,
    took: Duration,
    server_cpu: f64,
    client_cpu: f64,
    resent: u64,
}

impl Totals {
    fn measured(&self) -> Measured {
        let requests = self.requests.max(1) as f64;
        Measured {
            per_second: self.requests as f64 / self.took.as_secs_f64(),
            requests: self.requests,
            took: self.took,
            server_cpu_us: self.server_cpu * 1e6 / requests,
            server_busy: self.server_cpu / self.took.as_secs_f64(),
            client_cpu_us: Some(self.client_cpu * 1e6 / requests),
            resent: self.resent,
        }
    }
}

/// Warm-up of one server; returns its estimated rate (requests/s).
fn warm_up(ctx: &mut SecurityContext<RustCrypto>, server: SocketAddr, window: usize) -> f64 {
    let mut warm = prepare(ctx, 50_000);
    let w = pipeline(server, &warm, window, WARM_UP);
    verify(ctx, &mut warm, &w);
    w.completed as f64 / w.took.as_secs_f64().max(1e-3)
}

/// One measured phase against one server with a load sized from `estimate`, added to `totals`.
fn measure_phase(
    ctx: &mut SecurityContext<RustCrypto>,
    server: (SocketAddr, &str),
    window: usize,
    duration: Duration,
    estimate: f64,
    totals: &mut Totals,
) {
    let (addr, stat) = server;
    let n = (estimate * duration.as_secs_f64() * 2.0) as usize + 20_000;
    let mut load = prepare(ctx, n);
    let cpu = cpu_seconds(stat);
    let phase = pipeline(addr, &load, window, duration);
    let cpu = cpu_seconds(stat) - cpu;
    verify(ctx, &mut load, &phase);
    if phase.completed == n {
        eprintln!("note: the prepared load ({n}) ran out before the measuring time");
    }
    totals.requests += phase.completed as u64;
    totals.took += phase.took;
    totals.server_cpu += cpu;
    totals.client_cpu += phase.client_cpu;
    totals.resent += phase.resent;
}

/// Pipelined mode: warm-up of both, then [`ROUNDS`] alternating phases of
/// `duration / ROUNDS` each. Returns (first server, second server).
fn rate_pipelined(
    servers: [(SocketAddr, &str); 2],
    window: usize,
    duration: Duration,
) -> (Measured, Measured) {
    // One context (A) for both servers: Partial IVs continue across the run.
    let mut ctx = A.context();
    let estimates = servers.map(|(addr, _)| warm_up(&mut ctx, addr, window));
    let mut totals = [Totals::default(), Totals::default()];
    for _ in 0..ROUNDS {
        for (k, server) in servers.iter().enumerate() {
            measure_phase(
                &mut ctx,
                *server,
                window,
                duration / ROUNDS,
                estimates[k],
                &mut totals[k],
            );
        }
    }
    (totals[0].measured(), totals[1].measured())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(3.0, |s| s.parse().expect("SECONDS"));
    let window: usize = args.next().map_or(32, |s| s.parse().expect("WINDOW"));
    let mode = args.next().unwrap_or_else(|| "pipelined".to_owned());
    assert!(window > 0 && seconds > 0.0);
    assert!(
        mode == "pipelined" || mode == "client",
        "MODE is `pipelined` or `client`"
    );
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
        let lifetime = Duration::from_secs_f64(2.0 * (seconds + 1.0) + 60.0);
        let aiocoap = AiocoapServer::start(&dir, &[B], lifetime).await;
        println!(
            "aiocoap server on {}, our server on {our_addr}",
            aiocoap.addr
        );
        let aiocoap_stat = format!("/proc/{}/stat", aiocoap.pid().expect("aiocoap pid"));
        let (theirs, mine) = if mode == "pipelined" {
            rate_pipelined(
                [(aiocoap.addr, &aiocoap_stat), (our_addr, &our_stat)],
                window,
                duration,
            )
        } else {
            let store = SharedStore::default();
            let theirs = rate(&store, aiocoap.addr, &aiocoap_stat, window, duration).await;
            let mine = rate(&store, our_addr, &our_stat, window, duration).await;
            (theirs, mine)
        };
        println!(
            "OSCORE GET /hello over UDP on 127.0.0.1, context A, mode {mode}, \
             window {window}, same client for both:"
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
