//! Every interaction example and payload figure of RFC 9770 as a test (checklist TRL-17 to
//! TRL-39; the final text's §"Interaction Examples" and §"Error Responses with Problem
//! Details").

use ace_token::UnixTime;
use revocation::consts::{code, content_format, error_id};
use revocation::*;

const RS: &[u8] = b"rs-1";

struct World {
    trl: TrlEngine,
    h: Vec<TokenHash>,
}

/// Registers the RS, issues t1..tn for it with `exp` = 1000 + 100*i; t0 is unused.
fn world(cursor: bool, n: usize) -> World {
    let cfg = TrlConfig {
        cursor,
        ..TrlConfig::default()
    };
    let mut trl = TrlEngine::new(cfg).unwrap();
    let (info, _) = trl
        .register(
            RS.to_vec(),
            Role::ResourceServer("rs1".into()),
            &[HashAlg::Sha256],
        )
        .unwrap();
    assert_eq!(info.trl_path, "/revoke/trl");
    assert_eq!(info.max_n, Some(10));
    assert_eq!(info.max_diff_batch, cursor.then_some(5));
    let mut h = vec![TokenHash::compute(HashAlg::Sha256, b"unused")];
    for i in 1..=n {
        let hash = TokenHash::from_cbor_access_token(HashAlg::Sha256, format!("t{i}").as_bytes());
        let _ = trl.token_issued(TokenRecord {
            hash: hash.clone(),
            cti: Some(vec![i as u8]),
            client_id: "client-1".into(),
            audience: "rs1".into(),
            expires_at: Some(UnixTime(1000 + 100 * i as u64)),
        });
        h.push(hash);
    }
    World { trl, h }
}

impl World {
    fn revoke(&mut self, now: u64, i: usize) -> Vec<TrlEffect> {
        let (s, eff) = self
            .trl
            .revoke(UnixTime(now), &RevokeTarget::Cti(vec![i as u8]), "test")
            .unwrap();
        assert_eq!(s, RevokeStatus::Revoked);
        eff
    }
    fn get(&mut self, now: u64, q: TrlQuery) -> TrlPayload {
        let out = self
            .trl
            .handle_request(UnixTime(now), Requester::Peer(RS), &TrlRequest::get(q));
        assert_eq!(out.response.code(), code::CONTENT);
        assert_eq!(
            out.response.content_format(),
            Some(content_format::ACE_TRL_CBOR)
        );
        let bytes = out.response.payload();
        let TrlResponse::Content(p) = out.response else {
            unreachable!()
        };
        assert_eq!(TrlPayload::decode(&bytes).unwrap(), p, "wire round trip");
        p
    }
    fn notified(effects: &[TrlEffect]) -> bool {
        effects
            .iter()
            .any(|e| matches!(e, TrlEffect::Notify { peers } if peers.iter().any(|p| p == RS)))
    }
}

fn sorted(mut v: Vec<TokenHash>) -> Vec<TokenHash> {
    v.sort();
    v
}
fn full(p: &TrlPayload) -> Vec<TokenHash> {
    sorted(p.full_set.clone().unwrap())
}
fn e(removed: &[&TokenHash], added: &[&TokenHash]) -> DiffEntry {
    DiffEntry {
        removed: removed.iter().map(|h| (*h).clone()).collect(),
        added: added.iter().map(|h| (*h).clone()).collect(),
    }
}

/// §"Full Query with Observe" (Figure "Interaction for full query with Observe").
#[test]
fn example_full_query_with_observe() {
    let mut w = world(false, 2);
    let h = w.h.clone();
    let q = TrlQuery::full();
    assert_eq!(w.get(0, q.clone()), TrlPayload::full(vec![], None));
    assert_eq!(w.get(0, q.clone()).encode(), hex::decode("a10080").unwrap());
    assert!(World::notified(&w.revoke(10, 1)));
    assert_eq!(full(&w.get(10, q.clone())), vec![h[1].clone()]);
    assert!(World::notified(&w.revoke(20, 2)));
    assert_eq!(
        full(&w.get(20, q.clone())),
        sorted(vec![h[1].clone(), h[2].clone()])
    );
    // t1 expires at 1100.
    assert!(World::notified(&w.trl.expire(UnixTime(1100))));
    assert_eq!(full(&w.get(1100, q.clone())), vec![h[2].clone()]);
    assert!(World::notified(&w.trl.expire(UnixTime(1200))));
    assert_eq!(w.get(1200, q), TrlPayload::full(vec![], None));
}

/// §"Diff Query with Observe" (diff=3, no Cursor).
#[test]
fn example_diff_query_with_observe() {
    let mut w = world(false, 2);
    let h = w.h.clone();
    let q = TrlQuery::diff(3);
    assert_eq!(w.get(0, q.clone()), TrlPayload::diff(vec![], None, None));
    w.revoke(10, 1);
    assert_eq!(
        w.get(10, q.clone()).diff_set.unwrap(),
        vec![e(&[], &[&h[1]])]
    );
    w.revoke(20, 2);
    assert_eq!(
        w.get(20, q.clone()).diff_set.unwrap(),
        vec![e(&[], &[&h[2]]), e(&[], &[&h[1]])]
    );
    let _ = w.trl.expire(UnixTime(1100));
    assert_eq!(
        w.get(1100, q.clone()).diff_set.unwrap(),
        vec![e(&[&h[1]], &[]), e(&[], &[&h[2]]), e(&[], &[&h[1]])]
    );
    let _ = w.trl.expire(UnixTime(1200));
    assert_eq!(
        w.get(1200, q).diff_set.unwrap(),
        vec![e(&[&h[2]], &[]), e(&[&h[1]], &[]), e(&[], &[&h[2]])]
    );
}

/// §"Full Query with Observe plus Diff Query": the last notification is lost; diff=8.
#[test]
fn example_full_query_plus_diff_query() {
    let mut w = world(false, 2);
    let h = w.h.clone();
    let info = RegistrationInfo {
        trl_path: "/revoke/trl".into(),
        trl_hash: HashAlg::Sha256,
        max_n: Some(10),
        max_diff_batch: None,
    };
    let mut client = TrlClient::new(info, 8);
    let q = TrlQuery::full();
    let deliver = |w: &mut World, now, client: &mut TrlClient| {
        let p = w.get(now, q.clone());
        client.process(&q, &p.encode()).unwrap()
    };
    deliver(&mut w, 0, &mut client);
    w.revoke(10, 1);
    assert_eq!(deliver(&mut w, 10, &mut client).revoked, vec![h[1].clone()]);
    w.revoke(20, 2);
    deliver(&mut w, 20, &mut client);
    let _ = w.trl.expire(UnixTime(1100));
    deliver(&mut w, 1100, &mut client);
    let _ = w.trl.expire(UnixTime(1200)); // notification lost
    assert!(client.is_revoked(&h[2]));
    let p = w.get(1300, TrlQuery::diff(8));
    assert_eq!(
        p.diff_set.clone().unwrap(),
        vec![
            e(&[&h[2]], &[]),
            e(&[&h[1]], &[]),
            e(&[], &[&h[2]]),
            e(&[], &[&h[1]])
        ]
    );
    let up = client.process(&TrlQuery::diff(8), &p.encode()).unwrap();
    assert!(client.view().is_empty());
    assert!(up.expired.contains(&h[2]));
}

/// §"Diff Query with Observe and \"Cursor\"".
#[test]
fn example_diff_query_with_observe_and_cursor() {
    let mut w = world(true, 2);
    let h = w.h.clone();
    let q = TrlQuery::diff(3);
    let p = w.get(0, q.clone());
    assert_eq!(p, TrlPayload::diff(vec![], Some(None), Some(false)));
    assert_eq!(p.encode(), hex::decode("a3018002f603f4").unwrap());
    w.revoke(10, 1);
    assert_eq!(
        w.get(10, q.clone()),
        TrlPayload::diff(vec![e(&[], &[&h[1]])], Some(Some(0)), Some(false))
    );
    w.revoke(20, 2);
    assert_eq!(
        w.get(20, q.clone()),
        TrlPayload::diff(
            vec![e(&[], &[&h[2]]), e(&[], &[&h[1]])],
            Some(Some(1)),
            Some(false)
        )
    );
    let _ = w.trl.expire(UnixTime(1100));
    assert_eq!(
        w.get(1100, q.clone()),
        TrlPayload::diff(
            vec![e(&[&h[1]], &[]), e(&[], &[&h[2]]), e(&[], &[&h[1]])],
            Some(Some(2)),
            Some(false)
        )
    );
    let _ = w.trl.expire(UnixTime(1200));
    let last = TrlPayload::diff(
        vec![e(&[&h[2]], &[]), e(&[&h[1]], &[]), e(&[], &[&h[2]])],
        Some(Some(3)),
        Some(false),
    );
    assert_eq!(w.get(1200, q.clone()), last);
    // Poll without Observe: same answer; then diff=3&cursor=3: nothing newer.
    assert_eq!(w.get(1300, TrlQuery::diff(3)), last);
    assert_eq!(
        w.get(1300, TrlQuery::diff_cursor(3, 3)),
        TrlPayload::diff(vec![], Some(Some(3)), Some(false))
    );
}

/// §"Full Query with Observe plus Diff Query with \"Cursor\"": notifications 86-94 lost,
/// then diff=8&cursor=2 (5 entries, more) and diff=8&cursor=7 (3 entries). t5 and t6 are
/// revoked in a single update, as in the RFC (`revoke_many`).
#[test]
fn example_full_query_plus_diff_query_with_cursor() {
    let mut w = world(true, 6);
    let h = w.h.clone();
    let info = RegistrationInfo {
        trl_path: "/revoke/trl".into(),
        trl_hash: HashAlg::Sha256,
        max_n: Some(10),
        max_diff_batch: Some(5),
    };
    let mut client = TrlClient::new(info, 8);
    let q = TrlQuery::full();
    client.process(&q, &w.get(0, q.clone()).encode()).unwrap();
    w.revoke(10, 1); // 0
    w.revoke(20, 2); // 1
    let _ = w.trl.expire(UnixTime(1100)); // 2
    let p = w.get(1100, q.clone());
    assert_eq!(p.cursor, Some(Some(2)));
    client.process(&q, &p.encode()).unwrap();
    let _ = w.trl.expire(UnixTime(1200)); // 3: t2 expires (lost)
    w.revoke(1210, 3); // 4
    w.revoke(1220, 4); // 5
    let _ = w.trl.expire(UnixTime(1300)); // 6
    let _ = w.trl.expire(UnixTime(1400)); // 7
    let (_, eff) = w
        .trl
        .revoke_many(
            UnixTime(1410),
            &[RevokeTarget::Cti(vec![5]), RevokeTarget::Cti(vec![6])],
            "batch",
        )
        .unwrap(); // 8
    assert!(World::notified(&eff));
    let p = w.get(1410, q.clone());
    assert_eq!(
        (full(&p), p.cursor),
        (sorted(vec![h[5].clone(), h[6].clone()]), Some(Some(8)))
    );
    let _ = w.trl.expire(UnixTime(1500)); // 9
    let _ = w.trl.expire(UnixTime(1600)); // 10
    assert_eq!(
        w.get(1600, q.clone()),
        TrlPayload::full(vec![], Some(Some(10)))
    );

    assert_eq!(client.poll_query(), TrlQuery::diff_cursor(8, 2));
    let q1 = TrlQuery::diff_cursor(8, 2);
    let p1 = w.get(1700, q1.clone());
    assert_eq!(
        p1,
        TrlPayload::diff(
            vec![
                e(&[&h[4]], &[]),
                e(&[&h[3]], &[]),
                e(&[], &[&h[4]]),
                e(&[], &[&h[3]]),
                e(&[&h[2]], &[]),
            ],
            Some(Some(7)),
            Some(true)
        )
    );
    let up = client.process(&q1, &p1.encode()).unwrap();
    assert_eq!(up.next, NextQuery::Diff(TrlQuery::diff_cursor(8, 7)));
    let q2 = TrlQuery::diff_cursor(8, 7);
    let p2 = w.get(1700, q2.clone());
    let mut added56 = e(&[], &[&h[5], &h[6]]);
    added56.added.sort();
    let mut got = p2.clone();
    if let Some(d) = got.diff_set.as_mut() {
        for x in d.iter_mut() {
            x.added.sort();
        }
    }
    assert_eq!(
        got,
        TrlPayload::diff(
            vec![e(&[&h[6]], &[]), e(&[&h[5]], &[]), added56],
            Some(Some(10)),
            Some(false)
        )
    );
    let up = client.process(&q2, &p2.encode()).unwrap();
    assert_eq!(up.next, NextQuery::None);
    assert!(client.view().is_empty());
    assert_eq!(client.cursor(), Some(10));
}

/// Figure "Example of response following a full query" / "diff query" shapes: encode with
/// the keys 0 / 1 and decode back.
#[test]
fn payload_figures_round_trip() {
    let a = TokenHash::compute(HashAlg::Sha256, b"a");
    let b = TokenHash::compute(HashAlg::Sha256, b"b");
    let f = TrlPayload::full(vec![a.clone(), b.clone()], None);
    let bytes = f.encode();
    assert_eq!(&bytes[..3], &[0xa1, 0x00, 0x82]);
    assert_eq!(TrlPayload::decode(&bytes).unwrap(), f);
    let d = TrlPayload::diff(
        vec![
            e(&[&a, &b], &[&b, &a]),
            e(&[&a, &b], &[]),
            e(&[], &[&a, &b]),
        ],
        None,
        None,
    );
    let bytes = d.encode();
    assert_eq!(&bytes[..4], &[0xa1, 0x01, 0x83, 0x82]);
    assert_eq!(TrlPayload::decode(&bytes).unwrap(), d);
}

/// Figure "Example of Error Response with Problem Details" (`ace-trl-error` = key 1).
#[test]
fn problem_details_figure() {
    let p = ProblemDetails {
        title: Some("Invalid parameter value".into()),
        detail: Some("Invalid value for 'cursor': -53".into()),
        error_id: 0,
        cursor: Some(Some(42)),
    };
    let bytes = p.encode();
    // {1: {0: 0, 1: 42}, -1: "...", -2: "..."}
    assert_eq!(&bytes[..7], &[0xa3, 0x01, 0xa2, 0x00, 0x00, 0x01, 0x18]);
    assert_eq!(ProblemDetails::decode(&bytes).unwrap(), p);
}

/// The RFC's error case: an invalid cursor gets error 0 with the current last_index.
#[test]
fn invalid_cursor_reports_last_index() {
    let mut w = world(true, 1);
    w.revoke(10, 1);
    let q = TrlQuery::from_query_string("diff=3&cursor=-53");
    let out = w
        .trl
        .handle_request(UnixTime(11), Requester::Peer(RS), &TrlRequest::get(q));
    assert_eq!(out.response.code(), code::BAD_REQUEST);
    assert_eq!(
        out.response.content_format(),
        Some(content_format::CONCISE_PROBLEM_DETAILS_CBOR)
    );
    let p = ProblemDetails::decode(&out.response.payload()).unwrap();
    assert_eq!(p.error_id, error_id::INVALID_PARAMETER_VALUE);
    assert_eq!(p.cursor, Some(Some(0)));
    assert_eq!(p.detail.as_deref(), Some("Invalid value for 'cursor': -53"));
}
