//! Negative tests, filtering, the RS purge flow, persistence and codec round trips.

use ace_core::testing::{Harness, example_deployment};
use ace_core::{Access, ChannelIdentity, RsEngine};
use ace_token::UnixTime;
use proptest::prelude::*;
use revocation::consts::{code, error_id};
use revocation::rs::{GuardRefusal, PurgingTokenStore, RevokedTokenGuard};
use revocation::*;

fn engine() -> TrlEngine {
    let mut e = TrlEngine::new(TrlConfig::default()).unwrap();
    let _ = e.register(b"rs1".to_vec(), Role::ResourceServer("rs1".into()), &[]);
    let _ = e.register(b"rs2".to_vec(), Role::ResourceServer("rs2".into()), &[]);
    let _ = e.register(b"admin".to_vec(), Role::Admin, &[]);
    for (i, aud) in [(1u8, "rs1"), (2, "rs2")] {
        let _ = e.token_issued(TokenRecord {
            hash: TokenHash::compute(HashAlg::Sha256, &[i]),
            cti: Some(vec![i]),
            client_id: "c".into(),
            audience: aud.into(),
            expires_at: Some(UnixTime(1000)),
        });
    }
    e
}

fn problem(e: &mut TrlEngine, peer: &[u8], q: &str) -> ProblemDetails {
    let out = e.handle_request(
        UnixTime(1),
        Requester::Peer(peer),
        &TrlRequest::get(TrlQuery::from_query_string(q)),
    );
    assert_eq!(out.response.code(), code::BAD_REQUEST, "{q}");
    ProblemDetails::decode(&out.response.payload()).unwrap()
}

#[test]
fn query_errors_carry_the_right_error_id() {
    let mut e = engine();
    for q in [
        "diff=-1",
        "diff=abc",
        "diff=",
        "diff",
        "diff=+3",
        "diff=99999999999999999999",
    ] {
        let p = problem(&mut e, b"rs1", q);
        assert_eq!(
            (p.error_id, p.cursor),
            (error_id::INVALID_PARAMETER_VALUE, None),
            "{q}"
        );
    }
    let p = problem(&mut e, b"rs1", "diff=x&cursor=3");
    assert_eq!(p.error_id, error_id::INVALID_PARAMETER_VALUE);
    let p = problem(&mut e, b"rs1", "cursor=3");
    assert_eq!(
        (p.error_id, p.cursor),
        (error_id::INVALID_SET_OF_PARAMETERS, None)
    );
    // Empty collection: invalid cursor → error 0 with cursor null.
    let p = problem(&mut e, b"rs1", "diff=1&cursor=x");
    assert_eq!(
        (p.error_id, p.cursor),
        (error_id::INVALID_PARAMETER_VALUE, Some(None))
    );
    let p = problem(&mut e, b"rs1", "diff=1&cursor=4294967296");
    assert_eq!(p.cursor, Some(None));
    let p = problem(&mut e, b"rs1", "diff=1&diff=2");
    assert_eq!(p.error_id, error_id::INVALID_SET_OF_PARAMETERS);
    // Non-empty, not wrapped, cursor > last_index → error 2.
    let _ = e
        .revoke(UnixTime(1), &RevokeTarget::Cti(vec![1]), "r")
        .unwrap();
    let p = problem(&mut e, b"rs1", "diff=1&cursor=5");
    assert_eq!(
        (p.error_id, p.cursor),
        (error_id::OUT_OF_BOUND_CURSOR_VALUE, None)
    );
    // Unknown parameters are ignored.
    let out = e.handle_request(
        UnixTime(1),
        Requester::Peer(b"rs1"),
        &TrlRequest::get(TrlQuery::from_query_string("foo=bar&c.pmax=5")),
    );
    assert_eq!(out.response.code(), code::CONTENT);
}

#[test]
fn access_control_and_method() {
    let mut e = engine();
    let get = TrlRequest::get(TrlQuery::full());
    let r = e
        .handle_request(UnixTime(1), Requester::Anonymous, &get)
        .response;
    assert_eq!((r.code(), r.payload().len()), (code::UNAUTHORIZED, 0));
    let r = e
        .handle_request(UnixTime(1), Requester::Peer(b"stranger"), &get)
        .response;
    assert_eq!((r.code(), r.payload().len()), (code::FORBIDDEN, 0));
    for m in [2u8, 3, 4, 5, 6, 7] {
        let req = TrlRequest {
            method: m,
            query: TrlQuery::full(),
        };
        let r = e
            .handle_request(UnixTime(1), Requester::Peer(b"rs1"), &req)
            .response;
        assert_eq!(r.code(), code::METHOD_NOT_ALLOWED);
    }
}

#[test]
fn requesters_see_only_their_tokens() {
    let mut e = engine();
    let (_, eff) = e
        .revoke(UnixTime(1), &RevokeTarget::Cti(vec![2]), "r")
        .unwrap();
    let notified: Vec<_> = eff
        .iter()
        .filter_map(|x| match x {
            TrlEffect::Notify { peers } => Some(peers.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(notified, vec![vec![b"admin".to_vec(), b"rs2".to_vec()]]);
    let full = |e: &mut TrlEngine, p: &[u8], q: TrlQuery| match e
        .handle_request(UnixTime(2), Requester::Peer(p), &TrlRequest::get(q))
        .response
    {
        TrlResponse::Content(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        full(&mut e, b"rs1", TrlQuery::full()).full_set,
        Some(vec![])
    );
    assert_eq!(
        full(&mut e, b"rs1", TrlQuery::diff(0)).diff_set,
        Some(vec![])
    );
    assert_eq!(
        full(&mut e, b"rs2", TrlQuery::full())
            .full_set
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        full(&mut e, b"admin", TrlQuery::full())
            .full_set
            .unwrap()
            .len(),
        1
    );
    // Revoking an expired token adds nothing (TRL-06).
    let (s, eff) = e
        .revoke(UnixTime(1000), &RevokeTarget::Cti(vec![1]), "late")
        .unwrap();
    assert_eq!(s, RevokeStatus::Expired);
    assert!(!eff.iter().any(|x| matches!(x, TrlEffect::Revoked { .. })));
    assert_eq!(e.trl_len(), 0, "t2 expired at 1000 too and left the TRL");
    assert_eq!(
        e.revoke(UnixTime(1), &RevokeTarget::Cti(vec![9]), "?"),
        Err(Error::UnknownToken)
    );
}

#[test]
fn restart_from_memory_store_keeps_cursors() {
    let mut store = MemoryTrlStore::new();
    let mut e = TrlEngine::new(TrlConfig {
        max_n: 3,
        max_diff_batch: 2,
        ..TrlConfig::default()
    })
    .unwrap();
    let (_, eff) = e
        .register(b"rs1".to_vec(), Role::ResourceServer("rs1".into()), &[])
        .unwrap();
    store.apply(&eff).unwrap();
    for i in 0..5u8 {
        let rec = TokenRecord {
            hash: TokenHash::compute(HashAlg::Sha256, &[i]),
            cti: Some(vec![i]),
            client_id: "c".into(),
            audience: "rs1".into(),
            expires_at: Some(UnixTime(1000)),
        };
        store.apply(&e.token_issued(rec)).unwrap();
        let (_, eff) = e
            .revoke(UnixTime(1), &RevokeTarget::Cti(vec![i]), "why")
            .unwrap();
        store.apply(&eff).unwrap();
    }
    assert_eq!(store.log.len(), 5);
    let mut r = TrlEngine::restore(e.config().clone(), store.load().unwrap()).unwrap();
    assert_eq!(r.trl_len(), 5);
    assert_eq!(r.last_index(b"rs1"), Some(4));
    let get = TrlRequest::get(TrlQuery::diff_cursor(0, 2));
    assert_eq!(
        r.handle_request(UnixTime(2), Requester::Peer(b"rs1"), &get)
            .response,
        e.handle_request(UnixTime(2), Requester::Peer(b"rs1"), &get)
            .response
    );
}

/// AS revokes a token the RS holds; the RS refuses the next request after one notification.
#[test]
fn rs_refuses_revoked_token_after_one_notification() {
    use ace_core::{ClientConfig, ClientEngine, RsConfig, ScopeMap};
    use ace_token::{KeySet, Scope, SecretBytes, TokenKey};
    use aif::{LocalPart, Method, RestAif, RestMethods};
    use rand::SeedableRng;

    let now = UnixTime(1_700_000_000);
    let (as_engine, _) = example_deployment(now).unwrap();
    let mut cfg = RsConfig::new("rs1", "coaps://as.example/token");
    cfg.issuers = vec!["as".into()];
    cfg.scope_map = ScopeMap::new().with_text(
        "read",
        RestAif::new().with(LocalPart::new("/s").unwrap(), RestMethods::GET),
    );
    let keys = KeySet::new().with(TokenKey::symmetric(vec![0x42; 16]).with_kid(*b"rs1"));
    let (store, handle) = PurgingTokenStore::new();
    let rs = RsEngine::new(
        cfg,
        Box::new(keys),
        ace_core::testing::backend(),
        Box::new(store),
    );
    let mut h = Harness::new(now, as_engine, rs, rand::rngs::StdRng::seed_from_u64(1));
    let mut c = ClientConfig::new("client");
    c.client_secret = Some(SecretBytes::from_slice(b"secret"));
    let info = h
        .client_flow(
            &ClientEngine::new(c),
            &ChannelIdentity::Anonymous,
            "/s",
            Method::Get,
            Some(Scope::Text("read".into())),
        )
        .unwrap();
    let peer = info.channel_identity().unwrap();
    assert_eq!(h.request(&peer, "/s", Method::Get), Access::Allow);

    // RS side: hash of the uploaded token, bound to what the engine stored.
    let mut guard = RevokedTokenGuard::new(HashAlg::Sha256, handle);
    let th = guard.check_upload(&info.token).unwrap();
    guard.record_effects(&th, &h.rs_effects);

    // AS side: record the issued token, register the RS, RS observes a full query.
    let mut trl = TrlEngine::new(TrlConfig::default()).unwrap();
    let (reg, _) = trl
        .register(b"rs1-psk".to_vec(), Role::ResourceServer("rs1".into()), &[])
        .unwrap();
    for eff in &h.as_effects {
        if let ace_core::AsEffect::TokenIssued(t) = eff {
            let rec = TokenRecord::from_issued(HashAlg::Sha256, t);
            assert_eq!(rec.hash, th, "AS and RS compute the same token hash");
            let _ = trl.token_issued(rec);
        }
    }
    let observe = TrlQuery::full();
    let mut client = TrlClient::new(reg, 0);
    let first = trl.handle_request(
        now,
        Requester::Peer(b"rs1-psk"),
        &TrlRequest::get(observe.clone()),
    );
    client.process(&observe, &first.response.payload()).unwrap();

    let cti = match &h.as_effects[0] {
        ace_core::AsEffect::TokenIssued(t) => t.cti.clone(),
        _ => unreachable!(),
    };
    let (_, effects) = trl
        .revoke(now, &RevokeTarget::Cti(cti), "compromised client")
        .unwrap();
    assert!(
        effects.iter().any(
            |e| matches!(e, TrlEffect::Notify { peers } if peers == &vec![b"rs1-psk".to_vec()])
        )
    );
    // One notification.
    let note = trl.handle_request(
        now,
        Requester::Peer(b"rs1-psk"),
        &TrlRequest::get(observe.clone()),
    );
    let update = client.process(&observe, &note.response.payload()).unwrap();
    assert_eq!(update.revoked, vec![th.clone()]);
    assert_eq!(guard.apply(&update).len(), 1);
    assert!(matches!(
        h.request(&peer, "/s", Method::Get),
        Access::Unauthorized(_)
    ));
    // Re-uploading the revoked token is refused before it reaches the engine.
    assert_eq!(guard.check_upload(&info.token), Err(GuardRefusal::Revoked));
}

proptest! {
    #[test]
    fn trl_payload_round_trip(
        hashes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
        cursor in proptest::option::of(proptest::option::of(any::<u64>())),
        more in proptest::option::of(any::<bool>()),
        full in any::<bool>(),
    ) {
        let hs: Vec<TokenHash> = hashes.into_iter().map(TokenHash::from_raw).collect();
        let p = if full {
            TrlPayload { full_set: Some(hs), diff_set: None, cursor, more }
        } else {
            let entries = hs.chunks(2).map(|c| DiffEntry { removed: c.to_vec(), added: c.iter().rev().cloned().collect() }).collect();
            TrlPayload { full_set: None, diff_set: Some(entries), cursor, more }
        };
        prop_assert_eq!(TrlPayload::decode(&p.encode()).unwrap(), p);
    }

    #[test]
    fn problem_details_round_trip(id in any::<i64>(), c in proptest::option::of(proptest::option::of(any::<u64>())), d in "[a-z ]{0,20}") {
        let p = ProblemDetails { title: None, detail: Some(d), error_id: id, cursor: c };
        prop_assert_eq!(ProblemDetails::decode(&p.encode()).unwrap(), p);
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = TrlPayload::decode(&bytes);
        let _ = ProblemDetails::decode(&bytes);
        let _ = RegistrationInfo::decode(&bytes);
    }
}

#[test]
fn registration_info_round_trip() {
    let r = RegistrationInfo {
        trl_path: "/revoke/trl".into(),
        trl_hash: HashAlg::Sha256,
        max_n: Some(10),
        max_diff_batch: Some(5),
    };
    assert_eq!(RegistrationInfo::decode(&r.encode()).unwrap(), r);
}
