//! RFC 9770 Token Revocation List (TRL) for ACE.
//!
//! The AS keeps a list of the hashes of revoked, not yet expired access tokens and serves it
//! at the TRL endpoint (`/revoke/trl`, `application/ace-trl+cbor` = 262); registered devices
//! read or observe the part that pertains to them, with full queries, diff queries and the
//! "Cursor" extension; errors are Concise Problem Details (257).
//!
//! ```text
//!         AS shell                                  device shell (client / RS)
//!  ┌───────────────────────────┐  GET ?diff&cursor  ┌──────────────────────────┐
//!  │ TrlEngine                 │<───────────────────│ TrlClient                │
//!  │  token_issued / revoke /  │  2.05 {0|1,2,3}    │  process → TrlUpdate     │
//!  │  expire / register /      │───────────────────>│   (revoked, mentioned,   │
//!  │  handle_request → Outcome │  4.00 problem det. │    next query)           │
//!  │  effects → TrlStore first │                    │ RevokedTokenGuard (RS)   │
//!  └───────────────────────────┘                    └──────────────────────────┘
//! ```
//!
//! Sans-IO: no sockets, clock or files; `now` is an argument and durable changes come back
//! as [`TrlEffect`]s that the shell writes to a [`TrlStore`] before answering or notifying.
//! Not here: the CoAP resource and the Observe machinery (shells), the registration
//! protocol (out of scope of RFC 9770; [`RegistrationInfo`] uses the example names).
//!
//! ```
//! use revocation::{HashAlg, Requester, Role, RevokeTarget, TokenHash, TokenRecord,
//!                  TrlConfig, TrlEngine, TrlQuery, TrlRequest, TrlResponse};
//! use ace_token::UnixTime;
//!
//! let mut as_trl = TrlEngine::new(TrlConfig::default())?;
//! as_trl.register(b"rs1".to_vec(), Role::ResourceServer("rs1".into()), &[])?;
//! let hash = TokenHash::from_cbor_access_token(HashAlg::Sha256, b"\xd8\x3d...token");
//! let _ = as_trl.token_issued(TokenRecord {
//!     hash: hash.clone(), cti: None, client_id: "c1".into(), audience: "rs1".into(),
//!     expires_at: Some(UnixTime(2000)),
//! });
//! let (_, effects) = as_trl.revoke(UnixTime(1000), &RevokeTarget::Hash(hash.clone()), "key leaked")?;
//! assert!(!effects.is_empty());
//! let out = as_trl.handle_request(UnixTime(1001), Requester::Peer(b"rs1"),
//!                                 &TrlRequest::get(TrlQuery::full()));
//! let TrlResponse::Content(p) = out.response else { unreachable!() };
//! assert_eq!(p.full_set, Some(vec![hash]));
//! # Ok::<(), revocation::Error>(())
//! ```
//!
//! Features: `std` (default; the RS purge glue in [`rs`]), `sqlite` (`SqliteTrlStore`),
//! `coap` (the TRL endpoint as an `ace-coap` resource, in `coap`).
//! Spec: RFC 9770 (final text in `shared/specs/latest/`), section names cited per item.

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

pub mod client;
#[cfg(feature = "coap")]
pub mod coap;
pub mod consts;
pub mod engine;
pub mod error;
pub mod hash;
pub mod msg;
#[cfg(feature = "std")]
pub mod rs;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod store;

pub use client::{NextQuery, TrlClient, TrlUpdate};
pub use engine::{
    PeerId, Requester, RevokeStatus, RevokeTarget, Role, SeriesItem, TokenRecord, TrlConfig,
    TrlEffect, TrlEngine, TrlOutcome, TrlRequest, TrlResponse, TrlSnapshot,
};
pub use error::{Error, Result};
pub use hash::{HashAlg, TokenHash};
pub use msg::{DiffEntry, ProblemDetails, QueryValue, RegistrationInfo, TrlPayload, TrlQuery};
#[cfg(feature = "sqlite")]
pub use sqlite::{QueueResult, QueuedRevocation, SqliteTrlStore};
pub use store::{MemoryTrlStore, TrlStore};
