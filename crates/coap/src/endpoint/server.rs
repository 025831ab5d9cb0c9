//! Server side of the endpoint: requests → security layer → block-wise/observe →
//! router, and responses back.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use rand::Rng as _;

use super::dedup::Check;
use super::{Block, Endpoint, Owner, fnv1a};
use crate::config::later;
use crate::consts::{OBSERVE_SEQUENCE_MODULUS, option};
use crate::error::{Error, Result};
use crate::message::{Code, Frame, Message, MessageType, encode_uint};
use crate::resource::{Handled, PeerIdentity, Request, RequestId};
use crate::security::{OuterBlockwise, SecurityLayer};

/// An observer: (client address, token).
pub(crate) type ObsKey = (SocketAddr, Vec<u8>);

/// Identifies "the same request" for block-wise purposes (RFC 7959 §2.4/§2.5): peer,
/// method, and all options except the block-wise ones and Observe.
pub(crate) type ReqKey = (SocketAddr, u8, Vec<(u16, Vec<u8>)>);

fn req_key(peer: SocketAddr, msg: &Message) -> ReqKey {
    let opts = msg
        .options
        .iter()
        .filter(|(n, _)| {
            !matches!(
                *n,
                option::BLOCK1 | option::BLOCK2 | option::SIZE1 | option::SIZE2 | option::OBSERVE
            )
        })
        .map(|(n, v)| (n, v.to_vec()))
        .collect();
    (peer, msg.code.0, opts)
}

/// Where and how the answer to a request goes.
#[derive(Debug, Clone)]
pub(crate) struct ReplyTo {
    peer: SocketAddr,
    mid: u16,
    token: Vec<u8>,
    confirmable: bool,
    /// An empty ACK was sent already: the response goes as a separate message.
    separate: bool,
    /// The request arrived via multicast (RFC 7252 §8.2): NON response after a random
    /// leisure, error responses suppressed unless configured.
    multicast: bool,
    /// The request's No-Response option (RFC 7967), if any.
    no_response: Option<u32>,
    /// Outer block-wise state of an OSCORE request (RFC 8613 §4.1.3.4.2), if any.
    outer: Option<Box<OuterReply>>,
}

/// Bytes a protected response adds to the inner payload, as estimated when deciding
/// whether it stays within MAX_UNFRAGMENTED_SIZE (code, inner options, payload marker and
/// an AEAD tag of at most 16 bytes).
const OUTER_OVERHEAD: usize = 64;

/// Outer block-wise state of one request carrying the OSCORE option (RFC 8613
/// §4.1.3.4.2): what the protected response needs after [`SecurityLayer::protect`].
#[derive(Debug, Clone)]
pub(crate) struct OuterReply {
    /// The outer request's key: follow-up requests for outer Block2 blocks carry the same
    /// options (same OSCORE option) apart from the block options.
    key: ReqKey,
    /// Outer Block2 block size: the request's outer Block2 SZX (early negotiation), else
    /// the configured one.
    szx: u8,
    /// The request asked for an outer Block2 size (outer Block2 block 0).
    asked: bool,
    /// The outer Block1 of the last block of a reassembled request (echoed, M = 0).
    block1: Option<Block>,
    policy: OuterBlockwise,
}

impl OuterReply {
    /// Is the response protected whole (to be cut into outer blocks) rather than cut into
    /// inner Block2 blocks? Only when the policy says so, the request did not ask for an
    /// inner block, and the protected message stays within MAX_UNFRAGMENTED_SIZE (RFC 8613
    /// §4.1.3.4.2: larger messages use inner block-wise).
    fn keeps_whole(
        &self,
        inner_block2: Option<Block>,
        response: &Message,
        max_body: usize,
    ) -> bool {
        self.policy.fragment_responses
            && inner_block2.is_none()
            && response.payload.len().saturating_add(OUTER_OVERHEAD)
                <= self.policy.max_unfragmented_size.min(max_body)
    }
}

#[derive(Debug)]
pub(crate) struct Observer<C> {
    path: String,
    request: Message,
    identity: PeerIdentity,
    context: C,
    szx: u8,
    /// The registration request was CON (reported by [`Request::confirmable`] on re-runs).
    confirmable: bool,
    last_con: Instant,
    pub(crate) pending_con: Option<u16>,
    pub(crate) recent_mids: VecDeque<u16>,
}

/// What to do with the response once the resource produced it.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    reply: ReplyTo,
    key: ReqKey,
    path: String,
    request_block2: Option<Block>,
    block1_echo: Option<Block>,
    /// Register an observer on success (GET with Observe=0 on an observable resource).
    register: Option<(Message, PeerIdentity)>,
}

pub(crate) enum DeferredKind {
    Request(Box<Plan>),
    Notification(ObsKey),
}

pub(crate) struct Deferred<C> {
    kind: DeferredKind,
    context: Option<C>,
    expires: Instant,
    /// A CON request whose empty ACK is still held back (piggyback window): the ACK
    /// goes out at this instant unless the response comes first.
    ack_at: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Assembly {
    body: Vec<u8>,
    expires: Instant,
}

#[derive(Debug)]
pub(crate) struct CachedResponse {
    key: ReqKey,
    response: Message,
    expires: Instant,
}

enum Block1Outcome {
    /// Not block-wise, or the last block arrived: go on with this request.
    Proceed(Option<Block>),
    /// Answer with this response now (2.31 Continue, 4.08, 4.13, ...).
    Answer(Message),
}

impl<S: SecurityLayer> Endpoint<S> {
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        frame: Frame,
        multicast: bool,
    ) {
        let confirmable = frame.mtype == MessageType::Confirmable;
        let p = &self.config.transmission;
        let lifetime = if confirmable {
            p.exchange_lifetime()
        } else {
            p.non_lifetime()
        };
        let limits = self.dedup_limits();
        let no_response = frame
            .msg
            .options
            .get_uint(option::NO_RESPONSE)
            .ok()
            .flatten();
        let mut reply = ReplyTo {
            peer,
            mid: frame.mid,
            token: frame.token,
            confirmable,
            separate: false,
            multicast,
            no_response,
            outer: None,
        };
        match self
            .dedup
            .check(now, (peer, frame.mid), confirmable, lifetime, &limits)
        {
            Check::New => {}
            Check::Duplicate(cached) => {
                self.stats.duplicates += 1;
                if let (true, Some(bytes)) = (confirmable, cached) {
                    self.send(peer, bytes);
                }
                return;
            }
            Check::PeerTableFull => {
                self.stats.dropped_at_limit += 1;
                return;
            }
            Check::Full(at) => {
                // Cannot remember this message ID, so cannot process it exactly once:
                // 5.03 with Max-Age until there is room again.
                self.stats.dropped_at_limit += 1;
                if confirmable {
                    let wait = at.saturating_duration_since(now).as_secs().max(1);
                    let mut m = Message::new(Code::SERVICE_UNAVAILABLE);
                    m.options
                        .set_uint(option::MAX_AGE, u32::try_from(wait).unwrap_or(u32::MAX));
                    self.transmit_response(now, &reply, m);
                }
                return;
            }
        }

        let mut outer_msg = frame.msg;
        if outer_msg.options.contains(option::OSCORE)
            && let Some(policy) = self.security.outer_blockwise()
        {
            match self.outer_receive(now, peer, &mut outer_msg, policy) {
                Ok(outer) => reply.outer = outer,
                Err(response) => {
                    self.transmit_response(now, &reply, response);
                    return;
                }
            }
        }
        let (inner, identity, mut context) = match self.security.unprotect(peer, outer_msg) {
            Ok(x) => x,
            Err(response) => {
                self.transmit_response(now, &reply, response);
                return;
            }
        };
        let path = match check_request(&inner) {
            Ok(p) => p,
            Err(response) => {
                self.finish(now, &reply, response, Some(&mut context));
                return;
            }
        };
        let mut inner = inner;
        let key = req_key(peer, &inner);
        let max_body = self.config.max_body_size;
        let block1_echo = match self.block1_receive(now, peer, &key, &mut inner, max_body) {
            Block1Outcome::Proceed(b) => b,
            Block1Outcome::Answer(response) => {
                self.finish(now, &reply, response, Some(&mut context));
                return;
            }
        };
        let request_block2 = inner.block2();
        // Block2 follow-up served from the cache (stable representation, same ETag).
        if let Some(b2) = request_block2.filter(|b| b.num > 0) {
            self.block2_cache.retain(|c| c.expires > now);
            if let Some(cached) = self
                .block2_cache
                .iter()
                .find(|c| c.key == key)
                .map(|c| c.response.clone())
            {
                let szx = self.config.szx();
                let response = self.slice_block2(now, &key, cached, Some(b2), szx);
                self.finish(now, &reply, response, Some(&mut context));
                return;
            }
        }

        // Observe (RFC 7641 §3.1, §3.6, §4.1).
        let obs_key: ObsKey = (peer, reply.token.clone());
        let mut register = None;
        if matches!(inner.code, Code::GET | Code::FETCH) {
            match inner.observe() {
                Some(0)
                    if request_block2.is_none_or(|b| b.num == 0)
                        && self.router.is_observable(&path) =>
                {
                    let mut stored = inner.clone();
                    stored.options.remove(option::BLOCK2);
                    register = Some((stored, identity.clone()));
                }
                Some(0) => {}
                // A Block2 follow-up of a notification may reuse the observation's token.
                None if request_block2.is_some_and(|b| b.num > 0) => {}
                _ => {
                    self.observers.remove(&obs_key);
                }
            }
        }

        let plan = Plan {
            reply,
            key,
            path,
            request_block2,
            block1_echo,
            register,
        };
        let id = self.next_id();
        let request = Request {
            message: inner,
            peer,
            identity,
            id: RequestId(id),
            path: plan.path.clone(),
            is_notification: false,
            confirmable: plan.reply.confirmable,
        };
        self.stats.requests_handled += 1;
        match self.router.route(&request) {
            Handled::Response(response) => self.complete(now, &plan, response, context),
            Handled::Unchanged => {
                tracing::warn!(path = %plan.path, "a resource answered a request with Unchanged");
                let m = Message::new(Code::INTERNAL_SERVER_ERROR);
                self.complete(now, &plan, m, context);
            }
            Handled::Deferred => {
                if self.deferred.len() >= self.config.max_deferred {
                    let m = Message::new(Code::SERVICE_UNAVAILABLE);
                    self.finish(now, &plan.reply, m, Some(&mut context));
                    return;
                }
                let mut plan = plan;
                let mut ack_at = None;
                if plan.reply.confirmable {
                    // RFC 7252 §5.2.2: the server may wait a short time for the response
                    // before sending the empty ACK; a response ready within the piggyback
                    // window goes in the ACK (one datagram instead of three).
                    let window = self.config.effective_piggyback_window();
                    if window.is_zero() {
                        self.send_separate_ack(peer, &mut plan);
                    } else {
                        ack_at = Some(later(now, window));
                    }
                }
                let expires = later(now, self.config.block_lifetime());
                self.deferred.insert(
                    id,
                    Deferred {
                        kind: DeferredKind::Request(Box::new(plan)),
                        context: Some(context),
                        expires,
                        ack_at,
                    },
                );
            }
        }
    }

    /// Sends the empty ACK for a deferred CON request: the response will follow as a
    /// separate CON (RFC 7252 §5.2.2). Duplicates of the request get the same ACK.
    fn send_separate_ack(&mut self, peer: SocketAddr, plan: &mut Plan) {
        let ack = self.send_empty(peer, MessageType::Acknowledgement, plan.reply.mid);
        self.dedup.set_reply((peer, plan.reply.mid), ack);
        plan.reply.separate = true;
    }

    /// Response to a request the router handled: Block1 echo, Observe registration,
    /// Block2 slicing, protection, transmission.
    fn complete(
        &mut self,
        now: Instant,
        plan: &Plan,
        mut response: Message,
        mut context: S::Context,
    ) {
        if let Some(b1) = plan.block1_echo {
            response
                .options
                .set(option::BLOCK1, Block { more: false, ..b1 }.encode());
        }
        if let Some((stored, identity)) = plan.register.clone() {
            let key: ObsKey = (plan.reply.peer, plan.reply.token.clone());
            let per_peer = self
                .observers
                .keys()
                .filter(|k| k.0 == plan.reply.peer)
                .count();
            let room = self.observers.contains_key(&key)
                || (self.observers.len() < self.config.max_observers
                    && per_peer < self.config.max_observers_per_peer);
            if response.code.is_success() && room {
                response
                    .options
                    .set_uint(option::OBSERVE, self.next_observe_seq());
                let szx = plan
                    .request_block2
                    .map_or(self.config.szx(), |b| b.szx.min(self.config.szx()));
                let response =
                    self.slice_block2(now, &plan.key, response, plan.request_block2, szx);
                let protected = match self
                    .security
                    .protect(plan.reply.peer, response, &mut context)
                {
                    Ok(m) => m,
                    Err(m) => {
                        self.transmit_response(now, &plan.reply, m);
                        return;
                    }
                };
                self.transmit_response(now, &plan.reply, protected);
                self.observers.insert(
                    key,
                    Observer {
                        path: plan.path.clone(),
                        request: stored,
                        identity,
                        context,
                        szx,
                        confirmable: plan.reply.confirmable,
                        last_con: now,
                        pending_con: None,
                        recent_mids: VecDeque::new(),
                    },
                );
                return;
            }
        }
        let whole = plan.reply.outer.as_deref().is_some_and(|o| {
            o.keeps_whole(plan.request_block2, &response, self.config.max_body_size)
        });
        let response = if whole {
            response
        } else {
            let szx = self.config.szx();
            self.slice_block2(now, &plan.key, response, plan.request_block2, szx)
        };
        self.finish(now, &plan.reply, response, Some(&mut context));
    }

    /// Outer block-wise on a request carrying the OSCORE option, before it is unprotected
    /// (RFC 8613 §4.1.3.4.2, §8.2.1 step A): an outer Block2 follow-up is served from the
    /// cached protected response, outer Block1 blocks are reassembled (bounded by
    /// MAX_UNFRAGMENTED_SIZE and `max_body_size`). `Err` is the (unprotected) answer to send
    /// now: 2.31 Continue, 4.13 + Size1, 4.08, 4.02, or the next outer Block2 block.
    fn outer_receive(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        msg: &mut Message,
        policy: OuterBlockwise,
    ) -> core::result::Result<Option<Box<OuterReply>>, Message> {
        let bad = |n: u16| Message::response(Code::BAD_OPTION, format!("malformed option {n}"));
        let block2 = match msg.options.get(option::BLOCK2) {
            Some(v) => Some(Block::decode(v).ok_or_else(|| bad(option::BLOCK2))?),
            None => None,
        };
        let has_block1 = match msg.options.get(option::BLOCK1) {
            Some(v) => Block::decode(v)
                .map(|_| true)
                .ok_or_else(|| bad(option::BLOCK1))?,
            None => false,
        };
        if !has_block1 && block2.is_none() && !policy.fragment_responses {
            return Ok(None);
        }
        let key = req_key(peer, msg);
        if let Some(b2) = block2.filter(|b| b.num > 0) {
            self.block2_cache.retain(|c| c.expires > now);
            let cached = self
                .block2_cache
                .iter()
                .find(|c| c.key == key)
                .map(|c| c.response.clone());
            return Err(match cached {
                Some(whole) => {
                    let szx = b2.szx.min(self.config.szx());
                    cut_block(whole, b2.offset(), szx)
                }
                None => Message::response(
                    Code::REQUEST_ENTITY_INCOMPLETE,
                    "no outer block-wise response cached",
                ),
            });
        }
        msg.options.remove(option::BLOCK2);
        let max = policy.max_unfragmented_size.min(self.config.max_body_size);
        let block1 = match self.block1_receive(now, peer, &key, msg, max) {
            Block1Outcome::Proceed(b) => b,
            Block1Outcome::Answer(m) => return Err(m),
        };
        let szx = block2.map_or(self.config.szx(), |b| b.szx.min(self.config.szx()));
        Ok(Some(Box::new(OuterReply {
            key,
            szx,
            asked: block2.is_some(),
            block1,
            policy,
        })))
    }

    /// The protected response to a request with outer block-wise state: the outer Block1
    /// echo, and — when the policy fragments responses (or the request asked for an outer
    /// block size) and it is larger than a block — block 0 of it, the whole protected
    /// message cached for the follow-ups. Notifications are left alone.
    fn outer_send(&mut self, now: Instant, outer: &OuterReply, mut response: Message) -> Message {
        if let Some(b1) = outer.block1 {
            response
                .options
                .set(option::BLOCK1, Block { more: false, ..b1 }.encode());
        }
        let size = 1usize << (u32::from(outer.szx) + 4);
        if !(outer.policy.fragment_responses || outer.asked)
            || response.payload.len() <= size
            || response.options.contains(option::OBSERVE)
            || !response.options.contains(option::OSCORE)
        {
            return response;
        }
        let mut whole = response.clone();
        whole.options.remove(option::BLOCK1);
        self.block2_cache
            .retain(|c| c.expires > now && c.key != outer.key);
        while self.block2_cache.len() >= self.config.max_block2_cache.max(1) {
            self.block2_cache.pop_front();
        }
        self.block2_cache.push_back(CachedResponse {
            key: outer.key.clone(),
            response: whole,
            expires: later(now, self.config.block_lifetime()),
        });
        cut_block(response, 0, outer.szx)
    }

    fn next_observe_seq(&mut self) -> u32 {
        self.observe_seq = (self.observe_seq + 1) % OBSERVE_SEQUENCE_MODULUS;
        self.observe_seq
    }

    /// Protects (when a context is given) and transmits a response.
    fn finish(
        &mut self,
        now: Instant,
        reply: &ReplyTo,
        response: Message,
        context: Option<&mut S::Context>,
    ) {
        let response = match context {
            Some(c) => match self.security.protect(reply.peer, response, c) {
                Ok(m) | Err(m) => m,
            },
            None => response,
        };
        self.transmit_response(now, reply, response);
    }

    /// Encodes and sends a (protected) response: piggybacked on the ACK for a CON
    /// request, as NON for a NON request, or as a separate CON after an empty ACK.
    fn transmit_response(&mut self, now: Instant, reply: &ReplyTo, response: Message) {
        let response = match reply.outer.as_deref() {
            Some(outer) => self.outer_send(now, outer, response),
            None => response,
        };
        if reply.multicast && self.suppress_multicast_response(reply, &response) {
            self.stats.multicast_suppressed += 1;
            return;
        }
        if reply.multicast && self.delayed.len() >= self.config.multicast.max_pending {
            self.stats.dropped_at_limit += 1;
            return;
        }
        let (mtype, mid) = if reply.separate {
            let Ok(mid) = self.alloc_mid(now, reply.peer, true) else {
                tracing::debug!(peer = %reply.peer, "no Message ID free; separate response dropped");
                return;
            };
            (MessageType::Confirmable, mid)
        } else if reply.confirmable {
            (MessageType::Acknowledgement, reply.mid)
        } else {
            let Ok(mid) = self.alloc_mid(now, reply.peer, false) else {
                tracing::debug!(peer = %reply.peer, "no Message ID free; NON response dropped");
                return;
            };
            (MessageType::NonConfirmable, mid)
        };
        let mut frame = Frame {
            mtype,
            mid,
            token: reply.token.clone(),
            msg: response,
        };
        let bytes = match frame.encode(self.config.max_message_size) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "response does not fit; answering 5.00");
                frame.msg = Message::new(Code::INTERNAL_SERVER_ERROR);
                match frame.encode(self.config.max_message_size) {
                    Ok(b) => b,
                    Err(_) => return,
                }
            }
        };
        if reply.separate {
            self.send_con(reply.peer, mid, bytes, Owner::Separate, now);
        } else if reply.multicast {
            // RFC 7252 §8.2: answer at a random instant within the leisure period.
            let leisure = self.config.multicast.leisure;
            let nanos = u64::try_from(leisure.as_nanos()).unwrap_or(u64::MAX);
            let delay = if nanos == 0 {
                0
            } else {
                self.rng.next_u64() % nanos
            };
            let at = later(now, core::time::Duration::from_nanos(delay));
            self.delayed.push((at, reply.peer, bytes));
        } else {
            if reply.confirmable {
                self.dedup.set_reply((reply.peer, reply.mid), bytes.clone());
            }
            self.send(reply.peer, bytes);
        }
    }

    /// RFC 7967 / RFC 7252 §8.2: does this response to a multicast request stay unsent?
    fn suppress_multicast_response(&self, reply: &ReplyTo, response: &Message) -> bool {
        let class = response.code.0 >> 5;
        match reply.no_response {
            // No-Response bits: 2 = 2.xx, 8 = 4.xx, 16 = 5.xx (RFC 7967 §2.1).
            Some(mask) => match class {
                2 => mask & 2 != 0,
                4 => mask & 8 != 0,
                5 => mask & 16 != 0,
                _ => false,
            },
            None => matches!(class, 4 | 5) && !self.config.multicast.error_responses,
        }
    }

    /// Moves responses to multicast requests whose leisure instant has come to the output.
    pub(super) fn release_delayed(&mut self, now: Instant) {
        let mut due = Vec::new();
        self.delayed.retain(|d| {
            if d.0 <= now {
                due.push((d.0, d.1, d.2.clone()));
                false
            } else {
                true
            }
        });
        due.sort_by_key(|d| d.0);
        for (_, to, bytes) in due {
            self.send(to, bytes);
        }
    }

    fn block1_receive(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        key: &ReqKey,
        req: &mut Message,
        max: usize,
    ) -> Block1Outcome {
        let too_large = || {
            let mut m = Message::new(Code::REQUEST_ENTITY_TOO_LARGE);
            m.options
                .set_uint(option::SIZE1, u32::try_from(max).unwrap_or(u32::MAX));
            m
        };
        let Some(b1) = req.block1() else {
            if req.payload.len() > max {
                return Block1Outcome::Answer(too_large());
            }
            return Block1Outcome::Proceed(None);
        };
        if let Ok(Some(size1)) = req.options.get_uint(option::SIZE1)
            && size1 as usize > max
        {
            self.block1.remove(key);
            return Block1Outcome::Answer(too_large());
        }
        if b1.more && req.payload.len() != b1.size() {
            self.block1.remove(key);
            return Block1Outcome::Answer(Message::response(
                Code::BAD_REQUEST,
                "block size mismatch",
            ));
        }
        let payload = core::mem::take(&mut req.payload);
        let expires = later(now, self.config.block_lifetime());
        if b1.num == 0 {
            if !b1.more {
                req.payload = payload;
                req.options.remove(option::BLOCK1);
                return Block1Outcome::Proceed(Some(b1));
            }
            self.block1.retain(|_, a| a.expires > now);
            let per_peer = self.block1.keys().filter(|k| k.0 == peer).count();
            if !self.block1.contains_key(key)
                && (self.block1.len() >= self.config.max_block1_assemblies
                    || per_peer >= self.config.max_block1_per_peer)
            {
                return Block1Outcome::Answer(Message::new(Code::SERVICE_UNAVAILABLE));
            }
            self.block1.insert(
                key.clone(),
                Assembly {
                    body: payload,
                    expires,
                },
            );
        } else {
            let Some(a) = self.block1.get_mut(key) else {
                return Block1Outcome::Answer(Message::response(
                    Code::REQUEST_ENTITY_INCOMPLETE,
                    "no block 0",
                ));
            };
            if b1.offset() != a.body.len() {
                self.block1.remove(key);
                return Block1Outcome::Answer(Message::response(
                    Code::REQUEST_ENTITY_INCOMPLETE,
                    "unexpected block",
                ));
            }
            a.body.extend_from_slice(&payload);
            a.expires = expires;
        }
        if self.block1.get(key).is_some_and(|a| a.body.len() > max) {
            self.block1.remove(key);
            return Block1Outcome::Answer(too_large());
        }
        if b1.more {
            let mut m = Message::new(Code::CONTINUE);
            m.options.set(option::BLOCK1, b1.encode());
            return Block1Outcome::Answer(m);
        }
        let body = self.block1.remove(key).map(|a| a.body).unwrap_or_default();
        req.payload = body;
        req.options.remove(option::BLOCK1);
        req.options.remove(option::SIZE1);
        Block1Outcome::Proceed(Some(b1))
    }

    /// Cuts a response into the block the request asked for (RFC 7959 §2.4), caching
    /// the whole representation for follow-up requests.
    fn slice_block2(
        &mut self,
        now: Instant,
        key: &ReqKey,
        mut response: Message,
        requested: Option<Block>,
        max_szx: u8,
    ) -> Message {
        let szx = requested.map_or(max_szx, |b| b.szx.min(max_szx));
        let size = 1usize << (u32::from(szx) + 4);
        let len = response.payload.len();
        if requested.is_none() && len <= size {
            return response;
        }
        let offset = requested.map_or(0, Block::offset);
        if offset > 0 && offset >= len {
            return Message::response(Code::BAD_OPTION, "block out of range");
        }
        let end = offset.saturating_add(size).min(len);
        let more = end < len;
        let num = u32::try_from(offset / size).unwrap_or(Block::MAX_NUM);
        if num > Block::MAX_NUM {
            return Message::new(Code::REQUEST_ENTITY_TOO_LARGE);
        }
        if (more || num > 0) && !response.options.contains(option::ETAG) {
            response
                .options
                .set(option::ETAG, fnv1a(&response.payload).to_vec());
        }
        if more && offset == 0 {
            self.block2_cache
                .retain(|c| c.expires > now && c.key != *key);
            while self.block2_cache.len() >= self.config.max_block2_cache.max(1) {
                self.block2_cache.pop_front();
            }
            let expires = later(now, self.config.block_lifetime());
            let mut cached = response.clone();
            // Follow-ups are plain GETs: they get the representation, not the Observe option.
            cached.options.remove(option::OBSERVE);
            self.block2_cache.push_back(CachedResponse {
                key: key.clone(),
                response: cached,
                expires,
            });
        }
        cut_block(response, offset, szx)
    }

    /// Tells the engine that the resource at `path` changed: every observer of it gets
    /// a notification (RFC 7641 §4.2), produced by running the resource's handler again
    /// with the registration request. Returns how many observers were notified (observers
    /// whose handler answered [`Handled::Unchanged`] are not counted).
    pub fn notify(&mut self, now: Instant, path: &str) -> usize {
        let keys: Vec<ObsKey> = self
            .observers
            .iter()
            .filter(|(_, o)| o.path == path)
            .map(|(k, _)| k.clone())
            .collect();
        let mut n = keys.len();
        for key in keys {
            let id = self.next_id();
            let Some(o) = self.observers.get(&key) else {
                continue;
            };
            let request = Request {
                message: o.request.clone(),
                peer: key.0,
                identity: o.identity.clone(),
                id: RequestId(id),
                path: o.path.clone(),
                is_notification: true,
                confirmable: o.confirmable,
            };
            self.stats.requests_handled += 1;
            match self.router.route(&request) {
                Handled::Response(m) => self.send_notification(now, &key, m),
                Handled::Unchanged => n = n.saturating_sub(1),
                Handled::Deferred => {
                    let expires = later(now, self.config.block_lifetime());
                    if self.deferred.len() < self.config.max_deferred {
                        self.deferred.insert(
                            id,
                            Deferred {
                                kind: DeferredKind::Notification(key),
                                context: None,
                                expires,
                                ack_at: None,
                            },
                        );
                    }
                }
            }
        }
        n
    }

    fn send_notification(&mut self, now: Instant, key: &ObsKey, mut response: Message) {
        let Some(o) = self.observers.get(key) else {
            return;
        };
        let reqkey = req_key(key.0, &o.request);
        let szx = o.szx;
        let ended = !response.code.is_success();
        if !ended {
            response
                .options
                .set_uint(option::OBSERVE, self.next_observe_seq());
        }
        // A large notification carries the first block; the client fetches the rest
        // with plain GETs (RFC 7959 §3.4), served from the block2 cache.
        let response = self.slice_block2(now, &reqkey, response, None, szx);
        let interval = self.config.notification_con_interval;
        let con = ended
            || self.observers.get(key).is_some_and(|o| {
                o.pending_con.is_some() || now.saturating_duration_since(o.last_con) >= interval
            });
        let Ok(mid) = self.alloc_mid(now, key.0, con) else {
            // RFC 7252 §4.4: no ID may be reused yet; this state change is skipped (a later
            // notification carries a newer one, RFC 7641 §4.5).
            tracing::debug!(peer = %key.0, "no Message ID free; notification dropped");
            return;
        };
        let Some(o) = self.observers.get_mut(key) else {
            return;
        };
        let protected = match self.security.protect(key.0, response, &mut o.context) {
            Ok(m) | Err(m) => m,
        };
        let old_pending = o.pending_con;
        o.recent_mids.push_back(mid);
        while o.recent_mids.len() > 8 {
            o.recent_mids.pop_front();
        }
        if con {
            o.last_con = now;
            o.pending_con = Some(mid);
        }
        let frame = Frame {
            mtype: if con {
                MessageType::Confirmable
            } else {
                MessageType::NonConfirmable
            },
            mid,
            token: key.1.clone(),
            msg: protected,
        };
        let Ok(bytes) = frame.encode(self.config.max_message_size) else {
            tracing::warn!("notification does not fit in a message; observer removed");
            self.observers.remove(key);
            return;
        };
        let owner = if ended {
            Owner::Separate
        } else {
            Owner::Notification(key.clone())
        };
        if con {
            // RFC 7641 §4.5.2: a newer notification replaces one still being retransmitted,
            // keeping its retransmission counter and timeout.
            let carried = old_pending.and_then(|m| self.retrans.remove(&(key.0, m)));
            match carried {
                Some(r) => self.send_con_with(key.0, mid, bytes, owner, now, r.timeout, r.retries),
                None => self.send_con(key.0, mid, bytes, owner, now),
            }
        } else {
            self.send(key.0, bytes);
        }
        if ended {
            self.observers.remove(key);
        }
    }

    /// Answers a request that a resource deferred ([`Handled::Deferred`]).
    ///
    /// # Errors
    /// [`Error::UnknownHandle`] when `id` is not a pending deferred request (answered or
    /// expired already).
    pub fn respond(&mut self, now: Instant, id: RequestId, response: Message) -> Result<()> {
        let d = self.deferred.remove(&id.0).ok_or(Error::UnknownHandle)?;
        match (d.kind, d.context) {
            (DeferredKind::Notification(key), _) => self.send_notification(now, &key, response),
            (DeferredKind::Request(plan), Some(context)) => {
                self.complete(now, &plan, response, context)
            }
            (DeferredKind::Request(_), None) => return Err(Error::UnknownHandle),
        }
        Ok(())
    }

    pub(super) fn server_timeouts(&mut self, now: Instant) {
        // Piggyback windows that ended without a response: empty ACK now, the response
        // follows as a separate CON (RFC 7252 §5.2.2).
        let mut acks: Vec<(Instant, u64, SocketAddr, u16)> = Vec::new();
        for (id, d) in &mut self.deferred {
            if let Some(at) = d.ack_at.filter(|at| *at <= now) {
                d.ack_at = None;
                if let DeferredKind::Request(plan) = &mut d.kind {
                    plan.reply.separate = true;
                    acks.push((at, *id, plan.reply.peer, plan.reply.mid));
                }
            }
        }
        acks.sort_unstable();
        for (_, _, peer, mid) in acks {
            let ack = self.send_empty(peer, MessageType::Acknowledgement, mid);
            self.dedup.set_reply((peer, mid), ack);
        }
        self.deferred.retain(|_, d| d.expires > now);
        self.block1.retain(|_, a| a.expires > now);
        self.block2_cache.retain(|c| c.expires > now);
    }

    pub(super) fn server_next_timeout(&self) -> Option<Instant> {
        let d = self
            .deferred
            .values()
            .map(|d| d.ack_at.unwrap_or(d.expires).min(d.expires))
            .min();
        let b1 = self.block1.values().map(|a| a.expires).min();
        let b2 = self.block2_cache.iter().map(|c| c.expires).min();
        [d, b1, b2].into_iter().flatten().min()
    }

    /// Number of observers of `path`.
    #[must_use]
    pub fn observer_count(&self, path: &str) -> usize {
        self.observers.values().filter(|o| o.path == path).count()
    }
}

/// Checks a (unprotected) request before routing: RFC 7252 §5.4.1 (unrecognized
/// critical options → 4.02), §5.7.2 (no proxying → 5.05), §5.8 (unknown method →
/// 4.05), malformed block options → 4.02, non-UTF-8 path → 4.00.
fn check_request(req: &Message) -> Result<String, Message> {
    for (n, _) in req.options.iter() {
        if n == option::PROXY_URI || n == option::PROXY_SCHEME {
            return Err(Message::new(Code::PROXYING_NOT_SUPPORTED));
        }
        if option::is_critical(n) && !option::RECOGNIZED.contains(&n) {
            return Err(Message::response(
                Code::BAD_OPTION,
                format!("unrecognized critical option {n}"),
            ));
        }
    }
    for n in [option::BLOCK1, option::BLOCK2] {
        if let Some(v) = req.options.get(n)
            && Block::decode(v).is_none()
        {
            return Err(Message::response(
                Code::BAD_OPTION,
                format!("malformed option {n}"),
            ));
        }
    }
    if req.code.0 > Code::IPATCH.0 {
        return Err(Message::new(Code::METHOD_NOT_ALLOWED));
    }
    req.path()
        .map_err(|_| Message::response(Code::BAD_REQUEST, "Uri-Path is not UTF-8"))
}

/// Block `offset / size(szx)` of `response` with its Block2 option (and Size2 on block 0),
/// RFC 7959 §2.4; 4.02 beyond the end, 4.13 beyond the largest block number.
fn cut_block(mut response: Message, offset: usize, szx: u8) -> Message {
    let size = 1usize << (u32::from(szx.min(6)) + 4);
    let len = response.payload.len();
    if offset > 0 && offset >= len {
        return Message::response(Code::BAD_OPTION, "block out of range");
    }
    let end = offset.saturating_add(size).min(len);
    let more = end < len;
    let num = u32::try_from(offset / size).unwrap_or(Block::MAX_NUM.saturating_add(1));
    if num > Block::MAX_NUM {
        return Message::new(Code::REQUEST_ENTITY_TOO_LARGE);
    }
    let payload = response
        .payload
        .get(offset..end)
        .unwrap_or_default()
        .to_vec();
    response.payload = payload;
    response.options.set(
        option::BLOCK2,
        Block {
            num,
            more,
            szx: szx.min(6),
        }
        .encode(),
    );
    if offset == 0 {
        response.options.set(
            option::SIZE2,
            encode_uint(u32::try_from(len).unwrap_or(u32::MAX)),
        );
    }
    response
}
