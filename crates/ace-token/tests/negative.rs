//! One negative test per validation check: a valid token is tampered (or built wrong) so that
//! exactly that check fails, and the error names it.

use ace_token::testing::{self, claims_for, from_hex};
use ace_token::{
    Algorithm, ClaimsBuilder, Confirmation, DecodeError, EncryptedCoseKey, Error, ExiCti,
    ExiTracker, IssueOptions, Issuer, KeySet, Label, Policy, PopKey, Protection, RustCrypto,
    SecretBytes, Tagging, TokenKey, UnixTime, Validator, Value,
};
use coset::{
    CborSerializable as _, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable as _, iana,
};

const NOW: UnixTime = UnixTime(1_700_000_000);

fn keys() -> KeySet {
    testing::key_set().unwrap()
}

fn policy() -> Policy {
    Policy::new("rs1").with_issuer("as")
}

fn validate(token: &[u8]) -> Result<ace_token::ValidatedToken, Error> {
    Validator::new(policy()).validate(token, NOW, &keys(), &RustCrypto)
}

fn es256_token() -> Vec<u8> {
    Issuer::new(&RustCrypto)
        .sign1(
            &claims_for(NOW),
            Algorithm::ES256,
            &testing::es256_private().unwrap(),
            Some(b"es256"),
        )
        .unwrap()
}

fn hmac_token(claims: &ace_token::Claims) -> Vec<u8> {
    Issuer::new(&RustCrypto)
        .mac0(
            claims,
            Algorithm::HMAC_256_64,
            &from_hex(testing::HMAC_KEY),
            Some(b"our-secret"),
        )
        .unwrap()
}

fn aes_token() -> Vec<u8> {
    Issuer::new(&RustCrypto)
        .encrypt0(
            &claims_for(NOW),
            Algorithm::AES_CCM_16_64_128,
            &from_hex(testing::AES_KEY),
            Some(b"aes128"),
            &[7; 13],
        )
        .unwrap()
}

/// A Sign1 built by hand with coset, for header tampering.
fn custom_sign1(protected: coset::Header, unprotected: coset::Header, payload: Vec<u8>) -> Vec<u8> {
    let sk = testing::es256_private().unwrap();
    CoseSign1Builder::new()
        .protected(protected)
        .unprotected(unprotected)
        .payload(payload)
        .try_create_signature(&[], |tbs| {
            ace_token::SignBackend::sign(&RustCrypto, Algorithm::ES256, &sk, tbs)
        })
        .unwrap()
        .build()
        .to_tagged_vec()
        .unwrap()
}

#[test]
fn valid_tokens_pass() {
    for t in [es256_token(), hmac_token(&claims_for(NOW)), aes_token()] {
        let v = validate(&t).unwrap();
        assert_eq!(v.claims(), &claims_for(NOW));
        assert!(v.wrapping().cwt_tag && v.wrapping().cose_tag);
    }
}

#[test]
fn bad_signature() {
    let mut t = es256_token();
    let n = t.len();
    t[n - 5] ^= 0x01;
    assert_eq!(validate(&t).unwrap_err(), Error::BadSignature);
    // A modified payload (claims) also breaks the signature.
    let t = es256_token();
    let pos = t.windows(3).position(|w| w == b"rs1").unwrap();
    let mut t2 = t.clone();
    t2[pos + 2] = b'2';
    assert_eq!(validate(&t2).unwrap_err(), Error::BadSignature);
}

#[test]
fn bad_tag() {
    let mut t = hmac_token(&claims_for(NOW));
    let n = t.len();
    t[n - 1] ^= 0x80;
    assert_eq!(validate(&t).unwrap_err(), Error::BadTag);
}

#[test]
fn decryption_failed() {
    let mut t = aes_token();
    let n = t.len();
    t[n - 1] ^= 0x80;
    assert_eq!(validate(&t).unwrap_err(), Error::DecryptionFailed);
}

#[test]
fn external_aad_mismatch() {
    let opts = IssueOptions {
        external_aad: b"context".to_vec(),
        ..IssueOptions::default()
    };
    let t = Issuer::with_options(&RustCrypto, opts)
        .mac0(
            &claims_for(NOW),
            Algorithm::HMAC_256_64,
            &from_hex(testing::HMAC_KEY),
            None,
        )
        .unwrap();
    assert_eq!(validate(&t).unwrap_err(), Error::BadTag);
    let ok = Validator::new(policy().with_external_aad(*b"context")).validate(
        &t,
        NOW,
        &keys(),
        &RustCrypto,
    );
    assert!(ok.is_ok());
}

#[test]
fn wrong_alg_not_accepted() {
    let t = es256_token();
    let p = policy().with_algorithms(&[Algorithm::EdDSA]);
    assert_eq!(
        Validator::new(p)
            .validate(&t, NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::AlgorithmNotAccepted(coset::Algorithm::Assigned(Algorithm::ES256))
    );
    // A MAC algorithm on a Sign1 structure does not fit the structure.
    let claims = claims_for(NOW).to_cbor().unwrap();
    let t = custom_sign1(
        HeaderBuilder::new()
            .algorithm(Algorithm::HMAC_256_256)
            .build(),
        HeaderBuilder::new().build(),
        claims,
    );
    assert_eq!(
        validate(&t).unwrap_err(),
        Error::AlgorithmNotAccepted(coset::Algorithm::Assigned(Algorithm::HMAC_256_256))
    );
}

#[test]
fn missing_or_unprotected_alg() {
    let claims = claims_for(NOW).to_cbor().unwrap();
    let t = custom_sign1(
        HeaderBuilder::new().build(),
        HeaderBuilder::new().algorithm(Algorithm::ES256).build(),
        claims,
    );
    assert_eq!(validate(&t).unwrap_err(), Error::MissingAlgorithm);
}

#[test]
fn wrong_audience() {
    let t = es256_token();
    let p = Policy::new("rs2").with_issuer("as");
    assert_eq!(
        Validator::new(p)
            .validate(&t, NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::AudienceMismatch
    );
    // A second audience value makes it acceptable.
    let p = Policy::new("rs2").with_audience("rs1");
    assert!(
        Validator::new(p)
            .validate(&t, NOW, &keys(), &RustCrypto)
            .is_ok()
    );
}

/// RFC 9200 §5.10.1.1 (ACE checklist A.2.6): claim errors are reported in the priority order
/// `iss`, `exp`, `aud`. An expired token for another audience is `Expired` (4.01), not
/// `AudienceMismatch` (4.03); an expired token from the wrong issuer is `IssuerMismatch`.
#[test]
fn claim_checks_follow_rfc9200_priority_order() {
    let t = es256_token();
    let expired_at = NOW.saturating_add(3600 + 60);
    let other_aud = Validator::new(Policy::new("rs2").with_issuer("as"));
    let err = other_aud
        .validate(&t, expired_at, &keys(), &RustCrypto)
        .unwrap_err();
    assert_eq!(err, Error::Expired);
    assert_eq!(
        err.coap_code(),
        ace_token::CoapCode {
            class: 4,
            detail: 1
        }
    );
    let other_iss = Validator::new(Policy::new("rs2").with_issuer("other-as"));
    assert_eq!(
        other_iss
            .validate(&t, expired_at, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::IssuerMismatch
    );
}

#[test]
fn wrong_issuer() {
    let t = es256_token();
    let p = Policy::new("rs1").with_issuer("other-as");
    assert_eq!(
        Validator::new(p)
            .validate(&t, NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::IssuerMismatch
    );
}

#[test]
fn key_bound_to_another_issuer() {
    let t = es256_token();
    let bound = KeySet::new()
        .with(TokenKey::public(testing::es256_public().unwrap()).with_issuer("other-as"));
    // The issuer hint filters the key out: no key for this token.
    assert_eq!(
        Validator::new(Policy::new("rs1"))
            .validate(&t, NOW, &bound, &RustCrypto)
            .unwrap_err(),
        Error::UnknownKey
    );
    // An encrypted token carries no readable issuer hint; the binding is checked after
    // decryption.
    let bound =
        KeySet::new().with(TokenKey::symmetric(from_hex(testing::AES_KEY)).with_issuer("other-as"));
    assert_eq!(
        Validator::new(Policy::new("rs1"))
            .validate(&aes_token(), NOW, &bound, &RustCrypto)
            .unwrap_err(),
        Error::IssuerMismatch
    );
}

#[test]
fn unknown_key() {
    let t = es256_token();
    let empty = KeySet::new();
    assert_eq!(
        Validator::new(policy())
            .validate(&t, NOW, &empty, &RustCrypto)
            .unwrap_err(),
        Error::UnknownKey
    );
    // A key with another kid is not a candidate.
    let other =
        KeySet::new().with(TokenKey::public(testing::es256_public().unwrap()).with_kid(*b"nope"));
    assert_eq!(
        Validator::new(policy())
            .validate(&t, NOW, &other, &RustCrypto)
            .unwrap_err(),
        Error::UnknownKey
    );
}

#[test]
fn expired() {
    let t = es256_token();
    let v = Validator::new(policy());
    let exp = NOW.saturating_add(3600);
    // Valid until exp + skew (60 s): now < exp + skew.
    assert!(
        v.validate(&t, exp.saturating_add(59), &keys(), &RustCrypto)
            .is_ok()
    );
    assert_eq!(
        v.validate(&t, exp.saturating_add(60), &keys(), &RustCrypto)
            .unwrap_err(),
        Error::Expired
    );
    let strict = Validator::new(policy().with_clock_skew(0));
    assert!(
        strict
            .validate(&t, exp.saturating_sub(1), &keys(), &RustCrypto)
            .is_ok()
    );
    assert_eq!(
        strict.validate(&t, exp, &keys(), &RustCrypto).unwrap_err(),
        Error::Expired
    );
}

#[test]
fn not_yet_valid() {
    let t = es256_token();
    let nbf = NOW.saturating_sub(10);
    let strict = Validator::new(policy().with_clock_skew(0));
    assert!(strict.validate(&t, nbf, &keys(), &RustCrypto).is_ok());
    assert_eq!(
        strict
            .validate(&t, nbf.saturating_sub(1), &keys(), &RustCrypto)
            .unwrap_err(),
        Error::NotYetValid
    );
    let skewed = Validator::new(policy().with_clock_skew(5));
    assert!(
        skewed
            .validate(&t, nbf.saturating_sub(5), &keys(), &RustCrypto)
            .is_ok()
    );
    assert_eq!(
        skewed
            .validate(&t, nbf.saturating_sub(6), &keys(), &RustCrypto)
            .unwrap_err(),
        Error::NotYetValid
    );
}

#[test]
fn missing_required_claim() {
    let mut c = claims_for(NOW);
    c.exp = None;
    let t = hmac_token(&c);
    assert_eq!(
        validate(&t).unwrap_err(),
        Error::MissingClaim(Label::Int(4))
    );
    let p = policy().with_required_claims(&[Label::Int(8)]);
    let t = hmac_token(&claims_for(NOW));
    assert_eq!(
        Validator::new(p)
            .validate(&t, NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::MissingClaim(Label::Int(8))
    );
    // Audience checks need an aud claim.
    let mut c = claims_for(NOW);
    c.aud = None;
    assert_eq!(
        validate(&hmac_token(&c)).unwrap_err(),
        Error::MissingClaim(Label::Int(3))
    );
}

#[test]
fn unknown_critical_header() {
    let claims = claims_for(NOW).to_cbor().unwrap();
    let t = custom_sign1(
        HeaderBuilder::new()
            .algorithm(Algorithm::ES256)
            .add_critical_label(coset::RegisteredLabelWithPrivate::PrivateUse(-70_000))
            .value(-70_000, Value::Bool(true))
            .build(),
        HeaderBuilder::new().key_id(b"es256".to_vec()).build(),
        claims.clone(),
    );
    assert_eq!(
        validate(&t).unwrap_err(),
        Error::UnknownCriticalHeader(Label::Int(-70_000))
    );
    // A critical parameter we understand (kid) is fine.
    let t = custom_sign1(
        HeaderBuilder::new()
            .algorithm(Algorithm::ES256)
            .add_critical(iana::HeaderParameter::Kid)
            .key_id(b"es256".to_vec())
            .build(),
        HeaderBuilder::new().build(),
        claims.clone(),
    );
    assert!(validate(&t).is_ok());
    // crit in the unprotected bucket is malformed.
    let t = custom_sign1(
        HeaderBuilder::new().algorithm(Algorithm::ES256).build(),
        HeaderBuilder::new()
            .add_critical(iana::HeaderParameter::Kid)
            .key_id(b"es256".to_vec())
            .build(),
        claims,
    );
    assert_eq!(
        validate(&t).unwrap_err(),
        Error::Malformed(DecodeError::CritNotProtected)
    );
}

#[test]
fn duplicate_header_in_both_buckets() {
    let t = custom_sign1(
        HeaderBuilder::new()
            .algorithm(Algorithm::ES256)
            .key_id(b"es256".to_vec())
            .build(),
        HeaderBuilder::new().key_id(b"es256".to_vec()).build(),
        claims_for(NOW).to_cbor().unwrap(),
    );
    assert_eq!(
        validate(&t).unwrap_err(),
        Error::Malformed(DecodeError::DuplicateHeader)
    );
}

#[test]
fn truncated_input() {
    let t = es256_token();
    for cut in [1, 2, 10, t.len() / 2, t.len() - 1] {
        assert_eq!(
            validate(&t[..cut]).unwrap_err(),
            Error::Malformed(DecodeError::Truncated),
            "cut {cut}"
        );
    }
    assert_eq!(
        validate(&[]).unwrap_err(),
        Error::Malformed(DecodeError::Truncated)
    );
}

#[test]
fn trailing_bytes() {
    let mut t = es256_token();
    t.push(0x00);
    assert_eq!(validate(&t).unwrap_err(), Error::TrailingBytes);
    // A second complete token after the first is also trailing data.
    let mut t = es256_token();
    t.extend(es256_token());
    assert_eq!(validate(&t).unwrap_err(), Error::TrailingBytes);
}

#[test]
fn oversized_token() {
    let t = es256_token();
    let p = policy().with_max_size(t.len() - 1);
    assert_eq!(
        Validator::new(p)
            .validate(&t, NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::TooLarge {
            size: t.len(),
            max: t.len() - 1
        }
    );
    // The size check comes before parsing: garbage of the same size fails the same way.
    let garbage = vec![0xff; t.len()];
    let p = policy().with_max_size(t.len() - 1);
    assert!(matches!(
        Validator::new(p).validate(&garbage, NOW, &keys(), &RustCrypto),
        Err(Error::TooLarge { .. })
    ));
    // Exactly the maximum is fine.
    assert!(
        Validator::new(policy().with_max_size(t.len()))
            .validate(&t, NOW, &keys(), &RustCrypto)
            .is_ok()
    );
}

#[test]
fn wrong_tags_and_structures() {
    let t = es256_token();
    // 61(18(...)) → 61(99(...)): unknown tag. Byte 2 is the COSE tag (0xd2 = tag 18).
    let mut bad = t.clone();
    assert_eq!(bad[0..3], [0xd8, 0x3d, 0xd2]);
    bad[2] = 0xd3; // tag 19
    assert_eq!(
        validate(&bad).unwrap_err(),
        Error::Malformed(DecodeError::UnexpectedTag(19))
    );
    // A bare claims map is not a token.
    let claims = claims_for(NOW).to_cbor().unwrap();
    assert!(matches!(
        validate(&claims),
        Err(Error::Malformed(DecodeError::WrongType { .. }))
    ));
    // COSE_Sign (tag 98) is recognised and refused.
    assert_eq!(
        validate(&[0xd8, 0x62, 0x80]).unwrap_err(),
        Error::Malformed(DecodeError::UnsupportedMessage("COSE_Sign"))
    );
    // Untagged tokens are accepted.
    let untagged = Issuer::with_options(
        &RustCrypto,
        IssueOptions {
            tagging: Tagging::Untagged,
            ..Default::default()
        },
    )
    .sign1(
        &claims_for(NOW),
        Algorithm::ES256,
        &testing::es256_private().unwrap(),
        Some(b"es256"),
    )
    .unwrap();
    let v = validate(&untagged).unwrap();
    assert!(!v.wrapping().cose_tag && !v.wrapping().cwt_tag);
    let untagged_mac = Issuer::with_options(
        &RustCrypto,
        IssueOptions {
            tagging: Tagging::Untagged,
            ..Default::default()
        },
    )
    .mac0(
        &claims_for(NOW),
        Algorithm::HMAC_256_256,
        &from_hex(testing::HMAC_KEY),
        None,
    )
    .unwrap();
    assert!(validate(&untagged_mac).is_ok());
}

#[test]
fn malformed_claims() {
    let payload = |bytes: Vec<u8>| {
        custom_sign1(
            HeaderBuilder::new().algorithm(Algorithm::ES256).build(),
            HeaderBuilder::new().build(),
            bytes,
        )
    };
    // Duplicate claim key: {1: "a", 1: "b"}.
    let t = payload(vec![0xa2, 0x01, 0x61, b'a', 0x01, 0x61, b'b']);
    assert_eq!(
        validate(&t).unwrap_err(),
        Error::Malformed(DecodeError::DuplicateKey)
    );
    // iss as an integer.
    let t = payload(vec![0xa1, 0x01, 0x05]);
    assert!(matches!(
        validate(&t),
        Err(Error::Malformed(DecodeError::WrongType { what: "iss", .. }))
    ));
    // exp as NaN.
    let t = payload(vec![0xa1, 0x04, 0xf9, 0x7e, 0x00]);
    assert_eq!(
        validate(&t).unwrap_err(),
        Error::Malformed(DecodeError::InvalidNumericDate)
    );
    // Payload with trailing bytes inside the signature.
    let t = payload(vec![0xa0, 0x00]);
    assert_eq!(validate(&t).unwrap_err(), Error::TrailingBytes);
    // A signature check happens before the claims are trusted: bad claims + bad signature →
    // BadSignature.
    let mut t = payload(vec![0xa1, 0x01, 0x05]);
    let n = t.len();
    t[n - 1] ^= 1;
    assert_eq!(validate(&t).unwrap_err(), Error::BadSignature);
}

#[test]
fn nesting_limits() {
    let sk = testing::es256_private().unwrap();
    let aes = from_hex(testing::AES_KEY);
    let nested = Issuer::new(&RustCrypto)
        .nested(
            &claims_for(NOW),
            Protection::Sign1 {
                alg: Algorithm::ES256,
                key: &sk,
                kid: Some(b"es256"),
            },
            Algorithm::AES_CCM_16_64_128,
            &aes,
            Some(b"aes128"),
            &[1; 13],
        )
        .unwrap();
    assert!(validate(&nested).is_ok());
    let flat = Validator::new(policy().with_max_nesting(1));
    assert_eq!(
        flat.validate(&nested, NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::NestingNotAllowed
    );
}

#[test]
fn exi_checks() {
    let rs = b"rs1".to_vec();
    let claims = ClaimsBuilder::new()
        .issuer("as")
        .audience("rs1")
        .exi(600, &ExiCti::new(rs.clone(), 7))
        .build();
    let t = hmac_token(&claims);
    let p = policy()
        .with_required_claims(&[])
        .with_exi_rs_id(rs.clone());
    let v = Validator::new(p.clone())
        .validate(&t, NOW, &keys(), &RustCrypto)
        .unwrap();
    assert_eq!(v.exi_cti(), Some(&ExiCti::new(rs.clone(), 7)));
    assert_eq!(v.expires_at(NOW), Some(NOW.saturating_add(600)));
    let mut tracker = ExiTracker::new();
    assert_eq!(
        tracker.admit(&v, NOW).unwrap().unwrap().expires_at,
        NOW.saturating_add(600)
    );
    tracker.expire(7);
    assert_eq!(
        tracker.admit(&v, NOW),
        Err(Error::ExiSequenceExpired {
            seq: 7,
            highest_expired: 7
        })
    );
    // Without an RS id configured, exi tokens are refused.
    let no_exi = policy().with_required_claims(&[]);
    assert_eq!(
        Validator::new(no_exi)
            .validate(&t, NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::ExiCtiMalformed
    );
    // A cti for another RS is malformed for this RS.
    let other = ClaimsBuilder::new()
        .issuer("as")
        .audience("rs1")
        .exi(600, &ExiCti::new(b"rs9".to_vec(), 1))
        .build();
    assert_eq!(
        Validator::new(p.clone())
            .validate(&hmac_token(&other), NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::ExiCtiMalformed
    );
    // exi without cti.
    let mut no_cti = claims.clone();
    no_cti.cti = None;
    assert_eq!(
        Validator::new(p)
            .validate(&hmac_token(&no_cti), NOW, &keys(), &RustCrypto)
            .unwrap_err(),
        Error::ExiCtiMalformed
    );
}

#[test]
fn encrypted_cnf_key() {
    let pop = PopKey::symmetric(SecretBytes::from_slice(&[9; 16])).with_kid(*b"pop");
    let kek = from_hex(testing::AES_KEY);
    let enc = EncryptedCoseKey::encrypt(
        &pop,
        Algorithm::AES_CCM_16_64_128,
        &kek,
        &[3; 13],
        Some(b"aes128"),
        &RustCrypto,
    )
    .unwrap();
    let mut claims = claims_for(NOW);
    claims.cnf = Some(Confirmation::encrypted(enc.clone()));
    let t = Issuer::new(&RustCrypto)
        .sign1(
            &claims,
            Algorithm::ES256,
            &testing::es256_private().unwrap(),
            Some(b"es256"),
        )
        .unwrap();
    let v = validate(&t).unwrap();
    assert_eq!(v.pop_key(), Some(&pop));
    // Without the key-encryption key the PoP key cannot be learned.
    let only_sig = KeySet::new().with(TokenKey::public(testing::es256_public().unwrap()));
    assert_eq!(
        Validator::new(policy())
            .validate(&t, NOW, &only_sig, &RustCrypto)
            .unwrap_err(),
        Error::CnfKeyUndecryptable
    );
    // A tampered Encrypted_COSE_Key does not decrypt.
    let mut bad = enc;
    if let Some(ct) = bad.0.ciphertext.as_mut() {
        ct[0] ^= 1;
    }
    assert_eq!(
        bad.decrypt(&kek, &RustCrypto).unwrap_err(),
        Error::DecryptionFailed
    );
}

#[test]
fn malformed_cnf() {
    let sign = |cnf: Vec<u8>| {
        // {8: cnf, 3: "rs1", 1: "as", 4: far future}
        let mut p = vec![
            0xa4, 0x01, 0x62, b'a', b's', 0x03, 0x63, b'r', b's', b'1', 0x04, 0x1a, 0x70, 0, 0, 0,
            0x08,
        ];
        p.extend(cnf);
        custom_sign1(
            HeaderBuilder::new().algorithm(Algorithm::ES256).build(),
            HeaderBuilder::new().build(),
            p,
        )
    };
    // Empty cnf map.
    assert_eq!(
        validate(&sign(vec![0xa0])).unwrap_err(),
        Error::Malformed(DecodeError::Invalid("empty cnf"))
    );
    // COSE_Key with a private key: {1: {1: 4 (Symmetric)... }} is fine, EC2 with d is not.
    let ec2_with_d = {
        let mut k = coset::CoseKeyBuilder::new_ec2_priv_key(
            iana::EllipticCurve::P_256,
            vec![1; 32],
            vec![2; 32],
            vec![3; 32],
        )
        .build()
        .to_vec()
        .unwrap();
        let mut m = vec![0xa1, 0x01];
        m.append(&mut k);
        m
    };
    assert_eq!(
        validate(&sign(ec2_with_d)).unwrap_err(),
        Error::Malformed(DecodeError::Invalid("private key in cnf"))
    );
    // Two key-bearing members: COSE_Key and osc.
    let sym = coset::CoseKeyBuilder::new_symmetric_key(vec![1; 16])
        .build()
        .to_vec()
        .unwrap();
    let mut two = vec![0xa2, 0x01];
    two.extend(&sym);
    two.extend([0x04, 0xa1, 0x02, 0x41, 0x01]);
    assert_eq!(
        validate(&sign(two)).unwrap_err(),
        Error::Malformed(DecodeError::Invalid("cnf with more than one PoP key"))
    );
    // kid only is fine and yields the kid.
    let v = validate(&sign(vec![0xa1, 0x03, 0x42, 0xab, 0xcd])).unwrap();
    assert_eq!(
        v.pop(),
        Some(&ace_token::ProofOfPossession::Kid(vec![0xab, 0xcd]))
    );
}

#[test]
fn every_failure_maps_to_a_coap_code() {
    // The RS answers /authz-info failures with 4.01 except the audience (4.03).
    assert_eq!(
        Error::AudienceMismatch.coap_code(),
        ace_token::CoapCode::FORBIDDEN
    );
    assert_eq!(
        Error::BadSignature.coap_code(),
        ace_token::CoapCode::UNAUTHORIZED
    );
}
