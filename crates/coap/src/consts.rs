//! Code points used by this crate: option numbers, Content-Format numbers and
//! the default transmission parameters.
//!
//! Message codes live on [`crate::Code`] (an open newtype with associated
//! constants, so unknown codes round-trip).

/// CoAP option numbers (IANA "CoAP Option Numbers" registry).
pub mod option {
    /// If-Match. RFC 7252 §5.10.8.1.
    pub const IF_MATCH: u16 = 1;
    /// Uri-Host. RFC 7252 §5.10.1.
    pub const URI_HOST: u16 = 3;
    /// ETag. RFC 7252 §5.10.6.
    pub const ETAG: u16 = 4;
    /// If-None-Match. RFC 7252 §5.10.8.2.
    pub const IF_NONE_MATCH: u16 = 5;
    /// Observe. RFC 7641 §2.
    pub const OBSERVE: u16 = 6;
    /// Uri-Port. RFC 7252 §5.10.1.
    pub const URI_PORT: u16 = 7;
    /// Location-Path. RFC 7252 §5.10.7.
    pub const LOCATION_PATH: u16 = 8;
    /// OSCORE. RFC 8613 §2.
    pub const OSCORE: u16 = 9;
    /// Uri-Path. RFC 7252 §5.10.1.
    pub const URI_PATH: u16 = 11;
    /// Content-Format. RFC 7252 §5.10.3.
    pub const CONTENT_FORMAT: u16 = 12;
    /// Max-Age. RFC 7252 §5.10.5.
    pub const MAX_AGE: u16 = 14;
    /// Uri-Query. RFC 7252 §5.10.1.
    pub const URI_QUERY: u16 = 15;
    /// Hop-Limit. RFC 8768 §3.
    pub const HOP_LIMIT: u16 = 16;
    /// Accept. RFC 7252 §5.10.4.
    pub const ACCEPT: u16 = 17;
    /// Q-Block1. RFC 9177 §4.
    pub const Q_BLOCK1: u16 = 19;
    /// Location-Query. RFC 7252 §5.10.7.
    pub const LOCATION_QUERY: u16 = 20;
    /// EDHOC. RFC 9668 §3.1.
    pub const EDHOC: u16 = 21;
    /// Block2. RFC 7959 §2.1.
    pub const BLOCK2: u16 = 23;
    /// Block1. RFC 7959 §2.1.
    pub const BLOCK1: u16 = 27;
    /// Size2. RFC 7959 §4.
    pub const SIZE2: u16 = 28;
    /// Q-Block2. RFC 9177 §4.
    pub const Q_BLOCK2: u16 = 31;
    /// Proxy-Uri. RFC 7252 §5.10.2.
    pub const PROXY_URI: u16 = 35;
    /// Proxy-Scheme. RFC 7252 §5.10.2.
    pub const PROXY_SCHEME: u16 = 39;
    /// Size1. RFC 7252 §5.10.9, RFC 7959 §4.
    pub const SIZE1: u16 = 60;
    /// Echo. RFC 9175 §2.2.
    pub const ECHO: u16 = 252;
    /// No-Response. RFC 7967 §2.
    pub const NO_RESPONSE: u16 = 258;
    /// Request-Tag. RFC 9175 §3.2.
    pub const REQUEST_TAG: u16 = 292;

    /// Options this crate (or a security layer in front of it) recognizes.
    /// A request carrying an unrecognized *critical* (odd-numbered) option is
    /// answered with 4.02 Bad Option (RFC 7252 §5.4.1).
    pub const RECOGNIZED: &[u16] = &[
        IF_MATCH,
        URI_HOST,
        ETAG,
        IF_NONE_MATCH,
        OBSERVE,
        URI_PORT,
        LOCATION_PATH,
        URI_PATH,
        CONTENT_FORMAT,
        MAX_AGE,
        URI_QUERY,
        HOP_LIMIT,
        ACCEPT,
        LOCATION_QUERY,
        BLOCK2,
        BLOCK1,
        SIZE2,
        PROXY_URI,
        PROXY_SCHEME,
        SIZE1,
        ECHO,
        NO_RESPONSE,
        REQUEST_TAG,
    ];

    /// Whether an option number is critical (odd). RFC 7252 §5.4.6.
    #[must_use]
    pub const fn is_critical(number: u16) -> bool {
        number & 1 == 1
    }
}

/// CoAP Content-Format numbers (IANA "CoAP Content-Formats" registry).
pub mod content_format {
    /// text/plain; charset=utf-8. RFC 7252 §12.3.
    pub const TEXT_PLAIN: u16 = 0;
    /// application/ace+cbor. RFC 9200 §8.16.
    pub const ACE_CBOR: u16 = 19;
    /// application/link-format. RFC 6690 §7.3.
    pub const LINK_FORMAT: u16 = 40;
    /// application/octet-stream. RFC 7252 §12.3.
    pub const OCTET_STREAM: u16 = 42;
    /// application/json. RFC 7252 §12.3.
    pub const JSON: u16 = 50;
    /// application/cbor. RFC 8949 §9.5.
    pub const CBOR: u16 = 60;
    /// application/concise-problem-details+cbor. RFC 9290 §6.3.
    pub const CONCISE_PROBLEM_DETAILS_CBOR: u16 = 257;
    /// application/pkixcmp. RFC 9482 §5.
    pub const PKIXCMP: u16 = 259;
    /// application/ace-groupcomm+cbor. RFC 9594 §11.2.
    pub const ACE_GROUPCOMM_CBOR: u16 = 261;
    /// application/ace-trl+cbor. RFC 9770 §13.2.
    pub const ACE_TRL_CBOR: u16 = 262;
    /// application/aif+cbor. RFC 9237 §5.2.
    pub const AIF_CBOR: u16 = 290;
}

/// Default transmission parameters. RFC 7252 §4.8.
pub mod transmission {
    use core::time::Duration;

    /// ACK_TIMEOUT.
    pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);
    /// ACK_RANDOM_FACTOR.
    pub const ACK_RANDOM_FACTOR: f64 = 1.5;
    /// MAX_RETRANSMIT.
    pub const MAX_RETRANSMIT: u32 = 4;
    /// NSTART.
    pub const NSTART: usize = 1;
    /// MAX_LATENCY. RFC 7252 §4.8.2.
    pub const MAX_LATENCY: Duration = Duration::from_secs(100);
}

/// Largest Observe sequence number + 1 (24 bits). RFC 7641 §4.4.
pub const OBSERVE_SEQUENCE_MODULUS: u32 = 1 << 24;
