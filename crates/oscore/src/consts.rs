//! Code points and fixed values of RFC 8613 (and the RFC 9175 Echo option OSCORE uses).

/// CoAP option numbers OSCORE treats specially (RFC 7252 §5.10, RFC 8613 Figure 5).
pub mod option {
    /// If-Match (RFC 7252 §5.10.8.1). Class E.
    pub const IF_MATCH: u16 = 1;
    /// Uri-Host (RFC 7252 §5.10.1). Class U.
    pub const URI_HOST: u16 = 3;
    /// ETag (RFC 7252 §5.10.6). Class E.
    pub const ETAG: u16 = 4;
    /// If-None-Match (RFC 7252 §5.10.8.2). Class E.
    pub const IF_NONE_MATCH: u16 = 5;
    /// Observe (RFC 7641 §2). Class E and U (RFC 8613 §4.1.3.5).
    pub const OBSERVE: u16 = 6;
    /// Uri-Port (RFC 7252 §5.10.1). Class U.
    pub const URI_PORT: u16 = 7;
    /// Location-Path (RFC 7252 §5.10.7). Class E.
    pub const LOCATION_PATH: u16 = 8;
    /// OSCORE (RFC 8613 §2, §12.2). Class U.
    pub const OSCORE: u16 = 9;
    /// Uri-Path (RFC 7252 §5.10.1). Class E.
    pub const URI_PATH: u16 = 11;
    /// Content-Format (RFC 7252 §5.10.3). Class E.
    pub const CONTENT_FORMAT: u16 = 12;
    /// Max-Age (RFC 7252 §5.10.5). Class E (the Outer Max-Age of §4.1.3.1 is not produced).
    pub const MAX_AGE: u16 = 14;
    /// Uri-Query (RFC 7252 §5.10.1). Class E.
    pub const URI_QUERY: u16 = 15;
    /// Accept (RFC 7252 §5.10.4). Class E.
    pub const ACCEPT: u16 = 17;
    /// Location-Query (RFC 7252 §5.10.7). Class E.
    pub const LOCATION_QUERY: u16 = 20;
    /// Block2 (RFC 7959 §2.1). Inner (E) when the endpoint fragments; Outer when a proxy does.
    pub const BLOCK2: u16 = 23;
    /// Block1 (RFC 7959 §2.1). Inner (E) when the endpoint fragments; Outer when a proxy does.
    pub const BLOCK1: u16 = 27;
    /// Size2 (RFC 7959 §4). Inner (E) like Block2.
    pub const SIZE2: u16 = 28;
    /// Proxy-Uri (RFC 7252 §5.10.2). Class U after decomposition (RFC 8613 §4.1.3.3).
    pub const PROXY_URI: u16 = 35;
    /// Proxy-Scheme (RFC 7252 §5.10.2). Class U.
    pub const PROXY_SCHEME: u16 = 39;
    /// Size1 (RFC 7252 §5.10.9). Inner (E) like Block1.
    pub const SIZE1: u16 = 60;
    /// Echo (RFC 9175 §2.2.1). Class E (RFC 9175 §2.3).
    pub const ECHO: u16 = 252;
    /// No-Response (RFC 7967). Inner (RFC 8613 §4.1.3.6).
    pub const NO_RESPONSE: u16 = 258;
    /// Request-Tag (RFC 9175 §3.2.1). Class E (RFC 9175 §3.3).
    pub const REQUEST_TAG: u16 = 292;
}

/// CoAP codes OSCORE writes or answers with (RFC 7252 §12.1), as `class << 5 | detail`.
pub mod code {
    /// 0.01 GET.
    pub const GET: u8 = 0x01;
    /// 0.02 POST: the Outer Code of requests (RFC 8613 §4.2).
    pub const POST: u8 = 0x02;
    /// 0.05 FETCH: the Outer Code of requests with Observe (RFC 8613 §4.1.3.5).
    pub const FETCH: u8 = 0x05;
    /// 2.04 Changed: the Outer Code of responses (RFC 8613 §4.2).
    pub const CHANGED: u8 = 0x44;
    /// 2.05 Content: the Outer Code of responses with Observe (RFC 8613 §4.1.3.5).
    pub const CONTENT: u8 = 0x45;
    /// 4.00 Bad Request: decryption failed (RFC 8613 §8.2 step 6).
    pub const BAD_REQUEST: u8 = 0x80;
    /// 4.01 Unauthorized: context not found, replay (RFC 8613 §8.2, §7.4), Echo challenge
    /// (RFC 8613 Appendix B.1.2).
    pub const UNAUTHORIZED: u8 = 0x81;
    /// 4.02 Bad Option: COSE decoding failed (RFC 8613 §8.2 step 2).
    pub const BAD_OPTION: u8 = 0x82;
    /// 5.00 Internal Server Error: a local failure (e.g. the sequence number space is used up).
    pub const INTERNAL_SERVER_ERROR: u8 = 0xA0;
    /// 5.05 Proxying Not Supported: Proxy-Uri decomposition is not implemented.
    pub const PROXYING_NOT_SUPPORTED: u8 = 0xA5;
}

/// Diagnostic payloads RFC 8613 §7.4 and §8.2 name.
pub mod diagnostic {
    /// RFC 8613 §8.2 step 2, first bullet.
    pub const FAILED_TO_DECODE_COSE: &str = "Failed to decode COSE";
    /// RFC 8613 §8.2 step 2, second bullet.
    pub const SECURITY_CONTEXT_NOT_FOUND: &str = "Security context not found";
    /// RFC 8613 §8.2 step 6.
    pub const DECRYPTION_FAILED: &str = "Decryption failed";
    /// RFC 8613 §7.4.
    pub const REPLAY_DETECTED: &str = "Replay detected";
}

/// Key derivation inputs (RFC 8613 §3.2.1).
pub mod hkdf {
    /// `type` of the `info` array for the Sender and Recipient Keys.
    pub const LABEL_KEY: &str = "Key";
    /// `type` of the `info` array for the Common IV.
    pub const LABEL_IV: &str = "IV";
}

/// Sizes and limits.
pub mod limits {
    /// The largest Sender Sequence Number: 2^40 - 1 (RFC 8613 §7.2.1, 5-byte Partial IV).
    pub const MAX_SEQUENCE_NUMBER: u64 = (1 << 40) - 1;
    /// The longest Partial IV in bytes (RFC 8613 §6.1: n = 6 and 7 are reserved).
    pub const MAX_PARTIAL_IV_LEN: usize = 5;
    /// The replay window size in bits (RFC 8613 §3.2.2 default is 32; we keep 64).
    pub const REPLAY_WINDOW_SIZE: u64 = 64;
    /// Default K of RFC 8613 Appendix B.1.1: sequence numbers reserved per persisted write.
    pub const DEFAULT_RESERVATION_BLOCK: u64 = 64;
    /// Length of the Echo challenge this crate issues (RFC 9175 §2.2.1 allows 1..=40).
    pub const ECHO_LEN: usize = 8;
}

/// The OSCORE option flag bits (RFC 8613 §6.1, Figure 10).
pub mod flags {
    /// Mask of `n`, the Partial IV length.
    pub const PIV_LEN_MASK: u8 = 0x07;
    /// `k`: a kid is present.
    pub const KID: u8 = 0x08;
    /// `h`: a kid context is present.
    pub const KID_CONTEXT: u8 = 0x10;
    /// Reserved bits (bit 0 is the extension flag, bits 1-2 unassigned in RFC 8613).
    pub const RESERVED: u8 = 0xE0;
}

/// The OSCORE version in the AAD (RFC 8613 §5.4).
pub const OSCORE_VERSION: u8 = 1;

/// Default AEAD algorithm: AES-CCM-16-64-128 (RFC 8613 §3.2).
pub const DEFAULT_AEAD: coset::iana::Algorithm = coset::iana::Algorithm::AES_CCM_16_64_128;
/// Default HKDF: HKDF-SHA-256, identified as `HMAC 256/256` (RFC 8613 §3.2).
pub const DEFAULT_HKDF: coset::iana::Algorithm = coset::iana::Algorithm::HMAC_256_256;
