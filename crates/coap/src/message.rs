//! CoAP messages as plain data, and their wire encoding (through coap-lite).
//!
//! [`Message`] is what handlers, clients and security layers see: a code, options and a
//! payload. Message type, message ID and token belong to the messaging layer and are
//! handled by [`crate::Endpoint`].

use core::fmt;
use std::collections::BTreeMap;

use crate::consts::option;
use crate::error::{Error, MalformedKind, Result};

/// A CoAP code (RFC 7252 §3, §12.1): an open newtype over the wire byte `c.dd`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Code(pub u8);

impl Code {
    /// 0.00 Empty.
    pub const EMPTY: Self = Self(0x00);
    /// 0.01 GET.
    pub const GET: Self = Self(0x01);
    /// 0.02 POST.
    pub const POST: Self = Self(0x02);
    /// 0.03 PUT.
    pub const PUT: Self = Self(0x03);
    /// 0.04 DELETE.
    pub const DELETE: Self = Self(0x04);
    /// 0.05 FETCH (RFC 8132).
    pub const FETCH: Self = Self(0x05);
    /// 0.06 PATCH (RFC 8132).
    pub const PATCH: Self = Self(0x06);
    /// 0.07 iPATCH (RFC 8132).
    pub const IPATCH: Self = Self(0x07);
    /// 2.01 Created.
    pub const CREATED: Self = Self(0x41);
    /// 2.02 Deleted.
    pub const DELETED: Self = Self(0x42);
    /// 2.03 Valid.
    pub const VALID: Self = Self(0x43);
    /// 2.04 Changed.
    pub const CHANGED: Self = Self(0x44);
    /// 2.05 Content.
    pub const CONTENT: Self = Self(0x45);
    /// 2.31 Continue (RFC 7959 §2.9.1).
    pub const CONTINUE: Self = Self(0x5F);
    /// 4.00 Bad Request.
    pub const BAD_REQUEST: Self = Self(0x80);
    /// 4.01 Unauthorized.
    pub const UNAUTHORIZED: Self = Self(0x81);
    /// 4.02 Bad Option.
    pub const BAD_OPTION: Self = Self(0x82);
    /// 4.03 Forbidden.
    pub const FORBIDDEN: Self = Self(0x83);
    /// 4.04 Not Found.
    pub const NOT_FOUND: Self = Self(0x84);
    /// 4.05 Method Not Allowed.
    pub const METHOD_NOT_ALLOWED: Self = Self(0x85);
    /// 4.06 Not Acceptable.
    pub const NOT_ACCEPTABLE: Self = Self(0x86);
    /// 4.08 Request Entity Incomplete (RFC 7959 §2.9.2).
    pub const REQUEST_ENTITY_INCOMPLETE: Self = Self(0x88);
    /// 4.09 Conflict (RFC 8132).
    pub const CONFLICT: Self = Self(0x89);
    /// 4.12 Precondition Failed.
    pub const PRECONDITION_FAILED: Self = Self(0x8C);
    /// 4.13 Request Entity Too Large.
    pub const REQUEST_ENTITY_TOO_LARGE: Self = Self(0x8D);
    /// 4.15 Unsupported Content-Format.
    pub const UNSUPPORTED_CONTENT_FORMAT: Self = Self(0x8F);
    /// 5.00 Internal Server Error.
    pub const INTERNAL_SERVER_ERROR: Self = Self(0xA0);
    /// 5.01 Not Implemented.
    pub const NOT_IMPLEMENTED: Self = Self(0xA1);
    /// 5.03 Service Unavailable.
    pub const SERVICE_UNAVAILABLE: Self = Self(0xA3);
    /// 5.04 Gateway Timeout.
    pub const GATEWAY_TIMEOUT: Self = Self(0xA4);
    /// 5.05 Proxying Not Supported.
    pub const PROXYING_NOT_SUPPORTED: Self = Self(0xA5);

    /// Builds a code from class and detail (`Code::new(4, 4)` is 4.04).
    #[must_use]
    pub const fn new(class: u8, detail: u8) -> Self {
        Self(((class & 0x07) << 5) | (detail & 0x1F))
    }
    /// The class (the `c` in `c.dd`).
    #[must_use]
    pub const fn class(self) -> u8 {
        self.0 >> 5
    }
    /// The detail (the `dd` in `c.dd`).
    #[must_use]
    pub const fn detail(self) -> u8 {
        self.0 & 0x1F
    }
    /// 0.00.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// A request code (0.01-0.31).
    #[must_use]
    pub const fn is_request(self) -> bool {
        self.class() == 0 && self.0 != 0
    }
    /// A response code (classes 2, 4, 5).
    #[must_use]
    pub const fn is_response(self) -> bool {
        matches!(self.class(), 2 | 4 | 5)
    }
    /// A success response (class 2).
    #[must_use]
    pub const fn is_success(self) -> bool {
        self.class() == 2
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.class(), self.detail())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({self})")
    }
}

/// The message type (RFC 7252 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Confirmable (CON).
    Confirmable,
    /// Non-confirmable (NON).
    NonConfirmable,
    /// Acknowledgement (ACK).
    Acknowledgement,
    /// Reset (RST).
    Reset,
}

impl MessageType {
    const fn from_bits(bits: u8) -> Self {
        match bits & 0x03 {
            0 => Self::Confirmable,
            1 => Self::NonConfirmable,
            2 => Self::Acknowledgement,
            _ => Self::Reset,
        }
    }
    fn to_lite(self) -> coap_lite::MessageType {
        match self {
            Self::Confirmable => coap_lite::MessageType::Confirmable,
            Self::NonConfirmable => coap_lite::MessageType::NonConfirmable,
            Self::Acknowledgement => coap_lite::MessageType::Acknowledgement,
            Self::Reset => coap_lite::MessageType::Reset,
        }
    }
}

/// The options of a message, by number; repeated options keep their order.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Options(BTreeMap<u16, Vec<Vec<u8>>>);

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Options {
    /// No options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// The first value of option `number`.
    #[must_use]
    pub fn get(&self, number: u16) -> Option<&[u8]> {
        self.0
            .get(&number)
            .and_then(|v| v.first())
            .map(Vec::as_slice)
    }
    /// All values of option `number` (empty when absent).
    #[must_use]
    pub fn get_all(&self, number: u16) -> &[Vec<u8>] {
        self.0.get(&number).map_or(&[], Vec::as_slice)
    }
    /// Whether option `number` is present.
    #[must_use]
    pub fn contains(&self, number: u16) -> bool {
        self.0.get(&number).is_some_and(|v| !v.is_empty())
    }
    /// Appends a value of option `number`.
    pub fn add(&mut self, number: u16, value: impl Into<Vec<u8>>) {
        self.0.entry(number).or_default().push(value.into());
    }
    /// Replaces all values of option `number` with one value.
    pub fn set(&mut self, number: u16, value: impl Into<Vec<u8>>) {
        self.0.insert(number, vec![value.into()]);
    }
    /// Removes option `number`.
    pub fn remove(&mut self, number: u16) {
        self.0.remove(&number);
    }
    /// Replaces option `number` with a `uint` value in minimal encoding (RFC 7252 §3.2).
    pub fn set_uint(&mut self, number: u16, value: u32) {
        self.set(number, encode_uint(value));
    }
    /// The first value of option `number` decoded as a `uint` of at most 4 bytes.
    ///
    /// # Errors
    /// [`Error::BadOption`] when the value is longer than 4 bytes.
    pub fn get_uint(&self, number: u16) -> Result<Option<u32>> {
        self.get(number)
            .map(|v| decode_uint(v).ok_or(Error::BadOption(number)))
            .transpose()
    }
    /// Iterates over `(number, value)` in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &[u8])> {
        self.0
            .iter()
            .flat_map(|(n, vs)| vs.iter().map(move |v| (*n, v.as_slice())))
    }
    /// Number of option values.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }
    /// No option present.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Minimal big-endian encoding of a `uint` option value (RFC 7252 §3.2).
#[must_use]
pub fn encode_uint(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(skip..).unwrap_or_default().to_vec()
}

/// Decodes a `uint` option value of at most 4 bytes.
#[must_use]
pub fn decode_uint(value: &[u8]) -> Option<u32> {
    if value.len() > 4 {
        return None;
    }
    Some(value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// A Block1/Block2 option value (RFC 7959 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockOption {
    /// Block number (20 bits).
    pub num: u32,
    /// More blocks follow.
    pub more: bool,
    /// Size exponent: the block size is `2^(szx+4)`; 0..=6 (7 is BERT, TCP only).
    pub szx: u8,
}

impl BlockOption {
    /// Largest block number (20 bits).
    pub const MAX_NUM: u32 = (1 << 20) - 1;

    /// The block size in bytes.
    #[must_use]
    pub const fn size(self) -> usize {
        1usize << (self.szx as u32 + 4)
    }
    /// Byte offset of this block.
    #[must_use]
    pub const fn offset(self) -> usize {
        self.num as usize * self.size()
    }
    /// Encodes as an option value.
    #[must_use]
    pub fn encode(self) -> Vec<u8> {
        encode_uint((self.num << 4) | (u32::from(self.more) << 3) | u32::from(self.szx & 0x07))
    }
    /// Decodes an option value; rejects more than 3 bytes and SZX 7 (BERT).
    #[must_use]
    pub fn decode(value: &[u8]) -> Option<Self> {
        if value.len() > 3 {
            return None;
        }
        let v = decode_uint(value)?;
        let szx = (v & 0x07) as u8;
        if szx == 7 {
            return None;
        }
        Some(Self {
            num: v >> 4,
            more: v & 0x08 != 0,
            szx,
        })
    }
}

/// A CoAP request or response without its messaging-layer fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Method or response code.
    pub code: Code,
    /// Options.
    pub options: Options,
    /// Payload (empty when there is none).
    pub payload: Vec<u8>,
}

impl Message {
    /// A message with `code`, no options and no payload.
    #[must_use]
    pub fn new(code: Code) -> Self {
        Self {
            code,
            ..Self::default()
        }
    }
    /// A request for `path` (like `/a/b`; each `/`-separated segment becomes a Uri-Path
    /// option; a `?` starts `&`-separated Uri-Query options).
    #[must_use]
    pub fn request(method: Code, path: &str) -> Self {
        let mut m = Self::new(method);
        m.set_path(path);
        m
    }
    /// A response with `code` and `payload`.
    #[must_use]
    pub fn response(code: Code, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            code,
            options: Options::new(),
            payload: payload.into(),
        }
    }
    /// Sets the payload (builder style).
    #[must_use]
    pub fn with_payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }
    /// Sets Content-Format (builder style).
    #[must_use]
    pub fn with_content_format(mut self, cf: u16) -> Self {
        self.options.set_uint(option::CONTENT_FORMAT, u32::from(cf));
        self
    }
    /// Adds an option value (builder style).
    #[must_use]
    pub fn with_option(mut self, number: u16, value: impl Into<Vec<u8>>) -> Self {
        self.options.add(number, value);
        self
    }
    /// Replaces Uri-Path and Uri-Query from a path like `/a/b?x=1&y`.
    pub fn set_path(&mut self, path: &str) {
        self.options.remove(option::URI_PATH);
        self.options.remove(option::URI_QUERY);
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        for seg in p.split('/').filter(|s| !s.is_empty()) {
            self.options.add(option::URI_PATH, seg.as_bytes());
        }
        for query in q.split('&').filter(|s| !s.is_empty()) {
            self.options.add(option::URI_QUERY, query.as_bytes());
        }
    }
    /// The Uri-Path segments.
    ///
    /// # Errors
    /// [`Error::BadOption`] when a segment is not UTF-8.
    pub fn path_segments(&self) -> Result<Vec<&str>> {
        self.options
            .get_all(option::URI_PATH)
            .iter()
            .map(|s| core::str::from_utf8(s).map_err(|_| Error::BadOption(option::URI_PATH)))
            .collect()
    }
    /// The path as `/seg1/seg2` (`/` when there is no Uri-Path).
    ///
    /// # Errors
    /// [`Error::BadOption`] when a segment is not UTF-8.
    pub fn path(&self) -> Result<String> {
        let segs = self.path_segments()?;
        Ok(format!("/{}", segs.join("/")))
    }
    /// The Uri-Query options (non-UTF-8 values are skipped).
    #[must_use]
    pub fn queries(&self) -> Vec<&str> {
        self.options
            .get_all(option::URI_QUERY)
            .iter()
            .filter_map(|q| core::str::from_utf8(q).ok())
            .collect()
    }
    /// Content-Format, if present and well-formed.
    #[must_use]
    pub fn content_format(&self) -> Option<u16> {
        self.options
            .get_uint(option::CONTENT_FORMAT)
            .ok()
            .flatten()
            .and_then(|v| u16::try_from(v).ok())
    }
    /// The Observe option, if present and well-formed (at most 3 bytes).
    #[must_use]
    pub fn observe(&self) -> Option<u32> {
        let v = self.options.get(option::OBSERVE)?;
        if v.len() > 3 {
            return None;
        }
        decode_uint(v)
    }
    /// The Block1 option, if present and well-formed.
    #[must_use]
    pub fn block1(&self) -> Option<BlockOption> {
        self.options
            .get(option::BLOCK1)
            .and_then(BlockOption::decode)
    }
    /// The Block2 option, if present and well-formed.
    #[must_use]
    pub fn block2(&self) -> Option<BlockOption> {
        self.options
            .get(option::BLOCK2)
            .and_then(BlockOption::decode)
    }
}

/// A whole CoAP message as it travels in one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) mtype: MessageType,
    pub(crate) mid: u16,
    pub(crate) token: Vec<u8>,
    pub(crate) msg: Message,
}

/// The header fields that can be read from any datagram of 4 bytes or more.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawHeader {
    pub(crate) mtype: MessageType,
    pub(crate) mid: u16,
    pub(crate) code: Code,
}

impl RawHeader {
    pub(crate) fn parse(data: &[u8]) -> Result<Self, MalformedKind> {
        let (Some(b0), Some(code), Some(m0), Some(m1)) =
            (data.first(), data.get(1), data.get(2), data.get(3))
        else {
            return Err(MalformedKind::TooShort);
        };
        if b0 >> 6 != 1 {
            return Err(MalformedKind::UnknownVersion);
        }
        Ok(Self {
            mtype: MessageType::from_bits(b0 >> 4),
            mid: u16::from_be_bytes([*m0, *m1]),
            code: Code(*code),
        })
    }
}

impl Frame {
    /// Decodes one datagram (RFC 7252 §3). The header must already have parsed.
    pub(crate) fn decode(data: &[u8]) -> Result<Self, MalformedKind> {
        let header = RawHeader::parse(data)?;
        let packet = coap_lite::Packet::from_bytes(data).map_err(|e| match e {
            coap_lite::error::MessageError::InvalidTokenLength => MalformedKind::TokenLength,
            coap_lite::error::MessageError::InvalidHeader
            | coap_lite::error::MessageError::InvalidPacketLength => MalformedKind::TooShort,
            _ => MalformedKind::Options,
        })?;
        let mut options = Options::new();
        for (number, values) in packet.options() {
            for v in values {
                options.add(*number, v.clone());
            }
        }
        let frame = Self {
            mtype: header.mtype,
            mid: header.mid,
            token: packet.get_token().to_vec(),
            msg: Message {
                code: header.code,
                options,
                payload: packet.payload,
            },
        };
        // The CoAP encoding is canonical (option deltas and lengths have a single
        // encoding), so a re-encoding of a different length means the datagram had a
        // payload marker with an empty payload (RFC 7252 §3: a format error).
        match frame.encode(usize::MAX) {
            Ok(bytes) if bytes.len() == data.len() => Ok(frame),
            Ok(_) => Err(MalformedKind::EmptyPayload),
            Err(_) => Err(MalformedKind::Options),
        }
    }

    /// Encodes into a datagram of at most `limit` bytes.
    pub(crate) fn encode(&self, limit: usize) -> Result<Vec<u8>> {
        if self.token.len() > 8 {
            return Err(Error::Misuse("token longer than 8 bytes"));
        }
        let mut p = coap_lite::Packet::new();
        p.header.set_version(1);
        p.header.set_type(self.mtype.to_lite());
        p.header.message_id = self.mid;
        p.header.code = coap_lite::MessageClass::from(self.msg.code.0);
        p.set_token(self.token.clone());
        for (number, values) in &self.msg.options.0 {
            if values.is_empty() {
                continue;
            }
            let list: std::collections::LinkedList<Vec<u8>> = values.iter().cloned().collect();
            p.set_option(coap_lite::CoapOption::from(*number), list);
        }
        p.payload.clone_from(&self.msg.payload);
        p.to_bytes_with_limit(limit)
            .map_err(|_| Error::MessageTooLarge { limit })
    }

    /// An Empty message (ACK or RST) for `mid`.
    pub(crate) fn empty(mtype: MessageType, mid: u16) -> Vec<u8> {
        let t: u8 = match mtype {
            MessageType::Confirmable => 0,
            MessageType::NonConfirmable => 1,
            MessageType::Acknowledgement => 2,
            MessageType::Reset => 3,
        };
        let [m0, m1] = mid.to_be_bytes();
        vec![0x40 | (t << 4), 0, m0, m1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint_round_trip() {
        for v in [0u32, 1, 255, 256, 65_535, 65_536, u32::MAX] {
            assert_eq!(decode_uint(&encode_uint(v)), Some(v));
        }
        assert_eq!(encode_uint(0), Vec::<u8>::new());
        assert_eq!(encode_uint(0x0102), vec![1, 2]);
        assert_eq!(decode_uint(&[1, 2, 3, 4, 5]), None);
    }

    #[test]
    fn block_option_round_trip() {
        let b = BlockOption {
            num: 5,
            more: true,
            szx: 6,
        };
        assert_eq!(b.size(), 1024);
        assert_eq!(b.offset(), 5120);
        assert_eq!(BlockOption::decode(&b.encode()), Some(b));
        assert_eq!(
            BlockOption::decode(&[0x0F]),
            None,
            "szx 7 (BERT) is rejected over UDP"
        );
        assert_eq!(BlockOption::decode(&[1, 2, 3, 4]), None);
        assert_eq!(
            BlockOption::decode(&[]),
            Some(BlockOption {
                num: 0,
                more: false,
                szx: 0
            })
        );
    }

    #[test]
    fn frame_round_trip_and_rfc7252_example() {
        // RFC 7252 Appendix A-like GET /temperature, CON, MID 0x7d34, token 0x71.
        let mut msg = Message::request(Code::GET, "/temperature");
        msg.options.set_uint(option::ACCEPT, 0);
        let f = Frame {
            mtype: MessageType::Confirmable,
            mid: 0x7d34,
            token: vec![0x71],
            msg,
        };
        let bytes = f.encode(1152).unwrap();
        assert_eq!(&bytes[..5], &[0x41, 0x01, 0x7d, 0x34, 0x71]);
        assert_eq!(Frame::decode(&bytes).unwrap(), f);
    }

    #[test]
    fn payload_marker_without_payload_is_malformed() {
        let bytes = [0x40, 0x01, 0x00, 0x01, 0xFF];
        assert_eq!(Frame::decode(&bytes), Err(MalformedKind::EmptyPayload));
    }

    #[test]
    fn path_and_query() {
        let m = Message::request(Code::GET, "/a/b?x=1&y");
        assert_eq!(m.path().unwrap(), "/a/b");
        assert_eq!(m.queries(), vec!["x=1", "y"]);
        assert_eq!(Message::new(Code::GET).path().unwrap(), "/");
        assert_eq!(Code::NOT_FOUND.to_string(), "4.04");
        assert_eq!(Code::new(2, 31), Code::CONTINUE);
    }
}
