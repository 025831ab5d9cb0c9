//! `ace cmp-proxy serve`: the CoAP-to-HTTP CMP proxy of `cmp-coap` (RFC 9482 over CoAP in
//! front of an RFC 6712 HTTP CMP server), configured from flags and/or the `[cmp_proxy]`
//! table of a TOML file (flags win), until ctrl-c.
//!
//! ```toml
//! [cmp_proxy]
//! listen = "127.0.0.1:5683"             # CoAP listen address (default 127.0.0.1:5683)
//! upstream = "http://127.0.0.1:8080/pkix/" # HTTP CMP server (required; http:// only)
//! map_path_suffix = true                # append p/<label> and the HTTP operation name
//! max_message_size = 65536              # request body limit (4.13 + Size1 beyond)
//! max_response_size = 262144            # upstream answer limit (5.02 beyond)
//! upstream_timeout_secs = 30            # whole HTTP exchange (5.04 after it)
//! connect_timeout_secs = 5              # TCP connect (5.04 after it)
//! max_concurrent = 64                   # exchanges in flight (5.03 + Max-Age beyond)
//! block_size = 1024                     # preferred CoAP block size (16..=1024)
//! transaction_idle_secs = 0             # keep the upstream connection of an unfinished
//!                                       # CMP transaction this long (0: off, see below)
//!
//! [cmp_proxy.oscore]                    # optional: OSCORE (RFC 8613) on the CoAP side
//! sequence_db = "cmp-proxy.sqlite"      # sequence-number records (RFC 8613 Appendix B.1)
//!
//! [[cmp_proxy.oscore.peers]]            # one per EE / RA
//! sender_id = "ee1"                     # the peer's Sender ID (our Recipient ID), text
//! recipient_id = "proxy"                # the peer's Recipient ID (our Sender ID), text
//! secret_file = "ee1.key"               # symmetric COSE_Key: `k` is the Master Secret
//! ```
//!
//! With `[cmp_proxy.oscore]` the proxy is the OSCORE endpoint (ace-oscore's `OscoreLayer`):
//! unprotected requests get 4.01, protected ones are verified and decrypted, the PKIMessage
//! goes upstream byte for byte (the HTTP leg relies on CMP's own protection, as without
//! OSCORE), and the answer is protected with the request's context. No Master Salt and no ID
//! Context. The Sender Sequence Number of every context is persisted in `sequence_db`
//! (blocks reserved before use), so a restart — also after kill -9 — never reuses a nonce:
//! a restored context continues after the persisted number and answers each peer's first
//! request with an Echo challenge (RFC 8613 Appendix B.1.2), which ace-oscore's
//! `OscoreClient` (and cmp-coap's `CmpClient` over it) answers by itself. Give the proxy a
//! `sequence_db` of its own. Paths are relative to the file's directory. There are no flags
//! for OSCORE.
//!
//! `transaction_idle_secs` is for HTTP CMP servers that keep a transaction's state per
//! connection (the `openssl cmp -port` mock server does): the certConf / pollReq of a
//! transaction then goes over the connection of its ir/cr/kur. Such a server serving one
//! connection at a time is blocked that long by each transaction an EE abandons.
//!
//! ctrl-c stops gracefully: new requests get 5.03 with Max-Age, exchanges in flight get
//! their answers (waiting up to 10 s), then the CoAP server sends what it has queued and
//! the command exits 0.
//!
//! The tables of the other `ace` commands (`[as]`, `[rs]`, `[client]`, `[storage]`,
//! `[broker]`) are skipped, so the proxy can share a file with them; any other table, and
//! unknown keys inside `[cmp_proxy]`, are errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ace_coap::SecurityLayer;
use ace_oscore::ContextSet;
use ace_oscore::coap::OscoreLayer;
use clap::{Args, Subcommand};
use cmp_coap::CmpServer;
use cmp_coap::proxy::{self, ProxyConfig, UpstreamUrl};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::CliError;
use crate::keys;
use crate::serve::persisted_oscore;

/// Longest wait for exchanges in flight at ctrl-c.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// `ace cmp-proxy …`.
#[derive(Debug, Subcommand)]
pub(crate) enum CmpProxyCmd {
    /// Run the CoAP-to-HTTP CMP proxy until ctrl-c.
    Serve(ServeArgs),
}

/// Flags of `ace cmp-proxy serve` (each overrides the file).
#[derive(Debug, Default, Args)]
pub(crate) struct ServeArgs {
    /// TOML file with a `[cmp_proxy]` table.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// CoAP listen address (default 127.0.0.1:5683).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Upstream HTTP CMP URL, e.g. `http://127.0.0.1:8080/pkix/` (without a path:
    /// `/.well-known/cmp`).
    #[arg(long)]
    upstream: Option<String>,
    /// Send every request to the upstream path as is (no `p/<label>` or operation suffix).
    #[arg(long)]
    no_map_suffix: bool,
    /// Largest CMP request accepted, in bytes (4.13 with Size1 beyond).
    #[arg(long)]
    max_message_size: Option<usize>,
    /// Largest upstream response relayed, in bytes.
    #[arg(long)]
    max_response_size: Option<usize>,
    /// Seconds for the whole upstream HTTP exchange (5.04 after it).
    #[arg(long)]
    upstream_timeout_secs: Option<u64>,
    /// Seconds to connect to the upstream.
    #[arg(long)]
    connect_timeout_secs: Option<u64>,
    /// CMP exchanges in flight at once (5.03 with Max-Age beyond).
    #[arg(long)]
    max_concurrent: Option<usize>,
    /// Preferred CoAP block size in bytes (16, 32, …, 1024).
    #[arg(long)]
    block_size: Option<u16>,
    /// Keep the upstream connection of an unfinished CMP transaction this many seconds
    /// for its next message (0: one connection per exchange, the default).
    #[arg(long)]
    transaction_idle_secs: Option<u64>,
}

/// `[cmp_proxy]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxySection {
    listen: Option<SocketAddr>,
    upstream: Option<String>,
    map_path_suffix: Option<bool>,
    max_message_size: Option<usize>,
    max_response_size: Option<usize>,
    upstream_timeout_secs: Option<u64>,
    connect_timeout_secs: Option<u64>,
    max_concurrent: Option<usize>,
    block_size: Option<u16>,
    transaction_idle_secs: Option<u64>,
    oscore: Option<OscoreSection>,
}

/// `[cmp_proxy.oscore]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OscoreSection {
    /// SQLite file of the sequence-number records.
    sequence_db: PathBuf,
    /// The EEs / RAs.
    #[serde(default)]
    peers: Vec<OscorePeer>,
}

/// `[[cmp_proxy.oscore.peers]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OscorePeer {
    /// The peer's Sender ID (our Recipient ID).
    sender_id: String,
    /// The peer's Recipient ID (our Sender ID).
    recipient_id: String,
    /// Symmetric COSE_Key holding the Master Secret.
    secret_file: PathBuf,
}

/// OSCORE set-up from the file, paths resolved.
#[derive(Debug, PartialEq, Eq)]
struct OscoreSetup {
    /// SQLite file of the sequence-number records.
    sequence_db: PathBuf,
    /// (our Sender ID, our Recipient ID, Master Secret file) per peer.
    peers: Vec<(Vec<u8>, Vec<u8>, PathBuf)>,
}

/// The part of the file this command reads; the other commands' tables are skipped, any
/// other table is an error (see `config.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    cmp_proxy: Option<ProxySection>,
    #[serde(rename = "as")]
    _as: Option<IgnoredAny>,
    #[serde(rename = "rs")]
    _rs: Option<IgnoredAny>,
    #[serde(rename = "client")]
    _client: Option<IgnoredAny>,
    #[serde(rename = "storage")]
    _storage: Option<IgnoredAny>,
    #[serde(rename = "broker")]
    _broker: Option<IgnoredAny>,
}

fn load(path: &Path) -> Result<ProxySection, CliError> {
    let file: File = crate::config::read_toml(path)?;
    file.cmp_proxy
        .ok_or_else(|| CliError::Config(format!("{} has no [cmp_proxy] table", path.display())))
}

/// Checks `[cmp_proxy.oscore]` and resolves its paths against `dir`.
fn oscore_setup(o: OscoreSection, dir: &Path) -> Result<OscoreSetup, CliError> {
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
    if o.peers.is_empty() {
        return Err(CliError::Config(
            "[cmp_proxy.oscore] has no [[cmp_proxy.oscore.peers]]".into(),
        ));
    }
    let mut peers: Vec<(Vec<u8>, Vec<u8>, PathBuf)> = Vec::new();
    for p in o.peers {
        // Requests are matched to a context by its Recipient ID (the peer's Sender ID).
        if peers.iter().any(|(_, r, _)| r == p.sender_id.as_bytes()) {
            return Err(CliError::Config(format!(
                "[cmp_proxy.oscore]: two peers with sender_id {:?}",
                p.sender_id
            )));
        }
        if p.sender_id == p.recipient_id {
            return Err(CliError::Config(format!(
                "[cmp_proxy.oscore]: peer {:?} has the same sender_id and recipient_id",
                p.sender_id
            )));
        }
        peers.push((
            p.recipient_id.into_bytes(),
            p.sender_id.into_bytes(),
            resolve(p.secret_file),
        ));
    }
    Ok(OscoreSetup {
        sequence_db: resolve(o.sequence_db),
        peers,
    })
}

fn secs(name: &str, v: u64) -> Result<Duration, CliError> {
    if v == 0 {
        return Err(CliError::Config(format!("{name} must be at least 1")));
    }
    Ok(Duration::from_secs(v))
}

/// Block size in bytes → SZX (RFC 7959 §2.2: 2^(SZX+4)).
fn szx(size: u16) -> Result<u8, CliError> {
    (0u8..=6)
        .find(|s| 16u16 << s == size)
        .ok_or_else(|| CliError::Config(format!("block_size {size} is not 16, 32, …, 1024")))
}

/// The proxy configuration from the file (if any) and the flags; `upstream` stays the
/// parsed URL, resolved by [`resolve`].
fn merge(args: &ServeArgs) -> Result<(ProxyConfig, UpstreamUrl, Option<OscoreSetup>), CliError> {
    let mut file = match &args.config {
        Some(p) => load(p)?,
        None => ProxySection::default(),
    };
    let dir = args
        .config
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(Path::new(""));
    let oscore = file
        .oscore
        .take()
        .map(|o| oscore_setup(o, dir))
        .transpose()?;
    let url = args.upstream.clone().or(file.upstream).ok_or_else(|| {
        CliError::Usage(
            "no upstream: give --upstream http://HOST:PORT/PATH or `upstream` in [cmp_proxy]"
                .into(),
        )
    })?;
    let url =
        UpstreamUrl::parse(&url).map_err(|e| CliError::Config(format!("upstream {url:?}: {e}")))?;
    let mut c = ProxyConfig {
        upstream_host: Some(url.host_header()),
        upstream_path: url.path.clone(),
        ..ProxyConfig::default()
    };
    if let Some(l) = args.listen.or(file.listen) {
        c.listen = l;
    }
    c.map_path_suffix = !args.no_map_suffix && file.map_path_suffix.unwrap_or(true);
    if let Some(n) = args.max_message_size.or(file.max_message_size) {
        if n == 0 {
            return Err(CliError::Config(
                "max_message_size must be at least 1".into(),
            ));
        }
        c.server.max_message_size = n;
    }
    if let Some(n) = args.max_response_size.or(file.max_response_size) {
        if n == 0 {
            return Err(CliError::Config(
                "max_response_size must be at least 1".into(),
            ));
        }
        c.max_response_size = n;
    }
    if let Some(s) = args.upstream_timeout_secs.or(file.upstream_timeout_secs) {
        c.upstream_timeout = secs("upstream_timeout_secs", s)?;
    }
    if let Some(s) = args.connect_timeout_secs.or(file.connect_timeout_secs) {
        c.connect_timeout = secs("connect_timeout_secs", s)?;
    }
    if let Some(n) = args.max_concurrent.or(file.max_concurrent) {
        if n == 0 {
            return Err(CliError::Config("max_concurrent must be at least 1".into()));
        }
        c.server.max_concurrent = n;
    }
    if let Some(b) = args.block_size.or(file.block_size) {
        c.coap.block_szx = szx(b)?;
    }
    if let Some(t) = args.transaction_idle_secs.or(file.transaction_idle_secs) {
        c.transaction_idle = Duration::from_secs(t);
    }
    // The upstream's own bounds (5.04) end an exchange before the handler deadline (5.03).
    c.server.handler_timeout = c.connect_timeout + c.upstream_timeout + Duration::from_secs(1);
    Ok((c, url, oscore))
}

/// Resolves the upstream host (once, at start) to the address the proxy connects to.
async fn resolve(url: &UpstreamUrl) -> Result<SocketAddr, CliError> {
    let host = url.host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs = tokio::net::lookup_host((host, url.port))
        .await
        .map_err(|e| CliError::Config(format!("cannot resolve upstream host {}: {e}", url.host)))?;
    addrs
        .next()
        .ok_or_else(|| CliError::Config(format!("upstream host {} has no address", url.host)))
}

/// `ace cmp-proxy …`.
pub(crate) async fn run(cmd: CmpProxyCmd) -> Result<(), CliError> {
    match cmd {
        CmpProxyCmd::Serve(args) => serve(&args).await,
    }
}

async fn serve(args: &ServeArgs) -> Result<(), CliError> {
    let (mut config, url, oscore) = merge(args)?;
    config.upstream = resolve(&url).await?;
    let listen = config.listen;
    let target = format!("http://{}{}", url.host_header(), url.path);
    match oscore {
        None => {
            let server = proxy::bind(config.clone())
                .await
                .map_err(|e| bind_err(e, listen))?;
            run_server(server, &config, &target, "").await
        }
        Some(o) => {
            let db = ace_store::SqliteStore::open(&o.sequence_db).map_err(|e| {
                CliError::Runtime(format!("cannot open {}: {e}", o.sequence_db.display()))
            })?;
            let mut set = ContextSet::new();
            for (sender, recipient, secret_file) in &o.peers {
                let secret = keys::read_symmetric(secret_file)?;
                set.insert(persisted_oscore::context(&db, &secret, sender, recipient)?);
            }
            // The layer reserves sequence-number blocks in the file before using them.
            let layer = OscoreLayer::new(set, db.sequence_store());
            let server = proxy::bind_with_security(config.clone(), layer)
                .await
                .map_err(|e| bind_err(e, listen))?;
            let what = format!(" (OSCORE, {} peers)", o.peers.len());
            run_server(server, &config, &target, &what).await
        }
    }
}

/// Maps a bind failure of the proxy to the command's exit codes.
fn bind_err(e: cmp_coap::Error, listen: SocketAddr) -> CliError {
    match e {
        cmp_coap::Error::Io(e) => {
            // ace-coap reports bind failures as text; ask the OS again for the kind.
            match std::net::UdpSocket::bind(listen) {
                Err(k) if k.kind() == std::io::ErrorKind::AddrInUse => {
                    CliError::AddressInUse(format!("address {listen} is already in use"))
                }
                _ => CliError::AddressInUse(format!("cannot bind {listen}: {e}")),
            }
        }
        e => CliError::Config(e.to_string()),
    }
}

/// Serves until ctrl-c, then stops gracefully.
async fn run_server<S>(
    server: CmpServer<S>,
    config: &ProxyConfig,
    target: &str,
    what: &str,
) -> Result<(), CliError>
where
    S: SecurityLayer + Send + 'static,
{
    // Exchanges in flight end within the handler timeout anyway; wait at most 10 s.
    let grace = config.server.handler_timeout.min(SHUTDOWN_GRACE);
    let addr = server
        .local_addr()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let handle = server.handle();
    let drain = server.drain();
    println!("CMP proxy listening on coap://{addr}/.well-known/cmp -> {target}{what}");
    let mut serving = tokio::spawn(server.serve());
    tokio::select! {
        r = &mut serving => {
            // The server stopped on its own: a fatal socket error.
            return match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(CliError::Runtime(e.to_string())),
                Err(e) => Err(CliError::Runtime(e.to_string())),
            };
        }
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                handle.shutdown().await;
                return Err(CliError::Runtime(format!("cannot wait for ctrl-c: {e}")));
            }
        }
    }
    // Graceful: new CMP requests get 5.03 + Max-Age, exchanges in flight get their
    // answers (up to the grace period), then the CoAP shell sends what it has queued and
    // stops.
    let in_flight = drain.in_flight();
    tracing::info!(in_flight, "shutting down");
    if !drain.drain(grace).await {
        tracing::warn!(
            in_flight = drain.in_flight(),
            "exchanges still waiting for the upstream are dropped"
        );
    }
    handle.shutdown().await;
    match tokio::time::timeout(Duration::from_secs(5), serving).await {
        Ok(Ok(Ok(()))) => {
            println!("CMP proxy stopped");
            Ok(())
        }
        Ok(Ok(Err(e))) => Err(CliError::Runtime(e.to_string())),
        Ok(Err(e)) => Err(CliError::Runtime(e.to_string())),
        Err(_) => Err(CliError::Runtime(
            "the CoAP server did not stop within 5 s".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(upstream: &str) -> ServeArgs {
        ServeArgs {
            upstream: Some(upstream.into()),
            ..ServeArgs::default()
        }
    }

    #[test]
    fn flags_override_the_file_and_limits_are_checked() {
        let dir = std::env::temp_dir().join(format!("ace-cmp-proxy-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("p.toml");
        std::fs::write(
            &f,
            "[as]\nanything = 1\n[cmp_proxy]\nlisten = \"127.0.0.1:7000\"\nupstream = \"http://127.0.0.1:9/pkix/\"\nmap_path_suffix = false\nmax_concurrent = 3\nupstream_timeout_secs = 2\nblock_size = 64\ntransaction_idle_secs = 20\n",
        )
        .unwrap();
        let mut a = ServeArgs {
            config: Some(f.clone()),
            ..ServeArgs::default()
        };
        let (c, url, _) = merge(&a).unwrap();
        assert_eq!(c.listen, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(url.path, "/pkix/");
        assert_eq!(c.upstream_path, "/pkix/");
        assert_eq!(c.upstream_host.as_deref(), Some("127.0.0.1:9"));
        assert!(!c.map_path_suffix);
        assert_eq!(c.server.max_concurrent, 3);
        assert_eq!(c.upstream_timeout, Duration::from_secs(2));
        assert_eq!(c.coap.block_szx, 2);
        assert_eq!(c.transaction_idle, Duration::from_secs(20));
        assert!(c.server.handler_timeout > c.upstream_timeout + c.connect_timeout);
        a.max_concurrent = Some(7);
        a.upstream = Some("http://localhost:8/x".into());
        let (c, url, _) = merge(&a).unwrap();
        assert_eq!(c.server.max_concurrent, 7);
        assert_eq!((url.host.as_str(), url.port), ("localhost", 8));

        std::fs::write(&f, "[cmp_proxy]\nupstream = \"http://h/\"\ncolour = 1\n").unwrap();
        let Err(CliError::Config(m)) = merge(&a) else {
            panic!("unknown key accepted")
        };
        assert!(m.contains("colour") && m.contains("p.toml:3"), "{m}");
        std::fs::write(&f, "[other]\n").unwrap();
        assert!(matches!(merge(&a), Err(CliError::Config(_))));
        let _ = std::fs::remove_dir_all(&dir);

        assert!(matches!(
            merge(&ServeArgs::default()),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            merge(&args("https://h/")),
            Err(CliError::Config(_))
        ));
        for bad in [
            ServeArgs {
                block_size: Some(100),
                ..args("http://h/")
            },
            ServeArgs {
                max_concurrent: Some(0),
                ..args("http://h/")
            },
            ServeArgs {
                upstream_timeout_secs: Some(0),
                ..args("http://h/")
            },
            ServeArgs {
                max_message_size: Some(0),
                ..args("http://h/")
            },
        ] {
            assert!(matches!(merge(&bad), Err(CliError::Config(_))), "{bad:?}");
        }
        let (c, _, _) = merge(&ServeArgs {
            block_size: Some(1024),
            no_map_suffix: true,
            max_message_size: Some(100),
            ..args("http://h")
        })
        .unwrap();
        assert_eq!(c.coap.block_szx, 6);
        assert!(!c.map_path_suffix);
        assert_eq!(c.server.max_message_size, 100);
        assert_eq!(c.upstream_path, "/.well-known/cmp");
        assert!(c.transaction_idle.is_zero(), "off by default");
    }

    #[test]
    fn shared_files_and_the_oscore_table() {
        let dir = std::env::temp_dir().join(format!("ace-cmp-proxy-oscore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("shared.toml");
        let a = ServeArgs {
            config: Some(f.clone()),
            ..ServeArgs::default()
        };
        // the tables of `ace as serve` & co. are skipped, whatever they hold
        let proxy = "[cmp_proxy]\nupstream = \"http://127.0.0.1:9/\"\n";
        std::fs::write(
            &f,
            format!("[as]\nissuer = 1\n[rs]\n[client]\n[storage]\npath = \"x\"\n[broker]\n{proxy}"),
        )
        .unwrap();
        let (_, _, oscore) = merge(&a).unwrap();
        assert!(oscore.is_none());
        // a table no command reads is an error that names it
        std::fs::write(&f, format!("{proxy}[cmp_prxy]\n")).unwrap();
        let Err(CliError::Config(m)) = merge(&a) else {
            panic!("unknown table accepted")
        };
        assert!(m.contains("cmp_prxy") && m.contains("shared.toml:3"), "{m}");

        // [cmp_proxy.oscore]: IDs swapped into our view, paths relative to the file
        std::fs::write(
            &f,
            format!(
                "{proxy}[cmp_proxy.oscore]\nsequence_db = \"seq.sqlite\"\n[[cmp_proxy.oscore.peers]]\nsender_id = \"ee1\"\nrecipient_id = \"proxy\"\nsecret_file = \"ee1.key\"\n[[cmp_proxy.oscore.peers]]\nsender_id = \"ee2\"\nrecipient_id = \"proxy\"\nsecret_file = \"/abs/ee2.key\"\n"
            ),
        )
        .unwrap();
        let (_, _, oscore) = merge(&a).unwrap();
        let o = oscore.unwrap();
        assert_eq!(o.sequence_db, dir.join("seq.sqlite"));
        assert_eq!(
            o.peers,
            vec![
                (b"proxy".to_vec(), b"ee1".to_vec(), dir.join("ee1.key")),
                (
                    b"proxy".to_vec(),
                    b"ee2".to_vec(),
                    PathBuf::from("/abs/ee2.key")
                ),
            ]
        );
        for (bad, needle) in [
            (
                "[cmp_proxy.oscore]\nsequence_db = \"s\"\n",
                "no [[cmp_proxy.oscore.peers]]",
            ),
            ("[cmp_proxy.oscore]\npeers = []\n", "sequence_db"),
            (
                "[cmp_proxy.oscore]\nsequence_db = \"s\"\n[[cmp_proxy.oscore.peers]]\nsender_id = \"a\"\nrecipient_id = \"p\"\nsecret_file = \"k\"\n[[cmp_proxy.oscore.peers]]\nsender_id = \"a\"\nrecipient_id = \"q\"\nsecret_file = \"k\"\n",
                "two peers",
            ),
            (
                "[cmp_proxy.oscore]\nsequence_db = \"s\"\n[[cmp_proxy.oscore.peers]]\nsender_id = \"a\"\nrecipient_id = \"a\"\nsecret_file = \"k\"\n",
                "same sender_id",
            ),
            (
                "[cmp_proxy.oscore]\nsequence_db = \"s\"\n[[cmp_proxy.oscore.peers]]\nsender_id = \"a\"\nrecipient_id = \"p\"\nsecret = \"k\"\n",
                "secret",
            ),
        ] {
            std::fs::write(&f, format!("{proxy}{bad}")).unwrap();
            let Err(CliError::Config(m)) = merge(&a) else {
                panic!("accepted: {bad}")
            };
            assert!(m.contains(needle), "{needle}: {m}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
