//! Whole flows through the AS, RS and client engines with a virtual clock
//! (`ace_core::testing::Harness`), plus one test per refusal.

use ace_core::AcceptedTokenStore;
use ace_core::consts::{ContentFormat, code};
use ace_core::testing::{Harness, Leg, backend, example_deployment};
use ace_core::{
    Access, AceProfile, AsEffect, AsResponse, ChannelIdentity, ClientConfig, ClientCredential,
    ClientEngine, ClientInfo, CoapCode, Confirmation, ErrorCode, IntrospectionResponse,
    KeyEncryption, MemoryAcceptedTokens, MemoryRegistry, MemoryTokenStore, ResourceServerInfo,
    RsConfig, RsEffect, RsEngine, RsResponse, Scope, StaticPolicy, TokenFormat, TokenRequest,
    TokenResponse,
};
use ace_core::{AsConfig, AsEngine, ScopeMap};
use ace_token::{
    Algorithm, KeySet, KeyType, PopKey, PrivateKey, RustCrypto, SecretBytes, TokenKey, UnixTime,
};
use aif::{LocalPart, Method, RestAif, RestMethods};
use rand::SeedableRng;
use rand::rngs::StdRng;

const T0: UnixTime = UnixTime(1_700_000_000);
const DTLS: AceProfile = AceProfile(1);

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn harness() -> Harness<StdRng> {
    let (a, r) = example_deployment(T0).unwrap();
    Harness::new(T0, a, r, rng())
}

fn client() -> ClientEngine {
    let mut c = ClientConfig::new("client");
    c.client_secret = Some(SecretBytes::from_slice(b"secret"));
    ClientEngine::new(c)
}

fn req(scope: &str) -> TokenRequest {
    TokenRequest {
        client_id: Some("client".into()),
        client_secret: Some(b"secret".to_vec()),
        audience: Some("rs1".into()),
        scope: Some(Scope::Text(scope.into())),
        ..TokenRequest::default()
    }
}

fn token_ok(h: &mut Harness<StdRng>, r: &TokenRequest) -> TokenResponse {
    let (c, body) = h.token(&ChannelIdentity::Anonymous, r).unwrap();
    assert_eq!(c, code::CREATED);
    TokenResponse::decode(&body).unwrap()
}

fn token_err(
    h: &mut Harness<StdRng>,
    ch: &ChannelIdentity,
    r: &TokenRequest,
) -> (CoapCode, ErrorCode) {
    let (c, body) = h.token(ch, r).unwrap();
    let e = ace_core::ErrorResponse::decode(&body).unwrap();
    (c, e.error)
}

fn psk(t: &TokenResponse) -> ChannelIdentity {
    let Some(Confirmation {
        key: Some(ace_token::CnfKey::CoseKey(k)),
        ..
    }) = &t.cnf
    else {
        panic!("no cnf key")
    };
    ChannelIdentity::PskIdentity(k.kid.clone().unwrap())
}

fn upload(h: &mut Harness<StdRng>, token: &[u8]) -> RsResponse {
    h.authz_info(Some(ContentFormat::CWT), token).unwrap()
}

#[test]
fn grant_whole_flow_with_the_client_engine() {
    let mut h = harness();
    let info = h
        .client_flow(
            &client(),
            &ChannelIdentity::Anonymous,
            "/s",
            Method::Get,
            Some(Scope::Text("read".into())),
        )
        .unwrap();
    assert_eq!(info.profile, DTLS);
    assert_eq!(info.expires_at, T0.saturating_add(3600));
    let peer = info.channel_identity().unwrap();
    assert!(matches!(peer, ChannelIdentity::PskIdentity(ref k) if k.len() == 8));
    // The RS hands the same PSK to its DTLS layer.
    assert_eq!(h.rs.pop_key(h.now, &peer), info.pop_key.as_ref());
    assert_eq!(h.request(&peer, "/s", Method::Get), Access::Allow);
    // Effects: the AS issued, the RS stored.
    assert!(
        matches!(h.as_effects.as_slice(), [AsEffect::TokenIssued(t)] if t.audience == "rs1" && t.client_id == "client")
    );
    assert!(matches!(
        h.rs_effects.as_slice(),
        [RsEffect::TokenStored { .. }]
    ));
    // The token is 61(16([...])) with every header protected (RFC 9770).
    assert_eq!(&info.token[..3], &[0xd8, 0x3d, 0xd0]);
    // An unknown peer still gets 4.01 + hints naming the AS and audience.
    let Access::Unauthorized(hints) = h.request(
        &ChannelIdentity::PskIdentity(b"x".to_vec()),
        "/s",
        Method::Get,
    ) else {
        panic!("expected 4.01")
    };
    assert_eq!(hints.as_uri.as_deref(), Some("coaps://as.example/token"));
    assert_eq!(hints.audience.as_deref(), Some("rs1"));
}

#[test]
fn downscoped_grant_returns_the_scope_and_the_rs_enforces_it() {
    let mut h = harness();
    let t = token_ok(&mut h, &req("read admin"));
    assert_eq!(t.scope, Some(Scope::Text("read".into())));
    // Same scope as requested: no scope in the response (RFC 6749 §5.1).
    let t2 = token_ok(&mut h, &req("read write"));
    assert_eq!(t2.scope, None);
    assert!(matches!(
        upload(&mut h, &t.access_token),
        RsResponse::Created(_)
    ));
    let peer = psk(&t);
    assert_eq!(h.request(&peer, "/s", Method::Get), Access::Allow);
    assert_eq!(
        h.request(&peer, "/s", Method::Put),
        Access::MethodNotAllowed
    );
    assert_eq!(h.request(&peer, "/other", Method::Get), Access::Forbidden);
    assert_eq!(
        Access::MethodNotAllowed.code(),
        Some(code::METHOD_NOT_ALLOWED)
    );
}

#[test]
fn refusal_invalid_client() {
    let mut h = harness();
    let mut r = req("read");
    r.client_secret = Some(b"wrong".to_vec());
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r),
        (CoapCode::UNAUTHORIZED, ErrorCode::INVALID_CLIENT)
    );
    r.client_secret = None;
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r).1,
        ErrorCode::INVALID_CLIENT
    );
    let unknown = ChannelIdentity::PskIdentity(b"nobody".to_vec());
    assert_eq!(
        token_err(&mut h, &unknown, &req("read")).1,
        ErrorCode::INVALID_CLIENT
    );
    assert!(h.as_effects.is_empty());
}

#[test]
fn refusal_invalid_request_and_unknown_audience() {
    let mut h = harness();
    let mut r = req("read");
    r.audience = None;
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r),
        (CoapCode::BAD_REQUEST, ErrorCode::INVALID_REQUEST)
    );
    r.audience = Some("rs9".into());
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r).1,
        ErrorCode::INVALID_REQUEST
    );
    // A malformed payload from an authenticated peer.
    let out = h
        .as_engine
        .handle_token_bytes(
            T0,
            &ChannelIdentity::ClientId("client".into()),
            &[0xa1, 0x05],
            &mut rng(),
        )
        .unwrap();
    assert_eq!(out.response.error_code(), Some(ErrorCode::INVALID_REQUEST));
}

#[test]
fn refusal_unauthorized_client() {
    let (_, rs) = example_deployment(T0).unwrap();
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client")
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(b"secret")))
                .with_profile(DTLS),
        )
        .with_client(
            ClientInfo::new("noreg")
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(b"secret")))
                .with_grant_types(&[]),
        )
        .with_resource_server(ResourceServerInfo::new(
            "rs1",
            DTLS,
            TokenFormat::Encrypt0 {
                alg: Algorithm::AES_CCM_16_64_128,
                key: SecretBytes::from_slice(&[0x42; 16]),
                kid: None,
            },
        ))
        .with_resource_server(ResourceServerInfo::new(
            "rs2",
            DTLS,
            TokenFormat::Encrypt0 {
                alg: Algorithm::AES_CCM_16_64_128,
                key: SecretBytes::from_slice(&[0x43; 16]),
                kid: None,
            },
        ));
    let policy = StaticPolicy::new().allow("client", "rs1", Scope::Text("read".into()));
    let a = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(policy),
        Box::new(MemoryTokenStore::new()),
        backend(),
    );
    let mut h = Harness::new(T0, a, rs, rng());
    // Not allowed at the token endpoint at all.
    let mut r = req("read");
    r.client_id = Some("noreg".into());
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r).1,
        ErrorCode::UNAUTHORIZED_CLIENT
    );
    // Not allowed at this audience.
    let mut r = req("read");
    r.audience = Some("rs2".into());
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r),
        (CoapCode::BAD_REQUEST, ErrorCode::UNAUTHORIZED_CLIENT)
    );
}

#[test]
fn refusal_unsupported_grant_type() {
    let mut h = harness();
    let mut r = req("read");
    r.grant_type = Some(ace_core::GrantType::PASSWORD);
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r).1,
        ErrorCode::UNSUPPORTED_GRANT_TYPE
    );
    r.grant_type = Some(ace_core::GrantType::REFRESH_TOKEN);
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r).1,
        ErrorCode::UNSUPPORTED_GRANT_TYPE
    );
}

#[test]
fn refusal_invalid_scope() {
    let mut h = harness();
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &req("admin")).1,
        ErrorCode::INVALID_SCOPE
    );
    // No scope and no default (RFC 6749 §3.3).
    let mut r = req("read");
    r.scope = None;
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r).1,
        ErrorCode::INVALID_SCOPE
    );
    // A binary scope against a text allowance.
    r.scope = Some(Scope::Binary(vec![0x80]));
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r).1,
        ErrorCode::INVALID_SCOPE
    );
}

#[test]
fn refusal_pop_keys() {
    let mut h = harness();
    // Symmetric key in req_cnf: invalid_request.
    let mut r = req("read");
    r.req_cnf = Some(Confirmation::cose_key(
        PopKey::symmetric(SecretBytes::from_slice(&[1; 16])).with_kid(*b"k"),
    ));
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r).1,
        ErrorCode::INVALID_REQUEST
    );
    // An X25519 key: the RS processes P-256 and Ed25519 only.
    let x = PrivateKey::generate(KeyType::X25519, &mut rng());
    let pk = ace_token::CryptoBackend::public_key(&RustCrypto, &x).unwrap();
    r.req_cnf = Some(Confirmation::cose_key(PopKey::public(pk)));
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r).1,
        ErrorCode::UNSUPPORTED_POP_KEY
    );
    // A P-256 key restricted to EdDSA does not fit the DTLS profile (ACE-33).
    let p = PrivateKey::generate(KeyType::P256, &mut rng());
    let pk = ace_token::CryptoBackend::public_key(&RustCrypto, &p).unwrap();
    r.req_cnf = Some(Confirmation::cose_key(
        PopKey::public(pk).with_alg(Algorithm::EdDSA),
    ));
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &r).1,
        ErrorCode::UNSUPPORTED_POP_KEY
    );
}

#[test]
fn refusal_incompatible_ace_profiles() {
    let (_, rs) = example_deployment(T0).unwrap();
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client")
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(b"secret")))
                .with_profile(AceProfile(2)),
        )
        .with_resource_server(ResourceServerInfo::new(
            "rs1",
            DTLS,
            TokenFormat::Encrypt0 {
                alg: Algorithm::AES_CCM_16_64_128,
                key: SecretBytes::from_slice(&[0x42; 16]),
                kid: None,
            },
        ));
    let policy = StaticPolicy::new().allow("client", "rs1", Scope::Text("read".into()));
    let a = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(policy),
        Box::new(MemoryTokenStore::new()),
        backend(),
    );
    let mut h = Harness::new(T0, a, rs, rng());
    assert_eq!(
        token_err(&mut h, &ChannelIdentity::Anonymous, &req("read")).1,
        ErrorCode::INCOMPATIBLE_ACE_PROFILES
    );
}

#[test]
fn expiry_ends_access_and_introspection() {
    let mut h = harness();
    let t = token_ok(&mut h, &req("read"));
    assert!(matches!(
        upload(&mut h, &t.access_token),
        RsResponse::Created(_)
    ));
    let peer = psk(&t);
    h.advance(3599);
    assert_eq!(h.request(&peer, "/s", Method::Get), Access::Allow);
    h.advance(1);
    assert!(matches!(
        h.request(&peer, "/s", Method::Get),
        Access::Unauthorized(_)
    ));
    assert!(
        h.rs_effects
            .iter()
            .any(|e| matches!(e, RsEffect::TokenExpired { .. }))
    );
    assert!(h.rs.tokens().is_empty());
    assert!(
        h.as_effects
            .iter()
            .any(|e| matches!(e, AsEffect::TokensExpired { ctis } if ctis.len() == 1))
    );
    // Re-uploading the expired token: 4.01 (validator, `exp` with 60 s skew).
    h.advance(61);
    assert_eq!(
        upload(&mut h, &t.access_token),
        RsResponse::Refused(CoapCode::UNAUTHORIZED)
    );
}

fn exi_harness() -> Harness<StdRng> {
    let key = [0x24u8; 16];
    let mut info = ResourceServerInfo::new(
        "rs1",
        DTLS,
        TokenFormat::Encrypt0 {
            alg: Algorithm::AES_CCM_16_64_128,
            key: SecretBytes::from_slice(&key),
            kid: None,
        },
    );
    info.exi_rs_id = Some(b"RS1".to_vec());
    info.lifetime = 100;
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client")
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(b"secret")))
                .with_profile(DTLS),
        )
        .with_resource_server(info);
    let policy = StaticPolicy::new().allow("client", "rs1", Scope::Text("read".into()));
    let a = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(policy),
        Box::new(MemoryTokenStore::new()),
        backend(),
    );
    let mut cfg = RsConfig::new("rs1", "coap://as");
    cfg.exi_rs_id = Some(b"RS1".to_vec());
    cfg.require_exp = false;
    cfg.scope_map = ScopeMap::new().with_text(
        "read",
        RestAif::new().with(LocalPart::new("/s").unwrap(), RestMethods::GET),
    );
    let rs = RsEngine::new(
        cfg,
        Box::new(KeySet::new().with(TokenKey::symmetric(key.to_vec()))),
        backend(),
        Box::new(MemoryAcceptedTokens::new()),
    );
    Harness::new(T0, a, rs, rng())
}

#[test]
fn exi_sequence_numbers() {
    let mut h = exi_harness();
    let t1 = token_ok(&mut h, &req("read"));
    let t2 = token_ok(&mut h, &req("read"));
    assert!(
        h.as_effects
            .iter()
            .any(|e| matches!(e, AsEffect::ExiSequence { seq: 2, .. }))
    );
    // The RS counts exi from first reception.
    h.advance(50);
    assert!(matches!(
        upload(&mut h, &t1.access_token),
        RsResponse::Created(_)
    ));
    h.advance(99);
    assert_eq!(h.request(&psk(&t1), "/s", Method::Get), Access::Allow);
    h.advance(1);
    assert!(matches!(
        h.request(&psk(&t1), "/s", Method::Get),
        Access::Unauthorized(_)
    ));
    assert!(h.rs_effects.contains(&RsEffect::ExiHighestExpired(1)));
    assert_eq!(h.rs.exi_highest_expired(), Some(1));
    // seq 1 again: refused (not above the highest expired).
    assert_eq!(
        upload(&mut h, &t1.access_token),
        RsResponse::Refused(CoapCode::UNAUTHORIZED)
    );
    // seq 2, first seen now: valid for 100 s from now, although issued 150 s ago.
    assert!(matches!(
        upload(&mut h, &t2.access_token),
        RsResponse::Created(_)
    ));
    assert_eq!(h.request(&psk(&t2), "/s", Method::Get), Access::Allow);
    // cti = RS id ‖ sequence number (RFC 9200 §5.10.3).
    let ctis: Vec<&[u8]> = h
        .as_effects
        .iter()
        .filter_map(|e| match e {
            AsEffect::TokenIssued(t) => Some(t.cti.as_slice()),
            _ => None,
        })
        .collect();
    assert_eq!(ctis, [&b"RS1\x01"[..], &b"RS1\x02"[..]]);
    // A restarted RS that restored its state refuses seq 1 too.
    let cfg = h.rs.config().clone();
    let mut restarted = RsEngine::new(
        cfg,
        Box::new(KeySet::new().with(TokenKey::symmetric(vec![0x24; 16]))),
        backend(),
        Box::new(MemoryAcceptedTokens::new()),
    )
    .with_exi_highest_expired(Some(1));
    let out = restarted
        .handle_authz_info(h.now, None, &t1.access_token)
        .unwrap();
    assert_eq!(out.response, RsResponse::Refused(CoapCode::UNAUTHORIZED));
}

#[test]
fn supersede_and_replayed_cti() {
    let mut h = harness();
    let t1 = token_ok(&mut h, &req("read"));
    assert!(matches!(
        upload(&mut h, &t1.access_token),
        RsResponse::Created(_)
    ));
    let peer = psk(&t1);
    let ChannelIdentity::PskIdentity(kid) = peer.clone() else {
        unreachable!()
    };
    // A second token for the same key, by kid reference (RFC 9201), with more scope.
    let mut r = req("read write");
    r.req_cnf = Some(Confirmation::kid(kid.clone()));
    let t2 = token_ok(&mut h, &r);
    assert!(t2.cnf.is_none());
    assert!(matches!(
        upload(&mut h, &t2.access_token),
        RsResponse::Created(_)
    ));
    assert!(
        h.rs_effects
            .iter()
            .any(|e| matches!(e, RsEffect::TokenSuperseded { .. }))
    );
    assert_eq!(h.rs.tokens().len(), 1);
    // The key came over from the superseded token; the new scope applies.
    assert!(h.rs.pop_key(h.now, &peer).is_some());
    assert_eq!(h.request(&peer, "/s", Method::Put), Access::Allow);
    // Re-posting the current token: idempotent, no effects.
    let before = h.rs_effects.len();
    assert!(matches!(
        upload(&mut h, &t2.access_token),
        RsResponse::Created(_)
    ));
    assert_eq!(h.rs_effects.len(), before);
    // Re-posting the superseded token (replayed cti): 4.01.
    assert_eq!(
        upload(&mut h, &t1.access_token),
        RsResponse::Refused(CoapCode::UNAUTHORIZED)
    );
    assert_eq!(h.request(&peer, "/s", Method::Put), Access::Allow);
    // A kid reference to a key the RS never saw: 4.00.
    let mut r = req("read");
    r.req_cnf = Some(Confirmation::kid(b"unknown".to_vec()));
    let t3 = token_ok(&mut h, &r);
    assert_eq!(
        upload(&mut h, &t3.access_token),
        RsResponse::Refused(CoapCode::BAD_REQUEST)
    );
}

#[test]
fn too_many_tokens_per_client_evicts_the_oldest() {
    let (a, _) = example_deployment(T0).unwrap();
    let mut cfg = RsConfig::new("rs1", "coap://as");
    cfg.max_tokens_per_client = 2;
    cfg.scope_map = ScopeMap::new().with_text(
        "read",
        RestAif::new().with(LocalPart::new("/s").unwrap(), RestMethods::GET),
    );
    let rs = RsEngine::new(
        cfg,
        Box::new(KeySet::new().with(TokenKey::symmetric(vec![0x42; 16]))),
        backend(),
        Box::new(MemoryAcceptedTokens::new()),
    );
    let mut h = Harness::new(T0, a, rs, rng());
    let ts: Vec<TokenResponse> = (0..3).map(|_| token_ok(&mut h, &req("read"))).collect();
    for t in &ts {
        assert!(matches!(
            upload(&mut h, &t.access_token),
            RsResponse::Created(_)
        ));
    }
    assert_eq!(h.rs.tokens().len(), 2);
    assert_eq!(
        h.rs_effects
            .iter()
            .filter(|e| matches!(e, RsEffect::TokenEvicted { .. }))
            .count(),
        1
    );
    assert!(matches!(
        h.request(&psk(&ts[0]), "/s", Method::Get),
        Access::Unauthorized(_)
    ));
    assert_eq!(h.request(&psk(&ts[2]), "/s", Method::Get), Access::Allow);
    // The evicted token cannot come back.
    assert_eq!(
        upload(&mut h, &ts[0].access_token),
        RsResponse::Refused(CoapCode::UNAUTHORIZED)
    );
}

/// After a restart the RS continues the acceptance order of its restored store, so the
/// per-client limit still evicts the oldest token, not the newest (a restored store keeps the
/// serials it had).
#[test]
fn per_client_eviction_order_survives_a_restart() {
    let (a, _) = example_deployment(T0).unwrap();
    let cfg = || {
        let mut cfg = RsConfig::new("rs1", "coap://as");
        cfg.max_tokens_per_client = 2;
        cfg.scope_map = ScopeMap::new().with_text(
            "read",
            RestAif::new().with(LocalPart::new("/s").unwrap(), RestMethods::GET),
        );
        cfg
    };
    let keys = || Box::new(KeySet::new().with(TokenKey::symmetric(vec![0x42; 16])));
    let rs = RsEngine::new(
        cfg(),
        keys(),
        backend(),
        Box::new(MemoryAcceptedTokens::new()),
    );
    let mut h = Harness::new(T0, a, rs, rng());
    let ts: Vec<TokenResponse> = (0..3).map(|_| token_ok(&mut h, &req("read"))).collect();
    for t in &ts[..2] {
        assert!(matches!(
            upload(&mut h, &t.access_token),
            RsResponse::Created(_)
        ));
    }
    // "Restart": a new engine over a store holding what the old one had accepted.
    let mut restored = MemoryAcceptedTokens::new();
    for t in h.rs.tokens().tokens() {
        restored.insert(t.clone());
    }
    h.rs = RsEngine::new(cfg(), keys(), backend(), Box::new(restored));
    assert!(matches!(
        upload(&mut h, &ts[2].access_token),
        RsResponse::Created(_)
    ));
    assert_eq!(h.rs.tokens().len(), 2);
    // The oldest (ts[0]) went, the newest stays.
    assert!(matches!(
        h.request(&psk(&ts[0]), "/s", Method::Get),
        Access::Unauthorized(_)
    ));
    assert_eq!(h.request(&psk(&ts[1]), "/s", Method::Get), Access::Allow);
    assert_eq!(h.request(&psk(&ts[2]), "/s", Method::Get), Access::Allow);
}

#[test]
fn store_capacity_is_5_03_when_full() {
    let (a, _) = example_deployment(T0).unwrap();
    let mut cfg = RsConfig::new("rs1", "coap://as");
    cfg.max_tokens = 1;
    cfg.scope_map = ScopeMap::new().with_text(
        "read",
        RestAif::new().with(LocalPart::new("/s").unwrap(), RestMethods::GET),
    );
    let rs = RsEngine::new(
        cfg,
        Box::new(KeySet::new().with(TokenKey::symmetric(vec![0x42; 16]))),
        backend(),
        Box::new(MemoryAcceptedTokens::new()),
    );
    let mut h = Harness::new(T0, a, rs, rng());
    let t1 = token_ok(&mut h, &req("read"));
    let t2 = token_ok(&mut h, &req("read"));
    assert!(matches!(
        upload(&mut h, &t1.access_token),
        RsResponse::Created(_)
    ));
    assert_eq!(
        upload(&mut h, &t2.access_token),
        RsResponse::Refused(code::SERVICE_UNAVAILABLE)
    );
}

fn with_introspector(h: &mut Harness<StdRng>, rights: bool) {
    // Rebuild the AS registry with an RS client allowed (or not) to introspect.
    let mut rs_client = ClientInfo::new("rs1-client")
        .with_credential(ClientCredential::PskIdentity(b"rs1".to_vec()))
        .with_grant_types(&[]);
    if rights {
        rs_client = rs_client.with_introspection(&["rs1"]);
    }
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client")
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(b"secret")))
                .with_profile(DTLS),
        )
        .with_client(rs_client)
        .with_resource_server(ResourceServerInfo::new(
            "rs1",
            DTLS,
            TokenFormat::Encrypt0 {
                alg: Algorithm::AES_CCM_16_64_128,
                key: SecretBytes::from_slice(&[0x42; 16]),
                kid: Some(b"rs1".to_vec()),
            },
        ));
    let policy = StaticPolicy::new().allow("client", "rs1", Scope::Text("read write".into()));
    h.as_engine = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(policy),
        Box::new(MemoryTokenStore::new()),
        backend(),
    );
    h.rs_identity = ChannelIdentity::PskIdentity(b"rs1".to_vec());
}

#[test]
fn introspection_active_inactive_revoked() {
    let mut h = harness();
    with_introspector(&mut h, true);
    let t = token_ok(&mut h, &req("read"));
    let (c, body) = h.introspect(&t.access_token).unwrap();
    assert_eq!(c, code::CREATED);
    let r = IntrospectionResponse::decode(&body).unwrap();
    assert!(r.active);
    assert_eq!(r.aud.as_deref(), Some("rs1"));
    assert_eq!(r.scope, Some(Scope::Text("read".into())));
    assert_eq!(r.exp, Some(T0.saturating_add(3600).into()));
    assert_eq!(r.cnf, t.cnf);
    assert_eq!(r.ace_profile, Some(DTLS));
    // Unknown token: active false and nothing else.
    let (_, body) = h.introspect(b"random bytes").unwrap();
    assert_eq!(
        IntrospectionResponse::decode(&body).unwrap(),
        IntrospectionResponse::default()
    );
    // Revoked.
    let AsEffect::TokenIssued(rec) = h.as_effects.last().unwrap().clone() else {
        panic!()
    };
    assert!(h.as_engine.revoke(&rec.cti).is_some());
    let (_, body) = h.introspect(&t.access_token).unwrap();
    assert!(!IntrospectionResponse::decode(&body).unwrap().active);
    // Expired.
    let t2 = token_ok(&mut h, &req("read"));
    h.now = h.now.saturating_add(3600);
    let (_, body) = h.introspect(&t2.access_token).unwrap();
    assert_eq!(
        IntrospectionResponse::decode(&body).unwrap(),
        IntrospectionResponse::default()
    );
    // Anonymous caller: 4.01 invalid_client.
    h.rs_identity = ChannelIdentity::Anonymous;
    let (c, body) = h.introspect(&t2.access_token).unwrap();
    assert_eq!(c, CoapCode::UNAUTHORIZED);
    assert_eq!(
        ace_core::ErrorResponse::decode(&body).unwrap().error,
        ErrorCode::INVALID_CLIENT
    );
}

#[test]
fn introspection_without_rights_is_4_03_without_payload() {
    let mut h = harness();
    with_introspector(&mut h, false);
    let out = h
        .as_engine
        .handle_introspect_bytes(
            T0,
            &ChannelIdentity::PskIdentity(b"rs1".to_vec()),
            b"garbage",
        )
        .unwrap();
    assert_eq!(out.response, AsResponse::Forbidden);
    assert_eq!(out.response.code(), CoapCode::FORBIDDEN);
    assert!(out.response.payload().unwrap().is_empty());
}

#[test]
fn reference_token_resolved_by_introspection() {
    let mut h = harness();
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client")
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(b"secret")))
                .with_profile(DTLS),
        )
        .with_client(
            ClientInfo::new("rs1")
                .with_credential(ClientCredential::PskIdentity(b"rs1".to_vec()))
                .with_grant_types(&[])
                .with_introspection(&["rs1"]),
        )
        .with_resource_server(ResourceServerInfo::new(
            "rs1",
            DTLS,
            TokenFormat::Reference { len: 16 },
        ));
    let policy = StaticPolicy::new().allow("client", "rs1", Scope::Text("read".into()));
    h.as_engine = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(policy),
        Box::new(MemoryTokenStore::new()),
        backend(),
    );
    h.rs_identity = ChannelIdentity::PskIdentity(b"rs1".to_vec());
    let mut cfg = h.rs.config().clone();
    cfg.introspect_reference_tokens = true;
    h.rs = RsEngine::new(
        cfg,
        Box::new(KeySet::new()),
        backend(),
        Box::new(MemoryAcceptedTokens::new()),
    );
    let t = token_ok(&mut h, &req("read"));
    assert_eq!(t.access_token.len(), 16);
    let out =
        h.rs.handle_authz_info(h.now, Some(ContentFormat::OCTET_STREAM), &t.access_token)
            .unwrap();
    assert!(matches!(&out.response, RsResponse::Introspect(r) if r.token == t.access_token));
    assert_eq!(out.response.code(), None);
    // Through the harness: introspection, then stored.
    assert!(matches!(
        h.authz_info(Some(ContentFormat::OCTET_STREAM), &t.access_token)
            .unwrap(),
        RsResponse::Created(_)
    ));
    assert_eq!(h.request(&psk(&t), "/s", Method::Get), Access::Allow);
    // An unknown reference: inactive → 4.01.
    assert_eq!(
        h.authz_info(Some(ContentFormat::OCTET_STREAM), &[9; 16])
            .unwrap(),
        RsResponse::Refused(CoapCode::UNAUTHORIZED)
    );
    // No pending introspection: a caller bug.
    assert!(
        h.rs.handle_introspection_response(h.now, b"nope", &IntrospectionResponse::default())
            .is_err()
    );
}

#[test]
fn cnonce_freshness() {
    let mut h = harness();
    let mut cfg = h.rs.config().clone();
    cfg.cnonce = Some(ace_core::resource_server::CnonceConfig {
        len: 8,
        lifetime: 30,
        max_pending: 4,
    });
    h.rs = RsEngine::new(
        cfg,
        Box::new(KeySet::new().with(TokenKey::symmetric(vec![0x42; 16]))),
        backend(),
        Box::new(MemoryAcceptedTokens::new()),
    );
    // The client copies the cnonce from the hints; the AS puts it in the token.
    let info = h
        .client_flow(
            &client(),
            &ChannelIdentity::Anonymous,
            "/s",
            Method::Get,
            None,
        )
        .err();
    // Hints carry no scope: the client asked for none and the AS has no default → invalid_scope.
    assert!(matches!(
        info,
        Some(ace_core::Error::Refused {
            error: Some(ErrorCode::INVALID_SCOPE),
            ..
        })
    ));
    let info = h
        .client_flow(
            &client(),
            &ChannelIdentity::Anonymous,
            "/s",
            Method::Get,
            Some(Scope::Text("read".into())),
        )
        .unwrap();
    assert_eq!(
        h.request(&info.channel_identity().unwrap(), "/s", Method::Get),
        Access::Allow
    );
    // Without a cnonce: 4.01.
    let t = token_ok(&mut h, &req("read"));
    assert_eq!(
        upload(&mut h, &t.access_token),
        RsResponse::Refused(CoapCode::UNAUTHORIZED)
    );
    // With a stale cnonce: 4.01.
    let Access::Unauthorized(hints) = h.request(&ChannelIdentity::Anonymous, "/s", Method::Get)
    else {
        panic!()
    };
    let mut r = req("read");
    r.cnonce = hints.cnonce.clone();
    let t = token_ok(&mut h, &r);
    h.now = h.now.saturating_add(31);
    assert_eq!(
        upload(&mut h, &t.access_token),
        RsResponse::Refused(CoapCode::UNAUTHORIZED)
    );
}

#[test]
fn tampered_token_is_refused() {
    let mut h = harness();
    h.tamper = Some(Box::new(|leg, bytes| {
        if leg == Leg::AuthzInfo
            && let Some(b) = bytes.last_mut()
        {
            *b ^= 1;
        }
    }));
    let t = token_ok(&mut h, &req("read"));
    assert_eq!(
        upload(&mut h, &t.access_token),
        RsResponse::Refused(CoapCode::UNAUTHORIZED)
    );
    assert!(h.rs.tokens().is_empty());
    // Not a token at all: 4.00 (RFC 9200 §5.10.1).
    h.tamper = None;
    assert_eq!(
        upload(&mut h, b"\x01\x02\x03"),
        RsResponse::Refused(CoapCode::BAD_REQUEST)
    );
    assert_eq!(
        h.authz_info(Some(ContentFormat(50)), b"x").unwrap(),
        RsResponse::Refused(CoapCode::BAD_REQUEST)
    );
}

#[test]
fn audience_is_checked_after_expiry() {
    // A token for another audience: 4.03; expired and for another audience: 4.01 (exp first).
    let mut h = harness();
    let mut cfg = h.rs.config().clone();
    cfg.audience = "rs-other".into();
    h.rs = RsEngine::new(
        cfg,
        Box::new(KeySet::new().with(TokenKey::symmetric(vec![0x42; 16]))),
        backend(),
        Box::new(MemoryAcceptedTokens::new()),
    );
    let t = token_ok(&mut h, &req("read"));
    assert_eq!(
        upload(&mut h, &t.access_token),
        RsResponse::Refused(CoapCode::FORBIDDEN)
    );
    h.now = h.now.saturating_add(4000);
    assert_eq!(
        upload(&mut h, &t.access_token),
        RsResponse::Refused(CoapCode::UNAUTHORIZED)
    );
}

#[test]
fn sign1_tokens_with_encrypted_cnf_and_asymmetric_pop_with_rs_cnf() {
    let as_key = PrivateKey::generate(KeyType::P256, &mut rng());
    let as_pub = ace_token::CryptoBackend::public_key(&RustCrypto, &as_key).unwrap();
    let kek = [0x77u8; 16];
    let rs_key = PrivateKey::generate(KeyType::P256, &mut rng());
    let rs_pub = ace_token::CryptoBackend::public_key(&RustCrypto, &rs_key).unwrap();
    let mut info = ResourceServerInfo::new(
        "rs1",
        DTLS,
        TokenFormat::Sign1 {
            alg: Algorithm::ES256,
            key: as_key,
            kid: Some(b"as".to_vec()),
        },
    );
    info.cnf_key_encryption = Some(KeyEncryption {
        alg: Algorithm::AES_CCM_16_64_128,
        key: SecretBytes::from_slice(&kek),
        kid: Some(b"kek".to_vec()),
    });
    info.rs_cnf = Some(Confirmation::cose_key(PopKey::public(rs_pub.clone())));
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client")
                .with_credential(ClientCredential::Secret(SecretBytes::from_slice(b"secret")))
                .with_profile(DTLS),
        )
        .with_resource_server(info);
    let policy = StaticPolicy::new().allow("client", "rs1", Scope::Text("read".into()));
    let a = AsEngine::new(
        AsConfig::new("as"),
        Box::new(registry),
        Box::new(policy),
        Box::new(MemoryTokenStore::new()),
        backend(),
    );
    let mut cfg = RsConfig::new("rs1", "coap://as");
    cfg.issuers = vec!["as".into()];
    cfg.scope_map = ScopeMap::new().with_text(
        "read",
        RestAif::new().with(LocalPart::new("/s").unwrap(), RestMethods::GET),
    );
    let keys = KeySet::new()
        .with(TokenKey::public(as_pub).with_kid(*b"as").with_issuer("as"))
        .with(TokenKey::symmetric(kek.to_vec()).with_kid(*b"kek"));
    let rs = RsEngine::new(
        cfg,
        Box::new(keys),
        backend(),
        Box::new(MemoryAcceptedTokens::new()),
    );
    let mut h = Harness::new(T0, a, rs, rng());
    // Symmetric PoP key, encrypted inside the signed token.
    let info = h
        .client_flow(
            &client(),
            &ChannelIdentity::Anonymous,
            "/s",
            Method::Get,
            Some(Scope::Text("read".into())),
        )
        .unwrap();
    let peer = info.channel_identity().unwrap();
    assert_eq!(h.rs.pop_key(h.now, &peer), info.pop_key.as_ref());
    assert_eq!(h.request(&peer, "/s", Method::Get), Access::Allow);
    // The client's own P-256 key: token cnf = its key, response has rs_cnf and no cnf.
    let ck = PrivateKey::generate(KeyType::P256, &mut rng());
    let cpk = ace_token::CryptoBackend::public_key(&RustCrypto, &ck).unwrap();
    let mut c = ClientConfig::new("client");
    c.client_secret = Some(SecretBytes::from_slice(b"secret"));
    c.req_cnf = Some(Confirmation::cose_key(PopKey::public(cpk.clone())));
    let info = h
        .client_flow(
            &ClientEngine::new(c),
            &ChannelIdentity::Anonymous,
            "/s",
            Method::Get,
            Some(Scope::Text("read".into())),
        )
        .unwrap();
    assert_eq!(
        info.rs_cnf,
        Some(Confirmation::cose_key(PopKey::public(rs_pub)))
    );
    assert_eq!(
        info.channel_identity(),
        Some(ChannelIdentity::RawPublicKey(cpk.clone()))
    );
    assert_eq!(
        h.request(&ChannelIdentity::RawPublicKey(cpk), "/s", Method::Get),
        Access::Allow
    );
}

#[test]
fn client_engine_refusals() {
    let c = client();
    assert!(matches!(
        c.request_token(&ace_core::CreationHints::default(), None),
        Err(ace_core::Error::NoAuthorizationServer)
    ));
    let hints = ace_core::CreationHints {
        as_uri: Some("coap://as".into()),
        audience: Some("rs1".into()),
        ..Default::default()
    };
    let step = c
        .request_token(&hints, Some(Scope::Text("read".into())))
        .unwrap();
    assert!(step.request.ace_profile_requested);
    // An AS that names a profile we do not support.
    let resp = TokenResponse {
        access_token: vec![1],
        ace_profile: Some(AceProfile(2)),
        expires_in: Some(10),
        ..Default::default()
    };
    assert!(matches!(
        step.clone()
            .handle_response(T0, code::CREATED, &resp.encode().unwrap()),
        Err(ace_core::Error::ProfileNotSupported)
    ));
    // No lifetime: the token must not be used (RFC 9200 §5.10.4).
    let resp = TokenResponse {
        access_token: vec![1],
        ..Default::default()
    };
    assert!(matches!(
        step.clone()
            .handle_response(T0, code::CREATED, &resp.encode().unwrap()),
        Err(ace_core::Error::UnknownTokenLifetime)
    ));
    let err = ace_core::ErrorResponse::new(ErrorCode::INVALID_SCOPE)
        .encode()
        .unwrap();
    assert!(matches!(
        step.handle_response(T0, CoapCode::BAD_REQUEST, &err),
        Err(ace_core::Error::Refused {
            error: Some(ErrorCode::INVALID_SCOPE),
            ..
        })
    ));
}
