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
//! ace-coap client only sees the outer message. Observe on the server side works (every
//! notification is protected with a fresh Partial IV); an OSCORE Observe client wrapper is
//! not written yet.

use std::boxed::Box;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use ace_coap::{Code, PeerIdentity, SecurityLayer};
use ace_crypto::AeadBackend;

use crate::consts::{code, option};
use crate::context::SecurityContext;
use crate::error::{Error, Result};
use crate::message::{CoapOption, Message};
use crate::protect::{RequestBinding, RequestOutcome};
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
        store
            .persist(ctx.sender_id(), ctx.id_context(), r.persist)
            .map_err(|_| Error::PersistFailed)?;
    }
    Ok(())
}

/// Per-request state the engine keeps for the response(s): which context and the binding.
#[derive(Debug)]
pub struct Exchange {
    index: usize,
    binding: RequestBinding,
}

/// The server-side OSCORE security layer.
pub struct OscoreLayer<B> {
    contexts: ContextSet<B>,
    store: Box<dyn SequenceStore + Send>,
    allow_unprotected: bool,
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
        }
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
        match self.contexts.unprotect_request(&outer) {
            Ok((index, RequestOutcome::Accepted(v))) => {
                let ctx = self.contexts.get(index);
                let identity = PeerIdentity::Oscore {
                    sender_id: v.binding.kid().to_vec(),
                    id_context: ctx.and_then(|c| c.id_context().map(<[u8]>::to_vec)),
                };
                Ok((
                    to_coap(v.request),
                    identity,
                    Some(Exchange {
                        index,
                        binding: v.binding,
                    }),
                ))
            }
            Ok((
                index,
                RequestOutcome::EchoRequired {
                    mut binding,
                    response,
                },
            )) => {
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
        let Some(ctx) = self.contexts.get_mut(exchange.index) else {
            return Err(error_response(&Error::ContextNotFound));
        };
        ctx.protect_response(&mut exchange.binding, &from_coap(&response))
            .and_then(|p| {
                persist(self.store.as_mut(), ctx, p.reservation).map(|()| to_coap(p.message))
            })
            .map_err(|e| error_response(&e))
    }
}

/// Largest body [`OscoreClient::request`] reassembles from inner Block2 (1 MiB).
pub const MAX_BODY: usize = 1 << 20;

/// A CoAP client that protects its requests with one OSCORE context.
pub struct OscoreClient<B> {
    client: ace_coap::Client,
    ctx: Arc<Mutex<SecurityContext<B>>>,
    store: Arc<Mutex<dyn SequenceStore + Send>>,
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
        }
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
    /// # Errors
    /// [`Error::Transport`], [`Error::UnprotectedResponse`], and the verification errors of
    /// [`SecurityContext::unprotect_response`].
    pub async fn request(
        &self,
        peer: SocketAddr,
        request: ace_coap::Message,
    ) -> Result<ace_coap::Message> {
        let base = from_coap(&request);
        let mut echo: Option<Vec<u8>> = None;
        let mut next_block: Option<(u32, u8)> = None;
        let mut body = Vec::new();
        loop {
            let mut req = base.clone();
            if let Some(e) = &echo {
                req.add_option(option::ECHO, e.clone());
            }
            if let Some((num, szx)) = next_block {
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
            let (outer, mut binding) = self.protect(&req)?;
            let resp = self
                .client
                .request(peer, to_coap(outer), true)
                .await
                .map_err(Error::Transport)?;
            let mut inner = self.unprotect(&mut binding, &resp)?;
            if inner.code == code::UNAUTHORIZED
                && echo.is_none()
                && let Some(e) = inner.option(option::ECHO)
            {
                echo = Some(e.to_vec());
                continue;
            }
            let block = inner
                .option(option::BLOCK2)
                .and_then(ace_coap::BlockOption::decode);
            match block {
                Some(b) if b.more => {
                    body.extend_from_slice(&inner.payload);
                    if body.len() > MAX_BODY {
                        return Err(Error::UnexpectedResponse);
                    }
                    next_block = Some((b.num + 1, b.szx));
                }
                Some(_) if next_block.is_some() => {
                    body.extend_from_slice(&inner.payload);
                    inner.payload = core::mem::take(&mut body);
                    inner.remove_option(option::BLOCK2);
                    return Ok(to_coap(inner));
                }
                _ => return Ok(to_coap(inner)),
            }
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
