//! The default backend on the RustCrypto crates (p256, ed25519-dalek, x25519-dalek, ccm + aes,
//! aes-gcm, chacha20poly1305, hmac, hkdf, sha2).
//!
//! | Capability | Algorithms |
//! |---|---|
//! | sign / verify | ES256 (and ESP256), EdDSA (and Ed25519) |
//! | MAC | HMAC 256/64, 256/256, 384/384, 512/512 |
//! | AEAD | AES-CCM-16/64-64/128-128/256 (COSE 10-13, 30-33), A128GCM, A192GCM, A256GCM, ChaCha20/Poly1305 |
//! | HKDF | SHA-256, SHA-512 |
//! | ECDH | P-256, X25519; Ed25519 keys mapped to X25519 (RFC 7748 §4.1) |
//!
//! ECDSA signatures are deterministic (RFC 6979); Ed25519 verification uses `verify_strict`
//! (rejects small-order keys and non-canonical signatures).

use alloc::vec::Vec;

use coset::iana::Algorithm;
use hmac::Mac as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use zeroize::Zeroize as _;

use super::{
    AeadBackend, CryptoBackend, EcdhBackend, HkdfBackend, HkdfHash, MacBackend, SignBackend,
    aead_params, hkdf_hash,
};
use crate::error::{Error, Result};
use crate::key::{KeyType, PrivateKey, PublicKey, SecretBytes};

/// The RustCrypto backend. Stateless: construct it freely, share it by reference or `Arc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RustCrypto;

impl RustCrypto {
    /// A backend value.
    #[must_use]
    pub const fn new() -> Self {
        Self
    }
}

fn secret32(key: &PrivateKey) -> Result<[u8; 32]> {
    key.expose().try_into().map_err(|_| Error::InvalidKey)
}

impl CryptoBackend for RustCrypto {
    fn public_key(&self, key: &PrivateKey) -> Result<PublicKey> {
        match key.key_type() {
            KeyType::P256 => {
                let sk = p256::ecdsa::SigningKey::from_slice(key.expose())
                    .map_err(|_| Error::InvalidKey)?;
                let point = sk.verifying_key().to_sec1_point(false);
                PublicKey::p256_from_sec1(point.as_bytes())
            }
            KeyType::Ed25519 => {
                let mut seed = secret32(key)?;
                let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
                seed.zeroize();
                PublicKey::ed25519(sk.verifying_key().to_bytes())
            }
            KeyType::X25519 => {
                let mut d = secret32(key)?;
                let sk = x25519_dalek::StaticSecret::from(d);
                d.zeroize();
                Ok(PublicKey::x25519(
                    x25519_dalek::PublicKey::from(&sk).to_bytes(),
                ))
            }
        }
    }
}

impl SignBackend for RustCrypto {
    fn sign(&self, alg: Algorithm, key: &PrivateKey, msg: &[u8]) -> Result<Vec<u8>> {
        match (alg, key.key_type()) {
            (Algorithm::ES256 | Algorithm::ESP256, KeyType::P256) => {
                let sk = p256::ecdsa::SigningKey::from_slice(key.expose())
                    .map_err(|_| Error::InvalidKey)?;
                let sig: p256::ecdsa::Signature = sk.sign(msg);
                Ok(sig.to_bytes().to_vec())
            }
            (Algorithm::EdDSA | Algorithm::Ed25519, KeyType::Ed25519) => {
                let mut seed = secret32(key)?;
                let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
                seed.zeroize();
                Ok(sk.sign(msg).to_bytes().to_vec())
            }
            (
                Algorithm::ES256 | Algorithm::ESP256 | Algorithm::EdDSA | Algorithm::Ed25519,
                kind,
            ) => Err(Error::KeyAlgorithmMismatch { alg, key: kind }),
            _ => Err(Error::UnsupportedAlgorithm(alg)),
        }
    }

    fn verify(&self, alg: Algorithm, key: &PublicKey, msg: &[u8], signature: &[u8]) -> Result<()> {
        match alg {
            Algorithm::ES256 | Algorithm::ESP256 => {
                let vk = key.prepared_p256().ok_or(Error::KeyAlgorithmMismatch {
                    alg,
                    key: key.key_type(),
                })?;
                let sig = p256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| Error::InvalidSignature)?;
                vk.verify(msg, &sig).map_err(|_| Error::InvalidSignature)
            }
            Algorithm::EdDSA | Algorithm::Ed25519 => {
                let vk = key.prepared_ed25519().ok_or(Error::KeyAlgorithmMismatch {
                    alg,
                    key: key.key_type(),
                })?;
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| Error::InvalidSignature)?;
                vk.verify_strict(msg, &sig)
                    .map_err(|_| Error::InvalidSignature)
            }
            _ => Err(Error::UnsupportedAlgorithm(alg)),
        }
    }
}

fn hmac_full<D>(key: &[u8], msg: &[u8]) -> Vec<u8>
where
    D: hmac::digest::Digest + hmac::digest::block_api::EagerHash + Clone,
    hmac::Hmac<D>: hmac::KeyInit + hmac::Mac,
{
    // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
    match <hmac::Hmac<D> as hmac::KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

impl MacBackend for RustCrypto {
    fn mac(&self, alg: Algorithm, key: &[u8], msg: &[u8]) -> Result<Vec<u8>> {
        let mut tag = match alg {
            Algorithm::HMAC_256_64 | Algorithm::HMAC_256_256 => hmac_full::<sha2::Sha256>(key, msg),
            Algorithm::HMAC_384_384 => hmac_full::<sha2::Sha384>(key, msg),
            Algorithm::HMAC_512_512 => hmac_full::<sha2::Sha512>(key, msg),
            _ => return Err(Error::UnsupportedAlgorithm(alg)),
        };
        if tag.is_empty() {
            return Err(Error::InvalidKey);
        }
        if alg == Algorithm::HMAC_256_64 {
            tag.truncate(8);
        }
        Ok(tag)
    }
}

type AesCcm<C, T, N> = ccm::Ccm<C, T, N>;
use ccm::consts::{U7, U8, U13, U16};

fn check_sizes(alg: Algorithm, key: &[u8], nonce: &[u8]) -> Result<()> {
    let p = aead_params(alg).ok_or(Error::UnsupportedAlgorithm(alg))?;
    if key.len() != p.key_len {
        return Err(Error::InvalidKeyLength {
            expected: p.key_len,
            actual: key.len(),
        });
    }
    if nonce.len() != p.nonce_len {
        return Err(Error::InvalidNonceLength {
            expected: p.nonce_len,
            actual: nonce.len(),
        });
    }
    Ok(())
}

fn seal_with<A>(key: &[u8], nonce: &[u8], aad: &[u8], msg: &[u8]) -> Result<Vec<u8>>
where
    A: ccm::aead::Aead + ccm::aead::KeyInit,
{
    let cipher = A::new_from_slice(key).map_err(|_| Error::InvalidKey)?;
    let nonce = <&ccm::aead::Nonce<A>>::try_from(nonce).map_err(|_| Error::InvalidKey)?;
    cipher
        .encrypt(nonce, ccm::aead::Payload { msg, aad })
        .map_err(|_| Error::InvalidOutputLength(msg.len()))
}

fn open_with<A>(key: &[u8], nonce: &[u8], aad: &[u8], msg: &[u8]) -> Result<Vec<u8>>
where
    A: ccm::aead::Aead + ccm::aead::KeyInit,
{
    let cipher = A::new_from_slice(key).map_err(|_| Error::InvalidKey)?;
    let nonce = <&ccm::aead::Nonce<A>>::try_from(nonce).map_err(|_| Error::InvalidKey)?;
    cipher
        .decrypt(nonce, ccm::aead::Payload { msg, aad })
        .map_err(|_| Error::DecryptionFailed)
}

macro_rules! aead_dispatch {
    ($f:ident, $alg:expr, $key:expr, $nonce:expr, $aad:expr, $msg:expr) => {
        match $alg {
            Algorithm::AES_CCM_16_64_128 => {
                $f::<AesCcm<aes::Aes128, U8, U13>>($key, $nonce, $aad, $msg)
            }
            Algorithm::AES_CCM_16_64_256 => {
                $f::<AesCcm<aes::Aes256, U8, U13>>($key, $nonce, $aad, $msg)
            }
            Algorithm::AES_CCM_64_64_128 => {
                $f::<AesCcm<aes::Aes128, U8, U7>>($key, $nonce, $aad, $msg)
            }
            Algorithm::AES_CCM_64_64_256 => {
                $f::<AesCcm<aes::Aes256, U8, U7>>($key, $nonce, $aad, $msg)
            }
            Algorithm::AES_CCM_16_128_128 => {
                $f::<AesCcm<aes::Aes128, U16, U13>>($key, $nonce, $aad, $msg)
            }
            Algorithm::AES_CCM_16_128_256 => {
                $f::<AesCcm<aes::Aes256, U16, U13>>($key, $nonce, $aad, $msg)
            }
            Algorithm::AES_CCM_64_128_128 => {
                $f::<AesCcm<aes::Aes128, U16, U7>>($key, $nonce, $aad, $msg)
            }
            Algorithm::AES_CCM_64_128_256 => {
                $f::<AesCcm<aes::Aes256, U16, U7>>($key, $nonce, $aad, $msg)
            }
            Algorithm::A128GCM => $f::<aes_gcm::Aes128Gcm>($key, $nonce, $aad, $msg),
            Algorithm::A192GCM => $f::<aes_gcm::AesGcm<aes::Aes192, aes_gcm::aead::consts::U12>>(
                $key, $nonce, $aad, $msg,
            ),
            Algorithm::A256GCM => $f::<aes_gcm::Aes256Gcm>($key, $nonce, $aad, $msg),
            Algorithm::ChaCha20Poly1305 => {
                $f::<chacha20poly1305::ChaCha20Poly1305>($key, $nonce, $aad, $msg)
            }
            other => Err(Error::UnsupportedAlgorithm(other)),
        }
    };
}

impl AeadBackend for RustCrypto {
    fn seal(
        &self,
        alg: Algorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        check_sizes(alg, key, nonce)?;
        aead_dispatch!(seal_with, alg, key, nonce, aad, plaintext)
    }

    fn open(
        &self,
        alg: Algorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        check_sizes(alg, key, nonce)?;
        aead_dispatch!(open_with, alg, key, nonce, aad, ciphertext)
    }
}

impl HkdfBackend for RustCrypto {
    fn hkdf_extract(&self, alg: Algorithm, salt: &[u8], ikm: &[u8]) -> Result<SecretBytes> {
        let prk = match hkdf_hash(alg).ok_or(Error::UnsupportedAlgorithm(alg))? {
            HkdfHash::Sha256 => hkdf::Hkdf::<sha2::Sha256>::extract(Some(salt), ikm)
                .0
                .to_vec(),
            HkdfHash::Sha512 => hkdf::Hkdf::<sha2::Sha512>::extract(Some(salt), ikm)
                .0
                .to_vec(),
        };
        Ok(SecretBytes::new(prk))
    }

    fn hkdf_expand(&self, alg: Algorithm, prk: &[u8], info: &[u8], okm: &mut [u8]) -> Result<()> {
        match hkdf_hash(alg).ok_or(Error::UnsupportedAlgorithm(alg))? {
            HkdfHash::Sha256 => hkdf::Hkdf::<sha2::Sha256>::from_prk(prk)
                .map_err(|_| Error::InvalidKey)?
                .expand(info, okm),
            HkdfHash::Sha512 => hkdf::Hkdf::<sha2::Sha512>::from_prk(prk)
                .map_err(|_| Error::InvalidKey)?
                .expand(info, okm),
        }
        .map_err(|_| Error::InvalidOutputLength(okm.len()))
    }
}

impl EcdhBackend for RustCrypto {
    fn ecdh(&self, private: &PrivateKey, public: &PublicKey) -> Result<SecretBytes> {
        match (private.key_type(), public.key_type()) {
            (KeyType::X25519, KeyType::X25519) => {
                let u = *public.okp_x().ok_or(Error::InvalidKey)?;
                let mut d = secret32(private)?;
                let sk = x25519_dalek::StaticSecret::from(d);
                d.zeroize();
                let shared = sk.diffie_hellman(&x25519_dalek::PublicKey::from(u));
                if !shared.was_contributory() {
                    return Err(Error::NonContributory);
                }
                Ok(SecretBytes::from_slice(shared.as_bytes()))
            }
            (KeyType::P256, KeyType::P256) => {
                let sk =
                    p256::SecretKey::from_slice(private.expose()).map_err(|_| Error::InvalidKey)?;
                let pk = public.prepared_p256().ok_or(Error::InvalidKey)?.as_affine();
                let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk);
                Ok(SecretBytes::from_slice(shared.raw_secret_bytes()))
            }
            (KeyType::Ed25519, _) => Err(Error::UnsupportedKeyType(KeyType::Ed25519)),
            (a, b) => Err(Error::KeyTypeMismatch(a, b)),
        }
    }

    fn ed25519_to_x25519_public(&self, public: &PublicKey) -> Result<PublicKey> {
        let vk = public
            .prepared_ed25519()
            .ok_or(Error::UnsupportedKeyType(public.key_type()))?;
        // Small order covers y = 1 (the identity, u undefined) and y = -1 (u = 0), which the
        // draft says to abort on, and the other low-order points X25519 would refuse anyway.
        if vk.is_weak() {
            return Err(Error::InvalidKey);
        }
        // curve25519-dalek's EdwardsPoint::to_montgomery: u = (1 + y) / (1 - y).
        Ok(PublicKey::x25519(vk.to_montgomery().to_bytes()))
    }

    fn ed25519_to_x25519_private(&self, private: &PrivateKey) -> Result<PrivateKey> {
        if private.key_type() != KeyType::Ed25519 {
            return Err(Error::UnsupportedKeyType(private.key_type()));
        }
        let mut seed = secret32(private)?;
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.zeroize();
        // SHA-512(seed)[..32], RFC 8032 §5.1.5 step 1 (before pruning).
        let mut scalar = sk.to_scalar_bytes();
        // RFC 7748 §5 decodeScalar25519 clamping (X25519 clamps again; done here so the bytes
        // equal libsodium's crypto_sign_ed25519_sk_to_curve25519).
        if let Some(first) = scalar.first_mut() {
            *first &= 248;
        }
        if let Some(last) = scalar.last_mut() {
            *last &= 127;
            *last |= 64;
        }
        let key = PrivateKey::from_bytes(KeyType::X25519, &scalar);
        scalar.zeroize();
        key
    }
}
