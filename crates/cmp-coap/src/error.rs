//! The crate's error type and its single mapping to the wire ([`Error::to_code`]), plus
//! the client-side mapping of CoAP error codes to PKIFailureInfo ([`failure_info_for_code`]).

use ace_coap::Code;

use crate::consts::failure_info;
use crate::msg::BodyType;

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why bytes are not a well-formed DER PKIMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    reason: String,
}

impl DecodeError {
    pub(crate) fn new(reason: String) -> Self {
        Self { reason }
    }
    /// A human-readable reason (from the DER decoder).
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl core::error::Error for DecodeError {}

/// Everything that can go wrong in `cmp-coap`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The payload is not a well-formed DER PKIMessage (CMP-002).
    #[error("not a DER PKIMessage: {0}")]
    Malformed(DecodeError),
    /// The request's Content-Format is not 259 `application/pkixcmp` (CMP-004, CMP-T1).
    #[error("unsupported Content-Format {0:?}")]
    UnsupportedContentFormat(Option<u16>),
    /// The path is not `/.well-known/cmp[/p/<label>][/<operation>]` with a known operation.
    #[error("no CMP resource at {0}")]
    NotFound(String),
    /// The body type cannot be sent as a request (e.g. an `ip`).
    #[error("{0} is not a request message")]
    NotARequest(BodyType),
    /// The request came in a Non-confirmable (NON) CoAP message; CMP over CoAP requests
    /// must be Confirmable (RFC 9482 §2.3 as recalled, digest CMP-003, marked "memory";
    /// [`crate::ServerConfig::require_confirmable`]).
    #[error("CMP over CoAP requests must be Confirmable (CON), not NON")]
    NotConfirmable,
    /// A message is larger than the configured limit.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The message size (or what is known of it).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Too many exchanges in progress; retry later.
    #[error("too many concurrent CMP exchanges")]
    Busy,
    /// The CMP handler did not answer within the configured time.
    #[error("the CMP handler did not answer in time")]
    HandlerTimeout,
    /// The CMP handler failed without a PKIMessage to return.
    #[error("CMP handler failure: {0}")]
    Handler(String),
    /// The upstream HTTP CMP server cannot be reached (connection refused, reset).
    #[error("upstream unreachable: {0}")]
    UpstreamUnreachable(String),
    /// The upstream HTTP CMP server did not answer in time.
    #[error("upstream timeout")]
    UpstreamTimeout,
    /// The upstream answered with a non-200 HTTP status.
    #[error("upstream HTTP status {0}")]
    UpstreamStatus(u16),
    /// The upstream answer is not a valid HTTP/1.x `application/pkixcmp` response.
    #[error("bad upstream response: {0}")]
    UpstreamBadResponse(&'static str),
    /// The CoAP layer failed (client side: timeout, reset, block-wise failure).
    #[error("CoAP: {0}")]
    Coap(#[from] ace_coap::Error),
    /// OSCORE protection or verification failed (client side, `oscore` feature: the
    /// server's answer was unprotected, did not verify, or the context is exhausted).
    #[error("OSCORE: {0}")]
    Oscore(String),
    /// The CMP server answered with a CoAP error code (client side).
    #[error("CMP server answered {code}")]
    CoapStatus {
        /// The CoAP response code (4.xx or 5.xx).
        code: Code,
        /// Its diagnostic payload, if any (UTF-8, lossy).
        diagnostic: String,
    },
    /// The response is not what a CMP client accepts (wrong Content-Format or code).
    #[error("unexpected response: {0}")]
    UnexpectedResponse(&'static str),
    /// The response's transactionID differs from the request's.
    #[error("transactionID of the response does not match the request")]
    TransactionIdMismatch,
    /// Polling exceeded the configured number of rounds or wait.
    #[error("polling gave up: {0}")]
    PollingExceeded(&'static str),
    /// A caller passed something the API does not accept.
    #[error("API misuse: {0}")]
    Misuse(&'static str),
    /// A socket operation failed.
    #[error("I/O: {0}")]
    Io(String),
}

impl Error {
    /// The CoAP response code a CMP server or proxy sends when this error ends a request
    /// (the crate's single error-to-wire mapping; digest CMP-T3/CMP-T4). CMP-level errors
    /// never come here: they travel as an `error` PKIMessage in a 2.xx response.
    #[must_use]
    pub fn to_code(&self) -> Code {
        match self {
            Self::Malformed(_) | Self::NotARequest(_) | Self::NotConfirmable | Self::Misuse(_) => {
                Code::BAD_REQUEST
            }
            Self::UnsupportedContentFormat(_) => Code::UNSUPPORTED_CONTENT_FORMAT,
            Self::NotFound(_) => Code::NOT_FOUND,
            Self::TooLarge { .. } => Code::REQUEST_ENTITY_TOO_LARGE,
            Self::Busy | Self::HandlerTimeout => Code::SERVICE_UNAVAILABLE,
            Self::UpstreamUnreachable(_) | Self::UpstreamBadResponse(_) => Code::new(5, 2),
            Self::UpstreamTimeout => Code::GATEWAY_TIMEOUT,
            Self::UpstreamStatus(s) => http_status_to_code(*s),
            Self::Handler(_)
            | Self::Coap(_)
            | Self::Oscore(_)
            | Self::CoapStatus { .. }
            | Self::UnexpectedResponse(_)
            | Self::TransactionIdMismatch
            | Self::PollingExceeded(_)
            | Self::Io(_) => Code::INTERNAL_SERVER_ERROR,
        }
    }

    /// The PKIFailureInfo bit (RFC 4210 §5.2.3) a CMP client reports for this error,
    /// e.g. in the `error` message it sends or to its application; see
    /// [`failure_info_for_code`].
    #[must_use]
    pub fn failure_info(&self) -> u8 {
        match self {
            Self::CoapStatus { code, .. } => failure_info_for_code(*code),
            Self::Malformed(_) | Self::UnexpectedResponse(_) => failure_info::BAD_DATA_FORMAT,
            Self::TransactionIdMismatch => failure_info::BAD_REQUEST,
            // the exchange was not protected as required: treated like a refused client
            Self::Oscore(_) => failure_info::NOT_AUTHORIZED,
            Self::Coap(_)
            | Self::UpstreamUnreachable(_)
            | Self::UpstreamTimeout
            | Self::HandlerTimeout
            | Self::Busy
            | Self::PollingExceeded(_) => failure_info::SYSTEM_UNAVAIL,
            other => failure_info_for_code(other.to_code()),
        }
    }
}

/// HTTP status of the upstream → CoAP code (digest CMP-T4; RFC 8075 §7 style).
#[must_use]
pub fn http_status_to_code(status: u16) -> Code {
    match status {
        400 => Code::BAD_REQUEST,
        401 => Code::UNAUTHORIZED,
        403 => Code::FORBIDDEN,
        404 => Code::NOT_FOUND,
        405 => Code::METHOD_NOT_ALLOWED,
        413 => Code::REQUEST_ENTITY_TOO_LARGE,
        415 => Code::UNSUPPORTED_CONTENT_FORMAT,
        500 => Code::INTERNAL_SERVER_ERROR,
        501 => Code::NOT_IMPLEMENTED,
        503 => Code::SERVICE_UNAVAILABLE,
        504 => Code::GATEWAY_TIMEOUT,
        402 | 406..=412 | 414 | 416..=499 => Code::BAD_REQUEST,
        // 1xx, 2xx other than 200 with a PKIMessage, 3xx, 5xx: bad gateway.
        _ => Code::new(5, 2),
    }
}

/// The PKIFailureInfo bit a CMP client associates with a CoAP error response.
///
/// Our pick (not a table of RFC 9482 — see the README): client errors that mean "the
/// message was not acceptable" → `badRequest` (4.00, 4.02, 4.04, 4.05, 4.08, 4.13),
/// 4.15 → `badDataFormat`, 4.01/4.03 → `notAuthorized`, 5.02/5.03/5.04 (and timeouts)
/// → `systemUnavail`, other 5.xx → `systemFailure`.
#[must_use]
pub fn failure_info_for_code(code: Code) -> u8 {
    match (code.class(), code.detail()) {
        (4, 15) => failure_info::BAD_DATA_FORMAT,
        (4, 1 | 3) => failure_info::NOT_AUTHORIZED,
        (4, _) => failure_info::BAD_REQUEST,
        (5, 2..=4) => failure_info::SYSTEM_UNAVAIL,
        _ => failure_info::SYSTEM_FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_a_code() {
        let cases: Vec<(Error, Code)> = vec![
            (
                Error::Malformed(DecodeError::new("x".into())),
                Code::BAD_REQUEST,
            ),
            (Error::NotARequest(BodyType::Ip), Code::BAD_REQUEST),
            (Error::NotConfirmable, Code::BAD_REQUEST),
            (Error::Misuse("x"), Code::BAD_REQUEST),
            (
                Error::UnsupportedContentFormat(Some(0)),
                Code::UNSUPPORTED_CONTENT_FORMAT,
            ),
            (Error::NotFound("/x".into()), Code::NOT_FOUND),
            (
                Error::TooLarge { size: 2, limit: 1 },
                Code::REQUEST_ENTITY_TOO_LARGE,
            ),
            (Error::Busy, Code::SERVICE_UNAVAILABLE),
            (Error::HandlerTimeout, Code::SERVICE_UNAVAILABLE),
            (Error::Handler("x".into()), Code::INTERNAL_SERVER_ERROR),
            (Error::UpstreamUnreachable("x".into()), Code::new(5, 2)),
            (Error::UpstreamBadResponse("x"), Code::new(5, 2)),
            (Error::UpstreamTimeout, Code::GATEWAY_TIMEOUT),
            (Error::UpstreamStatus(404), Code::NOT_FOUND),
            (Error::UpstreamStatus(400), Code::BAD_REQUEST),
            (Error::UpstreamStatus(415), Code::UNSUPPORTED_CONTENT_FORMAT),
            (Error::UpstreamStatus(500), Code::INTERNAL_SERVER_ERROR),
            (Error::UpstreamStatus(503), Code::SERVICE_UNAVAILABLE),
            (Error::UpstreamStatus(302), Code::new(5, 2)),
            (Error::UpstreamStatus(204), Code::new(5, 2)),
            (Error::UpstreamStatus(418), Code::BAD_REQUEST),
            (
                Error::Coap(ace_coap::Error::Timeout),
                Code::INTERNAL_SERVER_ERROR,
            ),
            (
                Error::CoapStatus {
                    code: Code::BAD_REQUEST,
                    diagnostic: String::new(),
                },
                Code::INTERNAL_SERVER_ERROR,
            ),
            (Error::UnexpectedResponse("x"), Code::INTERNAL_SERVER_ERROR),
            (Error::TransactionIdMismatch, Code::INTERNAL_SERVER_ERROR),
            (Error::PollingExceeded("x"), Code::INTERNAL_SERVER_ERROR),
            (Error::Io("x".into()), Code::INTERNAL_SERVER_ERROR),
            (Error::Oscore("x".into()), Code::INTERNAL_SERVER_ERROR),
        ];
        for (e, code) in cases {
            assert_eq!(e.to_code(), code, "{e}");
        }
    }

    #[test]
    fn coap_codes_map_to_failure_info() {
        assert_eq!(
            Error::Oscore("x".into()).failure_info(),
            failure_info::NOT_AUTHORIZED
        );
        assert_eq!(
            failure_info_for_code(Code::BAD_REQUEST),
            failure_info::BAD_REQUEST
        );
        assert_eq!(
            failure_info_for_code(Code::UNSUPPORTED_CONTENT_FORMAT),
            failure_info::BAD_DATA_FORMAT
        );
        assert_eq!(
            failure_info_for_code(Code::FORBIDDEN),
            failure_info::NOT_AUTHORIZED
        );
        assert_eq!(
            failure_info_for_code(Code::new(5, 2)),
            failure_info::SYSTEM_UNAVAIL
        );
        assert_eq!(
            failure_info_for_code(Code::GATEWAY_TIMEOUT),
            failure_info::SYSTEM_UNAVAIL
        );
        assert_eq!(
            failure_info_for_code(Code::INTERNAL_SERVER_ERROR),
            failure_info::SYSTEM_FAILURE
        );
        assert_eq!(
            Error::CoapStatus {
                code: Code::SERVICE_UNAVAILABLE,
                diagnostic: String::new()
            }
            .failure_info(),
            failure_info::SYSTEM_UNAVAIL
        );
        assert_eq!(
            Error::UpstreamTimeout.failure_info(),
            failure_info::SYSTEM_UNAVAIL
        );
        assert_eq!(
            Error::Malformed(DecodeError::new(String::new())).failure_info(),
            failure_info::BAD_DATA_FORMAT
        );
        assert_eq!(
            Error::NotFound("x".into()).failure_info(),
            failure_info::BAD_REQUEST
        );
    }
}
