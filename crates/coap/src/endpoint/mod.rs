//! The sans-IO CoAP endpoint: messaging layer (RFC 7252 §4), request/response
//! layer, block-wise transfer (RFC 7959) and Observe (RFC 7641), both as server and
//! as client.
//!
//! ```text
//!            handle_datagram(now, from, bytes)      request()/observe()/notify()/respond()
//!                          │                                   │
//!                          ▼                                   ▼
//!   ┌───────────────────────────── Endpoint ──────────────────────────────┐
//!   │ dedup (peer, MID) · retransmission table · token → client exchange  │
//!   │ SecurityLayer · Block1/Block2 · observers · Router → Resource        │
//!   └─────────────────────────────────────────────────────────────────────┘
//!          │ poll_transmit(now, buf)   │ poll_timeout()   │ poll_event()
//!          ▼                           ▼                  ▼
//!       datagrams to send        next wake-up       client responses,
//!                                 instant           notifications, failures
//! ```
//!
//! Contract (like quinn-proto): the endpoint never reads a clock and never draws
//! ambient randomness. Instants passed in must not go backwards. After any
//! `handle_*` or command call, drain `poll_transmit`, then `poll_timeout`, then
//! `poll_event`. A spurious `handle_timeout` does nothing.

mod client;
mod dedup;
mod group;
mod mid;
mod server;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use crate::config::{Config, later};
use crate::error::{Error, MalformedKind, Result};
use crate::message::{Frame, Message, MessageType, RawHeader};
use crate::router::Router;
use crate::security::{PlainCoap, SecurityLayer};

pub(crate) use client::ClientExchange;
use group::GroupExchange;
use server::{Assembly, CachedResponse, Deferred, ObsKey, Observer};

/// Identifies a client request issued with [`Endpoint::request`] or [`Endpoint::observe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestHandle(pub(crate) u64);

/// A datagram to send: its bytes were written to the buffer passed to
/// [`Endpoint::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// Bytes written to the buffer.
    pub size: usize,
}

/// Something the application should know about its client requests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The final response to a request (block-wise bodies reassembled). For an
    /// observation this is the response that ended it (an error, a response without
    /// Observe, or the answer to the deregistration).
    Response {
        /// The request.
        handle: RequestHandle,
        /// The response.
        response: Message,
    },
    /// A notification of an observation (the first one is the registration's response).
    /// Stale notifications (RFC 7641 §3.4) are not reported.
    Notification {
        /// The observation.
        handle: RequestHandle,
        /// The Observe sequence number.
        sequence: u32,
        /// The notification, block-wise body reassembled.
        response: Message,
    },
    /// The request failed: [`Error::Timeout`], [`Error::Reset`], a block-wise failure
    /// or a message that could not be encoded.
    Failed {
        /// The request.
        handle: RequestHandle,
        /// Why.
        error: Error,
    },
    /// One response to a multicast request ([`Endpoint::multicast_request`]), from one
    /// member of the group (RFC 7252 §8.2: matched by token, from any unicast source).
    GroupResponse {
        /// The multicast request.
        handle: RequestHandle,
        /// The unicast address of the responding server.
        from: SocketAddr,
        /// The response.
        response: Message,
    },
    /// The collection period of a multicast request is over; later responses are
    /// rejected as unknown.
    GroupDone {
        /// The multicast request.
        handle: RequestHandle,
        /// How many [`Event::GroupResponse`]s it produced.
        responses: usize,
    },
}

/// Counters, for tests, logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams handed to [`Endpoint::handle_datagram`].
    pub datagrams_received: u64,
    /// Datagrams returned by [`Endpoint::poll_transmit`].
    pub datagrams_sent: u64,
    /// Malformed datagrams.
    pub malformed: u64,
    /// Duplicate messages detected by the deduplication cache.
    pub duplicates: u64,
    /// Retransmissions of CON messages.
    pub retransmissions: u64,
    /// Datagrams dropped because a memory bound was reached.
    pub dropped_at_limit: u64,
    /// Requests handed to resources (including notification re-runs).
    pub requests_handled: u64,
    /// Stale or reordered notifications dropped by the client (RFC 7641 §3.4).
    pub stale_notifications: u64,
    /// Times a message could not be sent because every Message ID towards its peer was
    /// still within its lifetime (client requests wait; server responses are dropped).
    pub message_ids_exhausted: u64,
    /// Responses to multicast requests suppressed (4.xx/5.xx or No-Response).
    pub multicast_suppressed: u64,
}

/// Current sizes of the bounded tables (see [`Config`] for the bounds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Usage {
    /// Peers with deduplication state.
    pub peers: usize,
    /// Deduplication entries.
    pub dedup_entries: usize,
    /// Bytes held in cached replies for duplicates.
    pub dedup_reply_bytes: usize,
    /// CON messages awaiting acknowledgement.
    pub retransmissions: usize,
    /// Client exchanges (queued, in flight or observing).
    pub client_exchanges: usize,
    /// Observers.
    pub observers: usize,
    /// Block1 reassemblies in progress.
    pub block1_assemblies: usize,
    /// Cached block-wise responses.
    pub block2_cached: usize,
    /// Deferred requests awaiting [`Endpoint::respond`].
    pub deferred: usize,
    /// Peers with Message ID allocation state (IDs used within their lifetime).
    pub message_id_peers: usize,
    /// Responses to multicast requests waiting for their leisure instant.
    pub multicast_pending: usize,
    /// Multicast requests collecting responses.
    pub group_requests: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    Client(u64),
    Separate,
    Notification(ObsKey),
}

#[derive(Debug)]
pub(crate) struct Retransmission {
    bytes: Vec<u8>,
    next_at: Instant,
    timeout: core::time::Duration,
    retries: u32,
    owner: Owner,
}

/// A CoAP endpoint engine: server (a [`Router`] behind a [`SecurityLayer`]) and
/// client at once, with no I/O. See the [module docs](crate::endpoint) for the contract.
pub struct Endpoint<S: SecurityLayer = PlainCoap> {
    config: Config,
    rng: StdRng,
    router: Router,
    security: S,
    mids: mid::MidAllocator,
    next_id: u64,
    observe_seq: u32,
    out: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<Event>,
    dedup: dedup::Dedup,
    retrans: HashMap<(SocketAddr, u16), Retransmission>,
    /// Responses to multicast requests waiting for their leisure instant.
    delayed: Vec<(Instant, SocketAddr, Vec<u8>)>,
    // server side
    deferred: HashMap<u64, Deferred<S::Context>>,
    observers: HashMap<ObsKey, Observer<S::Context>>,
    block1: HashMap<server::ReqKey, Assembly>,
    block2_cache: VecDeque<CachedResponse>,
    // client side
    exchanges: HashMap<u64, ClientExchange>,
    tokens: HashMap<(SocketAddr, Vec<u8>), u64>,
    groups: HashMap<u64, GroupExchange>,
    group_tokens: HashMap<Vec<u8>, u64>,
    stats: Stats,
}

impl<S: SecurityLayer> core::fmt::Debug for Endpoint<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("router", &self.router)
            .field("usage", &self.usage())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Endpoint<PlainCoap> {
    /// An endpoint without security. `rng_seed` seeds the generator of message IDs
    /// and tokens; shells pass fresh OS randomness, tests a fixed seed.
    #[must_use]
    pub fn new(config: Config, router: Router, rng_seed: [u8; 32]) -> Self {
        Self::with_security(config, router, PlainCoap, rng_seed)
    }
}

impl<S: SecurityLayer> Endpoint<S> {
    /// An endpoint whose requests pass through `security` before routing.
    #[must_use]
    pub fn with_security(config: Config, router: Router, security: S, rng_seed: [u8; 32]) -> Self {
        let mut rng = StdRng::from_seed(rng_seed);
        let observe_seq = rng.next_u32() & 0xFFFF;
        Self {
            config,
            rng,
            router,
            security,
            mids: mid::MidAllocator::default(),
            next_id: 1,
            observe_seq,
            out: VecDeque::new(),
            events: VecDeque::new(),
            dedup: dedup::Dedup::default(),
            retrans: HashMap::new(),
            delayed: Vec::new(),
            deferred: HashMap::new(),
            observers: HashMap::new(),
            block1: HashMap::new(),
            block2_cache: VecDeque::new(),
            exchanges: HashMap::new(),
            tokens: HashMap::new(),
            groups: HashMap::new(),
            group_tokens: HashMap::new(),
            stats: Stats::default(),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// The router (to mount or remove resources at run time).
    pub fn router_mut(&mut self) -> &mut Router {
        &mut self.router
    }
    /// The security layer (to install contexts at run time).
    pub fn security_mut(&mut self) -> &mut S {
        &mut self.security
    }
    /// Counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }
    /// Sizes of the bounded tables.
    #[must_use]
    pub fn usage(&self) -> Usage {
        Usage {
            peers: self.dedup.peers(),
            dedup_entries: self.dedup.len(),
            dedup_reply_bytes: self.dedup.reply_bytes(),
            retransmissions: self.retrans.len(),
            client_exchanges: self.exchanges.len(),
            observers: self.observers.len(),
            block1_assemblies: self.block1.len(),
            block2_cached: self.block2_cache.len(),
            deferred: self.deferred.len(),
            message_id_peers: self.mids.peers(),
            multicast_pending: self.delayed.len(),
            group_requests: self.groups.len(),
        }
    }

    /// Message IDs towards `peer` still within their lifetime (RFC 7252 §4.4); at 65,536
    /// no further message can be sent to `peer` until the oldest ones expire.
    #[must_use]
    pub fn message_ids_in_use(&self, peer: SocketAddr) -> u32 {
        self.mids.in_use(peer)
    }

    /// A fresh Message ID for a message to `peer` that must not be reused for
    /// EXCHANGE_LIFETIME (`confirmable`) or NON_LIFETIME (RFC 7252 §4.4).
    fn alloc_mid(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        confirmable: bool,
    ) -> core::result::Result<u16, mid::NoMid> {
        let p = &self.config.transmission;
        let lifetime = if confirmable {
            p.exchange_lifetime()
        } else {
            p.non_lifetime()
        };
        let granularity = self.config.mid_granularity();
        let rng = &mut self.rng;
        let r = self.mids.allocate(
            now,
            peer,
            lifetime,
            granularity,
            self.config.max_peers,
            || rng.next_u32() as u16,
        );
        if r.is_err() {
            self.stats.message_ids_exhausted += 1;
        }
        r
    }

    fn dedup_limits(&self) -> dedup::Limits {
        dedup::Limits {
            max_peers: self.config.max_peers,
            per_peer: self.config.max_dedup_per_peer,
            total: self.config.max_dedup_total,
            reply_bytes: self.config.max_dedup_reply_bytes,
            reply_lifetime: self.config.reply_lifetime(),
        }
    }

    fn next_id(&mut self) -> u64 {
        let i = self.next_id;
        self.next_id += 1;
        i
    }

    fn random_token(&mut self) -> Vec<u8> {
        let mut t = [0u8; 8];
        self.rng.fill_bytes(&mut t);
        t.to_vec()
    }

    fn send(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.out.push_back((to, bytes));
    }

    fn send_empty(&mut self, to: SocketAddr, mtype: MessageType, mid: u16) -> Vec<u8> {
        let b = Frame::empty(mtype, mid);
        self.send(to, b.clone());
        b
    }

    /// Sends a CON message and arms its retransmission (RFC 7252 §4.2).
    fn send_con(&mut self, to: SocketAddr, mid: u16, bytes: Vec<u8>, owner: Owner, now: Instant) {
        let r = f64::from(self.rng.next_u32()) / f64::from(u32::MAX);
        let timeout = self.config.transmission.initial_timeout(r);
        self.send_con_with(to, mid, bytes, owner, now, timeout, 0);
    }

    #[allow(clippy::too_many_arguments)]
    fn send_con_with(
        &mut self,
        to: SocketAddr,
        mid: u16,
        bytes: Vec<u8>,
        owner: Owner,
        now: Instant,
        timeout: core::time::Duration,
        retries: u32,
    ) {
        self.send(to, bytes.clone());
        self.retrans.insert(
            (to, mid),
            Retransmission {
                bytes,
                next_at: later(now, timeout),
                timeout,
                retries,
                owner,
            },
        );
    }

    /// Feeds one received datagram. Never panics, whatever the bytes.
    ///
    /// # Errors
    /// [`Error::Malformed`] when the datagram is not a valid CoAP message; the engine has
    /// already done what RFC 7252 §4.2/§4.3 ask (RST for a CON, otherwise ignore). The
    /// error is informational: the endpoint stays usable.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> Result<()> {
        self.receive(now, from, data, false)
    }

    /// Feeds one datagram that was sent to a multicast group this endpoint's socket
    /// joined (RFC 7252 §8). Only NON requests are processed; they are answered with a NON
    /// response at a random instant within `Config::multicast.leisure`, error responses
    /// suppressed unless configured (or asked for by a No-Response option, RFC 7967).
    /// Nothing else is ever answered — in particular never with RST (§8.2).
    ///
    /// # Errors
    /// [`Error::Malformed`] when the datagram is not a valid CoAP message (ignored).
    pub fn handle_multicast_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<()> {
        self.receive(now, from, data, true)
    }

    fn receive(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        multicast: bool,
    ) -> Result<()> {
        self.stats.datagrams_received += 1;
        let header = match RawHeader::parse(data) {
            Ok(h) => h,
            Err(kind) => return self.malformed(kind),
        };
        let reject = |this: &mut Self, kind| {
            if header.mtype == MessageType::Confirmable && !multicast {
                this.send_empty(from, MessageType::Reset, header.mid);
            }
            this.malformed(kind)
        };
        let frame = match Frame::decode(data) {
            Ok(f) => f,
            Err(kind) => return reject(self, kind),
        };
        let code = frame.msg.code;
        if multicast {
            if frame.mtype == MessageType::NonConfirmable && code.is_request() {
                self.on_request(now, from, frame, true);
            } else {
                // RFC 7252 §8.1: multicast requests are NON; anything else is ignored.
                tracing::debug!(mtype = ?frame.mtype, "ignoring non-NON-request via multicast");
            }
            return Ok(());
        }
        if code.is_empty() {
            if !frame.token.is_empty()
                || !frame.msg.options.is_empty()
                || !frame.msg.payload.is_empty()
            {
                return reject(self, MalformedKind::NonEmptyEmpty);
            }
            match frame.mtype {
                // CoAP ping (RFC 7252 §4.3): answer with RST.
                MessageType::Confirmable => {
                    self.send_empty(from, MessageType::Reset, frame.mid);
                }
                MessageType::NonConfirmable => {}
                MessageType::Acknowledgement => self.on_ack(now, from, frame.mid, None),
                MessageType::Reset => self.on_reset(now, from, frame.mid),
            }
            return Ok(());
        }
        match frame.mtype {
            MessageType::Confirmable | MessageType::NonConfirmable if code.is_request() => {
                self.on_request(now, from, frame, false);
                Ok(())
            }
            MessageType::Acknowledgement if code.is_response() => {
                let mid = frame.mid;
                self.on_ack(now, from, mid, Some(frame));
                Ok(())
            }
            MessageType::Confirmable | MessageType::NonConfirmable if code.is_response() => {
                self.on_separate_response(now, from, frame);
                Ok(())
            }
            _ => reject(self, MalformedKind::BadCode),
        }
    }

    fn malformed(&mut self, kind: MalformedKind) -> Result<()> {
        self.stats.malformed += 1;
        tracing::debug!(?kind, "malformed CoAP datagram");
        Err(Error::Malformed(kind))
    }

    fn on_ack(&mut self, now: Instant, from: SocketAddr, mid: u16, response: Option<Frame>) {
        let Some(r) = self.retrans.get(&(from, mid)) else {
            return; // ACK for nothing we sent (or a duplicate ACK): ignore
        };
        if let (Owner::Client(h), Some(f)) = (&r.owner, &response) {
            // A piggybacked response must carry the request's token (RFC 7252 §5.3.2).
            if self
                .exchanges
                .get(h)
                .is_none_or(|ex| ex.cur_token != f.token)
            {
                return;
            }
        }
        let Some(r) = self.retrans.remove(&(from, mid)) else {
            return;
        };
        match r.owner {
            Owner::Client(h) => match response {
                Some(f) => {
                    let via_obs = self
                        .exchanges
                        .get(&h)
                        .is_some_and(|ex| ex.obs_token.as_ref() == Some(&f.token));
                    self.on_response(now, h, f.msg, via_obs);
                }
                None => self.on_empty_ack(now, h),
            },
            Owner::Notification(key) => {
                if let Some(o) = self.observers.get_mut(&key) {
                    o.pending_con = None;
                }
            }
            Owner::Separate => {}
        }
    }

    fn on_reset(&mut self, now: Instant, from: SocketAddr, mid: u16) {
        if let Some(r) = self.retrans.remove(&(from, mid)) {
            match r.owner {
                Owner::Client(h) => self.fail(now, h, Error::Reset),
                Owner::Notification(key) => {
                    self.observers.remove(&key);
                }
                Owner::Separate => {}
            }
            return;
        }
        // RST to a NON notification: the client lost interest (RFC 7641 §3.6).
        let key = self
            .observers
            .iter()
            .find(|(k, o)| k.0 == from && o.recent_mids.contains(&mid))
            .map(|(k, _)| k.clone());
        if let Some(k) = key {
            self.observers.remove(&k);
            return;
        }
        // RST to one of our NON requests.
        let h = self
            .exchanges
            .iter()
            .find(|(_, ex)| ex.peer == from && ex.last_mid == Some(mid))
            .map(|(h, _)| *h);
        if let Some(h) = h {
            self.fail(now, h, Error::Reset);
        }
    }

    /// Processes timers whose instant has come. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.dedup.expire(now);
        self.mids.expire(now);
        self.release_delayed(now);
        let due: Vec<(SocketAddr, u16)> = self
            .retrans
            .iter()
            .filter(|(_, r)| r.next_at <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let max = self.config.transmission.max_retransmit;
            let Some(r) = self.retrans.get_mut(&key) else {
                continue;
            };
            if r.retries < max {
                r.retries += 1;
                r.timeout = r.timeout.saturating_mul(2);
                r.next_at = later(now, r.timeout);
                let bytes = r.bytes.clone();
                self.stats.retransmissions += 1;
                self.send(key.0, bytes);
            } else if let Some(r) = self.retrans.remove(&key) {
                match r.owner {
                    Owner::Client(h) => self.fail(now, h, Error::Timeout),
                    // RFC 7641 §4.5: an unacknowledged CON notification ends the observation.
                    Owner::Notification(k) => {
                        self.observers.remove(&k);
                    }
                    Owner::Separate => {}
                }
            }
        }
        self.client_timeouts(now);
        self.group_timeouts(now);
        self.server_timeouts(now);
    }

    /// The next instant at which [`Endpoint::handle_timeout`] has work, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retrans = self.retrans.values().map(|r| r.next_at).min();
        let client = self
            .exchanges
            .values()
            .filter_map(|ex| ex.next_timeout(self.config.message_id_wait))
            .min();
        let delayed = self.delayed.iter().map(|d| d.0).min();
        let groups = self.groups.values().map(|g| g.deadline).min();
        [
            retrans,
            client,
            delayed,
            groups,
            self.dedup.next_expiry(),
            self.server_next_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Writes the next datagram to send into `buf` (cleared first).
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (destination, bytes) = self.out.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        self.stats.datagrams_sent += 1;
        Some(Transmit {
            destination,
            size: bytes.len(),
        })
    }

    /// Like [`Endpoint::poll_transmit`] but hands over the datagram's own buffer (no
    /// copy), for the shell.
    pub(crate) fn poll_transmit_owned(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        let datagram = self.out.pop_front()?;
        self.stats.datagrams_sent += 1;
        Some(datagram)
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

pub(crate) fn fnv1a(data: &[u8]) -> [u8; 8] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.to_be_bytes()
}

pub(crate) use crate::message::BlockOption as Block;
