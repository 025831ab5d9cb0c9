//! Code points this crate owns or matches on, each with its source.
//!
//! COSE algorithms, header labels and key parameters come from [`coset::iana`] and are not
//! copied here.

/// CWT claim keys (IANA "CBOR Web Token (CWT) Claims").
pub mod claim {
    /// `iss`, RFC 8392 §3.1.1.
    pub const ISS: i64 = 1;
    /// `sub`, RFC 8392 §3.1.2.
    pub const SUB: i64 = 2;
    /// `aud`, RFC 8392 §3.1.3.
    pub const AUD: i64 = 3;
    /// `exp`, RFC 8392 §3.1.4.
    pub const EXP: i64 = 4;
    /// `nbf`, RFC 8392 §3.1.5.
    pub const NBF: i64 = 5;
    /// `iat`, RFC 8392 §3.1.6.
    pub const IAT: i64 = 6;
    /// `cti`, RFC 8392 §3.1.7.
    pub const CTI: i64 = 7;
    /// `cnf`, RFC 8747 §3.1.
    pub const CNF: i64 = 8;
    /// `scope`, RFC 9200 §5.8.1 and §8.14 (text or byte string; AIF bytes per RFC 9237).
    pub const SCOPE: i64 = 9;
    /// `ace_profile`, RFC 9200 §5.8.2 and §8.14.
    pub const ACE_PROFILE: i64 = 38;
    /// `cnonce`, RFC 9200 §5.3.1 and §8.14.
    pub const CNONCE: i64 = 39;
    /// `exi`, RFC 9200 §5.10.3 and §8.14.
    pub const EXI: i64 = 40;
}

/// CWT confirmation methods (IANA "CWT Confirmation Methods").
pub mod cnf {
    /// `COSE_Key`, RFC 8747 §3.2.
    pub const COSE_KEY: i64 = 1;
    /// `Encrypted_COSE_Key`, RFC 8747 §3.3.
    pub const ENCRYPTED_COSE_KEY: i64 = 2;
    /// `kid`, RFC 8747 §3.4.
    pub const KID: i64 = 3;
    /// `osc` (OSCORE_Input_Material), RFC 9203 §9.5.
    pub const OSC: i64 = 4;
}

/// OSCORE_Input_Material labels, RFC 9203 §3.2.1, Table 1 (IANA "OSCORE Security Context
/// Parameters").
pub mod osc {
    /// `id`: identifier of the input material (bstr).
    pub const ID: i64 = 0;
    /// `version`: OSCORE version (uint).
    pub const VERSION: i64 = 1;
    /// `ms`: Master Secret (bstr).
    pub const MS: i64 = 2;
    /// `hkdf`: HKDF algorithm (tstr / int).
    pub const HKDF: i64 = 3;
    /// `alg`: AEAD algorithm (tstr / int).
    pub const ALG: i64 = 4;
    /// `salt`: input to the Master Salt (bstr).
    pub const SALT: i64 = 5;
    /// `contextId`: OSCORE ID Context (bstr).
    pub const CONTEXT_ID: i64 = 6;
}

/// ACE profile identifiers (IANA "ACE Profile").
pub mod profile {
    /// `coap_dtls`, RFC 9202 §9.
    pub const COAP_DTLS: i64 = 1;
    /// `coap_oscore`, RFC 9203 §9.1.
    pub const COAP_OSCORE: i64 = 2;
    /// `mqtt_tls`, RFC 9431 §8 (IANA value 3; the RFC text says "to be assigned").
    pub const MQTT_TLS: i64 = 3;
    /// `coap_edhoc_oscore` (suggested, draft-ietf-ace-edhoc-oscore-profile).
    pub const COAP_EDHOC_OSCORE: i64 = 4;
    /// `coap_group_oscore` (suggested, draft-ietf-ace-group-oscore-profile).
    pub const COAP_GROUP_OSCORE: i64 = 5;

    /// The profile names used in JSON (RFC 9200 §5.8.4.3: text in JSON, the integer in CBOR).
    pub const NAMES: &[(&str, i64)] = &[
        ("coap_dtls", COAP_DTLS),
        ("coap_oscore", COAP_OSCORE),
        ("mqtt_tls", MQTT_TLS),
        ("coap_edhoc_oscore", COAP_EDHOC_OSCORE),
        ("coap_group_oscore", COAP_GROUP_OSCORE),
    ];
}

/// CBOR tags.
pub mod tag {
    /// CWT, RFC 8392 §6.
    pub const CWT: u64 = 61;
    /// COSE_Encrypt0, RFC 9052 §2.
    pub const COSE_ENCRYPT0: u64 = 16;
    /// COSE_Mac0, RFC 9052 §2.
    pub const COSE_MAC0: u64 = 17;
    /// COSE_Sign1, RFC 9052 §2.
    pub const COSE_SIGN1: u64 = 18;
    /// COSE_Encrypt (multi-recipient; recognised, not supported), RFC 9052 §2.
    pub const COSE_ENCRYPT: u64 = 96;
    /// COSE_Mac (multi-recipient; recognised, not supported), RFC 9052 §2.
    pub const COSE_MAC: u64 = 97;
    /// COSE_Sign (multi-signer; recognised, not supported), RFC 9052 §2.
    pub const COSE_SIGN: u64 = 98;
}

/// CoAP Content-Formats relevant to tokens.
pub mod content_format {
    /// `application/cwt`, RFC 8392 §9.3; the `/authz-info` payload format (RFC 9200 §5.10.1).
    pub const CWT: u16 = 61;
    /// `application/octet-stream`, for non-CWT tokens at `/authz-info` (RFC 9200 §5.10.1).
    pub const OCTET_STREAM: u16 = 42;
}

/// Defaults of [`Policy`](crate::Policy).
pub mod defaults {
    /// Largest token accepted, in bytes. RFC 9200 does not set one; tokens in the RFCs are
    /// below 300 bytes and CoAP requests fit in ~1 KiB without block-wise transfer.
    pub const MAX_TOKEN_SIZE: usize = 4096;
    /// Allowed clock skew in seconds for `exp` and `nbf` (RFC 7519 §4.1.4: "some small leeway").
    pub const CLOCK_SKEW: u64 = 60;
    /// COSE layers accepted: an Encrypt0 around a Sign1/Mac0 (RFC 8392 §7.1 nesting).
    pub const MAX_NESTING: u8 = 2;
}
