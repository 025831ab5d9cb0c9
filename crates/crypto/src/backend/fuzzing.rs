//! A backend for fuzzing only (compiled under `cfg(fuzzing)`, which cargo-fuzz sets): it
//! accepts every signature, MAC tag and AEAD tag, so that fuzz targets get past authentication
//! and reach the parsers and state machines behind it. Never available in a normal build.
//!
//! Signatures and MAC tags are zero bytes; AEAD "encryption" is the identity followed by a zero
//! tag of the algorithm's length, and "decryption" strips that many bytes. Public keys, HKDF and
//! ECDH (including the Ed25519 → X25519 mapping) are the real RustCrypto ones, so key
//! derivation behaves as in production.

use alloc::vec;
use alloc::vec::Vec;

use super::rustcrypto::RustCrypto;
use super::{
    AeadBackend, CryptoBackend, EcdhBackend, HkdfBackend, MacBackend, SignBackend, aead_params,
    mac_tag_len,
};
use crate::{Algorithm, Error, PrivateKey, PublicKey, Result, SecretBytes};

/// Accepts everything; see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl CryptoBackend for AcceptAll {
    fn public_key(&self, key: &PrivateKey) -> Result<PublicKey> {
        RustCrypto.public_key(key)
    }
}

impl SignBackend for AcceptAll {
    fn sign(&self, _alg: Algorithm, _key: &PrivateKey, _msg: &[u8]) -> Result<Vec<u8>> {
        Ok(vec![0; 64])
    }

    fn verify(&self, _alg: Algorithm, _key: &PublicKey, _msg: &[u8], _sig: &[u8]) -> Result<()> {
        Ok(())
    }
}

impl MacBackend for AcceptAll {
    fn mac(&self, alg: Algorithm, _key: &[u8], _msg: &[u8]) -> Result<Vec<u8>> {
        Ok(vec![0; mac_tag_len(alg).unwrap_or(32)])
    }

    fn mac_verify(&self, _alg: Algorithm, _key: &[u8], _msg: &[u8], _tag: &[u8]) -> Result<()> {
        Ok(())
    }
}

fn tag_len(alg: Algorithm) -> usize {
    aead_params(alg).map_or(16, |p| p.tag_len)
}

impl AeadBackend for AcceptAll {
    fn seal(
        &self,
        alg: Algorithm,
        _key: &[u8],
        _nonce: &[u8],
        _aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let mut v = plaintext.to_vec();
        v.resize(plaintext.len().saturating_add(tag_len(alg)), 0);
        Ok(v)
    }

    fn open(
        &self,
        alg: Algorithm,
        _key: &[u8],
        _nonce: &[u8],
        _aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        let len = ciphertext
            .len()
            .checked_sub(tag_len(alg))
            .ok_or(Error::DecryptionFailed)?;
        Ok(ciphertext.get(..len).unwrap_or_default().to_vec())
    }
}

impl HkdfBackend for AcceptAll {
    fn hkdf_extract(&self, alg: Algorithm, salt: &[u8], ikm: &[u8]) -> Result<SecretBytes> {
        RustCrypto.hkdf_extract(alg, salt, ikm)
    }

    fn hkdf_expand(&self, alg: Algorithm, prk: &[u8], info: &[u8], okm: &mut [u8]) -> Result<()> {
        RustCrypto.hkdf_expand(alg, prk, info, okm)
    }
}

impl EcdhBackend for AcceptAll {
    fn ecdh(&self, private: &PrivateKey, public: &PublicKey) -> Result<SecretBytes> {
        RustCrypto.ecdh(private, public)
    }

    fn ed25519_to_x25519_public(&self, public: &PublicKey) -> Result<PublicKey> {
        RustCrypto.ed25519_to_x25519_public(public)
    }

    fn ed25519_to_x25519_private(&self, private: &PrivateKey) -> Result<PrivateKey> {
        RustCrypto.ed25519_to_x25519_private(private)
    }
}
