//! The crate error: one variant per failed check, and its mapping to the RFC 9200 wire error.

use alloc::string::String;

pub use ace_token::CoapCode;

use crate::msg::{ErrorCode, ErrorResponse};

/// Result alias with [`Error`] as the default error.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// A map key as it appeared on the wire (for error reports).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MapKey {
    /// An integer key (the CBOR abbreviations).
    Int(i64),
    /// A text key (JSON names, or an unregistered CBOR text label).
    Text(String),
}

impl core::fmt::Display for MapKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// Why a message could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is larger than the decoder's limit.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input is empty where a message or token is required.
    #[error("empty payload")]
    EmptyPayload,
    /// The input ended inside a CBOR item.
    #[error("truncated CBOR")]
    Truncated,
    /// The input is not well-formed CBOR.
    #[error("malformed CBOR")]
    MalformedCbor,
    /// CBOR nesting deeper than the decoder allows.
    #[error("CBOR nesting too deep")]
    TooDeep,
    /// Bytes after the single top-level CBOR item.
    #[error("trailing bytes after the message")]
    TrailingBytes,
    /// The top-level item is not a map (RFC 9200 §5.8.1, §5.8.2, §5.9: payloads are maps).
    #[error("{0}: expected a map")]
    NotAMap(&'static str),
    /// A map key that is neither an integer nor a text string.
    #[error("map key of an invalid type")]
    InvalidKey,
    /// A map key appears twice (RFC 6749 §3.2: parameters MUST NOT repeat).
    #[error("duplicate parameter {0}")]
    DuplicateKey(MapKey),
    /// A parameter has the wrong CBOR/JSON type (RFC 9200 Tables 1, 5, 6).
    #[error("{param}: expected {expected}")]
    WrongType {
        /// The parameter.
        param: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// An integer outside the range the parameter allows.
    #[error("{0}: integer out of range")]
    IntegerOutOfRange(&'static str),
    /// A parameter value violates its specification (e.g. a non-finite NumericDate, invalid
    /// base64url in JSON, an unknown text name of a registered value).
    #[error("invalid {0}")]
    InvalidValue(&'static str),
    /// A required parameter is absent (`access_token`, `token`, `active`, `error`).
    #[error("missing required parameter {0}")]
    MissingParameter(&'static str),
    /// A `cnf`/`req_cnf`/`rs_cnf` that is not a valid confirmation (RFC 8747, RFC 9201).
    #[error("{param}: invalid confirmation")]
    InvalidCnf {
        /// The parameter.
        param: &'static str,
        /// Why `ace-token` refused it.
        #[source]
        source: ace_token::DecodeError,
    },
    /// A `req_cnf` COSE_Key that is well formed but of a key type or curve this
    /// implementation does not support (RFC 9200 §5.8.3: `unsupported_pop_key`).
    #[error("req_cnf: unsupported proof-of-possession key")]
    UnsupportedPopKey,
    /// A `grant_type` name (JSON/form) without a CBOR abbreviation (RFC 9200 §5.8.4.1).
    #[error("unsupported grant_type")]
    UnsupportedGrantType,
    /// A payload with a Content-Format this message cannot have (RFC 9200 §5.10.1).
    #[error("unsupported Content-Format {0}")]
    UnsupportedContentFormat(u16),
    /// The JSON text is not well formed or not an object.
    #[error("malformed JSON")]
    MalformedJson,
    /// The `application/x-www-form-urlencoded` body is malformed (bad escape, not UTF-8).
    #[error("malformed form encoding")]
    MalformedForm,
    /// The message cannot be encoded as asked: a caller bug, never caused by received data
    /// (an extension entry reusing a modelled label, a value with no JSON form).
    #[error("API misuse: {0}")]
    Misuse(&'static str),
    /// A token operation of the engine failed for a reason that is not the peer's fault:
    /// issuing with a backend that lacks the algorithm, a key that does not fit it.
    #[error("token operation: {0}")]
    Token(#[from] ace_token::Error),
    /// A store refused an operation (full, unavailable) or the engine could not find a fresh
    /// identifier (`cti`) after several attempts.
    #[error("store: {0}")]
    Store(&'static str),
    /// Client side: the AS or RS refused the request with this response code and, for the
    /// AS, this ACE error code.
    #[error("refused with {code}")]
    Refused {
        /// The response code.
        code: CoapCode,
        /// The ACE error code (token endpoint), if the response carried one.
        error: Option<ErrorCode>,
    },
    /// Client side: the AS Request Creation Hints name no AS (RFC 9200 §5.3: `AS` is
    /// required) and the client knows no default.
    #[error("no authorization server to ask")]
    NoAuthorizationServer,
    /// Client side: the AS named a profile the client does not support, or none when the
    /// client supports several (RFC 9200 §6.5: the client never guesses a profile).
    #[error("ACE profile not supported by this client")]
    ProfileNotSupported,
    /// Client side: the token response carries no `expires_in` and the client has no default
    /// lifetime (RFC 9200 §5.10.4: such a token MUST NOT be used).
    #[error("token lifetime unknown")]
    UnknownTokenLifetime,
}

/// What to send back for a failed request: a CoAP response code and, if any, the ACE error
/// body (`application/ace+cbor`, RFC 9200 §5.8.3).
#[derive(Debug, Clone, PartialEq)]
pub struct WireError {
    /// The response code.
    pub code: CoapCode,
    /// The error body, if the response carries one.
    pub body: Option<ErrorResponse>,
}

impl Error {
    /// The ACE error code for this failure (RFC 9200 §5.8.3, Table 3), or `None` for caller
    /// bugs (which are answered with 5.00 and no body).
    #[must_use]
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::UnsupportedPopKey => Some(ErrorCode::UNSUPPORTED_POP_KEY),
            Self::UnsupportedGrantType => Some(ErrorCode::UNSUPPORTED_GRANT_TYPE),
            Self::Misuse(_)
            | Self::Token(_)
            | Self::Store(_)
            | Self::Refused { .. }
            | Self::NoAuthorizationServer
            | Self::ProfileNotSupported
            | Self::UnknownTokenLifetime => None,
            Self::TooLarge { .. }
            | Self::EmptyPayload
            | Self::Truncated
            | Self::MalformedCbor
            | Self::TooDeep
            | Self::TrailingBytes
            | Self::NotAMap(_)
            | Self::InvalidKey
            | Self::DuplicateKey(_)
            | Self::WrongType { .. }
            | Self::IntegerOutOfRange(_)
            | Self::InvalidValue(_)
            | Self::MissingParameter(_)
            | Self::InvalidCnf { .. }
            | Self::UnsupportedContentFormat(_)
            | Self::MalformedJson
            | Self::MalformedForm => Some(ErrorCode::INVALID_REQUEST),
        }
    }

    /// The RFC 9200 error response for a request that failed to decode this way: 4.00 (Bad
    /// Request) with an ACE error body for every decode failure (§5.8.3: "4.00 MUST be used
    /// for all error responses" except `invalid_client`, which decoding never yields); 5.00
    /// without a body for [`Error::Misuse`] and the engine failures that are never the
    /// peer's fault ([`Error::Token`], [`Error::Store`]) or only arise on the client side. The body carries only the error code: no
    /// `error_description`, so nothing about the failure leaks (RFC 9200 §6.8).
    ///
    /// At authz-info (§5.10.1) a payload that "does not parse to a token" is 4.00 too; that
    /// endpoint sends the code only, so use [`WireError::code`] there.
    #[must_use]
    pub fn to_wire(&self) -> WireError {
        match self.error_code() {
            Some(code) => WireError {
                code: CoapCode::BAD_REQUEST,
                body: Some(ErrorResponse::new(code)),
            },
            None => WireError {
                code: CoapCode::INTERNAL_SERVER_ERROR,
                body: None,
            },
        }
    }
}
