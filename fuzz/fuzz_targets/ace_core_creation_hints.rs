#![no_main]
//! RFC 9200 AS Request Creation Hints decoder.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = ace_core::CreationHints::decode(data) {
        let again = h.encode().expect("decoded hints re-encode");
        // `rest` keeps wire order, so compare the deterministic re-encodings.
        let third = ace_core::CreationHints::decode(&again)
            .expect("re-decodes")
            .encode()
            .expect("re-encodes");
        assert_eq!(third, again);
    }
    let _ = ace_core::CreationHints::from_json(data);
});
