//! Fuzz target: the message format of the broker's SQLite persistence
//! (`mqtt-tls-profile` `broker::persist`: retained messages and queued session messages are
//! stored as encoded v5 PUBLISH packets and read back with `wire::decode_exact`).
//!
//! `persist` itself is private (reached only through `Broker::bind`), so this target runs
//! the same public codec steps it does: a BLOB read from the file is decoded as a v5 PUBLISH
//! (file input); and a PUBLISH the broker received from a client (v5 or v3.1.1, network
//! input) is stored the way `persist` stores it (v5, packet id 1 when QoS > 0) and read
//! back. Invariants: no panic; errors are typed; every PUBLISH that decodes can be stored
//! (encodes), and what is read back has the same topic, payload, QoS, retain flag and
//! properties.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_tls_profile::consts::protocol_level;
use mqtt_tls_profile::mqtt5_protocol::packet::publish::PublishPacket;
use mqtt_tls_profile::mqtt5_protocol::{Packet, QoS};
use mqtt_tls_profile::{Error, wire};

/// What `persist` keeps of a message, and how it stores it.
fn store(p: &PublishPacket) -> Vec<u8> {
    let mut s = PublishPacket::new(p.topic_name.clone(), p.payload.to_vec(), p.qos);
    s.properties = p.properties.clone();
    s.retain = p.retain;
    if p.qos != QoS::AtMostOnce {
        s.packet_id = Some(1);
    }
    wire::encode_to_vec(&Packet::Publish(s))
        .unwrap_or_else(|e| panic!("a decoded PUBLISH cannot be stored: {e:?} {p:?}"))
}

fn round_trip(p: &PublishPacket) {
    let bytes = store(p);
    let back = match wire::decode_exact(&bytes, protocol_level::V5) {
        Ok(Packet::Publish(b)) => b,
        other => panic!("a stored PUBLISH does not read back: {other:?} from {p:?}"),
    };
    assert_eq!(back.topic_name, p.topic_name);
    assert_eq!(back.payload, p.payload);
    assert_eq!(back.qos, p.qos);
    assert_eq!(back.retain, p.retain);
    assert_eq!(back.properties, p.properties);
}

fn typed(e: &Error) {
    assert!(
        matches!(e, Error::MalformedPacket(_) | Error::PacketTooLarge { .. }),
        "{e:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    for version in [protocol_level::V5, protocol_level::V311] {
        match wire::decode_exact(data, version) {
            Ok(Packet::Publish(p)) => round_trip(&p),
            Ok(_) => {}
            Err(e) => typed(&e),
        }
    }
});
