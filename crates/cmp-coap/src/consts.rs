//! Code points and literals of CMP over CoAP, one submodule per table.
//!
//! Provenance: **\[IANA\]** read in an IANA registry snapshot on this machine, **\[final\]** read
//! in a final text, **\[memory\]** recalled from RFC 9482 / RFC 9483 and not re-verified here
//! (the RFC text is not on this machine; see the crate README).

/// CoAP Content-Formats.
pub mod content_format {
    /// `application/pkixcmp` (RFC 9482 §2.4; d01 §2.4 asked for a new entry). **\[IANA\]**
    pub const PKIXCMP: u16 = 259;
    /// `application/octet-stream`, accepted on input only under
    /// `lenient_content_format` (some implementations send it; digest CMP-T1).
    pub const OCTET_STREAM: u16 = 42;
}

/// Media type strings (HTTP side, RFC 6712 §3.4).
pub mod media_type {
    /// The HTTP `Content-Type` of a DER PKIMessage (RFC 6712 §3.4).
    pub const PKIXCMP: &str = "application/pkixcmp";
}

/// URI paths.
pub mod path {
    /// The CMP well-known base path (RFC 9480 §3.3 for HTTP, RFC 9482 §2.1 for CoAP
    /// **\[memory\]**; d01 §2.2 points to RFC 6712 §3.6).
    pub const WELL_KNOWN_CMP: &str = "/.well-known/cmp";
    /// The path segment that introduces a CA / certificate-profile label
    /// (`/.well-known/cmp/p/<label>`). **\[IANA\]** (reference RFC 9811, RFC 9482).
    pub const PROFILE_SEGMENT: &str = "p";
}

/// Link-format attributes for `/.well-known/core` discovery.
pub mod link {
    /// The resource type of a CMP endpoint (RFC 9482 §2.2, "Resource Type (rt=) Link
    /// Target Attribute Values" registry). **\[memory\]**
    pub const RESOURCE_TYPE: &str = "ace.cmp";
}

/// PKIBody CHOICE tags (RFC 4210 §5.1.2). **\[final\]** (RFC 4210 is stable; the same
/// numbers are in `cmpv2` 0.2 and in the `openssl cmp` messages of `tests/data/`).
pub mod body {
    /// Initialization request.
    pub const IR: u8 = 0;
    /// Initialization response.
    pub const IP: u8 = 1;
    /// Certification request.
    pub const CR: u8 = 2;
    /// Certification response.
    pub const CP: u8 = 3;
    /// PKCS #10 certification request.
    pub const P10CR: u8 = 4;
    /// POP challenge.
    pub const POPDECC: u8 = 5;
    /// POP response.
    pub const POPDECR: u8 = 6;
    /// Key update request.
    pub const KUR: u8 = 7;
    /// Key update response.
    pub const KUP: u8 = 8;
    /// Key recovery request.
    pub const KRR: u8 = 9;
    /// Key recovery response.
    pub const KRP: u8 = 10;
    /// Revocation request.
    pub const RR: u8 = 11;
    /// Revocation response.
    pub const RP: u8 = 12;
    /// Cross-certification request.
    pub const CCR: u8 = 13;
    /// Cross-certification response.
    pub const CCP: u8 = 14;
    /// CA key update announcement.
    pub const CKUANN: u8 = 15;
    /// Certificate announcement.
    pub const CANN: u8 = 16;
    /// Revocation announcement.
    pub const RANN: u8 = 17;
    /// CRL announcement.
    pub const CRLANN: u8 = 18;
    /// Confirmation.
    pub const PKICONF: u8 = 19;
    /// Nested message.
    pub const NESTED: u8 = 20;
    /// General message.
    pub const GENM: u8 = 21;
    /// General response.
    pub const GENP: u8 = 22;
    /// Error message.
    pub const ERROR: u8 = 23;
    /// Certificate confirmation.
    pub const CERTCONF: u8 = 24;
    /// Polling request.
    pub const POLLREQ: u8 = 25;
    /// Polling response.
    pub const POLLREP: u8 = 26;
}

/// PKIStatus values (RFC 4210 §5.2.3).
pub mod status {
    /// accepted
    pub const ACCEPTED: u8 = 0;
    /// grantedWithMods
    pub const GRANTED_WITH_MODS: u8 = 1;
    /// rejection
    pub const REJECTION: u8 = 2;
    /// waiting (delayed delivery, RFC 4210 §5.3.22)
    pub const WAITING: u8 = 3;
    /// revocationWarning
    pub const REVOCATION_WARNING: u8 = 4;
    /// revocationNotification
    pub const REVOCATION_NOTIFICATION: u8 = 5;
    /// keyUpdateWarning
    pub const KEY_UPDATE_WARNING: u8 = 6;
}

/// PKIFailureInfo bit numbers (RFC 4210 §5.2.3). (`cmpv2` 0.2 has `BadTime = 2`, a
/// typo for 3; these constants are the RFC's.)
pub mod failure_info {
    /// badAlg
    pub const BAD_ALG: u8 = 0;
    /// badMessageCheck
    pub const BAD_MESSAGE_CHECK: u8 = 1;
    /// badRequest
    pub const BAD_REQUEST: u8 = 2;
    /// badTime
    pub const BAD_TIME: u8 = 3;
    /// badCertId
    pub const BAD_CERT_ID: u8 = 4;
    /// badDataFormat
    pub const BAD_DATA_FORMAT: u8 = 5;
    /// wrongAuthority
    pub const WRONG_AUTHORITY: u8 = 6;
    /// incorrectData
    pub const INCORRECT_DATA: u8 = 7;
    /// notAuthorized
    pub const NOT_AUTHORIZED: u8 = 23;
    /// systemUnavail
    pub const SYSTEM_UNAVAIL: u8 = 24;
    /// systemFailure
    pub const SYSTEM_FAILURE: u8 = 25;
}

/// CoAP operation path segments (RFC 9483 §6.1 "short" names for CoAP) and the
/// HTTP operation path segments they correspond to (RFC 9483 §6.1).
///
/// `ir` / `cr` are in the IANA "CMP Well-Known URI Path Segments" registry snapshot
/// **\[IANA\]**; the other short names are **\[memory\]**. The HTTP names are **\[IANA\]**.
pub const OPERATIONS: &[(&str, &str)] = &[
    ("ir", "initialization"),
    ("cr", "certification"),
    ("kur", "keyupdate"),
    ("p10", "pkcs10"),
    ("rr", "revocation"),
    ("crts", "getcacerts"),
    ("rcu", "getrootupdate"),
    ("att", "getcertreqtemplate"),
    ("crls", "getcrls"),
    ("nest", "nested"),
];
