//! Token-hash vectors (RFC 9770 §"Token Hash"; checklist TRL-10, TRL-11, TRL-12).
//!
//! Inputs are the RFC's example `access_token` values (Figure "Example of AS-to-Client CoAP
//! response using CBOR" and "... HTTP response using JSON", copied to
//! `tests/data/examples.json`). The RFC gives no hash values, so the expected hashes in
//! `tests/data/token_hashes.json` were computed by this crate and are cross-checked against
//! Python hashlib/base64 by `tests/interop/hashlib_check.py` (`cargo xtask interop`).
//! Set `REVOCATION_WRITE_VECTORS=1` to regenerate the file.

use revocation::hash::{cbor_hash_input_text, rs_cwt_hash, rs_jwt_hashes};
use revocation::{HashAlg, TokenHash};
use serde_json::{Value, json};

fn examples() -> Value {
    serde_json::from_str(include_str!("data/examples.json")).unwrap()
}

fn compute() -> Value {
    let ex = examples();
    let cbor = hex::decode(ex["cbor_access_token_hex"].as_str().unwrap()).unwrap();
    let jwt = ex["json_access_token"].as_str().unwrap();
    let mut vectors = Vec::new();
    for alg in HashAlg::ALL {
        vectors.push(json!({
            "name": format!("rfc9770-cbor-cwt-{}", alg.name()),
            "case": "cbor",
            "access_token_hex": hex::encode(&cbor),
            "hash_input_text": cbor_hash_input_text(&cbor),
            "alg": alg.name(),
            "alg_id": alg.id(),
            "token_hash_hex": TokenHash::from_cbor_access_token(alg, &cbor).to_hex(),
        }));
        vectors.push(json!({
            "name": format!("rfc9770-json-jwt-{}", alg.name()),
            "case": "json",
            "access_token_text": jwt,
            "hash_input_text": jwt,
            "alg": alg.name(),
            "alg_id": alg.id(),
            "token_hash_hex": TokenHash::from_json_access_token(alg, jwt).to_hex(),
        }));
    }
    json!({
        "source": "RFC 9770 example access_token values; hashes computed by the revocation crate, checked with Python hashlib (tests/interop/hashlib_check.py)",
        "vectors": vectors,
    })
}

#[test]
fn token_hashes_match_the_checked_in_vectors() {
    let computed = compute();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/token_hashes.json");
    if std::env::var_os("REVOCATION_WRITE_VECTORS").is_some() {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&computed).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(computed, stored);
}

/// The digest's independently derived sha-256 value for the CBOR example (C.3.1).
#[test]
fn cbor_example_matches_digest_c31() {
    let ex = examples();
    let cbor = hex::decode(ex["cbor_access_token_hex"].as_str().unwrap()).unwrap();
    assert_eq!(
        cbor_hash_input_text(&cbor),
        "2D3Qg1ggowEKBExTeW1tZXRyaWMxMjgFTZmg14RudixJ_-imPgugWFi5GKEf2B5Di3-XPZ4uEZvLIkJLoPOKgPJ1YvQA7h0NbA_bVZwCQh_ThPwuviLXBxN4sOp0KP_xV0RNRffmr82hquX2SVgwxYYnCH_FtJdPMZqHB6Y13WQ7"
    );
    assert_eq!(
        TokenHash::from_cbor_access_token(HashAlg::Sha256, &cbor).to_hex(),
        "011a06427bcbe5d29385202b8255820b8370ae481065a1e94017c0185bfbd51707"
    );
}

/// TRL-10: the seed's rule (hash the bstr *with* its header) gives a different value; the
/// final rule is the one implemented.
#[test]
fn seed_rule_differs_from_final_rule() {
    let ex = examples();
    let cbor = hex::decode(ex["cbor_access_token_hex"].as_str().unwrap()).unwrap();
    let mut with_header = vec![0x58, 0x81];
    with_header.extend_from_slice(&cbor);
    let seed = TokenHash::compute(HashAlg::Sha256, &with_header);
    assert_eq!(
        seed.to_hex(),
        "01bee6ada96c439e6a790efbf98322813de1e7ea37e9aa739acf8567ef8a1152bf"
    );
    assert_ne!(
        seed,
        TokenHash::from_cbor_access_token(HashAlg::Sha256, &cbor)
    );
}

/// A CWT sent in JSON (base64url text) hashes like the CBOR case, on the AS, the client and
/// the RS (both RS branches of §"Access Tokens as CWTs").
#[test]
fn cwt_hash_is_transport_independent() {
    let ex = examples();
    let cbor = hex::decode(ex["cbor_access_token_hex"].as_str().unwrap()).unwrap();
    let text = cbor_hash_input_text(&cbor);
    let a = TokenHash::from_cbor_access_token(HashAlg::Sha256, &cbor);
    assert_eq!(a, TokenHash::from_json_access_token(HashAlg::Sha256, &text));
    assert_eq!(Some(a.clone()), rs_cwt_hash(HashAlg::Sha256, &cbor, true));
    assert_eq!(
        Some(a),
        rs_cwt_hash(HashAlg::Sha256, text.as_bytes(), false)
    );
}

/// §"Access Tokens as JWTs": the RS keeps both hashes; the JSON one equals the AS's.
#[test]
fn jwt_rs_hashes() {
    let ex = examples();
    let jwt = ex["json_access_token"].as_str().unwrap();
    let (json_case, cbor_case) = rs_jwt_hashes(HashAlg::Sha256, jwt.as_bytes());
    assert_eq!(
        json_case,
        TokenHash::from_json_access_token(HashAlg::Sha256, jwt)
    );
    assert_eq!(
        cbor_case,
        TokenHash::from_cbor_access_token(HashAlg::Sha256, jwt.as_bytes())
    );
}
