//! Key containers shared by every backend.
//!
//! Keys here are plain, validated bytes: they do not depend on any crypto library, so a
//! hardware backend can use them as well as the RustCrypto one. Secret material lives in
//! [`SecretBytes`], which is wiped on drop and never printed by `Debug`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// Secret bytes (a symmetric key, a private scalar, a shared secret, a PRK).
///
/// Zeroized on drop; `Debug` shows only the length; equality is constant time.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes`.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// `len` random bytes from `rng` (a fresh symmetric key).
    #[must_use]
    pub fn generate<R: CryptoRng + ?Sized>(len: usize, rng: &mut R) -> Self {
        let mut v = alloc::vec![0u8; len];
        rng.fill_bytes(&mut v);
        Self(v)
    }

    /// The secret bytes. Callers must not log or persist them unprotected.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes([REDACTED; {}])", self.0.len())
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretBytes {}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

/// Asymmetric key types the backend traits know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// NIST P-256 (COSE kty EC2, crv 1): ES256 signatures and ECDH.
    P256,
    /// Ed25519 (COSE kty OKP, crv 6): EdDSA signatures.
    Ed25519,
    /// X25519 (COSE kty OKP, crv 4): ECDH.
    X25519,
}

impl KeyType {
    /// Length of the private key (scalar or seed) in bytes.
    #[must_use]
    pub const fn private_len(self) -> usize {
        32
    }
}

/// A public key (P-256, Ed25519 or X25519), opaque.
///
/// Constructors check lengths. With the `rustcrypto` feature they also check the point (on the
/// curve, decompressible) and keep the decoded form, so verification does not decode the key
/// again: keys are usually loaded once and used for many tokens. Equality, hashing and `Debug`
/// use the encoded bytes only.
#[derive(Clone)]
pub struct PublicKey(Box<Inner>);

#[derive(Clone)]
enum Inner {
    P256 {
        x: [u8; 32],
        y: [u8; 32],
        #[cfg(feature = "rustcrypto")]
        prepared: p256::ecdsa::VerifyingKey,
    },
    Ed25519 {
        x: [u8; 32],
        #[cfg(feature = "rustcrypto")]
        prepared: ed25519_dalek::VerifyingKey,
    },
    X25519 {
        x: [u8; 32],
    },
}

impl PublicKey {
    /// The key type.
    #[must_use]
    pub fn key_type(&self) -> KeyType {
        match *self.0 {
            Inner::P256 { .. } => KeyType::P256,
            Inner::Ed25519 { .. } => KeyType::Ed25519,
            Inner::X25519 { .. } => KeyType::X25519,
        }
    }

    /// A P-256 key from its `x` and `y` coordinates (32 bytes each, big endian), as in a COSE
    /// EC2 key.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when a coordinate is not 32 bytes or (feature `rustcrypto`) the
    /// point is not on the curve.
    pub fn p256_from_coordinates(x: &[u8], y: &[u8]) -> Result<Self> {
        let x: [u8; 32] = x.try_into().map_err(|_| Error::InvalidKey)?;
        let y: [u8; 32] = y.try_into().map_err(|_| Error::InvalidKey)?;
        #[cfg(feature = "rustcrypto")]
        let prepared = {
            let sec1 = sec1_uncompressed(&x, &y);
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| Error::InvalidKey)?
        };
        Ok(Self(Box::new(Inner::P256 {
            x,
            y,
            #[cfg(feature = "rustcrypto")]
            prepared,
        })))
    }

    /// A P-256 key from an uncompressed SEC1 point (`0x04 || x || y`, 65 bytes).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for any other encoding (compressed points are not accepted) or an
    /// invalid point.
    pub fn p256_from_sec1(bytes: &[u8]) -> Result<Self> {
        match bytes.split_first() {
            Some((0x04, rest)) if rest.len() == 64 => {
                let (x, y) = rest.split_at(32);
                Self::p256_from_coordinates(x, y)
            }
            _ => Err(Error::InvalidKey),
        }
    }

    /// An Ed25519 key (RFC 8032 encoding).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] (feature `rustcrypto`) when the point does not decompress.
    pub fn ed25519(x: [u8; 32]) -> Result<Self> {
        #[cfg(feature = "rustcrypto")]
        let prepared =
            ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|_| Error::InvalidKey)?;
        Ok(Self(Box::new(Inner::Ed25519 {
            x,
            #[cfg(feature = "rustcrypto")]
            prepared,
        })))
    }

    /// An X25519 key (RFC 7748 u-coordinate; every 32-byte string is one).
    #[must_use]
    pub fn x25519(x: [u8; 32]) -> Self {
        Self(Box::new(Inner::X25519 { x }))
    }

    /// An OKP key (Ed25519 or X25519) from its `x`, as in a COSE OKP key.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when `x` is not 32 bytes or not a valid point;
    /// [`Error::UnsupportedKeyType`] for P-256.
    pub fn okp(kind: KeyType, x: &[u8]) -> Result<Self> {
        let x: [u8; 32] = x.try_into().map_err(|_| Error::InvalidKey)?;
        match kind {
            KeyType::Ed25519 => Self::ed25519(x),
            KeyType::X25519 => Ok(Self::x25519(x)),
            KeyType::P256 => Err(Error::UnsupportedKeyType(kind)),
        }
    }

    /// The P-256 coordinates `(x, y)`, `None` for other key types.
    #[must_use]
    pub fn p256_coordinates(&self) -> Option<(&[u8; 32], &[u8; 32])> {
        match &*self.0 {
            Inner::P256 { x, y, .. } => Some((x, y)),
            _ => None,
        }
    }

    /// The `x` of an OKP key (Ed25519, X25519), `None` for P-256.
    #[must_use]
    pub fn okp_x(&self) -> Option<&[u8; 32]> {
        match &*self.0 {
            Inner::Ed25519 { x, .. } | Inner::X25519 { x } => Some(x),
            Inner::P256 { .. } => None,
        }
    }

    /// Uncompressed SEC1 encoding of a P-256 key, `None` for other key types.
    #[must_use]
    pub fn to_sec1_uncompressed(&self) -> Option<[u8; 65]> {
        self.p256_coordinates()
            .map(|(x, y)| sec1_uncompressed(x, y))
    }

    /// The decoded P-256 key (feature `rustcrypto`).
    #[cfg(feature = "rustcrypto")]
    pub(crate) fn prepared_p256(&self) -> Option<&p256::ecdsa::VerifyingKey> {
        match &*self.0 {
            Inner::P256 { prepared, .. } => Some(prepared),
            _ => None,
        }
    }

    /// The decoded Ed25519 key (feature `rustcrypto`).
    #[cfg(feature = "rustcrypto")]
    pub(crate) fn prepared_ed25519(&self) -> Option<&ed25519_dalek::VerifyingKey> {
        match &*self.0 {
            Inner::Ed25519 { prepared, .. } => Some(prepared),
            _ => None,
        }
    }

    fn encoded(&self) -> (KeyType, &[u8; 32], Option<&[u8; 32]>) {
        match &*self.0 {
            Inner::P256 { x, y, .. } => (KeyType::P256, x, Some(y)),
            Inner::Ed25519 { x, .. } => (KeyType::Ed25519, x, None),
            Inner::X25519 { x } => (KeyType::X25519, x, None),
        }
    }
}

fn sec1_uncompressed(x: &[u8; 32], y: &[u8; 32]) -> [u8; 65] {
    let mut out = [0u8; 65];
    let src = core::iter::once(&0x04u8).chain(x.iter()).chain(y.iter());
    for (o, b) in out.iter_mut().zip(src) {
        *o = *b;
    }
    out
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.encoded() == other.encoded()
    }
}

impl Eq for PublicKey {}

impl core::hash::Hash for PublicKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.encoded().hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, x, _) = self.encoded();
        write!(f, "PublicKey::{kind:?}(")?;
        for b in x.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// The P-256 group order n, big endian (SEC 2 §2.4.2).
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `true` when the big-endian scalar is in `1..n` (checked without early exit on the secret).
fn p256_scalar_in_range(d: &[u8; 32]) -> bool {
    // Constant-time big-endian comparison d < n.
    let mut borrow: i16 = 0;
    for (a, b) in d.iter().rev().zip(P256_ORDER.iter().rev()) {
        let diff = i16::from(*a) - i16::from(*b) - borrow;
        borrow = i16::from(diff < 0);
    }
    let less_than_n = borrow == 1;
    let nonzero = d.iter().fold(0u8, |acc, b| acc | b) != 0;
    less_than_n & nonzero
}

/// A private key (P-256 scalar, Ed25519 seed, X25519 scalar), zeroized on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PrivateKey {
    #[zeroize(skip)]
    kind: KeyType,
    d: SecretBytes,
}

impl PrivateKey {
    /// A private key from its 32 bytes (COSE `d`).
    ///
    /// # Errors
    /// [`Error::InvalidKeyLength`] when `d` is not 32 bytes; [`Error::InvalidKey`] for a P-256
    /// scalar that is zero or not below the group order.
    pub fn from_bytes(kind: KeyType, d: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = d.try_into().map_err(|_| Error::InvalidKeyLength {
            expected: kind.private_len(),
            actual: d.len(),
        })?;
        if kind == KeyType::P256 && !p256_scalar_in_range(&arr) {
            return Err(Error::InvalidKey);
        }
        Ok(Self {
            kind,
            d: SecretBytes::from_slice(&arr),
        })
    }

    /// A fresh random private key of `kind`.
    #[must_use]
    pub fn generate<R: CryptoRng + ?Sized>(kind: KeyType, rng: &mut R) -> Self {
        let mut d = [0u8; 32];
        loop {
            rng.fill_bytes(&mut d);
            // P-256: rejection sampling; the chance of a retry is below 2^-32.
            if kind != KeyType::P256 || p256_scalar_in_range(&d) {
                break;
            }
        }
        let key = Self {
            kind,
            d: SecretBytes::from_slice(&d),
        };
        d.zeroize();
        key
    }

    /// The key type.
    #[must_use]
    pub const fn key_type(&self) -> KeyType {
        self.kind
    }

    /// The private bytes. Callers must not log or persist them unprotected.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        self.d.expose()
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey::{:?}([REDACTED])", self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p256_range_check() {
        assert!(!p256_scalar_in_range(&[0u8; 32]));
        assert!(!p256_scalar_in_range(&P256_ORDER));
        let mut below = P256_ORDER;
        below[31] -= 1;
        assert!(p256_scalar_in_range(&below));
        assert!(!p256_scalar_in_range(&[0xff; 32]));
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(p256_scalar_in_range(&one));
    }

    #[test]
    fn debug_redacts_secrets() {
        let k = PrivateKey::from_bytes(KeyType::Ed25519, &[0x42; 32]).unwrap();
        let s = alloc::format!("{k:?}");
        assert!(!s.contains("42"), "{s}");
        let sb = SecretBytes::from_slice(&[0xab; 4]);
        let s = alloc::format!("{sb:?}");
        assert!(!s.contains("ab") && s.contains("REDACTED"), "{s}");
    }

    #[test]
    fn sec1_parsing() {
        // The RFC 6979 A.2.5 public key.
        let x = [
            0x60, 0xfe, 0xd4, 0xba, 0x25, 0x5a, 0x9d, 0x31, 0xc9, 0x61, 0xeb, 0x74, 0xc6, 0x35,
            0x6d, 0x68, 0xc0, 0x49, 0xb8, 0x92, 0x3b, 0x61, 0xfa, 0x6c, 0xe6, 0x69, 0x62, 0x2e,
            0x60, 0xf2, 0x9f, 0xb6,
        ];
        let y = [
            0x79, 0x03, 0xfe, 0x10, 0x08, 0xb8, 0xbc, 0x99, 0xa4, 0x1a, 0xe9, 0xe9, 0x56, 0x28,
            0xbc, 0x64, 0xf2, 0xf1, 0xb2, 0x0c, 0x2d, 0x7e, 0x9f, 0x51, 0x77, 0xa3, 0xc2, 0x94,
            0xd4, 0x46, 0x22, 0x99,
        ];
        let p = sec1_uncompressed(&x, &y);
        let k = PublicKey::p256_from_sec1(&p).unwrap();
        assert_eq!(k.to_sec1_uncompressed().unwrap(), p);
        assert_eq!(k.p256_coordinates(), Some((&x, &y)));
        assert_eq!(PublicKey::p256_from_sec1(&p[..33]), Err(Error::InvalidKey));
        #[cfg(feature = "rustcrypto")]
        assert_eq!(
            PublicKey::p256_from_coordinates(&[1; 32], &[2; 32]),
            Err(Error::InvalidKey)
        );
        assert_eq!(
            PrivateKey::from_bytes(KeyType::X25519, &[1; 31]).unwrap_err(),
            Error::InvalidKeyLength {
                expected: 32,
                actual: 31
            }
        );
    }
}
