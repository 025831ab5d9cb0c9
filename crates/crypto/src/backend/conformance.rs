//! Known-answer vectors every backend must pass (feature `test-util`).
//!
//! Run them from a backend's tests with [`run_all`]; each vector names its source. The
//! functions return the first failure instead of panicking so that they can live in library
//! code.
//!
//! | Vector | Source |
//! |---|---|
//! | HMAC-SHA-256 cases 1-4, 6, 7; case 5 truncated; SHA-384/512 case 1 | RFC 4231 §4 |
//! | HKDF-SHA-256 case 1 | RFC 5869 Appendix A.1 |
//! | HKDF-SHA-256 OSCORE Sender Key and Common IV | RFC 8613 Appendix C.1.1 |
//! | AES-CCM-16-64-128 | RFC 8613 Appendix C.4 (ciphertext of the OSCORE request) |
//! | Ed25519 TEST 1 | RFC 8032 §7.1 |
//! | ECDSA P-256 SHA-256 deterministic signature, message "sample" | RFC 6979 Appendix A.2.5 |
//! | X25519 | RFC 7748 §6.1 |
//! | Ed25519 → X25519 mapping of the TEST 1 and TEST 2 keys, mapped ECDH | RFC 8032 §7.1, RFC 7748 §4.1; values cross-checked with Python (see [`ed25519_to_x25519`]) |
//! | every AEAD: round trip and tamper rejection; P-256 ECDH agreement | — |

use alloc::vec;
use alloc::vec::Vec;

use coset::iana::Algorithm;

use super::FullBackend;
use crate::error::Error;
use crate::key::{KeyType, PrivateKey, PublicKey};

/// A failed conformance vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Which vector.
    pub vector: &'static str,
    /// The backend error, if the backend returned one (otherwise the output was wrong).
    pub error: Option<Error>,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.error {
            Some(e) => write!(f, "{}: backend error {e}", self.vector),
            None => write!(f, "{}: wrong output", self.vector),
        }
    }
}

impl core::error::Error for Failure {}

type Outcome = Result<(), Failure>;

/// Decodes a hex string of a test vector (constant input; a non-hex digit counts as 0).
/// Shared by the test utilities of the crates above (`ace-token`'s `testing`).
pub fn hex(s: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| p.iter().fold(0u8, |acc, c| (acc << 4) | digit(*c)))
        .collect()
}

fn check<T>(vector: &'static str, r: Result<T, Error>) -> Result<T, Failure> {
    r.map_err(|e| Failure {
        vector,
        error: Some(e),
    })
}

fn expect(vector: &'static str, ok: bool) -> Outcome {
    if ok {
        Ok(())
    } else {
        Err(Failure {
            vector,
            error: None,
        })
    }
}

/// RFC 4231 HMAC vectors (SHA-256 through COSE HMAC 256/256, 256/64 truncation, 384, 512).
///
/// # Errors
/// The first vector that fails.
pub fn hmac<B: FullBackend + ?Sized>(b: &B) -> Outcome {
    let long_key = vec![0xaa; 131];
    let cases: [(&'static str, Vec<u8>, &[u8], &str); 6] = [
        ("RFC 4231 4.2", vec![0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        ("RFC 4231 4.3", b"Jefe".to_vec(), b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        ("RFC 4231 4.4", vec![0xaa; 20], &[0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ("RFC 4231 4.5", (1u8..=25).collect(), &[0xcd; 50], "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        ("RFC 4231 4.7", long_key.clone(), b"Test Using Larger Than Block-Size Key - Hash Key First", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        ("RFC 4231 4.8", long_key, b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.", "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ];
    for (name, key, data, tag) in cases {
        let want = hex(tag);
        let got = check(name, b.mac(Algorithm::HMAC_256_256, &key, data))?;
        expect(name, got == want)?;
        check(
            name,
            b.mac_verify(Algorithm::HMAC_256_256, &key, data, &want),
        )?;
        let short = check(name, b.mac(Algorithm::HMAC_256_64, &key, data))?;
        expect(name, Some(short.as_slice()) == want.get(..8))?;
    }
    // Case 5: truncation (the RFC truncates to 128 bits; COSE HMAC 256/64 keeps the first 64).
    let name = "RFC 4231 4.6 (truncated)";
    let t = check(
        name,
        b.mac(Algorithm::HMAC_256_64, &[0x0c; 20], b"Test With Truncation"),
    )?;
    expect(name, t == hex("a3b6167473100ee0"))?;
    let name = "RFC 4231 4.2 SHA-384";
    let t = check(
        name,
        b.mac(Algorithm::HMAC_384_384, &[0x0b; 20], b"Hi There"),
    )?;
    expect(
        name,
        t == hex(
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
        ),
    )?;
    let name = "RFC 4231 4.2 SHA-512";
    let t = check(
        name,
        b.mac(Algorithm::HMAC_512_512, &[0x0b; 20], b"Hi There"),
    )?;
    expect(
        name,
        t == hex(
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        ),
    )?;
    // A flipped bit and a truncated tag are both rejected.
    let name = "HMAC tamper";
    let mut bad = hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    if let Some(x) = bad.first_mut() {
        *x ^= 1;
    }
    expect(
        name,
        b.mac_verify(Algorithm::HMAC_256_256, &[0x0b; 20], b"Hi There", &bad)
            == Err(Error::InvalidTag),
    )?;
    expect(
        name,
        b.mac_verify(
            Algorithm::HMAC_256_256,
            &[0x0b; 20],
            b"Hi There",
            bad.get(1..).unwrap_or_default(),
        ) == Err(Error::InvalidTag),
    )
}

/// RFC 5869 A.1 and the RFC 8613 C.1.1 OSCORE derivations.
///
/// # Errors
/// The first vector that fails.
pub fn hkdf<B: FullBackend + ?Sized>(b: &B) -> Outcome {
    let name = "RFC 5869 A.1";
    let salt: Vec<u8> = (0u8..=0x0c).collect();
    let info: Vec<u8> = (0xf0u8..=0xf9).collect();
    let prk = check(
        name,
        b.hkdf_extract(Algorithm::HMAC_256_256, &salt, &[0x0b; 22]),
    )?;
    expect(
        name,
        prk.expose() == hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"),
    )?;
    let mut okm = [0u8; 42];
    check(
        name,
        b.hkdf_expand(Algorithm::HMAC_256_256, prk.expose(), &info, &mut okm),
    )?;
    expect(
        name,
        okm.as_slice()
            == hex(
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
            ),
    )?;

    let name = "RFC 8613 C.1.1";
    let secret: Vec<u8> = (1u8..=16).collect();
    let salt = hex("9e7ca92223786340");
    let mut key = [0u8; 16];
    check(
        name,
        b.hkdf(
            Algorithm::Direct_HKDF_SHA_256,
            &salt,
            &secret,
            &hex("8540f60a634b657910"),
            &mut key,
        ),
    )?;
    expect(
        name,
        key.as_slice() == hex("f0910ed7295e6ad4b54fc793154302ff"),
    )?;
    let mut iv = [0u8; 13];
    check(
        name,
        b.hkdf(
            Algorithm::HMAC_256_256,
            &salt,
            &secret,
            &hex("8540f60a6249560d"),
            &mut iv,
        ),
    )?;
    expect(name, iv.as_slice() == hex("4622d4dd6d944168eefb54987c"))?;

    let name = "HKDF output too long";
    let mut too_long = vec![0u8; 255 * 32 + 1];
    expect(
        name,
        matches!(
            b.hkdf_expand(Algorithm::HMAC_256_256, prk.expose(), &[], &mut too_long),
            Err(Error::InvalidOutputLength(_))
        ),
    )
}

/// RFC 8613 C.4 AES-CCM-16-64-128 known answer, then a round trip and tamper checks for every
/// AEAD algorithm the backend claims.
///
/// # Errors
/// The first vector that fails.
pub fn aead<B: FullBackend + ?Sized>(b: &B) -> Outcome {
    let name = "RFC 8613 C.4";
    let key = hex("f0910ed7295e6ad4b54fc793154302ff");
    let nonce = hex("4622d4dd6d944168eefb549868");
    let aad = hex("8368456e63727970743040488501810a40411440");
    let ct = check(
        name,
        b.seal(
            Algorithm::AES_CCM_16_64_128,
            &key,
            &nonce,
            &aad,
            &hex("01b3747631"),
        ),
    )?;
    expect(name, ct == hex("612f1092f1776f1c1668b3825e"))?;
    let pt = check(
        name,
        b.open(Algorithm::AES_CCM_16_64_128, &key, &nonce, &aad, &ct),
    )?;
    expect(name, pt == hex("01b3747631"))?;

    for alg in [
        Algorithm::AES_CCM_16_64_128,
        Algorithm::AES_CCM_16_128_128,
        Algorithm::AES_CCM_64_64_128,
        Algorithm::AES_CCM_16_64_256,
        Algorithm::A128GCM,
        Algorithm::A256GCM,
        Algorithm::ChaCha20Poly1305,
    ] {
        let name = "AEAD round trip";
        let Some(p) = super::aead_params(alg) else {
            return Err(Failure {
                vector: name,
                error: Some(Error::UnsupportedAlgorithm(alg)),
            });
        };
        let key = vec![0x42; p.key_len];
        let nonce = vec![0x24; p.nonce_len];
        let ct = check(name, b.seal(alg, &key, &nonce, b"aad", b"plaintext"))?;
        expect(name, ct.len() == 9 + p.tag_len)?;
        let pt = check(name, b.open(alg, &key, &nonce, b"aad", &ct))?;
        expect(name, pt == b"plaintext")?;
        let name = "AEAD tamper";
        let mut bad = ct.clone();
        if let Some(x) = bad.last_mut() {
            *x ^= 0x80;
        }
        expect(
            name,
            b.open(alg, &key, &nonce, b"aad", &bad) == Err(Error::DecryptionFailed),
        )?;
        expect(
            name,
            b.open(alg, &key, &nonce, b"aaD", &ct) == Err(Error::DecryptionFailed),
        )?;
        expect(
            name,
            b.open(
                alg,
                &key,
                &nonce,
                b"aad",
                ct.get(..p.tag_len - 1).unwrap_or_default(),
            ) == Err(Error::DecryptionFailed),
        )?;
        let name = "AEAD sizes";
        expect(
            name,
            matches!(
                b.seal(alg, key.get(1..).unwrap_or_default(), &nonce, b"", b""),
                Err(Error::InvalidKeyLength { .. })
            ),
        )?;
        expect(
            name,
            matches!(
                b.seal(alg, &key, nonce.get(1..).unwrap_or_default(), b"", b""),
                Err(Error::InvalidNonceLength { .. })
            ),
        )?;
    }
    Ok(())
}

/// RFC 8032 §7.1 TEST 1 and RFC 6979 A.2.5 (P-256, SHA-256, "sample"), plus rejection of a
/// modified message and of a key of the wrong type.
///
/// # Errors
/// The first vector that fails.
pub fn signatures<B: FullBackend + ?Sized>(b: &B) -> Outcome {
    let name = "RFC 8032 7.1 TEST 1";
    let sk = check(
        name,
        PrivateKey::from_bytes(
            KeyType::Ed25519,
            &hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
        ),
    )?;
    let pk = check(name, b.public_key(&sk))?;
    let want_pk = check(
        name,
        PublicKey::okp(
            KeyType::Ed25519,
            &hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
        ),
    )?;
    expect(name, pk == want_pk)?;
    let sig = check(name, b.sign(Algorithm::EdDSA, &sk, b""))?;
    expect(
        name,
        sig == hex(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
    )?;
    check(name, b.verify(Algorithm::EdDSA, &pk, b"", &sig))?;
    expect(
        name,
        b.verify(Algorithm::EdDSA, &pk, b"x", &sig) == Err(Error::InvalidSignature),
    )?;

    let name = "RFC 6979 A.2.5";
    let sk = check(
        name,
        PrivateKey::from_bytes(
            KeyType::P256,
            &hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"),
        ),
    )?;
    let pk = check(name, b.public_key(&sk))?;
    let want_pk = check(
        name,
        PublicKey::p256_from_coordinates(
            &hex("60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"),
            &hex("7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"),
        ),
    )?;
    expect(name, pk == want_pk)?;
    let sig = check(name, b.sign(Algorithm::ES256, &sk, b"sample"))?;
    expect(
        name,
        sig == hex(
            "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8",
        ),
    )?;
    check(name, b.verify(Algorithm::ES256, &pk, b"sample", &sig))?;
    expect(
        name,
        b.verify(Algorithm::ES256, &pk, b"samplE", &sig) == Err(Error::InvalidSignature),
    )?;
    expect(
        name,
        b.verify(
            Algorithm::ES256,
            &pk,
            b"sample",
            sig.get(..63).unwrap_or_default(),
        ) == Err(Error::InvalidSignature),
    )?;
    expect(
        name,
        b.verify(Algorithm::EdDSA, &pk, b"sample", &sig)
            == Err(Error::KeyAlgorithmMismatch {
                alg: Algorithm::EdDSA,
                key: KeyType::P256,
            }),
    )
}

/// RFC 7748 §6.1 X25519 and a P-256 agreement in both directions.
///
/// # Errors
/// The first vector that fails.
pub fn ecdh<B: FullBackend + ?Sized>(b: &B) -> Outcome {
    let name = "RFC 7748 6.1";
    let a = check(
        name,
        PrivateKey::from_bytes(
            KeyType::X25519,
            &hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
        ),
    )?;
    let bk = check(
        name,
        PrivateKey::from_bytes(
            KeyType::X25519,
            &hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
        ),
    )?;
    let a_pub = check(name, b.public_key(&a))?;
    let b_pub = check(name, b.public_key(&bk))?;
    expect(
        name,
        a_pub
            == check(
                name,
                PublicKey::okp(
                    KeyType::X25519,
                    &hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
                ),
            )?,
    )?;
    let s1 = check(name, b.ecdh(&a, &b_pub))?;
    let s2 = check(name, b.ecdh(&bk, &a_pub))?;
    expect(
        name,
        s1 == s2
            && s1.expose()
                == hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"),
    )?;
    let name = "X25519 low order";
    expect(
        name,
        b.ecdh(&a, &PublicKey::x25519([0; 32])) == Err(Error::NonContributory),
    )?;

    let name = "P-256 ECDH";
    let mut one = [0u8; 32];
    one[31] = 1;
    let p = check(
        name,
        PrivateKey::from_bytes(
            KeyType::P256,
            &hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"),
        ),
    )?;
    let q = check(name, PrivateKey::from_bytes(KeyType::P256, &one))?;
    let p_pub = check(name, b.public_key(&p))?;
    let q_pub = check(name, b.public_key(&q))?;
    let s1 = check(name, b.ecdh(&p, &q_pub))?;
    let s2 = check(name, b.ecdh(&q, &p_pub))?;
    // q = 1, so p·G·1 is p's own public key: the shared x is p's x coordinate.
    let px = p_pub
        .p256_coordinates()
        .map(|(x, _)| *x)
        .unwrap_or_default();
    expect(name, s1 == s2 && s1.expose() == px)?;
    let name = "P-256 off-curve point";
    // Backends that validate points at construction reject it there; others at use.
    match PublicKey::p256_from_coordinates(&[1; 32], &[2; 32]) {
        Err(e) => expect(name, e == Error::InvalidKey)?,
        Ok(bad) => expect(name, b.ecdh(&p, &bad) == Err(Error::InvalidKey))?,
    }
    expect(
        name,
        b.ecdh(&p, &a_pub) == Err(Error::KeyTypeMismatch(KeyType::P256, KeyType::X25519)),
    )
}

/// Ed25519 → X25519 mapping (RFC 7748 §4.1, RFC 8032 §5.1.5, draft-ietf-core-oscore-groupcomm
/// §2.5.2.1) on the RFC 8032 §7.1 TEST 1 and TEST 2 keys: the mapped public keys (the
/// Montgomery u of the Edwards y), the mapped private keys (clamped SHA-512 scalars, as
/// libsodium), their X25519 public keys equal to the mapped public keys, and the shared
/// secret in both directions, plain and through [`EcdhBackend::ecdh_mapped`]. Expected
/// values computed independently with `u = (1 + y) / (1 - y) mod p` in Python, OpenSSL's X25519
/// (`cryptography`) and aiocoap's port of libsodium's `crypto_sign_ed25519_pk_to_curve25519`.
/// The small-order points y = 1 and y = −1 must be refused.
///
/// [`EcdhBackend::ecdh_mapped`]: super::EcdhBackend::ecdh_mapped
///
/// # Errors
/// The first vector that fails.
pub fn ed25519_to_x25519<B: FullBackend + ?Sized>(b: &B) -> Outcome {
    // (seed, Ed25519 public, X25519 private, X25519 public)
    let vectors = [
        (
            "RFC 8032 TEST 1 to X25519",
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "307c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de94f",
            "d85e07ec22b0ad881537c2f44d662d1a143cf830c57aca4305d85c7a90f6b62e",
        ),
        (
            "RFC 8032 TEST 2 to X25519",
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "68bd9ed75882d52815a97585caf4790a7f6c6b3b7f821c5e259a24b02e502e51",
            "25c704c594b88afc00a76b69d1ed2b984d7e22550f3ed0802d04fbcd07d38d47",
        ),
    ];
    let mut keys = Vec::new();
    for (name, seed, ed_pub, x_priv, x_pub) in vectors {
        let sk = check(name, PrivateKey::from_bytes(KeyType::Ed25519, &hex(seed)))?;
        let pk = check(name, PublicKey::okp(KeyType::Ed25519, &hex(ed_pub)))?;
        let mapped_pub = check(name, b.ed25519_to_x25519_public(&pk))?;
        let mapped_priv = check(name, b.ed25519_to_x25519_private(&sk))?;
        expect(
            name,
            mapped_pub.key_type() == KeyType::X25519
                && mapped_pub.okp_x().map(|x| x.to_vec()) == Some(hex(x_pub)),
        )?;
        expect(
            name,
            mapped_priv.key_type() == KeyType::X25519 && mapped_priv.expose() == hex(x_priv),
        )?;
        // The two mappings belong to one X25519 key pair.
        expect(name, check(name, b.public_key(&mapped_priv))? == mapped_pub)?;
        keys.push((sk, pk, mapped_priv, mapped_pub));
    }
    let name = "Ed25519 mapped ECDH";
    let shared = hex("5166f24a6918368e2af831a4affadd97af0ac326bdf143596c045967cc00230e");
    if let [(sk1, pk1, xs1, xp1), (sk2, pk2, xs2, xp2)] = keys.as_slice() {
        let s12 = check(name, b.ecdh(xs1, xp2))?;
        let s21 = check(name, b.ecdh(xs2, xp1))?;
        expect(name, s12 == s21 && s12.expose() == shared)?;
        let m12 = check(name, b.ecdh_mapped(sk1, pk2))?;
        let m21 = check(name, b.ecdh_mapped(sk2, pk1))?;
        // an Ed25519 private key with the peer's X25519 (already mapped) key
        let mixed = check(name, b.ecdh_mapped(sk1, xp2))?;
        expect(name, m12 == s12 && m21 == s12 && mixed == s12)?;
        let name = "Ed25519 mapping: wrong key types";
        expect(
            name,
            b.ed25519_to_x25519_private(xs1) == Err(Error::UnsupportedKeyType(KeyType::X25519))
                && b.ed25519_to_x25519_public(xp1)
                    == Err(Error::UnsupportedKeyType(KeyType::X25519)),
        )?;
    } else {
        return expect(name, false);
    }
    let name = "Ed25519 mapping: y = 1 and y = -1 refused";
    let mut y_one = [0u8; 32];
    y_one[0] = 1;
    let y_minus_one = hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    for y in [y_one.to_vec(), y_minus_one] {
        // Backends that validate points at construction may refuse them there already.
        if let Ok(pk) = PublicKey::okp(KeyType::Ed25519, &y) {
            expect(
                name,
                b.ed25519_to_x25519_public(&pk) == Err(Error::InvalidKey),
            )?;
        }
    }
    Ok(())
}

/// Every vector above.
///
/// # Errors
/// The first vector that fails.
pub fn run_all<B: FullBackend + ?Sized>(b: &B) -> Outcome {
    hmac(b)?;
    hkdf(b)?;
    aead(b)?;
    signatures(b)?;
    ecdh(b)?;
    ed25519_to_x25519(b)
}
