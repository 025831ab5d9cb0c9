//! Interop with CoAP implementations we did not write: libcoap 4.3.1 (`coap-client-notls`,
//! Debian `libcoap3-bin`, on `PATH`) and aiocoap 0.4.17 (`aiocoap-client` in
//! `$ACE_INTEROP_BIN`, the library through `$ACE_INTEROP_PYTHON`).
//!
//! Every test starts our [`Server`] in-process on 127.0.0.1 port 0, runs the real peer as a
//! child process against the actual port, and checks the peer's output and what the server
//! saw, byte for byte. Every child is bounded by [`PEER_LIMIT`] and killed when it overruns.
//!
//! The tests are `#[ignore]`d so that `cargo test` needs no peer; `cargo xtask interop` runs
//! them with the environment set. A missing peer or variable is a **failure**, never a skip:
//! ```text
//! ACE_INTEROP_BIN=/var/tmp/ace-rs-venv/bin ACE_INTEROP_PYTHON=/var/tmp/ace-rs-venv/bin/python \
//!   cargo test -p ace-coap --test interop_peers -- --ignored --test-threads=1
//! ```
//!
//! A 10 KiB body cannot travel in one datagram here (`max_message_size` is 1152 bytes), so a
//! byte-identical 10 KiB transfer proves that block-wise transfer (RFC 7959) took place.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ace_coap::consts::content_format;
use ace_coap::{Code, Config, FnResource, Message, Router, Server, ServerHandle};
use ace_interop_peers as peers;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};

/// Upper bound for one peer invocation; the child is killed when it is exceeded.
const PEER_LIMIT: Duration = Duration::from_secs(20);
/// Period of the observable counter's changes.
const TICK: Duration = Duration::from_millis(200);
/// Size of the Block2 resource.
const BIG_LEN: usize = 10 * 1024;
/// Size of the Block1 uploads.
const UPLOAD_LEN: usize = 12_345;

// ---------------------------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------------------------

const HOW_TO_RUN: &str = "these tests run under `cargo xtask interop` (or: ACE_INTEROP_BIN=/var/tmp/ace-rs-venv/bin \
     ACE_INTEROP_PYTHON=/var/tmp/ace-rs-venv/bin/python cargo test -p ace-coap --test interop_peers \
     -- --ignored --test-threads=1)";

fn libcoap_client() -> PathBuf {
    peers::libcoap_client(HOW_TO_RUN)
}

fn aiocoap_client() -> PathBuf {
    peers::aiocoap_client(HOW_TO_RUN)
}

fn python() -> PathBuf {
    peers::python(HOW_TO_RUN)
}

async fn run_peer<A: AsRef<OsStr>>(program: &Path, args: &[A]) -> Output {
    peers::run_peer(program, args, PEER_LIMIT).await
}

async fn run_ok<A: AsRef<OsStr> + core::fmt::Debug>(program: &Path, args: &[A]) -> Output {
    peers::run_ok(program, args, PEER_LIMIT).await
}

// ---------------------------------------------------------------------------------------------
// Our server
// ---------------------------------------------------------------------------------------------

/// Deterministic, non-periodic bytes (xorshift32), covering all byte values.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn big_body() -> Vec<u8> {
    pattern(BIG_LEN, 0x2545_f491)
}

fn upload_body() -> Vec<u8> {
    pattern(UPLOAD_LEN, 0x9e37_79b9)
}

fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What `/upload` answers: the length and FNV-1a 64 of the reassembled body.
fn digest_line(data: &[u8]) -> String {
    format!("{} bytes fnv1a64={:016x}", data.len(), fnv1a64(data))
}

const WELL_KNOWN_CORE: &str =
    "</big>;ct=42;sz=10240,</counter>;rt=\"counter\";obs,</hello>;ct=0,</upload>";

/// Bodies `/upload` received, with their method.
type Uploads = Arc<Mutex<Vec<(Code, Vec<u8>)>>>;

struct Fixture {
    addr: SocketAddr,
    handle: ServerHandle,
    task: JoinHandle<ace_coap::Result<()>>,
    counter: Arc<AtomicU64>,
    /// Every request body `/upload` received, with its method.
    uploads: Uploads,
    /// Scratch directory for files handed to / written by the peers.
    dir: PathBuf,
}

impl Fixture {
    async fn start(name: &str) -> Self {
        Self::start_with(name, Config::default()).await
    }

    async fn start_with(name: &str, config: Config) -> Self {
        let counter = Arc::new(AtomicU64::new(0));
        let uploads: Uploads = Arc::new(Mutex::new(Vec::new()));
        let (c, u) = (counter.clone(), uploads.clone());
        let big = big_body();
        let router = Router::new()
            .mount(
                "/hello",
                FnResource::new(|_| {
                    Message::response(Code::CONTENT, "world")
                        .with_content_format(content_format::TEXT_PLAIN)
                        .into()
                })
                .ct(content_format::TEXT_PLAIN),
            )
            .mount(
                "/big",
                FnResource::new(move |_| {
                    Message::response(Code::CONTENT, big.clone())
                        .with_content_format(content_format::OCTET_STREAM)
                        .into()
                })
                .ct(content_format::OCTET_STREAM)
                .sz(u64::try_from(BIG_LEN).unwrap()),
            )
            .mount(
                "/counter",
                FnResource::new(move |_| {
                    Message::response(Code::CONTENT, c.load(Ordering::SeqCst).to_string())
                        .with_content_format(content_format::TEXT_PLAIN)
                        .into()
                })
                .observable()
                .rt("counter"),
            )
            .mount(
                "/upload",
                FnResource::new(move |req| {
                    let line = digest_line(req.payload());
                    u.lock()
                        .unwrap()
                        .push((req.method(), req.payload().to_vec()));
                    Message::response(Code::CHANGED, line)
                        .with_content_format(content_format::TEXT_PLAIN)
                        .into()
                })
                .methods(&[Code::POST, Code::PUT]),
            );
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = Server::bind(loopback, config, router).await.unwrap();
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let task = tokio::spawn(server.serve());
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("interop-peers-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            addr,
            handle,
            task,
            counter,
            uploads,
            dir,
        }
    }

    fn uri(&self, path: &str) -> String {
        format!("coap://{}{path}", self.addr)
    }

    /// A path in the scratch directory, as a string for a peer's command line.
    fn file(&self, name: &str) -> String {
        self.dir
            .join(name)
            .to_str()
            .expect("UTF-8 scratch path")
            .to_owned()
    }

    /// Changes `/counter` every [`TICK`] and notifies its observers.
    fn start_ticker(&self) -> JoinHandle<()> {
        let (handle, counter) = (self.handle.clone(), self.counter.clone());
        tokio::spawn(async move {
            loop {
                sleep(TICK).await;
                counter.fetch_add(1, Ordering::SeqCst);
                if handle.notify("/counter").await.is_err() {
                    break;
                }
            }
        })
    }

    /// Waits (bounded) until `/counter` has no observer left: the peer deregistered.
    async fn expect_no_observers(&self, peer: &str) {
        for _ in 0..25 {
            self.counter.fetch_add(1, Ordering::SeqCst);
            if self.handle.notify("/counter").await.unwrap() == 0 {
                return;
            }
            sleep(TICK).await;
        }
        panic!("{peer} ended its observation but the server still has an observer on /counter");
    }

    fn take_uploads(&self) -> Vec<(Code, Vec<u8>)> {
        std::mem::take(&mut *self.uploads.lock().unwrap())
    }

    async fn stop(self) {
        self.handle.shutdown().await;
        timeout(Duration::from_secs(5), self.task)
            .await
            .expect("server did not stop within 5 s")
            .unwrap()
            .unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Observe tests send a confirmable notification at least every 600 ms (RFC 7641 §4.5;
/// default 24 h), so the peer has to ACK CON notifications too, and a departed aiocoap
/// client, which ignores unknown NON notifications but answers an unknown CON with RST,
/// gets deregistered within the test.
fn observe_config() -> Config {
    Config {
        notification_con_interval: Duration::from_millis(600),
        ..Config::default()
    }
}

/// Parses observed counter values (one per line, blank lines ignored) and checks that they
/// never go back; returns the distinct values in arrival order.
fn distinct_increasing(lines: &[&str], peer: &str) -> Vec<u64> {
    let values: Vec<u64> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.parse()
                .unwrap_or_else(|_| panic!("{peer}: not a counter value: {l:?}"))
        })
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "{peer}: notifications out of order: {values:?}"
    );
    let mut distinct = values.clone();
    distinct.dedup();
    distinct
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// libcoap 4.3.1 (coap-client-notls)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs real peers: run `cargo xtask interop`"]
async fn libcoap_get_small_and_well_known_core() {
    let client = libcoap_client();
    let f = Fixture::start("libcoap-get-small").await;
    let out = f.file("hello.out");
    run_ok(&client, &["-m", "get", "-o", &out, &f.uri("/hello")]).await;
    assert_eq!(std::fs::read(&out).unwrap(), b"world");

    let out = f.file("core.out");
    run_ok(
        &client,
        &["-m", "get", "-o", &out, &f.uri("/.well-known/core")],
    )
    .await;
    assert_eq!(text(&std::fs::read(&out).unwrap()), WELL_KNOWN_CORE);

    // An unknown path gives 4.04, which libcoap reports on stderr.
    let o = run_peer(&client, &["-m", "get", &f.uri("/nowhere")]).await;
    assert!(
        text(&o.stderr).contains("4.04"),
        "libcoap did not report 4.04: stdout {:?} stderr {:?}",
        text(&o.stdout),
        text(&o.stderr)
    );
    f.stop().await;
}

#[tokio::test]
#[ignore = "needs real peers: run `cargo xtask interop`"]
async fn libcoap_get_large_block2_every_block_size() {
    let client = libcoap_client();
    let f = Fixture::start("libcoap-block2").await;
    let big = big_body();
    for size in ["16", "64", "256", "1024"] {
        let out = f.file(&format!("big-{size}.out"));
        run_ok(
            &client,
            &["-m", "get", "-b", size, "-o", &out, &f.uri("/big")],
        )
        .await;
        let got = std::fs::read(&out).unwrap();
        assert_eq!(got.len(), big.len(), "Block2 with -b {size}: length");
        assert!(got == big, "Block2 with -b {size}: body differs");
    }
    f.stop().await;
}

#[tokio::test]
#[ignore = "needs real peers: run `cargo xtask interop`"]
async fn libcoap_put_and_post_large_block1() {
    let client = libcoap_client();
    let f = Fixture::start("libcoap-block1").await;
    let body = upload_body();
    let input = f.file("upload.bin");
    std::fs::write(&input, &body).unwrap();
    for (method, code, size) in [
        ("put", Code::PUT, "64"),
        ("post", Code::POST, "1024"),
        ("put", Code::PUT, "512"),
    ] {
        let out = f.file(&format!("upload-{method}-{size}.out"));
        run_ok(
            &client,
            &[
                "-m",
                method,
                "-b",
                size,
                "-f",
                &input,
                "-o",
                &out,
                &f.uri("/upload"),
            ],
        )
        .await;
        assert_eq!(
            text(&std::fs::read(&out).unwrap()),
            digest_line(&body),
            "{method} -b {size}: response"
        );
        let seen = f.take_uploads();
        assert_eq!(seen.len(), 1, "{method} -b {size}: handler runs once");
        assert_eq!(seen[0].0, code);
        assert!(
            seen[0].1 == body,
            "{method} -b {size}: server saw other bytes"
        );
    }
    f.stop().await;
}

#[tokio::test]
#[ignore = "needs real peers: run `cargo xtask interop`"]
async fn libcoap_observe_sees_successive_values_then_deregisters() {
    let client = libcoap_client();
    let f = Fixture::start_with("libcoap-observe", observe_config()).await;
    let ticker = f.start_ticker();
    // `-s 2`: observe for 2 s (about 10 changes), then libcoap sends GET Observe=1.
    // `-w`: a newline after each payload (to `-o`); `-v 7`: every PDU logged on stdout.
    let out = f.file("observe.out");
    let o = run_ok(
        &client,
        &[
            "-m",
            "get",
            "-w",
            "-v",
            "7",
            "-s",
            "2",
            "-o",
            &out,
            &f.uri("/counter"),
        ],
    )
    .await;
    let payloads = text(&std::fs::read(&out).unwrap());
    let lines: Vec<&str> = payloads.lines().collect();
    let values = distinct_increasing(&lines, "libcoap");
    assert!(
        values.len() >= 5,
        "libcoap saw only {} distinct values: {payloads:?}",
        values.len()
    );
    let log = text(&o.stdout);
    let pdus: Vec<&str> = log.lines().filter(|l| l.starts_with("v:1 ")).collect();
    // Both NON and (every 600 ms) CON notifications arrived, and libcoap ACKed the CON ones.
    assert!(
        pdus.iter()
            .any(|l| l.starts_with("v:1 t:NON c:2.05") && l.contains("Observe:")),
        "no NON notification in libcoap's log: {pdus:?}"
    );
    assert!(
        pdus.iter()
            .any(|l| l.starts_with("v:1 t:CON c:2.05") && l.contains("Observe:")),
        "no CON notification in libcoap's log: {pdus:?}"
    );
    assert!(
        pdus.iter().any(|l| l.starts_with("v:1 t:ACK c:0.00")),
        "libcoap sent no empty ACK for a CON notification: {pdus:?}"
    );
    // At the end libcoap deregisters explicitly.
    assert!(
        pdus.iter()
            .any(|l| l.contains("c:GET") && l.contains("Observe:1,")),
        "libcoap sent no GET Observe=1: {pdus:?}"
    );
    ticker.abort();
    f.expect_no_observers("libcoap").await;
    f.stop().await;
}

#[tokio::test]
#[ignore = "needs real peers: run `cargo xtask interop`"]
async fn libcoap_non_request_gets_non_response() {
    let client = libcoap_client();
    let f = Fixture::start("libcoap-non").await;
    let out = f.file("non.out");
    // `-v 7` logs every PDU sent and received on stdout; the payload goes to `-o`.
    let o = run_ok(
        &client,
        &["-N", "-v", "7", "-m", "get", "-o", &out, &f.uri("/hello")],
    )
    .await;
    assert_eq!(std::fs::read(&out).unwrap(), b"world");
    let log = text(&o.stdout);
    let pdus: Vec<&str> = log.lines().filter(|l| l.starts_with("v:1 ")).collect();
    assert!(
        pdus.iter().any(|l| l.starts_with("v:1 t:NON c:GET")),
        "libcoap did not send a NON GET: {pdus:?}"
    );
    assert!(
        pdus.iter()
            .any(|l| l.starts_with("v:1 t:NON c:2.05") && l.ends_with(":: 'world'")),
        "no NON 2.05 'world' response in libcoap's log: {pdus:?}"
    );
    assert!(
        !pdus
            .iter()
            .any(|l| l.contains("t:ACK") || l.contains("t:CON")),
        "a NON exchange used CON/ACK: {pdus:?}"
    );
    f.stop().await;
}

// ---------------------------------------------------------------------------------------------
// aiocoap 0.4.17
// ---------------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs real peers: run `cargo xtask interop`"]
async fn aiocoap_get_small_non_and_errors() {
    let client = aiocoap_client();
    let f = Fixture::start("aiocoap-get-small").await;
    let o = run_ok(&client, &[f.uri("/hello")]).await;
    assert_eq!(o.stdout, b"world");
    let o = run_ok(&client, &["--non".to_owned(), f.uri("/hello")]).await;
    assert_eq!(o.stdout, b"world");
    let o = run_ok(&client, &[f.uri("/.well-known/core")]).await;
    assert_eq!(text(&o.stdout), WELL_KNOWN_CORE);
    // Error responses: aiocoap-client exits 1 and names the code on stderr.
    let o = run_peer(&client, &["-m".to_owned(), "POST".into(), f.uri("/hello")]).await;
    assert_eq!(o.status.code(), Some(1), "POST /hello: {o:?}");
    assert!(text(&o.stderr).contains("4.05 Method Not Allowed"), "{o:?}");
    let o = run_peer(&client, &[f.uri("/nowhere")]).await;
    assert_eq!(o.status.code(), Some(1), "GET /nowhere: {o:?}");
    assert!(text(&o.stderr).contains("4.04 Not Found"), "{o:?}");
    f.stop().await;
}

#[tokio::test]
#[ignore = "needs real peers: run `cargo xtask interop`"]
async fn aiocoap_get_large_block2() {
    let client = aiocoap_client();
    let f = Fixture::start("aiocoap-block2").await;
    let o = run_ok(&client, &[f.uri("/big")]).await;
    assert_eq!(o.stdout.len(), BIG_LEN, "Block2 length");
    assert!(o.stdout == big_body(), "Block2 body differs");
    f.stop().await;
}

#[tokio::test]
#[ignore = "needs real peers: run `cargo xtask interop`"]
async fn aiocoap_put_and_post_large_block1() {
    let client = aiocoap_client();
    let f = Fixture::start("aiocoap-block1").await;
    let body = upload_body();
    let input = f.file("upload.bin");
    std::fs::write(&input, &body).unwrap();
    let payload = format!("@{input}");
    // No SZX given: aiocoap starts with 1024-byte blocks; `--payload-initial-szx 2`: 64 bytes.
    for (method, code, szx) in [
        ("PUT", Code::PUT, None),
        ("POST", Code::POST, None),
        ("PUT", Code::PUT, Some("2")),
        ("POST", Code::POST, Some("0")),
    ] {
        let mut args = vec!["-m", method, "--payload", &payload];
        if let Some(szx) = szx {
            args.extend(["--payload-initial-szx", szx]);
        }
        let uri = f.uri("/upload");
        args.push(&uri);
        let o = run_ok(&client, &args).await;
        assert_eq!(
            text(&o.stdout),
            digest_line(&body),
            "{method} szx {szx:?}: response"
        );
        let seen = f.take_uploads();
        assert_eq!(seen.len(), 1, "{method} szx {szx:?}: handler runs once");
        assert_eq!(seen[0].0, code);
        assert!(
            seen[0].1 == body,
            "{method} szx {szx:?}: server saw other bytes"
        );
    }
    f.stop().await;
}

#[tokio::test]
#[ignore = "needs real peers: run `cargo xtask interop`"]
async fn aiocoap_observe_sees_successive_values_then_deregisters() {
    let python = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/aiocoap_observe.py");
    let f = Fixture::start_with("aiocoap-observe", observe_config()).await;
    let ticker = f.start_ticker();
    const COUNT: usize = 5;
    // After COUNT notifications the script stops observing and lingers 1.5 s. aiocoap 0.4.17
    // silently ignores NON notifications for a forgotten token ("Ignoring unknown response
    // (which is not a unicast CON)") but answers the next CON one (at most 600 ms + one
    // tick later) with RST, which must deregister it (RFC 7641 §3.6).
    let o = run_ok(
        &python,
        &[
            script.to_str().expect("UTF-8 script path"),
            &f.uri("/counter"),
            &COUNT.to_string(),
            "1.5",
        ],
    )
    .await;
    let stdout = text(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), COUNT + 2, "aiocoap script output: {stdout:?}");
    assert!(lines[0].starts_with("response "), "{stdout:?}");
    assert_eq!(lines[COUNT + 1], "done", "{stdout:?}");
    let values: Vec<&str> = lines[1..=COUNT]
        .iter()
        .map(|l| {
            l.strip_prefix("notification ")
                .unwrap_or_else(|| panic!("unexpected line {l:?} in {stdout:?}"))
        })
        .collect();
    let first = lines[0].strip_prefix("response ").unwrap();
    let mut all = vec![first];
    all.extend(&values);
    let distinct = distinct_increasing(&all, "aiocoap");
    // Every notification comes from a change; only the registration response can repeat
    // the value a notification carries (change between read and registration).
    assert!(
        distinct.len() >= COUNT,
        "aiocoap saw only {distinct:?} in {stdout:?}"
    );
    // The RST deregistered it: no observer left.
    ticker.abort();
    f.expect_no_observers("aiocoap").await;
    f.stop().await;
}
