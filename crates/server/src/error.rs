//! The crate's error type.

use std::net::SocketAddr;

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What can go wrong in a service shell.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address is already used by another socket.
    #[error("address {addr} is already in use")]
    AddressInUse {
        /// The address.
        addr: SocketAddr,
    },
    /// A socket could not be bound for another reason.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Plain CoAP (`insecure`) was asked for on an address that is not loopback.
    #[error("insecure (unprotected) CoAP is only allowed on loopback addresses, not {addr}")]
    InsecureNotLoopback {
        /// The address.
        addr: SocketAddr,
    },
    /// An engine failed (not a refusal of the peer: those are responses).
    #[error("engine failure: {0}")]
    Engine(#[from] ace_core::Error),
    /// An effect could not be persisted; the response was not sent.
    #[error("persisting effects failed: {0}")]
    Persist(#[from] crate::sink::PersistError),
    /// The TRL (RFC 9770) refused or failed: [`revocation::Error::UnknownToken`] for a
    /// revocation of a token the AS does not know, [`revocation::Error::Store`] when its state
    /// could not be persisted (nothing was answered or notified).
    #[error("TRL: {0}")]
    Trl(#[from] revocation::Error),
    /// The engine lock was poisoned by a panic in another handler.
    #[error("engine lock poisoned")]
    Poisoned,
    /// The CoAP transport failed.
    #[error("CoAP: {0}")]
    Coap(#[from] ace_coap::Error),
    /// A socket or file operation failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// TLS setup failed (certificate, key).
    #[error("TLS: {0}")]
    Tls(String),
}

impl Error {
    /// Maps a bind error, keeping "address in use" recognizable.
    #[must_use]
    pub fn bind(addr: SocketAddr, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            Self::AddressInUse { addr }
        } else {
            Self::Bind { addr, source }
        }
    }
}
