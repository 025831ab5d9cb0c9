//! The AS hosting the RFC 9770 TRL (`AsService::with_trl`): issued tokens are recorded with
//! who they pertain to, `AsService::revoke` (the library call behind `ace as revoke`)
//! revokes by `cti`, token or hash and makes introspection answer inactive, the CoAP TRL
//! endpoint is mounted next to `/token`, and the SQLite administration queue is applied.

use std::sync::{Arc, Mutex};

use ace_coap::{Code, Handled, Message, PeerIdentity, Request};
use ace_core::testing::example_deployment;
use ace_core::{AsResponse, ChannelIdentity, ClientConfig, ClientEngine, CreationHints};
use ace_server::revocation::{
    MemoryTrlStore, QueueResult, RevokeStatus, RevokeTarget, Role, SqliteTrlStore, TokenHash,
    TrlConfig, TrlPayload,
};
use ace_server::{AsService, ManualClock, trl};
use ace_token::{Scope, SecretBytes, UnixTime};

const NOW: UnixTime = UnixTime(1_700_000_000);

fn service(clock: &Arc<ManualClock>) -> AsService {
    let (as_engine, _) = example_deployment(NOW).unwrap();
    let trl = trl::restore_trl(
        TrlConfig::default(),
        Box::new(MemoryTrlStore::new()),
        clock.clone(),
    )
    .unwrap();
    trl.register(b"rs1-kid".to_vec(), Role::ResourceServer("rs1".into()), &[])
        .unwrap();
    trl.register(
        b"other-rs".to_vec(),
        Role::ResourceServer("rs2".into()),
        &[],
    )
    .unwrap();
    AsService::new(as_engine)
        .with_clock(clock.clone())
        .with_trl(trl)
}

/// A token for "client" at "rs1" (the `access_token` bytes).
fn issue(svc: &AsService) -> Vec<u8> {
    let mut c = ClientConfig::new("client");
    c.client_secret = Some(SecretBytes::from_slice(b"secret"));
    let hints = CreationHints {
        as_uri: Some("coap://as.example/token".into()),
        audience: Some("rs1".into()),
        ..CreationHints::default()
    };
    let step = ClientEngine::new(c)
        .request_token(&hints, Some(Scope::Text("read".into())))
        .unwrap();
    let r = svc
        .token_bytes(&ChannelIdentity::Anonymous, &step.payload().unwrap())
        .unwrap();
    let AsResponse::Token(_) = &r else {
        panic!("not issued: {r:?}")
    };
    step.handle_response(NOW, r.code(), &r.payload().unwrap())
        .unwrap()
        .token
}

fn trl_get(svc: &AsService, peer: &[u8]) -> Message {
    let path = svc.trl().unwrap().path().to_owned();
    let mut router = svc.router();
    let req = Request::new(
        Message::request(Code::GET, &path),
        "127.0.0.1:9".parse().unwrap(),
        PeerIdentity::Oscore {
            sender_id: peer.to_vec(),
            id_context: None,
        },
    )
    .unwrap();
    let Handled::Response(m) = router.route(&req) else {
        panic!("deferred")
    };
    m
}

#[tokio::test]
async fn issued_tokens_are_recorded_and_revoke_reaches_trl_and_introspection() {
    let clock = Arc::new(ManualClock::new(NOW));
    let svc = service(&clock);
    let token = issue(&svc);
    let hash = TokenHash::from_cbor_access_token(ace_server::revocation::HashAlg::Sha256, &token);
    // Recorded at issue, pertaining to client "client" and audience "rs1".
    let rec = svc
        .trl()
        .unwrap()
        .with_engine(|e| e.record(&RevokeTarget::Token(token.clone())).cloned())
        .expect("recorded at issue");
    assert_eq!(
        (rec.client_id.as_str(), rec.audience.as_str()),
        ("client", "rs1")
    );
    assert_eq!(rec.hash, hash);
    let cti = rec.cti.clone().unwrap();

    // The TRL endpoint is mounted on the AS router (default path, RFC 9770 §1.1).
    assert_eq!(svc.trl().unwrap().path(), "/revoke/trl");
    let m = trl_get(&svc, b"rs1-kid");
    assert_eq!(m.code, Code::CONTENT);
    assert_eq!(
        TrlPayload::decode(&m.payload).unwrap().full_set,
        Some(vec![])
    );

    // Revoke by cti: in the TRL for rs1 only, introspection says inactive.
    let r = svc
        .revoke(&RevokeTarget::Cti(cti.clone()), "key leaked")
        .await
        .unwrap();
    assert_eq!(r.status, RevokeStatus::Revoked);
    assert_eq!((r.cti.as_deref(), &r.hash), (Some(cti.as_slice()), &hash));
    let m = trl_get(&svc, b"rs1-kid");
    assert_eq!(
        TrlPayload::decode(&m.payload).unwrap().full_set,
        Some(vec![hash.clone()])
    );
    let m = trl_get(&svc, b"other-rs");
    assert_eq!(
        TrlPayload::decode(&m.payload).unwrap().full_set,
        Some(vec![]),
        "another RS does not learn about rs1's token"
    );
    let revoked = svc
        .with_engine(|e| e.store().find_by_token(&token).map(|t| t.revoked))
        .unwrap();
    assert_eq!(revoked, Some(true), "introspection sees the revocation");

    // Again, by token and by hash: already revoked, nothing changes.
    for t in [RevokeTarget::Token(token.clone()), RevokeTarget::Hash(hash)] {
        let r = svc.revoke(&t, "again").await.unwrap();
        assert_eq!(r.status, RevokeStatus::AlreadyRevoked);
    }
    // Unknown cti.
    assert!(matches!(
        svc.revoke(&RevokeTarget::Cti(vec![0xde, 0xad]), "?").await,
        Err(ace_server::Error::Trl(
            ace_server::revocation::Error::UnknownToken
        ))
    ));
    // Expired: nothing to add (RFC 9770 "Update of the TRL").
    let t2 = issue(&svc);
    clock.advance(2 * 3600);
    let r = svc
        .revoke(&RevokeTarget::Token(t2), "too late")
        .await
        .unwrap();
    assert_eq!(r.status, RevokeStatus::Expired);
}

#[tokio::test]
async fn the_admin_queue_is_applied_with_results() {
    let clock = Arc::new(ManualClock::new(NOW));
    let svc = service(&clock);
    let token = issue(&svc);
    let hash = TokenHash::from_cbor_access_token(ace_server::revocation::HashAlg::Sha256, &token);
    let queue = Mutex::new(SqliteTrlStore::open_in_memory().unwrap());
    let (a, b, c) = {
        let q = queue.lock().unwrap();
        (
            q.enqueue_revocation(&RevokeTarget::Hash(hash.clone()), "stolen")
                .unwrap(),
            q.enqueue_revocation(&RevokeTarget::Hash(hash.clone()), "twice")
                .unwrap(),
            q.enqueue_revocation(&RevokeTarget::Cti(vec![9]), "unknown")
                .unwrap(),
        )
    };
    assert_eq!(svc.apply_revocation_queue(&queue).await.unwrap(), 3);
    assert_eq!(
        svc.apply_revocation_queue(&queue).await.unwrap(),
        0,
        "done once"
    );
    let q = queue.lock().unwrap();
    assert_eq!(
        q.revocation_result(a).unwrap(),
        Some(QueueResult::Done(RevokeStatus::Revoked))
    );
    assert_eq!(
        q.revocation_result(b).unwrap(),
        Some(QueueResult::Done(RevokeStatus::AlreadyRevoked))
    );
    assert_eq!(
        q.revocation_result(c).unwrap(),
        Some(QueueResult::UnknownToken)
    );
    assert!(svc.trl().unwrap().with_engine(|e| e.is_revoked(&hash)));
}

#[tokio::test]
async fn without_a_trl_revoke_is_refused() {
    let (as_engine, _) = example_deployment(NOW).unwrap();
    let svc = AsService::new(as_engine);
    assert!(svc.trl().is_none());
    assert!(matches!(
        svc.revoke(&RevokeTarget::Cti(vec![1]), "x").await,
        Err(ace_server::Error::Trl(
            ace_server::revocation::Error::InvalidConfig(_)
        ))
    ));
}

/// The RS side (`RsService::with_trl` + `rs_trl::RsTrl`): an accepted token is recorded,
/// a TRL update purges it (the engine then refuses the request), a re-upload is refused
/// 4.01, and the state survives a restart through the key-value table.
#[tokio::test]
async fn rs_records_purges_and_refuses_reupload_with_persisted_state() {
    use ace_core::{Access, RsResponse};
    use ace_server::revocation::rs::PurgingTokenStore;
    use ace_server::revocation::{NextQuery, TrlUpdate};
    use ace_server::rs_trl::RsTrl;

    let clock = Arc::new(ManualClock::new(NOW));
    let as_svc = service(&clock);
    let token = issue(&as_svc);
    let hash = TokenHash::from_cbor_access_token(ace_server::revocation::HashAlg::Sha256, &token);

    let db = Arc::new(ace_store::SqliteStore::open_in_memory().unwrap());
    let rs_service = |db: &Arc<ace_store::SqliteStore>| {
        // The RS of `example_deployment`, over a purging token store.
        let (store, purge) = PurgingTokenStore::new();
        let mut cfg = ace_core::RsConfig::new("rs1", "coaps://as.example/token");
        cfg.issuers = vec!["as".into()];
        cfg.scope_map = ace_core::ScopeMap::new().with_text(
            "read",
            aif::RestAif::new().with(aif::LocalPart::new("/s").unwrap(), aif::RestMethods::GET),
        );
        let keys = ace_token::KeySet::new()
            .with(ace_token::TokenKey::symmetric(vec![0x42; 16]).with_kid(*b"rs1"));
        let engine = ace_core::RsEngine::new(
            cfg,
            Box::new(keys),
            ace_core::testing::backend(),
            Box::new(store),
        );
        let trl = Arc::new(
            RsTrl::persistent(ace_server::revocation::HashAlg::Sha256, purge, db.clone()).unwrap(),
        );
        (
            ace_server::RsService::new(engine)
                .with_clock(clock.clone())
                .with_trl(trl.clone()),
            trl,
        )
    };
    let (rs, trl) = rs_service(&db);
    let RsResponse::Created(_) = rs.authz_info(None, &token).unwrap() else {
        panic!("token refused")
    };
    let kid = rs
        .with_engine(|e| e.tokens().tokens().first().map(|t| t.binding.clone()))
        .unwrap()
        .unwrap();
    let ace_core::PopBinding::Kid(kid) = kid else {
        panic!("symmetric PoP expected")
    };
    let peer = PeerIdentity::Other {
        scheme: "dtls-psk".into(),
        id: kid,
    };
    let read = |rs: &ace_server::RsService| rs.authorize(&peer, "/s", aif::Method::Get).unwrap();
    assert_eq!(read(&rs), Access::Allow);

    // The TRL names the token: purged, refused, re-upload refused.
    let update = TrlUpdate {
        revoked: vec![hash.clone()],
        expired: vec![],
        mentioned: vec![hash.clone()],
        next: NextQuery::None,
    };
    assert_eq!(trl.apply(&update).unwrap().len(), 1);
    assert!(trl.is_revoked(&hash));
    assert!(matches!(read(&rs), Access::Unauthorized(_)));
    assert_eq!(
        rs.authz_info(None, &token).unwrap(),
        RsResponse::Refused(ace_core::CoapCode::UNAUTHORIZED)
    );

    // A restarted RS (same database) still refuses the upload.
    drop((rs, trl));
    let (rs, trl) = rs_service(&db);
    assert!(trl.is_revoked(&hash));
    assert_eq!(
        rs.authz_info(None, &token).unwrap(),
        RsResponse::Refused(ace_core::CoapCode::UNAUTHORIZED)
    );
}
