//! Framing and encoding on top of `mqtt5-protocol`.
//!
//! * [`decode_packet`] takes bytes from the stream and returns one packet once it is complete,
//!   with a size limit checked before the body is read, and trailing bytes inside a packet
//!   refused.
//! * [`encode_packet`] writes a packet. `mqtt5-protocol` keeps properties in a hash map, so its
//!   property order changes between runs; for the packets whose bytes the profile fixes
//!   (CONNECT, CONNACK, AUTH, DISCONNECT — the MQV vectors) we write the properties sorted by
//!   identifier, so output is deterministic. Other packets use the library's encoder.

use mqtt5_protocol::encoding::{encode_binary, encode_string, encode_variable_int};
use mqtt5_protocol::packet::MqttPacket as _;
use mqtt5_protocol::packet::auth::AuthPacket;
use mqtt5_protocol::packet::connack::ConnAckPacket;
use mqtt5_protocol::packet::connect::ConnectPacket;
use mqtt5_protocol::packet::disconnect::DisconnectPacket;
use mqtt5_protocol::{FixedHeader, Packet, PacketType, Properties, PropertyValue};

use crate::consts::protocol_level;
use crate::error::{Error, Result};

/// Default largest packet accepted (fixed header included): 256 KiB.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 256 * 1024;

fn malformed(e: impl core::fmt::Display) -> Error {
    Error::MalformedPacket(e.to_string())
}

/// Decodes one packet from the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, `Ok(Some((packet, consumed)))` otherwise.
/// `protocol_version` selects the v3.1.1 or v5 body layout (CONNECT detects its own).
///
/// # Errors
/// [`Error::PacketTooLarge`] before reading a body above `max_size`;
/// [`Error::MalformedPacket`] for anything the codec refuses or bytes left inside the body.
pub fn decode_packet(
    buf: &[u8],
    protocol_version: u8,
    max_size: usize,
) -> Result<Option<(Packet, usize)>> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    // Remaining Length: at most four bytes (MQTT v5 §1.5.5).
    let mut remaining: usize = 0;
    let mut header_len = 1;
    let mut shift = 0;
    loop {
        let Some(&b) = buf.get(header_len) else {
            return Ok(None);
        };
        header_len += 1;
        remaining |= usize::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if header_len > 4 {
            return Err(Error::MalformedPacket(
                "remaining length over 4 bytes".into(),
            ));
        }
    }
    let total = header_len.saturating_add(remaining);
    if total > max_size {
        return Err(Error::PacketTooLarge {
            size: total,
            max: max_size,
        });
    }
    let Some(body) = buf.get(header_len..total) else {
        return Ok(None);
    };
    let packet_type = PacketType::from_u8(first >> 4)
        .ok_or_else(|| Error::MalformedPacket(format!("packet type {}", first >> 4)))?;
    let fixed = FixedHeader::new(
        packet_type,
        first & 0x0F,
        u32::try_from(remaining).map_err(malformed)?,
    );
    let mut cursor: &[u8] = body;
    let packet =
        Packet::decode_from_body_with_version(packet_type, &fixed, &mut cursor, protocol_version)
            .map_err(malformed)?;
    if !cursor.is_empty() {
        return Err(Error::MalformedPacket("bytes left in packet body".into()));
    }
    Ok(Some((packet, total)))
}

/// Decodes exactly one packet that fills `bytes` (tests, vectors, fuzzing).
///
/// # Errors
/// As [`decode_packet`], plus [`Error::MalformedPacket`] if the packet is incomplete or
/// followed by more bytes.
pub fn decode_exact(bytes: &[u8], protocol_version: u8) -> Result<Packet> {
    match decode_packet(bytes, protocol_version, usize::MAX)? {
        Some((p, n)) if n == bytes.len() => Ok(p),
        Some(_) => Err(Error::MalformedPacket("trailing bytes".into())),
        None => Err(Error::MalformedPacket("incomplete packet".into())),
    }
}

/// Writes `props` sorted by property identifier (values of one identifier in their order).
///
/// # Errors
/// [`Error::MalformedPacket`] if a value cannot be encoded (too long).
pub fn encode_properties(props: &Properties, out: &mut Vec<u8>) -> Result<()> {
    let mut items: Vec<(u8, &PropertyValue)> = props.iter().map(|(id, v)| (id as u8, v)).collect();
    items.sort_by_key(|(id, _)| *id);
    let mut body = Vec::new();
    for (id, value) in items {
        encode_variable_int(&mut body, u32::from(id)).map_err(malformed)?;
        match value {
            PropertyValue::Byte(v) => body.push(*v),
            PropertyValue::TwoByteInteger(v) => body.extend_from_slice(&v.to_be_bytes()),
            PropertyValue::FourByteInteger(v) => body.extend_from_slice(&v.to_be_bytes()),
            PropertyValue::VariableByteInteger(v) => {
                encode_variable_int(&mut body, *v).map_err(malformed)?;
            }
            PropertyValue::BinaryData(v) => encode_binary(&mut body, v).map_err(malformed)?,
            PropertyValue::Utf8String(v) => encode_string(&mut body, v).map_err(malformed)?,
            PropertyValue::Utf8StringPair(k, v) => {
                encode_string(&mut body, k).map_err(malformed)?;
                encode_string(&mut body, v).map_err(malformed)?;
            }
        }
    }
    encode_variable_int(out, u32::try_from(body.len()).map_err(malformed)?).map_err(malformed)?;
    out.extend_from_slice(&body);
    Ok(())
}

fn frame(first_byte: u8, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.push(first_byte);
    encode_variable_int(out, u32::try_from(body.len()).map_err(malformed)?).map_err(malformed)?;
    out.extend_from_slice(body);
    Ok(())
}

fn encode_connect(p: &ConnectPacket, out: &mut Vec<u8>) -> Result<()> {
    let v5 = p.protocol_version == protocol_level::V5;
    let mut body = Vec::new();
    encode_string(&mut body, "MQTT").map_err(malformed)?;
    body.push(p.protocol_version);
    let mut flags = 0u8;
    if p.username.is_some() {
        flags |= 0x80;
    }
    if p.password.is_some() {
        flags |= 0x40;
    }
    if let Some(w) = &p.will {
        flags |= 0x04 | ((w.qos as u8) << 3);
        if w.retain {
            flags |= 0x20;
        }
    }
    if p.clean_start {
        flags |= 0x02;
    }
    body.push(flags);
    body.extend_from_slice(&p.keep_alive.to_be_bytes());
    if v5 {
        encode_properties(&p.properties, &mut body)?;
    }
    encode_string(&mut body, &p.client_id).map_err(malformed)?;
    if let Some(w) = &p.will {
        if v5 {
            encode_properties(&p.will_properties, &mut body)?;
        }
        encode_string(&mut body, &w.topic).map_err(malformed)?;
        encode_binary(&mut body, &w.payload).map_err(malformed)?;
    }
    if let Some(u) = &p.username {
        encode_string(&mut body, u).map_err(malformed)?;
    }
    if let Some(pw) = &p.password {
        encode_binary(&mut body, pw).map_err(malformed)?;
    }
    frame(0x10, &body, out)
}

fn encode_connack(p: &ConnAckPacket, out: &mut Vec<u8>) -> Result<()> {
    let mut body = vec![u8::from(p.session_present)];
    if p.protocol_version == protocol_level::V311 {
        // The library maps v5 reason codes to v3.1.1 return codes; reuse it through a body
        // encode so the table stays in one place.
        let mut lib = Vec::new();
        p.encode_body(&mut lib).map_err(malformed)?;
        return frame(0x20, &lib, out);
    }
    body.push(u8::from(p.reason_code));
    encode_properties(&p.properties, &mut body)?;
    frame(0x20, &body, out)
}

fn encode_auth(p: &AuthPacket, out: &mut Vec<u8>) -> Result<()> {
    let mut body = vec![u8::from(p.reason_code)];
    encode_properties(&p.properties, &mut body)?;
    frame(0xF0, &body, out)
}

fn encode_disconnect(p: &DisconnectPacket, out: &mut Vec<u8>) -> Result<()> {
    let mut body = vec![u8::from(p.reason_code)];
    encode_properties(&p.properties, &mut body)?;
    frame(0xE0, &body, out)
}

/// Encodes `packet` and appends it to `out`.
///
/// # Errors
/// [`Error::MalformedPacket`] if the codec cannot encode it (a string over 65 535 bytes, …).
pub fn encode_packet(packet: &Packet, out: &mut Vec<u8>) -> Result<()> {
    match packet {
        Packet::Connect(p) => encode_connect(p, out),
        Packet::ConnAck(p) => encode_connack(p, out),
        Packet::Auth(p) => encode_auth(p, out),
        Packet::Disconnect(p) => encode_disconnect(p, out),
        Packet::Publish(p) => p.encode(out).map_err(malformed),
        Packet::PubAck(p) => p.encode(out).map_err(malformed),
        Packet::PubRec(p) => p.encode(out).map_err(malformed),
        Packet::PubRel(p) => p.encode(out).map_err(malformed),
        Packet::PubComp(p) => p.encode(out).map_err(malformed),
        Packet::Subscribe(p) => p.encode(out).map_err(malformed),
        Packet::SubAck(p) => p.encode(out).map_err(malformed),
        Packet::Unsubscribe(p) => p.encode(out).map_err(malformed),
        Packet::UnsubAck(p) => p.encode(out).map_err(malformed),
        Packet::PingReq => {
            out.extend_from_slice(&[0xC0, 0x00]);
            Ok(())
        }
        Packet::PingResp => {
            out.extend_from_slice(&[0xD0, 0x00]);
            Ok(())
        }
    }
}

/// Encodes `packet` into a new buffer.
///
/// # Errors
/// As [`encode_packet`].
pub fn encode_to_vec(packet: &Packet) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_packet(packet, &mut out)?;
    Ok(out)
}
