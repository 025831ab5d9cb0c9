//! The security-layer hook: unprotect a request before routing, protect the
//! response after it (OSCORE and Group OSCORE plug in here).
//!
//! ```text
//!  datagram ─▶ dedup ─▶ SecurityLayer::unprotect ─▶ block-wise/observe ─▶ Router ─▶ Resource
//!  datagram ◀─ dedup cache ◀─ SecurityLayer::protect ◀─ block-wise/observe ◀───────┘
//! ```
//!
//! The engine does block-wise transfer and Observe on the *inner* (unprotected)
//! message, which is what OSCORE calls inner block-wise (RFC 8613 §4.1.3.4); the
//! messaging layer (type, message ID, token, retransmission, deduplication) works on
//! the outer message.
//!
//! Outer block-wise (RFC 8613 §4.1.3.4.2) is opt-in per layer through
//! [`SecurityLayer::outer_blockwise`]: a request carrying the OSCORE option and an outer
//! Block1 is reassembled *before* [`SecurityLayer::unprotect`] (bounded by
//! MAX_UNFRAGMENTED_SIZE; beyond it 4.13), and a protected response that does not fit
//! one block is cut into outer Block2 blocks *after* [`SecurityLayer::protect`]:
//!
//! ```text
//!  blocks ─▶ dedup ─▶ outer Block1 reassembly ─▶ unprotect ─▶ inner block-wise ─▶ Router
//!  blocks ◀─ dedup cache ◀─ outer Block2 cut/cache ◀─ protect ◀─ inner block-wise ◀─┘
//! ```

use std::net::SocketAddr;

use crate::consts::option;
use crate::message::{Code, Message};
use crate::resource::PeerIdentity;

/// Outer block-wise policy of a security layer (RFC 8613 §4.1.3.4.2, RFC 7959), for
/// messages carrying the OSCORE option. The Outer Block options are class U: neither
/// encrypted nor integrity protected; integrity comes from verifying the reassembled
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OuterBlockwise {
    /// MAX_UNFRAGMENTED_SIZE: the largest protected message (its payload) reassembled from
    /// outer Block1 blocks; a transfer crossing it is dropped and answered 4.13 with
    /// Size1 (the message is discarded, §4.1.3.4.2). Also the largest protected response
    /// sent with outer Block2; larger ones use inner Block2.
    pub max_unfragmented_size: usize,
    /// Whether responses are protected whole and then cut into outer Block2 blocks
    /// (`true`), or cut into inner Block2 blocks before protection as without this
    /// policy (`false`). A request carrying an inner Block2 option always gets inner
    /// Block2, and notifications always use inner Block2.
    pub fragment_responses: bool,
}

impl OuterBlockwise {
    /// Reassembles outer Block1 requests up to `max_unfragmented_size` bytes; responses
    /// keep using inner Block2 (see [`OuterBlockwise::fragment_responses`]).
    #[must_use]
    pub const fn new(max_unfragmented_size: usize) -> Self {
        Self {
            max_unfragmented_size,
            fragment_responses: false,
        }
    }

    /// Sets [`OuterBlockwise::fragment_responses`].
    #[must_use]
    pub const fn fragment_responses(mut self, yes: bool) -> Self {
        self.fragment_responses = yes;
        self
    }
}

/// Unprotects requests and protects responses for the server side of an endpoint.
///
/// `Context` is whatever the layer needs to protect the response(s) to one request:
/// for OSCORE the request's security context reference, kid and Partial IV. The
/// engine keeps it for the lifetime of the exchange and, for an observation, for
/// every notification (each of which is protected with it).
pub trait SecurityLayer: Send + 'static {
    /// Per-request state handed back to [`SecurityLayer::protect`].
    type Context: Send + 'static;

    /// Unprotects a request. On success returns the inner request, the authenticated
    /// peer identity and the context. On failure returns the error response to send
    /// as is (not protected), e.g. 4.01 for an unknown OSCORE kid, 4.02 for an
    /// option the layer does not understand.
    ///
    /// # Errors
    /// The error response, as described.
    fn unprotect(
        &mut self,
        peer: SocketAddr,
        request: Message,
    ) -> Result<(Message, PeerIdentity, Self::Context), Message>;

    /// Protects a response (or notification: it then carries an Observe option) to a
    /// request that [`SecurityLayer::unprotect`] accepted.
    ///
    /// # Errors
    /// A response to send instead, not protected (typically 5.00).
    fn protect(
        &mut self,
        peer: SocketAddr,
        response: Message,
        context: &mut Self::Context,
    ) -> Result<Message, Message>;

    /// The outer block-wise policy for requests carrying the OSCORE option
    /// (RFC 8613 §4.1.3.4.2). `None` (the default): the engine hands every such message to
    /// [`SecurityLayer::unprotect`] as it arrived, so an outer Block1 block reaches the
    /// layer on its own (and fails verification).
    fn outer_blockwise(&self) -> Option<OuterBlockwise> {
        None
    }
}

/// No security: requests pass through with [`PeerIdentity::Anonymous`].
///
/// A request carrying an OSCORE option is refused with 4.02 Bad Option, which is
/// what RFC 8613 §2 asks of a server that does not support OSCORE.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainCoap;

impl SecurityLayer for PlainCoap {
    type Context = ();

    fn unprotect(
        &mut self,
        _peer: SocketAddr,
        request: Message,
    ) -> Result<(Message, PeerIdentity, ()), Message> {
        if request.options.contains(option::OSCORE) {
            return Err(Message::response(
                Code::BAD_OPTION,
                b"OSCORE not supported".to_vec(),
            ));
        }
        Ok((request, PeerIdentity::Anonymous, ()))
    }

    fn protect(
        &mut self,
        _peer: SocketAddr,
        response: Message,
        _context: &mut (),
    ) -> Result<Message, Message> {
        Ok(response)
    }
}
