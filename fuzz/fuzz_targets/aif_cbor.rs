//! Fuzz target: `application/aif+cbor` decoding of untrusted bytes, for every AIF instance.
//! Whatever decodes must re-encode, and the re-encoding must decode to the same value.

#![no_main]

use aif::{DecodeLimits, GroupAif, MqttAif, RestAif};
use libfuzzer_sys::fuzz_target;

/// Re-encodings may be longer than the input (an indefinite-length array gets a 3-byte
/// head, a control character a 6-byte JSON escape), so only the size limit is lifted.
const REDECODE: DecodeLimits = DecodeLimits {
    max_bytes: usize::MAX,
    ..DecodeLimits::DEFAULT
};

fuzz_target!(|data: &[u8]| {
    if let Ok(aif) = RestAif::from_cbor(data) {
        let bytes = aif.to_cbor().expect("a decoded REST value re-encodes");
        assert_eq!(
            RestAif::from_cbor_with(&bytes, &REDECODE).as_ref(),
            Ok(&aif)
        );
        let json = aif.to_json().expect("REST values fit in JSON");
        assert_eq!(RestAif::from_json_with(&json, &REDECODE).as_ref(), Ok(&aif));
    }
    if let Ok(aif) = MqttAif::from_cbor(data) {
        let bytes = aif.to_cbor().expect("a decoded MQTT value re-encodes");
        assert_eq!(
            MqttAif::from_cbor_with(&bytes, &REDECODE).as_ref(),
            Ok(&aif)
        );
    }
    if let Ok(aif) = GroupAif::from_cbor(data) {
        let bytes = aif.to_cbor().expect("a decoded group value re-encodes");
        assert_eq!(
            GroupAif::from_cbor_with(&bytes, &REDECODE).as_ref(),
            Ok(&aif)
        );
    }
});
