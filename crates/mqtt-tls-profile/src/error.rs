//! Errors, one variant per failed check, and their one mapping to MQTT reason codes
//! ([`Error::reason_code`], [`Error::v311_return_code`]).

use crate::consts::{reason, v311_return};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why a packet, a token or a proof was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a well-formed MQTT packet (decoder message; never token bytes).
    #[error("malformed packet: {0}")]
    MalformedPacket(String),
    /// The packet is larger than the configured maximum.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    PacketTooLarge {
        /// Announced size (fixed header + remaining length).
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A packet that the protocol does not allow in this state (MQ-030: anything but AUTH or
    /// DISCONNECT before CONNACK; a second CONNECT; Authentication Data without Method).
    #[error("protocol error: {0}")]
    ProtocolError(&'static str),
    /// CONNECT with a protocol level other than 4 or 5, or 4 while v3.1.1 is disabled.
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocolVersion(u8),
    /// Authentication Method other than `ace` (RFC 9431 §2.2.4.2, MQ-032).
    #[error("authentication method is not \"ace\"")]
    BadAuthenticationMethod,
    /// Authentication Data, Username or Password that cannot be split into token and proof
    /// (MQ-T6), or User Name / Password flags together with the `ace` method.
    #[error("malformed authentication data: {0}")]
    MalformedAuthData(&'static str),
    /// The v3.1.1 Username lacks the `ace` prefix or is not base64url (MQ-T10).
    #[error("v3.1.1 username is not \"ace\" + base64url(token)")]
    BadUsername,
    /// No token in CONNECT and none stored for this client (RFC 9431 §2.4.1, MQ-081).
    #[error("no token")]
    NoToken,
    /// The token failed validation (signature, audience, expiry, ...; MQ-060).
    #[error("token invalid: {0}")]
    Token(#[from] ace_token::Error),
    /// The token names another ACE profile than `mqtt_tls` (MQ-006).
    #[error("token is for another ACE profile")]
    WrongProfile,
    /// The token has no `scope` (MQ-060: the scope must be understood).
    #[error("token has no scope")]
    MissingScope,
    /// The token's `scope` is not AIF-MQTT (MQ-070).
    #[error("token scope is not AIF-MQTT: {0}")]
    BadScope(#[from] aif::Error),
    /// A text `scope` that is not base64url without padding (MQ-070).
    #[error("token scope text is not base64url")]
    ScopeNotBase64,
    /// The token binds no usable PoP key (no `cnf`, kid-only, X25519, OSCORE material).
    #[error("token has no usable PoP key")]
    UnsupportedPopKey,
    /// A symmetric PoP key that was not encrypted (RFC 9431 §2.1; MQ-007, R17).
    #[error("symmetric PoP key not protected by encryption")]
    SymmetricKeyNotEncrypted,
    /// The PoP key's `alg` restricts it to another algorithm.
    #[error("PoP key restricted to another algorithm")]
    PopAlgorithmMismatch,
    /// The proof has the wrong length for the key type (MQ-045).
    #[error("PoP of {got} bytes, expected {expected}")]
    PopLength {
        /// Length the key type implies.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// The MAC or signature over the exporter value or the nonces did not verify.
    #[error("proof of possession failed")]
    BadPop,
    /// The client's challenge response does not have an 8-byte nonce (MQ-T4).
    #[error("client nonce is not 8 bytes")]
    BadClientNonce,
    /// The Will Topic is not covered by a `pub` permission (MQ-038, R8).
    #[error("will topic not authorized")]
    WillNotAuthorized,
    /// AUTH 0x19 without an earlier PoP-verified token, or carrying an exporter PoP (MQ-113, R2).
    #[error("re-authentication not allowed")]
    ReauthNotAllowed,
    /// The session's token expired (MQ-110, MQ-111).
    #[error("token expired during the session")]
    SessionExpired,
    /// PUBLISH or SUBSCRIBE outside the token's scope (MQ-091, MQ-101).
    #[error("not authorized by the token scope")]
    NotAuthorized,
    /// The `authz-info` payload does not parse to a token (RFC 9431 §2.2.2: 0x99).
    #[error("authz-info payload is not a token")]
    PayloadNotToken,
    /// The token store is full (MQ-024 quota).
    #[error("token store quota exceeded")]
    StoreFull,
    /// The AS says the token is not active (introspection, RFC 9200 §5.9.2).
    #[error("token not active at the AS")]
    TokenInactive,
    /// Network, TLS or HTTP failure towards the AS or the broker (message only; never token
    /// bytes).
    #[error("transport: {0}")]
    Transport(String),
    /// An operation did not complete in time.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The AS refused a token or introspection request (HTTP status and OAuth `error`).
    #[error("AS refused the request: HTTP {status} {error}")]
    AsRefused {
        /// HTTP status, or the CoAP code as class × 100 + detail (4.01 → 401).
        status: u16,
        /// The RFC 6749 §5.2 `error` name, or empty.
        error: String,
    },
    /// The broker refused (client side): the CONNACK, SUBACK, PUBACK/PUBREC, AUTH or
    /// DISCONNECT reason code.
    #[error("broker refused with reason code 0x{0:02X}")]
    Refused(u8),
}

impl Error {
    /// The MQTT v5 reason code for this error (CONNACK, DISCONNECT, PUBACK/PUBREC), as the
    /// digest's picks say (MQ-T6, MQ-023, MQ-091, MQ-111).
    #[must_use]
    pub fn reason_code(&self) -> u8 {
        match self {
            Self::MalformedPacket(_) => reason::MALFORMED_PACKET,
            Self::PacketTooLarge { .. } => reason::PACKET_TOO_LARGE,
            Self::ProtocolError(_) => reason::PROTOCOL_ERROR,
            Self::UnsupportedProtocolVersion(_) => reason::UNSUPPORTED_PROTOCOL_VERSION,
            Self::BadAuthenticationMethod => reason::BAD_AUTHENTICATION_METHOD,
            Self::PayloadNotToken => reason::PAYLOAD_FORMAT_INVALID,
            Self::StoreFull => reason::QUOTA_EXCEEDED,
            Self::Transport(_) | Self::Timeout(_) => reason::SERVER_UNAVAILABLE,
            Self::Refused(code) => *code,
            Self::MalformedAuthData(_)
            | Self::BadUsername
            | Self::NoToken
            | Self::Token(_)
            | Self::WrongProfile
            | Self::MissingScope
            | Self::BadScope(_)
            | Self::ScopeNotBase64
            | Self::UnsupportedPopKey
            | Self::SymmetricKeyNotEncrypted
            | Self::PopAlgorithmMismatch
            | Self::PopLength { .. }
            | Self::BadPop
            | Self::BadClientNonce
            | Self::WillNotAuthorized
            | Self::ReauthNotAllowed
            | Self::SessionExpired
            | Self::TokenInactive
            | Self::AsRefused { .. }
            | Self::NotAuthorized => reason::NOT_AUTHORIZED,
        }
    }

    /// The MQTT 3.1.1 CONNACK return code (MQ-T10): 0x04 for a malformed Username, 0x01 for
    /// the protocol level, 0x05 for everything else.
    #[must_use]
    pub fn v311_return_code(&self) -> u8 {
        match self {
            Self::BadUsername => v311_return::BAD_USERNAME_OR_PASSWORD,
            Self::UnsupportedProtocolVersion(_) => v311_return::UNACCEPTABLE_PROTOCOL_VERSION,
            _ => v311_return::NOT_AUTHORIZED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps() {
        let cases: Vec<(Error, u8, u8)> = vec![
            (Error::MalformedPacket("x".into()), 0x81, 0x05),
            (Error::PacketTooLarge { size: 2, max: 1 }, 0x95, 0x05),
            (Error::ProtocolError("x"), 0x82, 0x05),
            (Error::UnsupportedProtocolVersion(3), 0x84, 0x01),
            (Error::BadAuthenticationMethod, 0x8C, 0x05),
            (Error::MalformedAuthData("x"), 0x87, 0x05),
            (Error::BadUsername, 0x87, 0x04),
            (Error::NoToken, 0x87, 0x05),
            (Error::Token(ace_token::Error::Expired), 0x87, 0x05),
            (Error::WrongProfile, 0x87, 0x05),
            (Error::MissingScope, 0x87, 0x05),
            (Error::BadScope(aif::Error::NotAnArray), 0x87, 0x05),
            (Error::ScopeNotBase64, 0x87, 0x05),
            (Error::UnsupportedPopKey, 0x87, 0x05),
            (Error::SymmetricKeyNotEncrypted, 0x87, 0x05),
            (Error::PopAlgorithmMismatch, 0x87, 0x05),
            (
                Error::PopLength {
                    expected: 32,
                    got: 31,
                },
                0x87,
                0x05,
            ),
            (Error::BadPop, 0x87, 0x05),
            (Error::BadClientNonce, 0x87, 0x05),
            (Error::WillNotAuthorized, 0x87, 0x05),
            (Error::ReauthNotAllowed, 0x87, 0x05),
            (Error::SessionExpired, 0x87, 0x05),
            (Error::NotAuthorized, 0x87, 0x05),
            (Error::PayloadNotToken, 0x99, 0x05),
            (Error::StoreFull, 0x97, 0x05),
            (Error::TokenInactive, 0x87, 0x05),
            (Error::Transport("x".into()), 0x88, 0x05),
            (Error::Timeout("x"), 0x88, 0x05),
            (
                Error::AsRefused {
                    status: 400,
                    error: "invalid_scope".into(),
                },
                0x87,
                0x05,
            ),
            (Error::Refused(0x8B), 0x8B, 0x05),
        ];
        for (e, v5, v311) in cases {
            assert_eq!(e.reason_code(), v5, "{e}");
            assert_eq!(e.v311_return_code(), v311, "{e}");
        }
    }
}
