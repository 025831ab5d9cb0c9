#![no_main]
//! RFC 9200 token request decoders (CBOR, JSON, form); re-encoding what decoded must work.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = ace_core::TokenRequest::decode(data) {
        let again = r.encode().expect("decoded requests re-encode");
        // `rest` keeps wire order, so compare the deterministic re-encodings.
        let third = ace_core::TokenRequest::decode(&again)
            .expect("re-decodes")
            .encode()
            .expect("re-encodes");
        assert_eq!(third, again);
    }
    let _ = ace_core::TokenRequest::from_json(data);
    let _ = ace_core::TokenRequest::from_form(data);
    let _ = ace_core::TokenResponse::decode(data);
    let _ = ace_core::ErrorResponse::decode(data);
});
