//! A minimal, `no_std` view of a CoAP message (RFC 7252 §3) that OSCORE works on.
//!
//! OSCORE only needs the Code, the options as `(number, value)` pairs and the payload; the
//! messaging layer (type, message ID, token) is not protected (RFC 8613 §4.2) and stays with
//! the transport. [`Message`] is that view. [`Packet`] adds the UDP header so that tests and
//! shells without a CoAP stack can encode and decode whole datagrams (RFC 8613 Appendix C
//! vectors are whole datagrams). We use our own codec instead of coap-lite because the
//! plaintext of RFC 8613 §5.3 is "Code + options + payload" without a header, which no CoAP
//! library exposes, and because every decoding step here must be a typed error.

use alloc::vec::Vec;

use crate::error::DecodeError;

/// One CoAP option: number and raw value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoapOption {
    /// Option number (RFC 7252 §5.10, registry §12.2).
    pub number: u16,
    /// Raw option value.
    pub value: Vec<u8>,
}

/// Code, options and payload of a CoAP request or response.
///
/// Options are kept sorted by number (stable: repeated options keep their order); use
/// [`Message::add_option`] to insert.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The code, `class << 5 | detail` (0.01 GET = 0x01, 2.05 Content = 0x45).
    pub code: u8,
    /// Options in ascending number order.
    pub options: Vec<CoapOption>,
    /// The payload (empty: no payload marker).
    pub payload: Vec<u8>,
}

impl Message {
    /// A message with `code`, no options and no payload.
    #[must_use]
    pub const fn new(code: u8) -> Self {
        Self {
            code,
            options: Vec::new(),
            payload: Vec::new(),
        }
    }

    /// Whether the code is a request method (class 0, non-zero).
    #[must_use]
    pub const fn is_request(&self) -> bool {
        self.code != 0 && self.code >> 5 == 0
    }

    /// Inserts an option after any options with the same or a lower number.
    pub fn add_option(&mut self, number: u16, value: impl Into<Vec<u8>>) {
        let at = self.options.partition_point(|o| o.number <= number);
        self.options.insert(
            at,
            CoapOption {
                number,
                value: value.into(),
            },
        );
    }

    /// Builder form of [`Message::add_option`].
    #[must_use]
    pub fn with_option(mut self, number: u16, value: impl Into<Vec<u8>>) -> Self {
        self.add_option(number, value);
        self
    }

    /// Builder: sets the payload.
    #[must_use]
    pub fn with_payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }

    /// The first value of option `number`.
    #[must_use]
    pub fn option(&self, number: u16) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|o| o.number == number)
            .map(|o| o.value.as_slice())
    }

    /// Whether option `number` is present.
    #[must_use]
    pub fn has_option(&self, number: u16) -> bool {
        self.options.iter().any(|o| o.number == number)
    }

    /// Removes every instance of option `number`.
    pub fn remove_option(&mut self, number: u16) {
        self.options.retain(|o| o.number != number);
    }

    /// Sorts options by number (stable), for messages whose `options` were filled by hand.
    pub fn normalize(&mut self) {
        self.options.sort_by_key(|o| o.number);
    }
}

/// CoAP message type (RFC 7252 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageType {
    /// Confirmable.
    #[default]
    Confirmable,
    /// Non-confirmable.
    NonConfirmable,
    /// Acknowledgement.
    Acknowledgement,
    /// Reset.
    Reset,
}

impl MessageType {
    const fn bits(self) -> u8 {
        match self {
            Self::Confirmable => 0,
            Self::NonConfirmable => 1,
            Self::Acknowledgement => 2,
            Self::Reset => 3,
        }
    }

    const fn from_bits(b: u8) -> Self {
        match b & 3 {
            0 => Self::Confirmable,
            1 => Self::NonConfirmable,
            2 => Self::Acknowledgement,
            _ => Self::Reset,
        }
    }
}

/// A whole CoAP-over-UDP datagram: header fields, token and the [`Message`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packet {
    /// Message type.
    pub ty: MessageType,
    /// Message ID.
    pub message_id: u16,
    /// Token (0 to 8 bytes).
    pub token: Vec<u8>,
    /// Code, options, payload.
    pub message: Message,
}

impl Packet {
    /// Decodes a datagram (RFC 7252 §3).
    ///
    /// # Errors
    /// [`DecodeError`] for a wrong version, a token longer than 8 bytes, bad options or a
    /// payload marker without payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let b0 = r.u8()?;
        if b0 >> 6 != 1 {
            return Err(DecodeError::InvalidHeader);
        }
        let tkl = usize::from(b0 & 0x0f);
        if tkl > 8 {
            return Err(DecodeError::InvalidHeader);
        }
        let code = r.u8()?;
        let mid = r.take(2)?;
        let message_id = u16::from_be_bytes([
            mid.first().copied().unwrap_or(0),
            mid.get(1).copied().unwrap_or(0),
        ]);
        let token = r.take(tkl)?.to_vec();
        let (options, payload) = decode_options_and_payload(r.rest())?;
        Ok(Self {
            ty: MessageType::from_bits(b0 >> 4),
            message_id,
            token,
            message: Message {
                code,
                options,
                payload,
            },
        })
    }

    /// Encodes the datagram into `out` (appending).
    ///
    /// # Errors
    /// [`DecodeError::InvalidHeader`] when the token is longer than 8 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let tkl = u8::try_from(self.token.len())
            .ok()
            .filter(|l| *l <= 8)
            .ok_or(DecodeError::InvalidHeader)?;
        out.push(0x40 | self.ty.bits() << 4 | tkl);
        out.push(self.message.code);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.token);
        encode_options(&self.message.options, out);
        encode_payload(&self.message.payload, out);
        Ok(())
    }

    /// [`Packet::encode`] into a new vector.
    ///
    /// # Errors
    /// As [`Packet::encode`].
    pub fn to_vec(&self) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        self.encode(&mut out)?;
        Ok(out)
    }
}

/// A byte reader that never panics.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    #[must_use]
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// The next byte.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] at the end.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let (first, rest) = self.buf.split_first().ok_or(DecodeError::Truncated)?;
        self.buf = rest;
        Ok(*first)
    }

    /// The next `n` bytes.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when fewer remain.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// Everything not read yet (consumes it).
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    /// Whether everything was read.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

fn ext_len(nibble: u8, r: &mut Reader<'_>) -> Result<u32, DecodeError> {
    match nibble {
        0..=12 => Ok(u32::from(nibble)),
        13 => Ok(u32::from(r.u8()?) + 13),
        14 => {
            let b = r.take(2)?;
            let v = u16::from_be_bytes([
                b.first().copied().unwrap_or(0),
                b.get(1).copied().unwrap_or(0),
            ]);
            Ok(u32::from(v) + 269)
        }
        _ => Err(DecodeError::InvalidOption),
    }
}

/// Decodes options (delta encoded, RFC 7252 §3.1) and the payload after the marker.
///
/// # Errors
/// [`DecodeError::InvalidOption`] for a reserved nibble or a number above 65535;
/// [`DecodeError::EmptyPayload`] for a marker with nothing after it.
pub fn decode_options_and_payload(bytes: &[u8]) -> Result<(Vec<CoapOption>, Vec<u8>), DecodeError> {
    let (options, start) = decode_options(bytes)?;
    let payload = start
        .and_then(|i| bytes.get(i..))
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    Ok((options, payload))
}

/// Decodes options up to the payload marker; returns them and the index where the
/// (non-empty) payload starts, if there is one. The hot path uses the index to keep the
/// payload in the buffer it was decrypted into.
///
/// # Errors
/// As [`decode_options_and_payload`].
pub(crate) fn decode_options(
    bytes: &[u8],
) -> Result<(Vec<CoapOption>, Option<usize>), DecodeError> {
    let mut r = Reader::new(bytes);
    let mut options = Vec::new();
    let mut number: u32 = 0;
    while !r.is_empty() {
        let b = r.u8()?;
        if b == 0xff {
            let payload = r.rest();
            if payload.is_empty() {
                return Err(DecodeError::EmptyPayload);
            }
            return Ok((options, Some(bytes.len() - payload.len())));
        }
        let delta = ext_len(b >> 4, &mut r)?;
        let len = ext_len(b & 0x0f, &mut r)?;
        number += delta;
        let n = u16::try_from(number).map_err(|_| DecodeError::InvalidOption)?;
        let len = usize::try_from(len).map_err(|_| DecodeError::InvalidOption)?;
        let value = r.take(len)?.to_vec();
        options.push(CoapOption { number: n, value });
    }
    Ok((options, None))
}

fn nibble(v: u32, ext: &mut [u8; 2]) -> (u8, usize) {
    if v < 13 {
        (v as u8, 0)
    } else if v < 269 {
        ext[0] = (v - 13) as u8;
        (13, 1)
    } else {
        let e = ((v - 269) as u16).to_be_bytes();
        *ext = e;
        (14, 2)
    }
}

/// Encodes options (which must be sorted by number) with delta encoding (RFC 7252 §3.1).
pub fn encode_options(options: &[CoapOption], out: &mut Vec<u8>) {
    encode_option_iter(options.iter().map(|o| (o.number, o.value.as_slice())), out);
}

/// [`encode_options`] over `(number, value)` pairs in ascending number order. Values longer
/// than 65804 bytes (the CoAP maximum) are cut to that length.
pub fn encode_option_iter<'a>(
    options: impl IntoIterator<Item = (u16, &'a [u8])>,
    out: &mut Vec<u8>,
) {
    let mut prev: u32 = 0;
    for (number, value) in options {
        let value = value.get(..65535 + 269).unwrap_or(value);
        let num = u32::from(number);
        let delta = num.saturating_sub(prev);
        prev = num;
        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        let (mut de, mut le) = ([0u8; 2], [0u8; 2]);
        let (dn, dl) = nibble(delta, &mut de);
        let (ln, ll) = nibble(len, &mut le);
        out.push(dn << 4 | ln);
        out.extend(de.iter().take(dl));
        out.extend(le.iter().take(ll));
        out.extend_from_slice(value);
    }
}

/// Appends `0xff || payload` when the payload is not empty.
pub fn encode_payload(payload: &[u8], out: &mut Vec<u8>) {
    if !payload.is_empty() {
        out.push(0xff);
        out.extend_from_slice(payload);
    }
}

/// Encodes an unsigned integer option value in the shortest form (RFC 7252 §3.2).
#[must_use]
pub fn encode_uint(v: u32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes.iter().skip(skip).copied().collect()
}

/// Decodes an unsigned integer option value of at most 4 bytes.
#[must_use]
pub fn decode_uint(v: &[u8]) -> Option<u32> {
    if v.len() > 4 {
        return None;
    }
    Some(v.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn packet_round_trip_with_extended_options() {
        let mut m = Message::new(0x01).with_payload(b"x".to_vec());
        m.add_option(11, b"a".to_vec());
        m.add_option(3, vec![7u8; 20]);
        m.add_option(300, vec![1u8; 300]);
        m.add_option(11, b"b".to_vec());
        let p = Packet {
            ty: MessageType::NonConfirmable,
            message_id: 7,
            token: vec![1, 2],
            message: m,
        };
        let bytes = p.to_vec().unwrap();
        assert_eq!(Packet::decode(&bytes).unwrap(), p);
        assert_eq!(
            p.message
                .options
                .iter()
                .map(|o| o.number)
                .collect::<Vec<_>>(),
            [3, 11, 11, 300]
        );
        assert_eq!(p.message.options[1].value, b"a");
    }

    #[test]
    fn decode_rejects_bad_input() {
        assert_eq!(Packet::decode(&[0x40, 1, 0]), Err(DecodeError::Truncated));
        assert_eq!(
            Packet::decode(&[0x80, 1, 0, 0]),
            Err(DecodeError::InvalidHeader)
        );
        assert_eq!(
            Packet::decode(&[0x49, 1, 0, 0]),
            Err(DecodeError::InvalidHeader)
        );
        assert_eq!(
            Packet::decode(&[0x40, 1, 0, 0, 0xff]),
            Err(DecodeError::EmptyPayload)
        );
        assert_eq!(
            Packet::decode(&[0x40, 1, 0, 0, 0xf0]),
            Err(DecodeError::InvalidOption)
        );
        assert_eq!(decode_uint(&[1, 0]), Some(256));
        assert_eq!(encode_uint(0), Vec::<u8>::new());
        assert_eq!(encode_uint(256), vec![1, 0]);
    }
}
