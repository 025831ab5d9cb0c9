//! Proof of possession (RFC 9431 §2.2.4.2; picks MQ-045, MQ-T2, MQ-T4).
//!
//! The proof is a raw HMAC-SHA-256 (32 bytes) for a symmetric `cnf` key, a raw Ed25519
//! signature (64 bytes) for an OKP Ed25519 key, and — only when the broker enables it — a raw
//! ES256 signature (`r ‖ s`, 64 bytes) for a P-256 key. No JWS or COSE wrapping. The input
//! is either the 32-byte TLS exporter value (exporter PoP) or `RS nonce ‖ client nonce`
//! (challenge/response, 16 bytes, RS nonce first: R4).
//!
//! Why the length check comes first: an attacker must not be able to make the broker try a
//! public key as an HMAC secret or the other way round (R13); the key type alone decides the
//! algorithm, and a proof of another length is refused before any crypto runs.

use ace_crypto::{Algorithm, KeyType, MacBackend as _, PrivateKey, SecretBytes, SignBackend as _};
use ace_token::{PopKey, PopKeyMaterial, RustCrypto};

use crate::consts::{HMAC_SHA256_LEN, SIGNATURE_LEN, TOKEN_LEN_PREFIX};
use crate::error::{Error, Result};

/// The algorithm a PoP key proves with, chosen by its key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PopAlgorithm {
    /// HMAC-SHA-256, 32-byte tag (symmetric `cnf`; HS256 is MTI).
    HmacSha256,
    /// Ed25519, 64-byte signature (OKP `cnf`; MTI).
    Ed25519,
    /// ECDSA P-256 with SHA-256, raw 64-byte `r ‖ s` (only by configuration).
    Es256,
}

impl PopAlgorithm {
    /// The proof length in bytes.
    #[must_use]
    pub const fn proof_len(self) -> usize {
        match self {
            Self::HmacSha256 => HMAC_SHA256_LEN,
            Self::Ed25519 | Self::Es256 => SIGNATURE_LEN,
        }
    }

    const fn cose(self) -> Algorithm {
        match self {
            Self::HmacSha256 => Algorithm::HMAC_256_256,
            Self::Ed25519 => Algorithm::EdDSA,
            Self::Es256 => Algorithm::ES256,
        }
    }
}

/// The PoP algorithm for `key`.
///
/// # Errors
/// [`Error::UnsupportedPopKey`] for X25519, or P-256 unless `allow_es256`;
/// [`Error::PopAlgorithmMismatch`] if the key's `alg` names another algorithm.
pub fn algorithm_for(key: &PopKey, allow_es256: bool) -> Result<PopAlgorithm> {
    let alg = match &key.material {
        PopKeyMaterial::Symmetric(_) => PopAlgorithm::HmacSha256,
        PopKeyMaterial::Public(pk) => match pk.key_type() {
            KeyType::Ed25519 => PopAlgorithm::Ed25519,
            KeyType::P256 if allow_es256 => PopAlgorithm::Es256,
            _ => return Err(Error::UnsupportedPopKey),
        },
        _ => return Err(Error::UnsupportedPopKey),
    };
    if let Some(restricted) = &key.alg {
        let ok = match (alg, restricted) {
            (PopAlgorithm::HmacSha256, coset::Algorithm::Assigned(a)) => {
                *a == Algorithm::HMAC_256_256
            }
            (_, coset::Algorithm::Assigned(a)) => *a == alg.cose(),
            _ => false,
        };
        if !ok {
            return Err(Error::PopAlgorithmMismatch);
        }
    }
    Ok(alg)
}

/// Verifies `proof` over `input` with the token's PoP key.
///
/// # Errors
/// [`Error::PopLength`] before any crypto if the length does not fit the key type;
/// [`Error::BadPop`] if the MAC or signature does not verify; see [`algorithm_for`].
pub fn verify(key: &PopKey, input: &[u8], proof: &[u8], allow_es256: bool) -> Result<PopAlgorithm> {
    let alg = algorithm_for(key, allow_es256)?;
    if proof.len() != alg.proof_len() {
        return Err(Error::PopLength {
            expected: alg.proof_len(),
            got: proof.len(),
        });
    }
    let ok = match &key.material {
        PopKeyMaterial::Symmetric(k) => RustCrypto
            .mac_verify(alg.cose(), k.expose(), input, proof)
            .is_ok(),
        PopKeyMaterial::Public(pk) => RustCrypto.verify(alg.cose(), pk, input, proof).is_ok(),
        _ => false,
    };
    if ok { Ok(alg) } else { Err(Error::BadPop) }
}

/// The client's PoP key: the symmetric key from the AS response, or its private key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientKey {
    /// A symmetric key (HMAC-SHA-256 PoP).
    Symmetric(SecretBytes),
    /// An Ed25519 or P-256 private key (signature PoP).
    Private(PrivateKey),
}

impl ClientKey {
    /// Computes the proof over `input`.
    ///
    /// # Errors
    /// [`Error::UnsupportedPopKey`] for an X25519 key; [`Error::Token`] if the backend fails.
    pub fn prove(&self, input: &[u8]) -> Result<Vec<u8>> {
        match self {
            Self::Symmetric(k) => RustCrypto
                .mac(Algorithm::HMAC_256_256, k.expose(), input)
                .map_err(|e| Error::Token(e.into())),
            Self::Private(sk) => {
                let alg = match sk.key_type() {
                    KeyType::Ed25519 => Algorithm::EdDSA,
                    KeyType::P256 => Algorithm::ES256,
                    _ => return Err(Error::UnsupportedPopKey),
                };
                RustCrypto
                    .sign(alg, sk, input)
                    .map_err(|e| Error::Token(e.into()))
            }
        }
    }
}

/// Splits Authentication Data `token length ‖ token ‖ rest` (RFC 9431 Figures 4 and 5) into
/// the token and the rest (the proof, or empty to start a challenge).
///
/// # Errors
/// [`Error::MalformedAuthData`] if the length prefix is missing, zero, or longer than the data.
pub fn split_token(data: &[u8]) -> Result<(&[u8], &[u8])> {
    let (len, rest) = data
        .split_first_chunk::<TOKEN_LEN_PREFIX>()
        .ok_or(Error::MalformedAuthData("no token length"))?;
    let len = usize::from(u16::from_be_bytes(*len));
    if len == 0 {
        return Err(Error::MalformedAuthData("empty token"));
    }
    if rest.len() < len {
        return Err(Error::MalformedAuthData("token length exceeds data"));
    }
    Ok(rest.split_at(len))
}

/// Builds `token length ‖ token ‖ proof` (proof empty to start a challenge).
///
/// # Errors
/// [`Error::MalformedAuthData`] if the token is empty or longer than 65 535 bytes.
pub fn join_token(token: &[u8], proof: &[u8]) -> Result<Vec<u8>> {
    let len = u16::try_from(token.len()).map_err(|_| Error::MalformedAuthData("token too long"))?;
    if len == 0 {
        return Err(Error::MalformedAuthData("empty token"));
    }
    let mut out = Vec::with_capacity(2 + token.len() + proof.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(token);
    out.extend_from_slice(proof);
    Ok(out)
}
