//! Code points of RFC 9770 (and the registries it uses), one submodule per table.
//!
//! Section names refer to RFC 9770 (= the final text of
//! draft-ietf-ace-revoked-token-notification in `shared/specs/latest/`).

/// CoAP Content-Formats.
pub mod content_format {
    /// `application/ace-trl+cbor`: every success response of the TRL endpoint
    /// (RFC 9770 §"CoAP Content-Formats Registry").
    pub const ACE_TRL_CBOR: u16 = 262;
    /// `application/concise-problem-details+cbor`: TRL error responses
    /// (RFC 9290; RFC 9770 §"Error Responses with Problem Details").
    pub const CONCISE_PROBLEM_DETAILS_CBOR: u16 = 257;
}

/// ACE Token Revocation List Parameters: CBOR keys of the response payload map
/// (RFC 9770 §"ACE Token Revocation List Parameters", Table "CBOR abbreviations").
pub mod param {
    /// `full_set`: array of token hashes (full query response).
    pub const FULL_SET: u64 = 0;
    /// `diff_set`: array of diff entries (diff query response).
    pub const DIFF_SET: u64 = 1;
    /// `cursor`: null or unsigned integer ("Cursor" extension).
    pub const CURSOR: u64 = 2;
    /// `more`: true or false ("Cursor" extension).
    pub const MORE: u64 = 3;
}

/// Query parameters of a GET to the TRL endpoint (RFC 9770 §"Query Parameters").
pub mod query {
    /// `diff`: asks for a diff query; value 0 or a positive integer.
    pub const DIFF: &str = "diff";
    /// `cursor`: "Cursor" extension reference point; requires `diff`.
    pub const CURSOR: &str = "cursor";
}

/// ACE Token Revocation List Errors: the `error-id` values
/// (RFC 9770 §"ACE Token Revocation List Error Identifiers").
pub mod error_id {
    /// Invalid parameter value.
    pub const INVALID_PARAMETER_VALUE: i64 = 0;
    /// Invalid set of parameters.
    pub const INVALID_SET_OF_PARAMETERS: i64 = 1;
    /// Out of bound cursor value.
    pub const OUT_OF_BOUND_CURSOR_VALUE: i64 = 2;
}

/// Concise Problem Details (RFC 9290) keys used by TRL error responses.
pub mod problem {
    /// Standard Problem Detail `title` (RFC 9290 §2).
    pub const TITLE: i64 = -1;
    /// Standard Problem Detail `detail` (RFC 9290 §2); the AS SHOULD log it.
    pub const DETAIL: i64 = -2;
    /// Custom Problem Detail `ace-trl-error` (RFC 9770 §"Custom Problem Detail Keys Registry").
    pub const ACE_TRL_ERROR: i64 = 1;
    /// `error-id` inside `ace-trl-error` (RFC 9770 §"Error Responses with Problem Details").
    pub const ERROR_ID: u64 = 0;
    /// `cursor` inside `ace-trl-error`.
    pub const CURSOR: u64 = 1;
}

/// Named Information Hash Algorithm Registry suite IDs (RFC 6920 §9.4 and the IANA registry);
/// the first byte of a token hash (RFC 9770 §"Computing the Token Hash").
pub mod hash_alg {
    /// `sha-256`, mandatory to implement (RFC 9770 §"Computing the Token Hash", RFC 6920 §2).
    pub const SHA_256: u8 = 1;
    /// `sha-384` (IANA Named Information Hash Algorithm Registry).
    pub const SHA_384: u8 = 7;
    /// `sha-512` (IANA Named Information Hash Algorithm Registry).
    pub const SHA_512: u8 = 8;
}

/// CoAP codes the TRL endpoint answers with (RFC 7252 §12.1), as `class << 5 | detail`.
pub mod code {
    /// GET (0.01), the only method of the TRL endpoint (RFC 9770 §"The TRL Endpoint").
    pub const GET: u8 = 0x01;
    /// 2.05 Content.
    pub const CONTENT: u8 = 0x45;
    /// 4.00 Bad Request (problem details).
    pub const BAD_REQUEST: u8 = 0x80;
    /// 4.01 Unauthorized: the request was not authenticated (our pick, digest C.4 item 4).
    pub const UNAUTHORIZED: u8 = 0x81;
    /// 4.03 Forbidden: neither a registered device nor an administrator (our pick).
    pub const FORBIDDEN: u8 = 0x83;
    /// 4.05 Method Not Allowed: anything but GET.
    pub const METHOD_NOT_ALLOWED: u8 = 0x85;
}

/// The default url-path of the TRL endpoint (RFC 9770 §"Terminology").
pub const DEFAULT_TRL_PATH: &str = "/revoke/trl";

/// Default MAX_N (digest C.4 item 6: the value of the RFC's examples).
pub const DEFAULT_MAX_N: usize = 10;
/// Default MAX_DIFF_BATCH (the value of the RFC's "Cursor" examples).
pub const DEFAULT_MAX_DIFF_BATCH: usize = 5;
/// Default MAX_INDEX = 2^32 - 1 (RECOMMENDED lower bound, RFC 9770 §"Supporting the
/// \"Cursor\" Extension").
pub const DEFAULT_MAX_INDEX: u64 = u32::MAX as u64;

/// Registration response parameter names. Project-local: RFC 9770 leaves registration out
/// of scope; these are the names its examples use (digest C.4 item 10, not interoperable).
pub mod registration {
    /// url-path of the TRL endpoint.
    pub const TRL_PATH: &str = "trl_path";
    /// Hash Name String of the hash function.
    pub const TRL_HASH: &str = "trl_hash";
    /// MAX_N.
    pub const MAX_N: &str = "max_n";
    /// MAX_DIFF_BATCH.
    pub const MAX_DIFF_BATCH: &str = "max_diff_batch";
}
