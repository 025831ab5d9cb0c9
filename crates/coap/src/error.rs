//! The crate's error type.

use crate::message::Code;

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in `ace-coap`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A datagram could not be parsed as a CoAP message (RFC 7252 §3, §4.2 "message format
    /// error"). The engine answered with RST or ignored it as the RFC says.
    #[error("malformed CoAP message: {0}")]
    Malformed(MalformedKind),
    /// A CoAP option value has the wrong length or format.
    #[error("bad value for option {0}")]
    BadOption(u16),
    /// A message could not be encoded (too large, too many options).
    #[error("message cannot be encoded within {limit} bytes")]
    MessageTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A body exceeded the configured block-wise size limit (RFC 7959 §2.9.3).
    #[error("body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A confirmable message was retransmitted MAX_RETRANSMIT times without an
    /// acknowledgement, or no response arrived in time (RFC 7252 §4.2).
    #[error("no response from peer")]
    Timeout,
    /// The peer answered a request with a Reset message (RFC 7252 §4.2).
    #[error("peer reset the exchange")]
    Reset,
    /// A configured memory bound was reached; the operation was refused.
    #[error("resource limit reached: {0}")]
    LimitReached(Limit),
    /// The block-wise transfer could not be completed (inconsistent ETag,
    /// unexpected block number, or an error response in the middle).
    #[error("block-wise transfer failed: {0}")]
    BlockwiseFailed(&'static str),
    /// The request handle is unknown (already completed or never issued).
    #[error("unknown request handle")]
    UnknownHandle,
    /// Every Message ID towards the peer is still within its lifetime (RFC 7252 §4.4: an
    /// ID must not be reused within EXCHANGE_LIFETIME / NON_LIFETIME), and the request
    /// could not wait (`Config::message_id_wait`) or the table of peers with Message ID
    /// state (`Config::max_peers`) stayed full. Nothing was sent.
    #[error("no Message ID available for the peer (all in use within their lifetime)")]
    MessageIdsExhausted,
    /// The endpoint shell has stopped; no further commands are possible.
    #[error("endpoint shut down")]
    Shutdown,
    /// A socket operation failed (tokio shell only).
    #[error("I/O error: {0}")]
    Io(String),
    /// A caller passed an argument that the API does not accept.
    #[error("API misuse: {0}")]
    Misuse(&'static str),
}

/// What was wrong with a malformed datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedKind {
    /// Shorter than the 4-byte header.
    TooShort,
    /// Version field other than 1 (silently ignored, RFC 7252 §3).
    UnknownVersion,
    /// Token length 9-15 or longer than the datagram.
    TokenLength,
    /// An option header or value runs past the end, or uses reserved nibble 15.
    Options,
    /// A payload marker followed by an empty payload (RFC 7252 §3).
    EmptyPayload,
    /// An Empty message (code 0.00) with a token, options or payload (RFC 7252 §4.1).
    NonEmptyEmpty,
    /// A code from a reserved class (1, 6, 7) or a request in an ACK/RST.
    BadCode,
}

impl core::fmt::Display for MalformedKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            Self::TooShort => "shorter than the header",
            Self::UnknownVersion => "unknown version",
            Self::TokenLength => "bad token length",
            Self::Options => "bad option encoding",
            Self::EmptyPayload => "payload marker without payload",
            Self::NonEmptyEmpty => "empty message with content",
            Self::BadCode => "reserved or misplaced code",
        };
        f.write_str(s)
    }
}

/// Which configured bound was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// `Config::max_peers`.
    Peers,
    /// `Config::max_dedup_per_peer` / `Config::max_dedup_total`.
    Dedup,
    /// `Config::max_client_exchanges`.
    ClientExchanges,
    /// `Config::max_observers` / `Config::max_observers_per_peer`.
    Observers,
    /// `Config::max_block1_assemblies`.
    Block1Assemblies,
    /// `Config::max_deferred`.
    Deferred,
}

impl core::fmt::Display for Limit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            Self::Peers => "peers",
            Self::Dedup => "deduplication cache",
            Self::ClientExchanges => "client exchanges",
            Self::Observers => "observers",
            Self::Block1Assemblies => "block1 assemblies",
            Self::Deferred => "deferred responses",
        };
        f.write_str(s)
    }
}

impl Error {
    /// The CoAP response code a server sends when this error ends a request
    /// (the crate's single error-to-wire mapping).
    #[must_use]
    pub fn to_code(&self) -> Code {
        match self {
            Self::Malformed(_) | Self::BadOption(_) => Code::BAD_REQUEST,
            Self::BodyTooLarge { .. } => Code::REQUEST_ENTITY_TOO_LARGE,
            Self::BlockwiseFailed(_) => Code::REQUEST_ENTITY_INCOMPLETE,
            Self::LimitReached(_) | Self::MessageIdsExhausted => Code::SERVICE_UNAVAILABLE,
            Self::Timeout => Code::GATEWAY_TIMEOUT,
            Self::MessageTooLarge { .. }
            | Self::Reset
            | Self::UnknownHandle
            | Self::Shutdown
            | Self::Io(_)
            | Self::Misuse(_) => Code::INTERNAL_SERVER_ERROR,
        }
    }
}
