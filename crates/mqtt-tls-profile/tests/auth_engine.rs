//! The sans-IO ACE state machine: every PoP path, every refusal with its reason code
//! (checklist IDs in the test names' comments).

mod common;

use common::*;
use mqtt_tls_profile::pop::ClientKey;
use mqtt_tls_profile::{
    AuthConfig, ConnectionAuth, Error, Outcome, PopMethod, Session, Step, TokenStore, client, wire,
};
use mqtt5_protocol::packet::connect::ConnectPacket;
use mqtt5_protocol::{Packet, QoS, ReasonCode, WillMessage};

fn exp() -> ace_token::UnixTime {
    NOW.saturating_add(3600)
}

fn run_connect(
    cfg: &AuthConfig,
    exporter: [u8; 32],
    c: ConnectPacket,
) -> (ConnectionAuth, Outcome) {
    let mut st = TokenStore::default();
    let mut a = ConnectionAuth::new(exporter);
    let o = a.handle_connect(cfg, &mut st, c, NOW, &mut rng());
    (a, o)
}

fn connected(o: Outcome) -> Box<Session> {
    match o {
        Outcome::Connected(s) => s,
        other => panic!("expected Connected, got {other:?}"),
    }
}

/// The CONNACK reason byte of a refusal (v5: reason code; v3.1.1: return code).
fn refused_code(o: &Outcome) -> u8 {
    match o {
        Outcome::Refused { reply: Some(p), .. } => {
            let b = wire::encode_to_vec(p).unwrap();
            assert_eq!(b[0], 0x20, "not a CONNACK");
            b[3]
        }
        other => panic!("expected Refused with CONNACK, got {other:?}"),
    }
}

fn exporter_connect(token: &[u8], key: &ClientKey, exporter: &[u8]) -> ConnectPacket {
    client::connect_with_exporter_pop("c1", 30, token, key, exporter).unwrap()
}

#[test]
fn exporter_pop_ed25519_cwt_connects() {
    // MQ-040..MQ-045, MQ-083
    let cfg = config();
    let tok = cwt_ed25519(FIG10, exp());
    let (a, o) = run_connect(
        &cfg,
        exporter_a(),
        exporter_connect(&tok, &ed_client(), &exporter_a()),
    );
    let s = connected(o);
    assert!(a.is_connected());
    assert_eq!(s.client_id, "c1");
    assert_eq!(s.grant.pop, PopMethod::Exporter);
    assert_eq!(s.grant.expires_at, Some(exp()));
    assert_eq!(s.grant.token_id.as_deref(), Some("746f6b2d31"));
    let ack = wire::encode_to_vec(&Packet::ConnAck(s.connack(false))).unwrap();
    // Session Present 0, 0x00, Session Expiry Interval 0 (MQ-T7).
    assert_eq!(ack, vec![0x20, 8, 0, 0, 5, 0x11, 0, 0, 0, 0]);
}

#[test]
fn exporter_pop_symmetric_encrypted_cwt_connects() {
    // MQ-007 (key protected by COSE_Encrypt0), HS256 MTI (MQ-062)
    let cfg = config();
    let tok = cwt_symmetric(FIG10, exp());
    let (_, o) = run_connect(
        &cfg,
        exporter_a(),
        exporter_connect(&tok, &sym_client(), &exporter_a()),
    );
    assert_eq!(
        connected(o).grant.algorithm,
        Some(mqtt_tls_profile::pop::PopAlgorithm::HmacSha256)
    );
}

#[test]
fn exporter_pop_jwt_connects() {
    // MQ-004, MQ-070 (JWT scope = base64url JSON), MQ-T14
    let cfg = config();
    let tok = jwt_ed25519(FIG10, exp());
    let (_, o) = run_connect(
        &cfg,
        exporter_a(),
        exporter_connect(&tok, &ed_client(), &exporter_a()),
    );
    let s = connected(o);
    assert_eq!(s.grant.scope.allows_publish("topic2/a"), Ok(true));
}

#[test]
fn bad_pop_is_0x87() {
    let cfg = config();
    let tok = cwt_ed25519(FIG10, exp());
    let other = ClientKey::Private(
        ace_crypto::PrivateKey::from_bytes(ace_crypto::KeyType::Ed25519, &[9; 32]).unwrap(),
    );
    let (_, o) = run_connect(
        &cfg,
        exporter_a(),
        exporter_connect(&tok, &other, &exporter_a()),
    );
    assert_eq!(refused_code(&o), 0x87);
    assert!(matches!(
        o,
        Outcome::Refused {
            error: Error::BadPop,
            ..
        }
    ));
}

#[test]
fn token_reuse_on_another_tls_session_is_0x87() {
    // R2: the CONNECT of session A replayed on session B (other exporter value).
    let cfg = config();
    let tok = cwt_ed25519(FIG10, exp());
    let c = exporter_connect(&tok, &ed_client(), &exporter_a());
    let (_, o) = run_connect(&cfg, exporter_b(), c);
    assert!(matches!(
        o,
        Outcome::Refused {
            error: Error::BadPop,
            ..
        }
    ));
    assert_eq!(refused_code(&o), 0x87);
}

#[test]
fn pop_of_wrong_length_is_0x87() {
    // MQ-045: HMAC-length proof for an Ed25519 key.
    let cfg = config();
    let tok = cwt_ed25519(FIG10, exp());
    let (_, o) = run_connect(
        &cfg,
        exporter_a(),
        exporter_connect(&tok, &sym_client(), &exporter_a()),
    );
    assert!(matches!(
        o,
        Outcome::Refused {
            error: Error::PopLength {
                expected: 64,
                got: 32
            },
            ..
        }
    ));
    assert_eq!(refused_code(&o), 0x87);
}

#[test]
fn expired_token_is_0x87() {
    let cfg = config();
    let tok = cwt_ed25519(FIG10, NOW.saturating_sub(1));
    let (_, o) = run_connect(
        &cfg,
        exporter_a(),
        exporter_connect(&tok, &ed_client(), &exporter_a()),
    );
    assert!(matches!(
        o,
        Outcome::Refused {
            error: Error::Token(ace_token::Error::Expired),
            ..
        }
    ));
    assert_eq!(refused_code(&o), 0x87);
}

#[test]
fn wrong_audience_and_garbage_token_are_0x87() {
    let mut cfg = config();
    cfg.validator =
        ace_token::Validator::new(ace_token::Policy::new("other-broker").with_clock_skew(0));
    let tok = cwt_ed25519(FIG10, exp());
    let (_, o) = run_connect(
        &cfg,
        exporter_a(),
        exporter_connect(&tok, &ed_client(), &exporter_a()),
    );
    assert!(matches!(
        o,
        Outcome::Refused {
            error: Error::Token(ace_token::Error::AudienceMismatch),
            ..
        }
    ));
    let (_, o) = run_connect(
        &config(),
        exporter_a(),
        exporter_connect(b"garbage", &ed_client(), &exporter_a()),
    );
    assert_eq!(refused_code(&o), 0x87);
}

#[test]
fn plaintext_symmetric_cnf_is_0x87() {
    // MQ-007 / R17
    let tok = cwt_plain_symmetric(FIG10, exp());
    let (_, o) = run_connect(
        &config(),
        exporter_a(),
        exporter_connect(&tok, &sym_client(), &exporter_a()),
    );
    assert!(matches!(
        o,
        Outcome::Refused {
            error: Error::SymmetricKeyNotEncrypted,
            ..
        }
    ));
}

#[test]
fn method_and_data_rules() {
    let cfg = config();
    // Other method → 0x8C (MQ-032).
    let mut c = client::connect_for_challenge("c1", 30, Some(b"tok")).unwrap();
    c.properties = mqtt5_protocol::Properties::default();
    c.properties.set_authentication_method("SCRAM-SHA-1".into());
    let (_, o) = run_connect(&cfg, exporter_a(), c.clone());
    assert_eq!(refused_code(&o), 0x8C);
    // Data without method → 0x82 (MQ-T6).
    c.properties = mqtt5_protocol::Properties::default();
    c.properties.set_authentication_data(vec![0, 1, 9].into());
    let (_, o) = run_connect(&cfg, exporter_a(), c.clone());
    assert_eq!(refused_code(&o), 0x82);
    // Method ace with a User Name → 0x87 (MQ-T6).
    let mut c = client::connect_for_challenge("c1", 30, Some(b"tok")).unwrap();
    c.username = Some("u".into());
    let (_, o) = run_connect(&cfg, exporter_a(), c);
    assert_eq!(refused_code(&o), 0x87);
    // Malformed token length → 0x87.
    let mut c = client::connect_for_challenge("c1", 30, None).unwrap();
    c.properties.set_authentication_data(vec![0, 9, 1].into());
    let (_, o) = run_connect(&cfg, exporter_a(), c);
    assert!(matches!(
        o,
        Outcome::Refused {
            error: Error::MalformedAuthData(_),
            ..
        }
    ));
    // No token, none stored → 0x87 without hint (none configured).
    let (_, o) = run_connect(
        &cfg,
        exporter_a(),
        client::connect_for_challenge("c1", 30, None).unwrap(),
    );
    assert!(matches!(
        o,
        Outcome::Refused {
            error: Error::NoToken,
            ..
        }
    ));
}

#[test]
fn anonymous_v5_gets_public_scope_only_and_no_reauth() {
    // MQ-010 TLS:Anon,MQTT:None; MQ-113 re-auth denied without an earlier PoP.
    let mut cfg = config();
    cfg.anonymous_scope = scope(r#"[["public/#",["pub","sub"]]]"#);
    let mut c = client::connect_for_challenge("anon", 0, None).unwrap();
    c.properties = mqtt5_protocol::Properties::default();
    let (mut a, o) = run_connect(&cfg, exporter_a(), c.clone());
    let s = connected(o);
    assert_eq!(s.grant.pop, PopMethod::None);
    assert_eq!(s.grant.scope.allows_publish("public/x"), Ok(true));
    let tok = cwt_ed25519(FIG10, exp());
    let Packet::Auth(re) = client::reauthenticate(&tok).unwrap() else {
        panic!()
    };
    let o = a.handle_auth(&cfg, &mut TokenStore::default(), re, NOW, &mut rng());
    assert!(matches!(
        o,
        Outcome::Disconnect {
            error: Error::ReauthNotAllowed,
            ..
        }
    ));
    cfg.allow_anonymous = false;
    let (_, o) = run_connect(&cfg, exporter_a(), c);
    assert_eq!(refused_code(&o), 0x87);
}

fn challenge_flow(cfg: &AuthConfig, tok: &[u8], key: &ClientKey) -> (ConnectionAuth, Packet) {
    let mut st = TokenStore::default();
    let mut a = ConnectionAuth::new(exporter_a());
    let c = client::connect_for_challenge("c1", 30, Some(tok)).unwrap();
    let Outcome::Continue(ch) = a.handle_connect(cfg, &mut st, c, NOW, &mut rng()) else {
        panic!()
    };
    let resp = client::answer_challenge(&ch, &[0xC0; 8], key).unwrap();
    (a, resp)
}

#[test]
fn challenge_response_connects() {
    // MQ-050..MQ-054, RFC Figure 8
    let cfg = config();
    for (tok, key) in [
        (cwt_ed25519(FIG10, exp()), ed_client()),
        (cwt_symmetric(FIG10, exp()), sym_client()),
    ] {
        let (mut a, resp) = challenge_flow(&cfg, &tok, &key);
        let Packet::Auth(r) = resp else { panic!() };
        let s = connected(a.handle_auth(&cfg, &mut TokenStore::default(), r, NOW, &mut rng()));
        assert_eq!(s.grant.pop, PopMethod::Challenge);
    }
}

#[test]
fn challenge_response_negative() {
    let cfg = config();
    let tok = cwt_ed25519(FIG10, exp());
    // Wrong key.
    let (mut a, resp) = challenge_flow(&cfg, &tok, &sym_client());
    let Packet::Auth(r) = resp else { panic!() };
    let o = a.handle_auth(&cfg, &mut TokenStore::default(), r, NOW, &mut rng());
    assert_eq!(refused_code(&o), 0x87);
    // Nonce too short (MQ-T4): data of 8 bytes only.
    let (mut a, resp) = challenge_flow(&cfg, &tok, &ed_client());
    let Packet::Auth(mut r) = resp else { panic!() };
    r.properties = mqtt5_protocol::Properties::default();
    r.properties.set_authentication_method("ace".into());
    r.properties.set_authentication_data(vec![1; 8].into());
    let o = a.handle_auth(&cfg, &mut TokenStore::default(), r, NOW, &mut rng());
    assert!(matches!(
        o,
        Outcome::Refused {
            error: Error::BadClientNonce,
            ..
        }
    ));
    // R4: MAC over client nonce ‖ RS nonce (swapped) fails.
    let mut st = TokenStore::default();
    let mut a = ConnectionAuth::new(exporter_a());
    let c = client::connect_for_challenge("c1", 30, Some(&tok)).unwrap();
    let Outcome::Continue(Packet::Auth(ch)) = a.handle_connect(&cfg, &mut st, c, NOW, &mut rng())
    else {
        panic!()
    };
    let rs = ch.authentication_data().unwrap().to_vec();
    let cn = [0xC0u8; 8];
    let swapped = ed_client().prove(&[&cn[..], &rs].concat()).unwrap();
    let mut r = mqtt5_protocol::packet::auth::AuthPacket::new(ReasonCode::ContinueAuthentication);
    r.properties.set_authentication_method("ace".into());
    r.properties
        .set_authentication_data([&cn[..], &swapped].concat().into());
    let o = a.handle_auth(&cfg, &mut st, r, NOW, &mut rng());
    assert!(matches!(
        o,
        Outcome::Refused {
            error: Error::BadPop,
            ..
        }
    ));
}

#[test]
fn packet_before_connack_is_protocol_error() {
    // MQ-030 / R5: a PUBLISH pipelined behind CONNECT during the challenge.
    let cfg = config();
    let tok = cwt_ed25519(FIG10, exp());
    let mut st = TokenStore::default();
    let mut a = ConnectionAuth::new(exporter_a());
    let c = client::connect_for_challenge("c1", 30, Some(&tok)).unwrap();
    let _ = a.handle_connect(&cfg, &mut st, c, NOW, &mut rng());
    let p = Packet::Publish(mqtt5_protocol::packet::publish::PublishPacket::new(
        "topic1",
        vec![1],
        QoS::AtMostOnce,
    ));
    let Step::Auth(o) = a.handle_packet(&cfg, &mut st, p.clone(), NOW, &mut rng()) else {
        panic!()
    };
    assert_eq!(refused_code(&o), 0x82);
    // And as the first packet: closed without reply.
    let mut a = ConnectionAuth::new(exporter_a());
    let Step::Auth(o) = a.handle_packet(&cfg, &mut st, p, NOW, &mut rng()) else {
        panic!()
    };
    assert!(matches!(o, Outcome::Refused { reply: None, .. }));
}

#[test]
fn remembered_token_starts_challenge_without_data() {
    // MQ-051, MQ-T8: a token PoP-verified before on "c1" is used for a data-less CONNECT.
    let cfg = config();
    let tok = cwt_ed25519(FIG10, exp());
    let mut st = TokenStore::default();
    let mut a = ConnectionAuth::new(exporter_a());
    let _ = connected(a.handle_connect(
        &cfg,
        &mut st,
        exporter_connect(&tok, &ed_client(), &exporter_a()),
        NOW,
        &mut rng(),
    ));
    let mut b = ConnectionAuth::new(exporter_b());
    let c = client::connect_for_challenge("c1", 30, None).unwrap();
    let o = b.handle_connect(&cfg, &mut st, c, NOW, &mut rng());
    let Outcome::Continue(ch) = o else {
        panic!("{o:?}")
    };
    let Packet::Auth(r) = client::answer_challenge(&ch, &[1; 8], &ed_client()).unwrap() else {
        panic!()
    };
    connected(b.handle_auth(&cfg, &mut st, r, NOW, &mut rng()));
    // Another client id has nothing stored.
    let mut d = ConnectionAuth::new(exporter_b());
    let c = client::connect_for_challenge("c2", 30, None).unwrap();
    assert!(matches!(
        d.handle_connect(&cfg, &mut st, c, NOW, &mut rng()),
        Outcome::Refused {
            error: Error::NoToken,
            ..
        }
    ));
}

#[test]
fn will_topic_authorization() {
    // MQ-038 / R8
    let cfg = config();
    let tok = cwt_ed25519(FIG10, exp());
    let ok = client::with_will(
        exporter_connect(&tok, &ed_client(), &exporter_a()),
        WillMessage::new("topic2/will", b"bye".to_vec()),
    );
    let (_, o) = run_connect(&cfg, exporter_a(), ok);
    connected(o);
    let bad = client::with_will(
        exporter_connect(&tok, &ed_client(), &exporter_a()),
        WillMessage::new("a/topic3", b"bye".to_vec()),
    );
    let (_, o) = run_connect(&cfg, exporter_a(), bad);
    assert!(matches!(
        o,
        Outcome::Refused {
            error: Error::WillNotAuthorized,
            ..
        }
    ));
    assert_eq!(refused_code(&o), 0x87);
}

#[test]
fn v311_reduced_flow() {
    // RFC 9431 §6, MQ-130..MQ-136, MQ-T10
    let cfg = config();
    let tok = cwt_ed25519(FIG10, exp());
    let c = client::connect_v311("c1", 30, &tok, &ed_client(), &exporter_a()).unwrap();
    let s = connected(run_connect(&cfg, exporter_a(), c.clone()).1);
    assert_eq!(
        wire::encode_to_vec(&Packet::ConnAck(s.connack(false))).unwrap(),
        vec![0x20, 2, 0, 0]
    );
    // PoP over another session's exporter → 0x05.
    assert_eq!(
        refused_code(&run_connect(&cfg, exporter_b(), c.clone()).1),
        0x05
    );
    // Username without "ace" → 0x04; not base64url → 0x04.
    let mut bad = c.clone();
    bad.username = Some("xyz".into());
    assert_eq!(
        refused_code(&run_connect(&cfg, exporter_a(), bad.clone()).1),
        0x04
    );
    bad.username = Some("ace***".into());
    assert_eq!(
        refused_code(&run_connect(&cfg, exporter_a(), bad.clone()).1),
        0x04
    );
    // No token → 0x05.
    bad.username = None;
    bad.password = None;
    assert_eq!(
        refused_code(&run_connect(&cfg, exporter_a(), bad.clone()).1),
        0x05
    );
    // Protocol level 3 → v3.1.1 CONNACK 0x01 (R12); v3.1.1 disabled → 0x01.
    bad.protocol_version = 3;
    assert_eq!(refused_code(&run_connect(&cfg, exporter_a(), bad).1), 0x01);
    let mut off = config();
    off.accept_v311 = false;
    assert_eq!(refused_code(&run_connect(&off, exporter_a(), c).1), 0x01);
}

#[test]
fn reauthentication() {
    // MQ-113, MQ-T11: AUTH 0x19 → AUTH 0x18 → AUTH 0x18 → AUTH 0x00, new scope.
    let cfg = config();
    let tok = cwt_ed25519(FIG10, exp());
    let mut st = TokenStore::default();
    let mut a = ConnectionAuth::new(exporter_a());
    connected(a.handle_connect(
        &cfg,
        &mut st,
        exporter_connect(&tok, &ed_client(), &exporter_a()),
        NOW,
        &mut rng(),
    ));
    let new_tok = cwt_ed25519(r#"[["new/#",["pub"]]]"#, NOW.saturating_add(7200));
    let Packet::Auth(re) = client::reauthenticate(&new_tok).unwrap() else {
        panic!()
    };
    let Outcome::Continue(ch) = a.handle_auth(&cfg, &mut st, re, NOW, &mut rng()) else {
        panic!()
    };
    let Packet::Auth(r) = client::answer_challenge(&ch, &[3; 8], &ed_client()).unwrap() else {
        panic!()
    };
    let Outcome::Reauthenticated { reply, grant } =
        a.handle_auth(&cfg, &mut st, r, NOW, &mut rng())
    else {
        panic!()
    };
    assert_eq!(
        wire::encode_to_vec(&reply).unwrap(),
        hex::decode("f00800061500036163 65".replace(' ', "")).unwrap()
    );
    assert_eq!(grant.scope.allows_publish("new/x"), Ok(true));
    assert_eq!(grant.scope.allows_publish("topic1"), Ok(false));
    assert_eq!(grant.expires_at, Some(NOW.saturating_add(7200)));

    // Bad response → DISCONNECT 0x87.
    let Packet::Auth(re) = client::reauthenticate(&new_tok).unwrap() else {
        panic!()
    };
    let Outcome::Continue(ch) = a.handle_auth(&cfg, &mut st, re, NOW, &mut rng()) else {
        panic!()
    };
    let Packet::Auth(r) = client::answer_challenge(&ch, &[3; 8], &sym_client()).unwrap() else {
        panic!()
    };
    let Outcome::Disconnect {
        reply: Some(d),
        error,
    } = a.handle_auth(&cfg, &mut st, r, NOW, &mut rng())
    else {
        panic!()
    };
    assert!(matches!(error, Error::PopLength { .. }));
    assert_eq!(wire::encode_to_vec(&d).unwrap(), vec![0xE0, 2, 0x87, 0]);
}

#[test]
fn reauthentication_with_exporter_pop_is_refused() {
    // R2 / MQ-113: exporter PoP must not be reused within the TLS session.
    let cfg = config();
    let tok = cwt_ed25519(FIG10, exp());
    let mut st = TokenStore::default();
    let mut a = ConnectionAuth::new(exporter_a());
    connected(a.handle_connect(
        &cfg,
        &mut st,
        exporter_connect(&tok, &ed_client(), &exporter_a()),
        NOW,
        &mut rng(),
    ));
    let proof = ed_client().prove(&exporter_a()).unwrap();
    let data = mqtt_tls_profile::pop::join_token(&tok, &proof).unwrap();
    let mut re = mqtt5_protocol::packet::auth::AuthPacket::new(ReasonCode::ReAuthenticate);
    re.properties.set_authentication_method("ace".into());
    re.properties.set_authentication_data(data.into());
    let o = a.handle_auth(&cfg, &mut st, re, NOW, &mut rng());
    assert!(matches!(
        o,
        Outcome::Disconnect {
            error: Error::ReauthNotAllowed,
            reply: Some(_)
        }
    ));
    // A second CONNECT is a protocol error after that too (state closed).
}

#[test]
fn authz_info_upload() {
    // MQ-021..MQ-023: valid → stored by PoP key id; not a token → 0x99; invalid → 0x87.
    let cfg = config();
    let mut st = TokenStore::default();
    cfg.upload(&mut st, &cwt_symmetric(FIG10, exp()), NOW)
        .unwrap();
    assert_eq!(
        st.uploaded(b"sym-1", NOW).map(<[u8]>::len),
        Some(cwt_symmetric(FIG10, exp()).len())
    );
    cfg.upload(&mut st, &jwt_ed25519(FIG10, exp()), NOW)
        .unwrap();
    assert_eq!(st.uploaded_len(), 2);
    let e = cfg.upload(&mut st, b"hello", NOW).unwrap_err();
    assert_eq!(e.reason_code(), 0x99);
    let e = cfg
        .upload(&mut st, &cwt_ed25519(FIG10, NOW.saturating_sub(5)), NOW)
        .unwrap_err();
    assert_eq!(e.reason_code(), 0x87);
    // Expired entries disappear.
    assert_eq!(st.uploaded(b"sym-1", exp()), None);
    let mut small = TokenStore::new(1);
    cfg.upload(&mut small, &cwt_symmetric(FIG10, exp()), NOW)
        .unwrap();
    let e = cfg
        .upload(&mut small, &jwt_ed25519(FIG10, exp()), NOW)
        .unwrap_err();
    assert_eq!(e.reason_code(), 0x97);
}
