//! Resources (request handlers mounted at a path) and what they see of a request.

use std::net::SocketAddr;

use crate::message::{Code, Message};

/// Who sent a request, as established by the [`crate::SecurityLayer`].
///
/// RS access decisions use this (for OSCORE: the security context that the access
/// token was bound to). [`crate::PlainCoap`] yields [`PeerIdentity::Anonymous`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PeerIdentity {
    /// The request was not protected; only the transport address is known.
    #[default]
    Anonymous,
    /// Protected with an OSCORE security context (RFC 8613).
    Oscore {
        /// The peer's Sender ID (our Recipient ID).
        sender_id: Vec<u8>,
        /// The ID Context, if any.
        id_context: Option<Vec<u8>>,
    },
    /// Protected with a Group OSCORE context.
    GroupOscore {
        /// The group's Group ID (ID Context).
        group_id: Vec<u8>,
        /// The sender's Sender ID in the group.
        sender_id: Vec<u8>,
    },
    /// Any other authentication scheme.
    Other {
        /// Name of the scheme (e.g. "dtls-psk").
        scheme: String,
        /// Scheme-specific identifier.
        id: Vec<u8>,
    },
}

/// Identifies a request handed to a resource, for a later
/// [`crate::Endpoint::respond`] when the resource answered [`Handled::Deferred`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

/// A request as a resource sees it: after the security layer, with the whole
/// body when it arrived block-wise.
#[derive(Debug, Clone)]
pub struct Request {
    /// The (inner, unprotected) request message. Block1 is removed after reassembly.
    pub message: Message,
    /// Transport address of the peer.
    pub peer: SocketAddr,
    /// Identity the security layer authenticated.
    pub identity: PeerIdentity,
    pub(crate) id: RequestId,
    pub(crate) path: String,
    pub(crate) is_notification: bool,
    pub(crate) confirmable: bool,
}

impl Request {
    /// Builds a request for use outside an [`crate::Endpoint`] (tests, other routers).
    ///
    /// # Errors
    /// [`crate::Error::BadOption`] when a Uri-Path segment is not UTF-8.
    pub fn new(message: Message, peer: SocketAddr, identity: PeerIdentity) -> crate::Result<Self> {
        let path = message.path()?;
        Ok(Self {
            message,
            peer,
            identity,
            id: RequestId(0),
            path,
            is_notification: false,
            confirmable: true,
        })
    }
    /// Sets the message type [`Request::confirmable`] reports (a request built with
    /// [`Request::new`] is confirmable).
    #[must_use]
    pub fn with_confirmable(mut self, confirmable: bool) -> Self {
        self.confirmable = confirmable;
        self
    }
    /// True when the request arrived in a Confirmable (CON) message, false for a
    /// Non-confirmable (NON) one (RFC 7252 §4.2/§4.3; always false for a multicast
    /// request). With OSCORE this is the outer message's type (the type is not
    /// protected, RFC 8613 §4.2). For a notification re-run ([`Request::is_notification`])
    /// it is the type of the registration request.
    #[must_use]
    pub fn confirmable(&self) -> bool {
        self.confirmable
    }
    /// The id to pass to [`crate::Endpoint::respond`] after [`Handled::Deferred`].
    #[must_use]
    pub fn id(&self) -> RequestId {
        self.id
    }
    /// The method.
    #[must_use]
    pub fn method(&self) -> Code {
        self.message.code
    }
    /// The path (`/a/b`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The body.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.message.payload
    }
    /// True when the engine re-runs an observed GET to produce a notification
    /// (RFC 7641 §4.2) rather than answering a fresh request.
    #[must_use]
    pub fn is_notification(&self) -> bool {
        self.is_notification
    }
}

/// What a resource does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Answer now (piggybacked on the ACK for a CON request).
    Response(Message),
    /// Answer later with [`crate::Endpoint::respond`] (or the shell's handle). For a CON
    /// request the engine waits up to [`crate::Config::piggyback_window`] for the
    /// response and piggybacks it on the ACK; after that it sends an empty ACK and the
    /// response later as a separate CON response (RFC 7252 §5.2.2).
    Deferred,
    /// For a notification re-run ([`Request::is_notification`]): nothing this observer can
    /// see changed, so no notification is sent and its Observe sequence does not advance
    /// (e.g. a resource whose representation depends on the requester). A fresh request
    /// answered this way is a resource bug and gets 5.00 (Internal Server Error).
    Unchanged,
}

impl From<Message> for Handled {
    fn from(m: Message) -> Self {
        Self::Response(m)
    }
}

/// Link attributes of a resource for `/.well-known/core` (RFC 6690 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkAttributes {
    /// Resource types (`rt`), space-separated on the wire.
    pub resource_types: Vec<String>,
    /// Interface descriptions (`if`).
    pub interfaces: Vec<String>,
    /// Content-Formats (`ct`).
    pub content_formats: Vec<u16>,
    /// A human-readable title.
    pub title: Option<String>,
    /// Maximum size estimate (`sz`).
    pub size: Option<u64>,
    /// Not listed in `/.well-known/core`.
    pub hidden: bool,
}

/// A handler mounted at a path in a [`crate::Router`].
///
/// Handlers run synchronously inside the engine; a handler that must wait (a database
/// write, a call to another server) returns [`Handled::Deferred`] and answers later.
pub trait Resource: Send {
    /// Handles a request whose method is in [`Resource::allowed_methods`].
    fn handle(&mut self, request: &Request) -> Handled;
    /// Methods this resource accepts; other methods get 4.05 Method Not Allowed from the router.
    fn allowed_methods(&self) -> &[Code] {
        &[Code::GET]
    }
    /// Whether GET with Observe=0 registers an observer (RFC 7641); also adds `obs` to
    /// the link. Notifications are triggered by [`crate::Endpoint::notify`].
    fn observable(&self) -> bool {
        false
    }
    /// Attributes for `/.well-known/core`.
    fn link_attributes(&self) -> LinkAttributes {
        LinkAttributes::default()
    }
}

/// A [`Resource`] made from a closure, with builder-style attributes.
pub struct FnResource<F> {
    f: F,
    methods: Vec<Code>,
    observable: bool,
    attributes: LinkAttributes,
}

impl<F> core::fmt::Debug for FnResource<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FnResource")
            .field("methods", &self.methods)
            .field("observable", &self.observable)
            .field("attributes", &self.attributes)
            .finish_non_exhaustive()
    }
}

impl<F> FnResource<F>
where
    F: FnMut(&Request) -> Handled + Send,
{
    /// A resource answering GET with `f`.
    pub fn new(f: F) -> Self {
        Self {
            f,
            methods: vec![Code::GET],
            observable: false,
            attributes: LinkAttributes::default(),
        }
    }
    /// Sets the accepted methods.
    #[must_use]
    pub fn methods(mut self, methods: &[Code]) -> Self {
        self.methods = methods.to_vec();
        self
    }
    /// Makes the resource observable.
    #[must_use]
    pub fn observable(mut self) -> Self {
        self.observable = true;
        self
    }
    /// Adds a resource type (`rt`).
    #[must_use]
    pub fn rt(mut self, rt: &str) -> Self {
        self.attributes.resource_types.push(rt.to_owned());
        self
    }
    /// Adds an interface description (`if`).
    #[must_use]
    pub fn interface(mut self, iface: &str) -> Self {
        self.attributes.interfaces.push(iface.to_owned());
        self
    }
    /// Adds a Content-Format (`ct`).
    #[must_use]
    pub fn ct(mut self, ct: u16) -> Self {
        self.attributes.content_formats.push(ct);
        self
    }
    /// Sets the title.
    #[must_use]
    pub fn title(mut self, title: &str) -> Self {
        self.attributes.title = Some(title.to_owned());
        self
    }
    /// Sets the maximum size estimate (`sz`, RFC 6690 §3.1).
    #[must_use]
    pub fn sz(mut self, size: u64) -> Self {
        self.attributes.size = Some(size);
        self
    }
    /// Hides the resource from `/.well-known/core`.
    #[must_use]
    pub fn hidden(mut self) -> Self {
        self.attributes.hidden = true;
        self
    }
}

impl<F> Resource for FnResource<F>
where
    F: FnMut(&Request) -> Handled + Send,
{
    fn handle(&mut self, request: &Request) -> Handled {
        (self.f)(request)
    }
    fn allowed_methods(&self) -> &[Code] {
        &self.methods
    }
    fn observable(&self) -> bool {
        self.observable
    }
    fn link_attributes(&self) -> LinkAttributes {
        self.attributes.clone()
    }
}
