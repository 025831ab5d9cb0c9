//! The crate error type and its mapping to CoAP error responses (draft §6.2, §6.4, §7.3,
//! RFC 8613 §8.2).

use ace_oscore::consts::{code, diagnostic};
pub use ace_oscore::{DecodeError, ErrorResponse};

/// Result alias with [`Error`] as the default error.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything Group OSCORE processing can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes could not be decoded (OSCORE option, payload shorter than the signature,
    /// plaintext): 4.02 "Failed to decode COSE".
    #[error("malformed Group OSCORE message: {0}")]
    Malformed(#[from] DecodeError),
    /// A reserved flag bit was set in the OSCORE option (bits 0 and 1; bit 2 is the Group
    /// Flag).
    #[error("reserved OSCORE flag bits set")]
    ReservedFlagBits,
    /// No Security Context for this 'kid context' (Gid), or a request without one
    /// (draft §6.2: 4.01).
    #[error("group security context not found")]
    ContextNotFound,
    /// The 'kid context' names keying material that was replaced by a rekeying and whose
    /// grace period is over (draft §3.2.2, §12.5).
    #[error("stale keying material (old Gid after the grace period)")]
    StaleKeyingMaterial,
    /// No authentication credential is known for this Sender ID in this group: a non-member,
    /// a removed member or a stale Sender ID (draft §6.2: 5.03 may be sent).
    #[error("no authentication credential for this Sender ID")]
    UnknownSender,
    /// The message's kid is our own Sender ID (draft §6.2: SHOULD NOT be processed).
    #[error("message carries our own Sender ID")]
    OwnSenderId,
    /// The countersignature did not verify (draft §6.2, §6.4): answered like a failed
    /// decryption ("Decryption failed").
    #[error("countersignature verification failed")]
    BadSignature,
    /// AEAD authentication failed.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The Partial IV was already received or is older than the replay window (RFC 8613 §7.4,
    /// draft §4.4), or a response repeats one of the same long exchange (draft §4.4.1).
    #[error("replay detected")]
    ReplayDetected,
    /// The Recipient Context was created after another one was deleted, so its Replay
    /// Window is invalid and requests are discarded (draft §2.6.1.2).
    #[error("replay window invalid after a deleted recipient context")]
    ReplayWindowInvalid,
    /// The message uses a mode (group or pairwise) whose parameters are not set in this
    /// context (draft §5: discard; pairwise: 4.02 may be sent).
    #[error("mode not supported by this group context")]
    ModeNotSupported,
    /// A response did not come from the server a pairwise request was protected for
    /// (draft §6.4), or a second response without Partial IV from one server.
    #[error("unexpected response")]
    UnexpectedResponse,
    /// The Sender Sequence Number space is exhausted (draft §2.6.2): get new keying material.
    #[error("sender sequence number exhausted")]
    SequenceNumberExhausted,
    /// The context parameters are unusable (unknown algorithm, ID too long, key not matching
    /// the credential).
    #[error("invalid group context: {0}")]
    InvalidContext(&'static str),
    /// An authentication credential could not be parsed or has an unsupported key.
    #[error("invalid authentication credential: {0}")]
    InvalidCredential(&'static str),
    /// The caller used the API wrongly.
    #[error("API misuse: {0}")]
    Misuse(&'static str),
    /// The message to protect has a Proxy-Uri option (decomposition is not supported).
    #[error("Proxy-Uri is not supported; use Proxy-Scheme and Uri-* options")]
    ProxyUriNotSupported,
    /// The crypto backend failed for a reason other than authentication.
    #[error("crypto backend: {0}")]
    Crypto(ace_crypto::Error),
}

impl From<ace_crypto::Error> for Error {
    fn from(e: ace_crypto::Error) -> Self {
        match e {
            ace_crypto::Error::DecryptionFailed => Self::DecryptionFailed,
            ace_crypto::Error::InvalidSignature => Self::BadSignature,
            other => Self::Crypto(other),
        }
    }
}

impl From<ace_oscore::Error> for Error {
    fn from(e: ace_oscore::Error) -> Self {
        match e {
            ace_oscore::Error::Malformed(d) => Self::Malformed(d),
            ace_oscore::Error::SequenceNumberExhausted => Self::SequenceNumberExhausted,
            ace_oscore::Error::ReplayDetected => Self::ReplayDetected,
            ace_oscore::Error::DecryptionFailed => Self::DecryptionFailed,
            ace_oscore::Error::ContextNotFound => Self::ContextNotFound,
            ace_oscore::Error::Crypto(c) => Self::Crypto(c),
            ace_oscore::Error::InvalidContext(s) => Self::InvalidContext(s),
            _ => Self::Misuse("unexpected OSCORE error"),
        }
    }
}

impl Error {
    /// The response a server may send (draft §6.2, §7.3; RFC 8613 §8.2). Error responses are
    /// unprotected. A server SHOULD NOT answer a group request with an error at all
    /// (draft §6, "RECOMMENDED that a server does not send back any error message"); use
    /// this only for requests known to be unicast.
    ///
    /// | error | response |
    /// |---|---|
    /// | `Malformed`, `ReservedFlagBits`, `ModeNotSupported` | 4.02 "Failed to decode COSE" |
    /// | `ContextNotFound`, `StaleKeyingMaterial` | 4.01 "Security context not found" |
    /// | `ReplayDetected`, `ReplayWindowInvalid` | 4.01 "Replay detected" |
    /// | `BadSignature`, `DecryptionFailed`, `UnexpectedResponse`, `OwnSenderId` | 4.00 "Decryption failed" |
    /// | `UnknownSender` | 5.03 (credential not available yet) |
    /// | `ProxyUriNotSupported` | 5.05 |
    /// | local failures | 5.00 |
    #[must_use]
    pub fn to_response(&self) -> ErrorResponse {
        let (code, diagnostic) = match self {
            Self::Malformed(_) | Self::ReservedFlagBits | Self::ModeNotSupported => {
                (code::BAD_OPTION, diagnostic::FAILED_TO_DECODE_COSE)
            }
            Self::ContextNotFound | Self::StaleKeyingMaterial => {
                (code::UNAUTHORIZED, diagnostic::SECURITY_CONTEXT_NOT_FOUND)
            }
            Self::ReplayDetected | Self::ReplayWindowInvalid => {
                (code::UNAUTHORIZED, diagnostic::REPLAY_DETECTED)
            }
            Self::BadSignature
            | Self::DecryptionFailed
            | Self::UnexpectedResponse
            | Self::OwnSenderId => (code::BAD_REQUEST, diagnostic::DECRYPTION_FAILED),
            Self::UnknownSender => (
                SERVICE_UNAVAILABLE,
                "Authentication credential not available",
            ),
            Self::ProxyUriNotSupported => (code::PROXYING_NOT_SUPPORTED, "Proxy-Uri not supported"),
            Self::SequenceNumberExhausted
            | Self::InvalidContext(_)
            | Self::InvalidCredential(_)
            | Self::Misuse(_)
            | Self::Crypto(_) => (
                code::INTERNAL_SERVER_ERROR,
                "Group OSCORE processing failed",
            ),
        };
        ErrorResponse { code, diagnostic }
    }
}

/// 5.03 Service Unavailable (RFC 7252 §5.9.3.4).
pub const SERVICE_UNAVAILABLE: u8 = 0xA3;
