//! CMP over CoAP (draft-msahni-ace-cmpv2-coap-transport-01, final text RFC 9482): the
//! transport of Certificate Management Protocol messages (RFC 4210 / RFC 9480) in CoAP
//! POSTs with Content-Format 259 `application/pkixcmp` at `/.well-known/cmp`.
//!
//! ```text
//!   EE / RA ── CmpClient ──CoAP POST, CF 259, Block1/2──▶ CmpServer ──▶ CmpHandler (CA/RA)
//!                                                           │
//!                                                           └─▶ HttpUpstream (proxy) ──HTTP
//!                                                                 RFC 6712 POST──▶ CMP server
//!   msg::classify(der) → MessageInfo { body_type: ir|cr|kur|p10cr|certConf|rr|genm|pollReq|… }
//! ```
//!
//! * [`msg`]: strict DER checks and classification of PKIMessages (with `cmpv2`/`crmf`
//!   0.2 on `der` 0.7 inside this crate only; the rest of the workspace sees bytes).
//! * [`client`]: [`CmpClient`] sends PKIMessages, polls on delayed delivery, maps CoAP
//!   errors to PKIFailureInfo ([`Error::failure_info`]); [`client::discover`] uses
//!   `/.well-known/core?rt=ace.cmp`.
//! * [`server`]: the [`CmpHandler`] seam and [`CmpServer`].
//! * [`proxy`]: the CoAP-to-HTTP proxy and its [`proxy::serve`] entry point.
//!
//! * Feature `oscore`: OSCORE (RFC 8613) for the CoAP exchange with ace-oscore as it is:
//!   [`CmpClient`] over `ace_oscore::coap::OscoreClient` (the [`client::Transport`]
//!   seam), [`CmpServer::bind_with_security`] / [`proxy::bind_with_security`] behind
//!   `OscoreLayer`. The PKIMessage inside is relayed byte for byte, so CMP's own
//!   protection is neither replaced nor weakened.
//!
//! What it does not do: build or protect PKIMessages (that is the CMP layer's job; the
//! transport never re-encodes them), DTLS, Observe-based announcements (`…/ann`), CoAP
//! over TCP.
//!
//! # Example: classify a request
//! ```
//! let ir = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ir.der")).unwrap();
//! let info = cmp_coap::msg::classify(&ir).unwrap();
//! assert_eq!(info.body_type, cmp_coap::msg::BodyType::Ir);
//! assert!(info.body_type.is_request() && info.protected);
//! assert!(cmp_coap::msg::classify(b"not DER").is_err());
//! ```
//!
//! # Specifications
//! d01 §2.1–§2.7 and §4 (RFC 9482 §2–§4 where recalled, see the README), RFC 6712
//! (HTTP transfer), RFC 4210 §5.1–§5.3 (message syntax, polling), RFC 7252, RFC 7959.
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

pub mod client;
pub mod consts;
pub mod error;
pub mod msg;
pub mod path;
pub mod proxy;
pub mod server;

pub use client::{ClientConfig, CmpClient, CmpResponse};
pub use error::{Error, Result};
pub use msg::{BodyType, MessageInfo, ResponseContent, classify, inspect_response};
pub use path::CmpPath;
pub use proxy::ProxyConfig;
pub use server::{CmpHandler, CmpRequest, CmpServer, Drain, ServerConfig};
