//! Fuzz target: `application/aif+json` decoding of untrusted bytes, for every AIF instance.
//! Whatever decodes must re-encode, and the re-encoding must decode to the same value.

#![no_main]

use aif::{DecodeLimits, GroupAif, MqttAif, RestAif};
use libfuzzer_sys::fuzz_target;

/// Only the size limit is lifted for re-decoding (see `aif_cbor.rs`).
const REDECODE: DecodeLimits = DecodeLimits {
    max_bytes: usize::MAX,
    ..DecodeLimits::DEFAULT
};

fuzz_target!(|data: &[u8]| {
    if let Ok(aif) = RestAif::from_json(data) {
        let text = aif.to_json().expect("a decoded REST value re-encodes");
        assert_eq!(RestAif::from_json_with(&text, &REDECODE).as_ref(), Ok(&aif));
        let cbor = aif.to_cbor().expect("and encodes as CBOR");
        assert_eq!(RestAif::from_cbor_with(&cbor, &REDECODE).as_ref(), Ok(&aif));
    }
    if let Ok(aif) = MqttAif::from_json(data) {
        let text = aif.to_json().expect("a decoded MQTT value re-encodes");
        assert_eq!(MqttAif::from_json_with(&text, &REDECODE).as_ref(), Ok(&aif));
    }
    if let Ok(aif) = GroupAif::from_json(data) {
        let text = aif.to_json().expect("a decoded group value re-encodes");
        assert_eq!(
            GroupAif::from_json_with(&text, &REDECODE).as_ref(),
            Ok(&aif)
        );
    }
});
