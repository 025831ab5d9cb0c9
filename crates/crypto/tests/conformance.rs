//! The RustCrypto backend against the shared conformance vectors (RFC 4231, 5869, 8613 C.1.1 and
//! C.4, 8032, 6979, 7748) plus backend-specific checks: key generation, P-256 sign/verify round
//! trips, and a fixed P-256 verification (RFC 8392 Appendix A.3, cose-wg/Examples
//! `CWT/A_3.json`).

use ace_crypto::backend::conformance;
use ace_crypto::backend::rustcrypto::RustCrypto;
use ace_crypto::{
    AeadBackend, Algorithm, CryptoBackend, EcdhBackend, Error, HkdfBackend, KeyType, MacBackend,
    PrivateKey, PublicKey, SecretBytes, SignBackend,
};
use hex::decode as h;

#[test]
fn hmac_vectors() {
    conformance::hmac(&RustCrypto).unwrap();
}

#[test]
fn hkdf_vectors() {
    conformance::hkdf(&RustCrypto).unwrap();
}

#[test]
fn aead_vectors() {
    conformance::aead(&RustCrypto).unwrap();
}

#[test]
fn signature_vectors() {
    conformance::signatures(&RustCrypto).unwrap();
}

#[test]
fn ecdh_vectors() {
    conformance::ecdh(&RustCrypto).unwrap();
}

#[test]
fn ed25519_to_x25519_vectors() {
    conformance::ed25519_to_x25519(&RustCrypto).unwrap();
}

/// RFC 8032 §7.1 TEST 1: the X25519 public key mapped from the Ed25519 public key (Edwards
/// y → Montgomery u) equals the X25519 public key of the mapped private key (clamped
/// SHA-512 scalar of the seed); expected bytes from Python (`u = (1 + y) / (1 - y) mod p`,
/// OpenSSL X25519, aiocoap's port of libsodium `crypto_sign_ed25519_pk_to_curve25519`).
#[test]
fn ed25519_test1_maps_to_one_x25519_key_pair() {
    let seed = h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
    let sk = PrivateKey::from_bytes(KeyType::Ed25519, &seed).unwrap();
    let pk = RustCrypto.public_key(&sk).unwrap();
    assert_eq!(
        pk.okp_x().unwrap().to_vec(),
        h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap()
    );
    let from_public = RustCrypto.ed25519_to_x25519_public(&pk).unwrap();
    let x_sk = RustCrypto.ed25519_to_x25519_private(&sk).unwrap();
    let from_private = RustCrypto.public_key(&x_sk).unwrap();
    assert_eq!(from_public, from_private);
    assert_eq!(
        from_public,
        PublicKey::x25519(
            h("d85e07ec22b0ad881537c2f44d662d1a143cf830c57aca4305d85c7a90f6b62e")
                .unwrap()
                .try_into()
                .unwrap()
        )
    );
    assert_eq!(
        x_sk.expose(),
        h("307c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de94f").unwrap()
    );
    assert_eq!(x_sk.key_type(), KeyType::X25519);
    // Debug of the mapped private key stays redacted
    assert!(!format!("{x_sk:?}").contains("307c"));
}

/// Random Ed25519 key pairs: both directions of the mapped ECDH agree, and equal plain X25519
/// on the mapped keys; P-256 keys are passed through unchanged.
#[test]
fn ecdh_mapped_agrees_both_ways() {
    let mut rng = ace_crypto::os_rng();
    for _ in 0..16 {
        let a = PrivateKey::generate(KeyType::Ed25519, &mut rng);
        let b = PrivateKey::generate(KeyType::Ed25519, &mut rng);
        let (a_pub, b_pub) = (
            RustCrypto.public_key(&a).unwrap(),
            RustCrypto.public_key(&b).unwrap(),
        );
        let ab = RustCrypto.ecdh_mapped(&a, &b_pub).unwrap();
        let ba = RustCrypto.ecdh_mapped(&b, &a_pub).unwrap();
        assert_eq!(ab, ba);
        assert_eq!(ab.len(), 32);
        let plain = RustCrypto
            .ecdh(
                &RustCrypto.ed25519_to_x25519_private(&a).unwrap(),
                &RustCrypto.ed25519_to_x25519_public(&b_pub).unwrap(),
            )
            .unwrap();
        assert_eq!(ab, plain);
        // plain ECDH keeps refusing unmapped Ed25519 keys
        assert_eq!(
            RustCrypto.ecdh(&a, &b_pub),
            Err(Error::UnsupportedKeyType(KeyType::Ed25519))
        );
    }
    let p = PrivateKey::generate(KeyType::P256, &mut rng);
    let q = PrivateKey::generate(KeyType::P256, &mut rng);
    let q_pub = RustCrypto.public_key(&q).unwrap();
    assert_eq!(
        RustCrypto.ecdh_mapped(&p, &q_pub).unwrap(),
        RustCrypto.ecdh(&p, &q_pub).unwrap()
    );
    let ed = PrivateKey::generate(KeyType::Ed25519, &mut rng);
    let ed_pub = RustCrypto.public_key(&ed).unwrap();
    assert_eq!(
        RustCrypto.ecdh_mapped(&p, &ed_pub),
        Err(Error::KeyTypeMismatch(KeyType::P256, KeyType::Ed25519))
    );
    assert_eq!(
        RustCrypto.ecdh_mapped(&ed, &q_pub),
        Err(Error::KeyTypeMismatch(KeyType::Ed25519, KeyType::P256))
    );
}

/// Draft §2.5.2.1: "implementations MUST abort if the y-coordinate ... is 1 or -1"; both
/// decode as Ed25519 points (small order) and are refused by the mapping, as are the other
/// small-order points (the all-zero encoding is y = 0, order 4).
#[test]
fn ed25519_mapping_refuses_small_order_points() {
    let mut y_one = [0u8; 32];
    y_one[0] = 1;
    let y_minus_one: [u8; 32] =
        h("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
            .unwrap()
            .try_into()
            .unwrap();
    for y in [y_one, y_minus_one, [0u8; 32]] {
        let pk = PublicKey::ed25519(y).expect("small-order points decode");
        assert_eq!(
            RustCrypto.ed25519_to_x25519_public(&pk),
            Err(Error::InvalidKey)
        );
        let sk = PrivateKey::from_bytes(KeyType::Ed25519, &[7; 32]).unwrap();
        assert_eq!(RustCrypto.ecdh_mapped(&sk, &pk), Err(Error::InvalidKey));
    }
}

#[test]
fn run_all_passes() {
    conformance::run_all(&RustCrypto).unwrap();
}

/// RFC 8392 A.3: the ES256 signature over the Sig_structure (`ToBeSign_hex` of the cose-wg file).
#[test]
fn p256_fixed_vector_verify() {
    let pk = PublicKey::p256_from_coordinates(
        &h("143329cce7868e416927599cf65a34f3ce2ffda55a7eca69ed8919a394d42f0f").unwrap(),
        &h("60f7f1a780d8a783bfb7a2dd6b2796e8128dbbcef9d3d168db9529971a36e7b9").unwrap(),
    )
    .unwrap();
    let tbs = h("846A5369676E61747572653143A10126405850A70175636F61703A2F2F61732E6578616D706C652E636F6D02656572696B77037818636F61703A2F2F6C696768742E6578616D706C652E636F6D041A5612AEB0051A5610D9F0061A5610D9F007420B71").unwrap();
    let sig = h("5427C1FF28D23FBAD1F29C4C7C6A555E601D6FA29F9179BC3D7438BACACA5ACD08C8D4D4F96131680C429A01F85951ECEE743A52B9B63632C57209120E1C9E30").unwrap();
    RustCrypto
        .verify(Algorithm::ES256, &pk, &tbs, &sig)
        .unwrap();
    // The public key derived from the private key of the same file matches.
    let sk = PrivateKey::from_bytes(
        KeyType::P256,
        &h("6c1382765aec5358f117733d281c1c7bdc39884d04a45a1e6c67c858bc206c19").unwrap(),
    )
    .unwrap();
    assert_eq!(RustCrypto.public_key(&sk).unwrap(), pk);
    let mut bad = sig.clone();
    bad[10] ^= 1;
    assert_eq!(
        RustCrypto.verify(Algorithm::ES256, &pk, &tbs, &bad),
        Err(Error::InvalidSignature)
    );
}

#[test]
fn p256_and_ed25519_roundtrip_with_generated_keys() {
    let mut rng = ace_crypto::os_rng();
    for (kind, alg) in [
        (KeyType::P256, Algorithm::ES256),
        (KeyType::Ed25519, Algorithm::EdDSA),
    ] {
        let sk = PrivateKey::generate(kind, &mut rng);
        let pk = RustCrypto.public_key(&sk).unwrap();
        let sig = RustCrypto.sign(alg, &sk, b"to be signed").unwrap();
        assert_eq!(
            sig.len(),
            64,
            "COSE signatures are raw r||s / RFC 8032 (64 bytes)"
        );
        RustCrypto.verify(alg, &pk, b"to be signed", &sig).unwrap();
        assert_eq!(
            RustCrypto.verify(alg, &pk, b"to be signeD", &sig),
            Err(Error::InvalidSignature)
        );
        let other = RustCrypto
            .public_key(&PrivateKey::generate(kind, &mut rng))
            .unwrap();
        assert_eq!(
            RustCrypto.verify(alg, &other, b"to be signed", &sig),
            Err(Error::InvalidSignature)
        );
    }
}

#[test]
fn unsupported_algorithms_are_reported() {
    let sk = PrivateKey::from_bytes(KeyType::Ed25519, &[1; 32]).unwrap();
    assert_eq!(
        RustCrypto.sign(Algorithm::PS256, &sk, b""),
        Err(Error::UnsupportedAlgorithm(Algorithm::PS256))
    );
    assert_eq!(
        RustCrypto.mac(Algorithm::AES_MAC_128_64, b"k", b""),
        Err(Error::UnsupportedAlgorithm(Algorithm::AES_MAC_128_64))
    );
    assert_eq!(
        RustCrypto.seal(Algorithm::A128KW, &[0; 16], &[0; 12], b"", b""),
        Err(Error::UnsupportedAlgorithm(Algorithm::A128KW))
    );
    assert!(matches!(
        RustCrypto.hkdf_extract(Algorithm::ES256, b"", b""),
        Err(Error::UnsupportedAlgorithm(Algorithm::ES256))
    ));
    assert_eq!(
        RustCrypto.sign(Algorithm::ES256, &sk, b""),
        Err(Error::KeyAlgorithmMismatch {
            alg: Algorithm::ES256,
            key: KeyType::Ed25519
        })
    );
    assert_eq!(
        RustCrypto.ecdh(&sk, &PublicKey::x25519([9; 32])),
        Err(Error::UnsupportedKeyType(KeyType::Ed25519))
    );
}

/// A backend that implements nothing gets "unsupported" from every default method.
#[test]
fn default_methods_answer_unsupported() {
    struct Nothing;
    impl CryptoBackend for Nothing {}
    impl SignBackend for Nothing {}
    impl MacBackend for Nothing {}
    impl AeadBackend for Nothing {}
    impl HkdfBackend for Nothing {}
    impl EcdhBackend for Nothing {}
    let sk = PrivateKey::from_bytes(KeyType::X25519, &[1; 32]).unwrap();
    assert_eq!(
        Nothing.public_key(&sk),
        Err(Error::UnsupportedKeyType(KeyType::X25519))
    );
    assert_eq!(
        Nothing.mac(Algorithm::HMAC_256_64, b"", b""),
        Err(Error::UnsupportedAlgorithm(Algorithm::HMAC_256_64))
    );
    assert!(conformance::run_all(&Nothing).is_err());
    let ed = PrivateKey::from_bytes(KeyType::Ed25519, &[1; 32]).unwrap();
    let ed_pub = RustCrypto.public_key(&ed).unwrap();
    assert_eq!(
        Nothing.ed25519_to_x25519_private(&ed),
        Err(Error::UnsupportedKeyType(KeyType::Ed25519))
    );
    assert_eq!(
        Nothing.ed25519_to_x25519_public(&ed_pub),
        Err(Error::UnsupportedKeyType(KeyType::Ed25519))
    );
    assert_eq!(
        Nothing.ecdh_mapped(&ed, &ed_pub),
        Err(Error::UnsupportedKeyType(KeyType::Ed25519))
    );
    assert_eq!(
        conformance::ed25519_to_x25519(&Nothing).map_err(|f| f.error),
        Err(Some(Error::UnsupportedKeyType(KeyType::Ed25519)))
    );
    let dynamic: &dyn ace_crypto::FullBackend = &RustCrypto;
    conformance::run_all(dynamic).unwrap();
}

#[test]
fn secret_bytes_generate_and_compare() {
    let mut rng = ace_crypto::os_rng();
    let a = SecretBytes::generate(16, &mut rng);
    let b = SecretBytes::generate(16, &mut rng);
    assert_eq!(a.len(), 16);
    assert_ne!(a, b);
    assert_eq!(a, a.clone());
}
