//! Interop of our AS and RS with ACE clients we did not write: libcoap 4.3.1
//! (`coap-client-notls`, Debian `libcoap3-bin`, on `PATH`) and aiocoap 0.4.17
//! (`aiocoap-client` in `$ACE_INTEROP_BIN`, the library through `$ACE_INTEROP_PYTHON`). The
//! token requests are CBOR built with cbor2 (`tests/interop/token_request.py`), not by our
//! encoder.
//!
//! The AS and the RS run in-process on 127.0.0.1 with ephemeral ports:
//! * the AS in the **explicit insecure loopback mode** (`SecurityMode::Insecure`: plain CoAP,
//!   `check_insecure_allowed` refuses anything but loopback). RFC 9200 requires a secure
//!   client ↔ AS channel; this mode exists so that plain-CoAP peers can talk to the AS in
//!   tests and demos, and the client authenticates with `client_id` + `client_secret` in the
//!   request body;
//! * the RS with `/authz-info` unprotected (RFC 9200 §5.10.1) and the demo resources behind
//!   OSCORE. Until the RFC 9203 profile is wired into `ace-server`, the client ↔ RS OSCORE
//!   context is **provisioned** (Sender IDs `c1` / `rs`, a fixed Master Secret) for the holder
//!   of the client's P-256 key, which the token binds (`req_cnf`, RFC 9201); the RS maps the
//!   OSCORE identity to that key (`local::provisioned_identity_map`).
//!
//! | Test | Peer | Proves |
//! |---|---|---|
//! | `libcoap_token_upload_and_creation_hints` | `coap-client-notls` | cbor2 token request POSTed with Block1 (`-b 64`: 3 blocks, 2.31 Continue seen in libcoap's PDU log) → 2.01 with a token (decoded with cbor2) → the AS issued exactly one token; that CWT POSTed to `/authz-info` (ct 61, Block1) → 2.01, the RS stored exactly one token; unprotected GET `/temp` → 4.01 whose payload names our AS URI and the audience (creation hints; libcoap shows error payloads only as text on stderr). libcoap 4.3.1 has no OSCORE, so it cannot access the protected resources. |
//! | `aiocoap_client_token_and_upload` | `aiocoap-client` | the same token request → 2.01 and a token; upload → 2.01; unprotected GET `/big` → 4.01 (exit 1) |
//! | `aiocoap_library_full_flow_over_oscore` | aiocoap library (`tests/interop/aiocoap_ace_client.py`) | token (plain CoAP) → upload → 4.01 + hints unprotected → over OSCORE with the provisioned context: GET `/temp` = `21.5 C`; GET `/big` (4000 bytes, block-wise inside OSCORE) byte-identical (length + FNV-1a 64); Observe `/counter`: registration + 3 notifications with increasing values (each notification re-authorized by the RS) |
//!
//! The tests are `#[ignore]`d so that `cargo test` needs no peer; a missing peer or variable
//! is a **failure**, never a skip:
//! ```text
//! ACE_INTEROP_BIN=/var/tmp/ace-rs-venv/bin ACE_INTEROP_PYTHON=/var/tmp/ace-rs-venv/bin/python \
//!   cargo test -p ace-server --test interop_peers -- --ignored --test-threads=1
//! ```
//! Every child is bounded by [`PEER_LIMIT`] and killed when it overruns.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ace_coap::{Config, Router, ServerHandle};
use ace_core::{AsEffect, MemoryAcceptedTokens, MemoryTokenStore, RsEffect};
use ace_interop_peers as peers;
use ace_oscore::coap::OscoreLayer;
use ace_oscore::{ContextParams, ContextSet, MemorySequenceStore, SecurityContext};
use ace_server::demo::{self, DemoState};
use ace_server::local::{self, AUDIENCE, CLIENT_ID, CLIENT_SENDER_ID, RS_SENDER_ID};
use ace_server::{AsService, EffectSink, PersistError, RsService};
use ace_token::RustCrypto;
use ace_token::crypto::{CryptoBackend, KeyType, PrivateKey, os_rng};
use tokio::task::JoinHandle;

/// Upper bound for one peer invocation; the child is killed when it is exceeded.
const PEER_LIMIT: Duration = Duration::from_secs(20);
/// The client secret registered at the AS (sent in the body in the insecure mode).
const CLIENT_SECRET: &str = "interop-client-secret-0001";
/// The client ↔ RS OSCORE Master Secret (provisioned; see the module docs).
const RS_MASTER_SECRET: [u8; 16] = *b"ace-interop-ms01";
/// What the policy allows the client.
const ALLOWED: &str = "temp:r led:r big:r counter:r";
/// What the peers ask for.
const SCOPE: &str = "temp:r big:r counter:r";

const HOW_TO_RUN: &str = "these tests run under `cargo xtask interop` (or: ACE_INTEROP_BIN=/var/tmp/ace-rs-venv/bin \
     ACE_INTEROP_PYTHON=/var/tmp/ace-rs-venv/bin/python cargo test -p ace-server --test interop_peers \
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
// Peers
// ---------------------------------------------------------------------------------------------

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------------
// Our AS and RS
// ---------------------------------------------------------------------------------------------

/// Counts what the engines did (issued / stored tokens), besides nothing else.
#[derive(Default)]
struct Counts {
    issued: AtomicUsize,
    stored: AtomicUsize,
}

impl EffectSink for Counts {
    fn as_effects(&self, effects: &[AsEffect]) -> Result<(), PersistError> {
        let n = effects
            .iter()
            .filter(|e| matches!(e, AsEffect::TokenIssued(_)))
            .count();
        self.issued.fetch_add(n, Ordering::SeqCst);
        Ok(())
    }

    fn rs_effects(&self, effects: &[RsEffect]) -> Result<(), PersistError> {
        let n = effects
            .iter()
            .filter(|e| matches!(e, RsEffect::TokenStored { .. }))
            .count();
        self.stored.fetch_add(n, Ordering::SeqCst);
        Ok(())
    }
}

fn rs_context(sender: &[u8], recipient: &[u8]) -> SecurityContext<RustCrypto> {
    SecurityContext::new(
        RustCrypto,
        ContextParams::new(&RS_MASTER_SECRET, b"", sender, recipient),
    )
    .unwrap()
}

struct Fixture {
    as_addr: SocketAddr,
    rs_addr: SocketAddr,
    /// The client's P-256 public key (x, y), which the token binds.
    client_xy: ([u8; 32], [u8; 32]),
    counts: Arc<Counts>,
    handles: Vec<ServerHandle>,
    tasks: Vec<JoinHandle<()>>,
    dir: PathBuf,
}

impl Fixture {
    async fn start(name: &str) -> Self {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut rng = os_rng();
        let signing_key = PrivateKey::generate(KeyType::P256, &mut rng);
        let as_public = RustCrypto.public_key(&signing_key).unwrap();
        let client_key = PrivateKey::generate(KeyType::P256, &mut rng);
        let client_public = RustCrypto.public_key(&client_key).unwrap();
        let sec1 = client_public.to_sec1_uncompressed().unwrap();
        let mut x = [0u8; 32];
        let mut y = [0u8; 32];
        x.copy_from_slice(&sec1[1..33]);
        y.copy_from_slice(&sec1[33..65]);
        let counts = Arc::new(Counts::default());
        let config = Config {
            // aiocoap forgets observations lazily (RST only to a CON notification).
            notification_con_interval: Duration::from_millis(600),
            ..Config::default()
        };

        // AS: the explicit insecure loopback mode.
        ace_server::check_insecure_allowed(loopback, "as").unwrap();
        let as_service = AsService::new(local::as_engine(
            &signing_key,
            CLIENT_SECRET.as_bytes(),
            3600,
            ALLOWED,
            Box::new(MemoryTokenStore::new()),
        ))
        .with_sink(counts.clone());
        let as_server = ace_server::bind_coap(
            loopback,
            config.clone(),
            as_service.router(),
            ace_coap::PlainCoap,
        )
        .await
        .unwrap();
        let as_addr = as_server.local_addr().unwrap();
        let mut handles = vec![as_server.handle()];
        let mut tasks = vec![tokio::spawn(async move {
            let _ = as_server.serve().await;
        })];

        // RS: /authz-info unprotected, resources over OSCORE (provisioned context).
        let rs_service = RsService::new(local::rs_engine(
            as_public,
            &format!("coap://{as_addr}/token"),
            Box::new(MemoryAcceptedTokens::new()),
        ))
        .with_sink(counts.clone())
        .with_identity_map(local::provisioned_identity_map(client_public));
        let state = DemoState::default();
        let router = demo::mount(&rs_service, Router::new(), &state);
        let mut set = ContextSet::new();
        set.insert(rs_context(RS_SENDER_ID, CLIENT_SENDER_ID));
        let layer = OscoreLayer::new(set, MemorySequenceStore::default()).allow_unprotected(true);
        let rs_server = ace_server::bind_coap(loopback, config, router, layer)
            .await
            .unwrap();
        let rs_addr = rs_server.local_addr().unwrap();
        let rs_handle = rs_server.handle();
        handles.push(rs_handle.clone());
        tasks.push(tokio::spawn(async move {
            let _ = rs_server.serve().await;
        }));
        tasks.push(tokio::spawn(demo::run_counter(
            rs_handle,
            state,
            Duration::from_millis(300),
        )));

        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("server-interop-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            as_addr,
            rs_addr,
            client_xy: (x, y),
            counts,
            handles,
            tasks,
            dir,
        }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_owned()
    }

    /// Writes the cbor2-built token request to `req.cbor` and returns its path.
    async fn token_request(&self) -> String {
        let out = self.path("req.cbor");
        let o = run_ok(
            &python(),
            &[
                script("token_request.py").to_str().unwrap(),
                "request",
                &out,
                CLIENT_ID,
                CLIENT_SECRET,
                AUDIENCE,
                SCOPE,
                &hex(&self.client_xy.0),
                &hex(&self.client_xy.1),
            ],
        )
        .await;
        assert_eq!(
            text(&o.stdout).trim(),
            hex(&std::fs::read(&out).unwrap()),
            "helper output"
        );
        out
    }

    /// Decodes a token response file with cbor2, writes the CWT to `token.cwt`; returns
    /// (path, helper's summary line).
    async fn extract_token(&self, response: &str) -> (String, String) {
        let out = self.path("token.cwt");
        let o = run_ok(
            &python(),
            &[
                script("token_request.py").to_str().unwrap(),
                "token",
                response,
                &out,
            ],
        )
        .await;
        (out, text(&o.stdout).trim().to_owned())
    }

    /// Writes the aiocoap context directory of the client ↔ RS context (provisioned).
    fn aiocoap_context_dir(&self) -> String {
        let dir = self.dir.join("oscore-client");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("settings.json"),
            format!(
                "{{\"sender-id_hex\": \"{}\", \"recipient-id_hex\": \"{}\", \"secret_hex\": \"{}\"}}\n",
                hex(CLIENT_SENDER_ID),
                hex(RS_SENDER_ID),
                hex(&RS_MASTER_SECRET)
            ),
        )
        .unwrap();
        format!("{}/", dir.to_str().unwrap())
    }

    fn issued(&self) -> usize {
        self.counts.issued.load(Ordering::SeqCst)
    }

    fn stored(&self) -> usize {
        self.counts.stored.load(Ordering::SeqCst)
    }

    async fn shutdown(self) {
        for h in &self.handles {
            h.shutdown().await;
        }
        for t in &self.tasks {
            t.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn assert_token_summary(summary: &str) {
    // `token <len> expires_in 3600 profile <n> keys …`: a token for the coap_dtls profile
    // value the AS registry uses, valid for the configured lifetime.
    let words: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"token"), "{summary}");
    let len: usize = words[1].parse().unwrap();
    assert!(len > 64, "implausibly short token: {summary}");
    assert_eq!(&words[2..4], ["expires_in", "3600"], "{summary}");
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs aiocoap and libcoap: run `cargo xtask interop`"]
async fn libcoap_token_upload_and_creation_hints() {
    let client = libcoap_client();
    let f = Fixture::start("libcoap").await;
    let req = f.token_request().await;
    let resp = f.path("token-response.cbor");
    // -b 64: the 148-byte request goes Block1 in three 64-byte blocks (2.31 Continue for the
    // first two); the ~240-byte response fits one datagram. `-v 7` logs every PDU on stdout
    // (the payload goes to `-o`).
    let o = run_ok(
        &client,
        &[
            "-v",
            "7",
            "-m",
            "post",
            "-t",
            "19",
            "-b",
            "64",
            "-f",
            &req,
            "-o",
            &resp,
            &format!("coap://{}/token", f.as_addr),
        ],
    )
    .await;
    let log = text(&o.stdout);
    assert!(
        log.contains("Block1:0/M/64") && log.contains("t:ACK c:2.31") && log.contains("c:2.01"),
        "no Block1 transfer in libcoap's log:\n{log}"
    );
    let (token, summary) = f.extract_token(&resp).await;
    assert_token_summary(&summary);
    assert_eq!(f.issued(), 1, "the AS ran /token exactly once");

    let ai = f.path("authz-info.out");
    run_ok(
        &client,
        &[
            "-m",
            "post",
            "-t",
            "61",
            "-b",
            "64",
            "-f",
            &token,
            "-o",
            &ai,
            &format!("coap://{}/authz-info", f.rs_addr),
        ],
    )
    .await;
    assert_eq!(f.stored(), 1, "the RS stored the token exactly once");

    // A protected resource without OSCORE: 4.01. libcoap reports an error response on
    // stderr (not to `-o`) as `4.01 <payload>`, non-printable bytes shown as `.`; the payload is
    // the creation hints {1: AS URI, 5: audience}.
    let o = run_peer(
        &client,
        &["-m", "get", &format!("coap://{}/temp", f.rs_addr)],
    )
    .await;
    let err = text(&o.stderr);
    assert!(err.starts_with("4.01 "), "{o:?}");
    assert!(
        err.contains(&format!("coap://{}/token", f.as_addr)) && err.contains(AUDIENCE),
        "creation hints missing: {o:?}"
    );
    f.shutdown().await;
}

#[tokio::test]
#[ignore = "needs aiocoap and libcoap: run `cargo xtask interop`"]
async fn aiocoap_client_token_and_upload() {
    let client = aiocoap_client();
    let f = Fixture::start("aiocoap-client").await;
    let req = f.token_request().await;
    let o = run_ok(
        &client,
        &[
            "-m",
            "POST",
            "--content-format",
            "19",
            "--payload",
            &format!("@{req}"),
            &format!("coap://{}/token", f.as_addr),
        ],
    )
    .await;
    // Not a tty: aiocoap-client writes the payload bytes as they are.
    let resp = f.path("token-response.cbor");
    std::fs::write(&resp, &o.stdout).unwrap();
    let (token, summary) = f.extract_token(&resp).await;
    assert_token_summary(&summary);
    assert_eq!(f.issued(), 1, "the AS ran /token exactly once");

    run_ok(
        &client,
        &[
            "-m",
            "POST",
            "--content-format",
            "61",
            "--payload",
            &format!("@{token}"),
            &format!("coap://{}/authz-info", f.rs_addr),
        ],
    )
    .await;
    assert_eq!(f.stored(), 1, "the RS stored the token exactly once");

    let o = run_peer(&client, &[&format!("coap://{}/big", f.rs_addr)]).await;
    assert!(!o.status.success(), "{o:?}");
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(all.contains("4.01"), "{o:?}");
    f.shutdown().await;
}

#[tokio::test]
#[ignore = "needs aiocoap and libcoap: run `cargo xtask interop`"]
async fn aiocoap_library_full_flow_over_oscore() {
    let py = python();
    let f = Fixture::start("aiocoap-oscore").await;
    let req = f.token_request().await;
    let ctx_dir = f.aiocoap_context_dir();
    let o = run_ok(
        &py,
        &[
            script("aiocoap_ace_client.py").to_str().unwrap(),
            &format!("coap://{}", f.as_addr),
            &format!("coap://{}", f.rs_addr),
            &req,
            &ctx_dir,
            "3",
        ],
    )
    .await;
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 10, "{out}\nstderr: {}", text(&o.stderr));
    assert!(lines[0].starts_with("token ") && lines[0].ends_with(" expires_in 3600"));
    assert_eq!(lines[1], "authz-info 2.01");
    assert_eq!(
        lines[2],
        format!(
            "unprotected 4.01 as=coap://{}/token aud={AUDIENCE}",
            f.as_addr
        )
    );
    assert_eq!(lines[3], "temp 21.5 C");
    let big = demo::big_body();
    assert_eq!(
        lines[4],
        format!("big {} {:016x}", big.len(), fnv1a64(&big)),
        "block-wise /big"
    );
    let values: Vec<u64> = lines[5..9]
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let prefix = if i == 0 {
                "observe response "
            } else {
                "observe notification "
            };
            l.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{l}"))
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "counter values must increase: {values:?}"
    );
    assert_eq!(lines[9], "done");
    assert_eq!(f.issued(), 1);
    assert_eq!(f.stored(), 1);
    f.shutdown().await;
}
