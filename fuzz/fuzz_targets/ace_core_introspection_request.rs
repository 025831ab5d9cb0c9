#![no_main]
//! RFC 9200 introspection request/response decoders.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = ace_core::IntrospectionRequest::decode(data) {
        let again = r.encode().expect("decoded requests re-encode");
        // `rest` keeps wire order, so compare the deterministic re-encodings.
        let third = ace_core::IntrospectionRequest::decode(&again)
            .expect("re-decodes")
            .encode()
            .expect("re-encodes");
        assert_eq!(third, again);
    }
    let _ = ace_core::IntrospectionResponse::decode(data);
    let _ = ace_core::IntrospectionRequest::from_form(data);
    let _ = ace_core::IntrospectionResponse::from_json(data);
});
