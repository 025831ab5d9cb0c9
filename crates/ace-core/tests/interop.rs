//! The applicable test cases of the 2018 ACE interop test plan
//! (`shared/vectors/ace-interop/InteropTestPlan.txt`), with its keys, run against our engines
//! in memory. The plan uses pre-RFC numbers (draft-ietf-ace-oauth-authz-1x); the requests are
//! written with RFC 9200 values (mapping in the crate README: grant_type 18 → 33, scope 12 → 9,
//! aud 3 → audience 5, cnf 25 → req_cnf 4, profile 26 → ace_profile 38).

use ace_core::consts::{ContentFormat, code};
use ace_core::testing::{backend, interop, interop_scope_map};
use ace_core::{
    Access, AceProfile, AsConfig, AsEngine, AsResponse, ChannelIdentity, ClientCredential,
    ClientInfo, CoapCode, Confirmation, ErrorCode, ErrorResponse, GrantType, IntrospectionRequest,
    IntrospectionResponse, MemoryAcceptedTokens, MemoryRegistry, MemoryTokenStore,
    ResourceServerInfo, RsConfig, RsEngine, RsResponse, Scope, StaticPolicy, TokenFormat,
    TokenRequest, TokenResponse,
};
use ace_token::{
    Algorithm, ClaimsBuilder, HeaderPlacement, IssueOptions, Issuer, KeySet, KeyType, Policy,
    PopKey, RustCrypto, SecretBytes, Tagging, TokenKey, UnixTime, Validator,
};
use aif::Method;
use rand::SeedableRng;
use rand::rngs::StdRng;

const T0: UnixTime = UnixTime(1_700_000_000);
const DTLS: AceProfile = AceProfile(1);

fn plan_options() -> IssueOptions {
    // §I.3: 16([h'A1010A', {5: IV}, ciphertext]) — COSE tag only, IV unprotected.
    IssueOptions {
        tagging: Tagging::Cose,
        headers: HeaderPlacement::KidAndIvUnprotected,
        external_aad: Vec::new(),
    }
}

fn rs_info(aud: &str, key: [u8; 16], rpk: bool) -> ResourceServerInfo {
    let mut i = ResourceServerInfo::new(
        aud,
        DTLS,
        TokenFormat::Encrypt0 {
            alg: Algorithm::AES_CCM_16_64_128,
            key: SecretBytes::from_slice(&key),
            kid: None,
        },
    );
    i.issue_options = plan_options();
    if rpk {
        i.pop_key_types = vec![KeyType::P256];
        i.rs_cnf = Some(Confirmation::cose_key(PopKey::public(
            interop::rs2_public().unwrap(),
        )));
    } else {
        i.pop_key_types = Vec::new();
    }
    i
}

fn plan_as() -> AsEngine {
    let psk = |id: &str| ClientCredential::PskIdentity(id.as_bytes().to_vec());
    let registry = MemoryRegistry::new()
        .with_client(
            ClientInfo::new("client1")
                .with_credential(psk("client1"))
                .with_grant_types(&[]),
        )
        .with_client(
            ClientInfo::new("client2")
                .with_credential(psk("client2"))
                .with_profile(DTLS),
        )
        .with_client(
            ClientInfo::new("client3")
                .with_credential(ClientCredential::RawPublicKey(
                    interop::client3_public().unwrap(),
                ))
                .with_profile(DTLS),
        )
        .with_client(
            ClientInfo::new("client4")
                .with_credential(psk("client4"))
                .with_profile(DTLS),
        )
        .with_client(
            ClientInfo::new("RS1")
                .with_credential(psk("RS1"))
                .with_grant_types(&[]),
        )
        .with_client(
            ClientInfo::new("RS2")
                .with_credential(psk("RS2"))
                .with_grant_types(&[])
                .with_introspection(&["RS2"]),
        )
        .with_resource_server(rs_info("RS1", interop::RS1_KEY, false))
        .with_resource_server(rs_info("RS2", interop::RS2_KEY, true));
    let hw = || Scope::Text("HelloWorld".into());
    let policy = StaticPolicy::new()
        .allow("client2", "RS1", hw())
        .allow("client2", "RS2", Scope::Text("HelloWorld r_Lock".into()))
        .allow("client3", "RS1", hw())
        .allow("client3", "RS2", hw())
        .allow("client4", "RS1", Scope::Text("HelloWorld r_Lock".into()));
    AsEngine::new(
        AsConfig::new("AS"),
        Box::new(registry),
        Box::new(policy),
        Box::new(MemoryTokenStore::new()),
        backend(),
    )
}

fn plan_rs(aud: &str, key: [u8; 16]) -> RsEngine {
    let mut cfg = RsConfig::new(aud, "coaps://as.example/token");
    cfg.issuers = vec!["AS".into()];
    cfg.scope_map = interop_scope_map().unwrap();
    RsEngine::new(
        cfg,
        Box::new(KeySet::new().with(TokenKey::symmetric(key.to_vec()))),
        backend(),
        Box::new(MemoryAcceptedTokens::new()),
    )
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(2018)
}

fn psk(id: &str) -> ChannelIdentity {
    ChannelIdentity::PskIdentity(id.as_bytes().to_vec())
}

fn client3() -> ChannelIdentity {
    ChannelIdentity::RawPublicKey(interop::client3_public().unwrap())
}

fn request(scope: Option<&str>, aud: Option<&str>) -> TokenRequest {
    TokenRequest {
        grant_type: Some(GrantType::CLIENT_CREDENTIALS),
        scope: scope.map(|s| Scope::Text(s.into())),
        audience: aud.map(Into::into),
        ..TokenRequest::default()
    }
}

fn post_token(a: &mut AsEngine, ch: &ChannelIdentity, payload: &[u8]) -> (CoapCode, Vec<u8>) {
    let out = a.handle_token_bytes(T0, ch, payload, &mut rng()).unwrap();
    (out.response.code(), out.response.payload().unwrap())
}

fn refused(a: &mut AsEngine, ch: &ChannelIdentity, r: &TokenRequest) -> (CoapCode, ErrorCode) {
    let (c, body) = post_token(a, ch, &r.encode().unwrap());
    (c, ErrorResponse::decode(&body).unwrap().error)
}

fn granted(a: &mut AsEngine, ch: &ChannelIdentity, r: &TokenRequest) -> TokenResponse {
    let (c, body) = post_token(a, ch, &r.encode().unwrap());
    assert_eq!(c, code::CREATED);
    TokenResponse::decode(&body).unwrap()
}

fn open(token: &[u8], aud: &str, key: [u8; 16]) -> ace_token::ValidatedToken {
    Validator::new(Policy::new(aud).with_issuer("AS"))
        .validate(
            token,
            T0,
            &KeySet::new().with(TokenKey::symmetric(key.to_vec())),
            &RustCrypto,
        )
        .unwrap()
}

#[test]
fn c1_1_no_client_authentication_is_invalid_client() {
    let (c, body) = post_token(
        &mut plan_as(),
        &ChannelIdentity::Anonymous,
        b"\x13\x37random",
    );
    assert_eq!(c, CoapCode::UNAUTHORIZED);
    assert_eq!(
        ErrorResponse::decode(&body).unwrap().error,
        ErrorCode::INVALID_CLIENT
    );
}

#[test]
fn c1_2_client_not_allowed_at_token_endpoint_is_unauthorized_client() {
    let (c, body) = post_token(&mut plan_as(), &psk("client1"), b"\x13\x37random");
    assert_eq!(c, CoapCode::BAD_REQUEST);
    assert_eq!(
        ErrorResponse::decode(&body).unwrap().error,
        ErrorCode::UNAUTHORIZED_CLIENT
    );
}

#[test]
fn c1_3_missing_audience_is_invalid_request() {
    let r = request(Some("HelloWorld"), None);
    assert_eq!(
        refused(&mut plan_as(), &psk("client2"), &r),
        (CoapCode::BAD_REQUEST, ErrorCode::INVALID_REQUEST)
    );
}

#[test]
fn c1_4_password_grant_is_unsupported_grant_type() {
    let mut r = request(Some("HelloWorld"), Some("RS1"));
    r.grant_type = Some(GrantType::PASSWORD);
    assert_eq!(
        refused(&mut plan_as(), &psk("client2"), &r).1,
        ErrorCode::UNSUPPORTED_GRANT_TYPE
    );
}

#[test]
fn c1_5_unknown_scope_is_invalid_scope() {
    let r = request(Some("test"), Some("RS1"));
    assert_eq!(
        refused(&mut plan_as(), &psk("client2"), &r).1,
        ErrorCode::INVALID_SCOPE
    );
}

#[test]
fn c1_6_symmetric_pop_token_for_rs1() {
    let t = granted(
        &mut plan_as(),
        &psk("client2"),
        &request(Some("HelloWorld"), Some("RS1")),
    );
    // C1.6.1: Encrypt0 under "RS1", in the plan's wrapper 16([h'A1010A', {5: iv}, ...]).
    assert_eq!(&t.access_token[..6], &[0xd0, 0x83, 0x43, 0xa1, 0x01, 0x0a]);
    let v = open(&t.access_token, "RS1", interop::RS1_KEY);
    // C1.6.2: cnf with an AS-generated 128-bit key, aud RS1, scope HelloWorld.
    let key = v.pop_key().unwrap();
    assert_eq!(key.symmetric_key().unwrap().len(), 16);
    assert_eq!(v.claims().aud, Some("RS1".into()));
    assert_eq!(v.claims().scope, Some(Scope::Text("HelloWorld".into())));
    // C1.6.3: the same key in the response's cnf; the profile is coap_dtls.
    assert_eq!(t.cnf, Some(Confirmation::cose_key(key.clone())));
    assert_eq!(t.ace_profile, Some(DTLS));
}

#[test]
fn c1_7_symmetric_req_cnf_is_invalid_request() {
    let mut r = request(Some("HelloWorld"), Some("RS1"));
    r.req_cnf = Some(Confirmation::cose_key(
        PopKey::symmetric(SecretBytes::from_slice(&interop::POP_KEY))
            .with_kid(vec![0x91, 0xEC, 0xB5, 0xCB, 0x5D, 0xBC]),
    ));
    assert_eq!(
        refused(&mut plan_as(), &psk("client2"), &r).1,
        ErrorCode::INVALID_REQUEST
    );
}

#[test]
fn c1_8_missing_scope_without_default_is_invalid_scope() {
    let r = request(None, Some("RS1"));
    assert_eq!(
        refused(&mut plan_as(), &client3(), &r).1,
        ErrorCode::INVALID_SCOPE
    );
}

fn client3_req_cnf() -> Confirmation {
    Confirmation::cose_key(
        PopKey::public(interop::client3_public().unwrap()).with_alg(Algorithm::ES256),
    )
}

#[test]
fn c1_9_rpk_for_rs_without_rpk_is_unsupported_pop_key() {
    let mut r = request(Some("HelloWorld"), Some("RS1"));
    r.req_cnf = Some(client3_req_cnf());
    assert_eq!(
        refused(&mut plan_as(), &client3(), &r).1,
        ErrorCode::UNSUPPORTED_POP_KEY
    );
}

#[test]
fn c1_10_rpk_token_for_rs2_with_rs_cnf() {
    let mut r = request(Some("HelloWorld"), Some("RS2"));
    r.req_cnf = Some(client3_req_cnf());
    // C1.10.2: the client is authenticated by its RPK on the channel.
    let t = granted(&mut plan_as(), &client3(), &r);
    // C1.10.1: Encrypt0 under "RS2".
    let v = open(&t.access_token, "RS2", interop::RS2_KEY);
    // C1.10.3: cnf = the client's raw public key.
    assert_eq!(
        v.pop_key().unwrap().public_key(),
        Some(&interop::client3_public().unwrap())
    );
    // C1.10.4: rs_cnf = RS2's public key.
    assert_eq!(
        t.rs_cnf,
        Some(Confirmation::cose_key(PopKey::public(
            interop::rs2_public().unwrap()
        )))
    );
    assert_eq!(t.cnf, None);
}

#[test]
fn c1_11_scope_not_allowed_is_invalid_scope() {
    let r = request(Some("rw_Lock"), Some("RS1"));
    assert_eq!(
        refused(&mut plan_as(), &psk("client4"), &r).1,
        ErrorCode::INVALID_SCOPE
    );
}

#[test]
fn c1_12_downscoped_to_r_lock() {
    let t = granted(
        &mut plan_as(),
        &psk("client4"),
        &request(Some("r_Lock rw_Lock"), Some("RS1")),
    );
    assert_eq!(t.scope, Some(Scope::Text("r_Lock".into())));
    let v = open(&t.access_token, "RS1", interop::RS1_KEY);
    assert_eq!(v.claims().scope, Some(Scope::Text("r_Lock".into())));
}

/// A token as the plan's RS tests describe it (claims aud, iss, scope, cnf; plus `exp`,
/// which our RS requires by default), Encrypt0 in the plan's wrapper.
fn plan_token(aud: &str, scope: &str, cnf: Confirmation, key: [u8; 16]) -> Vec<u8> {
    let claims = ClaimsBuilder::new()
        .audience(aud)
        .issuer("AS")
        .scope(Scope::Text(scope.into()))
        .cnf(cnf)
        .expiration(T0.saturating_add(3600))
        .build();
    Issuer::with_options(&RustCrypto, plan_options())
        .encrypt0(&claims, Algorithm::AES_CCM_16_64_128, &key, None, &[7; 13])
        .unwrap()
}

fn sym(kid: u8) -> Confirmation {
    Confirmation::cose_key(
        PopKey::symmetric(SecretBytes::from_slice(&interop::POP_KEY))
            .with_kid(vec![0x91, 0xEC, 0xB5, 0xCB, 0x5D, kid]),
    )
}

fn kid_peer(kid: u8) -> ChannelIdentity {
    ChannelIdentity::PskIdentity(vec![0x91, 0xEC, 0xB5, 0xCB, 0x5D, kid])
}

fn post(rs: &mut RsEngine, token: &[u8]) -> RsResponse {
    rs.handle_authz_info(T0, Some(ContentFormat::CWT), token)
        .unwrap()
        .response
}

#[test]
fn c2_1_unauthorized_request_gets_as_information() {
    let mut rs = plan_rs("RS1", interop::RS1_KEY);
    let Access::Unauthorized(h) = rs.authorize(
        T0,
        &ChannelIdentity::Anonymous,
        "/ace/helloWorld",
        Method::Get,
        &mut rng(),
    ) else {
        panic!("expected 4.01")
    };
    assert_eq!(h.as_uri.as_deref(), Some("coaps://as.example/token"));
    assert_eq!(h.audience.as_deref(), Some("RS1"));
}

#[test]
fn c2_2_random_bytes_at_authz_info_are_4_00() {
    assert_eq!(
        post(&mut plan_rs("RS1", interop::RS1_KEY), b"\x13\x37random"),
        RsResponse::Refused(CoapCode::BAD_REQUEST)
    );
}

#[test]
fn c2_3_token_under_unknown_key_is_4_01() {
    let t = plan_token("RS1", "HelloWorld", sym(0xBC), interop::RS2_KEY);
    assert_eq!(
        post(&mut plan_rs("RS1", interop::RS1_KEY), &t),
        RsResponse::Refused(CoapCode::UNAUTHORIZED)
    );
}

#[test]
fn c2_4_other_audience_is_4_03() {
    let t = plan_token("RS2", "HelloWorld", sym(0xBC), interop::RS1_KEY);
    assert_eq!(
        post(&mut plan_rs("RS1", interop::RS1_KEY), &t),
        RsResponse::Refused(CoapCode::FORBIDDEN)
    );
}

#[test]
fn c2_5_unknown_scope_is_4_00() {
    let t = plan_token("RS1", "test", sym(0xBC), interop::RS1_KEY);
    assert_eq!(
        post(&mut plan_rs("RS1", interop::RS1_KEY), &t),
        RsResponse::Refused(CoapCode::BAD_REQUEST)
    );
}

#[test]
fn c2_6_to_c2_8_valid_token_then_get_allowed_put_forbidden() {
    let mut rs = plan_rs("RS1", interop::RS1_KEY);
    let t = plan_token("RS1", "HelloWorld", sym(0xBC), interop::RS1_KEY);
    assert!(matches!(post(&mut rs, &t), RsResponse::Created(_)));
    // C2.7: PSK identity = kid; the DTLS layer gets the PSK from the engine.
    assert_eq!(
        rs.pop_key(T0, &kid_peer(0xBC))
            .and_then(|k| k.symmetric_key())
            .map(|k| k.expose().to_vec()),
        Some(interop::POP_KEY.to_vec())
    );
    assert_eq!(
        rs.authorize(
            T0,
            &kid_peer(0xBC),
            "/ace/helloWorld",
            Method::Get,
            &mut rng()
        ),
        Access::Allow
    );
    // C2.8
    assert_eq!(
        rs.authorize(T0, &kid_peer(0xBC), "/ace/lock", Method::Put, &mut rng()),
        Access::Forbidden
    );
}

#[test]
fn c2_9_token_in_psk_identity_then_get() {
    // The DTLS shell hands the psk_identity bytes (the token) to authz-info processing.
    let mut rs = plan_rs("RS1", interop::RS1_KEY);
    let t = plan_token("RS1", "HelloWorld", sym(0xBF), interop::RS1_KEY);
    assert!(matches!(post(&mut rs, &t), RsResponse::Created(_)));
    assert_eq!(
        rs.authorize(
            T0,
            &kid_peer(0xBF),
            "/ace/helloWorld",
            Method::Get,
            &mut rng()
        ),
        Access::Allow
    );
}

#[test]
fn c2_10_to_c2_16_rs2() {
    let mut rs = plan_rs("RS2", interop::RS2_KEY);
    // C2.10 / C2.13: r_Lock, PUT → 4.05.
    assert!(matches!(
        post(
            &mut rs,
            &plan_token("RS2", "r_Lock", sym(0xBD), interop::RS2_KEY)
        ),
        RsResponse::Created(_)
    ));
    assert_eq!(
        rs.authorize(T0, &kid_peer(0xBD), "/ace/lock", Method::Put, &mut rng()),
        Access::MethodNotAllowed
    );
    // C2.11 / C2.15: rw_Lock, PUT → allowed.
    assert!(matches!(
        post(
            &mut rs,
            &plan_token("RS2", "rw_Lock", sym(0xBE), interop::RS2_KEY)
        ),
        RsResponse::Created(_)
    ));
    assert_eq!(
        rs.authorize(T0, &kid_peer(0xBE), "/ace/lock", Method::Put, &mut rng()),
        Access::Allow
    );
    // C2.12 / C2.16: client3's RPK, GET helloWorld over an RPK handshake.
    let rpk = Confirmation::cose_key(
        PopKey::public(interop::client3_public().unwrap()).with_alg(Algorithm::ES256),
    );
    assert!(matches!(
        post(
            &mut rs,
            &plan_token("RS2", "HelloWorld", rpk, interop::RS2_KEY)
        ),
        RsResponse::Created(_)
    ));
    assert_eq!(
        rs.authorize(T0, &client3(), "/ace/helloWorld", Method::Get, &mut rng()),
        Access::Allow
    );
    // C2.14: a token referencing kid ..BD supersedes the r_Lock token; HelloWorld is granted.
    let by_kid = Confirmation::kid(vec![0x91, 0xEC, 0xB5, 0xCB, 0x5D, 0xBD]);
    assert!(matches!(
        post(
            &mut rs,
            &plan_token("RS2", "HelloWorld", by_kid, interop::RS2_KEY)
        ),
        RsResponse::Created(_)
    ));
    assert_eq!(
        rs.authorize(
            T0,
            &kid_peer(0xBD),
            "/ace/helloWorld",
            Method::Get,
            &mut rng()
        ),
        Access::Allow
    );
    assert_eq!(rs.tokens().len(), 3);
}

fn introspect(a: &mut AsEngine, caller: &str, token: &[u8], now: UnixTime) -> (CoapCode, Vec<u8>) {
    let body = IntrospectionRequest::new(token.to_vec()).encode().unwrap();
    let out = a.handle_introspect_bytes(now, &psk(caller), &body).unwrap();
    (out.response.code(), out.response.payload().unwrap())
}

#[test]
fn c18_rs_without_introspection_rights_gets_4_03_without_payload() {
    let mut a = plan_as();
    let out = a
        .handle_introspect_bytes(T0, &psk("RS1"), b"\x13\x37random")
        .unwrap();
    assert_eq!(out.response, AsResponse::Forbidden);
    assert!(out.response.payload().unwrap().is_empty());
}

#[test]
fn c19_to_c21_inactive_tokens_are_active_false_only() {
    let mut a = plan_as();
    let inactive = IntrospectionResponse::default().encode().unwrap();
    // C19: random bytes as the token.
    assert_eq!(
        introspect(&mut a, "RS2", b"\x13\x37random", T0),
        (code::CREATED, inactive.clone())
    );
    // C20: a token whose exp has passed.
    let t = granted(
        &mut a,
        &psk("client2"),
        &request(Some("HelloWorld"), Some("RS2")),
    );
    assert_eq!(
        introspect(&mut a, "RS2", &t.access_token, T0.saturating_add(3600)),
        (code::CREATED, inactive.clone())
    );
    // C21: a CWT under a key unknown to the AS (Client4's PSK), never issued by it.
    let foreign = plan_token("RS2", "HelloWorld", sym(0xBD), interop::CLIENT4_PSK);
    assert_eq!(
        introspect(&mut a, "RS2", &foreign, T0),
        (code::CREATED, inactive)
    );
}

#[test]
fn c22_active_token_introspection() {
    let mut a = plan_as();
    let t = granted(
        &mut a,
        &psk("client2"),
        &request(Some("HelloWorld"), Some("RS2")),
    );
    let (c, body) = introspect(&mut a, "RS2", &t.access_token, T0);
    assert_eq!(c, code::CREATED);
    let r = IntrospectionResponse::decode(&body).unwrap();
    assert!(r.active);
    assert_eq!(r.aud.as_deref(), Some("RS2"));
    assert_eq!(r.scope, Some(Scope::Text("HelloWorld".into())));
    assert_eq!(r.iss.as_deref(), Some("AS"));
    assert_eq!(r.cnf, t.cnf);
    // A token for RS1 asked about by RS2: not RS2's business (digest A.4 item 14).
    let t1 = granted(
        &mut a,
        &psk("client2"),
        &request(Some("HelloWorld"), Some("RS1")),
    );
    let (_, body) = introspect(&mut a, "RS2", &t1.access_token, T0);
    assert!(!IntrospectionResponse::decode(&body).unwrap().active);
}
