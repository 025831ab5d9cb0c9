//! ACE (RFC 9200) service shells on tokio (layer L2): the Authorization Server
//! ([`AsService`]: `/token`, `/introspect`) and the Resource Server ([`RsService`]:
//! `/authz-info` and resources protected by the stored tokens), pumping the sans-IO engines of
//! `ace-core` behind an `ace-coap` [`Router`](ace_coap::Router).
//!
//! ```text
//!            datagram ─► ace-coap Server (dedup, block-wise, observe, SecurityLayer: OSCORE)
//!                           │ Request { identity: PeerIdentity }
//!   AS:  /token, /introspect ─► AsService ─► AsEngine::handle_*_bytes(now, channel, payload, rng)
//!   RS:  /authz-info          ─► RsService ─► RsEngine::handle_authz_info(now, cf, payload),
//!                                 or with RFC 9203: RsOscore ─► OscoreProfile::rs_authz_info,
//!                                 the derived OSCORE context added to the running layer
//!        /temp /led /big /counter ─► Protected ─► RsEngine::authorize(now, channel, path, method)
//!                           │ effects ─► EffectSink (persisted before the response leaves)
//!            response ◄─────┘
//! ```
//!
//! * **Time and randomness** belong to the shell: a [`Clock`] (system clock by default) and
//!   the OS RNG are passed into every engine call.
//! * **Persistence**: the engines own their stores (trait objects, in-memory or `ace-store`);
//!   a durable store writes inside the engine call (`TokenStore::insert`), and the remaining
//!   effects go to an [`EffectSink`] before the response is returned to `ace-coap`. Handlers
//!   run synchronously on the server task and call the (sync) stores inline while holding the
//!   engine lock; SQLite writes of one row take well under a millisecond, and the alternative
//!   (`spawn_blocking` + a deferred response) would reorder responses of one peer.
//! * **Secure channels** (architecture.md): the AS over CoAP is meant to run behind an
//!   `ace-oscore` [`OscoreLayer`](ace_oscore::coap::OscoreLayer) with pre-established
//!   contexts; plain CoAP is the explicit `insecure` mode ([`SecurityMode`]), refused for
//!   non-loopback addresses and logged as a warning.
//! * What the channel authenticated ([`ace_coap::PeerIdentity`]) becomes the engines'
//!   [`ChannelIdentity`](ace_core::ChannelIdentity) through an [`IdentityMap`].
//!
//! * The OSCORE profile of ACE (RFC 9203): [`RsOscore`] drives `ace-oscore`'s
//!   `OscoreProfile` at `/authz-info` and installs the derived contexts into the server's
//!   [`SharedOscoreLayer`](ace_oscore::coap::SharedOscoreLayer); see [`oscore_rs`].
//!
//! * The RFC 9770 Token Revocation List ([`trl`]): with [`AsService::with_trl`] every issued
//!   token is recorded, the TRL endpoint (`/revoke/trl`, observable) is mounted next to
//!   `/token`, and [`AsService::revoke`] revokes (notifying the observers). The RS side
//!   ([`rs_trl`]): [`RsService::with_trl`] refuses revoked tokens at `/authz-info`, and
//!   [`rs_trl::follow_trl`] observes the AS's TRL over OSCORE and purges what it names.
//!
//! It does not: run DTLS, or parse configuration files (that is `ace-cli`).

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

mod as_service;
mod clock;
pub mod demo;
mod error;
pub mod http;
mod identity;
pub mod local;
pub mod oscore_rs;
mod rs_service;
pub mod rs_trl;
mod sink;
mod store_sink;
mod transport;
pub mod trl;

pub use as_service::AsService;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use identity::{IdentityMap, default_identity_map};
pub use oscore_rs::RsOscore;
/// The RFC 9770 crate the AS's TRL is built on (for callers that construct registrations,
/// targets and device-side clients).
pub use revocation;
pub use rs_service::{Protected, RsService};
pub use sink::{EffectSink, LogEffects, PersistError};
pub use store_sink::StoreSink;
pub use transport::{SecurityMode, bind_coap, check_insecure_allowed};
pub use trl::{AsTrl, AsTrlStore, Revocation};
