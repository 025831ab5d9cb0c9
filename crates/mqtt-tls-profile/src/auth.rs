//! The per-connection ACE authentication state machine (sans-IO).
//!
//! ```text
//!            CONNECT (v5, method "ace", len‖token‖PoP)  ── PoP over exporter ──► Connected
//!  Await  ── CONNECT (v5, method "ace", len‖token)      ── AUTH 0x18 nonce ──► Challenge
//!  Connect   CONNECT (v5, method "ace", no data, token remembered for the client id) ─┘
//!            CONNECT (v3.1.1, user "ace"+b64url(token), password = PoP) ───────► Connected
//!            CONNECT (v5, no method, anonymous allowed) ────────────────────────► Connected
//!  Challenge ── AUTH 0x18 (client nonce[8] ‖ PoP over RS nonce‖client nonce) ──► Connected
//!  Connected ── AUTH 0x19 (len‖token) ── AUTH 0x18 nonce ── AUTH 0x18 response ── AUTH 0x00
//! ```
//!
//! Inputs are decoded packets, the 32-byte exporter value of this TLS session (given at
//! construction), `now` and an RNG for the RS nonce. Outputs are [`Outcome`]s: the packet to
//! send and what the shell does next. The machine never reads a clock or a socket.
//!
//! Security notes:
//! * The RS nonce is fresh from the caller's CSPRNG for every challenge and single use: the
//!   state holding it is consumed by the response (MQ-054).
//! * The exporter value binds the CONNECT proof to this TLS session, so a CONNECT captured on
//!   one session fails on another (R2). The exporter method is refused for re-authentication
//!   on the same session (MQ-113).
//! * Before CONNACK nothing but AUTH and DISCONNECT is processed (MQ-030, R5): anything else
//!   ends the connection with CONNACK 0x82.
//! * Failing CONNACKs carry `ace_as_hint` only with 0x87 (R14).

use ace_crypto::CryptoRng;
use ace_token::UnixTime;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mqtt5_protocol::packet::auth::AuthPacket;
use mqtt5_protocol::packet::connack::ConnAckPacket;
use mqtt5_protocol::packet::connect::ConnectPacket;
use mqtt5_protocol::packet::disconnect::DisconnectPacket;
use mqtt5_protocol::{Packet, PropertyId, PropertyValue, ReasonCode};

use crate::consts::{
    AS_HINT_PROPERTY, AUTH_METHOD, AUTHZ_INFO_TOPIC, CLIENT_NONCE_LEN, EXPORTER_LEN, RS_NONCE_LEN,
    V311_USERNAME_PREFIX, protocol_level, reason,
};
use crate::error::{Error, Result};
use crate::pop;
use crate::token::{AuthConfig, CheckedToken, Grant, PopMethod, TokenStore};

/// An authenticated connection: the CONNECT as received and the grant.
#[derive(Debug, Clone)]
pub struct Session {
    /// The CONNECT packet (client id, keep alive, Will, properties).
    pub connect: Box<ConnectPacket>,
    /// The Client Identifier in use (assigned by the broker if the CONNECT had none).
    pub client_id: String,
    /// Whether the broker assigned `client_id` (sent back in CONNACK for v5).
    pub assigned_client_id: bool,
    /// What the connection may do.
    pub grant: Grant,
}

impl Session {
    /// The protocol level (4 or 5).
    #[must_use]
    pub fn protocol_version(&self) -> u8 {
        self.connect.protocol_version
    }

    /// The success CONNACK (MQ-083): Session Present as given; for v5 also Session Expiry
    /// Interval 0 (MQ-T7: no continuation) and the assigned Client Identifier.
    #[must_use]
    pub fn connack(&self, session_present: bool) -> ConnAckPacket {
        self.connack_with_expiry(session_present, 0)
    }

    /// As [`Session::connack`] with the Session Expiry Interval the broker grants (RFC 9431
    /// §2.2.4.1: session continuation; MQ-035, MQ-036).
    #[must_use]
    pub fn connack_with_expiry(&self, session_present: bool, session_expiry: u32) -> ConnAckPacket {
        if self.protocol_version() == protocol_level::V311 {
            return ConnAckPacket::new_v311(session_present, ReasonCode::Success);
        }
        let mut c = ConnAckPacket::new(session_present, ReasonCode::Success)
            .with_session_expiry_interval(session_expiry);
        if self.assigned_client_id {
            c = c.with_assigned_client_id(self.client_id.clone());
        }
        c
    }
}

/// What the shell does after feeding a packet to [`ConnectionAuth`].
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Outcome {
    /// Send this AUTH (challenge) and keep reading.
    Continue(Packet),
    /// Authenticated: send [`Session::connack`] (the shell decides Session Present).
    Connected(Box<Session>),
    /// Refused before CONNACK: send `reply` if any (a failing CONNACK), then close.
    Refused {
        /// The CONNACK to send, or `None` to close silently (first packet not CONNECT).
        reply: Option<Packet>,
        /// Why.
        error: Error,
    },
    /// Re-authentication succeeded: send `reply` (AUTH 0x00) and replace the grant.
    Reauthenticated {
        /// AUTH 0x00.
        reply: Packet,
        /// The new grant.
        grant: Box<Grant>,
    },
    /// After CONNACK: send `reply` (v5 DISCONNECT) if any and close.
    Disconnect {
        /// The DISCONNECT (v5) or `None` (v3.1.1: close below MQTT, RFC 9431 §6.2).
        reply: Option<Packet>,
        /// Why.
        error: Error,
    },
}

/// Result of [`ConnectionAuth::handle_packet`].
#[derive(Debug)]
#[must_use]
pub enum Step {
    /// The authentication layer handled the packet.
    Auth(Outcome),
    /// A packet for the pub/sub layer of an authenticated connection.
    PubSub(Packet),
}

#[derive(Debug)]
enum State {
    AwaitConnect,
    Challenge {
        connect: Box<ConnectPacket>,
        client_id: String,
        assigned: bool,
        token: Vec<u8>,
        checked: Box<CheckedToken>,
        nonce: [u8; RS_NONCE_LEN],
    },
    Connected {
        version: u8,
        client_id: String,
        has_token: bool,
        reauth: Option<Reauth>,
    },
    Closed,
}

#[derive(Debug)]
struct Reauth {
    token: Vec<u8>,
    checked: Box<CheckedToken>,
    nonce: [u8; RS_NONCE_LEN],
}

/// The ACE authentication state of one MQTT connection over one TLS session.
#[derive(Debug)]
pub struct ConnectionAuth {
    exporter: [u8; EXPORTER_LEN],
    state: State,
}

fn failing_connack(config: &AuthConfig, version: u8, error: &Error) -> Packet {
    if version != protocol_level::V5 {
        // v3.1.1 (and unknown levels, R12): return code only.
        let code = match error.v311_return_code() {
            0x01 => ReasonCode::UnsupportedProtocolVersion,
            0x04 => ReasonCode::BadUsernameOrPassword,
            _ => ReasonCode::NotAuthorized,
        };
        return Packet::ConnAck(ConnAckPacket::new_v311(false, code));
    }
    let code = ReasonCode::from_u8(error.reason_code()).unwrap_or(ReasonCode::NotAuthorized);
    let mut c = ConnAckPacket::new(false, code);
    if error.reason_code() == reason::NOT_AUTHORIZED
        && let Some(hint) = &config.as_hint
    {
        c = c.with_user_property(AS_HINT_PROPERTY.to_owned(), hint.to_json());
    }
    Packet::ConnAck(c)
}

/// A v5 DISCONNECT with `error`'s reason code.
#[must_use]
pub fn disconnect_for(error: &Error) -> Packet {
    Packet::Disconnect(DisconnectPacket::new(
        ReasonCode::from_u8(error.reason_code()).unwrap_or(ReasonCode::UnspecifiedError),
    ))
}

fn auth_packet(code: ReasonCode, data: Option<&[u8]>) -> Packet {
    let mut p = AuthPacket::new(code);
    // safe: the property types match their identifiers, and each is added once.
    let _ = p.properties.add(
        PropertyId::AuthenticationMethod,
        PropertyValue::Utf8String(AUTH_METHOD.to_owned()),
    );
    if let Some(d) = data {
        let _ = p.properties.add(
            PropertyId::AuthenticationData,
            PropertyValue::BinaryData(d.to_vec().into()),
        );
    }
    Packet::Auth(p)
}

/// The Broker's AUTH 0x18 challenge carrying `nonce` (RFC 9431 Figure 6; MQV-4).
#[must_use]
pub fn challenge_packet(nonce: &[u8; RS_NONCE_LEN]) -> Packet {
    auth_packet(ReasonCode::ContinueAuthentication, Some(nonce))
}

fn auth_method(props: &mqtt5_protocol::Properties) -> Option<&str> {
    match props.get(PropertyId::AuthenticationMethod) {
        Some(PropertyValue::Utf8String(s)) => Some(s.as_str()),
        _ => None,
    }
}

fn auth_data(props: &mqtt5_protocol::Properties) -> Option<&[u8]> {
    match props.get(PropertyId::AuthenticationData) {
        Some(PropertyValue::BinaryData(b)) => Some(b),
        _ => None,
    }
}

fn new_nonce<R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; RS_NONCE_LEN] {
    let mut n = [0u8; RS_NONCE_LEN];
    rng.fill_bytes(&mut n);
    n
}

fn challenge_input(rs: &[u8; RS_NONCE_LEN], client: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(RS_NONCE_LEN + CLIENT_NONCE_LEN);
    m.extend_from_slice(rs);
    m.extend_from_slice(client);
    m
}

/// Splits a client challenge response `client nonce[8] ‖ proof` (RFC 9431 Figure 7).
fn split_response(data: &[u8]) -> Result<(&[u8], &[u8])> {
    if data.len() <= CLIENT_NONCE_LEN {
        return Err(Error::BadClientNonce);
    }
    Ok(data.split_at(CLIENT_NONCE_LEN))
}

fn check_will(connect: &ConnectPacket, grant: &Grant) -> Result<()> {
    if let Some(w) = &connect.will {
        if w.topic == AUTHZ_INFO_TOPIC {
            return Err(Error::WillNotAuthorized);
        }
        match grant.scope.allows_publish(&w.topic) {
            Ok(true) => {}
            _ => return Err(Error::WillNotAuthorized),
        }
    }
    Ok(())
}

impl ConnectionAuth {
    /// State for a new connection whose TLS exporter value (label
    /// `EXPORTER-ACE-MQTT-Sign-Challenge`, empty context, 32 bytes) is `exporter`.
    #[must_use]
    pub fn new(exporter: [u8; EXPORTER_LEN]) -> Self {
        Self {
            exporter,
            state: State::AwaitConnect,
        }
    }

    /// Whether CONNACK 0x00 has been produced and the connection is open.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected { .. })
    }

    /// Routes one packet: CONNECT and AUTH go to the state machine, and so does everything
    /// before CONNACK (refused, MQ-030); other packets of a connected client are handed back.
    pub fn handle_packet<R: CryptoRng + ?Sized>(
        &mut self,
        config: &AuthConfig,
        store: &mut TokenStore,
        packet: Packet,
        now: UnixTime,
        rng: &mut R,
    ) -> Step {
        match packet {
            Packet::Connect(c) => Step::Auth(self.handle_connect(config, store, *c, now, rng)),
            Packet::Auth(a) => Step::Auth(self.handle_auth(config, store, a, now, rng)),
            other => match &self.state {
                State::Connected { .. } => Step::PubSub(other),
                State::AwaitConnect | State::Closed => {
                    self.state = State::Closed;
                    Step::Auth(Outcome::Refused {
                        reply: None,
                        error: Error::ProtocolError("first packet is not CONNECT"),
                    })
                }
                State::Challenge { .. } => {
                    if matches!(other, Packet::Disconnect(_)) {
                        self.state = State::Closed;
                        return Step::Auth(Outcome::Refused {
                            reply: None,
                            error: Error::ProtocolError("client disconnected during AUTH"),
                        });
                    }
                    self.state = State::Closed;
                    let error = Error::ProtocolError("packet before CONNACK");
                    Step::Auth(Outcome::Refused {
                        reply: Some(failing_connack(config, protocol_level::V5, &error)),
                        error,
                    })
                }
            },
        }
    }

    fn refuse(&mut self, config: &AuthConfig, version: u8, error: Error) -> Outcome {
        self.state = State::Closed;
        Outcome::Refused {
            reply: Some(failing_connack(config, version, &error)),
            error,
        }
    }

    fn disconnect(&mut self, version: u8, error: Error) -> Outcome {
        self.state = State::Closed;
        Outcome::Disconnect {
            reply: (version == protocol_level::V5).then(|| disconnect_for(&error)),
            error,
        }
    }

    /// Handles CONNECT.
    pub fn handle_connect<R: CryptoRng + ?Sized>(
        &mut self,
        config: &AuthConfig,
        store: &mut TokenStore,
        connect: ConnectPacket,
        now: UnixTime,
        rng: &mut R,
    ) -> Outcome {
        match &self.state {
            State::AwaitConnect => {}
            State::Connected { version, .. } => {
                let v = *version;
                return self.disconnect(v, Error::ProtocolError("second CONNECT"));
            }
            State::Challenge { .. } | State::Closed => {
                let e = Error::ProtocolError("CONNECT during authentication");
                return self.refuse(config, protocol_level::V5, e);
            }
        }
        let version = connect.protocol_version;
        match version {
            protocol_level::V5 => {}
            protocol_level::V311 if config.accept_v311 => {}
            v => {
                return self.refuse(
                    config,
                    protocol_level::V311,
                    Error::UnsupportedProtocolVersion(v),
                );
            }
        }
        let (client_id, assigned) = if connect.client_id.is_empty() {
            let n = new_nonce(rng);
            (format!("ace-{}", URL_SAFE_NO_PAD.encode(n)), true)
        } else {
            (connect.client_id.clone(), false)
        };
        let result = if version == protocol_level::V311 {
            self.connect_v311(config, store, connect, client_id, assigned, now)
        } else {
            self.connect_v5(config, store, connect, client_id, assigned, now, rng)
        };
        match result {
            Ok(o) => o,
            Err(e) => self.refuse(config, version, e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn connect_v5<R: CryptoRng + ?Sized>(
        &mut self,
        config: &AuthConfig,
        store: &mut TokenStore,
        connect: ConnectPacket,
        client_id: String,
        assigned: bool,
        now: UnixTime,
        rng: &mut R,
    ) -> Result<Outcome> {
        let method = auth_method(&connect.properties);
        let data = auth_data(&connect.properties);
        let Some(method) = method else {
            if data.is_some() {
                return Err(Error::ProtocolError("Authentication Data without Method"));
            }
            if connect.username.is_some() || connect.password.is_some() || !config.allow_anonymous {
                return Err(Error::NoToken);
            }
            let grant = Grant::anonymous(config.anonymous_scope.clone());
            check_will(&connect, &grant)?;
            return Ok(self.connected(connect, client_id, assigned, grant));
        };
        if method != AUTH_METHOD {
            return Err(Error::BadAuthenticationMethod);
        }
        if connect.username.is_some() || connect.password.is_some() {
            return Err(Error::MalformedAuthData(
                "User Name / Password with method ace",
            ));
        }
        let (token, proof): (Vec<u8>, Vec<u8>) = match data {
            Some(d) => {
                let (t, p) = pop::split_token(d)?;
                (t.to_vec(), p.to_vec())
            }
            None => {
                let t = store.for_client(&client_id, now).ok_or(Error::NoToken)?;
                (t.to_vec(), Vec::new())
            }
        };
        let checked = config.check_token_in(store, &token, now)?;
        if proof.is_empty() {
            let nonce = new_nonce(rng);
            self.state = State::Challenge {
                connect: Box::new(connect),
                client_id,
                assigned,
                token,
                checked: Box::new(checked),
                nonce,
            };
            return Ok(Outcome::Continue(challenge_packet(&nonce)));
        }
        let alg = pop::verify(&checked.key, &self.exporter, &proof, config.allow_es256_pop)?;
        let grant = checked.grant(PopMethod::Exporter, alg);
        check_will(&connect, &grant)?;
        store.remember_for_client(&client_id, token, grant.expires_at, now);
        Ok(self.connected(connect, client_id, assigned, grant))
    }

    fn connect_v311(
        &mut self,
        config: &AuthConfig,
        store: &mut TokenStore,
        connect: ConnectPacket,
        client_id: String,
        assigned: bool,
        now: UnixTime,
    ) -> Result<Outcome> {
        let (Some(user), Some(password)) = (&connect.username, &connect.password) else {
            return Err(Error::NoToken);
        };
        let token = user
            .strip_prefix(V311_USERNAME_PREFIX)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b.as_bytes()).ok())
            .filter(|t| !t.is_empty())
            .ok_or(Error::BadUsername)?;
        let checked = config.check_token_in(store, &token, now)?;
        let alg = pop::verify(
            &checked.key,
            &self.exporter,
            password,
            config.allow_es256_pop,
        )?;
        let grant = checked.grant(PopMethod::Exporter, alg);
        check_will(&connect, &grant)?;
        store.remember_for_client(&client_id, token, grant.expires_at, now);
        Ok(self.connected(connect, client_id, assigned, grant))
    }

    fn connected(
        &mut self,
        connect: ConnectPacket,
        client_id: String,
        assigned: bool,
        grant: Grant,
    ) -> Outcome {
        self.state = State::Connected {
            version: connect.protocol_version,
            client_id: client_id.clone(),
            has_token: grant.pop != PopMethod::None,
            reauth: None,
        };
        Outcome::Connected(Box::new(Session {
            connect: Box::new(connect),
            client_id,
            assigned_client_id: assigned,
            grant,
        }))
    }

    /// Handles AUTH (challenge response, re-authentication).
    pub fn handle_auth<R: CryptoRng + ?Sized>(
        &mut self,
        config: &AuthConfig,
        store: &mut TokenStore,
        auth: AuthPacket,
        now: UnixTime,
        rng: &mut R,
    ) -> Outcome {
        let state = core::mem::replace(&mut self.state, State::Closed);
        match state {
            State::AwaitConnect | State::Closed => Outcome::Refused {
                reply: None,
                error: Error::ProtocolError("AUTH before CONNECT"),
            },
            State::Challenge {
                connect,
                client_id,
                assigned,
                token,
                checked,
                nonce,
            } => {
                let r = (|| {
                    let method = auth_method(&auth.properties);
                    if auth.reason_code != ReasonCode::ContinueAuthentication
                        || method != Some(AUTH_METHOD)
                    {
                        return Err(Error::ProtocolError("AUTH is not 0x18 with method ace"));
                    }
                    let data = auth_data(&auth.properties).ok_or(Error::BadClientNonce)?;
                    let (cn, proof) = split_response(data)?;
                    let alg = pop::verify(
                        &checked.key,
                        &challenge_input(&nonce, cn),
                        proof,
                        config.allow_es256_pop,
                    )?;
                    let grant = checked.grant(PopMethod::Challenge, alg);
                    if grant.is_expired(now) {
                        return Err(Error::Token(ace_token::Error::Expired));
                    }
                    check_will(&connect, &grant)?;
                    Ok(grant)
                })();
                match r {
                    Ok(grant) => {
                        store.remember_for_client(&client_id, token, grant.expires_at, now);
                        self.connected(*connect, client_id, assigned, grant)
                    }
                    Err(e) => self.refuse(config, protocol_level::V5, e),
                }
            }
            State::Connected {
                version,
                client_id,
                has_token,
                reauth,
            } => {
                if version != protocol_level::V5 {
                    return self.disconnect(version, Error::ProtocolError("AUTH in MQTT 3.1.1"));
                }
                match (auth.reason_code, reauth) {
                    (ReasonCode::ReAuthenticate, None) => {
                        let started = if has_token {
                            self.start_reauth(config, store, &auth, now)
                        } else {
                            Err(Error::ReauthNotAllowed)
                        };
                        match started {
                            Ok((token, checked)) => {
                                let nonce = new_nonce(rng);
                                self.state = State::Connected {
                                    version,
                                    client_id,
                                    has_token,
                                    reauth: Some(Reauth {
                                        token,
                                        checked: Box::new(checked),
                                        nonce,
                                    }),
                                };
                                Outcome::Continue(challenge_packet(&nonce))
                            }
                            Err(e) => self.disconnect(version, e),
                        }
                    }
                    (ReasonCode::ContinueAuthentication, Some(re)) => {
                        let r = (|| {
                            if auth_method(&auth.properties) != Some(AUTH_METHOD) {
                                return Err(Error::ProtocolError("AUTH method is not ace"));
                            }
                            let data = auth_data(&auth.properties).ok_or(Error::BadClientNonce)?;
                            let (cn, proof) = split_response(data)?;
                            let alg = pop::verify(
                                &re.checked.key,
                                &challenge_input(&re.nonce, cn),
                                proof,
                                config.allow_es256_pop,
                            )?;
                            Ok(re.checked.grant(PopMethod::Challenge, alg))
                        })();
                        match r {
                            Ok(grant) => {
                                store.remember_for_client(
                                    &client_id,
                                    re.token,
                                    grant.expires_at,
                                    now,
                                );
                                self.state = State::Connected {
                                    version,
                                    client_id,
                                    has_token,
                                    reauth: None,
                                };
                                Outcome::Reauthenticated {
                                    reply: auth_packet(ReasonCode::Success, None),
                                    grant: Box::new(grant),
                                }
                            }
                            Err(e) => self.disconnect(version, e),
                        }
                    }
                    (_, _) => self
                        .disconnect(version, Error::ProtocolError("unexpected AUTH reason code")),
                }
            }
        }
    }

    /// The checks of AUTH 0x19 (MQ-113) after "a PoP was done on this connection": method
    /// `ace`, data = `len ‖ token` with no exporter proof (R2), token valid.
    fn start_reauth(
        &self,
        config: &AuthConfig,
        store: &TokenStore,
        auth: &AuthPacket,
        now: UnixTime,
    ) -> Result<(Vec<u8>, CheckedToken)> {
        let _ = self;
        if auth_method(&auth.properties) != Some(AUTH_METHOD) {
            return Err(Error::ReauthNotAllowed);
        }
        let data = auth_data(&auth.properties).ok_or(Error::NoToken)?;
        let (token, proof) = pop::split_token(data)?;
        if !proof.is_empty() {
            return Err(Error::ReauthNotAllowed);
        }
        let checked = config.check_token_in(store, token, now)?;
        Ok((token.to_vec(), checked))
    }
}
