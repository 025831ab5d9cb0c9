//! ACE engines bench (ace-core), each next to its limit in the same run:
//!
//! * `as_issue_es256`: `engine` = `AsEngine::handle_token` for an authenticated client with
//!   its own P-256 PoP key (client auth, policy intersection, profile choice, claims, ES256
//!   COSE_Sign1 via ace-token, cti, store insert); `bare` = one ES256 signature over a
//!   Sig_structure of the same size with the same backend.
//! * `rs_authz_info`: `engine` = `RsEngine::handle_authz_info` of an ES256 CWT (validation,
//!   audience/scope/profile/binding checks, replay lookup; the token is already stored, so
//!   this is the idempotent re-post path) plus one `authorize` decision; `bare` =
//!   `ace-token` `Validator::validate` of the same token alone.

use std::hint::black_box;
use std::sync::Arc;

use ace_benches::BASELINE_ID;
use ace_core::consts::ContentFormat;
use ace_core::{
    AceProfile, AsConfig, AsEngine, AsResponse, ChannelIdentity, ClientInfo, Confirmation,
    MemoryAcceptedTokens, MemoryRegistry, MemoryTokenStore, ResourceServerInfo, RsConfig, RsEngine,
    RsResponse, Scope, ScopeMap, StaticPolicy, TokenFormat, TokenRequest,
};
use ace_token::cose::{CoseMessage, parse_token};
use ace_token::{
    Algorithm, KeySet, Policy, PopKey, RustCrypto, SignBackend, TokenKey, UnixTime, Validator,
    testing,
};
use aif::{LocalPart, Method, RestAif, RestMethods};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;

const NOW: UnixTime = UnixTime(1_700_000_000);

fn as_engine() -> AsEngine {
    let dtls = AceProfile(1);
    let sk = testing::es256_private().expect("fixed key");
    let registry = MemoryRegistry::new()
        .with_client(ClientInfo::new("client").with_profile(dtls))
        .with_resource_server(ResourceServerInfo::new(
            "rs1",
            dtls,
            TokenFormat::Sign1 {
                alg: Algorithm::ES256,
                key: sk,
                kid: Some(b"as".to_vec()),
            },
        ));
    let policy = StaticPolicy::new().allow("client", "rs1", Scope::Text("read write".into()));
    AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(policy),
        Box::new(MemoryTokenStore::new()),
        Arc::new(RustCrypto),
    )
}

fn request() -> TokenRequest {
    let client_key = testing::ed25519_public().expect("fixed key");
    TokenRequest {
        audience: Some("rs1".into()),
        scope: Some(Scope::Text("read".into())),
        req_cnf: Some(Confirmation::cose_key(PopKey::public(client_key))),
        ..TokenRequest::default()
    }
}

fn issue(engine: &mut AsEngine, req: &TokenRequest, rng: &mut StdRng) -> Vec<u8> {
    let channel = ChannelIdentity::ClientId("client".into());
    match engine
        .handle_token(NOW, &channel, req, rng)
        .expect("engine")
        .response
    {
        AsResponse::Token(t) => t.access_token,
        other => panic!("refused: {other:?}"),
    }
}

fn bench_as(c: &mut Criterion) {
    let mut engine = as_engine();
    let req = request();
    let mut rng = StdRng::seed_from_u64(1);
    let token = issue(&mut engine, &req, &mut rng);
    let (_, msg) = parse_token(&token).expect("parses");
    let CoseMessage::Sign1(m) = msg else {
        unreachable!("issued a Sign1")
    };
    let tbs = m.tbs_data(&[]);
    let sk = testing::es256_private().expect("fixed key");

    let mut group = c.benchmark_group("as_issue_es256");
    group.bench_function("engine", |b| {
        b.iter(|| black_box(issue(&mut engine, black_box(&req), &mut rng)))
    });
    group.bench_function(BASELINE_ID, |b| {
        b.iter(|| black_box(RustCrypto.sign(Algorithm::ES256, &sk, black_box(&tbs))).is_ok())
    });
    group.finish();
}

fn bench_rs(c: &mut Criterion) {
    let mut as_e = as_engine();
    let mut rng = StdRng::seed_from_u64(2);
    let token = issue(&mut as_e, &request(), &mut rng);
    let keys = KeySet::new().with(
        TokenKey::public(testing::es256_public().expect("fixed key"))
            .with_kid(*b"as")
            .with_issuer("as"),
    );
    let mut cfg = RsConfig::new("rs1", "coap://as");
    cfg.issuers = vec!["as".into()];
    cfg.scope_map = ScopeMap::new().with_text(
        "read",
        RestAif::new().with(LocalPart::new("/s").expect("valid"), RestMethods::GET),
    );
    let mut rs = RsEngine::new(
        cfg,
        Box::new(keys.clone()),
        Arc::new(RustCrypto),
        Box::new(MemoryAcceptedTokens::new()),
    );
    let peer = ChannelIdentity::RawPublicKey(testing::ed25519_public().expect("fixed key"));
    let first = rs
        .handle_authz_info(NOW, Some(ContentFormat::CWT), &token)
        .expect("engine");
    assert!(matches!(first.response, RsResponse::Created(_)));
    assert!(
        rs.authorize(NOW, &peer, "/s", Method::Get, &mut rng) == ace_core::Access::Allow,
        "allowed"
    );
    let validator = Validator::new(Policy::new("rs1").with_issuer("as"));
    validator
        .validate(&token, NOW, &keys, &RustCrypto)
        .expect("valid");

    let mut group = c.benchmark_group("rs_authz_info");
    group.bench_function("engine", |b| {
        b.iter(|| {
            let out = rs
                .handle_authz_info(NOW, Some(ContentFormat::CWT), black_box(&token))
                .expect("engine");
            let access = rs.authorize(NOW, &peer, "/s", Method::Get, &mut rng);
            black_box((out, access))
        })
    });
    group.bench_function(BASELINE_ID, |b| {
        b.iter(|| black_box(validator.validate(black_box(&token), NOW, &keys, &RustCrypto)).is_ok())
    });
    group.finish();
}

criterion_group!(benches, bench_as, bench_rs);
criterion_main!(benches);
