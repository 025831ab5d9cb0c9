//! Fuzz target: JWT (JWS compact) decode + validate of untrusted bytes (ace-token, feature
//! `jwt`), with a fixed policy and the fixed test keys. Each input runs twice:
//! * with the RustCrypto backend: must never panic, and must never validate (the fuzzer cannot
//!   forge an HS256 tag or an ES256/EdDSA signature under the fixed keys);
//! * with a permissive backend that accepts every signature and tag, so inputs reach the JOSE
//!   header checks, the claims and `jwk` decoders and the policy. Whatever validates there must
//!   pass the policy again, and its claims must re-encode to JSON that decodes to the same
//!   claims.
//!
//! The claims decoder also runs on the raw input.

#![no_main]

use ace_token::crypto::backend::fuzzing::AcceptAll as Permissive;
use ace_token::testing;
use ace_token::{Claims, Policy, RustCrypto, UnixTime, Validator};
use libfuzzer_sys::fuzz_target;

const NOW: UnixTime = UnixTime(1_700_000_000);

/// Decoded JWT claims always have a JWT form, and decode(encode(c)) == c.
fn assert_reencodes(c: &Claims) {
    let json = c.to_json().expect("decoded JWT claims re-encode");
    let again = Claims::from_json(&json).expect("re-encoding decodes");
    assert_eq!(&again, c);
    assert_eq!(again.to_json().expect("re-encodes"), json);
}

fuzz_target!(|data: &[u8]| {
    let keys = testing::key_set().expect("fixed keys");
    let policy = Policy::new("rs1")
        .with_exi_rs_id(*b"rs1")
        .with_required_claims(&[]);
    let validator = Validator::new(policy.clone());

    assert!(
        validator
            .validate_jwt(data, NOW, &keys, &RustCrypto)
            .is_err(),
        "a fuzzer input validated under the real keys"
    );

    if let Ok(v) = validator.validate_jwt(data, NOW, &keys, &Permissive) {
        policy
            .check_claims(v.claims(), NOW)
            .expect("validated claims pass the policy");
        assert_reencodes(v.claims());
    }

    if let Ok(c) = Claims::from_json(data) {
        assert_reencodes(&c);
    }
});
