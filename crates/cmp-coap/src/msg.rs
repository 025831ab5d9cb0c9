//! The message layer: strict DER checks and classification of CMP `PKIMessage`s
//! (RFC 4210 §5.1, RFC 9480), and the parts of responses a transport client needs
//! (status, certificates, `checkAfter`).
//!
//! Bytes are never re-encoded: CMP protection covers header and body, so what the
//! transport forwards is always the buffer it received (digest R8).
//!
//! `cmpv2`/`crmf` 0.2 (on `der` 0.7, imported here as `der07`) decode the header and the
//! request bodies. Three of their body types do not match RFC 4210 and are decoded by
//! hand here: `pollReq` is typed as `PollRepContent`, `pollRep` as a single entry rather
//! than a `SEQUENCE OF`, `nested` is missing, and `PKIFailureInfo` is a 16-bit flag set
//! with `badTime = 2` (27 bits are needed). `PKIStatusInfo`, `CertRepMessage`,
//! `RevRepContent`, `ErrorMsgContent`, `CertConfirmContent`, `PollReqContent` and
//! `PollRepContent` are therefore read with the small readers below.

use cmpv2::body::PkiBody;
use cmpv2::header::{PkiHeader, Pvno};
use der07::asn1::{AnyRef, BitStringRef, OctetStringRef};
use der07::{Decode, Encode, Reader, SliceReader, Tag, TagNumber, Tagged};

use crate::error::DecodeError;

/// Nesting limit for `nested` messages and for the generic DER walk.
const MAX_NESTING: usize = 8;
const MAX_TLV_DEPTH: usize = 48;

/// The PKIBody CHOICE alternative of a message (RFC 4210 §5.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum BodyType {
    /// `ir` \[0\].
    Ir,
    /// `ip` \[1\].
    Ip,
    /// `cr` \[2\].
    Cr,
    /// `cp` \[3\].
    Cp,
    /// `p10cr` \[4\].
    P10cr,
    /// `popdecc` \[5\].
    Popdecc,
    /// `popdecr` \[6\].
    Popdecr,
    /// `kur` \[7\].
    Kur,
    /// `kup` \[8\].
    Kup,
    /// `krr` \[9\].
    Krr,
    /// `krp` \[10\].
    Krp,
    /// `rr` \[11\].
    Rr,
    /// `rp` \[12\].
    Rp,
    /// `ccr` \[13\].
    Ccr,
    /// `ccp` \[14\].
    Ccp,
    /// `ckuann` \[15\].
    Ckuann,
    /// `cann` \[16\].
    Cann,
    /// `rann` \[17\].
    Rann,
    /// `crlann` \[18\].
    Crlann,
    /// `pkiconf` \[19\].
    PkiConf,
    /// `nested` \[20\].
    Nested,
    /// `genm` \[21\].
    Genm,
    /// `genp` \[22\].
    Genp,
    /// `error` \[23\].
    Error,
    /// `certConf` \[24\].
    CertConf,
    /// `pollReq` \[25\].
    PollReq,
    /// `pollRep` \[26\].
    PollRep,
}

const ALL: [BodyType; 27] = [
    BodyType::Ir,
    BodyType::Ip,
    BodyType::Cr,
    BodyType::Cp,
    BodyType::P10cr,
    BodyType::Popdecc,
    BodyType::Popdecr,
    BodyType::Kur,
    BodyType::Kup,
    BodyType::Krr,
    BodyType::Krp,
    BodyType::Rr,
    BodyType::Rp,
    BodyType::Ccr,
    BodyType::Ccp,
    BodyType::Ckuann,
    BodyType::Cann,
    BodyType::Rann,
    BodyType::Crlann,
    BodyType::PkiConf,
    BodyType::Nested,
    BodyType::Genm,
    BodyType::Genp,
    BodyType::Error,
    BodyType::CertConf,
    BodyType::PollReq,
    BodyType::PollRep,
];

impl BodyType {
    /// The type for a CHOICE tag number (0..=26).
    #[must_use]
    pub fn from_tag(tag: u8) -> Option<Self> {
        ALL.get(usize::from(tag)).copied()
    }

    /// The CHOICE tag number (see [`crate::consts::body`]).
    #[must_use]
    pub fn tag(self) -> u8 {
        // safe: ALL lists every variant exactly once, in tag order
        ALL.iter()
            .position(|t| *t == self)
            .and_then(|p| u8::try_from(p).ok())
            .unwrap_or(u8::MAX)
    }

    /// The RFC 4210 name (`ir`, `certConf`, …).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Ir => "ir",
            Self::Ip => "ip",
            Self::Cr => "cr",
            Self::Cp => "cp",
            Self::P10cr => "p10cr",
            Self::Popdecc => "popdecc",
            Self::Popdecr => "popdecr",
            Self::Kur => "kur",
            Self::Kup => "kup",
            Self::Krr => "krr",
            Self::Krp => "krp",
            Self::Rr => "rr",
            Self::Rp => "rp",
            Self::Ccr => "ccr",
            Self::Ccp => "ccp",
            Self::Ckuann => "ckuann",
            Self::Cann => "cann",
            Self::Rann => "rann",
            Self::Crlann => "crlann",
            Self::PkiConf => "pkiconf",
            Self::Nested => "nested",
            Self::Genm => "genm",
            Self::Genp => "genp",
            Self::Error => "error",
            Self::CertConf => "certConf",
            Self::PollReq => "pollReq",
            Self::PollRep => "pollRep",
        }
    }

    /// Whether an end entity or RA sends this type as a request to a CA/RA (the types a
    /// CMP server accepts in a CoAP POST). `error` counts: an EE may report an error
    /// (RFC 4210 §5.3.21); `nested` counts: an RA batches or wraps requests.
    #[must_use]
    pub fn is_request(self) -> bool {
        matches!(
            self,
            Self::Ir
                | Self::Cr
                | Self::P10cr
                | Self::Popdecr
                | Self::Kur
                | Self::Krr
                | Self::Rr
                | Self::Ccr
                | Self::Nested
                | Self::Genm
                | Self::Error
                | Self::CertConf
                | Self::PollReq
        )
    }

    /// Whether the body is a certificate response (`ip`, `cp`, `kup`, `ccp`).
    #[must_use]
    pub fn is_cert_response(self) -> bool {
        matches!(self, Self::Ip | Self::Cp | Self::Kup | Self::Ccp)
    }
}

impl core::fmt::Display for BodyType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`classify`] learned about a well-formed PKIMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// The body type.
    pub body_type: BodyType,
    /// `pvno` (1 = cmp1999, 2 = cmp2000, 3 = cmp2021).
    pub pvno: u8,
    /// `transactionID`, if present.
    pub transaction_id: Option<Vec<u8>>,
    /// `senderNonce`, if present.
    pub sender_nonce: Option<Vec<u8>>,
    /// `recipNonce`, if present.
    pub recip_nonce: Option<Vec<u8>>,
    /// Whether the message carries `protection`.
    pub protected: bool,
    /// Number of `extraCerts`.
    pub extra_certs: usize,
}

fn der_err(e: &der07::Error) -> DecodeError {
    DecodeError::new(e.to_string())
}

/// Runs `f` on a reader over exactly `bytes` and requires that it consumes everything.
fn parse_all<'a, T>(
    bytes: &'a [u8],
    f: impl FnOnce(&mut SliceReader<'a>) -> der07::Result<T>,
) -> der07::Result<T> {
    let mut r = SliceReader::new(bytes)?;
    let v = f(&mut r)?;
    r.finish(v)
}

fn value_error() -> der07::Error {
    Tag::Sequence.value_error()
}

/// Checks that `bytes` is a sequence of well-formed DER TLVs, recursively (definite,
/// minimal lengths; no trailing bytes).
fn check_tlvs(bytes: &[u8], depth: usize) -> der07::Result<()> {
    if depth > MAX_TLV_DEPTH {
        return Err(value_error());
    }
    let mut r = SliceReader::new(bytes)?;
    while !r.is_finished() {
        let any = AnyRef::decode(&mut r)?;
        if any.tag().is_constructed() {
            check_tlvs(any.value(), depth + 1)?;
        }
    }
    Ok(())
}

/// Classifies a DER-encoded PKIMessage.
///
/// Checks: one DER `SEQUENCE` with nothing after it; a `PKIHeader` that `cmpv2` decodes;
/// a body CHOICE tag 0..=26 whose content is well-formed for its type (`cmpv2` for the
/// request bodies, the readers of this module for the others; every body is also walked
/// as a strict DER TLV tree); optional `protection` \[0\] and `extraCerts` \[1\].
///
/// # Errors
/// [`DecodeError`] when any check fails.
pub fn classify(der: &[u8]) -> Result<MessageInfo, DecodeError> {
    classify_nested(der, 0).map(|(info, _)| info)
}

/// [`classify`], also returning what the body check read (so that [`inspect_response`]
/// does not decode the body twice).
fn classify_nested(
    der: &[u8],
    depth: usize,
) -> Result<(MessageInfo, ResponseContent), DecodeError> {
    if depth > MAX_NESTING {
        return Err(DecodeError::new("nested messages too deep".into()));
    }
    let mut nested_error = None;
    let info = parse_all(der, |r| {
        r.sequence(|r| {
            let header = decode_header(&AnyRef::decode(r)?)?;
            let tag = r.peek_tag()?;
            let number = match tag {
                Tag::ContextSpecific {
                    constructed: true,
                    number,
                } => number.value(),
                other => return Err(other.unexpected_error(None)),
            };
            let body_type = BodyType::from_tag(number).ok_or_else(|| tag.value_error())?;
            let any = AnyRef::decode(r)?;
            check_tlvs(any.value(), 0)?;
            let content = check_body(body_type, &any, depth, &mut nested_error)?;
            let protection = der07::asn1::ContextSpecific::<BitStringRef<'_>>::decode_explicit(
                r,
                TagNumber::N0,
            )?;
            let extra =
                der07::asn1::ContextSpecific::<Vec<AnyRef<'_>>>::decode_explicit(r, TagNumber::N1)?;
            if let Some(extra) = &extra {
                for cert in &extra.value {
                    // CMPCertificate ::= CHOICE { x509v3PKCert Certificate, … } (RFC 4210 §5.1)
                    if cert.tag() != Tag::Sequence {
                        return Err(cert.tag().unexpected_error(Some(Tag::Sequence)));
                    }
                }
            }
            Ok((
                MessageInfo {
                    body_type,
                    pvno: header.pvno,
                    transaction_id: header.transaction_id,
                    sender_nonce: header.sender_nonce,
                    recip_nonce: header.recip_nonce,
                    protected: protection.is_some(),
                    extra_certs: extra.map_or(0, |e| e.value.len()),
                },
                content,
            ))
        })
    });
    match (info, nested_error) {
        (Ok(i), _) => Ok(i),
        (Err(_), Some(inner)) => Err(inner),
        (Err(e), None) => Err(der_err(&e)),
    }
}

/// Decodes a PKIHeader TLV with `cmpv2`. `cmpv2` 0.2 knows pvno 1 and 2 only; RFC 9480
/// §2.20 adds `cmp2021(3)`. For pvno 3 the header is decoded from a copy with the pvno
/// byte set to 2 (the copy is only read, never sent) and 3 is reported.
fn decode_header(any: &AnyRef<'_>) -> der07::Result<HeaderFields> {
    if any.tag() != Tag::Sequence {
        return Err(any.tag().unexpected_error(Some(Tag::Sequence)));
    }
    let mut tlv = any.to_der()?;
    let value_start = tlv.len() - any.value().len();
    let pvno = match any.value() {
        [0x02, 0x01, v, ..] => *v,
        _ => return Err(Tag::Integer.value_error()),
    };
    if pvno == 3
        && let Some(b) = tlv.get_mut(value_start + 2)
    {
        *b = 2;
    }
    let header = parse_all(&tlv, PkiHeader::decode)?;
    Ok(HeaderFields {
        pvno: match (header.pvno, pvno) {
            (_, 3) => 3,
            (Pvno::Cmp1999, _) => 1,
            (Pvno::Cmp2000, _) => 2,
        },
        transaction_id: header.trans_id.map(|o| o.as_bytes().to_vec()),
        sender_nonce: header.sender_nonce.map(|o| o.as_bytes().to_vec()),
        recip_nonce: header.recip_nonce.map(|o| o.as_bytes().to_vec()),
    })
}

struct HeaderFields {
    pvno: u8,
    transaction_id: Option<Vec<u8>>,
    sender_nonce: Option<Vec<u8>>,
    recip_nonce: Option<Vec<u8>>,
}

/// Validates the content of body `[n] EXPLICIT X` and returns what [`inspect_response`]
/// reports of it.
fn check_body(
    body_type: BodyType,
    any: &AnyRef<'_>,
    depth: usize,
    nested_error: &mut Option<DecodeError>,
) -> der07::Result<ResponseContent> {
    let content = any.value();
    match body_type {
        BodyType::Nested => {
            // NestedMessageContent ::= PKIMessages ::= SEQUENCE SIZE (1..MAX) OF PKIMessage
            let inner = parse_all(content, Vec::<AnyRef<'_>>::decode)?;
            if inner.is_empty() {
                return Err(value_error());
            }
            for m in inner {
                let bytes = m.to_der()?;
                if let Err(e) = classify_nested(&bytes, depth + 1) {
                    *nested_error = Some(e);
                    return Err(value_error());
                }
            }
            Ok(ResponseContent::Other(body_type))
        }
        BodyType::PollReq => {
            parse_all(content, read_poll_req).map(|_| ResponseContent::Other(body_type))
        }
        BodyType::PollRep => parse_all(content, read_poll_rep),
        BodyType::Error => parse_all(content, read_error),
        BodyType::CertConf => {
            parse_all(content, read_cert_conf).map(|_| ResponseContent::Other(body_type))
        }
        BodyType::Rp => parse_all(content, read_rev_rep),
        BodyType::Ip | BodyType::Cp | BodyType::Kup | BodyType::Ccp => {
            parse_all(content, read_cert_rep)
        }
        BodyType::PkiConf => {
            parse_all(content, der07::asn1::Null::decode).map(|_| ResponseContent::PkiConf)
        }
        _ => {
            // cmpv2 decodes these bodies (ir, cr, p10cr, kur, krr, rr, ccr, genm, genp,
            // popdecc/popdecr, krp, announcements) from the whole [n] TLV.
            let tlv = any.to_der()?;
            parse_all(&tlv, PkiBody::decode)?;
            if body_type == BodyType::Genp {
                // GenRepContent ::= SEQUENCE OF InfoTypeAndValue
                let n = parse_all(content, Vec::<AnyRef<'_>>::decode)?.len();
                return Ok(ResponseContent::Genp(n));
            }
            Ok(ResponseContent::Other(body_type))
        }
    }
}

/// A decoded `PKIStatusInfo` (RFC 4210 §5.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusInfo {
    /// `status` (see [`crate::consts::status`]).
    pub status: u8,
    /// `statusString` entries.
    pub status_string: Vec<String>,
    /// `failInfo`: bit `i` set when RFC 4210 named bit `i` is set (bits ≥ 32 are ignored).
    pub fail_info: u32,
}

impl StatusInfo {
    /// `accepted` or `grantedWithMods`.
    #[must_use]
    pub fn is_granted(&self) -> bool {
        self.status <= crate::consts::status::GRANTED_WITH_MODS
    }
    /// `waiting` (delayed delivery).
    #[must_use]
    pub fn is_waiting(&self) -> bool {
        self.status == crate::consts::status::WAITING
    }
    /// Whether failure bit `bit` (RFC 4210 §5.2.3 numbering) is set.
    #[must_use]
    pub fn has_failure(&self, bit: u8) -> bool {
        bit < 32 && self.fail_info & (1 << bit) != 0
    }
}

fn read_free_text<'a, R: Reader<'a>>(r: &mut R) -> der07::Result<Vec<String>> {
    // PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String
    Ok(Option::<Vec<String>>::decode(r)?.unwrap_or_default())
}

fn read_status_info<'a, R: Reader<'a>>(r: &mut R) -> der07::Result<StatusInfo> {
    r.sequence(|r| {
        let status = u8::decode(r)?;
        if status > crate::consts::status::KEY_UPDATE_WARNING {
            return Err(Tag::Integer.value_error());
        }
        let status_string = read_free_text(r)?;
        let bits = Option::<BitStringRef<'_>>::decode(r)?;
        let mut fail_info = 0u32;
        if let Some(bits) = bits {
            for (i, set) in bits.bits().enumerate() {
                if set && i < 32 {
                    fail_info |= 1 << i;
                }
            }
        }
        Ok(StatusInfo {
            status,
            status_string,
            fail_info,
        })
    })
}

/// One `CertResponse` of an `ip`/`cp`/`kup`/`ccp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertResponseInfo {
    /// `certReqId`.
    pub cert_req_id: i64,
    /// `status`.
    pub status: StatusInfo,
    /// The issued certificate's DER, when `certOrEncCert` is `certificate` \[0\].
    pub certificate: Option<Vec<u8>>,
    /// Whether the certificate came encrypted (`encryptedCert` \[1\]).
    pub encrypted: bool,
}

/// A `pollRep` entry (RFC 4210 §5.3.22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRepEntry {
    /// `certReqId`.
    pub cert_req_id: i64,
    /// `checkAfter`, seconds.
    pub check_after: u64,
    /// `reason`.
    pub reason: Vec<String>,
}

/// The transport-relevant content of a response PKIMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseContent {
    /// `ip`, `cp`, `kup`, `ccp`.
    Certificates {
        /// `caPubs` certificates (DER).
        ca_pubs: Vec<Vec<u8>>,
        /// The `CertResponse`s.
        responses: Vec<CertResponseInfo>,
    },
    /// `rp`: one status per revocation request.
    Revocation(Vec<StatusInfo>),
    /// `pollRep`.
    PollRep(Vec<PollRepEntry>),
    /// `error`.
    Error {
        /// `pKIStatusInfo`.
        status: StatusInfo,
        /// `errorCode`.
        error_code: Option<i64>,
        /// `errorDetails`.
        details: Vec<String>,
    },
    /// `pkiconf`.
    PkiConf,
    /// `genp`: number of `InfoTypeAndValue` entries.
    Genp(usize),
    /// Any other body type (not inspected further).
    Other(BodyType),
}

impl ResponseContent {
    /// Whether the response asks the client to poll: a certificate response with a
    /// `waiting` status, or a `pollRep`.
    #[must_use]
    pub fn needs_polling(&self) -> bool {
        match self {
            Self::Certificates { responses, .. } => responses.iter().any(|r| r.status.is_waiting()),
            Self::PollRep(_) => true,
            _ => false,
        }
    }
    /// The largest `checkAfter` of a `pollRep` (seconds).
    #[must_use]
    pub fn check_after(&self) -> Option<u64> {
        match self {
            Self::PollRep(e) => e.iter().map(|e| e.check_after).max(),
            _ => None,
        }
    }
}

fn read_cert_rep<'a, R: Reader<'a>>(r: &mut R) -> der07::Result<ResponseContent> {
    r.sequence(|r| {
        let ca_pubs =
            der07::asn1::ContextSpecific::<Vec<AnyRef<'_>>>::decode_explicit(r, TagNumber::N1)?
                .map(|c| c.value)
                .unwrap_or_default()
                .iter()
                .map(|c| c.to_der())
                .collect::<der07::Result<Vec<_>>>()?;
        let mut responses = Vec::new();
        r.sequence(|r| {
            while !r.is_finished() {
                responses.push(read_cert_response(r)?);
            }
            Ok(())
        })?;
        Ok(ResponseContent::Certificates { ca_pubs, responses })
    })
}

fn read_cert_response<'a, R: Reader<'a>>(r: &mut R) -> der07::Result<CertResponseInfo> {
    r.sequence(|r| {
        let cert_req_id = i64::decode(r)?;
        let status = read_status_info(r)?;
        let mut certificate = None;
        let mut encrypted = false;
        if r.peek_tag().ok() == Some(Tag::Sequence) {
            // CertifiedKeyPair ::= SEQUENCE { certOrEncCert CertOrEncCert,
            //   privateKey [0] EncryptedKey OPTIONAL, publicationInfo [1] OPTIONAL }
            r.sequence(|r| {
                let choice = AnyRef::decode(r)?;
                match choice.tag() {
                    Tag::ContextSpecific {
                        constructed: true,
                        number: TagNumber::N0,
                    } => {
                        let cert = parse_all(choice.value(), AnyRef::decode)?;
                        if cert.tag() != Tag::Sequence {
                            return Err(cert.tag().unexpected_error(Some(Tag::Sequence)));
                        }
                        certificate = Some(cert.to_der()?);
                    }
                    Tag::ContextSpecific {
                        constructed: true,
                        number: TagNumber::N1,
                    } => encrypted = true,
                    other => return Err(other.unexpected_error(None)),
                }
                while !r.is_finished() {
                    let _ = AnyRef::decode(r)?;
                }
                Ok(())
            })?;
        }
        let _rsp_info = Option::<OctetStringRef<'_>>::decode(r)?;
        Ok(CertResponseInfo {
            cert_req_id,
            status,
            certificate,
            encrypted,
        })
    })
}

fn read_rev_rep<'a, R: Reader<'a>>(r: &mut R) -> der07::Result<ResponseContent> {
    // RevRepContent ::= SEQUENCE { status SEQUENCE SIZE (1..MAX) OF PKIStatusInfo,
    //   revCerts [0] OPTIONAL, crls [1] OPTIONAL }
    r.sequence(|r| {
        let mut statuses = Vec::new();
        r.sequence(|r| {
            while !r.is_finished() {
                statuses.push(read_status_info(r)?);
            }
            Ok(())
        })?;
        while !r.is_finished() {
            let _ = AnyRef::decode(r)?;
        }
        Ok(ResponseContent::Revocation(statuses))
    })
}

fn read_error<'a, R: Reader<'a>>(r: &mut R) -> der07::Result<ResponseContent> {
    // ErrorMsgContent ::= SEQUENCE { pKIStatusInfo PKIStatusInfo,
    //   errorCode INTEGER OPTIONAL, errorDetails PKIFreeText OPTIONAL }
    r.sequence(|r| {
        let status = read_status_info(r)?;
        let error_code = Option::<i64>::decode(r)?;
        let details = read_free_text(r)?;
        Ok(ResponseContent::Error {
            status,
            error_code,
            details,
        })
    })
}

fn read_cert_conf<'a, R: Reader<'a>>(r: &mut R) -> der07::Result<usize> {
    // CertConfirmContent ::= SEQUENCE OF CertStatus; CertStatus ::= SEQUENCE {
    //   certHash OCTET STRING, certReqId INTEGER, statusInfo PKIStatusInfo OPTIONAL,
    //   hashAlg [0] AlgorithmIdentifier OPTIONAL }  (hashAlg: RFC 9480 §2.10)
    r.sequence(|r| {
        let mut n = 0usize;
        while !r.is_finished() {
            r.sequence(|r| {
                let _hash = OctetStringRef::decode(r)?;
                let _id = i64::decode(r)?;
                if r.peek_tag().ok() == Some(Tag::Sequence) {
                    let _ = read_status_info(r)?;
                }
                let _alg =
                    der07::asn1::ContextSpecific::<AnyRef<'_>>::decode_explicit(r, TagNumber::N0)?;
                Ok(())
            })?;
            n += 1;
        }
        Ok(n)
    })
}

fn read_poll_req<'a, R: Reader<'a>>(r: &mut R) -> der07::Result<Vec<i64>> {
    // PollReqContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER }
    r.sequence(|r| {
        let mut ids = Vec::new();
        while !r.is_finished() {
            ids.push(r.sequence(i64::decode)?);
        }
        if ids.is_empty() {
            return Err(value_error());
        }
        Ok(ids)
    })
}

fn read_poll_rep<'a, R: Reader<'a>>(r: &mut R) -> der07::Result<ResponseContent> {
    // PollRepContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER,
    //   checkAfter INTEGER, reason PKIFreeText OPTIONAL }
    r.sequence(|r| {
        let mut entries = Vec::new();
        while !r.is_finished() {
            entries.push(r.sequence(|r| {
                let cert_req_id = i64::decode(r)?;
                let check_after = u64::decode(r)?;
                let reason = read_free_text(r)?;
                Ok(PollRepEntry {
                    cert_req_id,
                    check_after,
                    reason,
                })
            })?);
        }
        if entries.is_empty() {
            return Err(value_error());
        }
        Ok(ResponseContent::PollRep(entries))
    })
}

/// Classifies `der` and reads the parts of a response a transport client needs.
///
/// # Errors
/// [`DecodeError`] when `der` is not a well-formed PKIMessage.
pub fn inspect_response(der: &[u8]) -> Result<(MessageInfo, ResponseContent), DecodeError> {
    // The body check of `classify` already reads what is reported (one decode, not two).
    classify_nested(der, 0)
}

#[cfg(test)]
mod tests;
