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
