//! The crate error type and its mapping to CoAP error responses (RFC 8613 §7.4, §8.2, §8.4).

use crate::consts::{code, diagnostic};

/// Result alias with [`Error`] as the default error.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why bytes could not be decoded (CoAP message, OSCORE option, plaintext).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended in the middle of a field.
    #[error("truncated input")]
    Truncated,
    /// A reserved OSCORE flag bit was set (RFC 8613 §6.1).
    #[error("reserved OSCORE flag bits set")]
    ReservedFlagBits,
    /// `n` was 6 or 7, or a Partial IV longer than 5 bytes (RFC 8613 §6.1).
    #[error("Partial IV too long ({0} bytes)")]
    PartialIvTooLong(usize),
    /// Bytes after the last field of the OSCORE option (only possible when no kid follows).
    #[error("trailing bytes in the OSCORE option")]
    TrailingBytes,
    /// A Partial IV with a leading zero byte (RFC 8613 §6.1 requires the shortest form).
    #[error("Partial IV not minimally encoded")]
    NonMinimalPartialIv,
    /// The option value was a single zero byte; RFC 8613 §6.1 requires it to be empty.
    #[error("OSCORE option with all flags zero must be empty")]
    NonCanonicalFlags,
    /// A request without a Partial IV (RFC 8613 §5: it SHALL be present in requests).
    #[error("request without Partial IV")]
    MissingPartialIv,
    /// A request without a kid (RFC 8613 §5: it SHALL be present in requests).
    #[error("request without kid")]
    MissingKid,
    /// The message carries no OSCORE option.
    #[error("no OSCORE option")]
    MissingOscoreOption,
    /// The message carries the OSCORE option more than once.
    #[error("repeated OSCORE option")]
    RepeatedOscoreOption,
    /// The OSCORE message has no ciphertext (RFC 8613 §2: its payload is the ciphertext).
    #[error("OSCORE message without ciphertext")]
    MissingCiphertext,
    /// A CoAP option could not be decoded (reserved nibble 15, overflow).
    #[error("invalid CoAP option encoding")]
    InvalidOption,
    /// A payload marker followed by nothing (RFC 7252 §3).
    #[error("payload marker without payload")]
    EmptyPayload,
    /// The CoAP header is invalid (version, token length).
    #[error("invalid CoAP header")]
    InvalidHeader,
    /// The decrypted plaintext carries an OSCORE option (nesting, RFC 8613 §4.1.3.7).
    #[error("OSCORE option inside the plaintext")]
    NestedOscore,
}

/// Everything OSCORE processing can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes could not be decoded: the RFC's "Failed to decode COSE" (4.02).
    #[error("malformed OSCORE message: {0}")]
    Malformed(#[from] DecodeError),
    /// No Recipient Context for this kid / kid context (4.01, RFC 8613 §8.2 step 2).
    #[error("security context not found")]
    ContextNotFound,
    /// The Partial IV was already received or is older than the window (4.01, RFC 8613 §7.4),
    /// or a notification was not newer than the Notification Number (RFC 8613 §7.4.1).
    #[error("replay detected")]
    ReplayDetected,
    /// Authentication of the ciphertext failed (4.00, RFC 8613 §8.2 step 6).
    #[error("decryption failed")]
    DecryptionFailed,
    /// The Sender Sequence Number would exceed 2^40 - 1 (RFC 8613 §7.2.1): derive a new
    /// context.
    #[error("sender sequence number exhausted")]
    SequenceNumberExhausted,
    /// A response carried an Inner Observe option although the request was no registration
    /// (RFC 8613 §4.1.3.5.2), or a second response without Partial IV arrived.
    #[error("unexpected response for this request")]
    UnexpectedResponse,
    /// The message to protect has a Proxy-Uri option; decomposition (RFC 8613 §4.1.3.3) is
    /// not supported: send Proxy-Scheme, Uri-Host, Uri-Port, Uri-Path, Uri-Query instead.
    #[error("Proxy-Uri is not supported; use Proxy-Scheme and Uri-* options")]
    ProxyUriNotSupported,
    /// The message to protect already carries an OSCORE option (RFC 8613 §4.1.3.7).
    #[error("message is already OSCORE protected")]
    AlreadyProtected,
    /// The context parameters are unusable (algorithm not an AEAD, ID too long for the nonce).
    #[error("invalid security context: {0}")]
    InvalidContext(&'static str),
    /// The caller used the API wrongly (e.g. protected a response as a request, or asked to
    /// reuse a request nonce that was already used).
    #[error("API misuse: {0}")]
    Misuse(&'static str),
    /// The shell's [`crate::sequence::SequenceStore`] could not persist a reservation; the
    /// message was not released.
    #[error("persisting the sequence-number reservation failed")]
    PersistFailed,
    /// The peer answered without OSCORE (e.g. an unprotected 4.01 "Security context not
    /// found"); the code is given.
    #[error("unprotected response with code {0:#04x}")]
    UnprotectedResponse(u8),
    /// A nonce of the Appendix B.2 re-derivation (R1, R2 or R3, received as 'kid context')
    /// has this length, outside the configured bounds (4.01 "Security context not found":
    /// no context is derived for it).
    #[error("re-derivation nonce of {0} bytes is outside the configured bounds")]
    RederivationNonceLength(usize),
    /// The CoAP transport failed (feature `coap`).
    #[cfg(feature = "coap")]
    #[error("CoAP transport: {0}")]
    Transport(ace_coap::Error),
    /// The crypto backend failed for a reason other than authentication.
    #[error("crypto backend: {0}")]
    Crypto(ace_crypto::Error),
}

impl From<ace_crypto::Error> for Error {
    fn from(e: ace_crypto::Error) -> Self {
        match e {
            ace_crypto::Error::DecryptionFailed => Self::DecryptionFailed,
            other => Self::Crypto(other),
        }
    }
}

/// The CoAP error response RFC 8613 asks for: code (`class << 5 | detail`) and diagnostic
/// payload. These responses are sent **unprotected** (RFC 8613 §8.3, first paragraph).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The response code, e.g. [`code::UNAUTHORIZED`].
    pub code: u8,
    /// The diagnostic payload (UTF-8).
    pub diagnostic: &'static str,
}

impl Error {
    /// Maps the error to the response a server sends (RFC 8613 §7.4, §8.2):
    ///
    /// | error | response |
    /// |---|---|
    /// | `Malformed` | 4.02 "Failed to decode COSE" |
    /// | `ContextNotFound` | 4.01 "Security context not found" |
    /// | `ReplayDetected` | 4.01 "Replay detected" |
    /// | `DecryptionFailed` | 4.00 "Decryption failed" |
    /// | `ProxyUriNotSupported` | 5.05 |
    /// | local failures | 5.00 |
    #[must_use]
    pub fn to_response(&self) -> ErrorResponse {
        let (code, diagnostic) = match self {
            Self::Malformed(_) => (code::BAD_OPTION, diagnostic::FAILED_TO_DECODE_COSE),
            Self::ContextNotFound | Self::RederivationNonceLength(_) => {
                (code::UNAUTHORIZED, diagnostic::SECURITY_CONTEXT_NOT_FOUND)
            }
            Self::ReplayDetected => (code::UNAUTHORIZED, diagnostic::REPLAY_DETECTED),
            Self::DecryptionFailed => (code::BAD_REQUEST, diagnostic::DECRYPTION_FAILED),
            Self::UnexpectedResponse => (code::BAD_REQUEST, "Unexpected response"),
            Self::ProxyUriNotSupported => (code::PROXYING_NOT_SUPPORTED, "Proxy-Uri not supported"),
            Self::SequenceNumberExhausted
            | Self::AlreadyProtected
            | Self::InvalidContext(_)
            | Self::Misuse(_)
            | Self::PersistFailed
            | Self::UnprotectedResponse(_)
            | Self::Crypto(_) => (code::INTERNAL_SERVER_ERROR, "OSCORE processing failed"),
            #[cfg(feature = "coap")]
            Self::Transport(_) => (code::INTERNAL_SERVER_ERROR, "OSCORE processing failed"),
        };
        ErrorResponse { code, diagnostic }
    }
}
