//! OSCORE for ace-coap (feature `coap`): a server-side [`SecurityLayer`] and a client
//! wrapper, so that servers and clients use OSCORE by configuration.
//!
//! ```text
//!  server: datagram ─▶ Endpoint ─▶ OscoreLayer::unprotect ─▶ Router ─▶ Resource
//!                                  OscoreLayer::protect   ◀── response / notification
//!  client: OscoreClient::request ─ protect ─▶ ace_coap::Client ─▶ … ─▶ unprotect
//! ```
//!
//! The `SecurityLayer` trait returns plain messages, so sequence-number reservations are
//! persisted **synchronously** through a [`SequenceStore`] before the protected message is
//! handed back to the engine (which sends it only afterwards). A failed write drops the
//! response and answers 5.00 instead.
//!
//! Block-wise: ace-coap runs Block1/Block2 on the inner message (OSCORE inner block-wise,
//! RFC 8613 §4.1.3.4.1); [`OscoreClient::request`] follows inner Block2 itself, since the
//! ace-coap client only sees the outer message. Outer block-wise (§4.1.3.4.2): the ace-coap
//! client cuts a protected request larger than one block into outer Block1 blocks and
//! reassembles outer Block2 responses (bounded by its `Config::max_body_size`) before
//! [`OscoreClient`] verifies them; on the server, [`OscoreLayer`] reports its
//! [`OuterBlockwise`] policy (default: reassemble up to [`DEFAULT_MAX_UNFRAGMENTED_SIZE`],
//! answer with inner Block2; [`OscoreLayer::with_outer_blockwise`]) and the ace-coap engine
//! reassembles outer Block1 before [`SecurityLayer::unprotect`] and cuts protected responses
//! into outer Block2 after [`SecurityLayer::protect`]. Observe: on the server side every
//! notification is protected with a fresh Partial IV; on the client side
//! [`OscoreClient::observer`] gives a sans-IO [`OscoreObserver`] (its own ace-coap
//! `Endpoint`, pumped by the caller) that verifies each notification against the
//! Notification Number (RFC 8613 §7.4.1).
//!
//! Context re-derivation (RFC 8613 Appendix B.2): [`OscoreLayer::with_rederivation`] on the
//! server, [`OscoreClient::request_with_rederivation`] on the client.

use std::boxed::Box;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use ace_coap::{Code, OuterBlockwise, PeerIdentity, SecurityLayer};
use ace_crypto::{AeadBackend, CryptoRng, HkdfBackend};

use crate::consts::{code, option};
use crate::context::SecurityContext;
use crate::error::{Error, Result};
use crate::message::{CoapOption, Message};
use crate::protect::{RequestBinding, RequestOutcome, VerifiedRequest};
use crate::rederive::{
    ClientRederivation, RederiveConfig, ServerRederivation, ServerStep, response_kid_context,
};
use crate::sequence::{Reservation, SequenceStore};
use crate::store::ContextSet;

/// Converts an ace-coap message into the OSCORE view.
#[must_use]
pub fn from_coap(m: &ace_coap::Message) -> Message {
    Message {
        code: m.code.0,
        options: m
            .options
            .iter()
            .map(|(number, value)| CoapOption {
                number,
                value: value.to_vec(),
            })
            .collect(),
        payload: m.payload.clone(),
    }
}

/// Converts the OSCORE view into an ace-coap message.
#[must_use]
pub fn to_coap(m: Message) -> ace_coap::Message {
    let mut out = ace_coap::Message::new(Code(m.code));
    for o in m.options {
        out.options.add(o.number, o.value);
    }
    out.payload = m.payload;
    out
}

fn error_response(e: &Error) -> ace_coap::Message {
    let r = e.to_response();
    // RFC 8613 §8.2: the server MAY set an Outer Max-Age of zero on OSCORE error responses.
    ace_coap::Message::response(Code(r.code), r.diagnostic.as_bytes().to_vec())
        .with_option(option::MAX_AGE, Vec::new())
}

fn persist<B>(
    store: &mut dyn SequenceStore,
    ctx: &SecurityContext<B>,
    reservation: Option<Reservation>,
) -> Result<()> {
    if let Some(r) = reservation {
        // Keyed by the full context identity: a server's contexts share its Sender ID.
        store
            .persist_context(
                ctx.sender_id(),
                ctx.recipient_id(),
                ctx.id_context(),
                r.persist,
            )
            .map_err(|_| Error::PersistFailed)?;
    }
    Ok(())
}

/// Per-request state the engine keeps for the response(s): which context and the binding.
#[derive(Debug)]
pub struct Exchange {
    index: usize,
    binding: RequestBinding,
    /// The ID Context of the context that verified the request (to find it again when
    /// contexts were added or removed at runtime, e.g. for a later Observe notification).
    id_context: Option<Vec<u8>>,
}

/// The Appendix B.2 server run with its RNG, boxed so that the layer's bounds stay those of
/// plain OSCORE.
type RederiveRun<B> = Box<dyn FnMut(&mut ContextSet<B>, &Message) -> Result<ServerStep<B>> + Send>;

/// The default MAX_UNFRAGMENTED_SIZE of [`OscoreLayer`] (RFC 8613 §4.1.3.4.2): 64 KiB, the
/// ace-coap default `max_body_size` (the engine bounds reassembly by both).
pub const DEFAULT_MAX_UNFRAGMENTED_SIZE: usize = 64 * 1024;

/// The server-side OSCORE security layer.
pub struct OscoreLayer<B> {
    contexts: ContextSet<B>,
    store: Box<dyn SequenceStore + Send>,
    allow_unprotected: bool,
    rederive: Option<RederiveRun<B>>,
    outer_blockwise: Option<OuterBlockwise>,
}

impl<B> core::fmt::Debug for OscoreLayer<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OscoreLayer")
            .field("allow_unprotected", &self.allow_unprotected)
            .finish_non_exhaustive()
    }
}

impl<B: AeadBackend> OscoreLayer<B> {
    /// A layer over `contexts` that persists reservations to `store`. Unprotected requests
    /// are refused with 4.01 unless [`OscoreLayer::allow_unprotected`] is set.
    pub fn new(contexts: ContextSet<B>, store: impl SequenceStore + Send + 'static) -> Self {
        Self {
            contexts,
            store: Box::new(store),
            allow_unprotected: false,
            rederive: None,
            outer_blockwise: Some(OuterBlockwise::new(DEFAULT_MAX_UNFRAGMENTED_SIZE)),
        }
    }

    /// Sets the outer block-wise policy (RFC 8613 §4.1.3.4.2) the ace-coap engine applies
    /// to this layer's requests: `Some(OuterBlockwise::new(max))` reassembles outer Block1
    /// requests up to `max` bytes of protected message (beyond: 4.13, discarded);
    /// `.fragment_responses(true)` also protects responses whole and cuts them into outer
    /// Block2 blocks (those up to `max`; larger ones use inner Block2). `None`: no outer
    /// block-wise (an outer Block1 block fails verification on its own). Default:
    /// `Some(OuterBlockwise::new(DEFAULT_MAX_UNFRAGMENTED_SIZE))`.
    #[must_use]
    pub fn with_outer_blockwise(mut self, policy: Option<OuterBlockwise>) -> Self {
        self.outer_blockwise = policy;
        self
    }

    /// Lets requests without the OSCORE option through as [`PeerIdentity::Anonymous`]
    /// (e.g. for an RS's `/authz-info`, RFC 9203 §4.1); resources must check the identity.
    #[must_use]
    pub fn allow_unprotected(mut self, yes: bool) -> Self {
        self.allow_unprotected = yes;
        self
    }

    /// The contexts (to add or inspect them while running).
    pub fn contexts_mut(&mut self) -> &mut ContextSet<B> {
        &mut self.contexts
    }

    fn accepted(
        &self,
        index: usize,
        v: VerifiedRequest,
    ) -> (ace_coap::Message, PeerIdentity, Option<Exchange>) {
        let ctx = self.contexts.get(index);
        let identity = PeerIdentity::Oscore {
            sender_id: v.binding.kid().to_vec(),
            id_context: ctx.and_then(|c| c.id_context().map(<[u8]>::to_vec)),
        };
        let id_context = ctx.and_then(|c| c.id_context().map(<[u8]>::to_vec));
        (
            to_coap(v.request),
            identity,
            Some(Exchange {
                index,
                binding: v.binding,
                id_context,
            }),
        )
    }

    /// The index of the context of `exchange` now: its original index while that still
    /// holds the context (Recipient ID = the request's kid, same ID Context), otherwise
    /// the context found by kid and ID Context (contexts removed at runtime shift later
    /// indices), otherwise the original index if it holds a context with that Recipient ID
    /// (replaced in place, Appendix B.2).
    fn resolve(&self, exchange: &Exchange) -> Option<usize> {
        let kid = exchange.binding.kid();
        let slot = self.contexts.get(exchange.index);
        if slot.is_some_and(|c| {
            c.recipient_id() == kid && c.id_context() == exchange.id_context.as_deref()
        }) {
            return Some(exchange.index);
        }
        if let Some(i) = self.contexts.position(|c| {
            c.recipient_id() == kid && c.id_context() == exchange.id_context.as_deref()
        }) {
            return Some(i);
        }
        slot.filter(|c| c.recipient_id() == kid)
            .map(|_| exchange.index)
    }

    /// Adds a context while the layer is serving (through a [`SharedOscoreLayer`]);
    /// returns its index. A context with the same Recipient ID and ID Context is replaced.
    pub fn add_context(&mut self, ctx: SecurityContext<B>) -> usize {
        let rid = ctx.recipient_id().to_vec();
        let idc = ctx.id_context().map(<[u8]>::to_vec);
        let existing = self
            .contexts
            .position(|c| c.recipient_id() == rid.as_slice() && c.id_context() == idc.as_deref());
        self.contexts.install(existing, ctx)
    }

    /// Removes the context with Recipient ID `recipient_id` and exactly the ID Context
    /// `id_context`; returns it. Requests for it are answered 4.01 "Security context not
    /// found" afterwards; responses to requests it verified before are not sent.
    pub fn remove_context(
        &mut self,
        recipient_id: &[u8],
        id_context: Option<&[u8]>,
    ) -> Option<SecurityContext<B>> {
        let i = self
            .contexts
            .position(|c| c.recipient_id() == recipient_id && c.id_context() == id_context)?;
        self.contexts.remove(i)
    }
}

/// An [`OscoreLayer`] that can be changed while a server runs it: the server gets one clone
/// (it implements [`SecurityLayer`] by locking the layer for each call), the shell keeps
/// another to add and remove contexts at runtime (e.g. contexts derived at an RS's
/// `/authz-info`, RFC 9203 §4.3). The lock is held only inside each call.
pub struct SharedOscoreLayer<B> {
    inner: Arc<Mutex<OscoreLayer<B>>>,
}

impl<B> Clone for SharedOscoreLayer<B> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<B> core::fmt::Debug for SharedOscoreLayer<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedOscoreLayer").finish_non_exhaustive()
    }
}

impl<B: AeadBackend> SharedOscoreLayer<B> {
    /// Shares `layer`.
    #[must_use]
    pub fn new(layer: OscoreLayer<B>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(layer)),
        }
    }

    /// Runs `f` on the layer under its lock (add, remove or inspect contexts).
    ///
    /// # Errors
    /// [`Error::Misuse`] when the lock is poisoned.
    pub fn with_layer<T>(&self, f: impl FnOnce(&mut OscoreLayer<B>) -> T) -> Result<T> {
        let mut l = self
            .inner
            .lock()
            .map_err(|_| Error::Misuse("layer lock poisoned"))?;
        Ok(f(&mut l))
    }

    /// [`OscoreLayer::add_context`] under the lock.
    ///
    /// # Errors
    /// [`Error::Misuse`] when the lock is poisoned.
    pub fn add_context(&self, ctx: SecurityContext<B>) -> Result<usize> {
        self.with_layer(|l| l.add_context(ctx))
    }

    /// [`OscoreLayer::remove_context`] under the lock; whether a context was removed.
    ///
    /// # Errors
    /// [`Error::Misuse`] when the lock is poisoned.
    pub fn remove_context(&self, recipient_id: &[u8], id_context: Option<&[u8]>) -> Result<bool> {
        self.with_layer(|l| l.remove_context(recipient_id, id_context).is_some())
    }
}

impl<B: AeadBackend + Send + 'static> SecurityLayer for SharedOscoreLayer<B> {
    type Context = Option<Exchange>;

    fn unprotect(
        &mut self,
        peer: SocketAddr,
        request: ace_coap::Message,
    ) -> core::result::Result<(ace_coap::Message, PeerIdentity, Option<Exchange>), ace_coap::Message>
    {
        match self.inner.lock() {
            Ok(mut l) => l.unprotect(peer, request),
            Err(_) => Err(ace_coap::Message::response(
                Code(code::INTERNAL_SERVER_ERROR),
                Vec::new(),
            )),
        }
    }

    fn protect(
        &mut self,
        peer: SocketAddr,
        response: ace_coap::Message,
        context: &mut Option<Exchange>,
    ) -> core::result::Result<ace_coap::Message, ace_coap::Message> {
        match self.inner.lock() {
            Ok(mut l) => l.protect(peer, response, context),
            Err(_) => Err(ace_coap::Message::response(
                Code(code::INTERNAL_SERVER_ERROR),
                Vec::new(),
            )),
        }
    }

    fn outer_blockwise(&self) -> Option<OuterBlockwise> {
        self.inner.lock().ok().and_then(|l| l.outer_blockwise)
    }
}

impl<B: AeadBackend + HkdfBackend + Clone + Send + 'static> OscoreLayer<B> {
    /// Enables security context re-derivation (RFC 8613 Appendix B.2, see
    /// [`crate::rederive`]): a request whose kid names a context but whose kid context is
    /// unknown starts a client-initiated run (answered with the protected 4.01 carrying R2),
    /// a restored context (waiting for Echo) answers with a server-initiated run instead of
    /// the Echo challenge, and a verified request #2 installs the new context in place of
    /// the old one before the request is routed. `rng` draws R2 (it must be a good source
    /// of randomness). Off by default.
    #[must_use]
    pub fn with_rederivation<R>(mut self, config: RederiveConfig, mut rng: R) -> Self
    where
        R: CryptoRng + Send + 'static,
    {
        let mut server = ServerRederivation::new(config);
        self.rederive = Some(Box::new(move |contexts, request| {
            server.unprotect_request(contexts, request, &mut rng)
        }));
        self
    }
}

impl<B: AeadBackend + Send + 'static> SecurityLayer for OscoreLayer<B> {
    type Context = Option<Exchange>;

    fn unprotect(
        &mut self,
        _peer: SocketAddr,
        request: ace_coap::Message,
    ) -> core::result::Result<(ace_coap::Message, PeerIdentity, Option<Exchange>), ace_coap::Message>
    {
        if !request.options.contains(option::OSCORE) {
            if self.allow_unprotected {
                return Ok((request, PeerIdentity::Anonymous, None));
            }
            return Err(ace_coap::Message::response(
                Code(code::UNAUTHORIZED),
                b"OSCORE required".to_vec(),
            ));
        }
        let outer = from_coap(&request);
        let step = match &mut self.rederive {
            Some(run) => run(&mut self.contexts, &outer),
            None => self
                .contexts
                .unprotect_request(&outer)
                .map(|(index, outcome)| ServerStep::Ordinary { index, outcome }),
        };
        match step {
            Ok(ServerStep::Ordinary {
                index,
                outcome: RequestOutcome::Accepted(v),
            }) => Ok(self.accepted(index, v)),
            Ok(ServerStep::Ordinary {
                index,
                outcome:
                    RequestOutcome::EchoRequired {
                        mut binding,
                        response,
                    },
            }) => {
                let Some(ctx) = self.contexts.get_mut(index) else {
                    return Err(error_response(&Error::ContextNotFound));
                };
                let protected = ctx.protect_response(&mut binding, &response).and_then(|p| {
                    persist(self.store.as_mut(), ctx, p.reservation).map(|()| p.message)
                });
                match protected {
                    // Already protected: the engine sends it as is (RFC 8613 Appendix B.1.2).
                    Ok(m) => Err(to_coap(m)),
                    Err(e) => Err(error_response(&e)),
                }
            }
            // Appendix B.2 step 2: the protected 4.01 carrying R2; the request is not
            // processed.
            Ok(ServerStep::Response1 { response }) => Err(to_coap(response)),
            // Appendix B.2 step 4: the new context replaces the old one; request #2 is an
            // ordinary request.
            Ok(ServerStep::Completed {
                context,
                replaces,
                request,
            }) => {
                let index = self.contexts.install(replaces, *context);
                Ok(self.accepted(index, request))
            }
            Err(e) => Err(error_response(&e)),
        }
    }

    fn protect(
        &mut self,
        _peer: SocketAddr,
        response: ace_coap::Message,
        context: &mut Option<Exchange>,
    ) -> core::result::Result<ace_coap::Message, ace_coap::Message> {
        let Some(exchange) = context else {
            return Ok(response);
        };
        let Some(index) = self.resolve(exchange) else {
            return Err(error_response(&Error::ContextNotFound));
        };
        exchange.index = index;
        let Some(ctx) = self.contexts.get_mut(index) else {
            return Err(error_response(&Error::ContextNotFound));
        };
        ctx.protect_response(&mut exchange.binding, &from_coap(&response))
            .and_then(|p| {
                persist(self.store.as_mut(), ctx, p.reservation).map(|()| to_coap(p.message))
            })
            .map_err(|e| error_response(&e))
    }

    fn outer_blockwise(&self) -> Option<OuterBlockwise> {
        self.outer_blockwise
    }
}

/// Bytes [`OscoreClient`] adds to a request payload when estimating its protected size
/// against MAX_UNFRAGMENTED_SIZE (code, inner options, payload marker, tag).
pub const PROTECTION_OVERHEAD: usize = 64;

/// Default inner Block1 size of [`OscoreClient`]: SZX 5, 512 bytes, so that a protected block
/// (block + code, options and tag) stays within one 1024-byte block of the ace-coap client.
pub const DEFAULT_INNER_SZX: u8 = 5;

/// Largest body [`OscoreClient::request`] reassembles from inner Block2 (1 MiB).
pub const MAX_BODY: usize = 1 << 20;

/// A CoAP client that protects its requests with one OSCORE context.
///
/// Share it between tasks behind an `Arc` (all methods take `&self`). Concurrent requests
/// are handed to the ace-coap engine in the order of their Partial IVs, so the server's
/// replay window (RFC 8613 §7.4, 64 entries) never sees them reordered by this client; only
/// the network can reorder them.
pub struct OscoreClient<B> {
    client: ace_coap::Client,
    ctx: Arc<Mutex<SecurityContext<B>>>,
    store: Arc<Mutex<dyn SequenceStore + Send>>,
    /// Held from taking a Sender Sequence Number until the protected request is queued in
    /// the engine's command channel (FIFO), so Partial IVs leave in increasing order.
    send_order: tokio::sync::Mutex<()>,
    /// Request payloads above this go as inner Block1 blocks (RFC 8613 §4.1.3.4.2).
    max_unfragmented_size: usize,
    /// SZX of those inner blocks.
    inner_szx: u8,
}

impl<B> core::fmt::Debug for OscoreClient<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OscoreClient").finish_non_exhaustive()
    }
}

impl<B: AeadBackend> OscoreClient<B> {
    /// Wraps an ace-coap client (whose driver the caller runs) with a context and a store.
    pub fn new(
        client: ace_coap::Client,
        ctx: SecurityContext<B>,
        store: impl SequenceStore + Send + 'static,
    ) -> Self {
        Self {
            client,
            ctx: Arc::new(Mutex::new(ctx)),
            store: Arc::new(Mutex::new(store)),
            send_order: tokio::sync::Mutex::new(()),
            max_unfragmented_size: DEFAULT_MAX_UNFRAGMENTED_SIZE,
            inner_szx: DEFAULT_INNER_SZX,
        }
    }

    /// Requests whose protected size (payload + [`PROTECTION_OVERHEAD`], an estimate for code,
    /// options and tag) is larger than `max_unfragmented_size` bytes (the peer's
    /// MAX_UNFRAGMENTED_SIZE, RFC 8613 §4.1.3.4.2) are sent with **inner** Block1
    /// (§4.1.3.4.1): blocks of 2^(szx+4) bytes (`szx` at most 6), each protected as its own
    /// OSCORE request with a fresh Partial IV, 2.31 Continue verified per block, a smaller
    /// block size asked by the server adopted. Smaller requests are protected whole (and cut
    /// into outer Block1 blocks by the ace-coap client when larger than one block). Default:
    /// [`DEFAULT_MAX_UNFRAGMENTED_SIZE`] with [`DEFAULT_INNER_SZX`]. `0` makes every request
    /// with a payload inner block-wise (e.g. for servers without outer block-wise, like
    /// aiocoap 0.4.17's `OscoreSiteWrapper`). A protected block must still fit one block of
    /// the ace-coap client (its `Config::block_szx`, 1024 bytes by default), or that client
    /// cuts it again into outer blocks: keep `szx` below the client's.
    #[must_use]
    pub fn with_max_unfragmented_size(mut self, max_unfragmented_size: usize, szx: u8) -> Self {
        self.max_unfragmented_size = max_unfragmented_size;
        self.inner_szx = szx.min(6);
        self
    }

    /// Sends `base` in inner Block1 blocks (RFC 7959 §2.5 on the inner message); returns the
    /// verified response to the last block (or the first non-2.31 answer).
    async fn upload_inner_block1(&self, peer: SocketAddr, base: &Message) -> Result<Message> {
        let len = base.payload.len();
        let mut szx = self.inner_szx.min(6);
        let mut offset = 0usize;
        let mut echo: Option<Vec<u8>> = None;
        let mut echo_answered = false;
        loop {
            let size = 1usize << (u32::from(szx) + 4);
            let end = offset.saturating_add(size).min(len);
            let more = end < len;
            let num = u32::try_from(offset / size)
                .ok()
                .filter(|n| *n <= ace_coap::BlockOption::MAX_NUM)
                .ok_or(Error::Misuse("request too large for Block1"))?;
            let mut req = base.clone();
            req.payload = base.payload.get(offset..end).unwrap_or_default().to_vec();
            req.remove_option(option::BLOCK1);
            req.add_option(
                option::BLOCK1,
                ace_coap::BlockOption { num, more, szx }.encode(),
            );
            req.remove_option(option::SIZE1);
            if offset == 0 {
                let total = u32::try_from(len).unwrap_or(u32::MAX);
                req.add_option(option::SIZE1, crate::message::encode_uint(total));
            }
            if let Some(e) = echo.take() {
                req.add_option(option::ECHO, e);
            }
            let (mut binding, resp) = self.send_protected(peer, &req).await?;
            let inner = self.unprotect(&mut binding, &resp)?;
            if inner.code == code::UNAUTHORIZED
                && !echo_answered
                && let Some(e) = inner.option(option::ECHO)
            {
                // Appendix B.1.2: repeat this block with the Echo value.
                echo = Some(e.to_vec());
                echo_answered = true;
                continue;
            }
            if !more || inner.code != Code::CONTINUE.0 {
                return Ok(inner);
            }
            let acked = inner
                .option(option::BLOCK1)
                .and_then(ace_coap::BlockOption::decode)
                .ok_or(Error::UnexpectedResponse)?;
            if acked.num != num {
                return Err(Error::UnexpectedResponse);
            }
            // RFC 7959 §2.5: the server may ask for smaller blocks; `end` is a multiple of
            // every smaller size.
            szx = szx.min(acked.szx);
            offset = end;
        }
    }

    /// Protects `req` (a fresh Sender Sequence Number, its reservation persisted) and sends
    /// it (CON); returns its binding and the (outer) response.
    ///
    /// Taking the number and handing the message to the engine happen under `send_order`:
    /// otherwise a task preempted between the two sends its Partial IV after later ones,
    /// and once more than 64 higher Partial IVs got there first, the server's replay window
    /// rejects it as a replay (unprotected 4.01 "Replay detected", RFC 8613 §7.4). The lock
    /// covers the first poll of [`ace_coap::Client::request`], which puts the request into
    /// the driver's bounded tokio channel or, when that is full, into the channel's FIFO
    /// queue of waiting senders; the driver then starts exchanges in that order (FIFO,
    /// NSTART). The response is awaited without the lock.
    async fn send_protected(
        &self,
        peer: SocketAddr,
        req: &Message,
    ) -> Result<(RequestBinding, ace_coap::Message)> {
        let order = self.send_order.lock().await;
        let (outer, binding) = self.protect(req)?;
        let mut pending = core::pin::pin!(self.client.request(peer, to_coap(outer), true));
        let first =
            core::future::poll_fn(|cx| core::task::Poll::Ready(pending.as_mut().poll(cx))).await;
        drop(order);
        let resp = match first {
            core::task::Poll::Ready(r) => r,
            core::task::Poll::Pending => pending.await,
        }
        .map_err(Error::Transport)?;
        Ok((binding, resp))
    }

    fn protect(&self, req: &Message) -> Result<(Message, RequestBinding)> {
        let mut ctx = self
            .ctx
            .lock()
            .map_err(|_| Error::Misuse("context lock poisoned"))?;
        let out = ctx.protect_request(req)?;
        let mut store = self
            .store
            .lock()
            .map_err(|_| Error::Misuse("store lock poisoned"))?;
        persist(&mut *store, &ctx, out.reservation)?;
        Ok((out.message, out.binding))
    }

    fn unprotect(&self, binding: &mut RequestBinding, resp: &ace_coap::Message) -> Result<Message> {
        if !resp.options.contains(option::OSCORE) {
            return Err(Error::UnprotectedResponse(resp.code.0));
        }
        let mut ctx = self
            .ctx
            .lock()
            .map_err(|_| Error::Misuse("context lock poisoned"))?;
        ctx.unprotect_response(binding, &from_coap(resp))
    }

    /// Sends `request` protected (CON), verifies the response, follows inner Block2
    /// (RFC 8613 §4.1.3.4.1) and answers one Echo challenge (RFC 8613 Appendix B.1.2) by
    /// repeating the request with the Echo value.
    ///
    /// Any method and options (Content-Format, Accept, ... are protected as Class E). A
    /// request within the peer's MAX_UNFRAGMENTED_SIZE
    /// ([`OscoreClient::with_max_unfragmented_size`]) is protected whole and, when larger than
    /// one block, goes out in outer Block1 blocks (RFC 8613 §4.1.3.4.2; the server must
    /// reassemble them, [`OscoreLayer`] does by default); a larger one goes as inner Block1.
    /// An outer Block2 response is reassembled before verification by the ace-coap client,
    /// bounded by its `Config::max_body_size` ([`Error::Transport`] with `BodyTooLarge`
    /// beyond it, also for a whole request above it).
    ///
    /// A server that answers with an Appendix B.2 response #1 (its context lost its replay
    /// state and it runs re-derivation) cannot be read with this client's context: that is
    /// [`Error::DecryptionFailed`] here; use [`OscoreClient::request_with_rederivation`].
    ///
    /// # Errors
    /// [`Error::Transport`], [`Error::UnprotectedResponse`], and the verification errors of
    /// [`SecurityContext::unprotect_response`].
    pub async fn request(
        &self,
        peer: SocketAddr,
        request: ace_coap::Message,
    ) -> Result<ace_coap::Message> {
        let mut base = from_coap(&request);
        let mut echo: Option<Vec<u8>> = None;
        let mut next_block: Option<(u32, u8)> = None;
        let mut body = Vec::new();
        let mut uploaded = None;
        if !base.payload.is_empty()
            && base.payload.len().saturating_add(PROTECTION_OVERHEAD) > self.max_unfragmented_size
        {
            uploaded = Some(self.upload_inner_block1(peer, &base).await?);
            // Requests for further response blocks carry no payload (RFC 7959 §3.3).
            base.payload.clear();
            base.remove_option(option::SIZE1);
        }
        loop {
            if let Some(inner) = uploaded.take() {
                match Self::next_response_block(inner, &mut body, &mut next_block)? {
                    Some(done) => return Ok(done),
                    None => continue,
                }
            }
            let mut req = base.clone();
            if let Some(e) = &echo {
                req.add_option(option::ECHO, e.clone());
            }
            if let Some((num, szx)) = next_block {
                // Requests for later blocks carry no payload: the server answers from
                // its cached representation (ours, and aiocoap's `Block2Cache`).
                req.payload.clear();
                req.remove_option(option::BLOCK2);
                req.add_option(
                    option::BLOCK2,
                    ace_coap::BlockOption {
                        num,
                        more: false,
                        szx,
                    }
                    .encode(),
                );
            }
            let (mut binding, resp) = self.send_protected(peer, &req).await?;
            let inner = self.unprotect(&mut binding, &resp)?;
            if inner.code == code::UNAUTHORIZED
                && echo.is_none()
                && let Some(e) = inner.option(option::ECHO)
            {
                echo = Some(e.to_vec());
                continue;
            }
            if let Some(done) = Self::next_response_block(inner, &mut body, &mut next_block)? {
                return Ok(done);
            }
        }
    }

    /// Inner Block2 (RFC 8613 §4.1.3.4.1, RFC 7959 §2.4) on a verified response: `Some` is
    /// the final response (body reassembled), `None` means: ask for `next_block`.
    fn next_response_block(
        mut inner: Message,
        body: &mut Vec<u8>,
        next_block: &mut Option<(u32, u8)>,
    ) -> Result<Option<ace_coap::Message>> {
        let block = inner
            .option(option::BLOCK2)
            .and_then(ace_coap::BlockOption::decode);
        match block {
            Some(b) if b.more => {
                body.extend_from_slice(&inner.payload);
                if body.len() > MAX_BODY {
                    return Err(Error::UnexpectedResponse);
                }
                *next_block = Some((b.num.saturating_add(1), b.szx));
                Ok(None)
            }
            Some(_) if next_block.is_some() => {
                body.extend_from_slice(&inner.payload);
                inner.payload = core::mem::take(body);
                inner.remove_option(option::BLOCK2);
                Ok(Some(to_coap(inner)))
            }
            _ => Ok(Some(to_coap(inner))),
        }
    }

    /// The Sender Sequence Number the next request will use.
    ///
    /// # Errors
    /// [`Error::Misuse`] when the context lock is poisoned.
    pub fn sender_sequence_number(&self) -> Result<u64> {
        Ok(self
            .ctx
            .lock()
            .map_err(|_| Error::Misuse("context lock poisoned"))?
            .sender_sequence_number())
    }
}

impl<B: AeadBackend + HkdfBackend + Clone> OscoreClient<B> {
    /// Sends `request` (CON) with security context re-derivation (RFC 8613 Appendix B.2,
    /// see [`crate::rederive`]):
    ///
    /// * `initiate = true` (client-initiated): `request` goes out as request #1, protected
    ///   with a fresh R1 as ID Context;
    /// * `initiate = false`: `request` goes out with the current context, and if the server
    ///   answers with response #1 (server-initiated, its state was lost) the run follows;
    ///   an ordinary response is returned as by [`OscoreClient::request`].
    ///
    /// After response #1, `request` is sent again as request #2 with ID Context R2 || R3
    /// (its sequence-number reservation persisted under the new ID Context first); when
    /// response #2 verifies, the new context replaces this client's context and response
    /// #2 is returned. Until then the old context stays in place. No inner Block2 or Echo
    /// handling here (use small requests for the exchange).
    ///
    /// # Errors
    /// [`Error::Transport`], [`Error::UnprotectedResponse`], [`Error::UnexpectedResponse`]
    /// (no response #1 to a client-initiated request #1), [`Error::RederivationNonceLength`]
    /// and the verification errors of [`SecurityContext::unprotect_response`].
    pub async fn request_with_rederivation<R>(
        &self,
        peer: SocketAddr,
        request: ace_coap::Message,
        config: RederiveConfig,
        initiate: bool,
        rng: &mut R,
    ) -> Result<ace_coap::Message>
    where
        R: CryptoRng + ?Sized,
    {
        let req = from_coap(&request);
        let (mut run, binding, resp) = if initiate {
            let (base, backend) = {
                let ctx = self
                    .ctx
                    .lock()
                    .map_err(|_| Error::Misuse("context lock poisoned"))?;
                (ctx.params.clone(), ctx.backend.clone())
            };
            // The first context (ID Context R1) is thrown away: its keys are new, so its
            // sequence numbers need no persistence (and no send order).
            let (run, sent) = ClientRederivation::initiate(backend, base, config, &req, rng)?;
            let resp = self
                .client
                .request(peer, to_coap(sent.message), true)
                .await
                .map_err(Error::Transport)?;
            (Some(run), sent.binding, resp)
        } else {
            let (b, resp) = self.send_protected(peer, &req).await?;
            (None, b, resp)
        };
        if !resp.options.contains(option::OSCORE) {
            return Err(Error::UnprotectedResponse(resp.code.0));
        }
        let resp = from_coap(&resp);
        if response_kid_context(&resp)?.is_none() {
            if initiate {
                return Err(Error::UnexpectedResponse);
            }
            let mut b = binding;
            let mut ctx = self
                .ctx
                .lock()
                .map_err(|_| Error::Misuse("context lock poisoned"))?;
            return ctx.unprotect_response(&mut b, &resp).map(to_coap);
        }
        let mut run = match run.take() {
            Some(r) => r,
            None => {
                let ctx = self
                    .ctx
                    .lock()
                    .map_err(|_| Error::Misuse("context lock poisoned"))?;
                ClientRederivation::server_initiated(&ctx, binding, config)
            }
        };
        let second = run.handle_response1(&resp, &req, rng)?;
        // Taken before the store lock (lock order: context, then store).
        let recipient_id = self
            .ctx
            .lock()
            .map_err(|_| Error::Misuse("context lock poisoned"))?
            .recipient_id()
            .to_vec();
        {
            let mut store = self
                .store
                .lock()
                .map_err(|_| Error::Misuse("store lock poisoned"))?;
            if let Some(r) = second.reservation {
                // Request #2 carries the new ID Context as kid context; the Recipient ID
                // stays that of this client's context (B.2 changes only the ID Context).
                store
                    .persist_context(
                        second.binding.kid(),
                        &recipient_id,
                        second.binding.kid_context(),
                        r.persist,
                    )
                    .map_err(|_| Error::PersistFailed)?;
            }
        }
        let resp2 = self
            .client
            .request(peer, to_coap(second.message), true)
            .await
            .map_err(Error::Transport)?;
        if !resp2.options.contains(option::OSCORE) {
            return Err(Error::UnprotectedResponse(resp2.code.0));
        }
        let done = run.handle_response2(&from_coap(&resp2))?;
        let mut ctx = self
            .ctx
            .lock()
            .map_err(|_| Error::Misuse("context lock poisoned"))?;
        *ctx = done.context;
        Ok(to_coap(done.response))
    }
}

impl<B: AeadBackend> OscoreClient<B> {
    /// A sans-IO OSCORE Observe client (RFC 8613 §4.1.3.5, §7.4.1, §8.4.2) over an ace-coap
    /// [`ace_coap::Endpoint`] of its own (the shell's `Client::observe` only sends plain
    /// GETs), sharing this client's context and sequence-number store. The caller pumps it
    /// over its own UDP socket; see [`OscoreObserver`].
    #[must_use]
    pub fn observer(&self, config: ace_coap::Config, rng_seed: [u8; 32]) -> OscoreObserver<B> {
        OscoreObserver {
            endpoint: ace_coap::Endpoint::new(config, ace_coap::Router::new(), rng_seed),
            ctx: Arc::clone(&self.ctx),
            store: Arc::clone(&self.store),
            observations: std::collections::BTreeMap::new(),
        }
    }
}

/// What an [`OscoreObserver`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObserveEvent {
    /// A verified notification (the first one answers the registration). `sequence` is the
    /// decrypted Observe value: the three least significant bytes of the notification's
    /// Partial IV (RFC 8613 §4.1.3.5.2); it exceeded every earlier one's (§7.4.1).
    Notification {
        /// The observation.
        handle: ace_coap::RequestHandle,
        /// The Observe value.
        sequence: u32,
        /// The decrypted notification.
        response: ace_coap::Message,
    },
    /// A notification that failed verification: tampered ([`Error::DecryptionFailed`]),
    /// not newer than the Notification Number ([`Error::ReplayDetected`], §7.4.1) or
    /// malformed. It was dropped; the observation goes on.
    Rejected {
        /// The observation.
        handle: ace_coap::RequestHandle,
        /// Why.
        error: Error,
    },
    /// The observation ended with a final response (an error, a response without Observe):
    /// the decrypted response, or the verification error ([`Error::UnprotectedResponse`]
    /// for an unprotected one).
    Ended {
        /// The observation.
        handle: ace_coap::RequestHandle,
        /// The final response.
        response: Result<ace_coap::Message>,
    },
    /// The registration or a notification's transport failed ([`Error::Transport`]).
    Failed {
        /// The observation.
        handle: ace_coap::RequestHandle,
        /// Why.
        error: Error,
    },
}

/// An OSCORE Observe client, sans-IO (style: engine shape (b)); created by
/// [`OscoreClient::observer`].
///
/// ```text
///  observe(now, peer, GET) ─ protect (FETCH, Observe 0, OSCORE) ─▶ poll_transmit ─▶ socket
///  socket ─▶ handle_datagram ─▶ Endpoint (CON/ACK, dedup, RFC 7641 §3.4 order)
///        ─▶ unprotect with the registration's binding (§8.4.2, Notification Number §7.4.1)
///        ─▶ poll_event: ObserveEvent::{Notification, Rejected, Ended, Failed}
/// ```
///
/// After any `handle_*` or [`OscoreObserver::observe`] / [`OscoreObserver::cancel`],
/// drain [`OscoreObserver::poll_transmit`], then arm a timer at
/// [`OscoreObserver::poll_timeout`] (feed [`OscoreObserver::handle_timeout`]), then drain
/// [`OscoreObserver::poll_event`]. Keep pumping after a cancel: the reset that ends the
/// observation at the server is sent when its next notification arrives.
pub struct OscoreObserver<B> {
    endpoint: ace_coap::Endpoint,
    ctx: Arc<Mutex<SecurityContext<B>>>,
    store: Arc<Mutex<dyn SequenceStore + Send>>,
    observations: std::collections::BTreeMap<ace_coap::RequestHandle, RequestBinding>,
}

impl<B> core::fmt::Debug for OscoreObserver<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OscoreObserver")
            .field("observations", &self.observations.len())
            .finish_non_exhaustive()
    }
}

impl<B: AeadBackend> OscoreObserver<B> {
    /// Registers an observation of `request` (GET or FETCH, plain; Observe 0 is set) at
    /// `peer`: protected (Outer FETCH with Observe 0, RFC 8613 §4.1.3.5.1), the sequence
    /// number reservation persisted, then handed to the engine as a CON request.
    ///
    /// # Errors
    /// [`Error::Misuse`] for another method; protection and persistence errors;
    /// [`Error::Transport`] when the engine refuses (limits).
    pub fn observe(
        &mut self,
        now: std::time::Instant,
        peer: SocketAddr,
        request: ace_coap::Message,
    ) -> Result<ace_coap::RequestHandle> {
        if !matches!(request.code, Code::GET | Code::FETCH) {
            return Err(Error::Misuse("observe needs GET or FETCH"));
        }
        let mut req = from_coap(&request);
        req.remove_option(option::OBSERVE);
        req.add_option(option::OBSERVE, Vec::new());
        let (outer, binding) = {
            let mut ctx = self
                .ctx
                .lock()
                .map_err(|_| Error::Misuse("context lock poisoned"))?;
            let out = ctx.protect_request(&req)?;
            let mut store = self
                .store
                .lock()
                .map_err(|_| Error::Misuse("store lock poisoned"))?;
            persist(&mut *store, &ctx, out.reservation)?;
            (out.message, out.binding)
        };
        let handle = self
            .endpoint
            .observe(now, peer, to_coap(outer), true)
            .map_err(Error::Transport)?;
        self.observations.insert(handle, binding);
        Ok(handle)
    }

    /// Ends an observation: its state is dropped (no further event for it) and the engine
    /// answers the server's next notification with a Reset, which deregisters it (RFC 7641
    /// §3.6). A proactive GET with Observe 1 is not sent: the engine would repeat the
    /// registration's protected bytes, which the server must refuse as a replay, and the
    /// shell API offers no way to send a new protected request on the same token. Returns
    /// whether the observation existed.
    pub fn cancel(&mut self, handle: ace_coap::RequestHandle) -> bool {
        let known = self.observations.remove(&handle).is_some();
        self.endpoint.forget(handle) || known
    }

    /// Number of running observations.
    #[must_use]
    pub fn observations(&self) -> usize {
        self.observations.len()
    }

    /// Feeds a received datagram.
    ///
    /// # Errors
    /// [`Error::Transport`] for a datagram the engine cannot parse (drop it and go on).
    pub fn handle_datagram(
        &mut self,
        now: std::time::Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<()> {
        self.endpoint
            .handle_datagram(now, from, data)
            .map_err(Error::Transport)
    }

    /// Runs the engine's timers (retransmission, exchange lifetimes).
    pub fn handle_timeout(&mut self, now: std::time::Instant) {
        self.endpoint.handle_timeout(now);
    }

    /// The next datagram to send, written to `buf`.
    pub fn poll_transmit(
        &mut self,
        now: std::time::Instant,
        buf: &mut Vec<u8>,
    ) -> Option<ace_coap::Transmit> {
        self.endpoint.poll_transmit(now, buf)
    }

    /// When [`OscoreObserver::handle_timeout`] is due next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.endpoint.poll_timeout()
    }

    /// The next event; every notification is verified here, in arrival order.
    pub fn poll_event(&mut self) -> Option<ObserveEvent> {
        while let Some(ev) = self.endpoint.poll_event() {
            if let Some(out) = self.convert(ev) {
                return Some(out);
            }
        }
        None
    }

    fn unprotect(
        &mut self,
        handle: ace_coap::RequestHandle,
        m: &ace_coap::Message,
    ) -> Result<Message> {
        if !m.options.contains(option::OSCORE) {
            return Err(Error::UnprotectedResponse(m.code.0));
        }
        let binding = self
            .observations
            .get_mut(&handle)
            .ok_or(Error::UnexpectedResponse)?;
        let mut ctx = self
            .ctx
            .lock()
            .map_err(|_| Error::Misuse("context lock poisoned"))?;
        ctx.unprotect_response(binding, &from_coap(m))
    }

    fn convert(&mut self, ev: ace_coap::Event) -> Option<ObserveEvent> {
        match ev {
            ace_coap::Event::Notification {
                handle, response, ..
            } => {
                if !self.observations.contains_key(&handle) {
                    return None;
                }
                Some(match self.unprotect(handle, &response) {
                    Ok(inner) if inner.has_option(option::OBSERVE) => {
                        let sequence = inner
                            .option(option::OBSERVE)
                            .and_then(crate::message::decode_uint)
                            .unwrap_or(0);
                        ObserveEvent::Notification {
                            handle,
                            sequence,
                            response: to_coap(inner),
                        }
                    }
                    // Outer Observe but no Inner Observe: the server ended the observation
                    // (RFC 8613 §4.1.3.5.2: the inner message is authoritative).
                    Ok(inner) => {
                        self.cancel(handle);
                        ObserveEvent::Ended {
                            handle,
                            response: Ok(to_coap(inner)),
                        }
                    }
                    Err(error) => ObserveEvent::Rejected { handle, error },
                })
            }
            ace_coap::Event::Response { handle, response } => {
                if !self.observations.contains_key(&handle) {
                    return None;
                }
                let result = self.unprotect(handle, &response).map(to_coap);
                self.observations.remove(&handle);
                Some(ObserveEvent::Ended {
                    handle,
                    response: result,
                })
            }
            ace_coap::Event::Failed { handle, error } => {
                self.observations.remove(&handle)?;
                Some(ObserveEvent::Failed {
                    handle,
                    error: Error::Transport(error),
                })
            }
            _ => None,
        }
    }
}
