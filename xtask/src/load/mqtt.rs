//! `cargo xtask load mqtt`: one load generator (raw MQTT v5 over TLS, tokio + rustls/ring)
//! against (a) our broker with ACE (in this process, on its own tokio runtime) and (b) Debian's
//! `mosquitto` (child process, TLS, anonymous, no authorization). Both use the same rcgen
//! server certificate.
//!
//! Scenarios per target, each measured for `--secs` seconds:
//! * connect rate: `CONNECT_WORKERS` loops of TCP connect → full TLS handshake (no resumption)
//!   → CONNECT (ours: `len ‖ token ‖ PoP(exporter)`, mosquitto: no credentials) → CONNACK 0x00
//!   → DISCONNECT; completed CONNACKs per second;
//! * publish throughput, QoS 0 and QoS 1: `--clients` publishers and as many subscribers;
//!   subscriber *i* subscribes to `load/i` and publisher *i* publishes 64-byte messages to
//!   `load/i`. A publisher keeps at most `E2E_WINDOW` messages that its subscriber has not
//!   received yet (end-to-end flow control, so no broker queue overflows) and, at QoS 1, at
//!   most `QOS1_WINDOW` PUBLISHes without PUBACK. Subscribers PUBACK every QoS 1 delivery.
//!   Counted: PUBLISH packets delivered to subscribers per second.
//!
//! Every connection, wait and child process is bounded by a timeout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ace_crypto::{CryptoBackend as _, KeyType, PrivateKey};
use ace_token::{
    AceProfile, Algorithm, ClaimsBuilder, Confirmation, Issuer, KeySet, Policy, PopKey, RustCrypto,
    Scope, TokenKey, UnixTime, Validator,
};
use aif::MqttAif;
use anyhow::{Context, Result, anyhow, bail, ensure};
use indicatif::{ProgressBar, ProgressStyle};
use mqtt_tls_profile::AuthConfig;
use mqtt_tls_profile::broker::{Broker, BrokerConfig};
use mqtt_tls_profile::consts::{EXPORTER_CONTEXT, EXPORTER_LABEL};
use mqtt_tls_profile::pop::ClientKey;
use mqtt_tls_profile::{client, wire};
use mqtt5_protocol::packet::connect::ConnectPacket;
use mqtt5_protocol::packet::publish::PublishPacket;
use mqtt5_protocol::packet::subscribe::SubscribePacket;
use mqtt5_protocol::{Packet, Properties, QoS};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::Options;
use super::mosquitto::{self, Mosquitto};

/// Payload bytes per PUBLISH.
const PAYLOAD_LEN: usize = 64;
/// Messages a publisher may have outstanding towards its subscriber.
const E2E_WINDOW: u64 = 64;
/// QoS 1 PUBLISHes a publisher may have without PUBACK (also capped by the broker's Receive
/// Maximum; mosquitto announces 20, ours 32).
const QOS1_WINDOW: u64 = 16;
/// Concurrent connect loops in the connect-rate scenario.
const CONNECT_WORKERS: usize = 8;
/// Concurrent connection set-ups before a throughput scenario.
const SETUP_CONCURRENCY: usize = 16;
/// Not counted: the first part of each throughput scenario.
const WARMUP: Duration = Duration::from_millis(500);
/// Bound on every single network wait.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on connecting and subscribing all clients of a scenario.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on stopping a scenario's tasks.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Token audience (= our broker).
const AUDIENCE: &str = "load-broker";
/// The scope of every load token.
const SCOPE: &str = r#"[["load/#",["pub","sub"]]]"#;
/// Keep Alive in CONNECT (longer than any run).
const KEEP_ALIVE: u16 = 300;

type Tls = TlsStream<TcpStream>;

// ---------------------------------------------------------------------------------------------
// Set-up: temp dir, PKI, ACE tokens

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let p = std::env::temp_dir().join(format!("ace-load-mqtt-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).with_context(|| format!("mkdir {}", p.display()))?;
        Ok(Self(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA and a `localhost`/`127.0.0.1` server certificate signed by it (rcgen, ECDSA P-256).
struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    leaf_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
    key_pem: String,
}

fn pki() -> Result<Pki> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ace-rs load CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate()?)?;
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = rcgen::KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
    Ok(Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        leaf_pem: leaf.pem(),
        chain: vec![leaf.der().clone()],
        key_der: leaf_key.serialize_der(),
        key_pem: leaf_key.serialize_pem(),
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_tls(pki: &Pki) -> Result<Arc<rustls::ServerConfig>> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key_der.clone()));
    Ok(Arc::new(
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(pki.chain.clone(), key)?,
    ))
}

/// The generator's TLS client: trusts only the load CA, never resumes (every connect is a full
/// handshake, for both targets).
fn connector(pki: &Pki) -> Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone())?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.resumption = rustls::client::Resumption::disabled();
    Ok(TlsConnector::from(Arc::new(cfg)))
}

/// One client's ACE credentials: its own token and PoP key.
struct Cred {
    token: Vec<u8>,
    key: ClientKey,
}

/// An AS key (ES256, fresh), the broker's token validation config, and `n` tokens: CWT
/// (COSE_Sign1 ES256) with `cnf` = a fresh Ed25519 key per client, scope `load/#` pub+sub.
fn ace(n: usize) -> Result<(AuthConfig, Vec<Cred>)> {
    let mut rng = ace_crypto::os_rng();
    let as_key = PrivateKey::generate(KeyType::P256, &mut rng);
    let as_pub = RustCrypto
        .public_key(&as_key)
        .map_err(|e| anyhow!("AS key: {e}"))?;
    let keys = KeySet::new().with(TokenKey::public(as_pub).with_kid(*b"as-load"));
    let validator = Validator::new(Policy::new(AUDIENCE).with_issuer("as"));
    let auth = AuthConfig::new(validator, Arc::new(keys));
    let scope = MqttAif::from_json(SCOPE.as_bytes()).map_err(|e| anyhow!("scope: {e}"))?;
    let scope = scope.to_cbor().map_err(|e| anyhow!("scope: {e}"))?;
    let exp = UnixTime::now().saturating_add(3600);
    let mut creds = Vec::with_capacity(n);
    for i in 0..n {
        let sk = PrivateKey::generate(KeyType::Ed25519, &mut rng);
        let pk = RustCrypto
            .public_key(&sk)
            .map_err(|e| anyhow!("client key: {e}"))?;
        let claims = ClaimsBuilder::new()
            .issuer("as")
            .audience(AUDIENCE)
            .expiration(exp)
            .cti(format!("load-{i}").into_bytes())
            .cnf(Confirmation::cose_key(PopKey::public(pk)))
            .scope(Scope::Binary(scope.clone()))
            .ace_profile(AceProfile::MQTT_TLS)
            .build();
        let token = Issuer::new(&RustCrypto)
            .sign1(&claims, Algorithm::ES256, &as_key, Some(b"as-load"))
            .map_err(|e| anyhow!("token: {e}"))?;
        creds.push(Cred {
            token,
            key: ClientKey::Private(sk),
        });
    }
    Ok((auth, creds))
}

// ---------------------------------------------------------------------------------------------
// Connections

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    connector: TlsConnector,
    /// `Some` = our broker: ACE CONNECT with exporter PoP.
    creds: Option<Arc<Vec<Cred>>>,
}

struct Conn {
    tls: Tls,
    buf: Vec<u8>,
    /// The broker's Receive Maximum (65535 if absent).
    receive_max: u16,
}

/// TCP + TLS + CONNECT (+ exporter PoP with credential `cred`) → CONNACK 0x00.
async fn open(t: &Target, client_id: &str, cred: usize) -> Result<Conn> {
    let tcp = timeout(IO_TIMEOUT, TcpStream::connect(t.addr))
        .await
        .context("TCP connect timed out")??;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost")?;
    let mut tls = timeout(IO_TIMEOUT, t.connector.connect(name, tcp))
        .await
        .context("TLS handshake timed out")?
        .context("TLS handshake")?;
    let connect = match &t.creds {
        Some(creds) => {
            let c = creds
                .get(cred % creds.len().max(1))
                .context("no credentials")?;
            let mut exporter = [0u8; 32];
            tls.get_ref().1.export_keying_material(
                &mut exporter,
                EXPORTER_LABEL,
                Some(EXPORTER_CONTEXT),
            )?;
            client::connect_with_exporter_pop(client_id, KEEP_ALIVE, &c.token, &c.key, &exporter)?
        }
        None => ConnectPacket {
            protocol_version: 5,
            clean_start: true,
            keep_alive: KEEP_ALIVE,
            client_id: client_id.to_owned(),
            username: None,
            password: None,
            will: None,
            properties: Properties::default(),
            will_properties: Properties::default(),
        },
    };
    let bytes = wire::encode_to_vec(&Packet::Connect(Box::new(connect)))?;
    timeout(IO_TIMEOUT, tls.write_all(&bytes))
        .await
        .context("CONNECT write timed out")??;
    let mut buf = Vec::new();
    let p = timeout(IO_TIMEOUT, read_packet(&mut tls, &mut buf))
        .await
        .context("no CONNACK")??;
    let Packet::ConnAck(a) = p else {
        bail!("expected CONNACK, got {p:?}");
    };
    let code = u8::from(a.reason_code);
    ensure!(code == 0, "CONNACK 0x{code:02x} for {client_id}");
    Ok(Conn {
        tls,
        buf,
        receive_max: a.properties.get_receive_maximum().unwrap_or(u16::MAX),
    })
}

/// Reads one whole packet (set-up only; the hot paths parse frames themselves).
async fn read_packet(tls: &mut Tls, buf: &mut Vec<u8>) -> Result<Packet> {
    loop {
        if let Some((p, n)) = wire::decode_packet(buf, 5, 1 << 20)? {
            buf.drain(..n);
            return Ok(p);
        }
        let mut chunk = [0u8; 4096];
        let n = tls.read(&mut chunk).await?;
        ensure!(n > 0, "connection closed");
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// DISCONNECT 0x00 and TLS close_notify, bounded; errors ignored.
async fn close(mut tls: Tls) {
    let _ = timeout(Duration::from_secs(2), async {
        tls.write_all(&[0xE0, 0]).await?;
        tls.shutdown().await
    })
    .await;
}

async fn subscribe(c: &mut Conn, topic: &str, qos: u8) -> Result<()> {
    let s = SubscribePacket::new(1).add_filter(topic, QoS::from(qos));
    let bytes = wire::encode_to_vec(&Packet::Subscribe(s))?;
    timeout(IO_TIMEOUT, c.tls.write_all(&bytes))
        .await
        .context("SUBSCRIBE write timed out")??;
    let p = timeout(IO_TIMEOUT, read_packet(&mut c.tls, &mut c.buf))
        .await
        .context("no SUBACK")??;
    let Packet::SubAck(a) = p else {
        bail!("expected SUBACK, got {p:?}");
    };
    let code = a.reason_codes.first().map(|c| *c as u8);
    ensure!(code == Some(qos), "SUBACK {code:?} for {topic}");
    Ok(())
}

/// Calls `f(first byte, body)` for each complete packet at the front of `buf`; returns the
/// bytes used.
fn frames(buf: &[u8], mut f: impl FnMut(u8, &[u8]) -> Result<()>) -> Result<usize> {
    let mut pos = 0;
    loop {
        let rest = buf.get(pos..).unwrap_or_default();
        let Some(&first) = rest.first() else {
            return Ok(pos);
        };
        let mut len = 0usize;
        let mut hl = 1;
        loop {
            let Some(&b) = rest.get(hl) else {
                return Ok(pos);
            };
            len |= usize::from(b & 0x7F) << (7 * (hl - 1));
            hl += 1;
            if b & 0x80 == 0 {
                break;
            }
            ensure!(hl <= 4, "bad remaining length");
        }
        let Some(body) = rest.get(hl..hl + len) else {
            return Ok(pos);
        };
        f(first, body)?;
        pos += hl + len;
    }
}

/// A server DISCONNECT seen by the generator is an error of the run.
fn check_not_disconnect(first: u8, body: &[u8]) -> Result<()> {
    if first >> 4 == 14 {
        bail!(
            "broker sent DISCONNECT 0x{:02x}",
            body.first().copied().unwrap_or(0)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scenarios

fn bar(label: &str, secs: u64) -> ProgressBar {
    let pb = ProgressBar::new(secs * 10);
    pb.set_style(
        ProgressStyle::with_template("{prefix:<34} [{bar:30}] {elapsed:>3} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(label.to_owned());
    pb
}

/// Completed TLS + CONNECT (+ PoP) → CONNACK per second.
async fn connect_rate(t: &Target, o: Options, label: &str) -> Result<f64> {
    let pb = bar(&format!("{label}: connect"), o.secs);
    let workers = CONNECT_WORKERS.min(o.clients);
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.secs);
    let mut set = JoinSet::new();
    for w in 0..workers {
        let (t, count) = (t.clone(), count.clone());
        set.spawn(async move {
            let id = format!("conn-{w}");
            while Instant::now() < deadline {
                let c = open(&t, &id, w).await?;
                close(c.tls).await;
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    let progress = async {
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let e = started.elapsed().as_secs_f64();
            pb.set_position((e * 10.0) as u64);
            pb.set_message(format!(
                "{:.0} connects/s",
                count.load(Ordering::Relaxed) as f64 / e
            ));
        }
    };
    let joined = async {
        let mut first_err = None;
        while let Some(r) = set.join_next().await {
            if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r) {
                first_err.get_or_insert(e);
            }
        }
        first_err
    };
    let (_, err) = tokio::join!(
        progress,
        timeout(Duration::from_secs(o.secs) + STOP_TIMEOUT, joined)
    );
    let elapsed = started.elapsed().as_secs_f64();
    match err {
        Err(_) => bail!("{label}: connect workers did not stop in time"),
        Ok(Some(e)) => return Err(e.context(format!("{label}: connect scenario"))),
        Ok(None) => {}
    }
    let rate = count.load(Ordering::Relaxed) as f64 / elapsed;
    pb.finish_with_message(format!(
        "{rate:.0} connects/s ({} in {elapsed:.1} s, {workers} workers)",
        count.load(Ordering::Relaxed)
    ));
    Ok(rate)
}

/// One publisher/subscriber pair's shared state.
#[derive(Default)]
struct Pair {
    delivered: AtomicU64,
    notify: Notify,
}

/// Connects `n` subscribers (subscribed to `load/i` at `qos`) and then `n` publishers.
async fn open_all(t: &Target, n: usize, qos: u8) -> Result<(Vec<Conn>, Vec<Conn>)> {
    let sem = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut set = JoinSet::new();
    for i in 0..n {
        let (t, sem) = (t.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let mut c = open(&t, &format!("sub-{i}"), i).await?;
            subscribe(&mut c, &format!("load/{i}"), qos).await?;
            Ok::<_, anyhow::Error>((i, c))
        });
    }
    let subs = collect(&mut set, n).await.context("subscribers")?;
    for i in 0..n {
        let (t, sem) = (t.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let c = open(&t, &format!("pub-{i}"), n + i).await?;
            Ok::<_, anyhow::Error>((i, c))
        });
    }
    let pubs = collect(&mut set, n).await.context("publishers")?;
    Ok((subs, pubs))
}

async fn collect(set: &mut JoinSet<Result<(usize, Conn)>>, n: usize) -> Result<Vec<Conn>> {
    let mut out: Vec<Option<Conn>> = (0..n).map(|_| None).collect();
    let all = async {
        while let Some(r) = set.join_next().await {
            let (i, c) = r??;
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(c);
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    timeout(SETUP_TIMEOUT, all)
        .await
        .context("connection set-up timed out")??;
    out.into_iter()
        .map(|c| c.context("missing connection"))
        .collect()
}

/// The encoded PUBLISH for `topic` and the offset of its packet id (QoS 1).
fn publish_template(topic: &str, qos: u8) -> Result<(Vec<u8>, Option<usize>)> {
    let mut p = PublishPacket::new(topic, vec![0xA5; PAYLOAD_LEN], QoS::from(qos));
    if qos > 0 {
        p.packet_id = Some(1);
    }
    let bytes = wire::encode_to_vec(&Packet::Publish(p))?;
    let varint_len = bytes
        .iter()
        .skip(1)
        .position(|b| b & 0x80 == 0)
        .context("PUBLISH header")?
        + 1;
    let pid_at = (qos > 0).then_some(1 + varint_len + 2 + topic.len());
    Ok((bytes, pid_at))
}

async fn subscriber(
    mut c: Conn,
    pair: Arc<Pair>,
    total: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut acks = Vec::new();
    loop {
        let mut n = 0u64;
        let used = frames(&c.buf, |first, body| {
            if first >> 4 == 3 {
                n += 1;
                if (first >> 1) & 3 > 0 {
                    let tlen = usize::from(u16::from_be_bytes([
                        body.first().copied().unwrap_or(0),
                        body.get(1).copied().unwrap_or(0),
                    ]));
                    let pid = body.get(2 + tlen..4 + tlen).context("PUBLISH packet id")?;
                    acks.extend_from_slice(&[0x40, 2]);
                    acks.extend_from_slice(pid);
                }
                Ok(())
            } else {
                check_not_disconnect(first, body)
            }
        })?;
        c.buf.drain(..used);
        if n > 0 {
            pair.delivered.fetch_add(n, Ordering::AcqRel);
            total.fetch_add(n, Ordering::Relaxed);
            pair.notify.notify_one();
        }
        if !acks.is_empty() {
            c.tls.write_all(&acks).await?;
            acks.clear();
        }
        tokio::select! {
            r = c.tls.read(&mut chunk) => {
                let n = r?;
                ensure!(n > 0, "subscriber connection closed by the broker");
                c.buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            _ = stop.changed() => break,
        }
    }
    close(c.tls).await;
    Ok(())
}

async fn publisher(
    mut c: Conn,
    topic: String,
    qos: u8,
    pair: Arc<Pair>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let (template, pid_at) = publish_template(&topic, qos)?;
    let ack_window = QOS1_WINDOW.min(u64::from(c.receive_max)).max(1);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut out = Vec::with_capacity(template.len() * E2E_WINDOW as usize);
    let (mut sent, mut acked, mut pid) = (0u64, 0u64, 0u16);
    loop {
        if *stop.borrow() {
            break;
        }
        let outstanding = sent - pair.delivered.load(Ordering::Acquire).min(sent);
        let mut room = E2E_WINDOW.saturating_sub(outstanding);
        if qos > 0 {
            room = room.min(ack_window.saturating_sub(sent - acked));
        }
        if room > 0 {
            out.clear();
            for _ in 0..room {
                let start = out.len();
                out.extend_from_slice(&template);
                if let Some(at) = pid_at {
                    pid = pid.wrapping_add(1).max(1);
                    if let Some(b) = out.get_mut(start + at..start + at + 2) {
                        b.copy_from_slice(&pid.to_be_bytes());
                    }
                }
            }
            timeout(IO_TIMEOUT, async {
                c.tls.write_all(&out).await?;
                c.tls.flush().await
            })
            .await
            .context("publisher write timed out")??;
            sent += room;
            continue;
        }
        tokio::select! {
            r = c.tls.read(&mut chunk) => {
                let n = r?;
                ensure!(n > 0, "publisher connection closed by the broker");
                c.buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                let used = frames(&c.buf, |first, body| {
                    if first >> 4 == 4 {
                        if let Some(&code) = body.get(2) {
                            ensure!(code < 0x80, "PUBACK 0x{code:02x}");
                        }
                        acked += 1;
                        Ok(())
                    } else {
                        check_not_disconnect(first, body)
                    }
                })?;
                c.buf.drain(..used);
            }
            () = pair.notify.notified() => {}
            _ = stop.changed() => {}
        }
    }
    close(c.tls).await;
    Ok(())
}

/// Messages delivered to subscribers per second with `o.clients` publisher/subscriber pairs.
async fn throughput(t: &Target, o: Options, qos: u8, label: &str) -> Result<f64> {
    let pb = bar(&format!("{label}: QoS {qos} publish"), o.secs);
    pb.set_message(format!("connecting {} clients", 2 * o.clients));
    let (subs, pubs) = open_all(t, o.clients, qos).await?;
    let total = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let first_err: Arc<Mutex<Option<anyhow::Error>>> = Arc::default();
    let mut set = JoinSet::new();
    for (i, (s, p)) in subs.into_iter().zip(pubs).enumerate() {
        let pair = Arc::new(Pair::default());
        let tasks: [std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send>>; 2] = [
            Box::pin(subscriber(s, pair.clone(), total.clone(), stop_rx.clone())),
            Box::pin(publisher(
                p,
                format!("load/{i}"),
                qos,
                pair,
                stop_rx.clone(),
            )),
        ];
        for task in tasks {
            let (stop_rx, first_err) = (stop_rx.clone(), first_err.clone());
            set.spawn(async move {
                if let Err(e) = task.await
                    && !*stop_rx.borrow()
                    && let Ok(mut slot) = first_err.lock()
                {
                    slot.get_or_insert(e);
                }
            });
        }
    }
    pb.set_message("warming up");
    tokio::time::sleep(WARMUP).await;
    let c0 = total.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let measure = Duration::from_secs(o.secs);
    while t0.elapsed() < measure {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let e = t0.elapsed().as_secs_f64();
        pb.set_position((e * 10.0) as u64);
        pb.set_message(format!(
            "{:.0} msgs/s",
            (total.load(Ordering::Relaxed) - c0) as f64 / e
        ));
        if first_err.lock().is_ok_and(|e| e.is_some()) {
            break;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let delivered = total.load(Ordering::Relaxed) - c0;
    let _ = stop_tx.send(true);
    let stopped = timeout(STOP_TIMEOUT, async {
        while set.join_next().await.is_some() {}
    })
    .await;
    set.abort_all();
    if let Some(e) = first_err.lock().ok().and_then(|mut e| e.take()) {
        pb.abandon_with_message("failed");
        return Err(e.context(format!("{label}: QoS {qos} scenario")));
    }
    ensure!(
        stopped.is_ok(),
        "{label}: QoS {qos} tasks did not stop in time"
    );
    let rate = delivered as f64 / elapsed;
    pb.finish_with_message(format!(
        "{rate:.0} msgs/s ({delivered} delivered in {elapsed:.1} s)"
    ));
    Ok(rate)
}

/// Results for one target.
struct Numbers {
    connects: f64,
    qos0: f64,
    qos1: f64,
    tls: String,
}

async fn scenarios(t: &Target, o: Options, label: &str) -> Result<Numbers> {
    // One probe connection: which TLS version and suite the target negotiates.
    let probe = open(t, "probe", 0)
        .await
        .context(format!("{label}: probe"))?;
    let tls = {
        let s = probe.tls.get_ref().1;
        format!(
            "{:?} {:?}",
            s.protocol_version()
                .map_or_else(|| "?".to_owned(), |v| format!("{v:?}")),
            s.negotiated_cipher_suite()
                .map_or_else(|| "?".to_owned(), |c| format!("{:?}", c.suite()))
        )
        .replace('"', "")
    };
    close(probe.tls).await;
    Ok(Numbers {
        connects: connect_rate(t, o, label).await?,
        qos0: throughput(t, o, 0, label).await?,
        qos1: throughput(t, o, 1, label).await?,
        tls,
    })
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn runtime(name: &str) -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()?)
}

/// Runs both targets and prints the comparison.
pub(super) fn run(o: Options, mosquitto_bin: &Path) -> Result<()> {
    let started = Instant::now();
    let version = mosquitto::version(mosquitto_bin);
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "==> load mqtt: {} publishers + {} subscribers, {PAYLOAD_LEN}-byte payloads, {} s per \
         scenario, loopback, {cores} CPU cores shared by the generator and the broker{}",
        o.clients,
        o.clients,
        o.secs,
        if cfg!(debug_assertions) {
            " (DEBUG build: numbers not meaningful)"
        } else {
            ""
        }
    );
    let dir = TempDir::new()?;
    let pki = pki()?;
    std::fs::write(dir.0.join("ca.pem"), &pki.ca_pem)?;
    std::fs::write(dir.0.join("server.pem"), &pki.leaf_pem)?;
    std::fs::write(dir.0.join("server.key"), &pki.key_pem)?;
    let (auth, creds) = ace(2 * o.clients)?;
    let connector = connector(&pki)?;
    let gen_rt = runtime("load-gen")?;

    // (a) Our broker, in this process on its own 2-worker runtime.
    let broker_rt = runtime("ace-broker")?;
    let mut cfg = BrokerConfig::new(auth, server_tls(&pki)?);
    cfg.connect_timeout = IO_TIMEOUT;
    let broker = broker_rt.block_on(Broker::bind("127.0.0.1:0".parse()?, cfg))?;
    let ours_target = Target {
        addr: broker.local_addr()?,
        connector: connector.clone(),
        creds: Some(Arc::new(creds)),
    };
    let stop = broker.shutdown_handle();
    let serving = broker_rt.spawn(broker.serve());
    let ours = gen_rt.block_on(scenarios(&ours_target, o, "ours (ACE)"));
    stop.shutdown();
    let _ = broker_rt.block_on(async { timeout(Duration::from_secs(8), serving).await });
    broker_rt.shutdown_timeout(Duration::from_secs(2));
    let ours = ours?;

    // (b) mosquitto as shipped (Nagle on), (c) with `set_tcp_nodelay true`; child processes.
    let mut mosq = Vec::new();
    for nodelay in [false, true] {
        let label = if nodelay {
            "mosquitto nodelay"
        } else {
            "mosquitto"
        };
        mosq.push(mosquitto_run(
            mosquitto_bin,
            &dir.0,
            &gen_rt,
            &connector,
            o,
            nodelay,
            label,
        )?);
    }
    gen_rt.shutdown_timeout(Duration::from_secs(2));
    let [plain, nodelay] = [&mosq[0], &mosq[1]];

    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    println!();
    println!(
        "{:<34} {:>11} {:>11} {:>11} {:>10} {:>10}",
        "scenario (per second)", "ours (ACE)", "mosquitto", "mosq nodel", "ours/mosq", "ours/nodel"
    );
    for (name, a, b, c) in [
        (
            "connects (TLS+CONNECT→CONNACK)",
            ours.connects,
            plain.connects,
            nodelay.connects,
        ),
        ("QoS 0 msgs delivered", ours.qos0, plain.qos0, nodelay.qos0),
        ("QoS 1 msgs delivered", ours.qos1, plain.qos1, nodelay.qos1),
    ] {
        println!(
            "{name:<34} {a:>11.0} {b:>11.0} {c:>11.0} {:>9.2}× {:>9.2}×",
            ratio(a, b),
            ratio(a, c)
        );
    }
    println!();
    println!(
        "ours:       TLS {} + ACE CWT (ES256 AS signature) + Ed25519 exporter PoP, own token per client",
        ours.tls
    );
    println!(
        "mosquitto:  {version}, TLS {}, allow_anonymous true, no authorization, defaults \
         (Nagle on); `mosq nodel` = same + set_tcp_nodelay true",
        plain.tls
    );
    println!(
        "generator:  {E2E_WINDOW} undelivered msgs per publisher, QoS 1 at most {QOS1_WINDOW} \
         un-PUBACKed; {CONNECT_WORKERS} concurrent connect loops; no TLS resumption; total {:.0?}",
        started.elapsed()
    );
    let worst = [plain, nodelay]
        .iter()
        .flat_map(|m| [ratio(ours.qos0, m.qos0), ratio(ours.qos1, m.qos1)])
        .fold(f64::INFINITY, f64::min);
    println!(
        "goal (ours ≥ 1.0× mosquitto publish throughput, QoS 0 and 1, both configs): {} \
         (lowest ratio {worst:.2}×)",
        if worst >= 1.0 { "met" } else { "NOT met" }
    );
    Ok(())
}

/// Starts mosquitto on a free port, runs the scenarios against it, stops it.
fn mosquitto_run(
    bin: &Path,
    dir: &Path,
    rt: &tokio::runtime::Runtime,
    connector: &TlsConnector,
    o: Options,
    nodelay: bool,
    label: &str,
) -> Result<Numbers> {
    let port = free_port()?;
    let mut mosq = Mosquitto::start(bin, dir, port, nodelay)?;
    let target = Target {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        connector: connector.clone(),
        creds: None,
    };
    let numbers = rt.block_on(scenarios(&target, o, label));
    let alive = mosq.running();
    let log = mosq.log_text();
    drop(mosq);
    let numbers = numbers.with_context(|| format!("{label} log: {log}"))?;
    ensure!(alive, "{label} exited during the run: {log}");
    Ok(numbers)
}
