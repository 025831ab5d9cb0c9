//! Group OSCORE over ace-coap (feature `coap`): a server-side [`SecurityLayer`] and a client
//! wrapper that sends group-mode requests to an IPv4 multicast group and pairwise-mode
//! requests by unicast.
//!
//! ```text
//!  server: datagram (unicast or multicast) ─▶ Endpoint ─▶ GroupOscoreLayer::unprotect
//!          ─▶ Router ─▶ Resource (PeerIdentity::GroupOscore { group_id, sender_id })
//!          GroupOscoreLayer::protect (same mode as the request) ◀── response
//!  client: GroupOscoreClient::group_request ─ protect (group mode) ─▶ Client::multicast_request
//!          ─▶ NON to 224.0.1.187:port … responses collected until a timeout ─▶ unprotect each
//!          GroupOscoreClient::pairwise_request ─ protect (pairwise) ─▶ Client::request ─▶ unprotect
//! ```
//!
//! The same pattern as ace-oscore's `coap` module: the `SecurityLayer` trait returns plain
//! messages, so Sender Sequence Number reservations are persisted **synchronously** through
//! an ace-oscore [`SequenceStore`] (keyed by Sender ID and Gid) before the protected message
//! is handed to the engine, which sends it only afterwards. A failed write drops the
//! message (5.00 instead of a response; the client does not send the request).
//!
//! Errors (draft §6, §6.2, §7.3): a request that fails verification (unknown Gid, unknown
//! sender, bad signature, replay, …) is answered with [`Error::to_response`] plus an Outer
//! Max-Age 0 — but ace-coap **suppresses 4.xx/5.xx responses to multicast requests**
//! (`MulticastConfig::error_responses`, default off), which is what the draft recommends
//! for group requests. The `SecurityLayer` trait cannot drop a *unicast* request without an
//! answer, so unicast requests get the error response.
//!
//! Rekeying: the layer and the client share their [`GroupEndpoint`] through
//! [`GroupOscoreLayer::endpoint`] / [`GroupOscoreClient::endpoint`]; the time given to it is
//! the time since the layer (client) was created.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use ace_coap::{Code, PeerIdentity, SecurityLayer};
use ace_oscore::consts::option;
use ace_oscore::{Reservation, SequenceStore};

use crate::context::GroupBackend;
use crate::error::{Error, Result};
use crate::group::GroupEndpoint;
use crate::protect::{ClientBinding, Mode, RequestMode, ServerBinding};

/// The conversions between ace-coap messages and the OSCORE message view are ace-oscore's.
pub use ace_oscore::coap::{from_coap, to_coap};

/// The unprotected error response for `e` (draft §6.2, §7.3; RFC 8613 §8.2: Outer Max-Age 0).
#[must_use]
pub fn error_response(e: &Error) -> ace_coap::Message {
    let r = e.to_response();
    ace_coap::Message::response(Code(r.code), r.diagnostic.as_bytes().to_vec())
        .with_option(option::MAX_AGE, Vec::new())
}

type Shared<B> = Arc<Mutex<GroupEndpoint<B>>>;
type SharedStore = Arc<Mutex<dyn SequenceStore + Send>>;

fn lock<T: ?Sized>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>> {
    m.lock().map_err(|_| Error::Misuse("lock poisoned"))
}

/// Persists `reservation` (if any) for the current context of `ep`.
fn persist<B: GroupBackend>(
    store: &SharedStore,
    ep: &GroupEndpoint<B>,
    reservation: Option<Reservation>,
) -> Result<()> {
    if let Some(r) = reservation {
        let ctx = ep.current();
        lock(store)?
            .persist(ctx.sender_id(), Some(ctx.gid()), r.persist)
            .map_err(|_| Error::Misuse("sequence number could not be persisted"))?;
    }
    Ok(())
}

/// Which mode responses are protected in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseMode {
    /// The mode of the request (default): group-mode requests get group-mode responses,
    /// pairwise-mode requests pairwise-mode responses (draft §6.3, §7.3).
    #[default]
    SameAsRequest,
    /// Always the pairwise mode (what aiocoap 0.4.17 does; draft §6.3 allows it when the
    /// server knows the client's credential).
    Pairwise,
}

/// Per-request state the engine keeps for the response(s): the binding of a verified
/// request (`None` for an unprotected request let through).
#[derive(Debug)]
pub struct Exchange {
    binding: Option<ServerBinding>,
}

/// The server-side Group OSCORE security layer for ace-coap.
pub struct GroupOscoreLayer<B> {
    endpoint: Shared<B>,
    store: SharedStore,
    started: Instant,
    allow_unprotected: bool,
    response_mode: ResponseMode,
}

impl<B> core::fmt::Debug for GroupOscoreLayer<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupOscoreLayer")
            .field("allow_unprotected", &self.allow_unprotected)
            .field("response_mode", &self.response_mode)
            .finish_non_exhaustive()
    }
}

impl<B: GroupBackend> GroupOscoreLayer<B> {
    /// A layer for group member `endpoint` that persists reservations to `store`.
    /// Requests without an OSCORE option are refused with 4.01 unless
    /// [`GroupOscoreLayer::allow_unprotected`] is set.
    pub fn new(endpoint: GroupEndpoint<B>, store: impl SequenceStore + Send + 'static) -> Self {
        Self {
            endpoint: Arc::new(Mutex::new(endpoint)),
            store: Arc::new(Mutex::new(store)),
            started: Instant::now(),
            allow_unprotected: false,
            response_mode: ResponseMode::SameAsRequest,
        }
    }

    /// Lets requests without the OSCORE option through as [`PeerIdentity::Anonymous`];
    /// resources must check the identity.
    #[must_use]
    pub fn allow_unprotected(mut self, yes: bool) -> Self {
        self.allow_unprotected = yes;
        self
    }

    /// Sets the mode responses are protected in (default [`ResponseMode::SameAsRequest`]).
    #[must_use]
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.response_mode = mode;
        self
    }

    /// The group endpoint, shared with the running server (e.g. to rekey it).
    #[must_use]
    pub fn endpoint(&self) -> Arc<Mutex<GroupEndpoint<B>>> {
        self.endpoint.clone()
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }
}

impl<B: GroupBackend + Send + 'static> SecurityLayer for GroupOscoreLayer<B> {
    type Context = Exchange;

    fn unprotect(
        &mut self,
        _peer: SocketAddr,
        request: ace_coap::Message,
    ) -> core::result::Result<(ace_coap::Message, PeerIdentity, Exchange), ace_coap::Message> {
        if !request.options.contains(option::OSCORE) {
            if self.allow_unprotected {
                return Ok((request, PeerIdentity::Anonymous, Exchange { binding: None }));
            }
            return Err(ace_coap::Message::response(
                Code::UNAUTHORIZED,
                b"Group OSCORE required".to_vec(),
            ));
        }
        let now = self.now();
        let verified = lock(&self.endpoint)
            .and_then(|mut ep| ep.unprotect_request(now, &from_coap(&request)))
            .map_err(|e| error_response(&e))?;
        let identity = PeerIdentity::GroupOscore {
            group_id: verified.binding.kid_context().to_vec(),
            sender_id: verified.sender_id,
        };
        Ok((
            to_coap(verified.request),
            identity,
            Exchange {
                binding: Some(verified.binding),
            },
        ))
    }

    fn protect(
        &mut self,
        _peer: SocketAddr,
        response: ace_coap::Message,
        context: &mut Exchange,
    ) -> core::result::Result<ace_coap::Message, ace_coap::Message> {
        let Some(binding) = context.binding.as_mut() else {
            return Ok(response);
        };
        let mode = match self.response_mode {
            ResponseMode::SameAsRequest => binding.mode(),
            ResponseMode::Pairwise => Mode::Pairwise,
        };
        let mut ep = lock(&self.endpoint).map_err(|e| error_response(&e))?;
        ep.protect_response(binding, &from_coap(&response), mode)
            .and_then(|p| persist(&self.store, &ep, p.reservation).map(|()| to_coap(p.message)))
            .map_err(|e| error_response(&e))
    }
}

/// What can go wrong for [`GroupOscoreClient`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Group OSCORE processing (protecting the request, verifying a response).
    #[error(transparent)]
    GroupOscore(#[from] Error),
    /// The CoAP transport failed (timeout, reset, shutdown, …).
    #[error("transport: {0}")]
    Transport(#[from] ace_coap::Error),
    /// The response carried no OSCORE option (its code is given); e.g. an error response.
    #[error("unprotected response {0:?}")]
    UnprotectedResponse(Code),
}

/// A verified response from one group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberResponse {
    /// The address the response came from (the server's unicast address).
    pub from: SocketAddr,
    /// The responding member's Sender ID (authenticated).
    pub sender_id: Vec<u8>,
    /// The mode the response was protected in.
    pub mode: Mode,
    /// The decrypted response.
    pub response: ace_coap::Message,
}

/// A response to a group request that did not verify (forged, replayed, unprotected, from a
/// non-member…); it is not used.
#[derive(Debug)]
pub struct RejectedResponse {
    /// Where it came from.
    pub from: SocketAddr,
    /// Why it was rejected.
    pub error: ClientError,
}

/// The outcome of one group request: every verified response (at most one per member and
/// Partial IV) and the rejected ones.
#[derive(Debug, Default)]
pub struct GroupResponses {
    /// Verified responses, in arrival order.
    pub responses: Vec<MemberResponse>,
    /// Responses that failed verification.
    pub rejected: Vec<RejectedResponse>,
}

/// A CoAP client that protects its requests with a Group OSCORE context: group mode to a
/// multicast group (or one address), pairwise mode to one member.
pub struct GroupOscoreClient<B> {
    client: ace_coap::Client,
    endpoint: Shared<B>,
    store: SharedStore,
    started: Instant,
}

impl<B> core::fmt::Debug for GroupOscoreClient<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupOscoreClient").finish_non_exhaustive()
    }
}

impl<B: GroupBackend> GroupOscoreClient<B> {
    /// Wraps an ace-coap client (whose driver the caller runs) with a group member's
    /// endpoint and a store for sequence-number reservations. For multicast on loopback,
    /// call `ClientDriver::set_multicast_interface_v4(127.0.0.1)` on the driver.
    pub fn new(
        client: ace_coap::Client,
        endpoint: GroupEndpoint<B>,
        store: impl SequenceStore + Send + 'static,
    ) -> Self {
        Self {
            client,
            endpoint: Arc::new(Mutex::new(endpoint)),
            store: Arc::new(Mutex::new(store)),
            started: Instant::now(),
        }
    }

    /// The group endpoint (e.g. to rekey it).
    #[must_use]
    pub fn endpoint(&self) -> Arc<Mutex<GroupEndpoint<B>>> {
        self.endpoint.clone()
    }

    /// The Sender Sequence Number the next request will use.
    ///
    /// # Errors
    /// [`Error::Misuse`] when the lock is poisoned.
    pub fn sender_sequence_number(&self) -> Result<u64> {
        Ok(lock(&self.endpoint)?.current().sender_sequence_number())
    }

    /// Protects `request` in `mode`, persisting the reservation before returning.
    ///
    /// # Errors
    /// As [`GroupEndpoint::protect_request`]; [`Error::Misuse`] when persisting fails.
    pub fn protect(
        &self,
        request: &ace_coap::Message,
        mode: &RequestMode,
    ) -> Result<(ace_coap::Message, ClientBinding)> {
        let mut ep = lock(&self.endpoint)?;
        let out = ep.protect_request(&from_coap(request), mode)?;
        persist(&self.store, &ep, out.reservation)?;
        Ok((to_coap(out.message), out.binding))
    }

    /// Verifies one response to the request `binding` belongs to.
    ///
    /// # Errors
    /// [`ClientError::UnprotectedResponse`]; the errors of
    /// [`GroupEndpoint::unprotect_response`].
    pub fn unprotect(
        &self,
        binding: &mut ClientBinding,
        from: SocketAddr,
        response: &ace_coap::Message,
    ) -> core::result::Result<MemberResponse, ClientError> {
        if !response.options.contains(option::OSCORE) {
            return Err(ClientError::UnprotectedResponse(response.code));
        }
        let now = self.started.elapsed();
        let v = lock(&self.endpoint)?.unprotect_response(now, binding, &from_coap(response))?;
        Ok(MemberResponse {
            from,
            sender_id: v.sender_id,
            mode: v.mode,
            response: to_coap(v.response),
        })
    }

    /// Sends `request` protected in group mode as a NON request to the multicast address
    /// `group` and verifies every response that arrives within `collect_for` (each member
    /// answers after its leisure). Responses that fail verification are returned in
    /// [`GroupResponses::rejected`].
    ///
    /// # Errors
    /// Protecting the request; the transport (`Client::multicast_request`).
    pub async fn group_request(
        &self,
        group: SocketAddr,
        request: ace_coap::Message,
        collect_for: Duration,
    ) -> core::result::Result<GroupResponses, ClientError> {
        let (outer, mut binding) = self.protect(&request, &RequestMode::Group)?;
        let got = self
            .client
            .multicast_request(group, outer, collect_for)
            .await?;
        Ok(self.verify_all(&mut binding, got))
    }

    /// Sends `request` protected in `mode` by unicast to `peer` (CON if `confirmable`) and
    /// verifies its response. With [`RequestMode::Pairwise`] only the member with that
    /// Sender ID is accepted as responder (draft §6.4); with [`RequestMode::Group`] a
    /// group-mode request goes to one member (e.g. a peer that is not reachable by
    /// multicast).
    ///
    /// # Errors
    /// Protecting, the transport, [`ClientError::UnprotectedResponse`] and verification.
    pub async fn request(
        &self,
        peer: SocketAddr,
        request: ace_coap::Message,
        mode: &RequestMode,
        confirmable: bool,
    ) -> core::result::Result<MemberResponse, ClientError> {
        let (outer, mut binding) = self.protect(&request, mode)?;
        let resp = self.client.request(peer, outer, confirmable).await?;
        self.unprotect(&mut binding, peer, &resp)
    }

    /// [`GroupOscoreClient::request`] in pairwise mode for the member `recipient_id` (CON).
    ///
    /// # Errors
    /// As [`GroupOscoreClient::request`].
    pub async fn pairwise_request(
        &self,
        peer: SocketAddr,
        recipient_id: &[u8],
        request: ace_coap::Message,
    ) -> core::result::Result<MemberResponse, ClientError> {
        self.request(
            peer,
            request,
            &RequestMode::Pairwise(recipient_id.to_vec()),
            true,
        )
        .await
    }

    /// Sends an already protected request again, unchanged (an application-layer
    /// retransmission of a NON group request, draft §6: "repetitions of previous protected
    /// messages"; also how a replay looks to the servers), collecting for `collect_for`.
    ///
    /// # Errors
    /// The transport.
    pub async fn resend_multicast(
        &self,
        group: SocketAddr,
        protected: ace_coap::Message,
        binding: &mut ClientBinding,
        collect_for: Duration,
    ) -> core::result::Result<GroupResponses, ClientError> {
        let got = self
            .client
            .multicast_request(group, protected, collect_for)
            .await?;
        Ok(self.verify_all(binding, got))
    }

    fn verify_all(
        &self,
        binding: &mut ClientBinding,
        got: Vec<ace_coap::GroupResponse>,
    ) -> GroupResponses {
        let mut out = GroupResponses::default();
        for r in got {
            match self.unprotect(binding, r.from, &r.response) {
                Ok(v) => out.responses.push(v),
                Err(error) => out.rejected.push(RejectedResponse {
                    from: r.from,
                    error,
                }),
            }
        }
        out
    }

    /// The wrapped ace-coap client.
    #[must_use]
    pub fn inner(&self) -> &ace_coap::Client {
        &self.client
    }
}
