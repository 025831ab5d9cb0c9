//! Fuzz target: the CMP request classifier and response inspector of `cmp-coap`
//! (`classify`, `inspect_response`) on arbitrary bytes. They must never panic; whatever
//! `classify` accepts, `inspect_response` accepts too, with the same classification.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let classified = cmp_coap::classify(data);
    let inspected = cmp_coap::inspect_response(data);
    match (classified, inspected) {
        (Ok(c), Ok((i, _))) => assert_eq!(c, i),
        (Err(_), Err(_)) => {}
        (c, i) => panic!("classify {c:?} but inspect_response {i:?}"),
    }
});
