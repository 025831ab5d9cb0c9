//! Derived vectors MQV-1…MQV-14 of the spec digest (Part A §A.3.4), byte-exact: each packet
//! vector is parsed with `mqtt5-protocol` (through `wire::decode_exact`) and rebuilt with our
//! builders, and the bytes compared.

mod common;

use ace_crypto::SecretBytes;
use mqtt_tls_profile::pop::ClientKey;
use mqtt_tls_profile::{AsHint, ConnectionAuth, Outcome, TokenStore, auth, client, wire};
use mqtt5_protocol::{Packet, PropertyId, PropertyValue, ReasonCode};

const T: [u8; 4] = [1, 2, 3, 4];
const N_RS: [u8; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
const N_C: [u8; 8] = [8, 9, 10, 11, 12, 13, 14, 15];

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}
fn k() -> ClientKey {
    ClientKey::Symmetric(SecretBytes::from_slice(&[0x11; 32]))
}
fn e() -> Vec<u8> {
    (0u8..32).collect()
}
fn enc(p: &Packet) -> String {
    hex::encode(wire::encode_to_vec(p).unwrap())
}
fn nonces() -> Vec<u8> {
    [N_RS, N_C].concat()
}

const MQV1: &str = "74b9ee840de5d5a97a0a075fb825e319f4f1fd18e73809ef1dd0cd89fe5921b5";
const MQV2: &str = "103e00044d5154540502003c2f15000361636516002600040102030474b9ee840de5d5a97a0a075fb825e319f4f1fd18e73809ef1dd0cd89fe5921b500026331";
const MQV3: &str = "101e00044d5154540502003c0f15000361636516000600040102030400026331";
const MQV4: &str = "f01318111500036163651600080001020304050607";
const MQV5: &str = "4c9d4f9309af0483ba172004971c4674a2ef170b57faa89591e85ae17cd97e94";
const MQV6: &str = "f033183115000361636516002808090a0b0c0d0e0f4c9d4f9309af0483ba172004971c4674a2ef170b57faa89591e85ae17cd97e94";
const MQV7: &str = "8efd1aacab9eecc316ad2ccc72156497dcab4d4076618a8f1c3fd61f8928328cb3e6bfee000667b005e2e28ff2beef90f495946d08dfe351c3d2a481496c0201";
const MQV8: &str = "00c1db988bb12fd7351a6054ae3fac90fab7e4fc56b1651c7181f5f55f896f663933d3a90605d9058e9d0ac45950ee2d3c9c9b14857415587179fe0ccac35f09";
const MQV9: &str = "f011190f150003616365160006000401020304";
const MQV10: &str = "206400876126000b6163655f61735f68696e7400517b224153223a2268747470733a2f2f61732e6578616d706c652e636f6d2f746f6b656e222c2261756469656e6365223a2262726f6b657231222c22636e6f6e6365223a226f624c44314f5832427867227d";
const MQV12: &str = "103b00044d51545404c2003c000263310009616365415149444241002074b9ee840de5d5a97a0a075fb825e319f4f1fd18e73809ef1dd0cd89fe5921b5";

#[test]
fn mqv1_hmac_over_exporter() {
    assert_eq!(hex::encode(k().prove(&e()).unwrap()), MQV1);
}

#[test]
fn mqv2_connect_with_exporter_pop() {
    let c = client::connect_with_exporter_pop("c1", 60, &T, &k(), &e()).unwrap();
    assert_eq!(enc(&Packet::Connect(Box::new(c))), MQV2);
    let Packet::Connect(p) = wire::decode_exact(&h(MQV2), 5).unwrap() else {
        panic!()
    };
    assert_eq!(p.client_id, "c1");
    assert_eq!(p.keep_alive, 60);
    assert!(p.clean_start);
    let data = [&[0u8, 4][..], &T, &h(MQV1)].concat();
    assert_eq!(p.properties.get_authentication_data(), Some(&data[..]));
    assert_eq!(
        p.properties.get_authentication_method().map(String::as_str),
        Some("ace")
    );
    assert_eq!(enc(&Packet::Connect(p)), MQV2);
}

#[test]
fn mqv3_connect_token_only() {
    let c = client::connect_for_challenge("c1", 60, Some(&T)).unwrap();
    assert_eq!(enc(&Packet::Connect(Box::new(c))), MQV3);
    let p = wire::decode_exact(&h(MQV3), 5).unwrap();
    assert_eq!(enc(&p), MQV3);
}

#[test]
fn mqv4_broker_challenge() {
    assert_eq!(enc(&auth::challenge_packet(&N_RS)), MQV4);
    let Packet::Auth(a) = wire::decode_exact(&h(MQV4), 5).unwrap() else {
        panic!()
    };
    assert_eq!(a.reason_code, ReasonCode::ContinueAuthentication);
    assert_eq!(a.authentication_data(), Some(&N_RS[..]));
}

#[test]
fn mqv5_hmac_over_nonces() {
    assert_eq!(hex::encode(k().prove(&nonces()).unwrap()), MQV5);
}

#[test]
fn mqv6_client_response() {
    let challenge = wire::decode_exact(&h(MQV4), 5).unwrap();
    let resp = client::answer_challenge(&challenge, &N_C, &k()).unwrap();
    assert_eq!(enc(&resp), MQV6);
    let Packet::Auth(a) = wire::decode_exact(&h(MQV6), 5).unwrap() else {
        panic!()
    };
    assert_eq!(a.authentication_data().map(<[u8]>::len), Some(40));
}

#[test]
fn mqv7_mqv8_ed25519() {
    let ed = common::ed_client();
    assert_eq!(hex::encode(ed.prove(&nonces()).unwrap()), MQV7);
    assert_eq!(hex::encode(ed.prove(&e()).unwrap()), MQV8);
}

#[test]
fn mqv9_reauthenticate() {
    assert_eq!(enc(&client::reauthenticate(&T).unwrap()), MQV9);
    let Packet::Auth(a) = wire::decode_exact(&h(MQV9), 5).unwrap() else {
        panic!()
    };
    assert_eq!(a.reason_code, ReasonCode::ReAuthenticate);
}

#[test]
fn mqv10_connack_with_as_hint_from_the_engine() {
    let mut cfg = common::config();
    cfg.as_hint = Some(
        AsHint::new("https://as.example.com/token")
            .with_audience("broker1")
            .with_cnonce(h("a1b2c3d4e5f60718")),
    );
    // A tokenless CONNECT with method "ace" (AS discovery, MQ-082).
    let c = client::connect_for_challenge("c1", 60, None).unwrap();
    let mut st = TokenStore::default();
    let out = ConnectionAuth::new([0; 32]).handle_connect(
        &cfg,
        &mut st,
        c,
        common::NOW,
        &mut common::rng(),
    );
    let Outcome::Refused {
        reply: Some(reply), ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(enc(&reply), MQV10);
    let Packet::ConnAck(ca) = wire::decode_exact(&h(MQV10), 5).unwrap() else {
        panic!()
    };
    assert_eq!(ca.reason_code, ReasonCode::NotAuthorized);
    let Some(PropertyValue::Utf8StringPair(name, _)) = ca.properties.get(PropertyId::UserProperty)
    else {
        panic!()
    };
    assert_eq!(name, "ace_as_hint");
}

#[test]
fn mqv11_mqv12_v311() {
    assert_eq!(client::v311_username(&T), "aceAQIDBA");
    let c = client::connect_v311("c1", 60, &T, &k(), &e()).unwrap();
    assert_eq!(enc(&Packet::Connect(Box::new(c))), MQV12);
    let Packet::Connect(p) = wire::decode_exact(&h(MQV12), 4).unwrap() else {
        panic!()
    };
    assert_eq!(p.protocol_version, 4);
    assert_eq!(p.username.as_deref(), Some("aceAQIDBA"));
    assert_eq!(p.password.as_deref(), Some(&h(MQV1)[..]));
}

#[test]
fn mqv13_mqv14_scope_encodings() {
    let aif = common::scope(common::FIG10);
    assert_eq!(
        hex::encode(aif.to_cbor().unwrap()),
        "838266746f706963318263707562637375628268746f706963322f23816370756282682b2f746f706963338163737562"
    );
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(aif.to_json().unwrap()),
        "W1sidG9waWMxIixbInB1YiIsInN1YiJdXSxbInRvcGljMi8jIixbInB1YiJdXSxbIisvdG9waWMzIixbInN1YiJdXV0"
    );
}
