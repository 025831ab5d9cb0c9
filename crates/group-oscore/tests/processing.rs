//! Group mode and pairwise mode processing, negative tests, bounded recipient contexts,
//! rekeying, sequence numbers, error mapping and proptests (draft sections in each test).

use std::sync::Arc;
use std::time::Duration;

use ace_crypto::KeyType;
use ace_oscore::consts::{code, option};
use ace_oscore::{Message, SequenceConfig};
use group_oscore::testing::{self, Member};
use group_oscore::{
    CredentialStore, Error, GroupContext, GroupEndpoint, GroupOption, MemoryCredentialStore, Mode,
    RequestMode,
};
use proptest::prelude::*;

type Ctx = GroupContext<ace_crypto::backend::rustcrypto::RustCrypto>;

const GID: &[u8] = b"\x37\xcb\xf3\x21\x00\x17\xa2\xd3";
const GID2: &[u8] = b"\x37\xcb\xf3\x21\x00\x17\xa2\xd4";

fn members(kind: KeyType, n: u8) -> Vec<Member> {
    (0..n)
        .map(|i| testing::member(kind, &[0xa0 + i], 10 + i).unwrap())
        .collect()
}

fn shared(gid: &[u8], ms: &[Member]) -> Arc<MemoryCredentialStore> {
    Arc::new(testing::store(gid, &ms.iter().collect::<Vec<_>>()).unwrap())
}

fn ctxs(gid: &[u8], ms: &[Member], store: Arc<MemoryCredentialStore>) -> Vec<Ctx> {
    ms.iter()
        .map(|m| testing::context(m, gid, store.clone()).unwrap())
        .collect()
}

fn get() -> Message {
    Message::new(code::GET)
        .with_option(option::URI_HOST, b"example.com".to_vec())
        .with_option(option::URI_PATH, b"temp".to_vec())
}

fn content(s: &str) -> Message {
    Message::new(code::CONTENT).with_payload(s.as_bytes().to_vec())
}

/// §6.1-§6.4: group-mode request to several servers, group-mode responses, for EdDSA and ES256.
#[test]
fn group_mode_round_trip_eddsa_and_es256() {
    for kind in [KeyType::Ed25519, KeyType::P256] {
        let ms = members(kind, 4);
        let mut c = ctxs(GID, &ms, shared(GID, &ms));
        let (client, servers) = c.split_first_mut().unwrap();
        let sent = client.protect_request(&get(), &RequestMode::Group).unwrap();
        let opt = GroupOption::decode(sent.message.option(option::OSCORE).unwrap()).unwrap();
        assert!(opt.group, "Group Flag set in group mode");
        assert_eq!(opt.fields.kid_context.as_deref(), Some(GID));
        assert_eq!(sent.message.code, code::POST);
        // Class U option stays outer, Class E inside
        assert_eq!(
            sent.message.option(option::URI_HOST),
            Some(&b"example.com"[..])
        );
        assert!(!sent.message.has_option(option::URI_PATH));
        let mut binding = sent.binding.clone();
        for (i, s) in servers.iter_mut().enumerate() {
            let mut v = s.unprotect_request(&sent.message).unwrap();
            assert_eq!(v.request, get());
            assert_eq!(v.sender_id, ms[0].sender_id);
            assert_eq!(v.mode, Mode::Group);
            let resp = s
                .protect_response(&mut v.binding, &content(&format!("r{i}")), Mode::Group)
                .unwrap();
            let ro = GroupOption::decode(resp.message.option(option::OSCORE).unwrap()).unwrap();
            assert!(ro.group && ro.fields.kid.is_some() && ro.fields.partial_iv.is_none());
            let got = client
                .unprotect_response(&mut binding, &resp.message)
                .unwrap();
            assert_eq!(got.response, content(&format!("r{i}")));
            assert_eq!(got.sender_id, ms[i + 1].sender_id);
            // the same response again: replay (second response without Partial IV)
            assert_eq!(
                client.unprotect_response(&mut binding, &resp.message),
                Err(Error::UnexpectedResponse)
            );
            // a second response from the same server carries a fresh Partial IV
            let resp2 = s
                .protect_response(&mut v.binding, &content("again"), Mode::Group)
                .unwrap();
            let got2 = client
                .unprotect_response(&mut binding, &resp2.message)
                .unwrap();
            assert_eq!(got2.partial_iv, Some(0));
            assert_eq!(
                client.unprotect_response(&mut binding, &resp2.message),
                Err(Error::ReplayDetected)
            );
        }
        assert_eq!(binding.responders(), 3);
    }
}

/// §7: pairwise mode with P-256 (same key as ES256), X25519 (pairwise-only group) and
/// Ed25519 (same key as EdDSA, mapped to X25519, §2.5.2.1).
#[test]
fn pairwise_round_trip_p256_x25519_and_ed25519() {
    for kind in [KeyType::P256, KeyType::X25519, KeyType::Ed25519] {
        let ms = members(kind, 3);
        let mut c = ctxs(GID, &ms, shared(GID, &ms));
        let target = ms[1].sender_id.clone();
        let sent = c[0]
            .protect_request(&get(), &RequestMode::Pairwise(target.clone()))
            .unwrap();
        let opt = GroupOption::decode(sent.message.option(option::OSCORE).unwrap()).unwrap();
        assert!(!opt.group);
        // the other member cannot read it (keys shared only by the two)
        assert_eq!(
            c[2].unprotect_request(&sent.message).map(|_| ()),
            Err(Error::DecryptionFailed)
        );
        let mut v = c[1].unprotect_request(&sent.message).unwrap();
        assert_eq!(v.mode, Mode::Pairwise);
        let resp = c[1]
            .protect_response(&mut v.binding, &content("p"), Mode::Pairwise)
            .unwrap();
        assert_eq!(resp.message.option(option::OSCORE), Some(&[][..]));
        let mut b = sent.binding;
        let got = c[0].unprotect_response(&mut b, &resp.message).unwrap();
        assert_eq!(got.response, content("p"));
        assert_eq!(got.sender_id, target);
        assert_eq!(
            c[0].pairwise_keys(&target).unwrap(),
            {
                let (s, r) = c[1].pairwise_keys(&ms[0].sender_id).unwrap();
                (r, s)
            },
            "A's sender key is B's recipient key and vice versa"
        );
        if kind == KeyType::X25519 {
            assert_eq!(
                c[0].protect_request(&get(), &RequestMode::Group)
                    .map(|_| ()),
                Err(Error::ModeNotSupported)
            );
        }
    }
}

/// §2.5.1, §2.5.2.1, §7: two Ed25519 members (EdDSA group) exchange pairwise requests and
/// responses in both directions; the pairwise keys are those of an X25519 ECDH on the mapped
/// keys with the Ed25519 credentials (as distributed) in the IKM; the group mode keeps
/// working in the same context; a member whose credential holds a small-order Ed25519 key
/// (y = -1, which the draft says to abort on) gets no pairwise keys.
#[test]
fn pairwise_ed25519_members() {
    use ace_crypto::backend::rustcrypto::RustCrypto;
    use ace_crypto::{CryptoBackend, EcdhBackend, HkdfBackend};
    let ms = members(KeyType::Ed25519, 3);
    let mut c = ctxs(GID, &ms, shared(GID, &ms));
    assert!(
        c.iter()
            .all(|x| x.pairwise_mode_enabled() && x.group_mode_enabled())
    );
    for (from, to) in [(0usize, 1usize), (1, 0), (0, 1)] {
        let target = ms[to].sender_id.clone();
        let body = format!("{from}->{to}");
        let sent = c[from]
            .protect_request(
                &get().with_payload(body.as_bytes().to_vec()),
                &RequestMode::Pairwise(target.clone()),
            )
            .unwrap();
        assert!(
            !GroupOption::decode(sent.message.option(option::OSCORE).unwrap())
                .unwrap()
                .group
        );
        // pairwise: no countersignature in the payload (ciphertext = plaintext + 8-byte tag)
        assert!(sent.message.payload.len() < 64);
        let mut v = c[to].unprotect_request(&sent.message).unwrap();
        assert_eq!(v.mode, Mode::Pairwise);
        assert_eq!(v.sender_id, ms[from].sender_id);
        assert_eq!(v.request.payload, body.as_bytes());
        let resp = c[to]
            .protect_response(&mut v.binding, &content(&body), Mode::Pairwise)
            .unwrap();
        let mut b = sent.binding;
        let got = c[from].unprotect_response(&mut b, &resp.message).unwrap();
        assert_eq!(got.response, content(&body));
        assert_eq!(got.mode, Mode::Pairwise);
    }
    // the third member cannot read a pairwise request between the two
    let sent = c[0]
        .protect_request(&get(), &RequestMode::Pairwise(ms[1].sender_id.clone()))
        .unwrap();
    assert_eq!(
        c[2].unprotect_request(&sent.message).map(|_| ()),
        Err(Error::DecryptionFailed)
    );
    // the group mode still works in the same contexts
    let g = c[0].protect_request(&get(), &RequestMode::Group).unwrap();
    assert_eq!(
        c[1].unprotect_request(&g.message).unwrap().mode,
        Mode::Group
    );

    // Pairwise keys recomputed by hand (§2.5.1): X25519 of the mapped keys, IKM = creds ‖ secret.
    let (a_send, a_recv) = c[0].pairwise_keys(&ms[1].sender_id).unwrap();
    let (b_send, b_recv) = c[1].pairwise_keys(&ms[0].sender_id).unwrap();
    assert_eq!((a_send, a_recv), (b_recv, b_send));
    let be = RustCrypto;
    let b_pub = be.public_key(&ms[1].private_key).unwrap();
    let secret = be
        .ecdh(
            &be.ed25519_to_x25519_private(&ms[0].private_key).unwrap(),
            &be.ed25519_to_x25519_public(&b_pub).unwrap(),
        )
        .unwrap();
    let ikm = [
        ms[0].credential.as_slice(),
        ms[1].credential.as_slice(),
        secret.expose(),
    ]
    .concat();
    // info = [id, id_context, alg_aead, type, L] = [h'a0', h'<GID>', 10, "Key", 16]
    let mut info = vec![0x85, 0x41, ms[0].sender_id[0], 0x48];
    info.extend_from_slice(GID);
    info.extend_from_slice(&[0x0a, 0x63, b'K', b'e', b'y', 0x10]);
    let mut expected = [0u8; 16];
    be.hkdf(
        ace_crypto::Algorithm::HMAC_256_256,
        c[0].sender_key(),
        &ikm,
        &info,
        &mut expected,
    )
    .unwrap();
    assert_eq!(a_send, expected);

    // a member with a small-order Ed25519 key (y = -1): no pairwise keys, message rejected
    let mut y_minus_one = [0xff_u8; 32];
    y_minus_one[0] = 0xec;
    y_minus_one[31] = 0x7f;
    let weak = ace_crypto::PublicKey::ed25519(y_minus_one).unwrap();
    let weak_cred =
        group_oscore::Credential::ccs_for(&weak, None, Some(ace_crypto::Algorithm::EdDSA)).unwrap();
    let mut store = testing::store(GID, &ms.iter().collect::<Vec<_>>()).unwrap();
    store.insert(
        GID,
        b"\xee",
        group_oscore::Credential::from_ccs(&weak_cred).unwrap(),
    );
    let mut d = testing::context(&ms[0], GID, Arc::new(store)).unwrap();
    assert_eq!(
        d.protect_request(&get(), &RequestMode::Pairwise(b"\xee".to_vec()))
            .map(|_| ()),
        Err(Error::Crypto(ace_crypto::Error::InvalidKey))
    );
}

/// §6.4: a pairwise request answered in group mode by the intended server is accepted; a
/// response from another server is not.
#[test]
fn pairwise_request_group_response_and_wrong_server() {
    let ms = members(KeyType::P256, 3);
    let mut c = ctxs(GID, &ms, shared(GID, &ms));
    let sent = c[0]
        .protect_request(&get(), &RequestMode::Pairwise(ms[1].sender_id.clone()))
        .unwrap();
    let mut v = c[1].unprotect_request(&sent.message).unwrap();
    let resp = c[1]
        .protect_response(&mut v.binding, &content("g"), Mode::Group)
        .unwrap();
    let mut b = sent.binding.clone();
    assert_eq!(
        c[0].unprotect_response(&mut b, &resp.message).unwrap().mode,
        Mode::Group
    );
    // server 2 answers a request that was not meant for it
    let mut fake = v.binding.clone();
    let _ = &mut fake;
    let sent2 = c[0].protect_request(&get(), &RequestMode::Group).unwrap();
    let mut v2 = c[2].unprotect_request(&sent2.message).unwrap();
    let r2 = c[2]
        .protect_response(&mut v2.binding, &content("x"), Mode::Group)
        .unwrap();
    let mut b = sent.binding;
    assert_eq!(
        c[0].unprotect_response(&mut b, &r2.message).map(|_| ()),
        Err(Error::UnexpectedResponse)
    );
}

fn tamper_last(msg: &Message) -> Message {
    let mut m = msg.clone();
    let last = m.payload.last_mut().unwrap();
    *last ^= 1;
    m
}

/// Negative (§6.2): a wrong signature is rejected and does not update the replay window.
#[test]
fn wrong_signature() {
    for kind in [KeyType::Ed25519, KeyType::P256] {
        let ms = members(kind, 2);
        let mut c = ctxs(GID, &ms, shared(GID, &ms));
        let sent = c[0].protect_request(&get(), &RequestMode::Group).unwrap();
        assert_eq!(
            c[1].unprotect_request(&tamper_last(&sent.message))
                .map(|_| ()),
            Err(Error::BadSignature)
        );
        // ciphertext tampered: the signature covers it
        let mut m = sent.message.clone();
        m.payload[0] ^= 1;
        assert_eq!(
            c[1].unprotect_request(&m).map(|_| ()),
            Err(Error::BadSignature)
        );
        // window untouched: the genuine message still verifies
        c[1].unprotect_request(&sent.message).unwrap();
        // a member signing with another member's kid (impersonation) fails
        let mut evil_params = testing::params(&ms[0], GID);
        evil_params.private_key = testing::member(kind, b"\xee", 99).unwrap().private_key;
        let evil_cred = testing::member(kind, b"\xee", 99).unwrap().credential;
        evil_params.sender_credential = evil_cred;
        let mut evil = GroupContext::new(
            ace_crypto::backend::rustcrypto::RustCrypto,
            evil_params,
            shared(GID, &ms),
        )
        .unwrap();
        let forged = evil.protect_request(&get(), &RequestMode::Group).unwrap();
        let mut fresh = ctxs(GID, &ms, shared(GID, &ms));
        assert_eq!(
            fresh[1].unprotect_request(&forged.message).map(|_| ()),
            Err(Error::BadSignature)
        );
        assert_eq!(
            fresh[1].recipient_count(),
            0,
            "context created for a failed message is deleted"
        );
    }
}

/// Negative (§6.2): unknown Sender ID and no credential.
#[test]
fn unknown_sender_without_credential() {
    let ms = members(KeyType::Ed25519, 3);
    // the store only knows members 0 and 1
    let store = shared(GID, &ms[..2]);
    let mut outsider = testing::context(&ms[2], GID, store.clone()).unwrap();
    let mut server = testing::context(&ms[1], GID, store).unwrap();
    let sent = outsider
        .protect_request(&get(), &RequestMode::Group)
        .unwrap();
    let err = server.unprotect_request(&sent.message).unwrap_err();
    assert_eq!(err, Error::UnknownSender);
    assert_eq!(err.to_response().code, 0xA3);
    assert_eq!(server.recipient_count(), 0);
}

/// Negative (RFC 8613 §7.4, draft §4.4): replays in group and pairwise mode.
#[test]
fn replay() {
    let ms = members(KeyType::P256, 2);
    let mut c = ctxs(GID, &ms, shared(GID, &ms));
    for mode in [
        RequestMode::Group,
        RequestMode::Pairwise(ms[1].sender_id.clone()),
    ] {
        let sent = c[0].protect_request(&get(), &mode).unwrap();
        c[1].unprotect_request(&sent.message).unwrap();
        assert_eq!(
            c[1].unprotect_request(&sent.message).map(|_| ()),
            Err(Error::ReplayDetected)
        );
    }
    // out of order within the window is fine, old ones are not
    let msgs: Vec<_> = (0..70)
        .map(|_| {
            c[0].protect_request(&get(), &RequestMode::Group)
                .unwrap()
                .message
        })
        .collect();
    c[1].unprotect_request(&msgs[69]).unwrap();
    c[1].unprotect_request(&msgs[10]).unwrap();
    assert_eq!(
        c[1].unprotect_request(&msgs[2]).map(|_| ()),
        Err(Error::ReplayDetected)
    );
}

/// Negative (§7.2): a pairwise message from a non-member, and from an impostor using a
/// member's Sender ID with its own key.
#[test]
fn pairwise_from_non_member() {
    let ms = members(KeyType::P256, 3);
    let members_store = shared(GID, &ms[..2]);
    // the non-member knows the group keying material and the server's credential
    let mut nm = testing::context(&ms[2], GID, shared(GID, &ms)).unwrap();
    let mut server = testing::context(&ms[1], GID, members_store).unwrap();
    let sent = nm
        .protect_request(&get(), &RequestMode::Pairwise(ms[1].sender_id.clone()))
        .unwrap();
    assert_eq!(
        server.unprotect_request(&sent.message).map(|_| ()),
        Err(Error::UnknownSender)
    );
    // impostor: claims member 0's Sender ID, but has its own key pair
    let mut p = testing::params(&ms[0], GID);
    p.private_key = ms[2].private_key.clone();
    p.sender_credential = ms[2].credential.clone();
    let mut imp = GroupContext::new(
        ace_crypto::backend::rustcrypto::RustCrypto,
        p,
        shared(GID, &ms),
    )
    .unwrap();
    let sent = imp
        .protect_request(&get(), &RequestMode::Pairwise(ms[1].sender_id.clone()))
        .unwrap();
    assert_eq!(
        server.unprotect_request(&sent.message).map(|_| ()),
        Err(Error::DecryptionFailed)
    );
    assert_eq!(server.recipient_count(), 0);
}

/// Negative (§3.2.2, §12.5): stale keying material after a rekeying; a removed member's
/// Sender ID under the new Gid; responses across a rekeying.
#[test]
fn rekey_grace_period_and_stale_material() {
    let ms = members(KeyType::Ed25519, 3);
    let store1 = shared(GID, &ms);
    // the Group Manager rekeys without member 2
    let mut both = testing::store(GID, &ms.iter().collect::<Vec<_>>()).unwrap();
    for m in &ms[..2] {
        both.insert(
            GID2,
            &m.sender_id,
            group_oscore::Credential::from_ccs(&m.credential).unwrap(),
        );
    }
    let store2 = Arc::new(both);
    let mut a = GroupEndpoint::new(testing::context(&ms[0], GID, store1.clone()).unwrap());
    let mut b = GroupEndpoint::new(testing::context(&ms[1], GID, store1.clone()).unwrap());
    let mut removed = testing::context(&ms[2], GID, store1).unwrap();

    let t0 = Duration::from_secs(100);
    let grace = Duration::from_secs(30);
    // A's request in flight under the old Gid while B rekeys
    let old_req = a.protect_request(&get(), &RequestMode::Group).unwrap();
    let late_old = removed
        .protect_request(&get(), &RequestMode::Group)
        .unwrap();
    let mut p2 = testing::params(&ms[1], GID2);
    p2.master_secret = zeroize::Zeroizing::new(vec![0x42; 16]);
    b.rekey(
        GroupContext::new(
            ace_crypto::backend::rustcrypto::RustCrypto,
            p2,
            store2.clone(),
        )
        .unwrap(),
        t0,
        grace,
    )
    .unwrap();
    assert_eq!(b.current().sender_sequence_number(), 0);
    // within the grace period the old request verifies with the previous context
    let mut v = b
        .unprotect_request(t0 + Duration::from_secs(1), &old_req.message)
        .unwrap();
    // the response uses the new context: fresh Partial IV and the new Gid
    let resp = b
        .protect_response(&mut v.binding, &content("new"), Mode::Group)
        .unwrap();
    let ro = GroupOption::decode(resp.message.option(option::OSCORE).unwrap()).unwrap();
    assert_eq!(ro.fields.kid_context.as_deref(), Some(GID2));
    assert!(ro.fields.partial_iv.is_some());
    // A rekeys too and verifies the response to its old request
    let mut pa = testing::params(&ms[0], GID2);
    pa.master_secret = zeroize::Zeroizing::new(vec![0x42; 16]);
    a.rekey(
        GroupContext::new(ace_crypto::backend::rustcrypto::RustCrypto, pa, store2).unwrap(),
        t0,
        grace,
    )
    .unwrap();
    let mut ob = old_req.binding.clone();
    assert_eq!(
        a.unprotect_response(t0 + Duration::from_secs(2), &mut ob, &resp.message)
            .unwrap()
            .response,
        content("new")
    );
    // after the grace period, the old Gid is stale
    assert_eq!(
        b.unprotect_request(t0 + grace, &late_old.message)
            .map(|_| ()),
        Err(Error::StaleKeyingMaterial)
    );
    assert!(b.previous().is_none());
    // the removed member guesses the new Gid: its Sender ID is not registered for it
    let mut p3 = testing::params(&ms[2], GID2);
    p3.master_secret = zeroize::Zeroizing::new(vec![0x42; 16]);
    let mut r2 = GroupContext::new(
        ace_crypto::backend::rustcrypto::RustCrypto,
        p3,
        shared(GID2, &ms),
    )
    .unwrap();
    let m = r2.protect_request(&get(), &RequestMode::Group).unwrap();
    assert_eq!(
        b.unprotect_request(t0 + grace, &m.message).map(|_| ()),
        Err(Error::UnknownSender)
    );
    // new traffic flows under the new Gid
    let n = a.protect_request(&get(), &RequestMode::Group).unwrap();
    b.unprotect_request(t0 + grace, &n.message).unwrap();
    // an unknown Gid is not "stale"
    let mut other = testing::context(&ms[0], b"\x01", shared(b"\x01", &ms)).unwrap();
    let o = other.protect_request(&get(), &RequestMode::Group).unwrap();
    assert_eq!(
        b.unprotect_request(t0 + grace, &o.message).map(|_| ()),
        Err(Error::ContextNotFound)
    );
    assert_eq!(
        b.rekey(
            testing::context(&ms[1], GID2, shared(GID2, &ms)).unwrap(),
            t0,
            grace
        ),
        Err(Error::Misuse("rekeying needs a new Gid"))
    );
}

/// §2.2, §2.6.1.2: bounded Recipient Contexts; after a deletion, new ones have invalid
/// replay windows; forged messages do not push members out.
#[test]
fn bounded_recipient_contexts() {
    let ms = members(KeyType::Ed25519, 4);
    let store = shared(GID, &ms);
    let mut c = ctxs(GID, &ms, store.clone());
    let p = testing::params(&ms[0], GID).with_max_recipients(2);
    let mut server =
        GroupContext::new(ace_crypto::backend::rustcrypto::RustCrypto, p, store).unwrap();
    for i in [1usize, 2] {
        let s = c[i].protect_request(&get(), &RequestMode::Group).unwrap();
        server.unprotect_request(&s.message).unwrap();
    }
    assert_eq!(server.recipient_count(), 2);
    // forged message from member 3 (bad signature): no eviction
    let s3 = c[3].protect_request(&get(), &RequestMode::Group).unwrap();
    assert_eq!(
        server
            .unprotect_request(&tamper_last(&s3.message))
            .map(|_| ()),
        Err(Error::BadSignature)
    );
    assert_eq!(server.recipient_count(), 2);
    // genuine message from member 3: member 1 (least recently used) is deleted
    server.unprotect_request(&s3.message).unwrap();
    assert_eq!(server.recipient_count(), 2);
    assert!(server.recipient_key(&ms[1].sender_id).is_none());
    // member 1 again: its new Recipient Context has an invalid replay window
    let s1 = c[1].protect_request(&get(), &RequestMode::Group).unwrap();
    assert_eq!(
        server.unprotect_request(&s1.message).map(|_| ()),
        Err(Error::ReplayWindowInvalid)
    );
}

/// Appendix B.1.1 of RFC 8613 as in ace-oscore: reservations every K, restore skips ahead
/// and starts with invalid replay windows (draft §2.6.1.1).
#[test]
fn sequence_reservations_and_restore() {
    let ms = members(KeyType::P256, 2);
    let store = shared(GID, &ms);
    let p = testing::params(&ms[0], GID).with_sequence_config(SequenceConfig {
        reservation_block: 3,
    });
    let mut a = GroupContext::new(
        ace_crypto::backend::rustcrypto::RustCrypto,
        p.clone(),
        store.clone(),
    )
    .unwrap();
    let r: Vec<_> = (0..4)
        .map(|_| {
            a.protect_request(&get(), &RequestMode::Group)
                .unwrap()
                .reservation
        })
        .collect();
    assert_eq!(r[0].unwrap().persist, 3);
    assert!(r[1].is_none() && r[2].is_none());
    assert_eq!(r[3].unwrap().persist, 6);
    let mut restored = GroupContext::restore(
        ace_crypto::backend::rustcrypto::RustCrypto,
        p,
        store.clone(),
        6,
    )
    .unwrap();
    assert_eq!(restored.sender_sequence_number(), 6);
    let s = restored
        .protect_request(&get(), &RequestMode::Group)
        .unwrap();
    let opt = GroupOption::decode(s.message.option(option::OSCORE).unwrap()).unwrap();
    assert_eq!(opt.fields.partial_iv.as_deref(), Some(&[6][..]));
    let mut b = testing::context(&ms[1], GID, store.clone()).unwrap();
    b.unprotect_request(&s.message).unwrap();
    let mut b_restored = GroupContext::restore(
        ace_crypto::backend::rustcrypto::RustCrypto,
        testing::params(&ms[1], GID),
        store,
        64,
    )
    .unwrap();
    assert_eq!(
        b_restored.unprotect_request(&s.message).map(|_| ()),
        Err(Error::ReplayWindowInvalid)
    );
}

/// Misuse and malformed input.
#[test]
fn misuse_and_malformed() {
    let ms = members(KeyType::Ed25519, 2);
    let mut c = ctxs(GID, &ms, shared(GID, &ms));
    assert!(matches!(
        c[0].protect_request(&content("x"), &RequestMode::Group),
        Err(Error::Misuse(_))
    ));
    let sent = c[0].protect_request(&get(), &RequestMode::Group).unwrap();
    // our own message back (multicast loopback)
    assert_eq!(
        c[0].unprotect_request(&sent.message).map(|_| ()),
        Err(Error::OwnSenderId)
    );
    // an Ed25519 group configured without pairwise mode (no AEAD, no key agreement)
    let mut no_pairwise = GroupContext::new(
        ace_crypto::backend::rustcrypto::RustCrypto,
        testing::params(&ms[0], GID).with_pairwise_mode(None, None),
        shared(GID, &ms),
    )
    .unwrap();
    assert!(!no_pairwise.pairwise_mode_enabled() && no_pairwise.group_mode_enabled());
    assert_eq!(
        no_pairwise
            .protect_request(&get(), &RequestMode::Pairwise(ms[1].sender_id.clone()))
            .map(|_| ()),
        Err(Error::ModeNotSupported)
    );
    // payload shorter than a signature
    let mut short = sent.message.clone();
    short.payload.truncate(64);
    assert!(matches!(
        c[1].unprotect_request(&short),
        Err(Error::Malformed(_))
    ));
    // reserved flag bit
    let mut m = sent.message.clone();
    for o in &mut m.options {
        if o.number == option::OSCORE {
            o.value[0] |= 0x40;
        }
    }
    assert_eq!(
        c[1].unprotect_request(&m).map(|_| ()),
        Err(Error::ReservedFlagBits)
    );
    // no kid context
    let mut m = sent.message.clone();
    m.remove_option(option::OSCORE);
    m.add_option(option::OSCORE, vec![0x29, 0x00, 0xa0]);
    assert_eq!(
        c[1].unprotect_request(&m).map(|_| ()),
        Err(Error::ContextNotFound)
    );
    // wrong credential type in the store (X25519 key in an EdDSA group)
    let x = testing::member(KeyType::X25519, b"\xa1", 5).unwrap();
    let bad = Arc::new(testing::store(GID, &[&ms[0], &x]).unwrap());
    let mut s = testing::context(&ms[0], GID, bad.clone()).unwrap();
    let mut cl = testing::context(&ms[1], GID, shared(GID, &ms)).unwrap();
    let m = cl.protect_request(&get(), &RequestMode::Group).unwrap();
    assert!(matches!(
        s.unprotect_request(&m.message),
        Err(Error::InvalidCredential(_))
    ));
    assert!(bad.credential(GID, b"\xa1").is_some());
}

/// Error mapping: every variant.
#[test]
fn error_mapping_for_every_variant() {
    use group_oscore::error::DecodeError;
    let cases = [
        (Error::Malformed(DecodeError::Truncated), 0x82),
        (Error::ReservedFlagBits, 0x82),
        (Error::ModeNotSupported, 0x82),
        (Error::ContextNotFound, 0x81),
        (Error::StaleKeyingMaterial, 0x81),
        (Error::ReplayDetected, 0x81),
        (Error::ReplayWindowInvalid, 0x81),
        (Error::BadSignature, 0x80),
        (Error::DecryptionFailed, 0x80),
        (Error::UnexpectedResponse, 0x80),
        (Error::OwnSenderId, 0x80),
        (Error::UnknownSender, 0xA3),
        (Error::ProxyUriNotSupported, 0xA5),
        (Error::SequenceNumberExhausted, 0xA0),
        (Error::InvalidContext("x"), 0xA0),
        (Error::InvalidCredential("x"), 0xA0),
        (Error::Misuse("x"), 0xA0),
        (Error::Crypto(ace_crypto::Error::InvalidKey), 0xA0),
    ];
    for (e, code) in cases {
        assert_eq!(e.to_response().code, code, "{e:?}");
    }
    assert_eq!(
        Error::BadSignature.to_response().diagnostic,
        "Decryption failed"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The option codec round-trips and decoding is canonical.
    #[test]
    fn group_option_round_trip(group: bool, piv in proptest::option::of(1u64..(1 << 40)),
        ctx in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        kid in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..7))) {
        let o = GroupOption {
            group,
            fields: ace_oscore::OscoreOption {
                partial_iv: piv.map(ace_oscore::option::encode_partial_iv),
                kid_context: ctx,
                kid,
            },
        };
        let bytes = o.to_vec().unwrap();
        prop_assert_eq!(GroupOption::decode(&bytes).unwrap(), o);
    }

    /// Arbitrary option values and payloads never verify (and never panic).
    #[test]
    fn unprotect_arbitrary_never_accepts(opt in proptest::collection::vec(any::<u8>(), 0..16),
        payload in proptest::collection::vec(any::<u8>(), 0..120), request: bool) {
        let ms = members(KeyType::Ed25519, 2);
        let mut c = ctxs(GID, &ms, shared(GID, &ms));
        let mut m = Message::new(if request { code::POST } else { code::CHANGED }).with_payload(payload);
        m.add_option(option::OSCORE, opt);
        if request {
            prop_assert!(c[1].unprotect_request(&m).is_err());
        } else {
            let sent = c[1].protect_request(&get(), &RequestMode::Group).unwrap();
            let mut b = sent.binding;
            prop_assert!(c[1].unprotect_response(&mut b, &m).is_err());
        }
    }
}

/// README compatibility options: each changes the wire as documented and both sides must
/// agree on it.
#[test]
fn compat_options_change_the_wire() {
    use group_oscore::Compat;
    let ms = members(KeyType::P256, 2);
    let store = shared(GID, &ms);
    let mk = |m: &Member, compat: Compat| {
        GroupContext::new(
            ace_crypto::backend::rustcrypto::RustCrypto,
            testing::params(m, GID).with_compat(compat),
            store.clone(),
        )
        .unwrap()
    };
    let newest = mk(&ms[0], Compat::NEWEST_DRAFT);
    let aio = mk(&ms[0], Compat::AIOCOAP_0_4_17);
    // alg_pairwise_key_agreement: -27 (0x38 0x1a) vs ES256 -7 (0x26)
    let a = newest.aad_array(b"", b"\x00", GID, b"", b"");
    let b = aio.aad_array(b"", b"\x00", GID, b"", b"");
    assert_eq!(&a[..8], &[0x89, 0x01, 0x84, 0x0a, 0x0a, 0x26, 0x38, 0x1a]);
    assert_eq!(&b[..7], &[0x89, 0x01, 0x84, 0x0a, 0x0a, 0x26, 0x26]);
    // mixed configurations do not interoperate in pairwise mode; equal ones do
    for (cc, sc, ok) in [
        (Compat::NEWEST_DRAFT, Compat::AIOCOAP_0_4_17, false),
        (Compat::AIOCOAP_0_4_17, Compat::AIOCOAP_0_4_17, true),
    ] {
        let mut client = mk(&ms[0], cc);
        let mut server = mk(&ms[1], sc);
        let sent = client
            .protect_request(&get(), &RequestMode::Pairwise(ms[1].sender_id.clone()))
            .unwrap();
        let r = server.unprotect_request(&sent.message);
        assert_eq!(r.is_ok(), ok);
        if let Ok(mut v) = r {
            let resp = server
                .protect_response(&mut v.binding, &content("k"), Mode::Pairwise)
                .unwrap();
            // aiocoap_kid_in_every_response: the kid is in the pairwise response
            let o = GroupOption::decode(resp.message.option(option::OSCORE).unwrap()).unwrap();
            assert_eq!(o.fields.kid.as_deref(), Some(&ms[1].sender_id[..]));
            let mut b = sent.binding;
            client.unprotect_response(&mut b, &resp.message).unwrap();
        }
    }
}
