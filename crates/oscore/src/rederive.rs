//! Security context re-derivation with random ID Contexts (RFC 8613 Appendix B.2), sans-IO.
//!
//! ```text
//!         Client                                   Server
//!  [1. R1 random, ID1 = R1]  request #1            (ID1: the client's R1, or the ID Context
//!   protect with ID1       ── kid_context = ID1 ─▶  of a context whose mutable state is lost)
//!                                                   2. verify with ID1; R2 random, cache R2
//!  3. verify with R2||ID1  ◀─ 4.01, kid_context = R2 ─ protect with ID2 = R2 || ID1
//!     R3 random            ── request #2 ──────────▶ 4. R2 cached, not seen before: verify
//!     protect with R2||R3      kid_context = R2||R3     with ID3 = R2 || R3, drop every R2 of
//!                                                       this client; ServerStep::Completed
//!  5. verify with R2||R3   ◀─ response #2 ───────── protect with R2 || R3
//!     ClientCompleted: install ID3, drop the old context
//! ```
//!
//! # Who initiates
//! * **Client** ([`ClientRederivation::initiate`]): a client without a usable context (first
//!   contact, or its Sender Sequence Number / replay state was lost) picks R1 and protects
//!   request #1 with ID Context R1, sent as 'kid context' (step 1).
//! * **Server** (step 1 omitted): the client sends an ordinary request with its context (ID
//!   Context ID1, possibly none); the server, whose context for that client lost its mutable
//!   part (a [`SecurityContext::restore`]d context whose replay window is
//!   [`ReplayWindow::NeedsEcho`](crate::ReplayWindow::NeedsEcho)), answers with response #1
//!   instead of an Echo challenge. The client notices the 'kid context' in the response and
//!   continues with [`ClientRederivation::server_initiated`].
//!
//! # State and security
//! * Every context derived here starts with Sender Sequence Number 0 and an empty replay
//!   window ([`SecurityContext::new`]); the random R2/R3 make its keys new, so no nonce is
//!   reused although the immutable inputs are the same (Appendix B.2, last paragraphs).
//! * Nothing replaces the old context until the run is confirmed: the server only on a
//!   verified request #2 ([`ServerStep::Completed`]), the client only on a verified response
//!   #2 ([`ClientCompleted`]); until then both sides keep using (and accepting) the old one.
//! * Replays: a replayed request #1 only yields another response #1 with a new R2 (the
//!   cache is bounded, oldest run evicted first, Appendix B.2.1); a replayed request #2 finds
//!   its R2 removed and then meets the new context's replay window ([`Error::ReplayDetected`]);
//!   a replayed or unexpected response #1 is refused by the client's state
//!   ([`Error::UnexpectedResponse`]). A request #2 or response that fails verification leaves
//!   the run as it was, so a forgery cannot abort it.
//! * R1, R2 and R3 are [`RederiveConfig::nonce_len`] random bytes (default 8, "typically at
//!   least 8 bytes long"); received ones outside
//!   [`RederiveConfig::min_peer_nonce_len`]..=[`RederiveConfig::max_peer_nonce_len`] are
//!   refused with [`Error::RederivationNonceLength`] before any key is derived (the upper
//!   bound is ours: the RFC lets the application choose; it bounds the work an attacker can
//!   cause). Randomness comes from the caller (`&mut impl CryptoRng`); B.2 "MUST NOT be used
//!   unless both endpoints have good sources of randomness".
//! * Response #1 is protected with ID2 = R2 || ID1 and the request's nonce (no Partial IV),
//!   which is safe because R2 is never reused (fresh randomness per run).
//!
//! The HMAC construction of Appendix B.2.1 (stateless R2) is not implemented: R2 is cached.

use alloc::vec::Vec;

use ace_crypto::{AeadBackend, CryptoRng, HkdfBackend};

use crate::consts::code;
use crate::context::{ContextParams, SecurityContext};
use crate::error::{DecodeError, Error, Result};
use crate::message::{CoapOption, Message};
use crate::protect::{
    ProtectedRequest, RequestBinding, RequestOutcome, ResponseNonce, VerifiedRequest,
    oscore_option_of,
};
use crate::store::ContextSet;

/// Parameters of the Appendix B.2 procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RederiveConfig {
    /// Length of the nonces this endpoint generates (R1 or R3 as client, R2 as server).
    pub nonce_len: usize,
    /// Shortest nonce accepted from the peer (R1, R2, R3).
    pub min_peer_nonce_len: usize,
    /// Longest nonce accepted from the peer.
    pub max_peer_nonce_len: usize,
    /// Server: how many runs (cached R2) may be pending at once; beyond that the oldest run
    /// is forgotten (Appendix B.2.1 leaves the policy to the server).
    pub max_pending: usize,
}

impl Default for RederiveConfig {
    fn default() -> Self {
        Self {
            nonce_len: 8,
            min_peer_nonce_len: 8,
            max_peer_nonce_len: 32,
            max_pending: 8,
        }
    }
}

impl RederiveConfig {
    fn check_peer_nonce(&self, nonce: &[u8]) -> Result<()> {
        if nonce.len() < self.min_peer_nonce_len || nonce.len() > self.max_peer_nonce_len {
            return Err(Error::RederivationNonceLength(nonce.len()));
        }
        Ok(())
    }

    fn fresh_nonce<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Result<Vec<u8>> {
        if self.nonce_len == 0 {
            return Err(Error::InvalidContext("re-derivation nonce length is zero"));
        }
        let mut n = alloc::vec![0u8; self.nonce_len];
        rng.fill_bytes(&mut n);
        Ok(n)
    }
}

fn concat(a: &[u8], b: Option<&[u8]>) -> Vec<u8> {
    let mut v = Vec::with_capacity(a.len() + b.map_or(0, <[u8]>::len));
    v.extend_from_slice(a);
    v.extend_from_slice(b.unwrap_or_default());
    v
}

/// Sets the 'kid context' of the OSCORE option of a protected message (it is not part of
/// the AAD, RFC 8613 §5.4, so this does not touch the ciphertext).
fn set_kid_context(msg: &mut Message, kid_context: &[u8]) -> Result<()> {
    let mut opt = oscore_option_of(msg)?;
    opt.kid_context = Some(kid_context.to_vec());
    let value = opt.to_vec()?;
    msg.options
        .retain(|o| o.number != crate::consts::option::OSCORE);
    msg.options.push(CoapOption {
        number: crate::consts::option::OSCORE,
        value,
    });
    msg.normalize();
    Ok(())
}

/// The 'kid context' of a response, if it carries one (then it is a response #1 of
/// Appendix B.2 and its value is R2).
///
/// # Errors
/// Decode errors of the OSCORE option.
pub fn response_kid_context(response: &Message) -> Result<Option<Vec<u8>>> {
    Ok(oscore_option_of(response)?.kid_context)
}

fn derive_with<B: AeadBackend + HkdfBackend + Clone>(
    backend: &B,
    base: &ContextParams,
    id_context: Vec<u8>,
) -> Result<SecurityContext<B>> {
    let mut params = base.clone();
    params.id_context = Some(id_context);
    SecurityContext::new(backend.clone(), params)
}

// ------------------------------------------------------------------------------------------
// Server
// ------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Pending {
    /// The client's Sender ID (our Recipient ID).
    kid: Vec<u8>,
    /// The ID Context of the context this run will replace (None: none / no ID Context).
    old_id_context: Option<Vec<u8>>,
    /// Immutable inputs (Master Secret, Salt, IDs, algorithms).
    base: ContextParams,
    r2: Vec<u8>,
}

/// What the server does with a request (see [`ServerRederivation::unprotect_request`]).
#[derive(Debug)]
#[must_use]
pub enum ServerStep<B> {
    /// A request on an installed context, exactly as [`ContextSet::unprotect_request`].
    Ordinary {
        /// Index of the context in the [`ContextSet`].
        index: usize,
        /// The verification outcome.
        outcome: RequestOutcome,
    },
    /// Request #1 verified (step 2): do **not** process it; send `response` (a 4.01 already
    /// protected with ID2 = R2 || ID1, 'kid context' = R2). Nothing is installed.
    Response1 {
        /// The protected response #1.
        response: Message,
    },
    /// Request #2 verified (step 4): install `context` in place of the context at
    /// `replaces` (or add it when `None`; [`ContextSet::install`] does either), then process
    /// `request` and protect its response with the new context.
    Completed {
        /// The new context (ID Context R2 || R3), fresh sequence number and replay window,
        /// with `request`'s Partial IV already marked as received (boxed: it is large).
        context: alloc::boxed::Box<SecurityContext<B>>,
        /// Index of the context it replaces, if the set holds one for this client.
        replaces: Option<usize>,
        /// The decrypted request #2 and its binding.
        request: VerifiedRequest,
    },
}

/// Server side of Appendix B.2: caches R2 per pending run and drives steps 2 and 4 on top
/// of a [`ContextSet`].
#[derive(Debug, Default)]
pub struct ServerRederivation {
    config: RederiveConfig,
    pending: Vec<Pending>,
}

impl ServerRederivation {
    /// A server with `config` and no pending run.
    #[must_use]
    pub fn new(config: RederiveConfig) -> Self {
        Self {
            config,
            pending: Vec::new(),
        }
    }

    /// Number of pending runs (cached R2 values).
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Forgets every pending run (e.g. on a shell timer, Appendix B.2.1).
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// Verifies `request` against `contexts`, running Appendix B.2 where the set has no
    /// usable context:
    ///
    /// * kid and kid context match an installed context that has its replay state → as
    ///   [`ContextSet::unprotect_request`] ([`ServerStep::Ordinary`]);
    /// * they match a restored context waiting for Echo (mutable state lost) and the request
    ///   verifies → server-initiated run, [`ServerStep::Response1`];
    /// * the kid context starts with a cached R2 → request #2, [`ServerStep::Completed`];
    /// * otherwise the kid context is a client's R1 for a context whose Recipient ID is the
    ///   kid (the first such context gives the Master Secret, Salt and algorithms) →
    ///   [`ServerStep::Response1`].
    ///
    /// # Errors
    /// As [`ContextSet::unprotect_request`]; [`Error::RederivationNonceLength`] for an R1 or
    /// R3 outside the configured bounds; [`Error::ContextNotFound`] for an unknown kid.
    pub fn unprotect_request<B, R>(
        &mut self,
        contexts: &mut ContextSet<B>,
        request: &Message,
        rng: &mut R,
    ) -> Result<ServerStep<B>>
    where
        B: AeadBackend + HkdfBackend + Clone,
        R: CryptoRng + ?Sized,
    {
        let opt = oscore_option_of(request)?;
        let kid = opt.kid.clone().ok_or(DecodeError::MissingKid)?;
        if let Some(index) = contexts.find(&kid, opt.kid_context.as_deref()) {
            let ctx = contexts.get_mut(index).ok_or(Error::ContextNotFound)?;
            let outcome = ctx.unprotect_request_with(request, opt)?;
            return match outcome {
                RequestOutcome::EchoRequired { binding, .. } => {
                    // Step 1 omitted: the server lost its replay state and initiates.
                    let base = ctx.params.clone();
                    let backend = ctx.backend.clone();
                    let old = base.id_context.clone();
                    self.respond1(&backend, base, old, &kid, binding, rng)
                }
                outcome => Ok(ServerStep::Ordinary { index, outcome }),
            };
        }
        let kid_context = opt.kid_context.clone().ok_or(Error::ContextNotFound)?;
        // Step 4: request #2 carries R2 || R3 with an R2 we sent and still cache.
        let run = self.pending.iter().position(|p| {
            p.kid == kid && kid_context.len() > p.r2.len() && kid_context.starts_with(&p.r2)
        });
        if let Some(run) = run {
            let p = self.pending.get(run).ok_or(Error::ContextNotFound)?;
            let r3 = kid_context.get(p.r2.len()..).unwrap_or_default();
            self.config.check_peer_nonce(r3)?;
            let base_index = contexts.find(&kid, None).ok_or(Error::ContextNotFound)?;
            let backend = contexts
                .get(base_index)
                .ok_or(Error::ContextNotFound)?
                .backend
                .clone();
            let mut ctx3 = derive_with(&backend, &p.base, kid_context.clone())?;
            let RequestOutcome::Accepted(verified) = ctx3.unprotect_request_with(request, opt)?
            else {
                return Err(Error::Misuse("a fresh context cannot need Echo"));
            };
            let old = p.old_id_context.clone();
            // Verified: this run is complete; every R2 of this client is dropped (step 4).
            self.pending.retain(|q| q.kid != kid);
            let replaces = contexts.position(|c| {
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    c.recipient_id(),
                    kid.as_slice(),
                )) && c.id_context() == old.as_deref()
            });
            return Ok(ServerStep::Completed {
                context: alloc::boxed::Box::new(ctx3),
                replaces,
                request: verified,
            });
        }
        // Step 2, client-initiated: the kid context is the client's R1.
        self.config.check_peer_nonce(&kid_context)?;
        let base_index = contexts.find(&kid, None).ok_or(Error::ContextNotFound)?;
        let base_ctx = contexts.get(base_index).ok_or(Error::ContextNotFound)?;
        let base = base_ctx.params.clone();
        let backend = base_ctx.backend.clone();
        let old = base.id_context.clone();
        let mut ctx1 = derive_with(&backend, &base, kid_context)?;
        let binding = match ctx1.unprotect_request_with(request, opt)? {
            RequestOutcome::Accepted(v) => v.binding,
            RequestOutcome::EchoRequired { binding, .. } => binding,
        };
        self.respond1(&backend, base, old, &kid, binding, rng)
    }

    /// Step 2 after request #1 verified with ID1 = `binding`'s kid context or the old ID
    /// Context: R2, ID2 = R2 || ID1, protected 4.01 carrying R2.
    fn respond1<B, R>(
        &mut self,
        backend: &B,
        base: ContextParams,
        old_id_context: Option<Vec<u8>>,
        kid: &[u8],
        binding: RequestBinding,
        rng: &mut R,
    ) -> Result<ServerStep<B>>
    where
        B: AeadBackend + HkdfBackend + Clone,
        R: CryptoRng + ?Sized,
    {
        let id1 = binding
            .kid_context()
            .map(<[u8]>::to_vec)
            .or_else(|| old_id_context.clone());
        let r2 = self.config.fresh_nonce(rng)?;
        let mut ctx2 = derive_with(backend, &base, concat(&r2, id1.as_deref()))?;
        // A binding of its own: the request nonce under the new key is unused (R2 is fresh).
        let mut b = binding;
        b.force_partial_iv = false;
        b.request_nonce_used = false;
        let mut response = ctx2
            .protect_response_with(
                &mut b,
                &Message::new(code::UNAUTHORIZED),
                ResponseNonce::Request,
            )?
            .message;
        set_kid_context(&mut response, &r2)?;
        if self.config.max_pending == 0 {
            return Err(Error::InvalidContext("re-derivation max_pending is zero"));
        }
        while self.pending.len() >= self.config.max_pending {
            self.pending.remove(0);
        }
        self.pending.push(Pending {
            kid: kid.to_vec(),
            old_id_context,
            base,
            r2,
        });
        Ok(ServerStep::Response1 { response })
    }
}

// ------------------------------------------------------------------------------------------
// Client
// ------------------------------------------------------------------------------------------

enum ClientState<B> {
    /// Request #1 sent (with ID1); waiting for response #1.
    AwaitingResponse1 {
        backend: B,
        base: ContextParams,
        id1: Option<Vec<u8>>,
        binding: RequestBinding,
    },
    /// Request #2 sent with ID3 = R2 || R3; waiting for response #2.
    AwaitingResponse2 {
        ctx3: SecurityContext<B>,
        binding: RequestBinding,
    },
    /// Completed (or abandoned after a local failure).
    Done,
}

/// The end of a client run (step 5): install `context` in place of the old one.
#[derive(Debug)]
#[must_use]
pub struct ClientCompleted<B> {
    /// The new context (ID Context R2 || R3); it has sent request #2, so its Sender
    /// Sequence Number is past 0.
    pub context: SecurityContext<B>,
    /// The verified response #2.
    pub response: Message,
}

/// Client side of Appendix B.2 (one run).
pub struct ClientRederivation<B> {
    config: RederiveConfig,
    state: ClientState<B>,
}

impl<B> core::fmt::Debug for ClientRederivation<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = match &self.state {
            ClientState::AwaitingResponse1 { .. } => "AwaitingResponse1",
            ClientState::AwaitingResponse2 { .. } => "AwaitingResponse2",
            ClientState::Done => "Done",
        };
        f.debug_struct("ClientRederivation")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<B: AeadBackend + HkdfBackend + Clone> ClientRederivation<B> {
    /// Step 1: draws R1, derives the first context (ID Context R1, from `base`'s Master
    /// Secret, Salt, IDs and algorithms) and protects `request` with it, R1 as 'kid
    /// context'. Send the returned request #1; its reservation belongs to a throw-away
    /// context and need not be persisted.
    ///
    /// # Errors
    /// As [`SecurityContext::new`] and [`SecurityContext::protect_request`].
    pub fn initiate<R: CryptoRng + ?Sized>(
        backend: B,
        base: ContextParams,
        config: RederiveConfig,
        request: &Message,
        rng: &mut R,
    ) -> Result<(Self, ProtectedRequest)> {
        let r1 = config.fresh_nonce(rng)?;
        let mut first = base.clone();
        first.id_context = Some(r1.clone());
        first.send_kid_context = true;
        let mut ctx1 = SecurityContext::new(backend.clone(), first)?;
        let sent = ctx1.protect_request(request)?;
        let state = ClientState::AwaitingResponse1 {
            backend,
            base,
            id1: Some(r1),
            binding: sent.binding.clone(),
        };
        Ok((Self { config, state }, sent))
    }

    /// Step 1 omitted (server-initiated): `binding` is that of an ordinary request sent with
    /// `ctx` (ID Context ID1, possibly none) whose response carried a 'kid context'
    /// ([`response_kid_context`]). Continue with [`ClientRederivation::handle_response1`].
    #[must_use]
    pub fn server_initiated(
        ctx: &SecurityContext<B>,
        binding: RequestBinding,
        config: RederiveConfig,
    ) -> Self {
        let mut base = ctx.params.clone();
        let id1 = base.id_context.take();
        Self {
            config,
            state: ClientState::AwaitingResponse1 {
                backend: ctx.backend.clone(),
                base,
                id1,
                binding,
            },
        }
    }

    /// Whether the run waits for response #1.
    #[must_use]
    pub fn awaits_response1(&self) -> bool {
        matches!(self.state, ClientState::AwaitingResponse1 { .. })
    }

    /// Step 3: verifies response #1 with ID2 = R2 || ID1, draws R3 and protects `request2`
    /// (any request, e.g. the original one again) with ID3 = R2 || R3, sent as 'kid
    /// context'. Persist the returned reservation (keyed by the new ID Context) before
    /// sending: this context becomes the client's context.
    ///
    /// # Errors
    /// [`Error::UnexpectedResponse`] when no response #1 is expected (a replay) or the
    /// response has no 'kid context'; [`Error::RederivationNonceLength`] for an R2 outside
    /// the bounds; the verification errors of [`SecurityContext::unprotect_response`]. On
    /// any error the run stays as it was.
    pub fn handle_response1<R: CryptoRng + ?Sized>(
        &mut self,
        response: &Message,
        request2: &Message,
        rng: &mut R,
    ) -> Result<ProtectedRequest> {
        let ClientState::AwaitingResponse1 {
            backend,
            base,
            id1,
            binding,
        } = &self.state
        else {
            return Err(Error::UnexpectedResponse);
        };
        let r2 = response_kid_context(response)?.ok_or(Error::UnexpectedResponse)?;
        self.config.check_peer_nonce(&r2)?;
        let mut ctx2 = derive_with(backend, base, concat(&r2, id1.as_deref()))?;
        let mut b = binding.clone();
        ctx2.unprotect_response(&mut b, response)?;
        let r3 = self.config.fresh_nonce(rng)?;
        let mut third = base.clone();
        third.id_context = Some(concat(&r2, Some(&r3)));
        third.send_kid_context = true;
        let mut ctx3 = SecurityContext::new(backend.clone(), third)?;
        let sent = ctx3.protect_request(request2)?;
        self.state = ClientState::AwaitingResponse2 {
            ctx3,
            binding: sent.binding.clone(),
        };
        Ok(sent)
    }

    /// Step 5: verifies response #2 with the third context; on success the run is complete
    /// and the shell installs [`ClientCompleted::context`] in place of the old context.
    ///
    /// # Errors
    /// [`Error::UnexpectedResponse`] when no response #2 is expected or the response carries
    /// a 'kid context' (another response #1); the verification errors of
    /// [`SecurityContext::unprotect_response`]. On a verification error the run stays as it
    /// was.
    pub fn handle_response2(&mut self, response: &Message) -> Result<ClientCompleted<B>> {
        let ClientState::AwaitingResponse2 { ctx3, binding } = &mut self.state else {
            return Err(Error::UnexpectedResponse);
        };
        if response_kid_context(response)?.is_some() {
            return Err(Error::UnexpectedResponse);
        }
        let mut b = binding.clone();
        let plain = ctx3.unprotect_response(&mut b, response)?;
        let ClientState::AwaitingResponse2 { ctx3, .. } =
            core::mem::replace(&mut self.state, ClientState::Done)
        else {
            return Err(Error::UnexpectedResponse);
        };
        Ok(ClientCompleted {
            context: ctx3,
            response: plain,
        })
    }
}
