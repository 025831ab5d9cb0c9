//! RFC 9431, the ACE profile for MQTT over TLS: a broker front end and client helpers.
//!
//! ```text
//!  TLS session ──exporter(32 B, "EXPORTER-ACE-MQTT-Sign-Challenge", empty context)──┐
//!  bytes ──wire::decode_packet──► Packet ──auth::ConnectionAuth::handle_packet──────┴─►
//!      Step::Auth(Outcome::{Continue(AUTH 0x18), Connected(Session), Refused(CONNACK),
//!                           Reauthenticated(AUTH 0x00), Disconnect(DISCONNECT)})
//!      Step::PubSub(Packet) ──authz::{check_publish, check_subscribe, check_delivery}──►
//!      Allow / TokenUpload (authz-info) / Deny(PUBACK 0x87 | DISCONNECT 0x87 | close)
//! ```
//!
//! The core (`auth`, `authz`, `token`, `pop`, `wire`, `client`) is sans-IO: no sockets, no
//! clock (`now` is an argument), randomness passed in. The `broker` feature (default) adds a
//! tokio + rustls broker (`broker`) that computes the exporter and runs a pub/sub core; the
//! `client` feature (default) a tokio + rustls client connection (`driver`) with token
//! sources (`token_source`, HTTPS to the AS via `https`); `tls` builds TLS configurations
//! with client certificates or raw public keys. Feature `persistence` (default) keeps broker
//! sessions and retained messages in SQLite; feature `coap` (default) reaches the AS over
//! CoAP/OSCORE (`coap_as`: token requests and introspection).
//!
//! What this crate does not do (yet): see the checklist in the README — notably TLS PSK
//! client authentication and RPK bound to `authz-info` tokens.
//!
//! ```
//! use mqtt_tls_profile::{client, pop::ClientKey, wire};
//! let key = ClientKey::Symmetric(ace_crypto::SecretBytes::from_slice(&[0x11; 32]));
//! let exporter: Vec<u8> = (0u8..32).collect();
//! let connect = client::connect_with_exporter_pop("c1", 60, &[1, 2, 3, 4], &key, &exporter)?;
//! let bytes = wire::encode_to_vec(&mqtt5_protocol::Packet::Connect(Box::new(connect)))?;
//! assert_eq!(bytes.first(), Some(&0x10));
//! # Ok::<(), mqtt_tls_profile::Error>(())
//! ```
//!
//! Specs: RFC 9431 (§2.2 token transport and PoP, §2.3 AIF-MQTT, §2.4 CONNACK, §3
//! authorization, §4 re-authentication, §5 Will and retained, §6 MQTT v3.1.1), RFC 9200,
//! RFC 5705 / RFC 8446 §7.5 (exporters), MQTT v5 and v3.1.1.

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

#[cfg(any(feature = "broker", feature = "client"))]
pub mod as_profile;
pub mod auth;
pub mod authz;
pub mod client;
pub mod consts;
mod error;
pub mod hint;
pub mod pop;
pub mod token;
pub mod wire;

#[cfg(feature = "broker")]
pub mod broker;
#[cfg(feature = "coap")]
pub mod coap_as;
#[cfg(feature = "client")]
pub mod driver;
#[cfg(any(feature = "broker", feature = "client"))]
pub mod https;
#[cfg(feature = "broker")]
pub mod introspect;
#[cfg(any(feature = "broker", feature = "client"))]
pub mod tls;
#[cfg(feature = "client")]
pub mod token_source;

pub use auth::{ConnectionAuth, Outcome, Session, Step};
pub use error::{Error, Result};
pub use hint::AsHint;
pub use token::{AuthConfig, CheckedToken, Grant, PopMethod, TokenStore};

/// The MQTT codec this crate speaks (`mqtt5-protocol`), re-exported for callers.
pub use mqtt5_protocol;
