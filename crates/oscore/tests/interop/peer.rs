//! Shared by `tests/interop_aiocoap.rs` and `examples/oscore_rate.rs` (included with
//! `#[path]`): the OSCORE plugtest contexts, aiocoap context directories, the aiocoap OSCORE
//! server (`tests/interop/aiocoap_server.py`) as a bounded child process, and our OSCORE
//! server with the same resources.
//!
//! Not every item is used by both includers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ace_coap::consts::option;
use ace_coap::{
    Code, Config, FnResource, Message, OuterBlockwise, PeerIdentity, Router, SecurityLayer, Server,
    ServerHandle,
};
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_oscore::coap::OscoreLayer;
use ace_oscore::{
    ContextParams, ContextSet, MemorySequenceStore, PersistError, SecurityContext, SequenceConfig,
    SequenceStore,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Upper bound for one peer invocation or peer start-up; the child is killed beyond it.
pub(crate) use ace_interop_peers::PEER_LIMIT;

/// Size of `/big` on both servers: more than 2 KiB, so it needs block-wise transfer.
pub(crate) const BIG_LEN: usize = 5000;

pub(crate) const HOW_TO_RUN: &str = "run under `cargo xtask interop`, or: \
    ACE_INTEROP_BIN=/var/tmp/ace-rs-venv/bin ACE_INTEROP_PYTHON=/var/tmp/ace-rs-venv/bin/python \
    cargo test -p ace-oscore --features coap --test interop_aiocoap -- --ignored --test-threads=1";

// ---------------------------------------------------------------------------------------------
// Peers from the interop venv (found by ace-interop-peers; missing = failure)
// ---------------------------------------------------------------------------------------------

/// `aiocoap-client` from `$ACE_INTEROP_BIN`.
pub(crate) fn aiocoap_client() -> PathBuf {
    ace_interop_peers::aiocoap_client(HOW_TO_RUN)
}

/// The interop venv's python (`$ACE_INTEROP_PYTHON`), which has aiocoap with OSCORE.
pub(crate) fn python() -> PathBuf {
    ace_interop_peers::python(HOW_TO_RUN)
}

/// A fresh, empty scratch directory (aiocoap writes `sequence.json` and `lock` into its
/// context directories, so every test gets new copies of the contexts).
pub(crate) fn scratch_dir(base: &Path, name: &str) -> PathBuf {
    let dir = base.join(format!("oscore-interop-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------------------------
// Plugtest contexts (RFC 8613 C.1 = A/B, C.3 = C/D; the values of
// /work/shared/vectors/oscore-plugtest-contexts/*.json). AES-CCM-16-64-128, HKDF-SHA-256.
// ---------------------------------------------------------------------------------------------

pub(crate) const MASTER_SECRET: &str = "0102030405060708090a0b0c0d0e0f10";
pub(crate) const MASTER_SALT: &str = "9e7ca92223786340";

/// One side of a plugtest security context.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plugtest {
    pub(crate) name: &'static str,
    pub(crate) sender_id: &'static str,
    pub(crate) recipient_id: &'static str,
    pub(crate) id_context: Option<&'static str>,
}

/// Client of RFC 8613 C.1 (empty Sender ID).
pub(crate) const A: Plugtest = Plugtest {
    name: "a",
    sender_id: "",
    recipient_id: "01",
    id_context: None,
};
/// Server of RFC 8613 C.1.
pub(crate) const B: Plugtest = Plugtest {
    name: "b",
    sender_id: "01",
    recipient_id: "",
    id_context: None,
};
/// Client of RFC 8613 C.3 (ID Context 0x37cbf3210017a2d3).
pub(crate) const C: Plugtest = Plugtest {
    name: "c",
    sender_id: "",
    recipient_id: "01",
    id_context: Some("37cbf3210017a2d3"),
};
/// Server of RFC 8613 C.3.
pub(crate) const D: Plugtest = Plugtest {
    name: "d",
    sender_id: "01",
    recipient_id: "",
    id_context: Some("37cbf3210017a2d3"),
};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

impl Plugtest {
    /// Our parameters. A client with an ID Context sends it as 'kid context' (as aiocoap
    /// does, and as aiocoap's server needs to find the context).
    pub(crate) fn params(&self, sequence: SequenceConfig) -> ContextParams {
        let mut p = ContextParams::new(
            &h(MASTER_SECRET),
            &h(MASTER_SALT),
            &h(self.sender_id),
            &h(self.recipient_id),
        )
        .with_sequence_config(sequence);
        if let Some(ctx) = self.id_context {
            p = p
                .with_id_context(&h(ctx))
                .with_kid_context_in_requests(true);
        }
        p
    }

    pub(crate) fn context(&self) -> SecurityContext<RustCrypto> {
        SecurityContext::new(RustCrypto, self.params(SequenceConfig::default())).unwrap()
    }

    /// Writes the context as an aiocoap `FilesystemSecurityContext` directory
    /// (`<parent>/<name>/settings.json`) and returns the directory, with a trailing `/`.
    pub(crate) fn write_aiocoap_dir(&self, parent: &Path) -> String {
        let dir = parent.join(self.name);
        std::fs::create_dir_all(&dir).unwrap();
        let id_context = self
            .id_context
            .map(|c| format!(", \"id-context_hex\": \"{c}\""))
            .unwrap_or_default();
        std::fs::write(
            dir.join("settings.json"),
            format!(
                "{{\"sender-id_hex\": \"{}\", \"recipient-id_hex\": \"{}\", \
                 \"secret_hex\": \"{MASTER_SECRET}\", \"salt_hex\": \"{MASTER_SALT}\"{id_context}}}\n",
                self.sender_id, self.recipient_id
            ),
        )
        .unwrap();
        format!("{}/", dir.to_str().expect("UTF-8 scratch path"))
    }
}

/// Writes an aiocoap client credentials file that uses `ctx` for every URI of `server`.
pub(crate) fn aiocoap_client_credentials(dir: &Path, ctx: &Plugtest, server: SocketAddr) -> String {
    let contextfile = ctx.write_aiocoap_dir(dir);
    let path = dir.join(format!("client-{}.json", ctx.name));
    std::fs::write(
        &path,
        format!(
            "{{\"coap://{server}/*\": {{\"oscore\": {{\"contextfile\": \"{contextfile}\"}}}}}}\n"
        ),
    )
    .unwrap();
    path.to_str().expect("UTF-8 scratch path").to_owned()
}

/// Writes an aiocoap server credentials file with one entry per context.
pub(crate) fn aiocoap_server_credentials(dir: &Path, contexts: &[Plugtest]) -> PathBuf {
    let entries: Vec<String> = contexts
        .iter()
        .map(|c| {
            let contextfile = c.write_aiocoap_dir(dir);
            format!(
                "\":{}\": {{\"oscore\": {{\"contextfile\": \"{contextfile}\"}}}}",
                c.name
            )
        })
        .collect();
    let path = dir.join("server.json");
    std::fs::write(&path, format!("{{{}}}\n", entries.join(", "))).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// Resources (the same on both servers)
// ---------------------------------------------------------------------------------------------

/// `/big`: byte i is i mod 251 (as in `aiocoap_server.py`).
pub(crate) fn big_body() -> Vec<u8> {
    (0..BIG_LEN).map(|i| (i % 251) as u8).collect()
}

// ---------------------------------------------------------------------------------------------
// The aiocoap OSCORE server
// ---------------------------------------------------------------------------------------------

/// `tests/interop/aiocoap_server.py` running as a child process. Dropping it kills the
/// child (and closing its stdin makes the script exit on its own).
pub(crate) struct AiocoapServer {
    child: Child,
    pub(crate) addr: SocketAddr,
    stderr: PathBuf,
}

impl AiocoapServer {
    /// Starts the server with server-side `contexts` (fresh copies in `dir`) and waits (at
    /// most [`PEER_LIMIT`]) for its `READY <port>` line. `lifetime` bounds the script itself.
    pub(crate) async fn start(dir: &Path, contexts: &[Plugtest], lifetime: Duration) -> Self {
        let python = python();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/aiocoap_server.py");
        let credentials = aiocoap_server_credentials(dir, contexts);
        let stderr = dir.join("aiocoap-server.stderr");
        let mut cmd = Command::new(&python);
        cmd.arg(&script)
            .arg(&credentials)
            .arg(lifetime.as_secs().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true);
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the aiocoap server {shown}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = match timeout(PEER_LIMIT, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(other) => panic!(
                "aiocoap server {shown} ended before READY ({other:?}); stderr: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            ),
            Err(_) => panic!("aiocoap server {shown} not ready within {PEER_LIMIT:?}; killed"),
        };
        let port: u16 = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("aiocoap server said {line:?} instead of READY <port>"));
        Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            stderr,
        }
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// What the server wrote on stderr so far (for failure messages).
    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Closes its stdin and waits (bounded) for a clean exit; kills it otherwise.
    pub(crate) async fn stop(mut self) {
        drop(self.child.stdin.take());
        match timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => assert!(
                status.success(),
                "aiocoap server exited with {status}; stderr: {}",
                self.stderr()
            ),
            Ok(Err(e)) => panic!("waiting for the aiocoap server: {e}"),
            Err(_) => {
                let _ = self.child.start_kill();
                panic!("aiocoap server did not exit within 5 s of stdin EOF; killed");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Our OSCORE server
// ---------------------------------------------------------------------------------------------

/// A [`SequenceStore`] the test can read after the server used it.
#[derive(Clone, Default)]
pub(crate) struct SharedStore(pub Arc<Mutex<MemorySequenceStore>>);

impl SequenceStore for SharedStore {
    fn persist(
        &mut self,
        sender_id: &[u8],
        id_context: Option<&[u8]>,
        value: u64,
    ) -> Result<(), PersistError> {
        self.0.lock().unwrap().persist(sender_id, id_context, value)
    }
}

/// One OSCORE request our layer accepted, as seen around [`OscoreLayer`]: the inner path,
/// whether the *outer* message handed to the layer still carried Block1/Block2 (the engine
/// removes them when it reassembled outer block-wise first), and the *inner*
/// Block1/Block2 block numbers (inner block-wise, RFC 8613 §4.1.3.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exchange {
    pub(crate) path: String,
    pub(crate) outer_block: bool,
    /// Payload length of the protected message handed to the layer (after any outer
    /// Block1 reassembly by the engine).
    pub(crate) outer_len: usize,
    pub(crate) inner_block1: Option<u32>,
    pub(crate) inner_block2: Option<u32>,
}

/// [`OscoreLayer`] with a log of every request it accepted.
struct Recording<L> {
    inner: L,
    log: Arc<Mutex<Vec<Exchange>>>,
    /// Payload length of every protected response (before any outer Block2 cut).
    responses: Arc<Mutex<Vec<usize>>>,
}

impl<L: SecurityLayer> SecurityLayer for Recording<L> {
    type Context = L::Context;

    fn unprotect(
        &mut self,
        peer: SocketAddr,
        request: Message,
    ) -> Result<(Message, PeerIdentity, Self::Context), Message> {
        let outer_block =
            request.options.contains(option::BLOCK1) || request.options.contains(option::BLOCK2);
        let outer_len = request.payload.len();
        let accepted = self.inner.unprotect(peer, request)?;
        let inner = &accepted.0;
        self.log.lock().unwrap().push(Exchange {
            path: inner.path().unwrap_or_default(),
            outer_block,
            outer_len,
            inner_block1: inner.block1().map(|b| b.num),
            inner_block2: inner.block2().map(|b| b.num),
        });
        Ok(accepted)
    }

    fn protect(
        &mut self,
        peer: SocketAddr,
        response: Message,
        context: &mut Self::Context,
    ) -> Result<Message, Message> {
        let protected = self.inner.protect(peer, response, context)?;
        self.responses.lock().unwrap().push(protected.payload.len());
        Ok(protected)
    }

    fn outer_blockwise(&self) -> Option<OuterBlockwise> {
        self.inner.outer_blockwise()
    }
}

/// What our server's resources saw: (method, path, identity, request payload).
pub(crate) type Seen = Arc<Mutex<Vec<(Code, String, PeerIdentity, Vec<u8>)>>>;

fn identity_text(identity: &PeerIdentity) -> String {
    match identity {
        PeerIdentity::Oscore {
            sender_id,
            id_context,
        } => format!(
            "oscore kid={} ctx={}",
            hex::encode(sender_id),
            id_context.as_deref().map(hex::encode).unwrap_or_default()
        ),
        other => format!("{other:?}"),
    }
}

/// Our ace-coap server with an [`OscoreLayer`] over `contexts`: `/hello`, `/big`, POST
/// `/echo` (as `aiocoap_server.py`) and `/whoami` (the OSCORE identity the layer
/// established).
pub(crate) struct OurServer {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Seen,
    /// Every OSCORE request the layer accepted (block-wise: one per block).
    pub(crate) exchanges: Arc<Mutex<Vec<Exchange>>>,
    /// Payload length of every protected response the layer produced.
    pub(crate) responses: Arc<Mutex<Vec<usize>>>,
    handle: ServerHandle,
    task: JoinHandle<ace_coap::Result<()>>,
}

impl OurServer {
    pub(crate) async fn start(contexts: &[Plugtest]) -> Self {
        Self::start_with(contexts, Config::default()).await
    }

    pub(crate) async fn start_with(contexts: &[Plugtest], config: Config) -> Self {
        Self::start_with_policy(
            contexts,
            config,
            Some(OuterBlockwise::new(
                ace_oscore::coap::DEFAULT_MAX_UNFRAGMENTED_SIZE,
            )),
        )
        .await
    }

    /// As [`OurServer::start_with`], with the layer's outer block-wise policy.
    pub(crate) async fn start_with_policy(
        contexts: &[Plugtest],
        config: Config,
        policy: Option<OuterBlockwise>,
    ) -> Self {
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let big = big_body();
        let record = |seen: &Seen, req: &ace_coap::Request| {
            seen.lock().unwrap().push((
                req.method(),
                req.path().to_owned(),
                req.identity.clone(),
                req.payload().to_vec(),
            ));
        };
        let (s1, s2, s3, s4) = (seen.clone(), seen.clone(), seen.clone(), seen.clone());
        let router = Router::new()
            .mount(
                "/hello",
                FnResource::new(move |req| {
                    record(&s1, req);
                    Message::response(Code::CONTENT, "Hello World!").into()
                }),
            )
            .mount(
                "/big",
                FnResource::new(move |req| {
                    record(&s2, req);
                    Message::response(Code::CONTENT, big.clone()).into()
                }),
            )
            .mount(
                "/echo",
                FnResource::new(move |req| {
                    record(&s3, req);
                    let mut body = b"echo:".to_vec();
                    body.extend_from_slice(req.payload());
                    Message::response(Code::CHANGED, body).into()
                })
                .methods(&[Code::POST]),
            )
            .mount(
                "/whoami",
                FnResource::new(move |req| {
                    record(&s4, req);
                    Message::response(Code::CONTENT, identity_text(&req.identity)).into()
                }),
            );
        let mut set = ContextSet::new();
        for c in contexts {
            set.insert(c.context());
        }
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let responses = Arc::new(Mutex::new(Vec::new()));
        let layer = Recording {
            inner: OscoreLayer::new(set, SharedStore::default()).with_outer_blockwise(policy),
            log: exchanges.clone(),
            responses: responses.clone(),
        };
        let server =
            Server::bind_with_security("127.0.0.1:0".parse().unwrap(), config, router, layer)
                .await
                .unwrap();
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let task = tokio::spawn(server.serve());
        Self {
            addr,
            seen,
            exchanges,
            responses,
            handle,
            task,
        }
    }

    pub(crate) fn take_seen(&self) -> Vec<(Code, String, PeerIdentity, Vec<u8>)> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    pub(crate) fn take_exchanges(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.exchanges.lock().unwrap())
    }

    pub(crate) async fn stop(self) {
        self.handle.shutdown().await;
        timeout(Duration::from_secs(5), self.task)
            .await
            .expect("server did not stop within 5 s")
            .unwrap()
            .unwrap();
    }
}
