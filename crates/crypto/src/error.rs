//! The crate error type.

use coset::iana;

use crate::key::KeyType;

/// Result alias with [`Error`] as the default error.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything a backend operation can fail with.
///
/// Verification failures ([`Error::InvalidSignature`], [`Error::InvalidTag`],
/// [`Error::DecryptionFailed`]) carry no detail on purpose: a caller must not learn more than
/// "it did not verify".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend does not implement this COSE algorithm (the default of every trait method).
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(iana::Algorithm),
    /// The backend does not implement this key type for the requested operation.
    #[error("unsupported key type {0:?}")]
    UnsupportedKeyType(KeyType),
    /// The key given does not fit the algorithm (e.g. an Ed25519 key for ES256).
    #[error("key type {key:?} cannot be used with algorithm {alg:?}")]
    KeyAlgorithmMismatch {
        /// The algorithm requested.
        alg: iana::Algorithm,
        /// The type of the key given.
        key: KeyType,
    },
    /// Two keys of different types were combined (ECDH).
    #[error("key types {0:?} and {1:?} cannot be combined")]
    KeyTypeMismatch(KeyType, KeyType),
    /// Key bytes do not form a valid key (point not on the curve, scalar zero or out of range).
    #[error("invalid key material")]
    InvalidKey,
    /// A key has the wrong length for the algorithm.
    #[error("invalid key length: expected {expected}, got {actual}")]
    InvalidKeyLength {
        /// Length the algorithm needs.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// A nonce has the wrong length for the AEAD algorithm.
    #[error("invalid nonce length: expected {expected}, got {actual}")]
    InvalidNonceLength {
        /// Length the algorithm needs.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// A requested output length is not possible (e.g. HKDF output longer than 255 hash lengths).
    #[error("invalid output length {0}")]
    InvalidOutputLength(usize),
    /// A signature did not verify, or was malformed.
    #[error("signature verification failed")]
    InvalidSignature,
    /// A MAC tag did not verify, or had the wrong length.
    #[error("MAC tag verification failed")]
    InvalidTag,
    /// AEAD decryption failed (wrong key, nonce, AAD, tampered ciphertext or tag).
    #[error("AEAD decryption failed")]
    DecryptionFailed,
    /// ECDH produced the all-zero shared secret (low-order public key).
    #[error("ECDH shared secret is not contributory")]
    NonContributory,
}
