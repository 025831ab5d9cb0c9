//! Client side of the endpoint: requests with NSTART, token matching, piggybacked and
//! separate responses, transparent Block1/Block2, and observations with the RFC 7641
//! §3.4 freshness check.

use std::net::SocketAddr;
use std::time::Instant;

use super::dedup::Check;
use super::{Block, Endpoint, Event, Owner, RequestHandle};
use crate::config::later;
use crate::consts::option;
use crate::error::{Error, Limit, Result};
use crate::message::{Code, Frame, Message, MessageType, encode_uint};
use crate::security::SecurityLayer;

/// RFC 7641 §3.4: a notification older than this is fresh whatever its number.
const OBSERVE_FRESHNESS: core::time::Duration = core::time::Duration::from_secs(128);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for an NSTART slot.
    Queued,
    /// CON sent, no ACK yet.
    AwaitingAck(u16),
    /// NON sent (`acked == false`) or CON acknowledged by an empty ACK.
    AwaitingResponse { acked: bool },
    /// Nothing in flight (an established observation).
    Idle,
}

#[derive(Debug)]
struct Rx {
    body: Vec<u8>,
    etag: Option<Vec<u8>>,
    szx: u8,
    next_num: u32,
}

#[derive(Debug, Default)]
struct ObserveState {
    registered: bool,
    cancelling: bool,
    last: Option<(u32, Instant)>,
}

#[derive(Debug)]
pub(crate) struct ClientExchange {
    pub(crate) peer: SocketAddr,
    request: Message,
    confirmable: bool,
    state: State,
    pub(crate) deadline: Option<Instant>,
    pub(crate) cur_token: Vec<u8>,
    pub(crate) obs_token: Option<Vec<u8>>,
    pub(crate) last_mid: Option<u16>,
    b1_num: u32,
    b1_szx: u8,
    rx: Option<Rx>,
    observe: Option<ObserveState>,
    notif_seq: Option<u32>,
    /// Since when the next message waits for a free Message ID (RFC 7252 §4.4).
    mid_blocked_since: Option<Instant>,
    /// When a Message ID towards the peer is expected to free up.
    mid_retry_at: Option<Instant>,
}

impl ClientExchange {
    /// The earliest instant at which a timer of this exchange fires.
    pub(crate) fn next_timeout(&self, mid_wait: Option<core::time::Duration>) -> Option<Instant> {
        let give_up = match (self.mid_blocked_since, mid_wait) {
            (Some(since), Some(w)) => Some(later(since, w)),
            _ => None,
        };
        [self.deadline, self.mid_retry_at, give_up]
            .into_iter()
            .flatten()
            .min()
    }

    fn outstanding(&self) -> bool {
        matches!(
            self.state,
            State::AwaitingAck(_) | State::AwaitingResponse { acked: false }
        )
    }
}

/// RFC 7641 §3.4: is notification `v2` (received at `t2`) newer than `v1` (at `t1`)?
#[must_use]
pub(crate) fn is_fresh(v1: u32, t1: Instant, v2: u32, t2: Instant) -> bool {
    const HALF: u32 = 1 << 23;
    (v1 < v2 && v2 - v1 < HALF) || (v1 > v2 && v1 - v2 > HALF) || t2 > later(t1, OBSERVE_FRESHNESS)
}

impl<S: SecurityLayer> Endpoint<S> {
    /// Issues a request to `peer`. The response arrives as [`Event::Response`] (or
    /// [`Event::Failed`]). Bodies larger than one block go out with Block1 and large
    /// responses are fetched with Block2 transparently. At most NSTART requests per
    /// peer are outstanding; others wait in order.
    ///
    /// # Errors
    /// [`Error::Misuse`] for a code that is not a request method,
    /// [`Error::BodyTooLarge`] for a payload above `max_body_size`,
    /// [`Error::LimitReached`] when `max_client_exchanges` are in use,
    /// [`Error::MessageIdsExhausted`] when every Message ID towards `peer` is still in
    /// its lifetime and `Config::message_id_wait` is zero. With a non-zero wait such a
    /// request is queued until an ID frees up (RFC 7252 §4.4: IDs are never reused early);
    /// if that takes longer than the wait, it fails with [`Event::Failed`]
    /// ([`Error::MessageIdsExhausted`]).
    pub fn request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: Message,
        confirmable: bool,
    ) -> Result<RequestHandle> {
        self.start(now, peer, request, confirmable, false)
    }

    /// Registers an observation (RFC 7641 §3.1): the request (GET or FETCH) is sent
    /// with Observe=0; each notification arrives as [`Event::Notification`]. If the
    /// server does not accept the registration the answer arrives as [`Event::Response`].
    ///
    /// # Errors
    /// As [`Endpoint::request`]; [`Error::Misuse`] for other methods than GET/FETCH.
    pub fn observe(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        mut request: Message,
        confirmable: bool,
    ) -> Result<RequestHandle> {
        if !matches!(request.code, Code::GET | Code::FETCH) {
            return Err(Error::Misuse("observe needs GET or FETCH"));
        }
        request.options.set(option::OBSERVE, Vec::new());
        self.start(now, peer, request, confirmable, true)
    }

    fn start(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: Message,
        confirmable: bool,
        observe: bool,
    ) -> Result<RequestHandle> {
        if !request.code.is_request() {
            return Err(Error::Misuse("not a request method"));
        }
        if request.payload.len() > self.config.max_body_size {
            return Err(Error::BodyTooLarge {
                limit: self.config.max_body_size,
            });
        }
        if self.exchanges.len() + self.groups.len() >= self.config.max_client_exchanges {
            return Err(Error::LimitReached(Limit::ClientExchanges));
        }
        if self.config.message_id_wait == Some(core::time::Duration::ZERO)
            && self.mids.check(now, peer, self.config.max_peers).is_err()
        {
            self.stats.message_ids_exhausted += 1;
            return Err(Error::MessageIdsExhausted);
        }
        let h = self.next_id();
        let obs_token = observe.then(|| self.unique_token(peer));
        let ex = ClientExchange {
            peer,
            request,
            confirmable,
            state: State::Queued,
            deadline: None,
            cur_token: Vec::new(),
            obs_token: obs_token.clone(),
            last_mid: None,
            b1_num: 0,
            b1_szx: self.config.szx(),
            rx: None,
            observe: observe.then(ObserveState::default),
            notif_seq: None,
            mid_blocked_since: None,
            mid_retry_at: None,
        };
        if let Some(t) = obs_token {
            self.tokens.insert((peer, t), h);
        }
        self.exchanges.insert(h, ex);
        self.dispatch(now, peer);
        Ok(RequestHandle(h))
    }

    /// Ends an observation explicitly: a GET with Observe=1 and the observation's token
    /// goes to the server (RFC 7641 §3.6); its answer arrives as [`Event::Response`].
    /// Before the observation is established this just forgets the request.
    ///
    /// # Errors
    /// [`Error::UnknownHandle`] if `handle` is not an observation in progress.
    pub fn cancel_observe(&mut self, now: Instant, handle: RequestHandle) -> Result<()> {
        let ex = self
            .exchanges
            .get_mut(&handle.0)
            .ok_or(Error::UnknownHandle)?;
        let Some(obs) = ex.observe.as_mut() else {
            return Err(Error::UnknownHandle);
        };
        if !obs.registered || ex.state != State::Idle {
            self.forget(handle);
            return Ok(());
        }
        obs.cancelling = true;
        ex.request.options.set_uint(option::OBSERVE, 1);
        ex.rx = None;
        let peer = ex.peer;
        ex.state = State::Queued;
        self.dispatch(now, peer);
        Ok(())
    }

    /// Drops all state of a request or observation without telling the peer; later
    /// notifications are answered with RST (RFC 7641 §3.6). Returns whether it existed.
    pub fn forget(&mut self, handle: RequestHandle) -> bool {
        if self.forget_group(handle.0) {
            return true;
        }
        let Some(ex) = self.exchanges.remove(&handle.0) else {
            return false;
        };
        self.tokens.remove(&(ex.peer, ex.cur_token.clone()));
        if let Some(t) = ex.obs_token {
            self.tokens.remove(&(ex.peer, t));
        }
        self.retrans
            .retain(|_, r| r.owner != Owner::Client(handle.0));
        true
    }

    /// Marks the queued exchanges of `peer` as waiting for a Message ID until `retry_at`.
    fn block_on_mids(&mut self, now: Instant, peer: SocketAddr, retry_at: Option<Instant>) {
        // Without a known instant, look again after one allocator granularity.
        let retry_at = retry_at.unwrap_or_else(|| later(now, self.config.mid_granularity()));
        for ex in self.exchanges.values_mut() {
            if ex.peer == peer && ex.state == State::Queued {
                ex.mid_blocked_since.get_or_insert(now);
                ex.mid_retry_at = Some(retry_at.max(now));
            }
        }
    }

    fn unique_token(&mut self, peer: SocketAddr) -> Vec<u8> {
        loop {
            let t = self.random_token();
            if !self.tokens.contains_key(&(peer, t.clone())) {
                return t;
            }
        }
    }

    /// Starts queued requests while the peer has fewer than NSTART outstanding (RFC 7252 §4.7).
    fn dispatch(&mut self, now: Instant, peer: SocketAddr) {
        loop {
            let outstanding = self
                .exchanges
                .values()
                .filter(|ex| ex.peer == peer && ex.outstanding())
                .count();
            if outstanding >= self.config.transmission.nstart.max(1) {
                return;
            }
            let next = self
                .exchanges
                .iter()
                .filter(|(_, ex)| ex.peer == peer && ex.state == State::Queued)
                .map(|(h, _)| *h)
                .min();
            let Some(h) = next else { return };
            if let Err(no) = self.mids.check(now, peer, self.config.max_peers) {
                self.stats.message_ids_exhausted += 1;
                self.block_on_mids(now, peer, no.retry_at());
                return;
            }
            if !self.send_step(now, h) {
                return;
            }
        }
    }

    /// Sends the next message of exchange `h`: the request, its next Block1 block, or
    /// the next Block2 request. Returns false when nothing was sent: the exchange failed,
    /// or it waits (queued) for a free Message ID.
    fn send_step(&mut self, now: Instant, h: u64) -> bool {
        let block_size = |szx: u8| 1usize << (u32::from(szx) + 4);
        let Some(ex) = self.exchanges.get(&h) else {
            return false;
        };
        let mut msg = ex.request.clone();
        msg.payload.clear();
        let follow_up = ex.rx.is_some();
        if let Some(rx) = &ex.rx {
            msg.options.remove(option::OBSERVE);
            msg.options.remove(option::BLOCK1);
            msg.options.remove(option::SIZE1);
            msg.options.set(
                option::BLOCK2,
                Block {
                    num: rx.next_num,
                    more: false,
                    szx: rx.szx,
                }
                .encode(),
            );
        } else if ex.request.payload.len() > block_size(ex.b1_szx) {
            let size = block_size(ex.b1_szx);
            let len = ex.request.payload.len();
            let offset = (ex.b1_num as usize).saturating_mul(size).min(len);
            let end = offset.saturating_add(size).min(len);
            msg.payload = ex
                .request
                .payload
                .get(offset..end)
                .unwrap_or_default()
                .to_vec();
            msg.options.set(
                option::BLOCK1,
                Block {
                    num: ex.b1_num,
                    more: end < len,
                    szx: ex.b1_szx,
                }
                .encode(),
            );
            if ex.b1_num == 0 {
                msg.options.set(
                    option::SIZE1,
                    encode_uint(u32::try_from(len).unwrap_or(u32::MAX)),
                );
            }
        } else {
            msg.payload.clone_from(&ex.request.payload);
        }
        let peer = ex.peer;
        let confirmable = ex.confirmable;
        let reuse_obs_token = match (&ex.obs_token, follow_up) {
            (Some(t), false) => Some(t.clone()),
            _ => None,
        };
        let mid = match self.alloc_mid(now, peer, confirmable) {
            Ok(m) => m,
            Err(no) => {
                // RFC 7252 §4.4: never reuse an ID early; wait (queued) for one to free up.
                if let Some(ex) = self.exchanges.get_mut(&h) {
                    ex.state = State::Queued;
                    ex.deadline = None;
                }
                self.block_on_mids(now, peer, no.retry_at());
                return false;
            }
        };
        let token = match reuse_obs_token {
            Some(t) => t,
            None => self.unique_token(peer),
        };
        let frame = Frame {
            mtype: if confirmable {
                MessageType::Confirmable
            } else {
                MessageType::NonConfirmable
            },
            mid,
            token: token.clone(),
            msg,
        };
        let bytes = match frame.encode(self.config.max_message_size) {
            Ok(b) => b,
            Err(e) => {
                self.fail(now, h, e);
                return false;
            }
        };
        let non_wait = self.config.transmission.max_transmit_wait();
        let Some(ex) = self.exchanges.get_mut(&h) else {
            return false;
        };
        ex.mid_blocked_since = None;
        ex.mid_retry_at = None;
        if ex.obs_token.as_ref() != Some(&ex.cur_token) {
            self.tokens.remove(&(peer, ex.cur_token.clone()));
        }
        ex.cur_token = token.clone();
        ex.last_mid = Some(mid);
        self.tokens.insert((peer, token), h);
        if confirmable {
            ex.state = State::AwaitingAck(mid);
            ex.deadline = None;
            self.send_con(peer, mid, bytes, Owner::Client(h), now);
        } else {
            ex.state = State::AwaitingResponse { acked: false };
            ex.deadline = Some(later(now, non_wait));
            self.send(peer, bytes);
        }
        true
    }

    pub(super) fn on_empty_ack(&mut self, now: Instant, h: u64) {
        let lifetime = self.config.transmission.exchange_lifetime();
        let Some(ex) = self.exchanges.get_mut(&h) else {
            return;
        };
        if matches!(ex.state, State::AwaitingAck(_)) {
            // Separate response to follow (RFC 7252 §5.2.2); the NSTART slot is free.
            ex.state = State::AwaitingResponse { acked: true };
            ex.deadline = Some(later(now, lifetime));
        }
        let peer = ex.peer;
        self.dispatch(now, peer);
    }

    /// A CON or NON response (separate response or notification).
    pub(super) fn on_separate_response(&mut self, now: Instant, from: SocketAddr, frame: Frame) {
        let confirmable = frame.mtype == MessageType::Confirmable;
        let p = &self.config.transmission;
        let lifetime = if confirmable {
            p.exchange_lifetime()
        } else {
            p.non_lifetime()
        };
        let limits = self.dedup_limits();
        match self
            .dedup
            .check(now, (from, frame.mid), confirmable, lifetime, &limits)
        {
            Check::New | Check::Full(_) => {}
            Check::Duplicate(cached) => {
                self.stats.duplicates += 1;
                if let (true, Some(bytes)) = (confirmable, cached) {
                    self.send(from, bytes);
                }
                return;
            }
            Check::PeerTableFull => {
                self.stats.dropped_at_limit += 1;
                return;
            }
        }
        if !self.tokens.contains_key(&(from, frame.token.clone()))
            && let Some(g) = self.group_tokens.get(&frame.token).copied()
        {
            if confirmable {
                let ack = self.send_empty(from, MessageType::Acknowledgement, frame.mid);
                self.dedup.set_reply((from, frame.mid), ack);
            }
            self.on_group_response(g, from, frame.msg);
            return;
        }
        let Some(h) = self.tokens.get(&(from, frame.token.clone())).copied() else {
            // Unknown token: reject (RFC 7252 §4.2/§4.3, RFC 7641 §3.6).
            let rst = self.send_empty(from, MessageType::Reset, frame.mid);
            self.dedup.set_reply((from, frame.mid), rst);
            return;
        };
        if confirmable {
            let ack = self.send_empty(from, MessageType::Acknowledgement, frame.mid);
            self.dedup.set_reply((from, frame.mid), ack);
        }
        let via_obs = self
            .exchanges
            .get(&h)
            .is_some_and(|ex| ex.obs_token.as_ref() == Some(&frame.token));
        self.on_response(now, h, frame.msg, via_obs);
    }

    pub(super) fn on_response(&mut self, now: Instant, h: u64, mut msg: Message, via_obs: bool) {
        let Some(ex) = self.exchanges.get_mut(&h) else {
            return;
        };
        let peer = ex.peer;
        if let State::AwaitingAck(mid) = ex.state {
            // A separate response implies the ACK (RFC 7252 §5.2.2).
            self.retrans.remove(&(peer, mid));
        }
        let registered = ex.observe.as_ref().is_some_and(|o| o.registered);
        let cancelling = ex.observe.as_ref().is_some_and(|o| o.cancelling);
        if via_obs && registered && !cancelling {
            self.on_notification(now, h, msg);
            return;
        }
        if !matches!(
            ex.state,
            State::AwaitingAck(_) | State::AwaitingResponse { .. }
        ) {
            return; // stray or late response
        }
        if via_obs && ex.rx.is_some() {
            // A notification racing the Block2 follow-ups of the registration response:
            // the follow-up in flight is what we wait for; newer state will come again.
            return;
        }
        ex.state = State::Idle;
        ex.deadline = None;
        if let (true, Some(seq), true) =
            (via_obs && !cancelling, msg.observe(), msg.code.is_success())
        {
            ex.notif_seq = Some(seq);
            if let Some(o) = ex.observe.as_mut() {
                o.last = Some((seq, now));
            }
        }
        let block_size = |szx: u8| 1usize << (u32::from(szx) + 4);
        // Block1 (RFC 7959 §2.3): 2.31 Continue asks for the next block, possibly smaller.
        if msg.code == Code::CONTINUE
            && ex.rx.is_none()
            && ex.request.payload.len() > block_size(ex.b1_szx)
        {
            let Some(b1) = msg.block1().filter(|b| b.more) else {
                return self.fail(now, h, Error::BlockwiseFailed("2.31 without Block1"));
            };
            let acked_end = (ex.b1_num as usize + 1).saturating_mul(block_size(ex.b1_szx));
            let szx = ex.b1_szx.min(b1.szx);
            if acked_end >= ex.request.payload.len() {
                return self.fail(now, h, Error::BlockwiseFailed("2.31 for the last block"));
            }
            ex.b1_szx = szx;
            ex.b1_num = u32::try_from(acked_end / block_size(szx)).unwrap_or(u32::MAX);
            let _ = self.send_step(now, h);
            return self.dispatch(now, peer);
        }
        // Block2 (RFC 7959 §2.4).
        if let Some(b2) = msg.block2() {
            let etag = msg.options.get(option::ETAG).map(<[u8]>::to_vec);
            let max = self.config.max_body_size;
            let rx = match ex.rx.take() {
                None if b2.num != 0 => {
                    return self.fail(now, h, Error::BlockwiseFailed("first block is not block 0"));
                }
                None if !b2.more => None,
                None => Some(Rx {
                    body: core::mem::take(&mut msg.payload),
                    etag,
                    szx: b2.szx,
                    next_num: 0,
                }),
                Some(mut rx) => {
                    if b2.offset() != rx.body.len() {
                        return self.fail(
                            now,
                            h,
                            Error::BlockwiseFailed("unexpected block number"),
                        );
                    }
                    if rx.etag != etag {
                        return self.fail(
                            now,
                            h,
                            Error::BlockwiseFailed("ETag changed during transfer"),
                        );
                    }
                    rx.body.append(&mut msg.payload);
                    rx.szx = b2.szx;
                    Some(rx)
                }
            };
            if let Some(mut rx) = rx {
                if rx.body.len() > max {
                    return self.fail(now, h, Error::BodyTooLarge { limit: max });
                }
                if b2.more {
                    rx.next_num =
                        u32::try_from(rx.body.len() / block_size(rx.szx)).unwrap_or(u32::MAX);
                    ex.rx = Some(rx);
                    let _ = self.send_step(now, h);
                    return self.dispatch(now, peer);
                }
                msg.payload = rx.body;
            }
            msg.options.remove(option::BLOCK2);
        }
        // Final response.
        let seq = ex.notif_seq.take();
        match (ex.observe.as_mut(), seq) {
            (Some(o), Some(seq)) if !o.cancelling && msg.code.is_success() => {
                o.registered = true;
                let cur = ex.cur_token.clone();
                if ex.obs_token.as_ref() != Some(&cur) {
                    self.tokens.remove(&(peer, cur));
                }
                self.events.push_back(Event::Notification {
                    handle: RequestHandle(h),
                    sequence: seq,
                    response: msg,
                });
            }
            _ => {
                self.forget(RequestHandle(h));
                self.events.push_back(Event::Response {
                    handle: RequestHandle(h),
                    response: msg,
                });
            }
        }
        self.dispatch(now, peer);
    }

    fn on_notification(&mut self, now: Instant, h: u64, msg: Message) {
        let Some(ex) = self.exchanges.get_mut(&h) else {
            return;
        };
        let peer = ex.peer;
        let Some(seq) = msg.observe().filter(|_| msg.code.is_success()) else {
            // The server ended the observation (RFC 7641 §3.2).
            self.forget(RequestHandle(h));
            self.events.push_back(Event::Response {
                handle: RequestHandle(h),
                response: msg,
            });
            return;
        };
        if let Some(o) = ex.observe.as_mut() {
            if let Some((v1, t1)) = o.last
                && !is_fresh(v1, t1, seq, now)
            {
                self.stats.stale_notifications += 1;
                return;
            }
            o.last = Some((seq, now));
        }
        if msg.block2().is_some_and(|b| b.more && b.num == 0) {
            // Fetch the rest of this representation with plain GETs; an assembly in
            // progress for an older notification is abandoned.
            if let State::AwaitingAck(mid) = ex.state {
                self.retrans.remove(&(peer, mid));
            }
            let block_size = 1usize << (u32::from(msg.block2().map_or(6, |b| b.szx)) + 4);
            let szx = msg.block2().map_or(6, |b| b.szx);
            let etag = msg.options.get(option::ETAG).map(<[u8]>::to_vec);
            let mut msg = msg;
            let body = core::mem::take(&mut msg.payload);
            let next_num = u32::try_from(body.len() / block_size).unwrap_or(u32::MAX);
            let Some(ex) = self.exchanges.get_mut(&h) else {
                return;
            };
            ex.notif_seq = Some(seq);
            ex.rx = Some(Rx {
                body,
                etag,
                szx,
                next_num,
            });
            let _ = self.send_step(now, h);
            return;
        }
        self.events.push_back(Event::Notification {
            handle: RequestHandle(h),
            sequence: seq,
            response: msg,
        });
    }

    pub(super) fn fail(&mut self, now: Instant, h: u64, error: Error) {
        let peer = self.exchanges.get(&h).map(|ex| ex.peer);
        if self.forget(RequestHandle(h)) {
            self.events.push_back(Event::Failed {
                handle: RequestHandle(h),
                error,
            });
        }
        if let Some(peer) = peer {
            self.dispatch(now, peer);
        }
    }

    pub(super) fn client_timeouts(&mut self, now: Instant) {
        let expired: Vec<u64> = self
            .exchanges
            .iter()
            .filter(|(_, ex)| ex.deadline.is_some_and(|d| d <= now))
            .map(|(h, _)| *h)
            .collect();
        for h in expired {
            self.fail(now, h, Error::Timeout);
        }
        // Waiting for a Message ID: give up after `message_id_wait`, retry when due.
        let wait = self.config.message_id_wait;
        let gave_up: Vec<u64> = self
            .exchanges
            .iter()
            .filter(|(_, ex)| {
                matches!((ex.mid_blocked_since, wait), (Some(since), Some(w)) if later(since, w) <= now)
            })
            .map(|(h, _)| *h)
            .collect();
        for h in gave_up {
            self.fail(now, h, Error::MessageIdsExhausted);
        }
        let mut retry: Vec<SocketAddr> = self
            .exchanges
            .values()
            .filter(|ex| ex.mid_retry_at.is_some_and(|t| t <= now))
            .map(|ex| ex.peer)
            .collect();
        retry.sort_unstable();
        retry.dedup();
        for ex in self.exchanges.values_mut() {
            if ex.mid_retry_at.is_some_and(|t| t <= now) {
                ex.mid_retry_at = None;
            }
        }
        for peer in retry {
            self.dispatch(now, peer);
        }
    }
}
