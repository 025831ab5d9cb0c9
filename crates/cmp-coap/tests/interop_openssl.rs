//! Interop with OpenSSL's `openssl cmp` (3.0) as the HTTP CMP server behind our
//! CoAP-to-HTTP proxy, and with libcoap's `coap-client-notls` as a second CoAP client.
//!
//! What is real: the requests are made by `openssl cmp` (client side, `-use_mock_srv
//! -reqout`, PBM-protected with the secret `1234`); the upstream is a separate `openssl
//! cmp -port` mock server process that checks their protection and answers; our CoAP client
//! (and libcoap) carry the bytes through our proxy; certificates from the answers are
//! checked with `openssl verify`. certConf is not replayed: the mock server ties the
//! transaction to one HTTP connection and checks recipNonce against its own live ip
//! (see the README). Loopback only; every external call is bounded.
//!
//! Run with `cargo xtask interop`, or
//! `cargo test -p cmp-coap --test interop_openssl -- --ignored --test-threads=1`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cmp_coap::consts::status;
use cmp_coap::proxy::{self, ProxyConfig};
use cmp_coap::{BodyType, ClientConfig, CmpClient, ResponseContent, classify, inspect_response};

const LIMIT: Duration = Duration::from_secs(30);
const SECRET: &str = "pass:1234";

fn require(bin: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{bin}` is not on PATH: install it (openssl, libcoap3-bin); interop tests fail rather than skip"
    );
}

/// Runs a command to completion within `limit`, killing it otherwise.
fn run(cwd: &Path, bin: &str, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{bin} {args:?} did not finish within {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_ok(cwd: &Path, bin: &str, args: &[&str]) -> Output {
    let out = run(cwd, bin, args, LIMIT);
    assert!(
        out.status.success(),
        "{bin} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Kills the child on drop (the mock server may hang on bad input).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!("cmp-coap-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// CA, EE key, EE certificate (the mock server's `-rsp_cert`), CSR.
fn make_pki(dir: &Path) {
    let o = "openssl";
    run_ok(
        dir,
        o,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=Interop Test CA",
            "-days",
            "2",
        ],
    );
    run_ok(
        dir,
        o,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ee.key",
            "-out",
            "ee.csr",
            "-subj",
            "/CN=ee",
        ],
    );
    run_ok(
        dir,
        o,
        &[
            "x509",
            "-req",
            "-in",
            "ee.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "issued.crt",
            "-days",
            "2",
        ],
    );
}

/// `openssl cmp` client against its in-process mock server, saving the first request.
fn make_request(dir: &Path, cmd: &str, out: &str) {
    let mut args = vec![
        "cmp",
        "-cmd",
        cmd,
        "-use_mock_srv",
        "-srv_secret",
        SECRET,
        "-srv_ref",
        "mocksrv",
        "-rsp_cert",
        "issued.crt",
        "-rsp_capubs",
        "ca.crt",
        "-ref",
        "mocksrv",
        "-secret",
        SECRET,
        "-msg_timeout",
        "10",
        "-total_timeout",
        "20",
        "-reqout",
        out,
    ];
    match cmd {
        "ir" | "cr" => args.extend([
            "-newkey", "ee.key", "-subject", "/CN=ee", "-certout", "x.crt",
        ]),
        "kur" => args.extend([
            "-newkey",
            "ee.key",
            "-oldcert",
            "issued.crt",
            "-certout",
            "x.crt",
        ]),
        "p10cr" => args.extend(["-csr", "ee.csr", "-certout", "x.crt"]),
        "rr" => args.extend(["-oldcert", "issued.crt", "-revreason", "0"]),
        "genm" => args.extend(["-infotype", "signKeyPairTypes"]),
        _ => unreachable!(),
    }
    run_ok(dir, "openssl", &args);
    assert!(dir.join(out).is_file(), "{out} written");
}

fn start_mock_server(dir: &Path, port: u16, extra: &[&str]) -> Guard {
    let port_s = port.to_string();
    let mut args = vec![
        "cmp",
        "-port",
        &port_s,
        "-srv_secret",
        SECRET,
        "-srv_ref",
        "mocksrv",
        "-rsp_cert",
        "issued.crt",
        "-rsp_capubs",
        "ca.crt",
        "-max_msgs",
        "50",
    ];
    args.extend_from_slice(extra);
    let child = Command::new("openssl")
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("mock-{port}.log"))).unwrap())
        .spawn()
        .unwrap();
    let guard = Guard(child);
    // The mock server binds [::]; we only ever talk to 127.0.0.1 (deps.md §5.2).
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let t0 = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "mock server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    guard
}

async fn start_proxy(upstream_port: u16) -> SocketAddr {
    let config = ProxyConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: SocketAddr::from(([127, 0, 0, 1], upstream_port)),
        // the openssl 3.0 mock server accepts only "" and "pkix/" (verified: 404 otherwise)
        upstream_path: "/pkix/".into(),
        map_path_suffix: false,
        upstream_timeout: Duration::from_secs(10),
        ..ProxyConfig::default()
    };
    let server = proxy::bind(config).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    addr
}

async fn cmp_client(proxy: SocketAddr) -> CmpClient {
    let (coap, driver) = ace_coap::Client::bind(
        "127.0.0.1:0".parse().unwrap(),
        ace_coap::Config {
            block_szx: 2, // 64-byte blocks: every request and response goes block-wise
            ..ace_coap::Config::default()
        },
    )
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

/// Writes `der` as a certificate file and runs `openssl verify -CAfile ca.crt` on it.
fn openssl_verify(dir: &Path, name: &str, der: &[u8]) {
    std::fs::write(dir.join(format!("{name}.der")), der).unwrap();
    let pem = format!("{name}.pem");
    run_ok(
        dir,
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            &format!("{name}.der"),
            "-out",
            &pem,
        ],
    );
    let out = run_ok(dir, "openssl", &["verify", "-CAfile", "ca.crt", &pem]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{pem}: OK")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs openssl and libcoap: run `cargo xtask interop`"]
async fn openssl_mock_server_behind_proxy_ir_cr_kur_p10cr_rr_genm() {
    require("openssl");
    let dir = temp_dir("openssl");
    make_pki(&dir);
    let port = free_tcp_port();
    let _mock = start_mock_server(&dir, port, &[]);
    let proxy = start_proxy(port).await;
    let client = cmp_client(proxy).await;

    let cases = [
        ("ir", BodyType::Ir, BodyType::Ip),
        ("cr", BodyType::Cr, BodyType::Cp),
        ("kur", BodyType::Kur, BodyType::Kup),
        ("p10cr", BodyType::P10cr, BodyType::Cp),
        ("rr", BodyType::Rr, BodyType::Rp),
        ("genm", BodyType::Genm, BodyType::Genp),
    ];
    for (cmd, req_type, rsp_type) in cases {
        let file = format!("{cmd}.der");
        make_request(&dir, cmd, &file);
        let request = std::fs::read(dir.join(&file)).unwrap();
        let req_info = classify(&request).unwrap();
        assert_eq!(req_info.body_type, req_type, "{cmd}: classifier");
        let rsp = tokio::time::timeout(LIMIT, client.send(request))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        assert_eq!(rsp.code, ace_coap::Code::CHANGED);
        assert_eq!(rsp.info.body_type, rsp_type, "{cmd}: {:?}", rsp.content);
        assert!(
            rsp.info.protected,
            "{cmd}: the mock server protects its answers"
        );
        assert_eq!(rsp.info.transaction_id, req_info.transaction_id, "{cmd}");
        // the live server answered *this* request: its recipNonce is our senderNonce
        assert_eq!(rsp.info.recip_nonce, req_info.sender_nonce, "{cmd}");
        match &rsp.content {
            ResponseContent::Certificates { responses, ca_pubs } => {
                assert_eq!(responses.len(), 1);
                assert_eq!(responses[0].status.status, status::ACCEPTED, "{cmd}");
                let cert = responses[0].certificate.as_ref().expect("certificate");
                openssl_verify(&dir, &format!("{cmd}-issued"), cert);
                if rsp_type == BodyType::Ip {
                    assert_eq!(ca_pubs.len(), 1, "-rsp_capubs");
                }
            }
            ResponseContent::Revocation(statuses) => {
                assert_eq!(statuses.len(), 1);
                assert_eq!(statuses[0].status, status::ACCEPTED);
            }
            ResponseContent::Genp(n) => assert!(*n >= 1),
            other => panic!("{cmd}: {other:?}"),
        }
    }

    // The mock server with -send_error: a CMP error is a successful transfer (2.04 + error).
    let port2 = free_tcp_port();
    let _mock2 = start_mock_server(&dir, port2, &["-send_error"]);
    let proxy2 = start_proxy(port2).await;
    let client2 = cmp_client(proxy2).await;
    let ir = std::fs::read(dir.join("ir.der")).unwrap();
    let rsp = tokio::time::timeout(LIMIT, client2.send(ir))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rsp.code, ace_coap::Code::CHANGED);
    let ResponseContent::Error { status: s, .. } = &rsp.content else {
        panic!("{:?}", rsp.content)
    };
    assert_eq!(s.status, status::REJECTION);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs openssl and libcoap: run `cargo xtask interop`"]
async fn libcoap_posts_openssl_ir_through_proxy() {
    require("openssl");
    require("coap-client-notls");
    let dir = temp_dir("libcoap");
    make_pki(&dir);
    make_request(&dir, "ir", "ir.der");
    let port = free_tcp_port();
    let _mock = start_mock_server(&dir, port, &[]);
    let proxy = start_proxy(port).await;
    let uri = format!("coap://127.0.0.1:{}/.well-known/cmp", proxy.port());
    let dir2 = dir.clone();
    // -b 64: Block1 for the ~400-byte ir, Block2 for the ~900-byte ip; -B bounds libcoap.
    let out = tokio::task::spawn_blocking(move || {
        run(
            &dir2,
            "coap-client-notls",
            &[
                "-m", "post", "-t", "259", "-b", "64", "-f", "ir.der", "-o", "ip.der", "-B", "20",
                &uri,
            ],
            LIMIT,
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ip = std::fs::read(dir.join("ip.der")).unwrap();
    let ir = classify(&std::fs::read(dir.join("ir.der")).unwrap()).unwrap();
    let (info, content) = inspect_response(&ip).unwrap();
    assert_eq!(info.body_type, BodyType::Ip);
    assert_eq!(info.transaction_id, ir.transaction_id);
    assert_eq!(info.recip_nonce, ir.sender_nonce);
    let ResponseContent::Certificates { responses, .. } = content else {
        panic!()
    };
    openssl_verify(
        &dir,
        "libcoap-issued",
        responses[0].certificate.as_ref().unwrap(),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
