//! `ace cmp-proxy serve`: the binary in front of an HTTP CMP server, driven by
//! `cmp_coap::CmpClient` over CoAP; stopped with SIGINT (ctrl-c).
//!
//! * Without external peers (part of `cargo test`): an in-process fake HTTP CMP server that
//!   answers the recorded `openssl cmp` ip (`crates/cmp-coap/tests/data`); upstream down →
//!   5.02, silent upstream → 5.04, configuration errors → exit 2, address in use → exit 3.
//! * OSCORE (`[cmp_proxy.oscore]`): an ir protected by `CmpClient` over ace-oscore's
//!   `OscoreClient` is relayed byte for byte, a plain CoAP client gets 4.01, and after
//!   kill -9 + restart the proxy's contexts continue after every Partial IV they sent
//!   (RFC 8613 Appendix B.1) and demand Echo before serving again (a replayed request from
//!   before the restart is not served).
//! * `#[ignore]`d interop (`cargo test -p ace-cli --test cmp_proxy_serve -- --ignored`): the
//!   real `openssl cmp -port … -srv_secret pass:1234` mock server as the upstream; it
//!   answers the recorded, PBM-protected ir live (recipNonce = our senderNonce) and the
//!   certificate passes `openssl verify`. A missing `openssl` fails the test, as in every
//!   interop test of the workspace.
//!
//! Loopback only; every wait is bounded and every child is killed on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ace_interop_peers as peers;
use cmp_coap::consts::{failure_info, status};
use cmp_coap::{BodyType, ClientConfig, CmpClient, Error, ResponseContent, classify};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const ACE: &str = env!("CARGO_BIN_EXE_ace");
const LIMIT: Duration = Duration::from_secs(20);
const HOW_TO_RUN: &str =
    "run `cargo xtask interop`, or `cargo test -p ace-cli --test cmp_proxy_serve -- --ignored`";

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cmp-coap/tests/data")
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(name)).unwrap()
}

/// An empty directory `ace-cmp-proxy-<tag><pid>` under the system's temporary directory.
fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ace-cmp-proxy-{tag}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `ace cmp-proxy serve` (killed on drop if still running).
struct Proxy {
    child: Child,
    addr: SocketAddr,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

/// Starts `ace cmp-proxy serve <args>` on a free loopback port and waits for its
/// "listening" line.
async fn start_proxy(args: &[&str]) -> Proxy {
    start_proxy_on(SocketAddr::from(([127, 0, 0, 1], free_udp_port())), args).await
}

/// Starts `ace cmp-proxy serve --listen <listen> <args>` and waits for its "listening" line.
async fn start_proxy_on(listen: SocketAddr, args: &[&str]) -> Proxy {
    let listen = listen.to_string();
    let mut child = Command::new(ACE)
        .args(["cmp-proxy", "serve", "--listen", &listen])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(LIMIT, stdout.next_line())
        .await
        .expect("no output from ace cmp-proxy serve within the limit")
        .unwrap()
        .unwrap_or_default();
    if !line.contains("listening") {
        let mut err = String::new();
        let mut stderr = child.stderr.take().unwrap();
        let _ = tokio::time::timeout(LIMIT, stderr.read_to_string(&mut err)).await;
        panic!("ace cmp-proxy serve did not start: {line:?} {err}");
    }
    assert!(
        line.contains(&format!("coap://{listen}/.well-known/cmp")),
        "{line}"
    );
    Proxy {
        child,
        addr: listen.parse().unwrap(),
        stdout,
    }
}

impl Proxy {
    /// kill -9: no shutdown code runs, only what the proxy persisted survives.
    async fn kill_9(mut self) {
        self.child.start_kill().unwrap();
        let status = tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .expect("the killed proxy did not exit")
            .unwrap();
        assert!(!status.success());
    }

    /// ctrl-c: SIGINT, then exit status 0 and the "stopped" line, within the limit.
    async fn interrupt_and_wait(mut self) {
        let pid = self.child.id().unwrap();
        // the shell's built-in `kill` (a `kill` binary is not on every machine)
        peers::run_ok(
            Path::new("/bin/sh"),
            &["-c", &format!("kill -INT {pid}")],
            LIMIT,
        )
        .await;
        let status = tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .expect("ace cmp-proxy serve did not stop within the limit after SIGINT")
            .unwrap();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = tokio::time::timeout(LIMIT, e.read_to_string(&mut err)).await;
        }
        assert!(status.success(), "exit {status}: {err}");
        let last = tokio::time::timeout(LIMIT, self.stdout.next_line())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(last.as_deref(), Some("CMP proxy stopped"), "{err}");
    }
}

async fn cmp_client(proxy: SocketAddr) -> CmpClient {
    let (coap, driver) =
        ace_coap::Client::bind("127.0.0.1:0".parse().unwrap(), ace_coap::Config::default())
            .await
            .unwrap();
    tokio::spawn(driver.run());
    CmpClient::new(
        coap,
        proxy,
        ClientConfig {
            request_timeout: LIMIT,
            ..ClientConfig::default()
        },
    )
}

/// A fake HTTP CMP server: reads one RFC 6712 POST per connection, records it, and answers
/// `response` after `delay` (`None`: accepts and stays silent).
async fn fake_upstream(
    response: Option<Vec<u8>>,
    delay: Duration,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let response = response.clone();
            let tx = tx.clone();
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
                let _ = tx.send(buf.clone());
                tokio::time::sleep(delay).await;
                let Some(response) = response else {
                    // silent: keep the connection open until the peer gives up
                    let _ = s.read(&mut chunk).await;
                    return;
                };
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
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_relays_an_ir_and_stops_on_ctrl_c() {
    let ir = data("ir.der");
    let ip = data("ir-rsp.der");
    let (upstream, mut seen) = fake_upstream(Some(ip.clone()), Duration::ZERO).await;
    // flags for the upstream; limits from a TOML file (flags win over the file)
    let dir = scratch_dir("");
    let cfg = dir.join("proxy.toml");
    std::fs::write(
        &cfg,
        "[cmp_proxy]\nupstream = \"http://127.0.0.1:1/unused\"\nmax_message_size = 4096\nmax_concurrent = 8\nupstream_timeout_secs = 5\nblock_size = 1024\n",
    )
    .unwrap();
    let url = format!("http://{upstream}/pkix/");
    let proxy = start_proxy(&[
        "--config",
        cfg.to_str().unwrap(),
        "--upstream",
        &url,
        "--no-map-suffix",
    ])
    .await;
    let client = cmp_client(proxy.addr).await;
    let rsp = tokio::time::timeout(LIMIT, client.send(ir.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rsp.code, ace_coap::Code::CHANGED);
    assert_eq!(rsp.der, ip, "the ip is relayed byte for byte");
    assert_eq!(rsp.info.body_type, BodyType::Ip);
    let req = classify(&ir).unwrap();
    assert_eq!(rsp.info.transaction_id, req.transaction_id);
    let ResponseContent::Certificates { responses, .. } = &rsp.content else {
        panic!("{:?}", rsp.content)
    };
    assert_eq!(responses[0].status.status, status::ACCEPTED);
    assert_eq!(
        responses[0].certificate.as_deref(),
        Some(&data("issued.der")[..])
    );
    // what the upstream got: the RFC 6712 POST to the configured path with the exact ir
    let http = tokio::time::timeout(LIMIT, seen.recv())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&http);
    assert!(text.starts_with("POST /pkix/ HTTP/1.1\r\n"), "{text}");
    assert!(
        text.contains(&format!("\r\nHost: {upstream}\r\n")),
        "{text}"
    );
    assert!(http.ends_with(&ir));
    // the file's max_message_size (4096) applies: a larger body gets 4.13 with Size1
    // (before any DER check, so a raw CoAP client with filler bytes shows it)
    let (coap, driver) =
        ace_coap::Client::bind("127.0.0.1:0".parse().unwrap(), ace_coap::Config::default())
            .await
            .unwrap();
    tokio::spawn(driver.run());
    let big = ace_coap::Message::request(ace_coap::Code::POST, "/.well-known/cmp")
        .with_payload(vec![0x30; 5000])
        .with_content_format(cmp_coap::consts::content_format::PKIXCMP);
    let rsp = tokio::time::timeout(LIMIT, coap.request(proxy.addr, big, true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rsp.code, ace_coap::Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(
        rsp.options
            .get_uint(ace_coap::consts::option::SIZE1)
            .unwrap(),
        Some(4096)
    );
    assert!(
        seen.try_recv().is_err(),
        "nothing more reached the upstream"
    );
    proxy.interrupt_and_wait().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_5_02_and_silent_upstream_is_5_04() {
    let ir = data("ir.der");
    // nothing listens on this port: connection refused → 5.02 Bad Gateway
    let dead = free_tcp_port();
    let url = format!("http://127.0.0.1:{dead}/pkix/");
    let proxy = start_proxy(&["--upstream", &url]).await;
    let client = cmp_client(proxy.addr).await;
    let err = tokio::time::timeout(LIMIT, client.send(ir.clone()))
        .await
        .unwrap()
        .unwrap_err();
    let Error::CoapStatus { code, diagnostic } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, ace_coap::Code::new(5, 2), "{diagnostic}");
    assert!(diagnostic.contains("upstream unreachable"), "{diagnostic}");
    assert_eq!(err.failure_info(), failure_info::SYSTEM_UNAVAIL);
    proxy.interrupt_and_wait().await;

    // an upstream that accepts but never answers: 5.04 Gateway Timeout after 1 s
    let (silent, _seen) = fake_upstream(None, Duration::ZERO).await;
    let url = format!("http://{silent}/");
    let proxy = start_proxy(&["--upstream", &url, "--upstream-timeout-secs", "1"]).await;
    let client = cmp_client(proxy.addr).await;
    let t0 = std::time::Instant::now();
    let err = tokio::time::timeout(LIMIT, client.send(ir))
        .await
        .unwrap()
        .unwrap_err();
    let Error::CoapStatus { code, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, ace_coap::Code::GATEWAY_TIMEOUT);
    assert_eq!(err.failure_info(), failure_info::SYSTEM_UNAVAIL);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    proxy.interrupt_and_wait().await;
}

/// Runs `ace cmp-proxy serve <args>` expecting it to exit by itself.
async fn ace_fails(args: &[&str]) -> (Option<i32>, String) {
    let out = peers::run_peer(
        Path::new(ACE),
        &[&["cmp-proxy", "serve"][..], args].concat(),
        LIMIT,
    )
    .await;
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_exit_2_and_address_in_use_is_exit_3() {
    let (code, err) = ace_fails(&[]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no upstream"), "{err}");
    let (code, err) = ace_fails(&["--upstream", "https://127.0.0.1/"]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("http://"), "{err}");
    let (code, err) =
        ace_fails(&["--upstream", "http://127.0.0.1:1/", "--block-size", "100"]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("block_size"), "{err}");
    let dir = scratch_dir("bad-");
    let cfg = dir.join("bad.toml");
    std::fs::write(
        &cfg,
        "[cmp_proxy]\nupstream = \"http://127.0.0.1:1/\"\nmax_concurency = 3\n",
    )
    .unwrap();
    let (code, err) = ace_fails(&["-c", cfg.to_str().unwrap()]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("max_concurency") && err.contains("bad.toml:3"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let (code, err) = ace_fails(&["--listen", &listen, "--upstream", "http://127.0.0.1:1/"]).await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("already in use"), "{err}");
}

/// `openssl cmp -port …`: the mock HTTP CMP server (OpenSSL 3.0 accepts only the paths ""
/// and "pkix/"). It binds `[::]`; we only ever talk to 127.0.0.1.
async fn start_openssl_mock(openssl: &Path, dir: &Path, port: u16) -> Child {
    let child = Command::new(openssl)
        .args([
            "cmp",
            "-port",
            &port.to_string(),
            "-srv_secret",
            "pass:1234",
        ])
        .args(["-srv_ref", "mocksrv", "-max_msgs", "20"])
        .arg("-rsp_cert")
        .arg(dir.join("issued.crt"))
        .arg("-rsp_capubs")
        .arg(dir.join("ca.crt"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tokio::time::timeout(LIMIT, async {
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the openssl mock server did not start");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs openssl: run `cargo xtask interop`"]
async fn openssl_mock_server_behind_ace_cmp_proxy_serve() {
    let openssl = peers::on_path("openssl", "Debian `openssl`", HOW_TO_RUN);
    let dir = data_dir();
    let port = free_tcp_port();
    let _mock = start_openssl_mock(&openssl, &dir, port).await;
    let url = format!("http://127.0.0.1:{port}/pkix/");
    let proxy = start_proxy(&["--upstream", &url, "--no-map-suffix", "--block-size", "64"]).await;
    let client = cmp_client(proxy.addr).await;
    let ir = data("ir.der");
    let req = classify(&ir).unwrap();
    let rsp = tokio::time::timeout(LIMIT, client.send(ir))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rsp.code, ace_coap::Code::CHANGED);
    assert_eq!(rsp.info.body_type, BodyType::Ip);
    assert!(rsp.info.protected, "the mock server protects its answer");
    assert_eq!(rsp.info.transaction_id, req.transaction_id);
    // a live answer to *this* request: its recipNonce is the ir's senderNonce
    assert_eq!(rsp.info.recip_nonce, req.sender_nonce);
    let ResponseContent::Certificates { responses, .. } = &rsp.content else {
        panic!("{:?}", rsp.content)
    };
    assert_eq!(responses[0].status.status, status::ACCEPTED);
    let cert = responses[0].certificate.clone().unwrap();
    let tmp = scratch_dir("openssl-");
    let der = tmp.join("issued.der");
    std::fs::write(&der, &cert).unwrap();
    let ca = dir.join("ca.crt");
    let pem = tmp.join("issued.pem");
    peers::run_ok(
        &openssl,
        &[
            "x509".as_ref(),
            "-inform".as_ref(),
            "DER".as_ref(),
            "-in".as_ref(),
            der.as_os_str(),
            "-out".as_ref(),
            pem.as_os_str(),
        ],
        LIMIT,
    )
    .await;
    let out = peers::run_ok(
        &openssl,
        &[
            "verify".as_ref(),
            "-CAfile".as_ref(),
            ca.as_os_str(),
            pem.as_os_str(),
        ],
        LIMIT,
    )
    .await;
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .ends_with(": OK")
    );
    proxy.interrupt_and_wait().await;
    let _ = std::fs::remove_dir_all(&tmp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_lets_the_exchange_in_flight_finish() {
    let ip = data("ir-rsp.der");
    let (upstream, mut seen) = fake_upstream(Some(ip.clone()), Duration::from_millis(700)).await;
    let url = format!("http://{upstream}/");
    let proxy = start_proxy(&["--upstream", &url]).await;
    let client = cmp_client(proxy.addr).await;
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { client.send(data("ir.der")).await }
    });
    // the ir reached the upstream, which answers 0.7 s later: stop the proxy now
    tokio::time::timeout(LIMIT, seen.recv())
        .await
        .unwrap()
        .unwrap();
    let t0 = std::time::Instant::now();
    proxy.interrupt_and_wait().await;
    let rsp = tokio::time::timeout(LIMIT, in_flight)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        rsp.der, ip,
        "the exchange in flight got its answer before the stop"
    );
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
}

/// A symmetric COSE_Key file (`ace keys generate --kind symmetric` writes the same form).
fn write_symmetric_key(path: &Path, k: &[u8]) {
    use coset::CborSerializable;
    let key = coset::CoseKeyBuilder::new_symmetric_key(k.to_vec()).build();
    std::fs::write(path, key.to_vec().unwrap()).unwrap();
}

/// `Sender ID → Recipient ID` context with `secret` (no salt, no ID Context, as the proxy's).
fn oscore_context(
    secret: &[u8],
    sender: &[u8],
    recipient: &[u8],
) -> ace_oscore::SecurityContext<ace_token::RustCrypto> {
    ace_oscore::SecurityContext::new(
        ace_token::RustCrypto,
        ace_oscore::ContextParams::new(secret, b"", sender, recipient),
    )
    .unwrap()
}

/// One OSCORE-protected GET of `/.well-known/cmp` made with `ctx`, as sent on the wire.
fn protected_probe(
    ctx: &mut ace_oscore::SecurityContext<ace_token::RustCrypto>,
) -> (ace_coap::Message, ace_oscore::ProtectedRequest) {
    let inner = ace_oscore::Message::new(0x01)
        .with_option(
            ace_oscore::consts::option::URI_PATH,
            b".well-known".to_vec(),
        )
        .with_option(ace_oscore::consts::option::URI_PATH, b"cmp".to_vec());
    let sent = ctx.protect_request(&inner).unwrap();
    (ace_oscore::coap::to_coap(sent.message.clone()), sent)
}

/// Sends `request` as it is and returns the answer's outer message.
async fn raw_exchange(
    coap: &ace_coap::Client,
    peer: SocketAddr,
    request: ace_coap::Message,
) -> ace_oscore::Message {
    let rsp = tokio::time::timeout(LIMIT, coap.request(peer, request, true))
        .await
        .unwrap()
        .unwrap();
    ace_oscore::coap::from_coap(&rsp)
}

/// The server's Partial IV in an outer response (present when it used its own sequence
/// number, e.g. for an Echo challenge).
fn server_piv(outer: &ace_oscore::Message) -> Option<u64> {
    let opt = outer.option(ace_oscore::consts::option::OSCORE)?;
    ace_oscore::OscoreOption::decode(opt)
        .unwrap()
        .partial_iv_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oscore_protected_ir_plain_refused_and_no_sequence_reuse_after_kill_9() {
    let ir = data("ir.der");
    let ip = data("ir-rsp.der");
    let (upstream, mut seen) = fake_upstream(Some(ip.clone()), Duration::ZERO).await;
    let dir = scratch_dir("oscore-");
    let (ee_secret, probe_secret) = ([0x11u8; 16], [0x22u8; 32]);
    write_symmetric_key(&dir.join("ee.key"), &ee_secret);
    write_symmetric_key(&dir.join("probe.key"), &probe_secret);
    let cfg = dir.join("proxy.toml");
    std::fs::write(
        &cfg,
        format!(
            "[cmp_proxy]\nupstream = \"http://{upstream}/pkix/\"\nmap_path_suffix = false\n\n\
             [cmp_proxy.oscore]\nsequence_db = \"proxy.sqlite\"\n\n\
             [[cmp_proxy.oscore.peers]]\nsender_id = \"ee\"\nrecipient_id = \"proxy\"\nsecret_file = \"ee.key\"\n\n\
             [[cmp_proxy.oscore.peers]]\nsender_id = \"probe\"\nrecipient_id = \"proxy\"\nsecret_file = \"probe.key\"\n"
        ),
    )
    .unwrap();
    let cfg_arg = cfg.to_str().unwrap();
    let listen = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let proxy = start_proxy_on(listen, &["--config", cfg_arg]).await;

    // The EE: CmpClient over ace-oscore's OscoreClient (Sender ID "ee"); the same client
    // (and its sequence numbers) is used across the proxy's restarts.
    let (coap, driver) =
        ace_coap::Client::bind("127.0.0.1:0".parse().unwrap(), ace_coap::Config::default())
            .await
            .unwrap();
    tokio::spawn(driver.run());
    let ee = CmpClient::new(
        ace_oscore::coap::OscoreClient::new(
            coap.clone(),
            oscore_context(&ee_secret, b"ee", b"proxy"),
            ace_oscore::MemorySequenceStore::default(),
        ),
        listen,
        ClientConfig {
            request_timeout: LIMIT,
            ..ClientConfig::default()
        },
    );
    let rsp = tokio::time::timeout(LIMIT, ee.send(ir.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rsp.code, ace_coap::Code::CHANGED);
    assert_eq!(rsp.der, ip, "the ip is relayed byte for byte");
    let http = tokio::time::timeout(LIMIT, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(http.ends_with(&ir), "the upstream got the exact ir");

    // Plain CoAP: refused by the OSCORE layer with 4.01; nothing reaches the upstream.
    let plain = cmp_client(listen).await;
    let err = tokio::time::timeout(LIMIT, plain.send(ir.clone()))
        .await
        .unwrap()
        .unwrap_err();
    let Error::CoapStatus { code, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, ace_coap::Code::UNAUTHORIZED);

    // A request of the probe peer accepted now (fresh context: no Echo needed); kept to be
    // replayed after the restart.
    let mut probe = oscore_context(&probe_secret, b"probe", b"proxy");
    let (old_request, sent) = protected_probe(&mut probe);
    let outer = raw_exchange(&coap, listen, old_request.clone()).await;
    let mut binding = sent.binding;
    let inner = probe.unprotect_response(&mut binding, &outer).unwrap();
    assert_eq!(
        inner.code, 0x85,
        "GET on the CMP resource: 4.05, verified and answered"
    );
    assert_eq!(
        server_piv(&outer),
        None,
        "the answer reuses the request's nonce"
    );

    // Every Partial IV the proxy's probe context sends, over all runs.
    let mut used = std::collections::BTreeSet::new();
    let mut proxy = proxy;
    for run in 1..=3 {
        proxy.kill_9().await;
        proxy = start_proxy_on(listen, &["--config", cfg_arg]).await;
        if run == 1 {
            // The replayed request from before the kill is not served: the restored
            // context asks for Echo first (RFC 8613 B.1.2).
            let outer = raw_exchange(&coap, listen, old_request.clone()).await;
            let piv = server_piv(&outer).expect("an Echo challenge under the proxy's own PIV");
            assert!(used.insert(piv), "run {run}: Partial IV {piv} reused");
        }
        // Two new probe requests: each is answered with an Echo challenge protected under a
        // fresh Partial IV of the proxy's context, above every one sent before the kill.
        for _ in 0..2 {
            let (request, sent) = protected_probe(&mut probe);
            let outer = raw_exchange(&coap, listen, request).await;
            let piv = server_piv(&outer).expect("the proxy's own Partial IV");
            assert!(
                used.iter().all(|&p| p < piv),
                "run {run}: Partial IV {piv} not above {used:?}"
            );
            assert!(used.insert(piv));
            let mut binding = sent.binding;
            let inner = probe.unprotect_response(&mut binding, &outer).unwrap();
            assert_eq!(inner.code, 0x81, "4.01");
            assert!(inner.option(ace_oscore::consts::option::ECHO).is_some());
        }
        // The EE's OscoreClient answers the Echo challenge by itself: the ir goes through.
        let rsp = tokio::time::timeout(LIMIT, ee.send(ir.clone()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rsp.der, ip, "run {run}");
        let http = tokio::time::timeout(LIMIT, seen.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(http.ends_with(&ir));
    }
    assert_eq!(used.len(), 7);
    assert!(
        seen.try_recv().is_err(),
        "only the EE's irs reached the upstream"
    );
    proxy.interrupt_and_wait().await;
    // The records in the file are above everything the contexts sent.
    let db = ace_store::SqliteStore::open(&dir.join("proxy.sqlite")).unwrap();
    let probe_record = db
        .sequence_store()
        .get_context(b"proxy", b"probe", None)
        .unwrap()
        .unwrap();
    assert!(used.iter().all(|&p| p < probe_record), "{probe_record}");
    assert!(
        db.sequence_store()
            .get_context(b"proxy", b"ee", None)
            .unwrap()
            .is_some()
    );
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}
