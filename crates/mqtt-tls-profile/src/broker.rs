//! The tokio + rustls broker shell (feature `broker`).
//!
//! One task per connection: TLS handshake, the exporter value
//! (`export_keying_material(32, "EXPORTER-ACE-MQTT-Sign-Challenge", Some(&[]))`), the sans-IO
//! [`ConnectionAuth`], then a small pub/sub core: `+`/`#`
//! subscriptions, QoS 0, 1 and 2 (PUBREC/PUBREL/PUBCOMP both ways, duplicate QoS 2 PUBLISH
//! not re-delivered, in-flight windows = Receive Maximum each way), retained messages (dropped at min(token expiry, Message Expiry
//! Interval), MQ-121/MQ-T16), keep-alive, topic aliases from the client, session takeover
//! (0x8E), Will on abnormal ends (also after token expiry, MQ-122), a bounded queue per client
//! (overflow → DISCONNECT 0x97), token expiry (DISCONNECT 0x87) and graceful shutdown (0x8B).
//! Session continuation when `max_session_expiry` > 0 (MQ-036: subscriptions and QoS 1/2
//! state kept per Client Identifier, re-authorized with the new token, unacknowledged
//! PUBLISHes resent with DUP); token introspection at the AS ([`crate::introspect`]) when
//! `introspection` is set; at most `max_connections` connections.
//! Outbound topic aliases to clients that announce a Topic Alias Maximum. With
//! [`BrokerConfig::persistence`] (feature `persistence`), sessions with a Session Expiry
//! Interval > 0 and retained messages are kept in a SQLite file and survive a restart.
//! Not yet: shared subscriptions (SUBACK 0x9E), Will Delay.
//! The shell owns the clock ([`BrokerConfig::clock`]) and the RNG.
//!
//! Sockets use `TCP_NODELAY` (no Nagle wait before a CONNACK or an ack); outbound packets are
//! collected in a per-connection buffer and written once per event, so a burst of queued
//! deliveries (at most `DELIVERY_BATCH_BYTES` (64 KiB) at a time) becomes one TLS write.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ace_token::UnixTime;
use mqtt5_protocol::packet::connack::ConnAckPacket;
use mqtt5_protocol::packet::publish::PublishPacket;
use mqtt5_protocol::{Packet, Properties, QoS, ReasonCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::auth::{ConnectionAuth, Outcome, Session, Step, disconnect_for};
use crate::authz::{self, Denial, PublishCheck};
use crate::consts::{EXPORTER_CONTEXT, EXPORTER_LABEL, EXPORTER_LEN, protocol_level, reason};
use crate::error::Error;
use crate::introspect::{IntrospectionConfig, introspect, presented_token};
use crate::token::{AuthConfig, Grant, TokenStore};
use crate::wire;

#[cfg(feature = "persistence")]
mod persist;
#[cfg(not(feature = "persistence"))]
#[path = "broker/persist_off.rs"]
mod persist;

/// Broker configuration.
#[derive(Clone)]
pub struct BrokerConfig {
    /// ACE authentication and token validation.
    pub auth: AuthConfig,
    /// The TLS server configuration (certificate; TLS 1.2 and 1.3).
    pub tls: Arc<rustls::ServerConfig>,
    /// Largest packet accepted.
    pub max_packet_size: usize,
    /// Per-client outbound queue bound; overflow disconnects the client with 0x97.
    pub queue_len: usize,
    /// Receive Maximum announced (inbound QoS 2 exchanges not yet released by PUBREL; one more
    /// → DISCONNECT 0x93), and the cap of the outbound QoS 1/2 window (which is also bounded
    /// by the client's own Receive Maximum).
    pub max_inflight: u16,
    /// Topic Alias Maximum announced to clients.
    pub topic_alias_max: u16,
    /// Time allowed from TCP accept to CONNACK.
    pub connect_timeout: Duration,
    /// Connections served at once; a TCP connection over the limit is closed at accept.
    pub max_connections: usize,
    /// Token introspection at the AS (reference tokens, or all tokens); `None`: local
    /// validation only.
    pub introspection: Option<IntrospectionConfig>,
    /// Longest Session Expiry Interval granted, seconds (RFC 9431 §2.2.4.1: session
    /// continuation MAY be supported, and Brokers SHOULD limit misuse). 0 (default): no
    /// continuation; CONNACK says Session Expiry Interval 0 (MQ-T7). A v3.1.1 Clean Session 0
    /// gets this value.
    pub max_session_expiry: u32,
    /// Most sessions kept for disconnected clients; over it, the one ending first is dropped.
    pub max_sessions: usize,
    /// A SQLite file (created if missing) that keeps the sessions with a Session Expiry
    /// Interval > 0 (subscriptions, queued and unacknowledged QoS 1/2 messages) and the
    /// retained messages across restarts (feature `persistence`; without it, `Some` makes
    /// [`Broker::bind`] fail). `None` (default): in memory only.
    pub persistence: Option<PathBuf>,
    /// The clock (seconds since the epoch) for token expiry.
    pub clock: Arc<dyn Fn() -> UnixTime + Send + Sync>,
}

impl BrokerConfig {
    /// Defaults: 256 KiB packets, 1000 queued messages, 32 in flight, 16 topic aliases,
    /// 10 s to connect, 1024 connections, the system clock.
    #[must_use]
    pub fn new(auth: AuthConfig, tls: Arc<rustls::ServerConfig>) -> Self {
        Self {
            auth,
            tls,
            max_packet_size: wire::DEFAULT_MAX_PACKET_SIZE,
            queue_len: 1000,
            max_inflight: 32,
            topic_alias_max: 16,
            connect_timeout: Duration::from_secs(10),
            max_connections: 1024,
            introspection: None,
            max_session_expiry: 0,
            max_sessions: 10_000,
            persistence: None,
            clock: Arc::new(UnixTime::now),
        }
    }
}

#[derive(Debug, Clone)]
struct Msg {
    topic: String,
    payload: bytes_vec::Payload,
    qos: u8,
    retain: bool,
    properties: Properties,
}

mod bytes_vec {
    /// Message payload (shared by all deliveries).
    pub(super) type Payload = std::sync::Arc<[u8]>;
}

struct Retained {
    msg: Msg,
    expires_at: Option<UnixTime>,
}

struct ClientEntry {
    conn_id: u64,
    tx: mpsc::Sender<Msg>,
    kick: Arc<Kick>,
    subs: Vec<(String, u8)>,
    /// The connection asked to continue the session (Clean Start 0).
    continues: bool,
}

#[derive(Default)]
struct Kick {
    reason: AtomicU8,
    notify: Notify,
}

impl Kick {
    fn kick(&self, code: u8) {
        self.reason.store(code, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

/// The MQTT session state of a disconnected client (RFC 9431 §5: subscriptions, QoS 1/2
/// messages not completely acknowledged or pending, and when the session ends). The token is
/// not part of it: every connection proves possession again.
#[derive(Default)]
struct StoredSession {
    subs: Vec<(String, u8)>,
    /// Outbound QoS 1/2 PUBLISHes sent and not acknowledged (resent with DUP), by packet id.
    unacked: Vec<(u16, Msg)>,
    /// Outbound QoS 2 ids whose PUBREL was sent (PUBREL resent).
    released: Vec<u16>,
    /// Messages not yet sent (queued, or routed while disconnected; QoS 1/2 only).
    pending: VecDeque<Msg>,
    /// Inbound QoS 2 ids received and not yet released.
    inbound_qos2: HashSet<u16>,
    /// The session ends then (`None` while a connection uses it).
    ends_at: Option<Instant>,
}

#[derive(Default)]
struct Hub {
    clients: HashMap<String, ClientEntry>,
    retained: BTreeMap<String, Retained>,
    sessions: HashMap<String, StoredSession>,
}

impl Hub {
    /// Drops ended sessions, then the one ending first while over `max`; returns the
    /// Client Identifiers of the dropped sessions.
    fn purge_sessions(&mut self, now: Instant, max: usize) -> Vec<String> {
        let mut dropped = Vec::new();
        self.sessions.retain(|id, s| {
            let keep = s.ends_at.is_none_or(|e| now < e);
            if !keep {
                dropped.push(id.clone());
            }
            keep
        });
        while self.sessions.len() > max {
            let first = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.ends_at)
                .map(|(k, _)| k.clone());
            match first {
                Some(k) => {
                    self.sessions.remove(&k);
                    dropped.push(k);
                }
                None => break,
            }
        }
        dropped
    }
}

struct Shared {
    config: BrokerConfig,
    hub: Mutex<Hub>,
    store: Mutex<TokenStore>,
    next_id: AtomicU64,
    persist: Option<persist::Persist>,
}

impl Shared {
    fn now(&self) -> UnixTime {
        (self.config.clock)()
    }

    /// [`Hub::purge_sessions`], and the dropped sessions removed from the database.
    fn purge_sessions(&self, hub: &mut Hub) {
        let dropped = hub.purge_sessions(Instant::now(), self.config.max_sessions);
        if let Some(db) = &self.persist {
            for id in dropped {
                db.delete_session(&id);
            }
        }
    }

    /// The wall-clock time of the monotonic `at` (whole seconds, rounded up).
    fn unix_at(&self, at: Instant) -> UnixTime {
        let left = at.saturating_duration_since(Instant::now());
        let secs = left
            .as_secs()
            .saturating_add(u64::from(left.subsec_nanos() > 0));
        self.now().saturating_add(secs)
    }

    /// Before the auth engine sees `packet`: introspects its token at the AS if it needs it
    /// and has no cached result, and caches the answer (see [`crate::introspect`]).
    /// `Err` when the AS could not answer (transport, timeout, HTTP error).
    async fn introspect_if_needed(&self, packet: &Packet) -> Result<(), Error> {
        let Some(ic) = &self.config.introspection else {
            return Ok(());
        };
        let now = self.now();
        let token = {
            let Ok(store) = self.store.lock() else {
                return Ok(());
            };
            let Some(t) = presented_token(packet, &store, now) else {
                return Ok(());
            };
            if store.introspected(&t, now).is_some() {
                return Ok(());
            }
            t
        };
        if !ic.all_tokens {
            // Only tokens that are not a CWT or JWT (reference tokens).
            match self.config.auth.check_token(&token, now) {
                Err(Error::Token(
                    ace_token::Error::Malformed(_) | ace_token::Error::TrailingBytes,
                )) => {}
                _ => return Ok(()),
            }
        }
        match introspect(ic, &token).await {
            Ok(claims) => {
                let now = self.now();
                tracing::debug!(active = claims.is_some(), "introspected a token");
                if let Ok(mut store) = self.store.lock() {
                    let until = now.saturating_add(ic.max_age.as_secs());
                    store.put_introspected(token, claims, until, now);
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "token introspection failed");
                Err(e)
            }
        }
    }

    fn route(&self, msg: &Msg) {
        let Ok(mut hub) = self.hub.lock() else { return };
        if !hub.sessions.is_empty() {
            // Disconnected sessions queue QoS 1/2 messages (bounded; QoS 0 is dropped).
            let max = self.config.queue_len;
            let now = Instant::now();
            for (id, s) in &mut hub.sessions {
                if s.ends_at.is_some_and(|e| now >= e) {
                    continue;
                }
                let qos = s
                    .subs
                    .iter()
                    .filter(|(f, _)| aif::mqtt::topic_matches(f, &msg.topic))
                    .map(|(_, q)| *q)
                    .max();
                if let Some(q) = qos
                    && msg.qos.min(q) > 0
                    && s.pending.len() < max
                {
                    let mut m = msg.clone();
                    m.qos = m.qos.min(q);
                    m.retain = false;
                    if let Some(db) = &self.persist {
                        db.push_pending(id, &m);
                    }
                    s.pending.push_back(m);
                }
            }
        }
        for entry in hub.clients.values() {
            let qos = entry
                .subs
                .iter()
                .filter(|(f, _)| aif::mqtt::topic_matches(f, &msg.topic))
                .map(|(_, q)| *q)
                .max();
            if let Some(q) = qos {
                let mut m = msg.clone();
                m.qos = m.qos.min(q);
                m.retain = false;
                if entry.tx.try_send(m).is_err() {
                    entry.kick.kick(reason::QUOTA_EXCEEDED);
                }
            }
        }
    }

    fn retain(&self, msg: &Msg, grant: &Grant) {
        let Ok(mut hub) = self.hub.lock() else { return };
        if msg.payload.is_empty() {
            hub.retained.remove(&msg.topic);
            if let Some(db) = &self.persist {
                db.delete_retained(&msg.topic);
            }
            return;
        }
        let now = self.now();
        let msg_exp = msg
            .properties
            .get_message_expiry_interval()
            .map(|s| now.saturating_add(u64::from(s)));
        let expires_at = match (grant.expires_at, msg_exp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(db) = &self.persist {
            db.put_retained(msg, expires_at);
        }
        hub.retained.insert(
            msg.topic.clone(),
            Retained {
                msg: msg.clone(),
                expires_at,
            },
        );
    }

    fn retained_for(&self, filter: &str, now: UnixTime) -> Vec<Msg> {
        let Ok(mut hub) = self.hub.lock() else {
            return Vec::new();
        };
        let before = hub.retained.len();
        hub.retained
            .retain(|_, r| r.expires_at.is_none_or(|e| now < e));
        if hub.retained.len() < before
            && let Some(db) = &self.persist
        {
            db.delete_expired_retained(now);
        }
        hub.retained
            .values()
            .filter(|r| aif::mqtt::topic_matches(filter, &r.msg.topic))
            .map(|r| r.msg.clone())
            .collect()
    }
}

/// A cloneable handle that stops a running [`Broker`].
#[derive(Clone, Debug)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    /// Asks the broker and every connection to stop (DISCONNECT 0x8B to v5 clients).
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

/// A bound broker; run it with [`Broker::serve`].
#[must_use]
pub struct Broker {
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

impl Broker {
    /// Binds the TCP listener. The TLS configuration is made to require the TLS 1.2 Extended
    /// Master Secret (`require_ems`, RFC 9431 §2.2.3) if it does not already. With
    /// [`BrokerConfig::persistence`], opens the database and loads the sessions and retained
    /// messages that have not ended.
    ///
    /// # Errors
    /// The bind error; the database error (as [`std::io::ErrorKind::Other`]).
    pub async fn bind(addr: SocketAddr, mut config: BrokerConfig) -> std::io::Result<Self> {
        // RFC 9431 §2.2.3: TLS 1.2 implementations MUST use the Extended Master Secret
        // (RFC 7627); a TLS 1.2 client without it fails the handshake. TLS 1.3 is unaffected.
        if !config.tls.require_ems {
            let mut tls = (*config.tls).clone();
            tls.require_ems = true;
            config.tls = Arc::new(tls);
        }
        let mut hub = Hub::default();
        let persist = match &config.persistence {
            None => None,
            Some(path) => {
                let db = persist::Persist::open(path)
                    .map_err(|e| std::io::Error::other(format!("persistence: {e}")))?;
                let now = (config.clock)();
                let limits = persist::Limits {
                    max_session_expiry: config.max_session_expiry,
                    max_sessions: config.max_sessions,
                    queue_len: config.queue_len,
                    max_packet_size: config.max_packet_size,
                };
                let (retained, sessions) = db
                    .load(now, &limits)
                    .map_err(|e| std::io::Error::other(format!("persistence: {e}")))?;
                for r in retained {
                    hub.retained.insert(
                        r.msg.topic.clone(),
                        Retained {
                            msg: r.msg,
                            expires_at: r.expires_at,
                        },
                    );
                }
                let mono = Instant::now();
                for l in sessions {
                    let mut s = l.session;
                    // `load` bounds `ends_at` by `max_session_expiry`; checked all the same.
                    let left = Duration::from_secs(l.ends_at.0.saturating_sub(now.0));
                    s.ends_at = Some(mono.checked_add(left).unwrap_or(mono));
                    hub.sessions.insert(l.client_id, s);
                }
                tracing::info!(
                    retained = hub.retained.len(),
                    sessions = hub.sessions.len(),
                    "persistence: state loaded"
                );
                Some(db)
            }
        };
        let listener = TcpListener::bind(addr).await?;
        let (shutdown, _) = watch::channel(false);
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                config,
                hub: Mutex::new(hub),
                store: Mutex::new(TokenStore::default()),
                next_id: AtomicU64::new(1),
                persist,
            }),
            shutdown,
        })
    }

    /// The bound address.
    ///
    /// # Errors
    /// The socket error.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle to stop [`Broker::serve`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Accepts connections until shut down, then waits (at most 5 s) for connections to end.
    ///
    /// # Errors
    /// Never for a single failed connection; only if accepting fails persistently.
    pub async fn serve(self) -> std::io::Result<()> {
        let acceptor = TlsAcceptor::from(self.shared.config.tls.clone());
        let mut stop = self.shutdown.subscribe();
        let mut tasks = tokio::task::JoinSet::new();
        let permits = Arc::new(Semaphore::new(self.shared.config.max_connections.max(1)));
        loop {
            tokio::select! {
                r = self.listener.accept() => {
                    // Reap finished connection tasks (the set stays bounded).
                    while tasks.try_join_next().is_some() {}
                    let tcp = match r {
                        Ok((tcp, _)) => tcp,
                        Err(e) => {
                            // E.g. out of file descriptors: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        tracing::debug!("connection limit reached: closing a new connection");
                        drop(tcp);
                        continue;
                    };
                    let shared = self.shared.clone();
                    let acceptor = acceptor.clone();
                    let stop = self.shutdown.subscribe();
                    tasks.spawn(async move {
                        let _permit = permit;
                        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
                        if let Err(e) = connection(shared, acceptor, tcp, id, stop).await {
                            tracing::debug!(conn = id, error = %e, "connection ended");
                        }
                    });
                }
                _ = stop.changed() => break,
            }
        }
        let _ = timeout(Duration::from_secs(5), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        tasks.abort_all();
        Ok(())
    }
}

/// The Session Expiry Interval granted to `session`: what a v5 CONNECT asks for (a v3.1.1
/// Clean Session 0: `max`), capped at `max`.
fn granted_session_expiry(session: &Session, max: u32) -> u32 {
    if max == 0 {
        return 0;
    }
    if session.protocol_version() == protocol_level::V311 {
        return if session.connect.clean_start { 0 } else { max };
    }
    session
        .connect
        .properties
        .get_session_expiry_interval()
        .unwrap_or(0)
        .min(max)
}

/// Outbound bytes collected from the delivery queue before one TLS write.
const DELIVERY_BATCH_BYTES: usize = 64 * 1024;

type Reader = ReadHalf<TlsStream<TcpStream>>;
type Writer = WriteHalf<TlsStream<TcpStream>>;

async fn send(w: &mut Writer, p: &Packet) -> std::io::Result<()> {
    let bytes = wire::encode_to_vec(p).map_err(std::io::Error::other)?;
    w.write_all(&bytes).await?;
    w.flush().await
}

async fn send_raw(w: &mut Writer, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

/// Reads until one packet decodes.
async fn read_packet(
    r: &mut Reader,
    buf: &mut Vec<u8>,
    version: u8,
    max: usize,
) -> Result<Option<Packet>, Error> {
    loop {
        if let Some((p, used)) = wire::decode_packet(buf, version, max)? {
            buf.drain(..used);
            return Ok(Some(p));
        }
        let mut chunk = [0u8; 4096];
        let n = r
            .read(&mut chunk)
            .await
            .map_err(|e| Error::MalformedPacket(e.to_string()))?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// Whether `buf` starts with a complete packet (fixed header and body), without decoding it.
fn frame_ready(buf: &[u8]) -> bool {
    let mut len = 0usize;
    for (i, b) in buf.iter().skip(1).take(4).enumerate() {
        len |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return buf.len() >= 2 + i + len;
        }
    }
    false
}

fn ack(kind: u8, pid: u16, code: u8, version: u8) -> Vec<u8> {
    let [hi, lo] = pid.to_be_bytes();
    if version == protocol_level::V5 && code != reason::SUCCESS {
        vec![kind, 3, hi, lo, code]
    } else {
        vec![kind, 2, hi, lo]
    }
}

struct Conn {
    shared: Arc<Shared>,
    session: Box<Session>,
    auth: ConnectionAuth,
    w: Writer,
    version: u8,
    aliases: HashMap<u16, String>,
    /// Outbound topic aliases (topic → alias), at most the client's Topic Alias Maximum.
    out_aliases: HashMap<String, u16>,
    /// The Topic Alias Maximum of the client's CONNECT (0: no outbound aliases).
    client_alias_max: u16,
    next_pid: u16,
    /// Outbound QoS 1/2 messages not yet completed, by packet id.
    inflight: HashMap<u16, Outbound>,
    /// With a session kept after the connection: the messages of `inflight` entries still
    /// awaiting PUBACK / PUBREC (for retransmission on resume).
    unacked: HashMap<u16, Msg>,
    /// The granted Session Expiry Interval (0: the session ends with the connection).
    session_expiry: u32,
    /// Outbound window: min(our `max_inflight`, the client's Receive Maximum).
    send_window: usize,
    pending: VecDeque<Msg>,
    /// Inbound QoS 2 packet ids received (PUBREC sent) and not yet released by PUBREL.
    inbound_qos2: HashSet<u16>,
    /// Encoded packets not yet written (see [`Conn::flush_out`]).
    out: Vec<u8>,
}

/// State of an outbound QoS 1/2 delivery: the acknowledgement awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outbound {
    /// QoS 1 PUBLISH sent, PUBACK awaited.
    Qos1,
    /// QoS 2 PUBLISH sent, PUBREC awaited.
    Qos2,
    /// PUBREL sent, PUBCOMP awaited.
    Released,
}

/// Why the main loop ended: whether the Will is published.
enum End {
    Normal,
    WithWill,
}

async fn connection(
    shared: Arc<Shared>,
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    conn_id: u64,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let deadline = Instant::now() + shared.config.connect_timeout;
    let io_err = |e: std::io::Error| Error::MalformedPacket(e.to_string());
    // Small packets (CONNACK after the TLS 1.3 tickets, acks) must not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let tls = timeout(shared.config.connect_timeout, acceptor.accept(tcp))
        .await
        .map_err(|_| Error::ProtocolError("TLS handshake timeout"))?
        .map_err(io_err)?;
    let mut exporter = [0u8; EXPORTER_LEN];
    tls.get_ref()
        .1
        .export_keying_material(&mut exporter, EXPORTER_LABEL, Some(EXPORTER_CONTEXT))
        .map_err(|_| Error::ProtocolError("TLS exporter unavailable"))?;
    // A client certificate (if the TLS configuration asks for one) only authenticates the
    // peer; the token decides what it may do (RFC 9431 §2.2.1).
    let client_cert = tls.get_ref().1.peer_certificates().is_some();
    tracing::debug!(conn = conn_id, client_cert, "TLS established");
    let (mut r, mut w) = tokio::io::split(tls);
    let mut auth = ConnectionAuth::new(exporter);
    let mut buf = Vec::new();
    let max = shared.config.max_packet_size;
    let mut rng = ace_crypto::os_rng();

    // Authentication phase: nothing but CONNECT / AUTH / DISCONNECT before CONNACK (MQ-030).
    let session = loop {
        let packet = match timeout(
            deadline.saturating_duration_since(Instant::now()),
            read_packet(&mut r, &mut buf, protocol_level::V5, max),
        )
        .await
        {
            Err(_) | Ok(Ok(None)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Some(p))) => p,
        };
        // Bounded by the connect deadline (and the endpoint's own timeouts). An AS that cannot
        // answer refuses the CONNECT with 0x88 Server unavailable (RFC 9431 §2.4.1: "0x87 or
        // any other applicable reason code").
        let asked = timeout(
            deadline.saturating_duration_since(Instant::now()),
            shared.introspect_if_needed(&packet),
        )
        .await
        .unwrap_or(Err(Error::Timeout("token introspection")));
        if let (Err(error), Packet::Connect(c)) = (asked, &packet) {
            let reply = if c.protocol_version == protocol_level::V5 {
                ConnAckPacket::new(false, ReasonCode::ServerUnavailable)
            } else {
                ConnAckPacket::new_v311(false, ReasonCode::ServerUnavailable)
            };
            let _ = send(&mut w, &Packet::ConnAck(reply)).await;
            let _ = w.shutdown().await;
            return Err(error);
        }
        let now = shared.now();
        let step = {
            let Ok(mut store) = shared.store.lock() else {
                return Ok(());
            };
            auth.handle_packet(&shared.config.auth, &mut store, packet, now, &mut rng)
        };
        match step {
            Step::Auth(Outcome::Continue(p)) => send(&mut w, &p).await.map_err(io_err)?,
            Step::Auth(Outcome::Connected(s)) => break s,
            Step::Auth(
                Outcome::Refused { reply, error } | Outcome::Disconnect { reply, error },
            ) => {
                if let Some(p) = reply {
                    let _ = send(&mut w, &p).await;
                }
                let _ = w.shutdown().await;
                return Err(error);
            }
            Step::Auth(Outcome::Reauthenticated { .. }) | Step::PubSub(_) => {
                return Err(Error::ProtocolError("unexpected state"));
            }
        }
    };
    let version = session.protocol_version();
    tracing::debug!(conn = conn_id, token = ?session.grant.token_id, "connected");

    // Session continuation (RFC 9431 §2.2.4.1, MQ-036): the Session Expiry Interval we grant.
    let session_expiry = granted_session_expiry(&session, shared.config.max_session_expiry);
    let clean = session.connect.clean_start;
    // Register; take over an existing connection with the same Client Identifier (MQ-037).
    let (tx, mut rx) = mpsc::channel(shared.config.queue_len.max(1));
    let kick = Arc::new(Kick::default());
    let resumed = {
        let Ok(mut hub) = shared.hub.lock() else {
            return Ok(());
        };
        shared.purge_sessions(&mut hub);
        let stored = hub.sessions.remove(&session.client_id);
        let old = hub.clients.insert(
            session.client_id.clone(),
            ClientEntry {
                conn_id,
                tx,
                kick: kick.clone(),
                subs: Vec::new(),
                continues: !clean,
            },
        );
        let taken_subs = old.map(|old| {
            old.kick.kick(reason::SESSION_TAKEN_OVER);
            old.subs
        });
        // Clean Start 1 discards the session; 0 resumes it if there is one (a live
        // connection's subscriptions count; its in-flight messages are not carried over).
        let resumed = match (clean, stored, taken_subs) {
            (true, _, _) => None,
            (false, Some(s), _) => Some(s),
            (false, None, Some(subs)) if shared.config.max_session_expiry > 0 => {
                Some(StoredSession {
                    subs,
                    ..StoredSession::default()
                })
            }
            (false, None, _) => None,
        };
        let resumed = resumed.map(|s| {
            // Re-authorize the session state with this connection's token (MQ-036, R15):
            // subscriptions and pending messages outside the new scope are dropped.
            let now = shared.now();
            let grant = &session.grant;
            let mut s = s;
            s.subs
                .retain(|(f, _)| authz::check_subscribe(grant, f, now).is_ok());
            s.pending
                .retain(|m| authz::check_delivery(grant, &m.topic, now).is_ok());
            s.unacked
                .retain(|(_, m)| authz::check_delivery(grant, &m.topic, now).is_ok());
            if let Some(c) = hub.clients.get_mut(&session.client_id) {
                c.subs = s.subs.clone();
            }
            s
        });
        if let Some(db) = &shared.persist {
            // The session in use: after a crash it is kept with its subscriptions.
            if session_expiry > 0 {
                let subs = resumed.as_ref().map_or(&[][..], |s| &s.subs[..]);
                db.save_live(&session.client_id, subs, session_expiry);
            } else {
                db.delete_session(&session.client_id);
            }
        }
        resumed
    };
    let session_present = resumed.is_some();
    let mut connack: ConnAckPacket = session.connack_with_expiry(session_present, session_expiry);
    if version == protocol_level::V5 {
        connack = connack
            .with_receive_maximum(shared.config.max_inflight)
            .with_topic_alias_maximum(shared.config.topic_alias_max)
            .with_retain_available(true)
            .with_wildcard_subscription_available(true)
            .with_subscription_identifier_available(false)
            .with_shared_subscription_available(false)
            .with_maximum_packet_size(u32::try_from(max).unwrap_or(u32::MAX));
    }
    send(&mut w, &Packet::ConnAck(connack))
        .await
        .map_err(io_err)?;

    let keep_alive = session.connect.keep_alive;
    // Maximum QoS is absent from CONNACK: QoS 2 is supported (MQTT v5 §3.2.2.3.4).
    let client_receive_max = if version == protocol_level::V5 {
        session
            .connect
            .properties
            .get_receive_maximum()
            .unwrap_or(u16::MAX)
    } else {
        u16::MAX
    };
    let send_window = usize::from(shared.config.max_inflight.min(client_receive_max).max(1));
    let client_alias_max = if version == protocol_level::V5 {
        session
            .connect
            .properties
            .get_topic_alias_maximum()
            .unwrap_or(0)
    } else {
        0
    };
    let mut conn = Conn {
        shared: shared.clone(),
        session,
        auth,
        w,
        version,
        aliases: HashMap::new(),
        out_aliases: HashMap::new(),
        client_alias_max,
        next_pid: 0,
        inflight: HashMap::new(),
        unacked: HashMap::new(),
        session_expiry,
        send_window,
        pending: VecDeque::new(),
        inbound_qos2: HashSet::new(),
        out: Vec::new(),
    };
    if let Some(s) = resumed {
        // Retransmit (DUP) what was not acknowledged, then send what is pending.
        if conn.resume(s).and_then(|()| conn.refill_now()).is_err() {
            let _ = conn.flush_out().await;
            return Ok(());
        }
        if conn.flush_out().await.is_err() {
            return Ok(());
        }
    }
    let ka = (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500));
    let mut last_rx = Instant::now();
    let end = loop {
        let ka_deadline = ka.map_or(Instant::now() + Duration::from_secs(86_400), |d| {
            last_rx + d
        });
        let exp_in = conn
            .session
            .grant
            .expires_at
            .map_or(Duration::from_secs(86_400), |e| {
                Duration::from_secs(e.0.saturating_sub(shared.now().0).min(86_400))
            });
        tokio::select! {
            p = read_packet(&mut r, &mut buf, version, max) => {
                last_rx = Instant::now();
                match p {
                    Ok(Some(p)) => match conn.on_packet(p, &mut rng).await {
                        // Replies to packets already buffered go out with theirs.
                        Ok(None) => {
                            if !frame_ready(&buf) && conn.flush_out().await.is_err() {
                                break End::WithWill;
                            }
                        }
                        Ok(Some(end)) => break end,
                        Err(_) => break End::WithWill,
                    },
                    Ok(None) => break End::WithWill,
                    Err(e) => {
                        let _ = conn.disconnect(&e).await;
                        break End::WithWill;
                    }
                }
            }
            Some(m) = rx.recv() => {
                // Deliver what is queued (bounded) and write it at once.
                let mut r = conn.deliver(m).await;
                while r.is_ok() && conn.out.len() < DELIVERY_BATCH_BYTES {
                    let Ok(m) = rx.try_recv() else { break };
                    r = conn.deliver(m).await;
                }
                let r = match r {
                    Ok(()) => conn
                        .flush_out()
                        .await
                        .map_err(|e| Error::MalformedPacket(e.to_string())),
                    e => e,
                };
                if let Err(e) = r {
                    let _ = conn.disconnect(&e).await;
                    break End::WithWill;
                }
            }
            () = kick.notify.notified() => {
                let code = kick.reason.load(Ordering::SeqCst);
                let _ = conn.disconnect_code(code).await;
                break End::WithWill;
            }
            () = sleep_until(ka_deadline) => {
                let _ = conn.disconnect_code(reason::KEEP_ALIVE_TIMEOUT).await;
                break End::WithWill;
            }
            () = tokio::time::sleep(exp_in), if conn.session.grant.expires_at.is_some() => {
                if conn.session.grant.is_expired(shared.now()) {
                    // MQ-110/111: expired token → DISCONNECT 0x87, Will still published (MQ-122).
                    let _ = conn.disconnect(&Error::SessionExpired).await;
                    break End::WithWill;
                }
            }
            _ = stop.changed() => {
                let _ = conn.disconnect_code(reason::SERVER_SHUTTING_DOWN).await;
                break End::Normal;
            }
        }
    };
    let _ = conn.flush_out().await;
    let _ = conn.w.shutdown().await;
    if let Ok(mut hub) = shared.hub.lock() {
        let id = conn.session.client_id.clone();
        let ours = hub.clients.get(&id).is_some_and(|c| c.conn_id == conn_id);
        if ours {
            if let Some(entry) = hub.clients.remove(&id)
                && conn.session_expiry > 0
            {
                // Keep the session for Session Expiry Interval seconds (MQ-036).
                let stored = conn.take_session(entry.subs, &mut rx, shared.config.queue_len);
                if let (Some(db), Some(end)) = (&shared.persist, stored.ends_at) {
                    db.save_session(&id, &stored, shared.unix_at(end));
                }
                hub.sessions.insert(id, stored);
                shared.purge_sessions(&mut hub);
            } else if let Some(db) = &shared.persist {
                db.delete_session(&id);
            }
        } else if conn.session_expiry > 0
            && let Some(next) = hub.clients.get(&id)
            && next.continues
        {
            // Taken over by a newer connection of this client: it continues the session, so
            // what this one had not delivered goes to it (checked again at its delivery).
            let stored = conn.take_session(Vec::new(), &mut rx, shared.config.queue_len);
            let rest = stored
                .unacked
                .into_iter()
                .map(|(_, m)| m)
                .chain(stored.pending);
            for m in rest {
                if next.tx.try_send(m).is_err() {
                    break;
                }
            }
        }
    }
    if matches!(end, End::WithWill)
        && let Some(will) = conn.session.connect.will.clone()
    {
        // MQ-122: the Will was authorized at CONNECT and is published even after expiry.
        let msg = Msg {
            topic: will.topic,
            payload: will.payload.into(),
            qos: will.qos as u8,
            retain: will.retain,
            properties: Properties::default(),
        };
        if msg.retain {
            shared.retain(&msg, &conn.session.grant);
        }
        shared.route(&msg);
    }
    Ok(())
}

impl Conn {
    /// The session state to keep after this connection (MQ-036): subscriptions, the
    /// unacknowledged and pending QoS 1/2 messages (with those still queued in `rx`), the
    /// inbound QoS 2 ids; it ends `session_expiry` seconds from now.
    fn take_session(
        &mut self,
        subs: Vec<(String, u8)>,
        rx: &mut mpsc::Receiver<Msg>,
        queue_len: usize,
    ) -> StoredSession {
        let mut pending = std::mem::take(&mut self.pending);
        while let Ok(m) = rx.try_recv() {
            if m.qos > 0 && pending.len() < queue_len {
                pending.push_back(m);
            }
        }
        let mut unacked: Vec<(u16, Msg)> = self.unacked.drain().collect();
        unacked.sort_by_key(|(pid, _)| *pid);
        let released = self
            .inflight
            .iter()
            .filter(|(_, s)| **s == Outbound::Released)
            .map(|(pid, _)| *pid)
            .collect();
        StoredSession {
            subs,
            unacked,
            released,
            pending,
            inbound_qos2: std::mem::take(&mut self.inbound_qos2),
            ends_at: Some(Instant::now() + Duration::from_secs(u64::from(self.session_expiry))),
        }
    }

    /// Stores this connection's subscriptions when its session outlives it.
    fn persist_subs(&self) {
        if self.session_expiry == 0 {
            return;
        }
        if let Some(db) = &self.shared.persist
            && let Ok(hub) = self.shared.hub.lock()
            && let Some(c) = hub.clients.get(&self.session.client_id)
        {
            db.update_subs(&self.session.client_id, &c.subs);
        }
    }

    /// Writes the buffered packets (one TLS write).
    async fn flush_out(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let r = send_raw(&mut self.w, &self.out).await;
        self.out.clear();
        r
    }

    /// Buffers `p` after what is already buffered and writes everything.
    async fn send_now(&mut self, p: &Packet) -> std::io::Result<()> {
        wire::encode_packet(p, &mut self.out).map_err(std::io::Error::other)?;
        self.flush_out().await
    }

    async fn disconnect_code(&mut self, code: u8) -> std::io::Result<()> {
        if self.version == protocol_level::V5 {
            self.out.extend_from_slice(&[0xE0, 2, code, 0]);
        }
        self.flush_out().await
    }

    async fn disconnect(&mut self, e: &Error) -> std::io::Result<()> {
        if self.version == protocol_level::V5 {
            self.send_now(&disconnect_for(e)).await
        } else {
            self.flush_out().await
        }
    }

    fn pid(&mut self) -> u16 {
        loop {
            self.next_pid = self.next_pid.wrapping_add(1).max(1);
            if !self.inflight.contains_key(&self.next_pid) {
                return self.next_pid;
            }
        }
    }

    /// Outbound PUBLISH: re-checks the subscriber's grant at delivery (MQ-092, MQ-110).
    async fn deliver(&mut self, m: Msg) -> Result<(), Error> {
        authz::check_delivery(&self.session.grant, &m.topic, self.shared.now())?;
        if m.qos > 0 && self.inflight.len() >= self.send_window {
            if self.pending.len() >= self.shared.config.queue_len {
                return Err(Error::StoreFull);
            }
            self.pending.push_back(m);
            return Ok(());
        }
        self.write_publish(m)
    }

    /// Buffers an outbound PUBLISH (written by the caller's [`Conn::flush_out`]).
    fn write_publish(&mut self, m: Msg) -> Result<(), Error> {
        self.write_publish_as(m, None)
    }

    /// Buffers an outbound PUBLISH; `resend` = the packet id of a retransmission (DUP = 1).
    fn write_publish_as(&mut self, m: Msg, resend: Option<u16>) -> Result<(), Error> {
        let kept = (self.session_expiry > 0 && m.qos > 0).then(|| m.clone());
        let qos = match m.qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        };
        let mut p = if self.version == protocol_level::V5 {
            let mut p = PublishPacket::new(m.topic, m.payload.to_vec(), qos);
            p.properties = m.properties;
            self.alias_topic(&mut p);
            p
        } else {
            PublishPacket::new_v311(m.topic, m.payload.to_vec(), qos)
        };
        p.retain = m.retain;
        if m.qos > 0 {
            p.dup = resend.is_some();
            let pid = match resend {
                Some(pid) => pid,
                None => self.pid(),
            };
            if let Some(k) = kept {
                self.unacked.insert(pid, k);
            }
            let state = if m.qos == 1 {
                Outbound::Qos1
            } else {
                Outbound::Qos2
            };
            self.inflight.insert(pid, state);
            p.packet_id = Some(pid);
        }
        wire::encode_packet(&Packet::Publish(p), &mut self.out)
    }

    /// Outbound topic alias (MQTT v5 §3.3.2.3.4), if the client announced a Topic Alias
    /// Maximum: a topic seen before goes as its alias with an empty Topic Name; a new one gets
    /// the next alias (topic + alias) while aliases are left; then topics go in full.
    fn alias_topic(&mut self, p: &mut PublishPacket) {
        if self.client_alias_max == 0 {
            return;
        }
        if let Some(&alias) = self.out_aliases.get(&p.topic_name) {
            p.topic_name = String::new();
            p.properties.set_topic_alias(alias);
            return;
        }
        let next = u16::try_from(self.out_aliases.len()).map_or(u16::MAX, |n| n.saturating_add(1));
        if next <= self.client_alias_max {
            self.out_aliases.insert(p.topic_name.clone(), next);
            p.properties.set_topic_alias(next);
        }
    }

    /// Sends queued deliveries while the outbound window has room.
    #[allow(clippy::unused_async)] // keeps the call sites uniform with the other writers
    async fn refill(&mut self) -> Result<(), Error> {
        self.refill_now()
    }

    /// Takes over a resumed session (MQ-036): its inbound QoS 2 ids, a retransmission (DUP)
    /// of every unacknowledged PUBLISH (already re-authorized), PUBREL for released ids, and
    /// the pending messages (checked again when sent).
    fn resume(&mut self, s: StoredSession) -> Result<(), Error> {
        self.inbound_qos2 = s.inbound_qos2;
        self.pending = s.pending;
        for (pid, m) in s.unacked {
            self.write_publish_as(m, Some(pid))?;
            self.next_pid = self.next_pid.max(pid);
        }
        for pid in s.released {
            self.inflight.insert(pid, Outbound::Released);
            self.out
                .extend_from_slice(&ack(0x62, pid, reason::SUCCESS, self.version));
            self.next_pid = self.next_pid.max(pid);
        }
        Ok(())
    }

    /// [`Conn::refill`] without the `async`.
    fn refill_now(&mut self) -> Result<(), Error> {
        while self.inflight.len() < self.send_window {
            let Some(m) = self.pending.pop_front() else {
                break;
            };
            authz::check_delivery(&self.session.grant, &m.topic, self.shared.now())?;
            self.write_publish(m)?;
        }
        Ok(())
    }

    /// Buffers raw packet bytes; the main loop writes them after the event (acks of several
    /// buffered packets go out together).
    #[allow(clippy::unused_async)] // keeps the call sites uniform with the other writers
    async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// Handles one packet after CONNACK; `Some(end)` closes the connection.
    async fn on_packet(
        &mut self,
        p: Packet,
        rng: &mut ace_crypto::OsRng,
    ) -> Result<Option<End>, Error> {
        if matches!(p, Packet::Auth(_)) {
            // An AS that cannot answer: the re-authentication then fails (DISCONNECT 0x87).
            let _ = timeout(
                self.shared.config.connect_timeout,
                self.shared.introspect_if_needed(&p),
            )
            .await;
        }
        let now = self.shared.now();
        let step = {
            let Ok(mut store) = self.shared.store.lock() else {
                return Ok(Some(End::WithWill));
            };
            self.auth
                .handle_packet(&self.shared.config.auth, &mut store, p, now, rng)
        };
        let p = match step {
            Step::PubSub(p) => p,
            Step::Auth(Outcome::Continue(reply)) => {
                self.send_now(&reply)
                    .await
                    .map_err(|e| Error::MalformedPacket(e.to_string()))?;
                return Ok(None);
            }
            Step::Auth(Outcome::Reauthenticated { reply, grant }) => {
                self.session.grant = *grant;
                self.send_now(&reply)
                    .await
                    .map_err(|e| Error::MalformedPacket(e.to_string()))?;
                return Ok(None);
            }
            Step::Auth(Outcome::Disconnect { reply, .. } | Outcome::Refused { reply, .. }) => {
                if let Some(r) = reply {
                    let _ = self.send_now(&r).await;
                }
                return Ok(Some(End::WithWill));
            }
            Step::Auth(Outcome::Connected(_)) => return Ok(Some(End::WithWill)),
        };
        match p {
            Packet::Publish(publish) => self.on_publish(publish, now).await,
            Packet::PubAck(a) => {
                if self.inflight.get(&a.packet_id) == Some(&Outbound::Qos1) {
                    self.inflight.remove(&a.packet_id);
                    self.unacked.remove(&a.packet_id);
                }
                self.refill().await?;
                Ok(None)
            }
            Packet::PubRec(a) => {
                // Outbound QoS 2, step 2: PUBREC → PUBREL (or the end, on a failure code).
                let pid = a.packet_id;
                match self.inflight.get(&pid) {
                    Some(Outbound::Qos2 | Outbound::Released) => {
                        self.unacked.remove(&pid);
                        if u8::from(a.reason_code) >= 0x80 {
                            self.inflight.remove(&pid);
                            self.refill().await?;
                        } else {
                            self.inflight.insert(pid, Outbound::Released);
                            self.write(&ack(0x62, pid, reason::SUCCESS, self.version))
                                .await?;
                        }
                    }
                    _ => {
                        self.write(&ack(
                            0x62,
                            pid,
                            reason::PACKET_IDENTIFIER_NOT_FOUND,
                            self.version,
                        ))
                        .await?;
                    }
                }
                Ok(None)
            }
            Packet::PubComp(c) => {
                if self.inflight.get(&c.packet_id) == Some(&Outbound::Released) {
                    self.inflight.remove(&c.packet_id);
                }
                self.refill().await?;
                Ok(None)
            }
            Packet::PubRel(r) => {
                // Inbound QoS 2, step 3: release the packet id, PUBCOMP.
                let code = if self.inbound_qos2.remove(&r.packet_id) {
                    reason::SUCCESS
                } else {
                    reason::PACKET_IDENTIFIER_NOT_FOUND
                };
                self.write(&ack(0x70, r.packet_id, code, self.version))
                    .await?;
                Ok(None)
            }
            Packet::Subscribe(s) => {
                let mut codes = Vec::new();
                let mut retained = Vec::new();
                for f in &s.filters {
                    let code = match authz::check_subscribe(&self.session.grant, &f.filter, now) {
                        Err(e) => authz::suback_failure(&e, self.version),
                        Ok(()) if f.filter.starts_with("$share/") => {
                            reason::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
                        }
                        Ok(()) => {
                            let q = f.options.qos as u8;
                            if let Ok(mut hub) = self.shared.hub.lock()
                                && let Some(c) = hub.clients.get_mut(&self.session.client_id)
                            {
                                let is_new = !c.subs.iter().any(|(x, _)| x == &f.filter);
                                c.subs.retain(|(x, _)| x != &f.filter);
                                c.subs.push((f.filter.clone(), q));
                                let rh = f.options.retain_handling as u8;
                                if rh == 0 || (rh == 1 && is_new) {
                                    retained.push((f.filter.clone(), q));
                                }
                            }
                            q
                        }
                    };
                    codes.push(code);
                }
                self.persist_subs();
                let [hi, lo] = s.packet_id.to_be_bytes();
                let mut body = vec![hi, lo];
                if self.version == protocol_level::V5 {
                    body.push(0);
                }
                body.extend_from_slice(&codes);
                let mut out = vec![0x90];
                mqtt5_protocol::encoding::encode_variable_int(
                    &mut out,
                    u32::try_from(body.len()).unwrap_or(0),
                )
                .map_err(|e| Error::MalformedPacket(e.to_string()))?;
                out.extend_from_slice(&body);
                self.write(&out).await?;
                for (filter, q) in retained {
                    for mut m in self.shared.retained_for(&filter, now) {
                        m.qos = m.qos.min(q);
                        m.retain = true;
                        self.deliver(m).await?;
                    }
                }
                Ok(None)
            }
            Packet::Unsubscribe(u) => {
                let mut codes = Vec::new();
                if let Ok(mut hub) = self.shared.hub.lock()
                    && let Some(c) = hub.clients.get_mut(&self.session.client_id)
                {
                    for f in &u.filters {
                        let before = c.subs.len();
                        c.subs.retain(|(x, _)| x != f);
                        codes.push(if c.subs.len() < before {
                            reason::SUCCESS
                        } else {
                            reason::NO_SUBSCRIPTION_EXISTED
                        });
                    }
                }
                self.persist_subs();
                let [hi, lo] = u.packet_id.to_be_bytes();
                let mut out = vec![0xB0];
                if self.version == protocol_level::V5 {
                    let mut body = vec![hi, lo, 0];
                    body.extend_from_slice(&codes);
                    mqtt5_protocol::encoding::encode_variable_int(
                        &mut out,
                        u32::try_from(body.len()).unwrap_or(0),
                    )
                    .map_err(|e| Error::MalformedPacket(e.to_string()))?;
                    out.extend_from_slice(&body);
                } else {
                    out.extend_from_slice(&[2, hi, lo]);
                }
                self.write(&out).await?;
                Ok(None)
            }
            Packet::PingReq => {
                if self.session.grant.is_expired(now) {
                    let _ = self.disconnect(&Error::SessionExpired).await;
                    return Ok(Some(End::WithWill));
                }
                self.write(&[0xD0, 0]).await?;
                Ok(None)
            }
            Packet::Disconnect(d) => {
                // MQTT v5 §3.14.2.2.2: DISCONNECT may change a non-zero Session Expiry
                // Interval (still capped by ours).
                if self.session_expiry > 0
                    && let Some(sei) = d.properties.get_session_expiry_interval()
                {
                    self.session_expiry = sei.min(self.shared.config.max_session_expiry);
                }
                Ok(Some(
                    if u8::from(d.reason_code) == reason::DISCONNECT_WITH_WILL {
                        End::WithWill
                    } else {
                        End::Normal
                    },
                ))
            }
            _ => {
                let _ = self
                    .disconnect(&Error::ProtocolError("unexpected packet"))
                    .await;
                Ok(Some(End::WithWill))
            }
        }
    }

    async fn on_publish(
        &mut self,
        mut p: PublishPacket,
        now: UnixTime,
    ) -> Result<Option<End>, Error> {
        let qos = p.qos as u8;
        let pid = p.packet_id.unwrap_or(0);
        if qos == 2 && self.inbound_qos2.contains(&pid) {
            // A retransmission (DUP) of a QoS 2 PUBLISH already answered with PUBREC: not
            // routed again (MQTT v5 §4.3.3), PUBREC repeated.
            self.write(&ack(0x50, pid, reason::SUCCESS, self.version))
                .await?;
            return Ok(None);
        }
        if qos == 2 && self.inbound_qos2.len() >= usize::from(self.shared.config.max_inflight) {
            // More unreleased QoS 2 PUBLISHes than our Receive Maximum (MQTT v5 §3.3.4).
            self.disconnect_code(reason::RECEIVE_MAXIMUM_EXCEEDED)
                .await
                .ok();
            return Ok(Some(End::WithWill));
        }
        // Topic alias first, then authorization (MQ-T12, R6).
        if let Some(alias) = p.properties.get_topic_alias() {
            if alias == 0 || alias > self.shared.config.topic_alias_max {
                self.disconnect_code(reason::TOPIC_ALIAS_INVALID).await.ok();
                return Ok(Some(End::WithWill));
            }
            if p.topic_name.is_empty() {
                match self.aliases.get(&alias) {
                    Some(t) => p.topic_name = t.clone(),
                    None => {
                        self.disconnect_code(reason::PROTOCOL_ERROR).await.ok();
                        return Ok(Some(End::WithWill));
                    }
                }
            } else {
                self.aliases.insert(alias, p.topic_name.clone());
            }
            p.properties.remove_topic_alias();
        }
        // PUBACK for QoS 1, PUBREC for QoS 2 (RFC 9431 §2.2.2, §5).
        let ack_kind = if qos == 2 { 0x50 } else { 0x40 };
        match authz::check_publish(&self.session.grant, &p.topic_name, qos, self.version, now) {
            PublishCheck::Allow => {
                let msg = Msg {
                    topic: p.topic_name,
                    payload: p.payload.to_vec().into(),
                    qos,
                    retain: p.retain,
                    properties: p.properties,
                };
                if msg.retain {
                    self.shared.retain(&msg, &self.session.grant);
                }
                self.shared.route(&msg);
                if qos > 0 {
                    if qos == 2 {
                        self.inbound_qos2.insert(pid);
                    }
                    self.write(&ack(ack_kind, pid, reason::SUCCESS, self.version))
                        .await?;
                }
                Ok(None)
            }
            PublishCheck::TokenUpload => {
                // Never routed or retained (R7); the answer describes the token (MQ-023).
                let result = {
                    let Ok(mut store) = self.shared.store.lock() else {
                        return Ok(Some(End::WithWill));
                    };
                    self.shared.config.auth.upload(&mut store, &p.payload, now)
                };
                match (result, qos) {
                    (Ok(()), 0) => {}
                    (Ok(()), _) => {
                        if qos == 2 {
                            self.inbound_qos2.insert(pid);
                        }
                        self.write(&ack(ack_kind, pid, reason::SUCCESS, self.version))
                            .await?;
                    }
                    (Err(e), 1 | 2) => {
                        self.write(&ack(ack_kind, pid, e.reason_code(), self.version))
                            .await?;
                    }
                    (Err(e), _) => {
                        if self.version == protocol_level::V5 {
                            let _ = self.disconnect(&e).await;
                            return Ok(Some(End::WithWill));
                        }
                    }
                }
                Ok(None)
            }
            PublishCheck::Deny(Denial::Ack(code)) => {
                // A failure PUBREC ends the QoS 2 exchange: the id is not kept.
                self.write(&ack(ack_kind, pid, code, self.version)).await?;
                Ok(None)
            }
            PublishCheck::Deny(Denial::Disconnect(code)) => {
                let _ = self.disconnect_code(code).await;
                Ok(Some(End::WithWill))
            }
            PublishCheck::Deny(_) => Ok(Some(End::WithWill)),
        }
    }
}
