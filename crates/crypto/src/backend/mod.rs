//! The backend traits and the algorithm tables they share.
//!
//! ```text
//!                 CryptoBackend (base: public key derivation)
//!   ┌──────────────┬───────────┬─────────────┬─────────────┬─────────────┐
//!   SignBackend    MacBackend  AeadBackend   HkdfBackend   EcdhBackend
//!   sign/verify    mac/verify  seal/open     extract/expand  agree, Ed25519→X25519
//! ```
//!
//! Every method takes `&self` (a backend is stateless and shareable in an `Arc`), is keyed by a
//! [`coset::iana::Algorithm`] (ECDH by key type), and by default returns
//! [`Error::UnsupportedAlgorithm`], so a backend implements only what it has. No method draws
//! randomness: signatures are deterministic (RFC 6979 for ECDSA, RFC 8032 for EdDSA), AEAD nonces
//! are chosen by the caller, and key generation lives on the key types
//! ([`PrivateKey::generate`](crate::PrivateKey::generate),
//! [`SecretBytes::generate`](crate::SecretBytes::generate)) with a per-call `CryptoRng`.

use alloc::vec::Vec;

use coset::iana::Algorithm;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::key::{KeyType, PrivateKey, PublicKey, SecretBytes};

#[cfg(feature = "rustcrypto")]
pub mod rustcrypto;

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;

#[cfg(all(fuzzing, feature = "rustcrypto"))]
pub mod fuzzing;

/// The base trait: what every backend offers regardless of capability.
pub trait CryptoBackend {
    /// Derives the public key of `key`.
    ///
    /// # Errors
    /// [`Error::UnsupportedKeyType`] by default.
    fn public_key(&self, key: &PrivateKey) -> Result<PublicKey> {
        Err(Error::UnsupportedKeyType(key.key_type()))
    }
}

/// Digital signatures (COSE_Sign1, COSE_Sign, Group OSCORE countersignatures).
///
/// Signatures are in COSE form: ES256 is the raw `r || s` (64 bytes, RFC 9053 §2.1), EdDSA the
/// 64-byte RFC 8032 signature.
pub trait SignBackend: CryptoBackend {
    /// Signs `msg` (the full to-be-signed bytes; hashing is part of the algorithm).
    ///
    /// # Errors
    /// [`Error::UnsupportedAlgorithm`] by default; [`Error::KeyAlgorithmMismatch`] when the key
    /// does not fit `alg`.
    fn sign(&self, alg: Algorithm, key: &PrivateKey, msg: &[u8]) -> Result<Vec<u8>> {
        let _ = (key, msg);
        Err(Error::UnsupportedAlgorithm(alg))
    }

    /// Verifies `signature` over `msg`.
    ///
    /// # Errors
    /// [`Error::InvalidSignature`] when it does not verify or is malformed;
    /// [`Error::UnsupportedAlgorithm`] by default.
    fn verify(&self, alg: Algorithm, key: &PublicKey, msg: &[u8], signature: &[u8]) -> Result<()> {
        let _ = (key, msg, signature);
        Err(Error::UnsupportedAlgorithm(alg))
    }
}

/// Message authentication codes (COSE_Mac0, COSE_Mac).
pub trait MacBackend: CryptoBackend {
    /// Computes the tag of `msg`, truncated as `alg` says (HMAC 256/64 → 8 bytes).
    ///
    /// # Errors
    /// [`Error::UnsupportedAlgorithm`] by default.
    fn mac(&self, alg: Algorithm, key: &[u8], msg: &[u8]) -> Result<Vec<u8>> {
        let _ = (key, msg);
        Err(Error::UnsupportedAlgorithm(alg))
    }

    /// Checks `tag` against the tag of `msg`, in constant time.
    ///
    /// # Errors
    /// [`Error::InvalidTag`] on mismatch (including a wrong tag length).
    fn mac_verify(&self, alg: Algorithm, key: &[u8], msg: &[u8], tag: &[u8]) -> Result<()> {
        let expected = self.mac(alg, key, msg)?;
        if expected.len() == tag.len() && bool::from(expected.ct_eq(tag)) {
            Ok(())
        } else {
            Err(Error::InvalidTag)
        }
    }
}

/// Authenticated encryption (COSE_Encrypt0, COSE_Encrypt, OSCORE).
///
/// Ciphertexts carry the tag appended, as COSE does.
pub trait AeadBackend: CryptoBackend {
    /// Encrypts `plaintext`; returns ciphertext || tag.
    ///
    /// # Errors
    /// [`Error::UnsupportedAlgorithm`] by default; [`Error::InvalidKeyLength`],
    /// [`Error::InvalidNonceLength`] for wrong sizes.
    fn seal(
        &self,
        alg: Algorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let _ = (key, nonce, aad, plaintext);
        Err(Error::UnsupportedAlgorithm(alg))
    }

    /// Decrypts ciphertext || tag.
    ///
    /// # Errors
    /// [`Error::DecryptionFailed`] when authentication fails; size errors as for
    /// [`AeadBackend::seal`].
    fn open(
        &self,
        alg: Algorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        let _ = (key, nonce, aad, ciphertext);
        Err(Error::UnsupportedAlgorithm(alg))
    }
}

/// HKDF (RFC 5869), identified by the COSE algorithm of its HMAC (RFC 9053 §3.1, as OSCORE does:
/// `HMAC 256/256` or `direct+HKDF-SHA-256` both mean HKDF-SHA-256).
pub trait HkdfBackend: CryptoBackend {
    /// HKDF-Extract: the pseudorandom key.
    ///
    /// # Errors
    /// [`Error::UnsupportedAlgorithm`] by default.
    fn hkdf_extract(&self, alg: Algorithm, salt: &[u8], ikm: &[u8]) -> Result<SecretBytes> {
        let _ = (salt, ikm);
        Err(Error::UnsupportedAlgorithm(alg))
    }

    /// HKDF-Expand into `okm` (its length is L).
    ///
    /// # Errors
    /// [`Error::InvalidOutputLength`] when L exceeds 255 hash lengths; [`Error::InvalidKey`]
    /// when `prk` is shorter than a hash.
    fn hkdf_expand(&self, alg: Algorithm, prk: &[u8], info: &[u8], okm: &mut [u8]) -> Result<()> {
        let _ = (prk, info, okm);
        Err(Error::UnsupportedAlgorithm(alg))
    }

    /// Extract then expand.
    ///
    /// # Errors
    /// As [`HkdfBackend::hkdf_extract`] and [`HkdfBackend::hkdf_expand`].
    fn hkdf(
        &self,
        alg: Algorithm,
        salt: &[u8],
        ikm: &[u8],
        info: &[u8],
        okm: &mut [u8],
    ) -> Result<()> {
        let prk = self.hkdf_extract(alg, salt, ikm)?;
        self.hkdf_expand(alg, prk.expose(), info, okm)
    }
}

/// Elliptic-curve Diffie-Hellman (Group OSCORE pairwise keys, ECDH-ES recipients).
pub trait EcdhBackend: CryptoBackend {
    /// The shared secret of `private` and `public` (X25519: 32 bytes; P-256: the x coordinate).
    ///
    /// # Errors
    /// [`Error::KeyTypeMismatch`] for keys of different types; [`Error::InvalidKey`] for a
    /// public key not on the curve; [`Error::NonContributory`] for an all-zero X25519 result;
    /// [`Error::UnsupportedKeyType`] by default.
    fn ecdh(&self, private: &PrivateKey, public: &PublicKey) -> Result<SecretBytes> {
        let _ = public;
        Err(Error::UnsupportedKeyType(private.key_type()))
    }

    /// Maps an Ed25519 public key to the X25519 public key of the same key pair: the
    /// Montgomery u-coordinate `u = (1 + y) / (1 - y) mod p` of the Edwards point (RFC 7748
    /// §4.1), as draft-ietf-core-oscore-groupcomm §2.5.2.1 (Curve25519 in "ECDH with
    /// Montgomery Coordinates") asks for pairwise keys with EdDSA credentials.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a key of small order, which includes the draft's
    /// "MUST abort" points y = 1 and y = −1 (u undefined or 0);
    /// [`Error::UnsupportedKeyType`] for a key that is not Ed25519, and by default.
    fn ed25519_to_x25519_public(&self, public: &PublicKey) -> Result<PublicKey> {
        let _ = public;
        Err(Error::UnsupportedKeyType(KeyType::Ed25519))
    }

    /// Maps an Ed25519 private key (the RFC 8032 seed) to the X25519 private key of the same
    /// key pair: the first 32 bytes of SHA-512(seed), the scalar of RFC 8032 §5.1.5 step 1,
    /// clamped as RFC 7748 §5 does (the same bytes as libsodium's
    /// `crypto_sign_ed25519_sk_to_curve25519`). Its X25519 public key is
    /// [`EcdhBackend::ed25519_to_x25519_public`] of the Ed25519 public key.
    ///
    /// # Errors
    /// [`Error::UnsupportedKeyType`] for a key that is not Ed25519, and by default.
    fn ed25519_to_x25519_private(&self, private: &PrivateKey) -> Result<PrivateKey> {
        let _ = private;
        Err(Error::UnsupportedKeyType(KeyType::Ed25519))
    }

    /// ECDH as Group OSCORE's pairwise mode does it (draft-ietf-core-oscore-groupcomm
    /// §2.5.1): Ed25519 keys are first mapped to X25519 (an Ed25519 `private` paired with an
    /// OKP `public` with [`EcdhBackend::ed25519_to_x25519_private`], then an Ed25519 `public`
    /// paired with an X25519 private key with [`EcdhBackend::ed25519_to_x25519_public`]);
    /// P-256 and X25519 keys are used as they are. Then [`EcdhBackend::ecdh`].
    ///
    /// # Errors
    /// As the mappings and [`EcdhBackend::ecdh`] ([`Error::KeyTypeMismatch`] for P-256 with
    /// an OKP key).
    fn ecdh_mapped(&self, private: &PrivateKey, public: &PublicKey) -> Result<SecretBytes> {
        let mapped_private = match (private.key_type(), public.key_type()) {
            (KeyType::Ed25519, KeyType::Ed25519 | KeyType::X25519) => {
                Some(self.ed25519_to_x25519_private(private)?)
            }
            (KeyType::Ed25519, other) => {
                return Err(Error::KeyTypeMismatch(KeyType::Ed25519, other));
            }
            _ => None,
        };
        let private = mapped_private.as_ref().unwrap_or(private);
        let mapped_public = match (private.key_type(), public.key_type()) {
            (KeyType::X25519, KeyType::Ed25519) => Some(self.ed25519_to_x25519_public(public)?),
            _ => None,
        };
        self.ecdh(private, mapped_public.as_ref().unwrap_or(public))
    }
}

/// A backend with every capability; blanket-implemented.
pub trait FullBackend: SignBackend + MacBackend + AeadBackend + HkdfBackend + EcdhBackend {}

impl<T: SignBackend + MacBackend + AeadBackend + HkdfBackend + EcdhBackend + ?Sized> FullBackend
    for T
{
}

/// Sizes of an AEAD algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AeadParams {
    /// Key length in bytes.
    pub key_len: usize,
    /// Nonce (IV) length in bytes.
    pub nonce_len: usize,
    /// Tag length in bytes.
    pub tag_len: usize,
}

/// Sizes of the AEAD algorithms of RFC 9053 §4 and RFC 8439 that this crate names, `None` for
/// anything else.
#[must_use]
pub const fn aead_params(alg: Algorithm) -> Option<AeadParams> {
    let (key_len, nonce_len, tag_len) = match alg {
        Algorithm::A128GCM => (16, 12, 16),
        Algorithm::A192GCM => (24, 12, 16),
        Algorithm::A256GCM => (32, 12, 16),
        Algorithm::AES_CCM_16_64_128 => (16, 13, 8),
        Algorithm::AES_CCM_16_64_256 => (32, 13, 8),
        Algorithm::AES_CCM_64_64_128 => (16, 7, 8),
        Algorithm::AES_CCM_64_64_256 => (32, 7, 8),
        Algorithm::AES_CCM_16_128_128 => (16, 13, 16),
        Algorithm::AES_CCM_16_128_256 => (32, 13, 16),
        Algorithm::AES_CCM_64_128_128 => (16, 7, 16),
        Algorithm::AES_CCM_64_128_256 => (32, 7, 16),
        Algorithm::ChaCha20Poly1305 => (32, 12, 16),
        _ => return None,
    };
    Some(AeadParams {
        key_len,
        nonce_len,
        tag_len,
    })
}

/// Tag length of the HMAC algorithms of RFC 9053 §3.1, `None` for anything else.
#[must_use]
pub const fn mac_tag_len(alg: Algorithm) -> Option<usize> {
    match alg {
        Algorithm::HMAC_256_64 => Some(8),
        Algorithm::HMAC_256_256 => Some(32),
        Algorithm::HMAC_384_384 => Some(48),
        Algorithm::HMAC_512_512 => Some(64),
        _ => None,
    }
}

/// The key type a signature algorithm needs (`ES256` → P-256, `EdDSA`/`Ed25519` → Ed25519).
#[must_use]
pub const fn signature_key_type(alg: Algorithm) -> Option<KeyType> {
    match alg {
        Algorithm::ES256 | Algorithm::ESP256 => Some(KeyType::P256),
        Algorithm::EdDSA | Algorithm::Ed25519 => Some(KeyType::Ed25519),
        _ => None,
    }
}

/// The hash behind an HKDF algorithm identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HkdfHash {
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

/// Maps an HKDF algorithm identifier to its hash: `HMAC 256/256` (5) and `direct+HKDF-SHA-256`
/// (-10) are HKDF-SHA-256 (RFC 8613 §3.2, RFC 9203 §3.2.1); `HMAC 512/512` (7) and
/// `direct+HKDF-SHA-512` (-11) are HKDF-SHA-512.
#[must_use]
pub const fn hkdf_hash(alg: Algorithm) -> Option<HkdfHash> {
    match alg {
        Algorithm::HMAC_256_256 | Algorithm::Direct_HKDF_SHA_256 => Some(HkdfHash::Sha256),
        Algorithm::HMAC_512_512 | Algorithm::Direct_HKDF_SHA_512 => Some(HkdfHash::Sha512),
        _ => None,
    }
}
