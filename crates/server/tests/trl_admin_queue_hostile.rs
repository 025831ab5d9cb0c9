//! The TRL administration queue is written by another process (`ace as revoke`), so the AS
//! reads it as untrusted input: a malformed row must not make the AS's poll fail (which would
//! leave every revocation queued behind it unapplied, tick after tick), and must not be
//! applied in part; the well-formed entries around it are applied.

use std::sync::{Arc, Mutex};

use ace_core::testing::example_deployment;
use ace_core::{AsResponse, ChannelIdentity, ClientConfig, ClientEngine, CreationHints};
use ace_server::revocation::{
    HashAlg, MemoryTrlStore, QueueResult, RevokeStatus, RevokeTarget, Role, SqliteTrlStore,
    TokenHash, TrlConfig,
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
    AsService::new(as_engine)
        .with_clock(clock.clone())
        .with_trl(trl)
}

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

#[tokio::test]
async fn malformed_queue_rows_neither_block_nor_half_apply() {
    let dir = std::env::temp_dir().join(format!("ace-server-trlq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("as.sqlite");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let clock = Arc::new(ManualClock::new(NOW));
    let svc = service(&clock);
    let (t1, t2) = (issue(&svc), issue(&svc));
    let (h1, h2) = (
        TokenHash::from_cbor_access_token(HashAlg::Sha256, &t1),
        TokenHash::from_cbor_access_token(HashAlg::Sha256, &t2),
    );
    let queue = Mutex::new(SqliteTrlStore::open(&path).unwrap());

    // `ace as revoke` (another process) queues a good entry, a hostile writer adds rows the
    // tool never writes, then the tool queues another good entry.
    let first = queue
        .lock()
        .unwrap()
        .enqueue_revocation(&RevokeTarget::Hash(h1.clone()), "stolen")
        .unwrap();
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(
            "INSERT INTO trl_admin_queue (kind, value, reason) VALUES ('everything', X'00', 'r');
             INSERT INTO trl_admin_queue (kind, value, reason) VALUES (X'6374', X'01', 'r');
             INSERT INTO trl_admin_queue (kind, value, reason) VALUES ('hash', 'not-bytes', 'r');
             INSERT INTO trl_admin_queue (kind, value, reason) VALUES ('hash', X'', 'r');
             INSERT INTO trl_admin_queue (kind, value, reason) VALUES ('cti', X'01', CAST(X'FF' AS TEXT));",
        )
        .unwrap();
    }
    let second = queue
        .lock()
        .unwrap()
        .enqueue_revocation(
            &RevokeTarget::Hash(h2.clone()),
            "lost\n2026-01-01 INFO forged line",
        )
        .unwrap();

    // One poll: no error, both good entries applied.
    assert_eq!(svc.apply_revocation_queue(&queue).await.unwrap(), 2);
    {
        let q = queue.lock().unwrap();
        for id in [first, second] {
            assert_eq!(
                q.revocation_result(id).unwrap(),
                Some(QueueResult::Done(RevokeStatus::Revoked))
            );
        }
        // The hostile rows are answered as failed, not left to block the next polls.
        for id in first + 1..second {
            match q.revocation_result(id).unwrap() {
                Some(QueueResult::Failed(m)) => {
                    assert!(m.starts_with("malformed queue entry"), "{m}")
                }
                other => panic!("entry {id}: {other:?}"),
            }
        }
    }
    let trl = svc.trl().unwrap();
    assert!(trl.with_engine(|e| e.is_revoked(&h1) && e.is_revoked(&h2)));
    assert_eq!(svc.apply_revocation_queue(&queue).await.unwrap(), 0);
}
