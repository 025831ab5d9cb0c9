//! CoAP transport for the ACE workspace: a sans-IO RFC 7252 endpoint engine with
//! block-wise transfer (RFC 7959), Observe (RFC 7641) and `/.well-known/core`
//! (RFC 6690), a [`Router`] of [`Resource`]s behind a [`SecurityLayer`] hook (where
//! OSCORE plugs in), and a tokio shell ([`Server`], [`Client`]).
//!
//! ```text
//!        UDP socket (tokio shell: Server / Client)          ← the only I/O
//!                  │ datagrams, timers, commands
//!   ┌──────────────▼─────────────────────────────────────┐
//!   │ Endpoint (sans-IO): CON/NON/ACK/RST, retransmission, │
//!   │ dedup, tokens, NSTART, Block1/Block2, Observe         │
//!   │       │ unprotect              ▲ protect             │
//!   │  SecurityLayer (PlainCoap | OSCORE from another crate)│
//!   │       ▼                        │                      │
//!   │  Router ── 4.04/4.05, /.well-known/core ── Resource   │
//!   └──────────────────────────────────────────────────────┘
//! ```
//!
//! Group communication (RFC 7252 §8): multicast NON requests with responses collected
//! from every server ([`Client::multicast_request`], [`Endpoint::multicast_request`]),
//! servers joining an IPv4 group ([`Server::join_multicast_v4`]) and answering after a
//! random leisure with error responses suppressed.
//!
//! For OSCORE the engine also does outer block-wise (RFC 8613 §4.1.3.4.2) around the
//! security layer when the layer asks for it ([`SecurityLayer::outer_blockwise`]).
//!
//! What it does not do: DTLS, CoAP over TCP/WebSockets, proxying (5.05), IPv6
//! multicast (untested here), Q-Block (RFC 9177), congestion control beyond NSTART (no PROBING_RATE
//! for NON), and client-side request protection (no client hook: ace-oscore's `OscoreClient`
//! wraps [`Client`] instead).
//!
//! # Example: an engine driven by hand
//! ```
//! use std::time::Instant;
//! use ace_coap::{Code, Config, Endpoint, Event, FnResource, Message, Router};
//!
//! let router = Router::new()
//!     .mount("/hello", FnResource::new(|_req| Message::response(Code::CONTENT, "world").into()));
//! let mut server = Endpoint::new(Config::default(), router, [1; 32]);
//! let mut client = Endpoint::new(Config::default(), Router::new(), [2; 32]);
//! let (s, c) = ("127.0.0.1:5683".parse().unwrap(), "127.0.0.1:40000".parse().unwrap());
//! let now = Instant::now();
//!
//! let handle = client.request(now, s, Message::request(Code::GET, "/hello"), true).unwrap();
//! let mut buf = Vec::new();
//! let t = client.poll_transmit(now, &mut buf).unwrap();
//! assert_eq!(t.destination, s);
//! server.handle_datagram(now, c, &buf).unwrap();
//! let t = server.poll_transmit(now, &mut buf).unwrap(); // piggybacked ACK
//! assert_eq!(t.destination, c);
//! client.handle_datagram(now, s, &buf).unwrap();
//! match client.poll_event() {
//!     Some(Event::Response { handle: h, response }) => {
//!         assert_eq!(h, handle);
//!         assert_eq!(response.code, Code::CONTENT);
//!         assert_eq!(response.payload, b"world");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! # Specifications
//! RFC 7252 (§4 messaging, §5 request/response, §5.4 options), RFC 7959 (block-wise),
//! RFC 7641 (Observe), RFC 6690 (link format), RFC 8613 §2/§4.1.3.4 (where the OSCORE
//! hook sits). See the crate README for what is done, partial and not yet.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod config;
pub mod consts;
pub mod endpoint;
pub mod error;
pub mod message;
pub mod resource;
pub mod router;
pub mod security;
pub mod shell;

pub use config::{Config, MulticastConfig, TransmissionParams};
pub use endpoint::{Endpoint, Event, RequestHandle, Stats, Transmit, Usage};
pub use error::{Error, Result};
pub use message::{BlockOption, Code, Message, MessageType, Options};
pub use resource::{
    FnResource, Handled, LinkAttributes, PeerIdentity, Request, RequestId, Resource,
};
pub use router::Router;
pub use security::{OuterBlockwise, PlainCoap, SecurityLayer};
pub use shell::{
    Client, ClientDriver, GroupResponse, Observation, ObserveUpdate, Server, ServerHandle,
};
