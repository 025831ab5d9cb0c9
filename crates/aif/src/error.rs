//! Errors of the crate: one [`Error`] for decoding and encoding whole AIF values, one
//! [`ElementError`] that element types ([`crate::AifElement`]) report, and [`TopicError`] for
//! MQTT topic names and filters.
//!
//! Every check a decoder makes has its own [`Error`] variant, so a caller can match the cause
//! (and a test can prove which check fired). Nothing here holds a third-party type.

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Which half of an AIF entry `[Toid, Tperm]` an element error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Position {
    /// The object identifier (first element of the pair).
    Toid,
    /// The permission set (second element of the pair).
    Tperm,
}

/// Why decoding or encoding an AIF value failed.
///
/// `index` fields count entries of the top-level array from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is longer than [`crate::DecodeLimits::max_bytes`]; nothing was parsed.
    #[error("input of {len} bytes exceeds the limit of {max} bytes")]
    InputTooLarge {
        /// Length of the input.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The top-level array has more entries than [`crate::DecodeLimits::max_entries`].
    #[error("more than {max} AIF entries")]
    TooManyEntries {
        /// The configured limit.
        max: usize,
    },
    /// Arrays, maps or tags are nested deeper than [`crate::DecodeLimits::max_depth`].
    #[error("nesting deeper than {max} levels")]
    NestingTooDeep {
        /// The effective limit.
        max: usize,
    },
    /// The input ends in the middle of a data item.
    #[error("input ends in the middle of a data item")]
    Truncated,
    /// The input is not well-formed CBOR (RFC 8949), or uses an item the decoder refuses
    /// (invalid UTF-8 in a text string, an unassigned simple value, an oversized bignum).
    #[error("malformed CBOR (offset {offset:?})")]
    MalformedCbor {
        /// Byte offset of the problem, when the parser reports one.
        offset: Option<usize>,
    },
    /// The input is not well-formed JSON (RFC 8259).
    #[error("malformed JSON at line {line}, column {column}")]
    MalformedJson {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
    /// Bytes follow the AIF data item (RFC 9237 §2, Figure 1: one array, nothing else).
    #[error("{count} trailing bytes after the AIF value at offset {offset}")]
    TrailingBytes {
        /// Offset of the first byte after the AIF value.
        offset: usize,
        /// Number of bytes after the AIF value.
        count: usize,
    },
    /// The top-level item is not an array (RFC 9237 §2, Figure 1).
    #[error("the AIF value is not an array")]
    NotAnArray,
    /// An entry is not an array of exactly two elements `[Toid, Tperm]`.
    #[error("entry {index} is not a [Toid, Tperm] pair")]
    EntryNotPair {
        /// Entry index.
        index: usize,
    },
    /// The Toid has the wrong data type (e.g. not a text string).
    #[error("entry {index}: Toid has the wrong type")]
    ToidType {
        /// Entry index.
        index: usize,
    },
    /// The Tperm has the wrong data type (e.g. negative, float, byte string, tagged).
    #[error("entry {index}: Tperm has the wrong type")]
    TpermType {
        /// Entry index.
        index: usize,
    },
    /// A REST Toid does not start with `/` (RFC 9237 §2.1: URI-local-part is an absolute path).
    #[error("entry {index}: the URI-local-part does not start with '/'")]
    ToidNotAbsolute {
        /// Entry index.
        index: usize,
    },
    /// An MQTT Toid is not a valid topic filter (MQTT v5 §4.7).
    #[error("entry {index}: invalid MQTT topic filter: {reason}")]
    InvalidTopicFilter {
        /// Entry index.
        index: usize,
        /// What is wrong with the filter.
        reason: TopicError,
    },
    /// A REST-method-set has bits that name no method (bits 7..=31 and 39..=63,
    /// RFC 9237 §3 Figure 4); RFC 9237 §6 forbids reading them as grants.
    #[error("entry {index}: unknown method bits {bits:#x}")]
    UnknownMethodBits {
        /// Entry index.
        index: usize,
        /// The unknown bits only.
        bits: u64,
    },
    /// A permission array that must be non-empty is empty (RFC 9431 §2.3: `[+permission]`).
    #[error("entry {index}: empty permission array")]
    EmptyPermissions {
        /// Entry index.
        index: usize,
    },
    /// A permission name is not one the instance defines (RFC 9431: only `"pub"` and `"sub"`).
    #[error("entry {index}: unknown permission")]
    UnknownPermission {
        /// Entry index.
        index: usize,
    },
    /// The same permission name appears twice in one permission array.
    #[error("entry {index}: permission listed twice")]
    DuplicatePermission {
        /// Entry index.
        index: usize,
    },
    /// Two entries have the same Toid. A received AIF value must list each object once
    /// (see the crate README; [`crate::Aif::canonical`] merges values built in code).
    #[error("entry {index} repeats the Toid of entry {first}")]
    DuplicateToid {
        /// Index of the repeated entry.
        index: usize,
        /// Index of the first entry with that Toid.
        first: usize,
    },
    /// An integer is above 2^53 - 1, which I-JSON (RFC 7493 §2.2) cannot carry exactly
    /// (RFC 9237 §3, note on Dynamic-Offset). Reported by the JSON decoder and encoder.
    #[error("entry {index}: integer above 2^53-1 in JSON")]
    JsonIntegerTooLarge {
        /// Entry index.
        index: usize,
    },
    /// A Toid failed a check that an element type outside this crate defines.
    #[error("entry {index}: invalid Toid: {reason}")]
    InvalidToid {
        /// Entry index.
        index: usize,
        /// The element type's explanation.
        reason: &'static str,
    },
    /// A Tperm failed a check that an element type outside this crate defines.
    #[error("entry {index}: invalid Tperm: {reason}")]
    InvalidTperm {
        /// Entry index.
        index: usize,
        /// The element type's explanation.
        reason: &'static str,
    },
    /// The CBOR encoder failed. Writing to a `Vec` cannot fail, so this is not expected.
    #[error("CBOR encoding failed")]
    CborEncode,
    /// The JSON encoder failed. Our items only hold numbers, strings and arrays, so this is
    /// not expected.
    #[error("JSON encoding failed")]
    JsonEncode,
}

impl Error {
    /// Attaches the entry index and position to an [`ElementError`].
    #[must_use]
    pub fn from_element(index: usize, position: Position, error: ElementError) -> Self {
        match (error, position) {
            (ElementError::WrongType, Position::Toid) => Error::ToidType { index },
            (ElementError::WrongType, Position::Tperm) => Error::TpermType { index },
            (ElementError::NotAbsolute, _) => Error::ToidNotAbsolute { index },
            (ElementError::Topic(reason), _) => Error::InvalidTopicFilter { index, reason },
            (ElementError::UnknownBits(bits), _) => Error::UnknownMethodBits { index, bits },
            (ElementError::EmptyPermissions, _) => Error::EmptyPermissions { index },
            (ElementError::UnknownPermission, _) => Error::UnknownPermission { index },
            (ElementError::DuplicatePermission, _) => Error::DuplicatePermission { index },
            (ElementError::Invalid(reason), Position::Toid) => Error::InvalidToid { index, reason },
            (ElementError::Invalid(reason), Position::Tperm) => {
                Error::InvalidTperm { index, reason }
            }
        }
    }
}

/// Why one element (a Toid or a Tperm) was refused. [`Error::from_element`] turns it into an
/// [`Error`] with the entry index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ElementError {
    /// The element has the wrong data type.
    #[error("wrong data type")]
    WrongType,
    /// A URI-local-part that does not start with `/`.
    #[error("URI-local-part does not start with '/'")]
    NotAbsolute,
    /// An invalid MQTT topic filter.
    #[error("invalid topic filter: {0}")]
    Topic(TopicError),
    /// Bits that name nothing in the permission model (only the unknown bits).
    #[error("unknown permission bits {0:#x}")]
    UnknownBits(u64),
    /// A permission array that must be non-empty is empty.
    #[error("empty permission array")]
    EmptyPermissions,
    /// An unknown permission name.
    #[error("unknown permission")]
    UnknownPermission,
    /// A permission name listed twice.
    #[error("permission listed twice")]
    DuplicatePermission,
    /// Any other check of an element type defined outside this crate.
    #[error("{0}")]
    Invalid(&'static str),
}

/// Why a string is not a valid MQTT Topic Name or Topic Filter (MQTT v5 §4.7, §1.5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Empty string (MQTT v5 §4.7.3: at least one character).
    #[error("empty topic")]
    Empty,
    /// Longer than 65 535 bytes (MQTT v5 §1.5.4).
    #[error("topic longer than 65535 bytes")]
    TooLong,
    /// Contains U+0000 (MQTT v5 §4.7.3).
    #[error("topic contains U+0000")]
    NullCharacter,
    /// A Topic Name with `+` or `#` (MQTT v5 §4.7.1: wildcards only in Topic Filters).
    #[error("wildcard in a topic name")]
    WildcardInTopicName,
    /// `#` that is not a whole level or not the last level (MQTT v5 §4.7.1.2).
    #[error("'#' must be a whole level and the last one")]
    MisplacedMultiLevelWildcard,
    /// `+` that does not occupy a whole level (MQTT v5 §4.7.1.3).
    #[error("'+' must occupy a whole level")]
    MisplacedSingleLevelWildcard,
    /// A `$share/` filter without a valid ShareName or without a filter after it
    /// (MQTT v5 §4.8.2).
    #[error("invalid shared subscription")]
    InvalidSharedSubscription,
}
