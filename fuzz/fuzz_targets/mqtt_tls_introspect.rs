//! Fuzz target: the broker's token introspection inputs in `mqtt-tls-profile`
//! (`introspect`, feature `broker`).
//!
//! The first input byte selects what the rest is:
//! * even: an MQTT packet from a client (v5 and v3.1.1 layouts), handed to
//!   `introspect::presented_token` with a store that remembers a token for client `c1`.
//!   Invariants: a token is found only in a v3.1.1 CONNECT (`ace` + base64url of it as the
//!   Username, canonical), an `ace` v5 CONNECT (the length-prefixed token of the
//!   Authentication Data, or without data the token remembered for its Client Identifier)
//!   or an AUTH Re-authenticate (its Authentication Data's token); nothing else presents one.
//! * odd: the AS's answer to an introspection request (network input): decoded as an
//!   introspection response and mapped with `introspect::claims_of`, whose claims are
//!   exactly the response's token claims; also decoded as an error response.

#![no_main]

use ace_token::{Audience, UnixTime};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use mqtt_tls_profile::consts::protocol_level;
use mqtt_tls_profile::introspect::{claims_of, presented_token};
use mqtt_tls_profile::mqtt5_protocol::{Packet, PropertyId, PropertyValue, ReasonCode};
use mqtt_tls_profile::{TokenStore, pop, wire};

const NOW: UnixTime = UnixTime(1_000);
const REMEMBERED: &[u8] = b"remembered-token";

fn auth_data(props: &mqtt_tls_profile::mqtt5_protocol::Properties) -> Option<&[u8]> {
    match props.get(PropertyId::AuthenticationData) {
        Some(PropertyValue::BinaryData(b)) => Some(b),
        _ => None,
    }
}

fn is_ace(props: &mqtt_tls_profile::mqtt5_protocol::Properties) -> bool {
    matches!(
        props.get(PropertyId::AuthenticationMethod),
        Some(PropertyValue::Utf8String(m)) if m == "ace"
    )
}

fn check_packet(packet: &Packet, store: &TokenStore) {
    let Some(token) = presented_token(packet, store, NOW) else {
        return;
    };
    match packet {
        Packet::Connect(c) if c.protocol_version == protocol_level::V311 => {
            let user = c.username.as_deref().expect("a Username");
            assert_eq!(user, format!("ace{}", URL_SAFE_NO_PAD.encode(&token)));
        }
        Packet::Connect(c) => {
            assert!(is_ace(&c.properties), "token from a non-ace CONNECT");
            match auth_data(&c.properties) {
                Some(d) => {
                    let (t, _) = pop::split_token(d).expect("token from unsplittable data");
                    assert_eq!(t, token.as_slice());
                }
                None => {
                    assert_eq!(c.client_id, "c1");
                    assert_eq!(token, REMEMBERED);
                }
            }
        }
        Packet::Auth(a) => {
            assert_eq!(a.reason_code, ReasonCode::ReAuthenticate);
            let d = auth_data(&a.properties).expect("Authentication Data");
            let (t, _) = pop::split_token(d).expect("token from unsplittable data");
            assert_eq!(t, token.as_slice());
        }
        other => panic!("a token from {other:?}"),
    }
}

fn check_response(data: &[u8]) {
    if let Ok(r) = ace_core::IntrospectionResponse::decode(data) {
        let c = claims_of(r.clone());
        assert_eq!(c.iss, r.iss);
        assert_eq!(c.sub, r.sub);
        assert_eq!(c.aud, r.aud.clone().map(Audience::Single));
        assert_eq!(c.exp, r.exp);
        assert_eq!(c.nbf, r.nbf);
        assert_eq!(c.iat, r.iat);
        assert_eq!(c.cti, r.cti);
        assert_eq!(c.scope, r.scope);
        assert_eq!(c.cnonce, r.cnonce);
        assert_eq!(c.exi, r.exi);
        assert_eq!(c.ace_profile, r.ace_profile);
    }
    let _ = ace_core::ErrorResponse::decode(data);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        check_response(rest);
        return;
    }
    let mut store = TokenStore::new(4);
    store.remember_for_client("c1", REMEMBERED.to_vec(), None, NOW);
    for version in [protocol_level::V5, protocol_level::V311] {
        if let Ok(packet) = wire::decode_exact(rest, version) {
            check_packet(&packet, &store);
        }
    }
});
