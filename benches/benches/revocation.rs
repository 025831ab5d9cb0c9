//! RFC 9770 TRL endpoint bench: the AS answering a TRL query (`TrlEngine::handle_request`
//! plus the CBOR encoding of the response payload), next to its limit, ciborium writing the
//! same hashes as plain CBOR (`bare`, from a pre-built `ciborium::Value`).
//!
//! * `diff_query`: an administrator's `?diff=5` against a TRL of 1k / 10k / 100k revoked
//!   tokens whose last 5 updates revoked one token each. The answer is those 5 diff
//!   entries whatever the list size, so `engine/<n>` should stay flat in `n` and close to
//!   `bare/<n>` (the 5 entries, `[[[], [h]], ...]`).
//! * `full_query`: the administrator's full query of 100k hashes (`engine/100000`) next to
//!   CBOR-encoding an array of 100k 33-byte byte strings (`bare/100000`).

use std::hint::black_box;

use ace_benches::BASELINE_ID;
use ace_token::UnixTime;
use ciborium::Value;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use revocation::{
    HashAlg, Requester, RevokeTarget, Role, TokenHash, TokenRecord, TrlConfig, TrlEngine, TrlQuery,
    TrlRequest, TrlResponse,
};

const ADMIN: &[u8] = b"admin";
/// Updates a diff query returns (one revoked token each).
const DIFF: usize = 5;
/// Tokens revoked together in each bulk update before the last `DIFF` ones.
const BULK: usize = 1000;
const NOW: UnixTime = UnixTime(1_000_000);

/// A TRL of `n` revoked tokens (none expiring before `NOW`): `n - DIFF` revoked in bulk
/// updates of `BULK`, then `DIFF` updates of one token each.
fn engine_with(n: usize) -> TrlEngine {
    let mut e = TrlEngine::new(TrlConfig::default()).expect("default config");
    let _ = e
        .register(ADMIN.to_vec(), Role::Admin, &[])
        .expect("sha-256");
    let hashes: Vec<TokenHash> = (0..n)
        .map(|i| {
            let h = TokenHash::compute(HashAlg::Sha256, &(i as u64).to_be_bytes());
            let _ = e.token_issued(TokenRecord {
                hash: h.clone(),
                cti: None,
                client_id: format!("c{}", i % 64),
                audience: format!("rs{}", i % 16),
                expires_at: Some(UnixTime(2_000_000)),
            });
            h
        })
        .collect();
    let (bulk, last) = hashes.split_at(n - DIFF);
    for chunk in bulk.chunks(BULK) {
        let targets: Vec<RevokeTarget> = chunk.iter().cloned().map(RevokeTarget::Hash).collect();
        let _ = e
            .revoke_many(UnixTime(1), &targets, "bench")
            .expect("known");
    }
    for h in last {
        let _ = e
            .revoke(UnixTime(2), &RevokeTarget::Hash(h.clone()), "bench")
            .expect("known");
    }
    assert_eq!(e.trl_len(), n);
    e
}

fn answer(e: &mut TrlEngine, request: &TrlRequest) -> Vec<u8> {
    let out = e.handle_request(NOW, Requester::Peer(ADMIN), request);
    assert!(out.effects.is_empty());
    out.response.payload()
}

fn bytes_array<'a>(hashes: impl IntoIterator<Item = &'a TokenHash>) -> Value {
    Value::Array(
        hashes
            .into_iter()
            .map(|h| Value::Bytes(h.as_bytes().to_vec()))
            .collect(),
    )
}

fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).expect("encodes");
    out
}

fn bench_diff_query(c: &mut Criterion) {
    let mut group = c.benchmark_group("diff_query");
    let request = TrlRequest::get(TrlQuery::diff(DIFF as u64));
    for n in [1_000usize, 10_000, 100_000] {
        let mut e = engine_with(n);
        let TrlResponse::Content(p) = e.respond(Requester::Peer(ADMIN), &request) else {
            panic!("admin is registered");
        };
        let entries = p.diff_set.expect("diff query");
        assert_eq!(entries.len(), DIFF);
        assert!(
            entries
                .iter()
                .all(|d| d.added.len() == 1 && d.removed.is_empty())
        );
        let bare = Value::Array(
            entries
                .iter()
                .map(|d| Value::Array(vec![bytes_array(&d.removed), bytes_array(&d.added)]))
                .collect(),
        );
        group.bench_function(BenchmarkId::new("engine", n), |b| {
            b.iter(|| black_box(answer(&mut e, black_box(&request))))
        });
        group.bench_function(BenchmarkId::new(BASELINE_ID, n), |b| {
            b.iter(|| black_box(encode(black_box(&bare))))
        });
    }
    group.finish();
}

fn bench_full_query(c: &mut Criterion) {
    let n = 100_000usize;
    let mut group = c.benchmark_group("full_query");
    group.sample_size(20);
    let request = TrlRequest::get(TrlQuery::full());
    let mut e = engine_with(n);
    let bare = bytes_array(e.trl());
    assert!(answer(&mut e, &request).len() > 33 * n);
    group.bench_function(BenchmarkId::new("engine", n), |b| {
        b.iter(|| black_box(answer(&mut e, black_box(&request))))
    });
    group.bench_function(BenchmarkId::new(BASELINE_ID, n), |b| {
        b.iter(|| black_box(encode(black_box(&bare))))
    });
    group.finish();
}

criterion_group!(benches, bench_diff_query, bench_full_query);
criterion_main!(benches);
