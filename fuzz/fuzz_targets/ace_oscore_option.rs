//! Fuzz target: the OSCORE option value codec (RFC 8613 §6.1).
//!
//! Arbitrary bytes must never panic the decoder; whatever decodes must re-encode to exactly
//! the same bytes (the encoding is canonical) and decode again to the same value.

#![no_main]

use ace_oscore::OscoreOption;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(opt) = OscoreOption::decode(data) {
        let bytes = opt.to_vec().expect("a decoded option re-encodes");
        assert_eq!(bytes, data, "canonical encoding");
        assert_eq!(OscoreOption::decode(&bytes).expect("round trip"), opt);
        if let Some(piv) = opt.partial_iv_u64() {
            assert!(piv <= ace_oscore::consts::limits::MAX_SEQUENCE_NUMBER);
        }
    }
});
