//! OSCORE (RFC 8613): Object Security for Constrained RESTful Environments, sans-IO and
//! `no_std` + `alloc`.
//!
//! ```text
//!   ContextParams ──derive (HKDF)──▶ SecurityContext<B: AeadBackend + HkdfBackend>
//!
//!   client                                           server
//!   Message ─ protect_request ─▶ ProtectedRequest    ContextSet::unprotect_request
//!             (+ Reservation: persist first!)          ─▶ RequestOutcome::{Accepted, EchoRequired}
//!   unprotect_response ◀─ response ◀──────────────── protect_response (+ Reservation)
//! ```
//!
//! What it does: context derivation (§3), option classes E/U (§4.1, Figure 5), the OSCORE
//! option (§6.1), nonces (§5.2), AAD (§5.4), protect/verify of requests and responses (§8),
//! Observe (§4.1.3.5, §7.4.1), inner block-wise (§4.1.3.4.1), a 64-entry replay window
//! (§7.4), crash-safe sequence numbers (Appendix B.1.1, see [`sequence`]), replay-window
//! recovery with Echo (Appendix B.1.2, RFC 9175, see [`replay`]), context re-derivation
//! with random ID Contexts (Appendix B.2, see [`rederive`]), error responses (§7.4,
//! §8.2: [`Error::to_response`]). With feature `coap`, `coap::OscoreLayer` plugs into
//! ace-coap's `SecurityLayer` and `coap::OscoreClient` wraps its client; there, outer
//! block-wise (§4.1.3.4.2) is done by ace-coap on the protected message (reassembled before
//! `unprotect`, cut after `protect`, bounded by MAX_UNFRAGMENTED_SIZE).
//!
//! What it does not do: I/O, persistence (it hands out [`Reservation`] effects for the shell
//! to store), Proxy-Uri decomposition (§4.1.3.3: [`Error::ProxyUriNotSupported`]), block-wise
//! reassembly in the core (the transport reassembles outer blocks before calling us), Group
//! OSCORE, the stateless-R2 (HMAC) variant of Appendix B.2.1.
//!
//! ```
//! # #[cfg(feature = "rustcrypto")] {
//! use ace_crypto::backend::rustcrypto::RustCrypto;
//! use ace_oscore::{ContextParams, Message, RequestOutcome, SecurityContext, consts::{code, option}};
//!
//! let params = ContextParams::new(&[1; 16], &[2; 8], b"", b"\x01");
//! let mut client = SecurityContext::new(RustCrypto, params.clone())?;
//! let mut server = SecurityContext::new(RustCrypto, params.peer())?;
//!
//! let req = Message::new(code::GET).with_option(option::URI_PATH, b"temp".to_vec());
//! let sent = client.protect_request(&req)?;
//! let _persist_me = sent.reservation; // store before sending
//! let RequestOutcome::Accepted(v) = server.unprotect_request(&sent.message)? else { unreachable!() };
//! assert_eq!(v.request, req);
//! let mut binding = v.binding;
//! let resp = server.protect_response(&mut binding, &Message::new(code::CONTENT).with_payload(b"21".to_vec()))?;
//! let mut client_binding = sent.binding;
//! let got = client.unprotect_response(&mut client_binding, &resp.message)?;
//! assert_eq!(got.payload, b"21");
//! # }
//! # Ok::<(), ace_oscore::Error>(())
//! ```
//!
//! Features: `std` (default), `rustcrypto` (default; RustCrypto backend of ace-crypto),
//! `coap` (ace-coap `SecurityLayer`, needs std + tokio).
//!
//! Specs: RFC 8613 (OSCORE), RFC 9175 §2 (Echo), RFC 7252 §3 (message format), RFC 7641
//! (Observe), RFC 7959 (block-wise). The crate README maps tests to sections.

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

#[cfg(feature = "coap")]
pub mod coap;
pub mod consts;
pub mod context;
pub mod error;
pub mod message;
pub mod option;
#[cfg(feature = "ace")]
pub mod profile;
pub mod protect;
pub mod rederive;
pub mod replay;
pub mod sequence;
pub mod store;

/// Re-export of the crypto backend crate the contexts are generic over.
pub use ace_crypto as crypto;
pub use context::{ContextParams, SecurityContext, hkdf_info};
pub use error::{DecodeError, Error, ErrorResponse, Result};
pub use message::{CoapOption, Message, MessageType, Packet};
pub use option::OscoreOption;
pub use protect::{
    ProtectedRequest, ProtectedResponse, RequestBinding, RequestOutcome, ResponseNonce,
    VerifiedRequest, is_class_u,
};
pub use rederive::{
    ClientCompleted, ClientRederivation, RederiveConfig, ServerRederivation, ServerStep,
};
pub use replay::ReplayWindow;
pub use sequence::{
    MemorySequenceStore, PersistError, Reservation, SenderSequence, SequenceConfig, SequenceStore,
};
pub use store::ContextSet;
