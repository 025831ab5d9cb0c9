//! The crate error: one variant per failed check, and its mapping to the wire.

use coset::{CoseError, Label};

use crate::claims::ClaimKey;

/// Result alias with [`Error`] as the default error.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why bytes could not be decoded (a token, a claims set, a `cnf`, a COSE key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside a CBOR item.
    #[error("truncated CBOR")]
    Truncated,
    /// The input is not well-formed CBOR.
    #[error("invalid CBOR")]
    InvalidCbor,
    /// Nesting deeper than the CBOR decoder allows.
    #[error("CBOR nesting too deep")]
    TooDeep,
    /// A CBOR tag that is not allowed at this place.
    #[error("unexpected CBOR tag {0}")]
    UnexpectedTag(u64),
    /// A COSE structure this crate does not process (COSE_Sign, COSE_Mac, COSE_Encrypt).
    #[error("unsupported COSE message: {0}")]
    UnsupportedMessage(&'static str),
    /// A CBOR item has the wrong type or shape.
    #[error("{what}: expected {expected}")]
    WrongType {
        /// The item.
        what: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A map key appears twice (claims, `cnf`, COSE headers, COSE keys).
    #[error("duplicate map key")]
    DuplicateKey,
    /// An integer does not fit the range the field allows.
    #[error("integer out of range")]
    IntegerOutOfRange,
    /// A value from an IANA registry that is not registered.
    #[error("unregistered IANA value")]
    UnregisteredValue,
    /// A NumericDate that is not a finite number.
    #[error("invalid NumericDate")]
    InvalidNumericDate,
    /// A claim or parameter value violates its specification.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A COSE message without payload / ciphertext (detached content is not used by CWTs).
    #[error("detached COSE content")]
    DetachedContent,
    /// `crit` in the unprotected header (RFC 9052 §3.1: it must be protected).
    #[error("crit header parameter not protected")]
    CritNotProtected,
    /// A header parameter in both the protected and unprotected bucket (RFC 9052 §3).
    #[error("header parameter in both buckets")]
    DuplicateHeader,
    /// Not strict base64url without padding (RFC 7515 §2: a JWS segment).
    #[error("invalid base64url")]
    InvalidBase64,
    /// Not well-formed JSON (RFC 8259), or bytes after the JSON value.
    #[error("invalid JSON")]
    InvalidJson,
    /// Text that is not UTF-8 (a JOSE header or JWT claims set).
    #[error("invalid UTF-8")]
    InvalidUtf8,
}

impl From<CoseError> for DecodeError {
    fn from(e: CoseError) -> Self {
        match e {
            CoseError::DecodeFailed(coset::cbor::de::Error::Io(_)) => Self::Truncated,
            CoseError::DecodeFailed(coset::cbor::de::Error::RecursionLimitExceeded) => {
                Self::TooDeep
            }
            CoseError::DecodeFailed(_) | CoseError::EncodeFailed => Self::InvalidCbor,
            CoseError::DuplicateMapKey => Self::DuplicateKey,
            CoseError::ExtraneousData => Self::Invalid("trailing data"),
            CoseError::OutOfRangeIntegerValue => Self::IntegerOutOfRange,
            CoseError::UnexpectedItem(_, expected) => Self::WrongType {
                what: "COSE item",
                expected,
            },
            CoseError::UnregisteredIanaValue | CoseError::UnregisteredIanaNonPrivateValue => {
                Self::UnregisteredValue
            }
        }
    }
}

/// Why a token was refused, or an operation failed. One variant per check.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token is larger than the policy allows (checked before any parsing).
    #[error("token of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Token size.
        size: usize,
        /// The policy maximum.
        max: usize,
    },
    /// Bytes follow the token's CBOR item.
    #[error("trailing bytes after the token")]
    TrailingBytes,
    /// The token, its claims or its `cnf` could not be decoded.
    #[error("malformed token: {0}")]
    Malformed(#[from] DecodeError),
    /// The protected header has no `alg` (RFC 9052 §3.1; CWTs carry it protected).
    #[error("no protected alg header")]
    MissingAlgorithm,
    /// The algorithm is not in the policy's accepted list, or does not fit the COSE structure.
    #[error("algorithm {0:?} not accepted")]
    AlgorithmNotAccepted(coset::Algorithm),
    /// `crit` names a header parameter this implementation does not understand.
    #[error("unknown critical header parameter {0:?}")]
    UnknownCriticalHeader(Label),
    /// The key resolver knows no key for this token (kid, issuer, algorithm).
    #[error("no key found for the token")]
    UnknownKey,
    /// No candidate key verified the signature.
    #[error("bad signature")]
    BadSignature,
    /// No candidate key verified the MAC tag.
    #[error("bad MAC tag")]
    BadTag,
    /// No candidate key decrypted the token.
    #[error("decryption failed")]
    DecryptionFailed,
    /// COSE messages nested deeper than the policy allows, or an encrypted layer inside another.
    #[error("COSE nesting not allowed")]
    NestingNotAllowed,
    /// `iss` is not an accepted issuer, or differs from the issuer the verifying key belongs to.
    #[error("issuer not accepted")]
    IssuerMismatch,
    /// No `aud` value is one of the policy's audiences.
    #[error("audience mismatch")]
    AudienceMismatch,
    /// `exp` has passed (allowing for skew).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (allowing for skew).
    #[error("token not yet valid")]
    NotYetValid,
    /// A claim the policy requires is absent.
    #[error("missing claim {0:?}")]
    MissingClaim(ClaimKey),
    /// A token with `exi` whose `cti` is not RS identifier ‖ sequence number (RFC 9200 §5.10.3).
    #[error("exi token with malformed cti")]
    ExiCtiMalformed,
    /// An `exi` token whose sequence number is not above the highest expired one (RFC 9200
    /// §5.10.3: treated as expired).
    #[error("exi sequence number {seq} already expired (highest expired {highest_expired})")]
    ExiSequenceExpired {
        /// The token's sequence number.
        seq: u64,
        /// The highest expired sequence number the RS has recorded.
        highest_expired: u64,
    },
    /// The `Encrypted_COSE_Key` in `cnf` could not be decrypted with any resolved key.
    #[error("cnf key could not be decrypted")]
    CnfKeyUndecryptable,
    /// A backend failure that is not a verification result (bad key material, unsupported
    /// algorithm in the backend).
    #[error("crypto backend: {0}")]
    Crypto(ace_crypto::Error),
    /// The caller asked for something inconsistent (issuing with a key that does not fit the
    /// algorithm, an IV of the wrong length). Never caused by received data.
    #[error("API misuse: {0}")]
    Misuse(&'static str),
}

impl From<ace_crypto::Error> for Error {
    fn from(e: ace_crypto::Error) -> Self {
        Self::Crypto(e)
    }
}

/// A CoAP response code (RFC 7252 §12.1.2), `class.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CoapCode {
    /// Class (2, 4, 5).
    pub class: u8,
    /// Detail.
    pub detail: u8,
}

impl CoapCode {
    /// 4.00 Bad Request.
    pub const BAD_REQUEST: Self = Self {
        class: 4,
        detail: 0,
    };
    /// 4.01 Unauthorized.
    pub const UNAUTHORIZED: Self = Self {
        class: 4,
        detail: 1,
    };
    /// 4.03 Forbidden.
    pub const FORBIDDEN: Self = Self {
        class: 4,
        detail: 3,
    };
    /// 4.13 Request Entity Too Large.
    pub const REQUEST_ENTITY_TOO_LARGE: Self = Self {
        class: 4,
        detail: 13,
    };
    /// 5.00 Internal Server Error.
    pub const INTERNAL_SERVER_ERROR: Self = Self {
        class: 5,
        detail: 0,
    };
}

impl core::fmt::Display for CoapCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{:02}", self.class, self.detail)
    }
}

impl Error {
    /// The response an RS sends for a token POSTed to `/authz-info` that failed this way
    /// (RFC 9200 §5.10.1.1): an invalid token is 4.01; a valid token for another audience is
    /// 4.03; a valid token whose claims cannot be processed is 4.00; an oversized one 4.13;
    /// caller bugs and backend failures 5.00.
    #[must_use]
    pub fn coap_code(&self) -> CoapCode {
        match self {
            Self::TooLarge { .. } => CoapCode::REQUEST_ENTITY_TOO_LARGE,
            Self::AudienceMismatch => CoapCode::FORBIDDEN,
            Self::MissingClaim(_) | Self::ExiCtiMalformed | Self::CnfKeyUndecryptable => {
                CoapCode::BAD_REQUEST
            }
            Self::Crypto(_) | Self::Misuse(_) => CoapCode::INTERNAL_SERVER_ERROR,
            Self::TrailingBytes
            | Self::Malformed(_)
            | Self::MissingAlgorithm
            | Self::AlgorithmNotAccepted(_)
            | Self::UnknownCriticalHeader(_)
            | Self::UnknownKey
            | Self::BadSignature
            | Self::BadTag
            | Self::DecryptionFailed
            | Self::NestingNotAllowed
            | Self::IssuerMismatch
            | Self::Expired
            | Self::NotYetValid
            | Self::ExiSequenceExpired { .. } => CoapCode::UNAUTHORIZED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn every_variant_maps_to_a_code() {
        let all: Vec<(Error, CoapCode)> = alloc::vec![
            (
                Error::TooLarge { size: 2, max: 1 },
                CoapCode::REQUEST_ENTITY_TOO_LARGE
            ),
            (Error::TrailingBytes, CoapCode::UNAUTHORIZED),
            (
                Error::Malformed(DecodeError::Truncated),
                CoapCode::UNAUTHORIZED
            ),
            (Error::MissingAlgorithm, CoapCode::UNAUTHORIZED),
            (
                Error::AlgorithmNotAccepted(coset::Algorithm::Assigned(
                    coset::iana::Algorithm::ES384
                )),
                CoapCode::UNAUTHORIZED
            ),
            (
                Error::UnknownCriticalHeader(Label::Int(99)),
                CoapCode::UNAUTHORIZED
            ),
            (Error::UnknownKey, CoapCode::UNAUTHORIZED),
            (Error::BadSignature, CoapCode::UNAUTHORIZED),
            (Error::BadTag, CoapCode::UNAUTHORIZED),
            (Error::DecryptionFailed, CoapCode::UNAUTHORIZED),
            (Error::NestingNotAllowed, CoapCode::UNAUTHORIZED),
            (Error::IssuerMismatch, CoapCode::UNAUTHORIZED),
            (Error::AudienceMismatch, CoapCode::FORBIDDEN),
            (Error::Expired, CoapCode::UNAUTHORIZED),
            (Error::NotYetValid, CoapCode::UNAUTHORIZED),
            (Error::MissingClaim(ClaimKey::Int(4)), CoapCode::BAD_REQUEST),
            (Error::ExiCtiMalformed, CoapCode::BAD_REQUEST),
            (
                Error::ExiSequenceExpired {
                    seq: 1,
                    highest_expired: 2
                },
                CoapCode::UNAUTHORIZED
            ),
            (Error::CnfKeyUndecryptable, CoapCode::BAD_REQUEST),
            (
                Error::Crypto(ace_crypto::Error::InvalidKey),
                CoapCode::INTERNAL_SERVER_ERROR
            ),
            (Error::Misuse("x"), CoapCode::INTERNAL_SERVER_ERROR),
        ];
        for (e, code) in all {
            assert_eq!(e.coap_code(), code, "{e}");
        }
        assert_eq!(alloc::format!("{}", CoapCode::UNAUTHORIZED), "4.01");
    }

    #[test]
    fn cose_errors_map_to_decode_errors() {
        assert_eq!(
            DecodeError::from(CoseError::DuplicateMapKey),
            DecodeError::DuplicateKey
        );
        assert_eq!(
            DecodeError::from(CoseError::OutOfRangeIntegerValue),
            DecodeError::IntegerOutOfRange
        );
    }
}
