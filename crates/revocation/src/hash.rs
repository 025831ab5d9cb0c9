//! Token hashes (RFC 9770 §"Token Hash").
//!
//! A token hash is the RFC 6920 §6 binary-format hash of `HASH_INPUT`: one byte with the
//! suite ID of the hash function (two reserved high bits 0), then the full digest.
//!
//! `HASH_INPUT` depends on how the AS-to-Client response carried the token:
//!
//! * **CBOR** (`application/ace+cbor`): `BYTES` = the value of the `access_token` byte string
//!   (for a CWT: the tagged token `61(16(...))` bytes, *without* the bstr header);
//!   `HASH_INPUT_TEXT` = base64url (no padding) of `BYTES`; `HASH_INPUT` = its UTF-8 bytes
//!   ([`TokenHash::from_cbor_access_token`]).
//! * **JSON** (`application/ace+json`): `HASH_INPUT` = the UTF-8 bytes of the `access_token`
//!   text string as sent ([`TokenHash::from_json_access_token`]). For a CWT that text is the
//!   base64url of `BYTES`, so both cases give the same hash; for a JWT they differ.
//!
//! The RS sees `TOKEN_INFO` and follows §"HASH_INPUT on the RS": [`rs_cwt_hash`] and
//! [`rs_jwt_hashes`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest as _;

use crate::consts::hash_alg;
use crate::error::{Error, Result};

/// A hash function from the Named Information Hash Algorithm Registry that this crate
/// implements. Truncated suites (IDs 2-6) are refused on purpose (digest C.4 item 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum HashAlg {
    /// `sha-256` (ID 1), mandatory to implement.
    #[default]
    Sha256,
    /// `sha-384` (ID 7).
    Sha384,
    /// `sha-512` (ID 8).
    Sha512,
}

impl HashAlg {
    /// Every supported algorithm, strongest last.
    pub const ALL: [Self; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    /// The registry ID (first byte of a token hash).
    #[must_use]
    pub const fn id(self) -> u8 {
        match self {
            Self::Sha256 => hash_alg::SHA_256,
            Self::Sha384 => hash_alg::SHA_384,
            Self::Sha512 => hash_alg::SHA_512,
        }
    }

    /// The registry's Hash Name String.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
        }
    }

    /// Digest length in bytes.
    #[must_use]
    pub const fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The algorithm with this registry ID.
    ///
    /// # Errors
    /// [`Error::UnsupportedHashAlgorithm`] for other IDs (including truncated suites).
    pub fn from_id(id: u8) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.id() == id)
            .ok_or_else(|| Error::UnsupportedHashAlgorithm(alloc::format!("{id}")))
    }

    /// The algorithm with this Hash Name String (case-sensitive, as registered).
    ///
    /// # Errors
    /// [`Error::UnsupportedHashAlgorithm`] for other names.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| Error::UnsupportedHashAlgorithm(String::from(name)))
    }

    /// The algorithm the AS uses with a device that supports `offered` (registration,
    /// RFC 9770 §"Registration at the Authorization Server"): the AS's own TRL hash function
    /// if the device offers it. An empty offer means "sha-256 only" (mandatory to implement).
    ///
    /// # Errors
    /// [`Error::NoCommonHashAlgorithm`] when the device does not support the AS's function.
    pub fn negotiate(as_alg: Self, offered: &[Self]) -> Result<Self> {
        let ok = if offered.is_empty() {
            as_alg == Self::Sha256
        } else {
            offered.contains(&as_alg)
        };
        if ok {
            Ok(as_alg)
        } else {
            Err(Error::NoCommonHashAlgorithm)
        }
    }

    fn digest(self, input: &[u8], out: &mut Vec<u8>) {
        match self {
            Self::Sha256 => out.extend_from_slice(&sha2::Sha256::digest(input)),
            Self::Sha384 => out.extend_from_slice(&sha2::Sha384::digest(input)),
            Self::Sha512 => out.extend_from_slice(&sha2::Sha512::digest(input)),
        }
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A token hash: suite ID byte followed by the digest (RFC 6920 §6 binary format).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenHash(Vec<u8>);

impl TokenHash {
    /// The RFC 6920 §6 binary hash of `hash_input`.
    #[must_use]
    pub fn compute(alg: HashAlg, hash_input: &[u8]) -> Self {
        let mut out = Vec::with_capacity(1 + alg.digest_len());
        out.push(alg.id());
        alg.digest(hash_input, &mut out);
        Self(out)
    }

    /// Token hash on the AS and the client when the AS-to-Client response was CBOR:
    /// `bytes` is the value of the `access_token` byte string (RFC 9770 §"AS-to-Client
    /// Response Encoded in CBOR").
    #[must_use]
    pub fn from_cbor_access_token(alg: HashAlg, bytes: &[u8]) -> Self {
        Self::compute(alg, cbor_hash_input_text(bytes).as_bytes())
    }

    /// Token hash on the AS and the client when the AS-to-Client response was JSON: `text`
    /// is the `access_token` string (RFC 9770 §"AS-to-Client Response Encoded in JSON").
    #[must_use]
    pub fn from_json_access_token(alg: HashAlg, text: &str) -> Self {
        Self::compute(alg, text.as_bytes())
    }

    /// Wraps received hash bytes, checking the suite ID and the length.
    ///
    /// # Errors
    /// [`Error::UnsupportedHashAlgorithm`] for an unknown suite, [`Error::InvalidPayload`] for
    /// a wrong length.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let first = *bytes
            .first()
            .ok_or(Error::InvalidPayload("empty token hash"))?;
        let alg = HashAlg::from_id(first)?;
        if bytes.len() != 1 + alg.digest_len() {
            return Err(Error::InvalidPayload("token hash length"));
        }
        Ok(Self(bytes))
    }

    /// Wraps bytes without checking them (received hashes of a suite this crate does not
    /// implement are still compared as opaque values by [`crate::TrlClient`]).
    #[must_use]
    pub fn from_raw(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The hash function, if the suite ID is one this crate implements.
    #[must_use]
    pub fn alg(&self) -> Option<HashAlg> {
        self.0.first().and_then(|b| HashAlg::from_id(*b).ok())
    }

    /// The binary-format bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Consumes the hash, returning its bytes.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Lower-case hex, for logs (RFC 9770 allows logging hashes, never tokens).
    #[must_use]
    pub fn to_hex(&self) -> String {
        use core::fmt::Write as _;
        let mut s = String::with_capacity(self.0.len() * 2);
        for b in &self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

impl AsRef<[u8]> for TokenHash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// `HASH_INPUT_TEXT` for a CBOR AS-to-Client response: base64url without padding of `BYTES`.
#[must_use]
pub fn cbor_hash_input_text(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Token hash on an RS that expects CWTs (RFC 9770 §"Access Tokens as CWTs").
///
/// `token_info` is what the profile delivered (authz-info payload, `access_token` of an
/// `ace+cbor` authz-info map, DTLS PSK identity, MQTT authentication data).
/// `verified_as_cbor` is the outcome of step 3: whether `token_info` verified as the tagged
/// token itself. If it did, `HASH_INPUT` = base64url(`token_info`); otherwise (step 4-6)
/// `token_info` is taken as the base64url text of the token and is itself `HASH_INPUT`.
/// Returns `None` in the second case when `token_info` is not base64url (step 5 fails, the
/// token cannot be valid).
#[must_use]
pub fn rs_cwt_hash(alg: HashAlg, token_info: &[u8], verified_as_cbor: bool) -> Option<TokenHash> {
    if verified_as_cbor {
        return Some(TokenHash::from_cbor_access_token(alg, token_info));
    }
    URL_SAFE_NO_PAD.decode(token_info).ok()?;
    Some(TokenHash::compute(alg, token_info))
}

/// The base64url decoding of `TOKEN_INFO` (RFC 9770 §"Access Tokens as CWTs" step 5), for an
/// RS whose step-3 verification of `token_info` failed.
#[must_use]
pub fn rs_cwt_decode_text(token_info: &[u8]) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(token_info).ok()
}

/// Both token hashes of a JWT on an RS (RFC 9770 §"Access Tokens as JWTs", steps 3 and 4):
/// `(json_case, cbor_case)`. An RS not certain of the AS-to-Client encoding MUST keep both.
#[must_use]
pub fn rs_jwt_hashes(alg: HashAlg, token_info: &[u8]) -> (TokenHash, TokenHash) {
    (
        TokenHash::compute(alg, token_info),
        TokenHash::from_cbor_access_token(alg, token_info),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_ids_and_names_round_trip() {
        for a in HashAlg::ALL {
            assert_eq!(HashAlg::from_id(a.id()).unwrap(), a);
            assert_eq!(HashAlg::from_name(a.name()).unwrap(), a);
            let h = TokenHash::compute(a, b"x");
            assert_eq!(h.as_bytes().len(), 1 + a.digest_len());
            assert_eq!(h.alg(), Some(a));
        }
        for truncated in 2..=6 {
            assert!(HashAlg::from_id(truncated).is_err());
        }
        assert!(HashAlg::from_name("sha-256-128").is_err());
    }

    #[test]
    fn negotiation() {
        assert_eq!(
            HashAlg::negotiate(HashAlg::Sha256, &[]).unwrap(),
            HashAlg::Sha256
        );
        assert_eq!(
            HashAlg::negotiate(HashAlg::Sha512, &[HashAlg::Sha256, HashAlg::Sha512]).unwrap(),
            HashAlg::Sha512
        );
        assert_eq!(
            HashAlg::negotiate(HashAlg::Sha384, &[]),
            Err(Error::NoCommonHashAlgorithm)
        );
    }

    #[test]
    fn from_bytes_checks_suite_and_length() {
        let h = TokenHash::compute(HashAlg::Sha256, b"t");
        assert_eq!(TokenHash::from_bytes(h.as_bytes().to_vec()).unwrap(), h);
        assert!(TokenHash::from_bytes(alloc::vec![1, 2, 3]).is_err());
        assert!(TokenHash::from_bytes(alloc::vec![]).is_err());
        assert!(TokenHash::from_bytes(alloc::vec![2; 17]).is_err());
    }

    #[test]
    fn rs_side_cases() {
        let bytes = [0xd8, 0x3d, 0xd0, 0x83, 0x40, 0xa0, 0x40];
        let cbor = rs_cwt_hash(HashAlg::Sha256, &bytes, true).unwrap();
        let text = cbor_hash_input_text(&bytes);
        let json = rs_cwt_hash(HashAlg::Sha256, text.as_bytes(), false).unwrap();
        assert_eq!(cbor, json, "CWT: both transports give the same hash");
        assert!(rs_cwt_hash(HashAlg::Sha256, b"not base64!", false).is_none());
        assert_eq!(rs_cwt_decode_text(text.as_bytes()).unwrap(), bytes);
        let (j, c) = rs_jwt_hashes(HashAlg::Sha256, b"eyJ.a.b");
        assert_eq!(
            j,
            TokenHash::from_json_access_token(HashAlg::Sha256, "eyJ.a.b")
        );
        assert_eq!(
            c,
            TokenHash::from_cbor_access_token(HashAlg::Sha256, b"eyJ.a.b")
        );
        assert_ne!(j, c);
    }
}
