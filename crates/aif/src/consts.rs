//! Code points and names of AIF and its instances, one submodule per registry or spec table.
//! Each constant cites the section that defines it; draft-only values say so.

/// Dynamic-Offset: Dynamic-X is the bit of method X plus 32 (RFC 9237 §3, Figure 4;
/// `Dynamic-Offset = 32` in the RFC 9237 CDDL).
pub const DYNAMIC_OFFSET: u32 = 32;

/// CoAP Content-Formats ("CoAP Content-Formats" registry).
pub mod content_format {
    /// `application/aif+cbor` (RFC 9237 §5.3).
    pub const AIF_CBOR: u16 = 290;
    /// `application/aif+json` (RFC 9237 §5.3).
    pub const AIF_JSON: u16 = 291;
}

/// Media types and their `Toid` / `Tperm` parameters.
pub mod media_type {
    /// Media type of CBOR-encoded AIF (RFC 9237 §5.1).
    pub const AIF_CBOR: &str = "application/aif+cbor";
    /// Media type of JSON-encoded AIF (RFC 9237 §5.1).
    pub const AIF_JSON: &str = "application/aif+json";
    /// Name of the object-identifier parameter (RFC 9237 §4, §5.1).
    pub const PARAM_TOID: &str = "Toid";
    /// Name of the permission-set parameter (RFC 9237 §4, §5.1).
    pub const PARAM_TPERM: &str = "Tperm";
    /// Default `Toid`: the URI local part (RFC 9237 §4, §5.2).
    pub const TOID_URI_LOCAL_PART: &str = "URI-local-part";
    /// Default `Tperm`: the REST method bit set (RFC 9237 §4, §5.2).
    pub const TPERM_REST_METHOD_SET: &str = "REST-method-set";
    /// `Toid` of AIF-MQTT: an MQTT topic filter (RFC 9431 §2.3, registered in §7.4).
    pub const TOID_MQTT_TOPIC_FILTER: &str = "mqtt-topic-filter";
    /// `Tperm` of AIF-MQTT: an array of `"pub"`/`"sub"` (RFC 9431 §2.3, registered in §7.4).
    pub const TPERM_MQTT_PERMISSIONS: &str = "mqtt-permissions";
    /// `Toid` of AIF-OSCORE-GROUPCOMM: an OSCORE group name
    /// (draft-ietf-ace-key-groupcomm-oscore, §3 and "AIF Media-Type Sub-Parameters"; draft).
    pub const TOID_OSCORE_GNAME: &str = "oscore-gname";
    /// `Tperm` of AIF-OSCORE-GROUPCOMM: a Group OSCORE role bit set
    /// (draft-ietf-ace-key-groupcomm-oscore, §3 and "AIF Media-Type Sub-Parameters"; draft).
    pub const TPERM_OSCORE_GPERM: &str = "oscore-gperm";
}

/// CoAP method codes 0.01..=0.07 as the detail of code class 0 (RFC 7252 §12.1.1, RFC 8132
/// §6). RFC 9237 §3 puts method code `c` at bit `c - 1` of a REST-method-set.
pub mod method_code {
    /// GET, 0.01 (RFC 7252 §5.8.1).
    pub const GET: u8 = 1;
    /// POST, 0.02 (RFC 7252 §5.8.2).
    pub const POST: u8 = 2;
    /// PUT, 0.03 (RFC 7252 §5.8.3).
    pub const PUT: u8 = 3;
    /// DELETE, 0.04 (RFC 7252 §5.8.4).
    pub const DELETE: u8 = 4;
    /// FETCH, 0.05 (RFC 8132 §2).
    pub const FETCH: u8 = 5;
    /// PATCH, 0.06 (RFC 8132 §3).
    pub const PATCH: u8 = 6;
    /// iPATCH, 0.07 (RFC 8132 §3).
    pub const IPATCH: u8 = 7;
}

/// Masks of the bits a REST-method-set may carry (RFC 9237 §3, Figure 4).
pub mod rest_bits {
    /// Bits 0..=6: GET..iPATCH.
    pub const STATIC_METHODS: u64 = 0x7f;
    /// Bits 32..=38: Dynamic-GET..Dynamic-iPATCH.
    pub const DYNAMIC_METHODS: u64 = 0x7f << super::DYNAMIC_OFFSET;
    /// Every bit this implementation understands; others are refused (RFC 9237 §6).
    pub const KNOWN: u64 = STATIC_METHODS | DYNAMIC_METHODS;
}

/// CoAP response codes an RS answers with when AIF refuses a request, as the code byte
/// `class << 5 | detail` (RFC 7252 §3, §12.1.2).
pub mod coap_code {
    /// 4.03 Forbidden: no entry covers the resource (RFC 9200 §5.10.2).
    pub const FORBIDDEN: u8 = (4 << 5) | 3;
    /// 4.05 Method Not Allowed: the resource is covered, the method is not (RFC 9200 §5.10.2).
    pub const METHOD_NOT_ALLOWED: u8 = (4 << 5) | 5;
}

/// AIF-MQTT (RFC 9431 §2.3) and MQTT v5 topic syntax (MQTT v5 §4.7, §4.8.2).
pub mod mqtt {
    /// Permission to PUBLISH (RFC 9431 §2.3, `permission = "pub"/"sub"`).
    pub const PERM_PUB: &str = "pub";
    /// Permission to SUBSCRIBE (RFC 9431 §2.3).
    pub const PERM_SUB: &str = "sub";
    /// Topic level separator (MQTT v5 §4.7.1.1).
    pub const LEVEL_SEPARATOR: char = '/';
    /// Multi-level wildcard (MQTT v5 §4.7.1.2).
    pub const MULTI_LEVEL_WILDCARD: &str = "#";
    /// Single-level wildcard (MQTT v5 §4.7.1.3).
    pub const SINGLE_LEVEL_WILDCARD: &str = "+";
    /// Prefix of a shared subscription, followed by `{ShareName}/` (MQTT v5 §4.8.2).
    pub const SHARED_PREFIX: &str = "$share/";
    /// Topics whose first character is `$` are not matched by a leading wildcard
    /// (MQTT v5 §4.7.2).
    pub const SYSTEM_TOPIC_PREFIX: char = '$';
    /// Longest UTF-8 Encoded String, hence longest topic, in bytes (MQTT v5 §1.5.4).
    pub const MAX_TOPIC_LEN: usize = 65_535;
}

/// Group OSCORE role numbers: role `X` is bit `X` of an `oscore-gperm` Tperm
/// (draft-ietf-ace-key-groupcomm-oscore §3, "Group OSCORE Roles" registry; draft values).
/// Value 0 is reserved, so user entries have the least significant bit 0; the admin
/// interface (draft-ietf-ace-oscore-gm-admin) uses entries with that bit set.
pub mod group_oscore_role {
    /// Requester: sends protected requests, receives protected responses.
    pub const REQUESTER: u32 = 1;
    /// Responder: sends protected responses, receives protected requests.
    pub const RESPONDER: u32 = 2;
    /// Monitor: receives protected requests, never sends protected messages.
    pub const MONITOR: u32 = 3;
    /// Verifier: verifies signatures of intercepted group-mode messages.
    pub const VERIFIER: u32 = 4;
}

/// JSON numbers.
pub mod json {
    /// Largest integer I-JSON carries exactly, 2^53 - 1 (RFC 7493 §2.2); RFC 9237 §3 notes
    /// that only Dynamic-X of methods 1..=21 fit under it.
    pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
}
