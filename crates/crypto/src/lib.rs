//! Crypto backend for the ACE workspace: one set of traits that `ace-token`, OSCORE (RFC 8613)
//! and Group OSCORE use, and a RustCrypto implementation as the default.
//!
//! ```text
//!  caller (ace-token, ace-oscore, group-oscore)
//!     │  alg: coset::iana::Algorithm, key, bytes        rng: &mut impl CryptoRng (keygen only)
//!     ▼
//!  SignBackend · MacBackend · AeadBackend · HkdfBackend · EcdhBackend   (all on &self)
//!     ▼
//!  backend::rustcrypto::RustCrypto (feature `rustcrypto`)  or your own (HSM, hardware AES)
//! ```
//!
//! What it does not do: COSE structures (see `coset`, and `ace-token` which builds them through
//! these traits), key storage, ambient randomness.
//!
//! ```
//! # #[cfg(feature = "rustcrypto")] {
//! use ace_crypto::{AeadBackend, MacBackend, backend::rustcrypto::RustCrypto};
//! use coset::iana::Algorithm;
//!
//! let be = RustCrypto::new();
//! let tag = be.mac(Algorithm::HMAC_256_64, b"key", b"message")?;
//! assert_eq!(tag.len(), 8);
//! be.mac_verify(Algorithm::HMAC_256_64, b"key", b"message", &tag)?;
//!
//! let key = [7u8; 16];
//! let nonce = [1u8; 13];
//! let ct = be.seal(Algorithm::AES_CCM_16_64_128, &key, &nonce, b"aad", b"hello")?;
//! let pt = be.open(Algorithm::AES_CCM_16_64_128, &key, &nonce, b"aad", &ct)?;
//! assert_eq!(pt, b"hello");
//! # }
//! # Ok::<(), ace_crypto::Error>(())
//! ```
//!
//! Features: `std` (default; `os_rng()`), `rustcrypto` (default; the backend), `test-util`
//! (`backend::conformance`, the RFC vectors every backend must pass).
//!
//! Specs: RFC 9053 (COSE algorithms), RFC 8032 (EdDSA), RFC 6979 (deterministic ECDSA),
//! RFC 2104/4231 (HMAC), RFC 5869 (HKDF), RFC 3610 (CCM), RFC 8439 (ChaCha20/Poly1305),
//! RFC 7748 (X25519).

#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod backend;
mod error;
mod key;
#[cfg(feature = "std")]
mod rng;

pub use backend::{
    AeadBackend, AeadParams, CryptoBackend, EcdhBackend, FullBackend, HkdfBackend, HkdfHash,
    MacBackend, SignBackend, aead_params, hkdf_hash, mac_tag_len, signature_key_type,
};
pub use error::{Error, Result};
pub use key::{KeyType, PrivateKey, PublicKey, SecretBytes};
#[cfg(feature = "std")]
pub use rng::{OsRng, os_rng};

/// Re-export of the `coset` algorithm registry the traits are keyed by.
pub use coset::iana::{Algorithm, EllipticCurve};
/// Re-export of the RNG traits used for key generation.
pub use rand_core::{CryptoRng, Rng};
