//! Authorization Information Format (AIF, RFC 9237) for ACE.
//!
//! AIF says what a subject may do on which objects: a list of `[Toid, Tperm]` pairs
//! (RFC 9237 §2). An ACE Authorization Server puts it into a token's `scope`, and a
//! resource server or broker checks requests against it. This crate has:
//!
//! * the generic model [`Aif<T, P>`] with the set operations written once over the
//!   [`ObjectId`] and [`PermissionSet`] traits: [`Aif::canonical`], [`Aif::union`],
//!   [`Aif::intersection`] (downscoping a request to a policy), [`Aif::is_subset`];
//! * three instances: AIF-REST ([`rest::RestAif`], RFC 9237 §2.1-§3, with Dynamic-X),
//!   AIF-MQTT ([`mqtt::MqttAif`], RFC 9431 §2.3) and group roles ([`group::GroupAif`],
//!   RFC 9594 §3.1);
//! * strict CBOR (`application/aif+cbor`, Content-Format 290) and JSON
//!   (`application/aif+json`, 291) codecs for all of them, with [`DecodeLimits`], and the
//!   embedding as an ACE `scope` byte string ([`Aif::to_scope_bytes`]);
//! * the access checks: [`rest::RestAif::check`] (4.03 vs 4.05),
//!   [`rest::RestAif::allows_dynamic`], [`mqtt::MqttAif::allows_publish`],
//!   [`mqtt::MqttAif::allows_subscribe`], and [`rest::local_part_from_options`] to build
//!   the compared local part from CoAP options.
//!
//! ```text
//!   token scope (bstr) ──► Aif::from_scope_bytes ──► RestAif / MqttAif / GroupAif
//!   aif+cbor / aif+json ─► Aif::from_cbor / from_json ─┘        │
//!                                                                ├─► check(local part, method) → Decision
//!   requested scope + policy ─► intersection ─► granted scope    └─► allows_publish / allows_subscribe
//! ```
//!
//! What it does not do: verify tokens, bind the subject (RFC 9237 §2 requires the armor to
//! identify it; that is `ace-token`/`ace-core`), remember which subject created which
//! dynamic resource (the RS), parse media-type parameters, or resolve MQTT topic aliases.
//!
//! ```
//! use aif::rest::{Decision, LocalPart, Method, RestAif, RestMethods};
//!
//! // RFC 9237 §3: [["/s/temp",1],["/a/led",5],["/dtls",2]]
//! let cbor = [
//!     0x83, 0x82, 0x67, b'/', b's', b'/', b't', b'e', b'm', b'p', 0x01, 0x82, 0x66, b'/',
//!     b'a', b'/', b'l', b'e', b'd', 0x05, 0x82, 0x65, b'/', b'd', b't', b'l', b's', 0x02,
//! ];
//! let scope = RestAif::from_cbor(&cbor)?;
//! assert_eq!(scope.check("/a/led", Method::Put), Decision::Allow);
//! assert_eq!(scope.check("/a/led", Method::Post), Decision::MethodNotAllowed); // 4.05
//! assert_eq!(scope.check("/a/led/", Method::Get), Decision::NoEntry); // 4.03
//! assert_eq!(scope.to_json_string()?, r#"[["/s/temp",1],["/a/led",5],["/dtls",2]]"#);
//!
//! // Downscoping: the AS grants the part of a request that its policy allows.
//! let requested = RestAif::new().with(LocalPart::new("/a/led")?, RestMethods::ALL_STATIC);
//! let granted = requested.intersection(&scope);
//! assert_eq!(granted.permissions_for(&LocalPart::new("/a/led")?), RestMethods::GET | RestMethods::PUT);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! # Features
//! * `std` (default): enables `std` in the dependencies only. Without it the crate is
//!   `no_std` + `alloc`, with the same API and checks.
//!
//! # Specifications
//! RFC 9237 (AIF) §2-§6; RFC 9431 §2.3 (AIF-MQTT) with MQTT v5 §4.7-§4.8; RFC 9594 §3.1 and
//! draft-ietf-ace-key-groupcomm-oscore §3 (group roles); RFC 7252 §6.5 (local part from
//! options); RFC 9200 §5.10.2 (4.03/4.05); RFC 7493 §2.2 (I-JSON integers).

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
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod codec;
pub mod consts;
pub mod error;
pub mod group;
pub mod item;
pub mod model;
pub mod mqtt;
pub mod rest;

pub use codec::DecodeLimits;
pub use error::{ElementError, Error, Position, Result, TopicError};
pub use group::{GroupAif, GroupName, RoleSet};
pub use item::{AifElement, Item, ItemKind};
pub use model::{Aif, Entry, ObjectId, PermissionSet};
pub use mqtt::{MqttAif, MqttPermissions, TopicFilter};
pub use rest::{Decision, LocalPart, Method, RestAif, RestMethods};
