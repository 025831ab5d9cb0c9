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

use std::net::SocketAddr;

use crate::consts::option;
use crate::message::{Code, Message};
use crate::resource::PeerIdentity;

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
