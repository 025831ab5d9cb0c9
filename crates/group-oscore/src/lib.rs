//! Group OSCORE (draft-ietf-core-oscore-groupcomm, newest draft): end-to-end protection of
//! CoAP group communication, sans-IO and `no_std` + `alloc`, built on ace-oscore.
//!
//! ```text
//!  GroupParams ──HKDF──▶ GroupContext<B>   Common: Common IV, Signature Encryption Key
//!       │                   │               Sender: Sender Key, credential, private key, SSN
//!  CredentialStore (Gid, kid) ─▶ Recipient Contexts on demand (bounded, LRU, replay window)
//!
//!  client                                     servers (each)
//!  protect_request(Group | Pairwise(kid)) ──▶ unprotect_request ─▶ VerifiedRequest
//!  unprotect_response (many servers) ◀─────── protect_response(binding, Group | Pairwise)
//!  GroupEndpoint: latest context + previous one during a rekeying grace period
//!  every `reservation` (Some) must be persisted by the shell BEFORE the message is sent
//! ```
//!
//! What it does: context derivation (draft §2.3) incl. Common IV of the longest nonce and
//! the Signature Encryption Key (§2.1.9); pairwise keys from static-static ECDH, P-256,
//! X25519 and Ed25519 mapped to X25519 (§2.5, §2.5.2.1); the external_aad (§4.4); the nonce (§4.3); OSCORE option with Group Flag
//! and payload with encrypted countersignature (§5); group mode with EdDSA (Ed25519) and
//! ES256 (§6); pairwise mode (§7); per-recipient replay windows and per-server response
//! tracking (§4.4); rekeying with a grace period (§3.2.2, [`group`]); bounded Recipient
//! Contexts (§2.2, §2.6.1.2, [`context`]).
//!
//! I/O is the shell's job: with feature `coap`, the `coap` module plugs this crate into ace-coap
//! (`GroupOscoreLayer` for servers joined to an IPv4 multicast group, `GroupOscoreClient`
//! for group requests over multicast and pairwise requests by unicast).
//!
//! What it does not do: the Group Manager,
//! Echo-based replay-window recovery (§8; invalid windows discard instead), non-AEAD Group
//! Encryption Algorithms (A128CTR…), Ed448 / X448, Observe notification specifics, X.509/C509/CWT credentials (only CCS).
//!
//! ```
//! # #[cfg(feature = "test-util")] {
//! use std::sync::Arc;
//! use ace_crypto::KeyType;
//! use ace_oscore::{Message, consts::{code, option}};
//! use group_oscore::{Mode, RequestMode, testing};
//!
//! let gid = b"\x37\xcb\xf3\x21";
//! let (a, b) = (testing::member(KeyType::P256, b"\x0a", 3)?, testing::member(KeyType::P256, b"\x0b", 4)?);
//! let store = Arc::new(testing::store(gid, &[&a, &b])?);
//! let mut client = testing::context(&a, gid, store.clone())?;
//! let mut server = testing::context(&b, gid, store)?;
//!
//! let req = Message::new(code::GET).with_option(option::URI_PATH, b"temp".to_vec());
//! let sent = client.protect_request(&req, &RequestMode::Group)?;
//! let mut got = server.unprotect_request(&sent.message)?;
//! assert_eq!(got.request, req);
//! let resp = Message::new(code::CONTENT).with_payload(b"21".to_vec());
//! let out = server.protect_response(&mut got.binding, &resp, Mode::Pairwise)?;
//! let mut binding = sent.binding;
//! assert_eq!(client.unprotect_response(&mut binding, &out.message)?.response, resp);
//! # }
//! # Ok::<(), group_oscore::Error>(())
//! ```
//!
//! Features: `std` (default), `rustcrypto` (default; RustCrypto backend of ace-crypto),
//! `test-util` (the `testing` module: deterministic members and groups), `coap` (std +
//! ace-coap: the `coap` module).
//!
//! Specs: draft-ietf-core-oscore-groupcomm (newest, in `shared/specs/latest/`), RFC 8613,
//! RFC 9338 (countersignatures), RFC 8392/8747 (CCS, cnf). The crate README lists the tests
//! per section and the compatibility options for aiocoap (draft -23).

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

mod cbor;
#[cfg(feature = "coap")]
pub mod coap;
pub mod consts;
pub mod context;
pub mod cose;
pub mod credential;
pub mod error;
pub mod group;
pub mod option;
pub mod protect;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use context::{Compat, GroupBackend, GroupContext, GroupParams};
pub use credential::{Credential, CredentialFormat, CredentialStore, MemoryCredentialStore};
pub use error::{Error, Result};
pub use group::GroupEndpoint;
pub use option::GroupOption;
pub use protect::{
    ClientBinding, Mode, ProtectedRequest, ProtectedResponse, RequestMode, ServerBinding,
    VerifiedRequest, VerifiedResponse,
};
