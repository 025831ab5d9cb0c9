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
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use ace_interop_peers as peers;
use cmp_coap::consts::status;
use cmp_coap::proxy::{self, ProxyConfig};
use cmp_coap::{BodyType, ClientConfig, CmpClient, ResponseContent, classify, inspect_response};
use tokio::process::{Child, Command};

const LIMIT: Duration = Duration::from_secs(30);
const SECRET: &str = "pass:1234";
const HOW_TO_RUN: &str = "run `cargo xtask interop`, or \
    `cargo test -p cmp-coap --test interop_openssl -- --ignored --test-threads=1`";

fn openssl() -> PathBuf {
    peers::on_path("openssl", "Debian `openssl`", HOW_TO_RUN)
}

/// `dir/name` as an argument (the peers run without a working directory of their own).
fn at(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

/// `openssl <args>`, bounded by [`LIMIT`], exit status 0 required.
async fn openssl_ok(args: &[String]) -> Output {
    peers::run_ok(&openssl(), args, LIMIT).await
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
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
async fn make_pki(dir: &Path) {
    let f = |n: &str| at(dir, n);
    let mut ca = strings(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ]);
    ca.extend(["-keyout".into(), f("ca.key"), "-out".into(), f("ca.crt")]);
    ca.extend(strings(&["-subj", "/CN=Interop Test CA", "-days", "2"]));
    openssl_ok(&ca).await;
    let mut ee = strings(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ]);
    ee.extend(["-keyout".into(), f("ee.key"), "-out".into(), f("ee.csr")]);
    ee.extend(strings(&["-subj", "/CN=ee"]));
    openssl_ok(&ee).await;
    let mut x = strings(&["x509", "-req", "-in"]);
    x.extend([
        f("ee.csr"),
        "-CA".into(),
        f("ca.crt"),
        "-CAkey".into(),
        f("ca.key"),
    ]);
    x.extend(["-CAcreateserial".into(), "-out".into(), f("issued.crt")]);
    x.extend(strings(&["-days", "2"]));
    openssl_ok(&x).await;
}

/// `openssl cmp` client against its in-process mock server, saving the first request.
async fn make_request(dir: &Path, cmd: &str, out: &str) {
    let f = |n: &str| at(dir, n);
    let mut args = strings(&[
        "cmp",
        "-cmd",
        cmd,
        "-use_mock_srv",
        "-srv_secret",
        SECRET,
        "-srv_ref",
        "mocksrv",
    ]);
    args.extend([
        "-rsp_cert".into(),
        f("issued.crt"),
        "-rsp_capubs".into(),
        f("ca.crt"),
    ]);
    args.extend(strings(&[
        "-ref",
        "mocksrv",
        "-secret",
        SECRET,
        "-msg_timeout",
        "10",
        "-total_timeout",
        "20",
    ]));
    args.extend(["-reqout".into(), f(out)]);
    match cmd {
        "ir" | "cr" => args.extend([
            "-newkey".into(),
            f("ee.key"),
            "-subject".into(),
            "/CN=ee".into(),
            "-certout".into(),
            f("x.crt"),
        ]),
        "kur" => args.extend([
            "-newkey".into(),
            f("ee.key"),
            "-oldcert".into(),
            f("issued.crt"),
            "-certout".into(),
            f("x.crt"),
        ]),
        "p10cr" => args.extend(["-csr".into(), f("ee.csr"), "-certout".into(), f("x.crt")]),
        "rr" => args.extend([
            "-oldcert".into(),
            f("issued.crt"),
            "-revreason".into(),
            "0".into(),
        ]),
        "genm" => args.extend(strings(&["-infotype", "signKeyPairTypes"])),
        _ => unreachable!(),
    }
    openssl_ok(&args).await;
    assert!(dir.join(out).is_file(), "{out} written");
}

/// The `openssl cmp -port` mock HTTP CMP server (killed on drop: it may hang on bad input).
fn start_mock_server(dir: &Path, port: u16, extra: &[&str]) -> Child {
    let child = Command::new(openssl())
        .args([
            "cmp",
            "-port",
            &port.to_string(),
            "-srv_secret",
            SECRET,
            "-srv_ref",
            "mocksrv",
        ])
        .arg("-rsp_cert")
        .arg(dir.join("issued.crt"))
        .arg("-rsp_capubs")
        .arg(dir.join("ca.crt"))
        .args(["-max_msgs", "50"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("mock-{port}.log"))).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
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
    child
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
async fn openssl_verify(dir: &Path, name: &str, der: &[u8]) {
    let der_file = at(dir, &format!("{name}.der"));
    std::fs::write(&der_file, der).unwrap();
    let pem = at(dir, &format!("{name}.pem"));
    openssl_ok(&[
        "x509".into(),
        "-inform".into(),
        "DER".into(),
        "-in".into(),
        der_file,
        "-out".into(),
        pem.clone(),
    ])
    .await;
    let out = openssl_ok(&[
        "verify".into(),
        "-CAfile".into(),
        at(dir, "ca.crt"),
        pem.clone(),
    ])
    .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{pem}: OK")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs openssl and libcoap: run `cargo xtask interop`"]
async fn openssl_mock_server_behind_proxy_ir_cr_kur_p10cr_rr_genm() {
    let dir = temp_dir("openssl");
    make_pki(&dir).await;
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
        make_request(&dir, cmd, &file).await;
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
                openssl_verify(&dir, &format!("{cmd}-issued"), cert).await;
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
    let coap_client = peers::libcoap_client(HOW_TO_RUN);
    let dir = temp_dir("libcoap");
    make_pki(&dir).await;
    make_request(&dir, "ir", "ir.der").await;
    let port = free_tcp_port();
    let _mock = start_mock_server(&dir, port, &[]);
    let proxy = start_proxy(port).await;
    let uri = format!("coap://127.0.0.1:{}/.well-known/cmp", proxy.port());
    // -b 64: Block1 for the ~400-byte ir, Block2 for the ~900-byte ip; -B bounds libcoap.
    let mut args = strings(&["-m", "post", "-t", "259", "-b", "64", "-f"]);
    args.extend([at(&dir, "ir.der"), "-o".into(), at(&dir, "ip.der")]);
    args.extend(["-B".into(), "20".into(), uri]);
    peers::run_ok(&coap_client, &args, LIMIT).await;
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
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}
