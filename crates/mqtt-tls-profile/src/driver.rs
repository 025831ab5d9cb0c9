//! A tokio + rustls MQTT v5 client connection for the profile (feature `client`).
//!
//! [`MqttClient::connect`] opens TLS, takes a token from its [`TokenSource`] and proves
//! possession with the method of [`ClientOptions::pop`]: the TLS exporter in CONNECT
//! (RFC 9431 §2.2.4.2.1) or the Broker's AUTH challenge (§2.2.4.2.2). Then
//! [`MqttClient::subscribe`], [`MqttClient::publish`] (QoS 0, 1, 2) and [`MqttClient::recv`]
//! (incoming QoS 1/2 are acknowledged, duplicates of an unreleased QoS 2 id dropped). Before the
//! token expires (`expires_at` − [`ClientOptions::reauth_margin`]) the client fetches a new
//! token from the source and re-authenticates on the live connection with AUTH 0x19 →
//! challenge → AUTH 0x00 (§4), while waiting for any packet; [`MqttClient::reauthenticate`]
//! does it on demand. Packets are built and parsed by [`crate::client`] and [`crate::wire`];
//! this module only moves bytes, keeps packet ids and timers. Never logs tokens or keys.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ace_token::UnixTime;
use mqtt5_protocol::packet::publish::PublishPacket;
use mqtt5_protocol::packet::subscribe::SubscribePacket;
use mqtt5_protocol::{Packet, PropertyId, PropertyValue, QoS, ReasonCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::client;
use crate::consts::{
    CLIENT_NONCE_LEN, EXPORTER_CONTEXT, EXPORTER_LABEL, EXPORTER_LEN, protocol_level, reason,
};
use crate::error::{Error, Result};
use crate::token_source::{Credentials, TokenSource};
use crate::wire;

/// How the client proves possession of the token's key at CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopChoice {
    /// MAC / signature over the TLS exporter value in CONNECT (RFC 9431 §2.2.4.2.1).
    Exporter,
    /// Broker challenge, client response in AUTH (RFC 9431 §2.2.4.2.2).
    Challenge,
}

/// Connection options.
#[derive(Clone)]
pub struct ClientOptions {
    /// Client Identifier.
    pub client_id: String,
    /// Keep Alive in seconds (0: off); PINGREQ after that long without sending.
    pub keep_alive: u16,
    /// PoP method at CONNECT.
    pub pop: PopChoice,
    /// The TLS client configuration (trust anchors for the broker's certificate).
    pub tls: Arc<rustls::ClientConfig>,
    /// The name the broker's certificate must carry.
    pub server_name: String,
    /// Clean Start (RFC 9431 §2.2.4.1: clients SHOULD start clean; 0 asks for the session).
    pub clean_start: bool,
    /// Session Expiry Interval sent in CONNECT (seconds; 0: the session ends with the
    /// connection).
    pub session_expiry: u32,
    /// Send the token in CONNECT (default). `false` sends the method only, for a broker that
    /// keeps the token from an earlier connection of this Client Identifier (RFC 9431
    /// §2.2.4.2.2, MQ-051); the proof is then the challenge, whatever [`Self::pop`] says.
    pub send_token: bool,
    /// Re-authenticate this long before the token's `expires_at`.
    pub reauth_margin: Duration,
    /// Bound on connect, handshake and every awaited answer.
    pub timeout: Duration,
    /// Largest packet accepted from the broker.
    pub max_packet_size: usize,
}

impl core::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("client_id", &self.client_id)
            .field("pop", &self.pop)
            .field("clean_start", &self.clean_start)
            .field("session_expiry", &self.session_expiry)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Options for `client_id` at `server_name`: exporter PoP, keep alive 60 s, clean start,
    /// no session expiry, token sent, re-authentication 30 s before expiry, 10 s timeouts,
    /// 256 KiB packets.
    #[must_use]
    pub fn new(
        client_id: impl Into<String>,
        server_name: impl Into<String>,
        tls: Arc<rustls::ClientConfig>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            keep_alive: 60,
            pop: PopChoice::Exporter,
            tls,
            server_name: server_name.into(),
            clean_start: true,
            session_expiry: 0,
            send_token: true,
            reauth_margin: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            max_packet_size: wire::DEFAULT_MAX_PACKET_SIZE,
        }
    }
}

/// A rustls client configuration (ring, TLS 1.2 + 1.3) trusting only `roots` (DER); the
/// same as [`crate::https::client_tls`].
///
/// # Errors
/// [`Error::Transport`] for an unusable certificate.
pub fn tls_config(roots: &[Vec<u8>]) -> Result<Arc<rustls::ClientConfig>> {
    crate::https::client_tls(roots)
}

/// An application message received from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic Name.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// QoS of the delivery.
    pub qos: u8,
    /// RETAIN flag (a retained message sent at subscription).
    pub retain: bool,
}

/// A connected client.
pub struct MqttClient<S: TokenSource> {
    tls: TlsStream<TcpStream>,
    buf: Vec<u8>,
    opts: ClientOptions,
    source: S,
    creds: Credentials,
    next_pid: u16,
    inbox: VecDeque<Message>,
    /// Inbound QoS 2 ids answered with PUBREC and not yet released.
    unreleased: HashSet<u16>,
    session_present: bool,
    last_send: Instant,
    reauths: u32,
    /// No automatic re-authentication before this (a source that keeps returning a token
    /// about to expire cannot make the client loop).
    no_reauth_before: Instant,
}

impl<S: TokenSource> core::fmt::Debug for MqttClient<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MqttClient")
            .field("opts", &self.opts)
            .field("session_present", &self.session_present)
            .field("reauths", &self.reauths)
            .finish_non_exhaustive()
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Transport(e.to_string())
}

fn client_nonce() -> [u8; CLIENT_NONCE_LEN] {
    let mut n = [0u8; CLIENT_NONCE_LEN];
    ace_crypto::Rng::fill_bytes(&mut ace_crypto::os_rng(), &mut n);
    n
}

fn is_auth(p: &Packet, code: ReasonCode) -> bool {
    matches!(p, Packet::Auth(a) if a.reason_code == code)
}

impl<S: TokenSource> MqttClient<S> {
    /// Connects to `addr`: TLS, a token from `source`, CONNECT with the PoP of `opts.pop`
    /// (answering the challenge if one comes), CONNACK.
    ///
    /// # Errors
    /// [`Error::Refused`] with the CONNACK reason code; [`Error::Transport`],
    /// [`Error::Timeout`]; the source's error.
    pub async fn connect(addr: SocketAddr, opts: ClientOptions, mut source: S) -> Result<Self> {
        let creds = source.fetch().await?;
        let t = opts.timeout;
        let tcp = timeout(t, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Timeout("connect"))?
            .map_err(io)?;
        let _ = tcp.set_nodelay(true);
        let name = rustls::pki_types::ServerName::try_from(opts.server_name.clone())
            .map_err(|e| Error::Transport(format!("server name: {e}")))?;
        let tls = timeout(t, TlsConnector::from(opts.tls.clone()).connect(name, tcp))
            .await
            .map_err(|_| Error::Timeout("TLS handshake"))?
            .map_err(io)?;
        let mut exporter = [0u8; EXPORTER_LEN];
        tls.get_ref()
            .1
            .export_keying_material(&mut exporter, EXPORTER_LABEL, Some(EXPORTER_CONTEXT))
            .map_err(|e| Error::Transport(format!("TLS exporter: {e}")))?;
        let mut connect = match (opts.send_token, opts.pop) {
            (false, _) => client::connect_for_challenge(&opts.client_id, opts.keep_alive, None)?,
            (true, PopChoice::Challenge) => {
                client::connect_for_challenge(&opts.client_id, opts.keep_alive, Some(&creds.token))?
            }
            (true, PopChoice::Exporter) => client::connect_with_exporter_pop(
                &opts.client_id,
                opts.keep_alive,
                &creds.token,
                &creds.key,
                &exporter,
            )?,
        };
        connect.clean_start = opts.clean_start;
        if opts.session_expiry > 0 {
            // safe: the type matches the identifier, and it is added once.
            let _ = connect.properties.add(
                PropertyId::SessionExpiryInterval,
                PropertyValue::FourByteInteger(opts.session_expiry),
            );
        }
        let mut c = Self {
            tls,
            buf: Vec::new(),
            opts,
            source,
            creds,
            next_pid: 0,
            inbox: VecDeque::new(),
            unreleased: HashSet::new(),
            session_present: false,
            last_send: Instant::now(),
            reauths: 0,
            no_reauth_before: Instant::now(),
        };
        c.send(&Packet::Connect(Box::new(connect))).await?;
        let deadline = Instant::now() + c.opts.timeout;
        loop {
            let p = c.read_until(deadline).await?;
            match p {
                Packet::Auth(_) if is_auth(&p, ReasonCode::ContinueAuthentication) => {
                    let answer = client::answer_challenge(&p, &client_nonce(), &c.creds.key)?;
                    c.send(&answer).await?;
                }
                Packet::ConnAck(a) => {
                    let code = u8::from(a.reason_code);
                    if code != reason::SUCCESS {
                        return Err(Error::Refused(code));
                    }
                    c.session_present = a.session_present;
                    tracing::debug!(client = %c.opts.client_id, session_present = a.session_present, "connected");
                    return Ok(c);
                }
                Packet::Disconnect(d) => return Err(Error::Refused(u8::from(d.reason_code))),
                _ => return Err(Error::ProtocolError("unexpected packet before CONNACK")),
            }
        }
    }

    /// Whether the broker resumed a session (CONNACK Session Present).
    #[must_use]
    pub fn session_present(&self) -> bool {
        self.session_present
    }

    /// How many re-authentications succeeded on this connection.
    #[must_use]
    pub fn reauthentications(&self) -> u32 {
        self.reauths
    }

    /// When the current token expires, if known.
    #[must_use]
    pub fn token_expires_at(&self) -> Option<UnixTime> {
        self.creds.expires_at
    }

    async fn send(&mut self, p: &Packet) -> Result<()> {
        let bytes = wire::encode_to_vec(p)?;
        timeout(self.opts.timeout, async {
            self.tls.write_all(&bytes).await?;
            self.tls.flush().await
        })
        .await
        .map_err(|_| Error::Timeout("write"))?
        .map_err(io)?;
        self.last_send = Instant::now();
        Ok(())
    }

    fn pid(&mut self) -> u16 {
        self.next_pid = self.next_pid.wrapping_add(1).max(1);
        self.next_pid
    }

    /// One packet, read before `deadline` (cancel-safe: bytes land in `buf` only after a read
    /// completed).
    async fn read_until(&mut self, deadline: Instant) -> Result<Packet> {
        loop {
            if let Some((p, used)) =
                wire::decode_packet(&self.buf, protocol_level::V5, self.opts.max_packet_size)?
            {
                self.buf.drain(..used);
                return Ok(p);
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout_at(deadline, self.tls.read(&mut chunk))
                .await
                .map_err(|_| Error::Timeout("waiting for the broker"))?
                .map_err(io)?;
            if n == 0 {
                return Err(Error::Transport("connection closed by the broker".into()));
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    /// When to re-authenticate, as an `Instant`.
    fn reauth_at(&self) -> Option<Instant> {
        let exp = self.creds.expires_at?;
        let now = UnixTime::now();
        let left = Duration::from_secs(exp.0.saturating_sub(now.0));
        Some(
            (Instant::now() + left.saturating_sub(self.opts.reauth_margin))
                .max(self.no_reauth_before),
        )
    }

    /// Handles what the broker may send at any time; returns other packets.
    async fn dispatch(&mut self, p: Packet) -> Result<Option<Packet>> {
        match p {
            Packet::Publish(m) => {
                let qos = m.qos as u8;
                let pid = m.packet_id.unwrap_or(0);
                let fresh = match qos {
                    1 => {
                        self.send(&Packet::PubAck(
                            mqtt5_protocol::packet::puback::PubAckPacket::new(pid),
                        ))
                        .await?;
                        true
                    }
                    2 => {
                        let fresh = self.unreleased.insert(pid);
                        self.send(&Packet::PubRec(
                            mqtt5_protocol::packet::pubrec::PubRecPacket::new(pid),
                        ))
                        .await?;
                        fresh
                    }
                    _ => true,
                };
                if fresh {
                    self.inbox.push_back(Message {
                        topic: m.topic_name,
                        payload: m.payload.to_vec(),
                        qos,
                        retain: m.retain,
                    });
                }
                Ok(None)
            }
            Packet::PubRel(r) => {
                self.unreleased.remove(&r.packet_id);
                self.send(&Packet::PubComp(
                    mqtt5_protocol::packet::pubcomp::PubCompPacket::new(r.packet_id),
                ))
                .await?;
                Ok(None)
            }
            Packet::PingResp => Ok(None),
            Packet::Disconnect(d) => Err(Error::Refused(u8::from(d.reason_code))),
            other => Ok(Some(other)),
        }
    }

    /// The next packet that is not handled by [`Self::dispatch`] (`Some`), or `None` after a
    /// handled one (a message may be in the inbox), within `limit` (`None`: no limit),
    /// re-authenticating when due and pinging when idle.
    async fn next(&mut self, limit: Option<Duration>) -> Result<Option<Packet>> {
        let deadline = limit.map(|l| Instant::now() + l);
        loop {
            if let Some(at) = self.reauth_at()
                && Instant::now() >= at
            {
                self.reauthenticate().await?;
                continue;
            }
            let ping_at = (self.opts.keep_alive > 0).then(|| {
                self.last_send + Duration::from_secs(u64::from(self.opts.keep_alive)) * 3 / 4
            });
            let far = Instant::now() + Duration::from_secs(86_400);
            let wake = [deadline, self.reauth_at(), ping_at]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(far);
            match self.read_until(wake).await {
                Ok(p) => return self.dispatch(p).await,
                Err(Error::Timeout(_)) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(Error::Timeout("waiting for the broker"));
                    }
                    if ping_at.is_some_and(|p| Instant::now() >= p) {
                        self.send(&Packet::PingReq).await?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Subscribes to `filter`; returns the granted QoS.
    ///
    /// # Errors
    /// [`Error::Refused`] with the SUBACK failure code (e.g. 0x87 outside the scope).
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<u8> {
        let pid = self.pid();
        let s = SubscribePacket::new(pid).add_filter(filter, qos);
        self.send(&Packet::Subscribe(s)).await?;
        loop {
            if let Some(Packet::SubAck(a)) = self.next(Some(self.opts.timeout)).await?
                && a.packet_id == pid
            {
                let code = a
                    .reason_codes
                    .first()
                    .map_or(reason::UNSPECIFIED_ERROR, |c| *c as u8);
                return if code >= 0x80 {
                    Err(Error::Refused(code))
                } else {
                    Ok(code)
                };
            }
        }
    }

    /// Publishes; QoS 1 waits for PUBACK, QoS 2 for PUBREC, then PUBREL → PUBCOMP.
    ///
    /// # Errors
    /// [`Error::Refused`] with a failure PUBACK / PUBREC code (0x87 outside the scope), or
    /// the DISCONNECT code when the broker closes (QoS 0 outside the scope).
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<()> {
        let mut p = PublishPacket::new(topic.to_owned(), payload.to_vec(), qos);
        p.retain = retain;
        let pid = (qos != QoS::AtMostOnce).then(|| self.pid());
        p.packet_id = pid;
        self.send(&Packet::Publish(p)).await?;
        let Some(pid) = pid else { return Ok(()) };
        loop {
            match self.next(Some(self.opts.timeout)).await? {
                Some(Packet::PubAck(a)) if a.packet_id == pid => {
                    let code = u8::from(a.reason_code);
                    return if code >= 0x80 {
                        Err(Error::Refused(code))
                    } else {
                        Ok(())
                    };
                }
                Some(Packet::PubRec(r)) if r.packet_id == pid => {
                    let code = u8::from(r.reason_code);
                    if code >= 0x80 {
                        return Err(Error::Refused(code));
                    }
                    self.send(&Packet::PubRel(
                        mqtt5_protocol::packet::pubrel::PubRelPacket::new(pid),
                    ))
                    .await?;
                }
                Some(Packet::PubComp(c)) if c.packet_id == pid => return Ok(()),
                _ => {}
            }
        }
    }

    /// The next message, waiting at most `limit` (`None`: until one comes or the connection
    /// ends; re-authentication and keep-alive go on meanwhile).
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Refused`] with the DISCONNECT code (e.g. 0x87 when the
    /// token expired); [`Error::Transport`].
    pub async fn recv(&mut self, limit: Option<Duration>) -> Result<Message> {
        let deadline = limit.map(|l| Instant::now() + l);
        loop {
            if let Some(m) = self.inbox.pop_front() {
                return Ok(m);
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            // Anything that is neither a message nor handled is ignored here.
            let _ = self.next(left).await?;
        }
    }

    /// Fetches a new token from the source and re-authenticates (RFC 9431 §4): AUTH 0x19
    /// with `len ‖ token`, the Broker's challenge, our answer, AUTH 0x00.
    ///
    /// # Errors
    /// The source's error; [`Error::Refused`] with the DISCONNECT code (0x87) when the broker
    /// refuses; [`Error::Timeout`].
    pub async fn reauthenticate(&mut self) -> Result<()> {
        let creds = self.source.fetch().await?;
        self.send(&client::reauthenticate(&creds.token)?).await?;
        let deadline = Instant::now() + self.opts.timeout;
        loop {
            let p = self.read_until(deadline).await?;
            let Some(p) = self.dispatch(p).await? else {
                continue;
            };
            if is_auth(&p, ReasonCode::ContinueAuthentication) {
                let answer = client::answer_challenge(&p, &client_nonce(), &creds.key)?;
                self.send(&answer).await?;
            } else if is_auth(&p, ReasonCode::Success) {
                self.creds = creds;
                self.reauths = self.reauths.saturating_add(1);
                self.no_reauth_before = Instant::now() + Duration::from_secs(1);
                tracing::debug!(client = %self.opts.client_id, "re-authenticated");
                return Ok(());
            } else {
                return Err(Error::ProtocolError(
                    "unexpected packet during re-authentication",
                ));
            }
        }
    }

    /// Sends DISCONNECT 0x00 and closes TLS.
    ///
    /// # Errors
    /// [`Error::Transport`] / [`Error::Timeout`] while writing.
    pub async fn disconnect(mut self) -> Result<()> {
        let d = mqtt5_protocol::packet::disconnect::DisconnectPacket::new(ReasonCode::Success);
        self.send(&Packet::Disconnect(d)).await?;
        let _ = timeout(self.opts.timeout, self.tls.shutdown()).await;
        Ok(())
    }
}
