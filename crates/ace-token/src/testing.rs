//! Fixed keys and helpers for tests, benches and fuzzing (feature `test-util`).
//!
//! The keys are the published ones of RFC 8392 Appendix A.2 / cose-wg/Examples `CWT/*.json`;
//! never use them outside tests.

use alloc::vec::Vec;

use ace_crypto::backend::conformance::hex;
use ace_crypto::{KeyType, PrivateKey, PublicKey};

use crate::claims::{Claims, ClaimsBuilder};
use crate::keys::{KeySet, TokenKey};
use crate::time::UnixTime;

/// RFC 8392 A.2.3 P-256 private key `d`.
pub const ES256_D: &str = "6c1382765aec5358f117733d281c1c7bdc39884d04a45a1e6c67c858bc206c19";
/// RFC 8392 A.2.3 P-256 `x`.
pub const ES256_X: &str = "143329cce7868e416927599cf65a34f3ce2ffda55a7eca69ed8919a394d42f0f";
/// RFC 8392 A.2.3 P-256 `y`.
pub const ES256_Y: &str = "60f7f1a780d8a783bfb7a2dd6b2796e8128dbbcef9d3d168db9529971a36e7b9";
/// RFC 8392 A.2.2 256-bit symmetric key (MAC examples A.4, A.7).
pub const HMAC_KEY: &str = "403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388";
/// RFC 8392 A.2.1 128-bit symmetric key (encryption examples A.5, A.6).
pub const AES_KEY: &str = "231f4c4d4d3051fdc2ec0a3851d5b383";
/// RFC 8032 §7.1 TEST 1 Ed25519 seed.
pub const ED25519_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// RFC 8032 §7.1 TEST 1 Ed25519 public key.
pub const ED25519_PUB: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// Decodes a hex string (test helper; ignores invalid digits).
#[must_use]
pub fn from_hex(s: &str) -> Vec<u8> {
    hex(s)
}

/// The RFC 8392 P-256 signing key.
///
/// # Errors
/// Never for the fixed key.
pub fn es256_private() -> Result<PrivateKey, ace_crypto::Error> {
    PrivateKey::from_bytes(KeyType::P256, &hex(ES256_D))
}

/// The RFC 8392 P-256 public key.
///
/// # Errors
/// Never for the fixed key.
pub fn es256_public() -> Result<PublicKey, ace_crypto::Error> {
    PublicKey::p256_from_coordinates(&hex(ES256_X), &hex(ES256_Y))
}

/// The RFC 8032 TEST 1 signing key.
///
/// # Errors
/// Never for the fixed key.
pub fn ed25519_private() -> Result<PrivateKey, ace_crypto::Error> {
    PrivateKey::from_bytes(KeyType::Ed25519, &hex(ED25519_SEED))
}

/// The RFC 8032 TEST 1 public key.
///
/// # Errors
/// Never for the fixed key.
pub fn ed25519_public() -> Result<PublicKey, ace_crypto::Error> {
    PublicKey::okp(KeyType::Ed25519, &hex(ED25519_PUB))
}

/// A key set with every fixed key: ES256 (`kid` "es256"), EdDSA ("ed25519"), HMAC
/// ("our-secret"), AES-128 ("aes128").
///
/// # Errors
/// Never for the fixed keys.
pub fn key_set() -> Result<KeySet, ace_crypto::Error> {
    Ok(KeySet::new()
        .with(TokenKey::public(es256_public()?).with_kid(*b"es256"))
        .with(TokenKey::public(ed25519_public()?).with_kid(*b"ed25519"))
        .with(TokenKey::symmetric(hex(HMAC_KEY)).with_kid(*b"our-secret"))
        .with(TokenKey::symmetric(hex(AES_KEY)).with_kid(*b"aes128")))
}

/// Claims for audience `rs1` from issuer `as`, valid from `now - 10` for an hour.
#[must_use]
pub fn claims_for(now: UnixTime) -> Claims {
    ClaimsBuilder::new()
        .issuer("as")
        .subject("client")
        .audience("rs1")
        .issued_at(now.saturating_sub(10))
        .not_before(now.saturating_sub(10))
        .expiration(now.saturating_add(3600))
        .cti(*b"token-1")
        .build()
}
