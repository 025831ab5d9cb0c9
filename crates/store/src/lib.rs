//! Durable storage for the ACE engines: SQLite implementations of the `ace-core` store
//! traits (`TokenStore`, `AcceptedTokenStore`, `ClientRegistry`, `Policy`) and of
//! `ace-oscore`'s `SequenceStore`, with a versioned schema.
//!
//! ```text
//!  SqliteStore::open(path)  ── one connection, WAL, synchronous=FULL, migrations
//!     ├─ token_store()      → SqliteTokenStore      impl ace_core::TokenStore          (AS)
//!     ├─ client_registry()  → SqliteRegistry        impl ace_core::ClientRegistry      (AS)
//!     ├─ policy()           → SqlitePolicy          impl ace_core::Policy              (AS)
//!     ├─ accepted_tokens()? → SqliteAcceptedTokens  impl ace_core::AcceptedTokenStore  (RS)
//!     ├─ sequence_store()   → SqliteSequenceStore   impl ace_oscore::SequenceStore     (OSCORE)
//!     ├─ apply_as_effects(&[AsEffect])? / apply_rs_effects(&[RsEffect])?   before answering
//!     ├─ as_exi_sequences()? / rs_exi_highest_expired()?                   restore at start
//!     └─ put_value / get_value / delete_value                              key-value table
//! ```
//!
//! # Using it from a shell
//!
//! ```
//! use ace_core::{AsEngine, AsConfig, RsEngine, RsConfig};
//! use ace_store::SqliteStore;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("ace-store-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let store = SqliteStore::open(&dir.join("ace.db"))?;
//!
//! // AS: the engine gets the token store, registry and policy; restore the exi counters.
//! let mut as_engine = AsEngine::new(
//!     AsConfig::new("as"),
//!     Box::new(store.client_registry()),
//!     Box::new(store.policy()),
//!     Box::new(store.token_store()),
//!     std::sync::Arc::new(ace_token::RustCrypto),
//! );
//! for (audience, seq) in store.as_exi_sequences()? {
//!     as_engine.restore_exi_sequence(audience, seq);
//! }
//! // … for every request: let out = as_engine.handle_token(..)?;
//! //     store.apply_as_effects(&out.effects)?;   // durable before the response leaves
//!
//! // RS: accepted tokens survive restarts; so does the exi state.
//! let rs = RsEngine::new(
//!     RsConfig::new("rs1", "coaps://as.example/token"),
//!     Box::new(ace_token::KeySet::new()),
//!     std::sync::Arc::new(ace_token::RustCrypto),
//!     Box::new(store.accepted_tokens()?),
//! )
//! .with_exi_highest_expired(store.rs_exi_highest_expired()?);
//! // … let out = rs.handle_authz_info(..); store.apply_rs_effects(&out.effects)?;
//! # drop((as_engine, rs));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Durability
//! WAL journal, `synchronous = FULL`: a call that changes data returns after its commit is on
//! disk, so a token the AS sends after `TokenStore::insert` (or `apply_as_effects`) returned
//! is in the file even if the process is killed (`tests/kill_restart.rs` proves it with
//! SIGKILL). WAL with `NORMAL` would be faster but can lose the last commits on power loss,
//! which for issued tokens means a client holding a token the AS no longer knows
//! (introspection says inactive) and for OSCORE a reused nonce.
//!
//! # Blocking
//! The traits are synchronous; every call locks the one connection (`Mutex<Connection>`,
//! so the store is `Send + Sync`) and blocks for one statement or transaction including its
//! `fsync` (typically well under 10 ms on a local disk). Tokio shells call it from
//! `spawn_blocking` or accept the short block.
//!
//! # Errors
//! [`Error`]; it converts into `ace_core::Error::Store` (what `TokenStore::insert` returns)
//! and `ace_oscore::sequence::PersistError`. Trait methods that cannot return an error
//! record it; [`SqliteStore::check`] (called by both `apply_*_effects`) reports it.
//!
//! # Secrets
//! Columns holding key material: `as_tokens.cnf` (symmetric PoP keys), `rs_tokens.pop_key`
//! (the DTLS PSK), `client_credentials.value` of kind 0 (client secrets),
//! `resource_servers.token_format` and `cnf_key_encryption` (token keys), and whatever the
//! caller puts into `kv`. They are not encrypted at rest: keep the file readable by the
//! service user only. This crate never logs stored values.
//!
//! Not yet: the PostgreSQL backend (`tokio-postgres`, see the README).

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

mod accepted;
mod codec;
mod error;
mod registry;
pub mod schema;
mod sequence;
mod store;
mod tokens;

pub use accepted::SqliteAcceptedTokens;
pub use error::{BoxError, Error, Result};
pub use registry::{SqlitePolicy, SqliteRegistry};
pub use sequence::SqliteSequenceStore;
pub use store::SqliteStore;
pub use tokens::SqliteTokenStore;
