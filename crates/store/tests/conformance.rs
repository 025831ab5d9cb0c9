//! The same behaviour tests run against ace-core's / ace-oscore's in-memory stores and the
//! SQLite ones (ace-core has no reusable conformance suite), plus round trips of every stored
//! type through a reopened file.

use ace_core::{
    AcceptedToken, AcceptedTokenStore, ChannelIdentity, ClientCredential, ClientInfo,
    ClientRegistry, Grant, GrantType, IssuedToken, KeyEncryption, MemoryAcceptedTokens,
    MemoryRegistry, MemoryTokenStore, Policy, PopBinding, ResourceServerInfo, StaticPolicy,
    TokenFormat, TokenStore,
};
use ace_oscore::sequence::{MemorySequenceStore, SequenceStore};
use ace_store::{SqliteStore, schema};
use ace_token::{
    AceProfile, Algorithm, Confirmation, HeaderPlacement, KeyType, PopKey, PublicKey, Scope,
    SecretBytes, Tagging, UnixTime,
};
use aif::{LocalPart, RestAif, RestMethods};

const DTLS: AceProfile = AceProfile(1);

/// A fresh database path in its own temporary directory, removed on drop.
struct TmpDb(std::path::PathBuf);

impl TmpDb {
    fn path(&self) -> std::path::PathBuf {
        self.0.join("ace.db")
    }
}

impl Drop for TmpDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmp_db(name: &str) -> TmpDb {
    let dir = std::env::temp_dir().join(format!(
        "ace-store-test-{}-{name}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    TmpDb(dir)
}

fn p256_public() -> PublicKey {
    ace_token::testing::es256_public().unwrap()
}

fn issued(cti: u8, exp: Option<u64>, exi: Option<u64>) -> IssuedToken {
    IssuedToken {
        cti: vec![cti; 9],
        token: vec![0xd8, 0x3d, cti, cti],
        client_id: format!("client{cti}"),
        audience: "rs1".into(),
        scope: if cti.is_multiple_of(2) {
            Scope::Text("read write".into())
        } else {
            Scope::Binary(vec![0x81, 0x82, 0x62, b'/', b's', 0x01])
        },
        issued_at: UnixTime(1_000),
        expires_at: exp.map(UnixTime),
        exi,
        cnf: match cti % 4 {
            3 => Confirmation::osc(ace_token::OscoreInputMaterial {
                id: Some(vec![cti]),
                ms: Some(SecretBytes::from_slice(&[cti; 16])),
                salt: Some(vec![1, 2]),
                ..Default::default()
            }),
            0 => Confirmation::cose_key(
                PopKey::symmetric(SecretBytes::from_slice(&[cti; 16])).with_kid(vec![cti]),
            ),
            1 => Confirmation::kid(vec![cti, 1]),
            _ => Confirmation::cose_key(PopKey::public(p256_public()).with_alg(Algorithm::ES256)),
        },
        ace_profile: DTLS,
        cnonce: (cti % 2 == 1).then(|| vec![7; 8]),
        revoked: false,
    }
}

/// `TokenStore` behaviour, as `MemoryTokenStore` defines it.
fn token_store_behaviour(s: &mut dyn TokenStore) {
    let a = issued(1, Some(2_000), None);
    let b = issued(2, None, Some(500)); // ends at 1_500
    let c = issued(3, None, None); // never ends
    let d = issued(4, Some(1_200), None);
    let mut e = issued(5, None, None);
    e.cnf = Confirmation::default();
    for t in [&a, &b, &c, &d, &e] {
        assert!(!s.contains_cti(&t.cti));
        s.insert(t.clone()).unwrap();
        assert!(s.contains_cti(&t.cti));
    }
    assert_eq!(
        s.insert(a.clone()),
        Err(ace_core::Error::Store("duplicate cti"))
    );
    assert_eq!(s.find_by_token(&a.token), Some(a.clone()));
    assert_eq!(s.find_by_token(&c.token), Some(c.clone()));
    assert_eq!(s.find_by_token(&e.token), Some(e.clone()));
    assert_eq!(s.find_by_token(b"unknown"), None);

    assert!(s.revoke(&d.cti));
    assert!(!s.revoke(b"unknown"));
    let mut d_revoked = d.clone();
    d_revoked.revoked = true;
    assert_eq!(s.find_by_token(&d.token), Some(d_revoked.clone()));

    // Nothing ended at 1_100; at 1_500 b ended (exi), d is revoked (kept); at 2_000 a ended.
    assert!(s.remove_expired(UnixTime(1_100)).is_empty());
    assert_eq!(s.remove_expired(UnixTime(1_500)), vec![b.cti.clone()]);
    assert!(!s.contains_cti(&b.cti));
    assert_eq!(s.find_by_token(&b.token), None);
    assert_eq!(s.remove_expired(UnixTime(u64::MAX)), vec![a.cti.clone()]);
    assert!(s.contains_cti(&c.cti));
    assert_eq!(s.find_by_token(&d.token), Some(d_revoked));
}

#[test]
fn token_store_conformance_memory_and_sqlite() {
    token_store_behaviour(&mut MemoryTokenStore::new());
    let store = SqliteStore::open_in_memory().unwrap();
    token_store_behaviour(&mut store.token_store());
    store.check().unwrap();
    let tmp = tmp_db("tokens");
    let path = tmp.path();
    let store = SqliteStore::open(&path).unwrap();
    token_store_behaviour(&mut store.token_store());
    store.integrity_check().unwrap();
}

fn aif(path: &str, m: RestMethods) -> RestAif {
    RestAif::new().with(LocalPart::new(path).unwrap(), m)
}

fn accepted(n: u8, binding: PopBinding) -> AcceptedToken {
    AcceptedToken {
        binding,
        subject: vec![b's', n],
        cti: n.is_multiple_of(2).then(|| vec![n; 4]),
        scope: Scope::Text("read".into()),
        permissions: aif("/s", RestMethods::GET | RestMethods::PUT)
            .with(LocalPart::new("/t").unwrap(), RestMethods::GET),
        pop_key: match n % 3 {
            0 => Some(PopKey::symmetric(SecretBytes::from_slice(&[n; 16])).with_kid(vec![n])),
            1 => Some(PopKey::public(p256_public())),
            _ => None,
        },
        expires_at: n
            .is_multiple_of(2)
            .then_some(UnixTime(5_000 + u64::from(n))),
        exi_seq: (n % 2 == 1).then_some(u64::from(n)),
        ace_profile: (n != 5).then_some(DTLS),
        received_at: UnixTime(4_000),
        serial: u64::from(n),
    }
}

/// `AcceptedTokenStore` behaviour, as `MemoryAcceptedTokens` defines it.
fn accepted_behaviour(s: &mut dyn AcceptedTokenStore) -> Vec<AcceptedToken> {
    assert!(s.is_empty());
    let kid = PopBinding::Kid(b"k1".to_vec());
    let rpk = PopBinding::from_public_key(&p256_public()).unwrap();
    let t1 = accepted(1, kid.clone());
    let t2 = accepted(2, rpk.clone());
    assert_eq!(s.insert(t1.clone()), None);
    assert_eq!(s.insert(t2.clone()), None);
    assert_eq!(s.len(), 2);
    assert_eq!(s.get(&kid), Some(&t1));
    // Same binding: replaced, the old one returned.
    let t3 = accepted(3, kid.clone());
    assert_eq!(s.insert(t3.clone()), Some(t1));
    assert_eq!(s.len(), 2);
    assert_eq!(s.get(&kid), Some(&t3));
    let t4 = accepted(4, PopBinding::Kid(b"k4".to_vec()));
    let t5 = accepted(5, PopBinding::Kid(b"k5".to_vec()));
    s.insert(t4.clone());
    s.insert(t5.clone());
    assert_eq!(s.remove(&PopBinding::Kid(b"k4".to_vec())), Some(t4));
    assert_eq!(s.remove(&PopBinding::Kid(b"none".to_vec())), None);
    let mut all: Vec<AcceptedToken> = s.tokens().into_iter().cloned().collect();
    all.sort_by_key(|t| t.serial);
    assert_eq!(all, vec![t2, t3, t5]);
    assert_eq!(s.len(), 3);
    all
}

#[test]
fn accepted_token_conformance_memory_and_sqlite_and_reload() {
    accepted_behaviour(&mut MemoryAcceptedTokens::new());
    let tmp = tmp_db("accepted");
    let path = tmp.path();
    let expected = {
        let store = SqliteStore::open(&path).unwrap();
        let mut s = store.accepted_tokens().unwrap();
        let all = accepted_behaviour(&mut s);
        store.check().unwrap();
        assert_eq!(s.max_serial(), Some(5));
        all
    };
    // A new process view: the file holds exactly what the in-memory view held.
    let store = SqliteStore::open(&path).unwrap();
    let s = store.accepted_tokens().unwrap();
    let mut all: Vec<AcceptedToken> = s.tokens().into_iter().cloned().collect();
    all.sort_by_key(|t| t.serial);
    assert_eq!(all, expected);
}

fn clients() -> Vec<ClientInfo> {
    vec![
        ClientInfo::new("c1")
            .with_credential(ClientCredential::Secret(SecretBytes::from_slice(b"secret")))
            .with_credential(ClientCredential::PskIdentity(b"psk-c1".to_vec()))
            .with_profile(DTLS)
            .with_default_audience("rs1")
            .with_default_scope(Scope::Text("read".into()))
            .with_introspection(&["rs1", "rs2"]),
        ClientInfo::new("c2")
            .with_credential(ClientCredential::RawPublicKey(p256_public()))
            .with_credential(ClientCredential::RawPublicKey(
                PublicKey::okp(KeyType::Ed25519, &ed25519_x()).unwrap(),
            ))
            .with_grant_types(&[])
            .with_default_scope(Scope::Binary(vec![0x80])),
        ClientInfo::new("c3").with_grant_types(&[GrantType(2), GrantType::CLIENT_CREDENTIALS]),
    ]
}

fn ed25519_x() -> [u8; 32] {
    *ace_token::testing::ed25519_public()
        .unwrap()
        .okp_x()
        .unwrap()
}

fn servers() -> Vec<ResourceServerInfo> {
    let mut rs1 = ResourceServerInfo::new(
        "rs1",
        DTLS,
        TokenFormat::Encrypt0 {
            alg: Algorithm::AES_CCM_16_64_128,
            key: SecretBytes::from_slice(&[0x42; 16]),
            kid: Some(b"rs1".to_vec()),
        },
    );
    rs1.exi_rs_id = Some(b"r1".to_vec());
    rs1.lifetime = 60;
    let mut rs2 = ResourceServerInfo::new(
        "rs2",
        DTLS,
        TokenFormat::Sign1 {
            alg: Algorithm::ES256,
            key: ace_core::testing::interop::as_private().unwrap(),
            kid: None,
        },
    );
    rs2.profiles = vec![DTLS, AceProfile(2)];
    rs2.issue_options.tagging = Tagging::Cose;
    rs2.issue_options.headers = HeaderPlacement::KidAndIvUnprotected;
    rs2.pop_key_types = vec![KeyType::P256];
    rs2.rs_cnf = Some(Confirmation::cose_key(PopKey::public(p256_public())));
    rs2.cnf_key_encryption = Some(KeyEncryption {
        alg: Algorithm::A128GCM,
        key: SecretBytes::from_slice(&[9; 16]),
        kid: Some(b"kek".to_vec()),
    });
    let rs3 = ResourceServerInfo::new("rs3", DTLS, TokenFormat::Reference { len: 32 });
    vec![rs1, rs2, rs3]
}

/// A comparable view of a resource server (`ResourceServerInfo` has no `PartialEq`; the key
/// material is compared through `Debug` of the non-secret parts plus the exposed bytes).
fn rs_view(rs: &ResourceServerInfo) -> String {
    let (kind, key) = match &rs.token_format {
        TokenFormat::Sign1 { alg, key, kid } => {
            (format!("sign1 {alg:?} {kid:?}"), key.expose().to_vec())
        }
        TokenFormat::Mac0 { alg, key, kid } => {
            (format!("mac0 {alg:?} {kid:?}"), key.expose().to_vec())
        }
        TokenFormat::Encrypt0 { alg, key, kid } => {
            (format!("enc0 {alg:?} {kid:?}"), key.expose().to_vec())
        }
        TokenFormat::Reference { len } => (format!("ref {len}"), Vec::new()),
        other => (format!("{other:?}"), Vec::new()),
    };
    let kek = rs
        .cnf_key_encryption
        .as_ref()
        .map(|k| (k.alg, k.key.expose().to_vec(), k.kid.clone()));
    format!(
        "{} {:?} {kind} {key:?} {:?} {:?} {:?} {} {:?} {kek:?}",
        rs.audience,
        rs.profiles,
        rs.issue_options,
        rs.pop_key_types,
        rs.rs_cnf,
        rs.lifetime,
        rs.exi_rs_id
    )
}

/// `ClientRegistry` behaviour with the registry filled with `clients()` and `servers()`.
fn registry_behaviour(r: &dyn ClientRegistry) {
    for c in clients() {
        assert_eq!(r.client(&c.id), Some(c.clone()));
        assert_eq!(
            r.client_for_channel(&ChannelIdentity::ClientId(c.id.clone())),
            Some(c)
        );
    }
    assert_eq!(r.client("nobody"), None);
    let c1 = clients().remove(0);
    let c2 = clients().remove(1);
    assert_eq!(
        r.client_for_channel(&ChannelIdentity::PskIdentity(b"psk-c1".to_vec())),
        Some(c1)
    );
    assert_eq!(
        r.client_for_channel(&ChannelIdentity::PskIdentity(b"psk-xx".to_vec())),
        None
    );
    assert_eq!(
        r.client_for_channel(&ChannelIdentity::RawPublicKey(p256_public())),
        Some(c2.clone())
    );
    assert_eq!(
        r.client_for_channel(&ChannelIdentity::RawPublicKey(
            PublicKey::okp(KeyType::Ed25519, &ed25519_x()).unwrap()
        )),
        Some(c2)
    );
    assert_eq!(
        r.client_for_channel(&ChannelIdentity::RawPublicKey(PublicKey::x25519([5; 32]))),
        None
    );
    assert_eq!(r.client_for_channel(&ChannelIdentity::Anonymous), None);
    for rs in servers() {
        let got = r.resource_server(&rs.audience).unwrap();
        assert_eq!(rs_view(&got), rs_view(&rs));
    }
    assert!(r.resource_server("rs9").is_none());
}

#[test]
fn registry_conformance_memory_and_sqlite_and_admin() {
    let mut mem = MemoryRegistry::new();
    for c in clients() {
        mem = mem.with_client(c);
    }
    for rs in servers() {
        mem = mem.with_resource_server(rs);
    }
    registry_behaviour(&mem);

    let tmp = tmp_db("registry");
    let path = tmp.path();
    {
        let store = SqliteStore::open(&path).unwrap();
        let reg = store.client_registry();
        // A first version of c1 that put_client replaces (credentials included).
        reg.put_client(
            &ClientInfo::new("c1")
                .with_credential(ClientCredential::PskIdentity(b"old-psk".to_vec())),
        )
        .unwrap();
        for c in clients() {
            reg.put_client(&c).unwrap();
        }
        for rs in servers() {
            reg.put_resource_server(&rs).unwrap();
        }
        assert_eq!(
            reg.client_for_channel(&ChannelIdentity::PskIdentity(b"old-psk".to_vec())),
            None
        );
    }
    let store = SqliteStore::open(&path).unwrap();
    let reg = store.client_registry();
    registry_behaviour(&reg);
    assert_eq!(reg.client_ids().unwrap(), vec!["c1", "c2", "c3"]);
    assert_eq!(
        reg.resource_server_audiences().unwrap(),
        vec!["rs1", "rs2", "rs3"]
    );
    assert!(reg.remove_client("c2").unwrap());
    assert!(!reg.remove_client("c2").unwrap());
    assert_eq!(
        reg.client_for_channel(&ChannelIdentity::RawPublicKey(p256_public())),
        None
    );
    assert!(reg.remove_resource_server("rs3").unwrap());
    assert!(reg.resource_server("rs3").is_none());
    store.check().unwrap();
    store.integrity_check().unwrap();
}

fn policy_behaviour(p: &dyn Policy) {
    let c = ClientInfo::new("c1");
    assert_eq!(
        p.grant(&c, "rs1", &Scope::Text("read admin".into())),
        Grant::Granted(Scope::Text("read".into()))
    );
    assert_eq!(
        p.grant(&c, "rs1", &Scope::Text("admin".into())),
        Grant::InvalidScope
    );
    assert_eq!(
        p.grant(&c, "rs2", &Scope::Text("read".into())),
        Grant::AudienceNotAllowed
    );
    let requested = aif("/s", RestMethods::GET | RestMethods::POST)
        .to_scope_bytes()
        .unwrap();
    let want = aif("/s", RestMethods::GET).to_scope_bytes().unwrap();
    assert_eq!(
        p.grant(&c, "rs3", &Scope::Binary(requested)),
        Grant::Granted(Scope::Binary(want))
    );
}

#[test]
fn policy_conformance_static_and_sqlite() {
    let rs3 = Scope::Binary(
        aif("/s", RestMethods::GET | RestMethods::PUT)
            .to_scope_bytes()
            .unwrap(),
    );
    let st = StaticPolicy::new()
        .allow("c1", "rs1", Scope::Text("read write".into()))
        .allow("c1", "rs3", rs3.clone());
    policy_behaviour(&st);

    let store = SqliteStore::open_in_memory().unwrap();
    let p = store.policy();
    p.allow("c1", "rs1", &Scope::Text("read write".into()))
        .unwrap();
    p.allow("c1", "rs3", &rs3).unwrap();
    p.allow("c1", "rs2", &Scope::Text("x".into())).unwrap();
    assert!(p.disallow("c1", "rs2").unwrap());
    policy_behaviour(&p);
    assert_eq!(
        p.rules().unwrap(),
        vec![
            ("c1".into(), "rs1".into(), Scope::Text("read write".into())),
            ("c1".into(), "rs3".into(), rs3)
        ]
    );
}

fn sequence_behaviour(s: &mut dyn SequenceStore) {
    s.persist(b"\x01", None, 32).unwrap();
    s.persist(b"\x01", Some(b""), 64).unwrap();
    s.persist(b"\x01", Some(b"ctx"), 96).unwrap();
    s.persist(b"\x01", None, 64).unwrap();
}

#[test]
fn sequence_store_conformance_memory_and_sqlite() {
    let mut mem = MemorySequenceStore::new();
    sequence_behaviour(&mut mem);
    let tmp = tmp_db("seq");
    let path = tmp.path();
    {
        let store = SqliteStore::open(&path).unwrap();
        sequence_behaviour(&mut store.sequence_store());
    }
    let store = SqliteStore::open(&path).unwrap();
    let seq = store.sequence_store();
    for (ctx, want) in [(None, 64), (Some(&b""[..]), 64), (Some(&b"ctx"[..]), 96)] {
        assert_eq!(seq.get(b"\x01", ctx).unwrap(), Some(want));
        assert_eq!(mem.get(b"\x01", ctx), Some(want));
    }
    assert_eq!(seq.get(b"\x02", None).unwrap(), None);
    // Never moves backwards (the memory store overwrites; the durable one keeps the max).
    seq.try_persist(b"\x01", None, 10).unwrap();
    assert_eq!(seq.get(b"\x01", None).unwrap(), Some(64));
    assert!(matches!(
        seq.try_persist(b"\x01", None, u64::MAX),
        Err(ace_store::Error::OutOfRange(_))
    ));
}

/// A server's contexts share its Sender ID: records are kept per (Sender ID, Recipient ID,
/// ID Context), in memory and in SQLite, across a reopen.
#[test]
fn sequence_records_are_per_context_identity() {
    fn two_peers(s: &mut dyn SequenceStore) {
        s.persist_context(b"rs", b"c1", None, 320).unwrap();
        s.persist_context(b"rs", b"c2", None, 32).unwrap();
        s.persist_context(b"rs", b"c1", Some(b"x"), 7).unwrap();
    }
    let mut mem = MemorySequenceStore::new();
    two_peers(&mut mem);
    let tmp = tmp_db("seq-peers");
    let path = tmp.path();
    {
        let store = SqliteStore::open(&path).unwrap();
        two_peers(&mut store.sequence_store());
    }
    let store = SqliteStore::open(&path).unwrap();
    let seq = store.sequence_store();
    for (rid, ctx, want) in [
        (&b"c1"[..], None, Some(320)),
        (&b"c2"[..], None, Some(32)),
        (&b"c1"[..], Some(&b"x"[..]), Some(7)),
        (&b"c3"[..], None, None),
    ] {
        assert_eq!(seq.get_context(b"rs", rid, ctx).unwrap(), want);
        assert_eq!(mem.get_context(b"rs", rid, ctx), want);
    }
    // Never backwards per context; a record without Recipient ID is a lower bound.
    seq.try_persist_context(b"rs", b"c2", None, 3).unwrap();
    assert_eq!(seq.get_context(b"rs", b"c2", None).unwrap(), Some(32));
    seq.try_persist(b"rs", None, 64).unwrap();
    assert_eq!(seq.get_context(b"rs", b"c2", None).unwrap(), Some(64));
    assert_eq!(seq.get_context(b"rs", b"c1", None).unwrap(), Some(320));
    assert_eq!(seq.get(b"rs", None).unwrap(), Some(320));
}

#[test]
fn effects_kv_and_restore_values() {
    let tmp = tmp_db("effects");
    let path = tmp.path();
    {
        let store = SqliteStore::open(&path).unwrap();
        // An AS engine with an in-memory token store: the effect writes the token.
        let t = issued(6, Some(9_000), None);
        store
            .apply_as_effects(&[
                ace_core::AsEffect::TokenIssued(Box::new(t.clone())),
                ace_core::AsEffect::ExiSequence {
                    audience: "rs1".into(),
                    seq: 7,
                },
                ace_core::AsEffect::ExiSequence {
                    audience: "rs1".into(),
                    seq: 5,
                },
                ace_core::AsEffect::ExiSequence {
                    audience: "rs2".into(),
                    seq: 1,
                },
            ])
            .unwrap();
        // Idempotent for a token the SqliteTokenStore already wrote.
        store
            .apply_as_effects(&[ace_core::AsEffect::TokenIssued(Box::new(t.clone()))])
            .unwrap();
        let u = issued(8, Some(9_000), None);
        store.token_store().insert(u.clone()).unwrap();
        store
            .apply_as_effects(&[
                ace_core::AsEffect::TokenRevoked { cti: t.cti.clone() },
                ace_core::AsEffect::TokensExpired {
                    ctis: vec![u.cti.clone()],
                },
            ])
            .unwrap();
        let mut t_rev = t;
        t_rev.revoked = true;
        assert_eq!(store.issued_tokens().unwrap(), vec![t_rev]);

        // RS: the exi state only grows; a TokenStored effect without a written token fails.
        store
            .apply_rs_effects(&[ace_core::RsEffect::ExiHighestExpired(4)])
            .unwrap();
        store
            .apply_rs_effects(&[ace_core::RsEffect::ExiHighestExpired(2)])
            .unwrap();
        let binding = PopBinding::Kid(b"kk".to_vec());
        let stored = ace_core::RsEffect::TokenStored {
            binding: binding.clone(),
            cti: None,
            expires_at: None,
        };
        assert!(matches!(
            store.apply_rs_effects(std::slice::from_ref(&stored)),
            Err(ace_store::Error::NotPersisted(_))
        ));
        let mut acc = store.accepted_tokens().unwrap();
        acc.insert(accepted(2, binding));
        store.apply_rs_effects(&[stored]).unwrap();

        store.put_value("as.signing_key", b"\x01\x02").unwrap();
        store.put_value("as.signing_key", b"\x03").unwrap();
        store.put_value("other", b"").unwrap();
        assert!(store.delete_value("other").unwrap());
        assert!(!store.delete_value("other").unwrap());
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.as_exi_sequences().unwrap(),
        vec![("rs1".to_string(), 7), ("rs2".to_string(), 1)]
    );
    assert_eq!(store.rs_exi_highest_expired().unwrap(), Some(4));
    assert_eq!(store.get_value("as.signing_key").unwrap(), Some(vec![3]));
    assert_eq!(store.get_value("other").unwrap(), None);
    assert_eq!(store.schema_version().unwrap(), schema::LATEST_VERSION);
    store.integrity_check().unwrap();
}

#[test]
fn write_through_failures_are_reported_by_check() {
    let store = SqliteStore::open_in_memory().unwrap();
    let mut acc = store.accepted_tokens().unwrap();
    let mut bad = accepted(2, PopBinding::Kid(b"k".to_vec()));
    bad.serial = u64::MAX; // does not fit an SQLite INTEGER
    acc.insert(bad);
    assert_eq!(acc.len(), 1, "the engine's view keeps the token");
    let err = store.apply_rs_effects(&[]).unwrap_err();
    assert!(matches!(
        err,
        ace_store::Error::WriteThroughFailed(ref inner)
            if matches!(**inner, ace_store::Error::OutOfRange(_))
    ));
    assert_eq!(
        ace_core::Error::from(err),
        ace_core::Error::Store("earlier write-through failed")
    );
    // Reported once.
    store.check().unwrap();
    // The AS insert path returns its error directly.
    let mut t = issued(1, Some(u64::MAX), None);
    t.cti = vec![1];
    assert_eq!(
        store.token_store().insert(t),
        Err(ace_core::Error::Store("number out of range"))
    );
}
