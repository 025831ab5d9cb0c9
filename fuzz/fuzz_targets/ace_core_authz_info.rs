#![no_main]
//! RFC 9200 authz-info payload decoders (all Content-Formats; first byte picks one).
use ace_core::ContentFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let cf = match sel % 4 {
        0 => None,
        1 => Some(ContentFormat::CWT),
        2 => Some(ContentFormat::ACE_CBOR),
        _ => Some(ContentFormat(u16::from(sel))),
    };
    if let Ok(r) = ace_core::AuthzInfoRequest::decode(cf, payload) {
        let again = r.encode().expect("decoded payloads re-encode");
        let cf2 = r.content_format(ContentFormat::CWT);
        // `rest` keeps wire order, so compare the deterministic re-encodings.
        let back = ace_core::AuthzInfoRequest::decode(Some(cf2), &again).expect("re-decodes");
        assert_eq!(back.access_token(), r.access_token());
        assert_eq!(back.encode().expect("re-encodes"), again);
    }
    let _ = ace_core::AuthzInfoResponse::decode(payload);
});
