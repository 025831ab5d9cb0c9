//! AIF (RFC 9237) bench: decode a 32-entry AIF-REST scope from CBOR and check one request,
//! next to its limit, ciborium decoding the same bytes into a generic `ciborium::Value`
//! (`bare`). `cargo xtask bench` prints `decode_and_check / bare`.

use std::hint::black_box;

use ace_benches::BASELINE_ID;
use aif::{LocalPart, Method, RestAif, RestMethods};
use criterion::{Criterion, criterion_group, criterion_main};

/// 32 entries like `["/r/07/state", GET|PUT|Dynamic-GET]`, as an RS with many resources
/// would receive in a token's scope.
fn scope_bytes() -> Vec<u8> {
    let aif: RestAif = (0..32u32)
        .map(|i| {
            let toid = LocalPart::new(format!("/r/{i:02}/state")).expect("absolute");
            let perms = RestMethods::GET
                .with(if i % 2 == 0 {
                    Method::Put
                } else {
                    Method::Post
                })
                .with_dynamic(Method::Get);
            (toid, perms)
        })
        .collect();
    aif.to_cbor().expect("encodes")
}

fn bench_aif(c: &mut Criterion) {
    let bytes = scope_bytes();
    let mut group = c.benchmark_group("aif");
    group.bench_function("decode_and_check", |b| {
        b.iter(|| {
            let aif = RestAif::from_cbor(black_box(&bytes)).expect("valid scope");
            black_box(aif.check(black_box("/r/31/state"), Method::Post))
        })
    });
    group.bench_function(BASELINE_ID, |b| {
        b.iter(|| {
            let value: ciborium::Value =
                ciborium::de::from_reader(black_box(&bytes[..])).expect("valid CBOR");
            black_box(value)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_aif);
criterion_main!(benches);
