//! Fuzz target: the RS side of RFC 9770 in `ace-server` (`rs_trl::RsTrl`).
//!
//! The first input byte selects what the rest is:
//! * even: a TRL response payload / notification from the AS (network input), processed by
//!   a fresh and by a synchronised `TrlClient` for full and diff queries, and the resulting
//!   `TrlUpdate` applied to a persistent `RsTrl` that has recorded eight stored tokens.
//!   Invariants: every hash the update revokes (and does not expire) is retained and its
//!   token refused at upload; exactly the recorded tokens the update mentions are purged;
//!   an RS restarted from the same database retains the same hashes and purges again what
//!   was purged.
//! * odd: the persisted guard record (file input: the `revocation/rs-guard` value of the RS's
//!   SQLite key-value table), restored with `RsTrl::persistent`. Invariants: no panic; a
//!   refused record is `Error::Persist`; a restored RS applies an update and persists it
//!   (a restart sees the new revoked hash).

#![no_main]

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use ace_core::{PopBinding, RsEffect};
use ace_server::rs_trl::{KV_KEY, RsTrl};
use ace_store::SqliteStore;
use libfuzzer_sys::fuzz_target;
use revocation::rs::{GuardRefusal, PurgeHandle};
use revocation::{
    HashAlg, RegistrationInfo, Requester, RevokeTarget, Role, TokenHash, TokenRecord, TrlClient,
    TrlConfig, TrlEngine, TrlQuery, TrlRequest, TrlUpdate,
};

const TOKENS: u8 = 8;

/// The registration an RS got from an AS, and that AS's full TRL response.
struct Fixture {
    info: RegistrationInfo,
    full: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut e = TrlEngine::new(TrlConfig::default()).expect("valid config");
        let (info, _) = e
            .register(b"rs1".to_vec(), Role::ResourceServer("rs1".into()), &[])
            .expect("sha-256");
        for i in 0..3u8 {
            let _ = e.token_issued(TokenRecord {
                hash: hash(i),
                cti: Some(vec![i]),
                client_id: "c1".into(),
                audience: "rs1".into(),
                expires_at: Some(ace_token::UnixTime(1000)),
            });
            e.revoke(ace_token::UnixTime(10), &RevokeTarget::Cti(vec![i]), "fuzz")
                .expect("known token");
        }
        let full = e
            .respond(Requester::Peer(b"rs1"), &TrlRequest::get(TrlQuery::full()))
            .payload();
        Fixture { info, full }
    })
}

/// The hash of token `[i]` as the AS and the RS compute it (RFC 9770, CWT over CBOR).
fn hash(i: u8) -> TokenHash {
    TokenHash::from_cbor_access_token(HashAlg::Sha256, &[i])
}

fn binding(i: u8) -> PopBinding {
    PopBinding::Kid(vec![i])
}

fn stored(i: u8) -> Vec<RsEffect> {
    vec![RsEffect::TokenStored {
        binding: binding(i),
        cti: Some(vec![i]),
        expires_at: None,
    }]
}

/// A persistent RS guard over `db` that has recorded the eight tokens.
fn recorded_rs(db: &Arc<SqliteStore>) -> (RsTrl, PurgeHandle) {
    let handle = PurgeHandle::default();
    let trl = RsTrl::persistent(HashAlg::Sha256, handle.clone(), db.clone()).expect("fresh db");
    for i in 0..TOKENS {
        assert_eq!(trl.check_upload(&[i]).ok(), Some(hash(i)));
        trl.record(&hash(i), &stored(i)).expect("persists");
    }
    (trl, handle)
}

fn check_update(update: &TrlUpdate) {
    let db = Arc::new(SqliteStore::open_in_memory().expect("in-memory db"));
    let (trl, handle) = recorded_rs(&db);
    let purged: BTreeSet<PopBinding> = trl.apply(update).expect("persists").into_iter().collect();
    let expired: BTreeSet<&TokenHash> = update.expired.iter().collect();
    for h in &update.revoked {
        if !expired.contains(h) {
            assert!(trl.is_revoked(h), "revoked hash not retained");
        }
    }
    for h in &update.expired {
        assert!(!trl.is_revoked(h), "expired hash retained");
    }
    let expected: BTreeSet<PopBinding> = (0..TOKENS)
        .filter(|i| update.mentioned.contains(&hash(*i)))
        .map(binding)
        .collect();
    assert_eq!(purged, expected, "purged bindings");
    let pending: BTreeSet<PopBinding> = handle.pending().into_iter().collect();
    assert!(purged.is_subset(&pending));
    for i in 0..TOKENS {
        let refused = matches!(trl.check_upload(&[i]), Err(GuardRefusal::Revoked));
        assert_eq!(refused, trl.is_revoked(&hash(i)));
    }
    // Restart from the same database.
    let handle2 = PurgeHandle::default();
    let again = RsTrl::persistent(HashAlg::Sha256, handle2.clone(), db).expect("own record");
    for h in update
        .revoked
        .iter()
        .chain(&update.expired)
        .chain(&update.mentioned)
    {
        assert_eq!(
            again.is_revoked(h),
            trl.is_revoked(h),
            "restart changed a hash"
        );
    }
    for i in 0..TOKENS {
        assert_eq!(again.is_revoked(&hash(i)), trl.is_revoked(&hash(i)));
    }
    let pending2: BTreeSet<PopBinding> = handle2.pending().into_iter().collect();
    assert!(
        purged.is_subset(&pending2),
        "purges not redone after restart"
    );
}

fn notification(data: &[u8]) {
    let fx = fixture();
    let fresh = TrlClient::new(fx.info.clone(), 0);
    let mut synced = TrlClient::new(fx.info.clone(), 0);
    synced
        .process(&TrlQuery::full(), &fx.full)
        .expect("the AS's full response is accepted");
    for base in [fresh, synced] {
        for q in [TrlQuery::full(), TrlQuery::diff(0), TrlQuery::diff(2)] {
            let mut client = base.clone();
            if let Ok(update) = client.process(&q, data) {
                check_update(&update);
            }
        }
    }
}

fn record(data: &[u8]) {
    let db = Arc::new(SqliteStore::open_in_memory().expect("in-memory db"));
    db.put_value(KV_KEY, data).expect("stores");
    let trl = match RsTrl::persistent(HashAlg::Sha256, PurgeHandle::default(), db.clone()) {
        Ok(t) => t,
        Err(e) => {
            assert!(matches!(e, ace_server::Error::Persist(_)), "{e:?}");
            return;
        }
    };
    let before: Vec<bool> = (0..TOKENS).map(|i| trl.is_revoked(&hash(i))).collect();
    let marker = TokenHash::compute(HashAlg::Sha256, b"marker");
    let update = TrlUpdate {
        revoked: vec![marker.clone()],
        expired: Vec::new(),
        mentioned: vec![marker.clone()],
        next: revocation::NextQuery::None,
    };
    trl.apply(&update).expect("persists");
    assert!(trl.is_revoked(&marker));
    let again = RsTrl::persistent(HashAlg::Sha256, PurgeHandle::default(), db).expect("own record");
    assert!(again.is_revoked(&marker), "restart lost a revoked hash");
    for (i, was) in (0..TOKENS).zip(before) {
        assert_eq!(again.is_revoked(&hash(i)), was, "restart changed a hash");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        notification(rest);
    } else {
        record(rest);
    }
});
