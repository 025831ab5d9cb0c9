//! Shared test fixtures: an AS key set, tokens, a broker config. Test code only.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::sync::Arc;

use ace_crypto::{Algorithm, SecretBytes};
use ace_token::testing;
use ace_token::{
    AceProfile, ClaimsBuilder, Confirmation, Issuer, JwtIssuer, KeySet, Policy, PopKey, RustCrypto,
    Scope, TokenKey, UnixTime, Validator,
};
use aif::MqttAif;
use mqtt_tls_profile::AuthConfig;
use mqtt_tls_profile::pop::ClientKey;
use rand::SeedableRng as _;
use rand::rngs::StdRng;

pub const AUDIENCE: &str = "broker1";
pub const NOW: UnixTime = UnixTime(1_800_000_000);
/// RFC 9431 Figure 10.
pub const FIG10: &str = r#"[["topic1",["pub","sub"]],["topic2/#",["pub"]],["+/topic3",["sub"]]]"#;
pub const AES_KID: &[u8] = b"aes128";

pub fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

pub fn scope(json: &str) -> MqttAif {
    MqttAif::from_json(json.as_bytes()).unwrap()
}

pub fn key_set() -> KeySet {
    KeySet::new()
        .with(TokenKey::public(testing::es256_public().unwrap()).with_kid(*b"as-1"))
        .with(TokenKey::symmetric(testing::from_hex(testing::AES_KEY)).with_kid(AES_KID.to_vec()))
}

pub fn config() -> AuthConfig {
    let v = Validator::new(Policy::new(AUDIENCE).with_issuer("as").with_clock_skew(0));
    AuthConfig::new(v, Arc::new(key_set()))
}

/// The client's Ed25519 key (RFC 8032 §7.1 TEST 1).
pub fn ed_client() -> ClientKey {
    ClientKey::Private(testing::ed25519_private().unwrap())
}

pub fn sym_secret() -> SecretBytes {
    SecretBytes::from_slice(&[0x11; 32])
}

pub fn sym_client() -> ClientKey {
    ClientKey::Symmetric(sym_secret())
}

fn claims(scope_json: &str, exp: UnixTime, cnf: Confirmation, jwt: bool) -> ace_token::Claims {
    let aif = scope(scope_json);
    let scope = if jwt {
        use base64::Engine as _;
        Scope::Text(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(scope_json))
    } else {
        Scope::Binary(aif.to_cbor().unwrap())
    };
    ClaimsBuilder::new()
        .issuer("as")
        .audience(AUDIENCE)
        .expiration(exp)
        .cti(*b"tok-1")
        .cnf(cnf)
        .scope(scope)
        .ace_profile(AceProfile::MQTT_TLS)
        .build()
}

/// CWT (COSE_Sign1 ES256 by the AS) binding the Ed25519 client key.
pub fn cwt_ed25519(scope_json: &str, exp: UnixTime) -> Vec<u8> {
    let cnf = Confirmation::cose_key(PopKey::public(testing::ed25519_public().unwrap()));
    let c = claims(scope_json, exp, cnf, false);
    Issuer::new(&RustCrypto)
        .sign1(
            &c,
            Algorithm::ES256,
            &testing::es256_private().unwrap(),
            Some(b"as-1"),
        )
        .unwrap()
}

/// CWT (COSE_Encrypt0 A128GCM) binding the symmetric key 0x11 × 32.
pub fn cwt_symmetric(scope_json: &str, exp: UnixTime) -> Vec<u8> {
    let cnf = Confirmation::cose_key(PopKey::symmetric(sym_secret()).with_kid(*b"sym-1"));
    let c = claims(scope_json, exp, cnf, false);
    let iv = [7u8; 12];
    Issuer::new(&RustCrypto)
        .encrypt0(
            &c,
            Algorithm::A128GCM,
            &testing::from_hex(testing::AES_KEY),
            Some(AES_KID),
            &iv,
        )
        .unwrap()
}

/// CWT (COSE_Sign1) with a *plaintext* symmetric cnf key (must be refused, MQ-007).
pub fn cwt_plain_symmetric(scope_json: &str, exp: UnixTime) -> Vec<u8> {
    let cnf = Confirmation::cose_key(PopKey::symmetric(sym_secret()));
    let c = claims(scope_json, exp, cnf, false);
    Issuer::new(&RustCrypto)
        .sign1(
            &c,
            Algorithm::ES256,
            &testing::es256_private().unwrap(),
            Some(b"as-1"),
        )
        .unwrap()
}

/// JWT (ES256 by the AS) binding the Ed25519 client key; scope = base64url JSON (MQ-070).
pub fn jwt_ed25519(scope_json: &str, exp: UnixTime) -> Vec<u8> {
    let cnf = Confirmation::cose_key(PopKey::public(testing::ed25519_public().unwrap()));
    let c = claims(scope_json, exp, cnf, true);
    JwtIssuer::new(&RustCrypto)
        .es256(&c, &testing::es256_private().unwrap(), Some("as-1"))
        .unwrap()
        .into_bytes()
}

pub fn exporter_a() -> [u8; 32] {
    let mut e = [0u8; 32];
    for (i, b) in e.iter_mut().enumerate() {
        *b = i as u8;
    }
    e
}

pub fn exporter_b() -> [u8; 32] {
    [0xEE; 32]
}
