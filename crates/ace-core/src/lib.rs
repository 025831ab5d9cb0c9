//! RFC 9200 (ACE-OAuth): the messages as typed values with their encodings, and sans-IO
//! engines for the Authorization Server ([`AsEngine`]: `/token`, `/introspect`), the Resource
//! Server ([`RsEngine`]: `/authz-info`, access decisions, creation hints, `exi`) and the
//! client ([`ClientEngine`]). Engines take `now` and `rng` as arguments and return an
//! [`Outcome`] (response + effects to persist); seams: [`Profile`], [`ClientRegistry`],
//! [`Policy`], [`TokenStore`], [`AcceptedTokenStore`], the `ace-token` crypto backend and key
//! resolver. Feature `test-util` adds `testing` (interop keys, an in-memory harness).
//!
//! ```text
//!   client ──TokenRequest──────────► AS /token       ◄── application/ace+cbor (CoAP)
//!          ◄─TokenResponse / ErrorResponse──            or JSON / form (HTTP, json module)
//!   RS ────IntrospectionRequest────► AS /introspect
//!          ◄─IntrospectionResponse / ErrorResponse─
//!   client ──AuthzInfoRequest──────► RS /authz-info  (token bytes, or a profile's map)
//!          ◄─AuthzInfoResponse──────
//!   client ──resource request──────► RS ──4.01 + CreationHints──► client
//!
//!   bytes ──T::decode──► T ──T::encode──► bytes        (Error::to_wire → 4.00 + ErrorResponse)
//! ```
//!
//! Decoding is strict (wrong types, duplicate keys, trailing bytes, oversized inputs and
//! missing required parameters are [`Error`]s, one variant per check) and keeps unknown
//! parameters in each message's `rest` list; encoding writes integer keys in deterministic
//! order. Keys in `req_cnf`/`cnf`/`rs_cnf` are `ace_token::Confirmation`s; scopes are
//! `ace_token::Scope` (text, or bytes such as AIF from the `aif` crate).
//!
//! It does not: open sockets, run the secure channels (the shell passes the authenticated
//! [`ChannelIdentity`]), read a clock or a file, or persist anything itself.
//!
//! ```
//! use ace_core::{ErrorCode, TokenRequest};
//!
//! // RFC 9200 Figure 4: {24: "myclient", 5: "tempSensor4711"}
//! let bytes = [
//!     0xa2, 0x18, 0x18, 0x68, b'm', b'y', b'c', b'l', b'i', b'e', b'n', b't', 0x05, 0x6e,
//!     b't', b'e', b'm', b'p', b'S', b'e', b'n', b's', b'o', b'r', b'4', b'7', b'1', b'1',
//! ];
//! let req = TokenRequest::decode(&bytes)?;
//! assert_eq!(req.client_id.as_deref(), Some("myclient"));
//! assert_eq!(req.audience.as_deref(), Some("tempSensor4711"));
//!
//! // A duplicate key is refused, and maps to 4.00 invalid_request.
//! let err = TokenRequest::decode(&[0xa2, 0x05, 0x61, b'a', 0x05, 0x61, b'b']).unwrap_err();
//! let wire = err.to_wire();
//! assert_eq!(wire.code, ace_core::CoapCode::BAD_REQUEST);
//! assert_eq!(wire.body.map(|b| b.error), Some(ErrorCode::INVALID_REQUEST));
//! # Ok::<(), ace_core::Error>(())
//! ```
//!
//! Features: `std` (default) only turns on `std` in the dependencies; everything works with
//! `alloc` alone, JSON included.
//!
//! Specs: RFC 9200 §5.3 (hints), §5.8 (token), §5.9 (introspection), §5.10.1 (authz-info),
//! §8 (registries); RFC 9201 (`req_cnf`, `cnf`, `rs_cnf`); RFC 6749 (OAuth names, form
//! encoding); RFC 7662 (introspection).

#![no_std]
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

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod auth_server;
mod cbor;
pub mod client;
pub mod consts;
mod error;
pub mod json;
pub mod msg;
pub mod policy;
pub mod profile;
pub mod registry;
pub mod resource_server;
pub mod store;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use auth_server::{AsConfig, AsEffect, AsEngine, AsResponse, Outcome};
pub use client::{AccessInfo, ClientConfig, ClientEngine, TokenRequestStep};
pub use consts::ContentFormat;
pub use error::{CoapCode, Error, MapKey, Result, WireError};
pub use msg::{
    AuthzInfoRequest, AuthzInfoResponse, CreationHints, ErrorCode, ErrorResponse, GrantType,
    IntrospectionRequest, IntrospectionResponse, TokenRequest, TokenResponse, TokenType,
    TokenTypeHint,
};
pub use policy::{Grant, Policy, ScopeMap, StaticPolicy};
pub use profile::{ChannelIdentity, CoapDtls, PopBinding, PopKind, Profile};
pub use registry::{
    ClientCredential, ClientInfo, ClientRegistry, KeyEncryption, MemoryRegistry,
    ResourceServerInfo, TokenFormat,
};
pub use resource_server::{Access, RsConfig, RsEffect, RsEngine, RsResponse};
pub use store::{
    AcceptedToken, AcceptedTokenStore, IssuedToken, MemoryAcceptedTokens, MemoryTokenStore,
    TokenStore,
};

/// Types from `ace-token` that appear in the messages.
pub use ace_token::{AceProfile, Confirmation, NumericDate, Scope};
/// Map labels (extension parameters).
pub use coset::Label;
/// CBOR values (extension parameters).
pub use coset::cbor::value::Value;
