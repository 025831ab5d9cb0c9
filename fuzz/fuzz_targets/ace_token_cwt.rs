//! Fuzz target: CWT decode + validate of untrusted bytes (ace-token), with a fixed policy and
//! the fixed test keys. Each input runs twice:
//! * with the RustCrypto backend: must never panic, and must never validate (the fuzzer cannot
//!   forge a signature, MAC or AEAD tag under the fixed keys);
//! * with a permissive backend that accepts every signature and tag and "decrypts" by dropping
//!   the tag, so inputs reach the claims decoder, the `cnf` decoder, nesting and the policy
//!   checks. Whatever validates there must carry claims that pass the policy again and
//!   re-encode to a claims set that decodes to the same value.
//!
//! The claims decoder also runs on the raw input.

#![no_main]

use ace_token::crypto::backend::fuzzing::AcceptAll as Permissive;
use ace_token::testing;
use ace_token::{Claims, Policy, RustCrypto, UnixTime, Validator};
use libfuzzer_sys::fuzz_target;

const NOW: UnixTime = UnixTime(1_700_000_000);

/// Encoding is deterministic: decode(encode(c)) encodes to the same bytes. (Bytes, not values,
/// are compared: an unknown claim may hold a NaN, which is not equal to itself.)
fn assert_reencodes(c: &Claims) {
    let bytes = c.to_cbor().expect("decoded claims re-encode");
    let again = Claims::from_cbor(&bytes).expect("re-encoding decodes");
    assert_eq!(again.to_cbor().expect("re-encodes"), bytes);
}

fuzz_target!(|data: &[u8]| {
    let keys = testing::key_set().expect("fixed keys");
    let policy = Policy::new("rs1")
        .with_exi_rs_id(*b"rs1")
        .with_required_claims(&[]);
    let validator = Validator::new(policy.clone());

    assert!(
        validator.validate(data, NOW, &keys, &RustCrypto).is_err(),
        "a fuzzer input validated under the real keys"
    );

    if let Ok(v) = validator.validate(data, NOW, &keys, &Permissive) {
        policy
            .check_claims(v.claims(), NOW)
            .expect("validated claims pass the policy");
        assert_reencodes(v.claims());
    }

    if let Ok(c) = Claims::from_cbor(data) {
        assert_reencodes(&c);
    }
});
