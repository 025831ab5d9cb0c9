//! `bench_vs_http`: fresh `ir` transactions against a **real** HTTP CMP server (OpenSSL
//! 3.x's mock CA, `openssl cmp -port …`, a separate process), sent directly over HTTP and
//! through our CoAP-to-HTTP proxy, interleaved in the same run. Run it with
//! `cargo xtask bench-cmp` (a release build with a progress bar), or directly:
//!
//! ```sh
//! cargo run --release -p cmp-coap --example bench_vs_http -- --n 200
//! ```
//!
//! Options: `--n N` (transactions per path, default 200, 1..=5000), `--warmup N` (per path,
//! not counted, default 10), `--openssl PATH` (default: `openssl` on `PATH`),
//! `--deadline-secs N` (the whole run, default 600), `--progress` (machine-readable
//! `progress <phase> <done> <total>` lines on stdout, for `cargo xtask bench-cmp`).
//!
//! What it does (loopback only; every external process is bounded and killed on exit):
//!
//! 1. openssl makes a CA, an EE key and `issued.crt` (the mock server's `-rsp_cert`).
//! 2. `2 × (N + warmup)` PBM-protected irs are pre-generated, each by its own
//!    `openssl cmp -cmd ir -use_mock_srv … -secret pass:1234 -reqout ir-<i>.der` run: every ir
//!    is a new transaction (fresh transactionID and senderNonce; both checked distinct).
//! 3. One `openssl cmp -port <free> -srv_secret pass:1234 -srv_ref mocksrv -rsp_cert
//!    issued.crt -rsp_capubs ca.crt` process is the HTTP CMP server for both paths.
//! 4. `direct`: the ir is classified, posted with the proxy's own HTTP/1.1 client
//!    (`proxy::build_http_request` + `proxy::forward`: one TCP connection per exchange,
//!    TCP_NODELAY) to `/pkix/`, and the answer inspected (`inspect_response`) — the checks
//!    `CmpClient::send` does on the CoAP path. `via_proxy`: `CmpClient` (plain CoAP, SZX 6,
//!    piggybacked response) → our proxy (in this process, `proxy::bind`) → the same mock
//!    server. Pairs alternate the order (direct first, then proxy first).
//! 5. Each answer must be an `ip` with the ir's transactionID, recipNonce = the ir's
//!    senderNonce (a live answer to this ir) and status accepted; anything else (an `error`
//!    PKIMessage, a CoAP/HTTP error, a timeout) is counted as an error and not timed.
//!
//! Output: median, p90, mean per path and the ratios `via_proxy / direct`, and a last line
//! `result …` with the same numbers as `key=value` pairs.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use cmp_coap::consts::status;
use cmp_coap::proxy::{self, ProxyConfig};
use cmp_coap::{
    BodyType, ClientConfig, CmpClient, CmpPath, CmpRequest, MessageInfo, ResponseContent, classify,
    inspect_response,
};
use tokio::process::{Child, Command};

/// The PBM secret shared by the EE (request generation) and the mock server.
const SECRET: &str = "pass:1234";
/// Bound on one openssl run (key generation, one ir generation).
const OPENSSL_LIMIT: Duration = Duration::from_secs(30);
/// Bound on one timed exchange (an exchange over it counts as an error).
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

struct Options {
    n: usize,
    warmup: usize,
    openssl: PathBuf,
    deadline: Duration,
    progress: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        n: 200,
        warmup: 10,
        openssl: PathBuf::from("openssl"),
        deadline: Duration::from_secs(600),
        progress: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--n" => {
                o.n = value()?.parse().map_err(|e| format!("--n: {e}"))?;
                if !(1..=5000).contains(&o.n) {
                    return Err("--n must be 1..=5000".into());
                }
            }
            "--warmup" => {
                o.warmup = value()?.parse().map_err(|e| format!("--warmup: {e}"))?;
                if o.warmup > 1000 {
                    return Err("--warmup must be 0..=1000".into());
                }
            }
            "--openssl" => o.openssl = PathBuf::from(value()?),
            "--deadline-secs" => {
                let s: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--deadline-secs: {e}"))?;
                if s == 0 {
                    return Err("--deadline-secs must be at least 1".into());
                }
                o.deadline = Duration::from_secs(s);
            }
            "--progress" => o.progress = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p =
            std::env::temp_dir().join(format!("cmp-bench-vs-http-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
        Ok(Self(p))
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `openssl <args>`, bounded by [`OPENSSL_LIMIT`] (killed after it), exit status 0 required.
async fn openssl(bin: &Path, args: &[String]) -> Result<(), String> {
    let child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let out = tokio::time::timeout(OPENSSL_LIMIT, child.wait_with_output())
        .await
        .map_err(|_| format!("openssl {} timed out", args.join(" ")))?
        .map_err(|e| format!("openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl {} failed ({}): {}",
            args.first().map_or("", String::as_str),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// CA, EE key and the EE certificate the mock server returns (`-rsp_cert`).
async fn make_pki(bin: &Path, dir: &TempDir) -> Result<(), String> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = strings(&["req", "-x509"]);
    ca.extend(strings(&ec));
    ca.extend(["-keyout".into(), dir.file("ca.key")]);
    ca.extend(["-out".into(), dir.file("ca.crt")]);
    ca.extend(strings(&["-subj", "/CN=bench CA", "-days", "2"]));
    openssl(bin, &ca).await?;
    let mut ee = strings(&["req"]);
    ee.extend(strings(&ec));
    ee.extend(["-keyout".into(), dir.file("ee.key")]);
    ee.extend(["-out".into(), dir.file("ee.csr")]);
    ee.extend(strings(&["-subj", "/CN=ee"]));
    openssl(bin, &ee).await?;
    let mut x = strings(&["x509", "-req", "-in"]);
    x.extend([dir.file("ee.csr"), "-CA".into(), dir.file("ca.crt")]);
    x.extend([
        "-CAkey".into(),
        dir.file("ca.key"),
        "-CAcreateserial".into(),
    ]);
    x.extend(["-out".into(), dir.file("issued.crt")]);
    x.extend(strings(&["-days", "2"]));
    openssl(bin, &x).await
}

/// One new ir transaction: `openssl cmp` against its in-process mock server, saving the ir.
async fn make_ir(bin: &Path, dir: &TempDir, i: usize) -> Result<Vec<u8>, String> {
    let out = format!("ir-{i}.der");
    let mut args = strings(&["cmp", "-cmd", "ir", "-use_mock_srv", "-srv_secret", SECRET]);
    args.extend(strings(&["-srv_ref", "mocksrv", "-ref", "mocksrv"]));
    args.extend(["-rsp_cert".into(), dir.file("issued.crt")]);
    args.extend(["-rsp_capubs".into(), dir.file("ca.crt")]);
    args.extend(strings(&["-secret", SECRET, "-subject", "/CN=ee"]));
    args.extend(["-newkey".into(), dir.file("ee.key")]);
    args.extend(["-certout".into(), dir.file(&format!("x-{i}.crt"))]);
    args.extend(["-reqout".into(), dir.file(&out)]);
    openssl(bin, &args).await?;
    std::fs::read(dir.0.join(&out)).map_err(|e| format!("{out}: {e}"))
}

/// The `openssl cmp -port` HTTP mock server (killed on drop); it stops by itself after
/// `max_msgs` messages, so it cannot outlive a killed run for long.
async fn start_mock(bin: &Path, dir: &TempDir, max_msgs: usize) -> Result<(Child, u16), String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("free port: {e}"))?
        .port();
    let child = Command::new(bin)
        .args(["cmp", "-port", &port.to_string(), "-srv_secret", SECRET])
        .args(["-srv_ref", "mocksrv", "-rsp_cert", &dir.file("issued.crt")])
        .args(["-rsp_capubs", &dir.file("ca.crt")])
        .args(["-max_msgs", &max_msgs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the mock server: {e}"))?;
    // It binds [::]; we only ever talk to 127.0.0.1.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tokio::time::timeout(OPENSSL_LIMIT, async {
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .map_err(|_| "the openssl mock server did not start".to_owned())?;
    Ok((child, port))
}

/// An answer is good when it is an accepted ip to this very ir.
fn check_answer(
    ir: &MessageInfo,
    info: &MessageInfo,
    content: &ResponseContent,
) -> Result<(), String> {
    if info.body_type != BodyType::Ip {
        return Err(format!("{:?} instead of ip: {content:?}", info.body_type));
    }
    if info.transaction_id != ir.transaction_id {
        return Err("transactionID differs".into());
    }
    if info.recip_nonce != ir.sender_nonce {
        return Err("recipNonce is not the ir's senderNonce".into());
    }
    match content {
        ResponseContent::Certificates { responses, .. }
            if responses
                .iter()
                .all(|r| r.status.status == status::ACCEPTED && r.certificate.is_some())
                && !responses.is_empty() =>
        {
            Ok(())
        }
        other => Err(format!("not an accepted certificate: {other:?}")),
    }
}

/// The ir straight to the HTTP server: classify, RFC 6712 POST, inspect the answer.
async fn direct(ir: &[u8], config: &ProxyConfig) -> Result<Duration, String> {
    let t0 = Instant::now();
    let req_info = classify(ir).map_err(|e| format!("ir: {e}"))?;
    let request = CmpRequest {
        der: ir.to_vec(),
        info: req_info.clone(),
        path: CmpPath::default(),
        peer: SocketAddr::from(([127, 0, 0, 1], 0)),
        identity: ace_coap::PeerIdentity::Anonymous,
    };
    let http = proxy::build_http_request(&request, config).map_err(|e| e.to_string())?;
    let der = proxy::forward(&http, config)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let (info, content) = inspect_response(&der).map_err(|e| format!("answer: {e}"))?;
    let took = t0.elapsed();
    check_answer(&req_info, &info, &content)?;
    Ok(took)
}

/// The ir through our proxy with `CmpClient` (all of its checks included).
async fn via_proxy(ir: &[u8], client: &CmpClient) -> Result<Duration, String> {
    let req_info = classify(ir).map_err(|e| format!("ir: {e}"))?;
    let t0 = Instant::now();
    let rsp = client
        .send(ir.to_vec())
        .await
        .map_err(|e| format!("CoAP: {e}"))?;
    let took = t0.elapsed();
    check_answer(&req_info, &rsp.info, &rsp.content)?;
    Ok(took)
}

/// One timed exchange, bounded (a timeout counts as an error).
async fn bounded(f: impl Future<Output = Result<Duration, String>>) -> Result<Duration, String> {
    tokio::time::timeout(EXCHANGE_LIMIT + Duration::from_secs(1), f)
        .await
        .unwrap_or_else(|_| Err("no answer within the limit".to_owned()))
}

/// `q`-quantile (nearest rank) of sorted samples, in microseconds.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted
        .get(rank - 1)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
}

fn mean(samples: &[Duration]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e6 / samples.len() as f64
}

/// Samples and errors of one path.
struct Samples {
    times: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

impl Samples {
    fn new() -> Self {
        Self {
            times: Vec::new(),
            errors: 0,
            first_error: None,
        }
    }

    fn record(&mut self, r: Result<Duration, String>) {
        match r {
            Ok(d) => self.times.push(d),
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

async fn run(o: Options) -> Result<(), String> {
    let dir = TempDir::new()?;
    let bin = &o.openssl;
    make_pki(bin, &dir).await?;

    // Every ir a new transaction, made before anything is timed.
    let total = 2 * (o.n + o.warmup);
    let mut irs: Vec<Vec<u8>> = Vec::with_capacity(total);
    // Two openssl runs at a time (this machine has 2 cores); `total` is even.
    for i in (0..total).step_by(2) {
        let (a, b) = tokio::join!(make_ir(bin, &dir, i), make_ir(bin, &dir, i + 1));
        irs.push(a?);
        irs.push(b?);
        if o.progress {
            println!("progress generate {} {total}", i + 2);
        }
    }
    let mut tids = std::collections::BTreeSet::new();
    let mut nonces = std::collections::BTreeSet::new();
    for ir in &irs {
        let info = classify(ir).map_err(|e| format!("generated ir: {e}"))?;
        if info.body_type != BodyType::Ir || !info.protected {
            return Err(format!(
                "generated {:?}, protected {}",
                info.body_type, info.protected
            ));
        }
        if !tids.insert(info.transaction_id) || !nonces.insert(info.sender_nonce) {
            return Err("two generated irs share a transactionID or senderNonce".into());
        }
    }

    let (mut mock, port) = start_mock(bin, &dir, total + 16).await?;
    let config = ProxyConfig {
        listen: "127.0.0.1:0".parse().map_err(|_| "listen address")?,
        upstream: SocketAddr::from(([127, 0, 0, 1], port)),
        // the openssl 3.x mock server accepts only "" and "pkix/"
        upstream_path: "/pkix/".into(),
        map_path_suffix: false,
        upstream_timeout: EXCHANGE_LIMIT,
        ..ProxyConfig::default()
    };
    let server = proxy::bind(config.clone())
        .await
        .map_err(|e| format!("proxy: {e}"))?;
    let proxy_addr = server.local_addr().map_err(|e| e.to_string())?;
    let handle = server.handle();
    tokio::spawn(server.serve());
    let (coap, driver) = ace_coap::Client::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ace_coap::Config::default(),
    )
    .await
    .map_err(|e| format!("CoAP client: {e}"))?;
    tokio::spawn(driver.run());
    let client = CmpClient::new(
        coap,
        proxy_addr,
        ClientConfig {
            request_timeout: EXCHANGE_LIMIT,
            ..ClientConfig::default()
        },
    );

    let mut d = Samples::new();
    let mut p = Samples::new();
    let mut irs = irs.into_iter();
    let pairs = o.n + o.warmup;
    for i in 0..pairs {
        let (Some(a), Some(b)) = (irs.next(), irs.next()) else {
            return Err("ran out of irs".into());
        };
        let direct_first = i % 2 == 0;
        let (rd, rp) = if direct_first {
            let rd = bounded(direct(&a, &config)).await;
            (rd, bounded(via_proxy(&b, &client)).await)
        } else {
            let rp = bounded(via_proxy(&b, &client)).await;
            (bounded(direct(&a, &config)).await, rp)
        };
        if i >= o.warmup {
            d.record(rd);
            p.record(rp);
        }
        if o.progress {
            println!("progress measure {} {pairs}", i + 1);
        }
    }
    handle.shutdown().await;
    let _ = mock.kill().await;

    d.times.sort();
    p.times.sort();
    let (dm, d90, dmean) = (
        quantile(&d.times, 0.5),
        quantile(&d.times, 0.9),
        mean(&d.times),
    );
    let (pm, p90, pmean) = (
        quantile(&p.times, 0.5),
        quantile(&p.times, 0.9),
        mean(&p.times),
    );
    println!(
        "ir round trip against `openssl cmp -port` (mock CA, {}), {} fresh transactions per path, interleaved ({} warm-up pairs not counted):",
        openssl_version(bin).await,
        o.n,
        o.warmup
    );
    println!(
        "  {:<10} {:>6} {:>7} {:>12} {:>12} {:>12}",
        "path", "ok", "errors", "median µs", "p90 µs", "mean µs"
    );
    for (name, s, m, q, a) in [
        ("direct", &d, dm, d90, dmean),
        ("via_proxy", &p, pm, p90, pmean),
    ] {
        println!(
            "  {name:<10} {:>6} {:>7} {m:>12.0} {q:>12.0} {a:>12.0}",
            s.times.len(),
            s.errors
        );
    }
    println!(
        "  via_proxy / direct: median {:.2}×, p90 {:.2}×, mean {:.2}× (goal ≤ 1.2×)",
        pm / dm,
        p90 / d90,
        pmean / dmean
    );
    for (name, s) in [("direct", &d), ("via_proxy", &p)] {
        if let Some(e) = &s.first_error {
            println!("  first {name} error: {e}");
        }
    }
    println!(
        "result n={} direct_ok={} direct_errors={} proxy_ok={} proxy_errors={} direct_median_us={dm:.0} direct_p90_us={d90:.0} proxy_median_us={pm:.0} proxy_p90_us={p90:.0} ratio_median={:.3} ratio_p90={:.3}",
        o.n,
        d.times.len(),
        d.errors,
        p.times.len(),
        p.errors,
        pm / dm,
        p90 / d90
    );
    if d.errors + p.errors > 0 {
        return Err(format!(
            "{} direct and {} proxied exchanges failed",
            d.errors, p.errors
        ));
    }
    Ok(())
}

async fn openssl_version(bin: &Path) -> String {
    let out = tokio::time::timeout(
        OPENSSL_LIMIT,
        Command::new(bin)
            .arg("version")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await;
    match out {
        Ok(Ok(o)) => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => "openssl version unknown".into(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench_vs_http: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench_vs_http: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = o.deadline;
    let r = rt.block_on(async move {
        tokio::time::timeout(deadline, run(o))
            .await
            .unwrap_or_else(|_| Err(format!("not done within {} s", deadline.as_secs())))
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_vs_http: {e}");
            ExitCode::FAILURE
        }
    }
}
