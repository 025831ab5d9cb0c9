//! Cross-implementation test against pycose 1.1.0 (tests/interop/pycose_cwt.py):
//! (a) CWTs made by pycose over claims our encoder produced validate here with the full
//! policy; (b) CWTs our `Issuer` made verify in pycose and carry our claims bytes; (c) a
//! tampered token is rejected in each direction.
//!
//! Needs the peer: `ACE_INTEROP_PYTHON` = a python with pycose (`cargo xtask interop` sets it).
//! A missing peer is a failure, not a skip. ChaCha20/Poly1305 is not covered: pycose 1.1.0
//! does not implement it.

use std::io::Write as _;
use std::process::{Command, Stdio};

use ace_token::testing::{self, from_hex};
use ace_token::{
    Algorithm, Claims, ClaimsBuilder, Issuer, KeySet, Policy, RustCrypto, TokenKey, UnixTime,
    Validator,
};
use coset::iana::{self, EnumI64 as _};
use coset::{CborSerializable as _, CoseKey, CoseKeyBuilder};
use serde_json::{Value as J, json};

const NOW: UnixTime = UnixTime(1_700_000_000);
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pycose_cwt.py");

fn python() -> String {
    match std::env::var("ACE_INTEROP_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "ACE_INTEROP_PYTHON is not set: it must name a python with pycose 1.1.0 and cbor2 \
             (`cargo xtask interop` creates the venv and sets it)"
        ),
    }
}

fn run(cmd: &str, input: &J) -> Vec<J> {
    let mut child = Command::new(python())
        .arg(SCRIPT)
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} ({e})", python()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "pycose_cwt.py {cmd} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<J>>(&out.stdout).expect("JSON array from pycose_cwt.py")
}

fn key_hex(k: CoseKey) -> String {
    hex::encode(k.to_vec().unwrap())
}

fn es256_key() -> String {
    key_hex(
        CoseKeyBuilder::new_ec2_priv_key(
            iana::EllipticCurve::P_256,
            from_hex(testing::ES256_X),
            from_hex(testing::ES256_Y),
            from_hex(testing::ES256_D),
        )
        .build(),
    )
}

fn ed25519_key() -> String {
    let mut k = CoseKeyBuilder::new_okp_key()
        .param(
            iana::OkpKeyParameter::Crv.to_i64(),
            coset::cbor::value::Value::from(iana::EllipticCurve::Ed25519.to_i64()),
        )
        .param(
            iana::OkpKeyParameter::X.to_i64(),
            coset::cbor::value::Value::Bytes(from_hex(testing::ED25519_PUB)),
        )
        .param(
            iana::OkpKeyParameter::D.to_i64(),
            coset::cbor::value::Value::Bytes(from_hex(testing::ED25519_SEED)),
        )
        .build();
    k.kty = coset::KeyType::Assigned(iana::KeyType::OKP);
    key_hex(k)
}

fn symmetric_key(hex_key: &str) -> String {
    key_hex(CoseKeyBuilder::new_symmetric_key(from_hex(hex_key)).build())
}

/// One algorithm of the cross test.
struct Case {
    name: &'static str,
    kind: &'static str,
    alg: Algorithm,
    key: String,
    iv: Option<Vec<u8>>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "ES256",
            kind: "sign1",
            alg: Algorithm::ES256,
            key: es256_key(),
            iv: None,
        },
        Case {
            name: "EdDSA",
            kind: "sign1",
            alg: Algorithm::EdDSA,
            key: ed25519_key(),
            iv: None,
        },
        Case {
            name: "HMAC 256/64",
            kind: "mac0",
            alg: Algorithm::HMAC_256_64,
            key: symmetric_key(testing::HMAC_KEY),
            iv: None,
        },
        Case {
            name: "HMAC 256/256",
            kind: "mac0",
            alg: Algorithm::HMAC_256_256,
            key: symmetric_key(testing::HMAC_KEY),
            iv: None,
        },
        Case {
            name: "AES-CCM-16-64-128",
            kind: "encrypt0",
            alg: Algorithm::AES_CCM_16_64_128,
            key: symmetric_key(testing::AES_KEY),
            iv: Some(from_hex("89f52f65a1c580933b5261a72f")),
        },
        Case {
            name: "A128GCM",
            kind: "encrypt0",
            alg: Algorithm::A128GCM,
            key: symmetric_key(testing::AES_KEY),
            iv: Some(from_hex("02d1f7e6f26c43d4868d87ce")),
        },
    ]
}

fn keys() -> KeySet {
    KeySet::new()
        .with(TokenKey::public(testing::es256_public().unwrap()))
        .with(TokenKey::public(testing::ed25519_public().unwrap()))
        .with(TokenKey::symmetric(from_hex(testing::HMAC_KEY)))
        .with(TokenKey::symmetric(from_hex(testing::AES_KEY)))
}

fn claims() -> Claims {
    ClaimsBuilder::new()
        .issuer("as.example")
        .subject("client-1")
        .audience("rs1")
        .issued_at(NOW.saturating_sub(10))
        .not_before(NOW.saturating_sub(10))
        .expiration(NOW.saturating_add(3600))
        .cti(*b"interop-1")
        .scope(ace_token::Scope::Text("temp/read".into()))
        .build()
}

fn validator() -> Validator {
    Validator::new(
        Policy::new("rs1")
            .with_issuer("as.example")
            .with_required_claims(&[
                coset::Label::Int(ace_token::consts::claim::EXP),
                coset::Label::Int(ace_token::consts::claim::ISS),
                coset::Label::Int(ace_token::consts::claim::AUD),
            ]),
    )
}

/// pycose makes a token over our claims bytes for every case.
fn pycose_make(payload: &[u8]) -> Vec<(Case, Vec<u8>)> {
    let input: Vec<J> = cases()
        .iter()
        .map(|c| {
            let mut item = json!({
                "name": c.name,
                "kind": c.kind,
                "alg": c.alg.to_i64(),
                "key": c.key,
                "payload": hex::encode(payload),
            });
            if let Some(iv) = &c.iv {
                item["iv"] = J::String(hex::encode(iv));
            }
            item
        })
        .collect();
    let out = run("make", &J::Array(input));
    let cases = cases();
    assert_eq!(out.len(), cases.len());
    cases
        .into_iter()
        .zip(out)
        .map(|(c, o)| {
            assert_eq!(o["name"], c.name);
            let token = hex::decode(o["token"].as_str().unwrap()).unwrap();
            (c, token)
        })
        .collect()
}

fn ours(c: &Case, claims: &Claims) -> Vec<u8> {
    let issuer = Issuer::new(&RustCrypto);
    match c.kind {
        "sign1" => {
            let sk = if c.alg == Algorithm::ES256 {
                testing::es256_private().unwrap()
            } else {
                testing::ed25519_private().unwrap()
            };
            issuer.sign1(claims, c.alg, &sk, None).unwrap()
        }
        "mac0" => issuer
            .mac0(claims, c.alg, &from_hex(testing::HMAC_KEY), None)
            .unwrap(),
        _ => issuer
            .encrypt0(
                claims,
                c.alg,
                &from_hex(testing::AES_KEY),
                None,
                c.iv.as_deref().unwrap(),
            )
            .unwrap(),
    }
}

/// pycose verifies/decrypts every token; returns (ok, payload, error) per case.
fn pycose_verify(tokens: &[(&Case, Vec<u8>)]) -> Vec<(bool, Option<Vec<u8>>, String)> {
    let input: Vec<J> = tokens
        .iter()
        .map(|(c, t)| {
            json!({ "name": c.name, "kind": c.kind, "key": c.key, "token": hex::encode(t) })
        })
        .collect();
    let out = run("verify", &J::Array(input));
    assert_eq!(out.len(), tokens.len());
    out.into_iter()
        .zip(tokens)
        .map(|(o, (c, _))| {
            assert_eq!(o["name"], c.name);
            (
                o["ok"].as_bool().unwrap(),
                o["payload"].as_str().map(|p| hex::decode(p).unwrap()),
                o["error"].to_string(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs pycose: run `cargo xtask interop`"]
fn pycose_tokens_validate_here() {
    let claims = claims();
    let payload = claims.to_cbor().unwrap();
    for (c, token) in pycose_make(&payload) {
        // pycose output: 61(COSE_x-tagged), alg protected.
        assert_eq!(&token[..2], [0xd8, 0x3d], "{}: not CWT-tagged", c.name);
        let v = validator()
            .validate(&token, NOW, &keys(), &RustCrypto)
            .unwrap_or_else(|e| panic!("{}: pycose token refused: {e}", c.name));
        assert_eq!(v.claims(), &claims, "{}", c.name);
        assert_eq!(v.algorithms(), [c.alg], "{}", c.name);
        // The full policy applies to pycose tokens too.
        assert_eq!(
            validator()
                .validate(&token, NOW.saturating_add(3700), &keys(), &RustCrypto)
                .unwrap_err(),
            ace_token::Error::Expired,
            "{}",
            c.name
        );
        let other_rs = Validator::new(Policy::new("rs2").with_issuer("as.example"));
        assert_eq!(
            other_rs
                .validate(&token, NOW, &keys(), &RustCrypto)
                .unwrap_err(),
            ace_token::Error::AudienceMismatch,
            "{}",
            c.name
        );
    }
}

#[test]
#[ignore = "needs pycose: run `cargo xtask interop`"]
fn our_tokens_verify_in_pycose() {
    let claims = claims();
    let payload = claims.to_cbor().unwrap();
    let cases = cases();
    let tokens: Vec<(&Case, Vec<u8>)> = cases.iter().map(|c| (c, ours(c, &claims))).collect();
    for (c, t) in &tokens {
        // Our default form: tag 61, every header protected, empty unprotected map.
        assert_eq!(&t[..2], [0xd8, 0x3d], "{}", c.name);
        validator()
            .validate(t, NOW, &keys(), &RustCrypto)
            .unwrap_or_else(|e| panic!("{}: own token refused: {e}", c.name));
    }
    for ((c, _), (ok, got, err)) in tokens.iter().zip(pycose_verify(&tokens)) {
        assert!(ok, "{}: pycose refused our token: {err}", c.name);
        assert_eq!(
            got.as_deref(),
            Some(payload.as_slice()),
            "{}: payload",
            c.name
        );
    }
}

/// Flips one bit in the last byte of the signature / tag / ciphertext (the final byte string).
fn tamper(mut token: Vec<u8>) -> Vec<u8> {
    let last = token.len() - 1;
    token[last] ^= 0x01;
    token
}

#[test]
#[ignore = "needs pycose: run `cargo xtask interop`"]
fn tampered_tokens_are_rejected_both_ways() {
    let claims = claims();
    let payload = claims.to_cbor().unwrap();
    // pycose → us.
    for (c, token) in pycose_make(&payload) {
        let bad = tamper(token);
        let e = validator()
            .validate(&bad, NOW, &keys(), &RustCrypto)
            .unwrap_err();
        assert!(
            matches!(
                e,
                ace_token::Error::BadSignature
                    | ace_token::Error::BadTag
                    | ace_token::Error::DecryptionFailed
            ),
            "{}: {e:?}",
            c.name
        );
    }
    // us → pycose.
    let cases = cases();
    let tokens: Vec<(&Case, Vec<u8>)> = cases
        .iter()
        .map(|c| (c, tamper(ours(c, &claims))))
        .collect();
    for ((c, _), (ok, _, _)) in tokens.iter().zip(pycose_verify(&tokens)) {
        assert!(!ok, "{}: pycose accepted a tampered token", c.name);
    }
}
