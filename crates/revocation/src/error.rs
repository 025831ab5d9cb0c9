//! The crate's error type.

use alloc::string::String;

/// Why a TRL operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A CBOR payload did not decode (syntax, trailing bytes, nesting).
    #[error("malformed CBOR: {0}")]
    MalformedCbor(&'static str),
    /// A payload decoded but does not have the required shape.
    #[error("invalid payload: {0}")]
    InvalidPayload(&'static str),
    /// The same map key appeared twice.
    #[error("duplicate map key")]
    DuplicateKey,
    /// A hash algorithm identifier that is unknown or refused (truncated suites).
    #[error("unsupported hash algorithm {0}")]
    UnsupportedHashAlgorithm(String),
    /// The device supports none of the hash functions the AS uses.
    #[error("no common hash algorithm")]
    NoCommonHashAlgorithm,
    /// The token, `cti` or hash is not known to the AS.
    #[error("unknown token")]
    UnknownToken,
    /// A configuration value is out of its RFC 9770 bounds.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// A response was not what the client asked for (e.g. `full_set` for a diff query).
    #[error("unexpected response: {0}")]
    UnexpectedResponse(&'static str),
    /// A store operation failed.
    #[error("store: {0}")]
    Store(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
