//! Client side of the profile: the packets a client sends (RFC 9431 §2.2.4, §4, §6).
//! Obtaining the token from the AS is not here yet (see the README checklist).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mqtt5_protocol::packet::auth::AuthPacket;
use mqtt5_protocol::packet::connect::ConnectPacket;
use mqtt5_protocol::{Packet, Properties, PropertyId, PropertyValue, ReasonCode, WillMessage};

use crate::consts::{
    AUTH_METHOD, CLIENT_NONCE_LEN, RS_NONCE_LEN, V311_USERNAME_PREFIX, protocol_level,
};
use crate::error::{Error, Result};
use crate::pop::{self, ClientKey};

fn ace_properties(data: Option<Vec<u8>>) -> Properties {
    let mut p = Properties::default();
    // safe: types match the identifiers and each is added once.
    let _ = p.add(
        PropertyId::AuthenticationMethod,
        PropertyValue::Utf8String(AUTH_METHOD.to_owned()),
    );
    if let Some(d) = data {
        let _ = p.add(
            PropertyId::AuthenticationData,
            PropertyValue::BinaryData(d.into()),
        );
    }
    p
}

fn connect(version: u8, client_id: &str, keep_alive: u16, properties: Properties) -> ConnectPacket {
    ConnectPacket {
        protocol_version: version,
        clean_start: true,
        keep_alive,
        client_id: client_id.to_owned(),
        username: None,
        password: None,
        will: None,
        properties,
        will_properties: Properties::default(),
    }
}

/// v5 CONNECT with Authentication Data `len ‖ token ‖ PoP over the exporter`
/// (RFC 9431 §2.2.4.2.1, Figure 4; MQV-2).
///
/// # Errors
/// [`Error::MalformedAuthData`] for an empty or oversized token; PoP errors from the key.
pub fn connect_with_exporter_pop(
    client_id: &str,
    keep_alive: u16,
    token: &[u8],
    key: &ClientKey,
    exporter: &[u8],
) -> Result<ConnectPacket> {
    let proof = key.prove(exporter)?;
    let data = pop::join_token(token, &proof)?;
    Ok(connect(
        protocol_level::V5,
        client_id,
        keep_alive,
        ace_properties(Some(data)),
    ))
}

/// v5 CONNECT with Authentication Data `len ‖ token`, starting the challenge
/// (RFC 9431 §2.2.4.2.2, Figure 5; MQV-3). `token = None` sends the method only (AS discovery
/// or a token the broker remembers, MQ-051).
///
/// # Errors
/// [`Error::MalformedAuthData`] for an empty or oversized token.
pub fn connect_for_challenge(
    client_id: &str,
    keep_alive: u16,
    token: Option<&[u8]>,
) -> Result<ConnectPacket> {
    let data = token.map(|t| pop::join_token(t, &[])).transpose()?;
    Ok(connect(
        protocol_level::V5,
        client_id,
        keep_alive,
        ace_properties(data),
    ))
}

/// Adds a Will to a CONNECT.
#[must_use]
pub fn with_will(mut c: ConnectPacket, will: WillMessage) -> ConnectPacket {
    c.will = Some(will);
    c
}

/// The v3.1.1 Username `"ace" ‖ base64url(token)` without padding (RFC 9431 §6.1, Figure 13;
/// MQV-11).
#[must_use]
pub fn v311_username(token: &[u8]) -> String {
    format!("{V311_USERNAME_PREFIX}{}", URL_SAFE_NO_PAD.encode(token))
}

/// v3.1.1 CONNECT: Username = [`v311_username`], Password = PoP over the exporter
/// (RFC 9431 §6.1; MQV-12).
///
/// # Errors
/// PoP errors from the key.
pub fn connect_v311(
    client_id: &str,
    keep_alive: u16,
    token: &[u8],
    key: &ClientKey,
    exporter: &[u8],
) -> Result<ConnectPacket> {
    let mut c = connect(
        protocol_level::V311,
        client_id,
        keep_alive,
        Properties::default(),
    );
    c.username = Some(v311_username(token));
    c.password = Some(key.prove(exporter)?);
    Ok(c)
}

/// The client's AUTH 0x18 answer to a Broker challenge: `client nonce ‖ PoP over
/// (RS nonce ‖ client nonce)` (RFC 9431 Figure 7; MQV-6).
///
/// # Errors
/// [`Error::ProtocolError`] if `challenge` is not an AUTH 0x18 with method `ace` and an 8-byte
/// nonce; PoP errors from the key.
pub fn answer_challenge(
    challenge: &Packet,
    client_nonce: &[u8; CLIENT_NONCE_LEN],
    key: &ClientKey,
) -> Result<Packet> {
    let Packet::Auth(a) = challenge else {
        return Err(Error::ProtocolError("expected AUTH"));
    };
    let method = match a.properties.get(PropertyId::AuthenticationMethod) {
        Some(PropertyValue::Utf8String(m)) => m.as_str(),
        _ => "",
    };
    let nonce = match a.properties.get(PropertyId::AuthenticationData) {
        Some(PropertyValue::BinaryData(d)) if d.len() == RS_NONCE_LEN => d.to_vec(),
        _ => return Err(Error::ProtocolError("challenge without 8-byte nonce")),
    };
    if a.reason_code != ReasonCode::ContinueAuthentication || method != AUTH_METHOD {
        return Err(Error::ProtocolError("not an ace challenge"));
    }
    let mut input = nonce;
    input.extend_from_slice(client_nonce);
    let proof = key.prove(&input)?;
    let mut data = client_nonce.to_vec();
    data.extend_from_slice(&proof);
    let mut p = AuthPacket::new(ReasonCode::ContinueAuthentication);
    p.properties = ace_properties(Some(data));
    Ok(Packet::Auth(p))
}

/// AUTH 0x19 (re-authenticate) carrying `len ‖ token` (RFC 9431 §4; MQV-9).
///
/// # Errors
/// [`Error::MalformedAuthData`] for an empty or oversized token.
pub fn reauthenticate(token: &[u8]) -> Result<Packet> {
    let mut p = AuthPacket::new(ReasonCode::ReAuthenticate);
    p.properties = ace_properties(Some(pop::join_token(token, &[])?));
    Ok(Packet::Auth(p))
}
