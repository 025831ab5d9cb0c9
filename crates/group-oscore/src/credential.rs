//! Authentication credentials (draft §2.4) and the credential store seam.
//!
//! The only format implemented is the CWT Claims Set (CCS, RFC 8392) whose `cnf` claim holds
//! a `COSE_Key` (RFC 8747): OKP Ed25519 or X25519, or EC2 P-256. A credential is kept as the
//! exact bytes received ("opaque data", draft §2.4): those bytes go into the external_aad and
//! into the pairwise-key IKM; the public key is only extracted from them.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use ace_crypto::{KeyType, PublicKey};
use coset::cbor::value::Value;
use coset::iana::{self, EnumI64};

use crate::cbor;
use crate::consts::ccs;
use crate::error::{Error, Result};

/// The credential formats of the Common Context parameter "Authentication Credential Format"
/// (draft §2.1.5). Only CCS is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CredentialFormat {
    /// CWT Claims Set (COSE header parameter `kccs`, 14).
    #[default]
    Ccs,
}

/// An authentication credential: its exact bytes and the public key it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    bytes: Vec<u8>,
    public_key: PublicKey,
}

fn int_of(v: &Value) -> Option<i128> {
    match v {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

fn map_get(map: &[(Value, Value)], label: i64) -> Result<Option<&Value>> {
    let mut found = None;
    for (k, v) in map {
        if int_of(k) == Some(i128::from(label)) {
            if found.is_some() {
                return Err(Error::InvalidCredential("duplicate map key"));
            }
            found = Some(v);
        }
    }
    Ok(found)
}

fn bytes32(v: Option<&Value>) -> Result<[u8; 32]> {
    match v {
        Some(Value::Bytes(b)) => b
            .as_slice()
            .try_into()
            .map_err(|_| Error::InvalidCredential("coordinate is not 32 bytes")),
        _ => Err(Error::InvalidCredential("missing key coordinate")),
    }
}

impl Credential {
    /// Parses a CCS credential (an untagged CBOR map with `cnf` / `COSE_Key`). The bytes are
    /// kept as given.
    ///
    /// # Errors
    /// [`Error::InvalidCredential`] for anything else: trailing bytes, duplicate keys, no
    /// `cnf`, an unsupported key type or curve, a point not on the curve.
    pub fn from_ccs(bytes: &[u8]) -> Result<Self> {
        let mut rest = bytes;
        let value: Value = coset::cbor::de::from_reader(&mut rest)
            .map_err(|_| Error::InvalidCredential("not CBOR"))?;
        if !rest.is_empty() {
            return Err(Error::InvalidCredential("trailing bytes"));
        }
        let Value::Map(claims) = value else {
            return Err(Error::InvalidCredential("CCS is not a map"));
        };
        let Some(Value::Map(cnf)) = map_get(&claims, ccs::CNF)? else {
            return Err(Error::InvalidCredential("no cnf claim"));
        };
        let Some(Value::Map(key)) = map_get(cnf, ccs::COSE_KEY)? else {
            return Err(Error::InvalidCredential("cnf holds no COSE_Key"));
        };
        let kty = map_get(key, iana::KeyParameter::Kty.to_i64())?.and_then(int_of);
        let crv = map_get(key, iana::OkpKeyParameter::Crv.to_i64())?.and_then(int_of);
        let x = map_get(key, iana::OkpKeyParameter::X.to_i64())?;
        let public_key = match (kty, crv) {
            (Some(k), Some(c))
                if k == i128::from(iana::KeyType::OKP.to_i64())
                    && c == i128::from(iana::EllipticCurve::Ed25519.to_i64()) =>
            {
                PublicKey::ed25519(bytes32(x)?)
                    .map_err(|_| Error::InvalidCredential("invalid Ed25519 key"))?
            }
            (Some(k), Some(c))
                if k == i128::from(iana::KeyType::OKP.to_i64())
                    && c == i128::from(iana::EllipticCurve::X25519.to_i64()) =>
            {
                PublicKey::x25519(bytes32(x)?)
            }
            // EC2 without crv is read as P-256 (aiocoap writes P-256 CCSs without crv).
            (Some(k), c)
                if k == i128::from(iana::KeyType::EC2.to_i64())
                    && c.is_none_or(|c| c == i128::from(iana::EllipticCurve::P_256.to_i64())) =>
            {
                let y = bytes32(map_get(key, iana::Ec2KeyParameter::Y.to_i64())?)?;
                PublicKey::p256_from_coordinates(&bytes32(x)?, &y)
                    .map_err(|_| Error::InvalidCredential("invalid P-256 key"))?
            }
            _ => return Err(Error::InvalidCredential("unsupported key type or curve")),
        };
        Ok(Self {
            bytes: bytes.to_vec(),
            public_key,
        })
    }

    /// Encodes a minimal CCS for `public_key`: `{2: sub, 8: {1: COSE_Key}}` (`sub` only if
    /// given) with the COSE_Key `{1: kty, 3: alg, -1: crv, -2: x, -3: y}` (`alg` only if
    /// given; aiocoap requires it).
    ///
    /// # Errors
    /// [`Error::InvalidCredential`] if the key has no coordinates.
    pub fn ccs_for(
        public_key: &PublicKey,
        sub: Option<&str>,
        alg: Option<ace_crypto::Algorithm>,
    ) -> Result<Vec<u8>> {
        let mut key = Vec::new();
        let kind = public_key.key_type();
        let n = 3 + usize::from(alg.is_some()) + usize::from(kind == KeyType::P256);
        cbor::head(5, n as u64, &mut key);
        cbor::int(1, &mut key);
        match kind {
            KeyType::P256 => cbor::int(iana::KeyType::EC2.to_i64(), &mut key),
            _ => cbor::int(iana::KeyType::OKP.to_i64(), &mut key),
        }
        if let Some(a) = alg {
            cbor::int(3, &mut key);
            cbor::int(a.to_i64(), &mut key);
        }
        cbor::int(-1, &mut key);
        let crv = match kind {
            KeyType::P256 => iana::EllipticCurve::P_256,
            KeyType::Ed25519 => iana::EllipticCurve::Ed25519,
            _ => iana::EllipticCurve::X25519,
        };
        cbor::int(crv.to_i64(), &mut key);
        cbor::int(-2, &mut key);
        if let Some((x, y)) = public_key.p256_coordinates() {
            cbor::bstr(x, &mut key);
            cbor::int(-3, &mut key);
            cbor::bstr(y, &mut key);
        } else if let Some(x) = public_key.okp_x() {
            cbor::bstr(x, &mut key);
        } else {
            return Err(Error::InvalidCredential("key without coordinates"));
        }
        let mut out = Vec::with_capacity(key.len() + 32);
        cbor::head(5, 1 + u64::from(sub.is_some()), &mut out);
        if let Some(s) = sub {
            cbor::int(ccs::SUB, &mut out);
            cbor::tstr(s, &mut out);
        }
        cbor::int(ccs::CNF, &mut out);
        cbor::head(5, 1, &mut out);
        cbor::int(ccs::COSE_KEY, &mut out);
        out.extend_from_slice(&key);
        Ok(out)
    }

    /// The credential bytes exactly as received.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }
}

/// Where a group member finds the authentication credential of another member (draft §2.2:
/// from the Group Manager, at join time or when the first message from that member arrives).
///
/// Looked up by Gid and Sender ID, so that a rekeying (new Gid) only admits the Sender IDs
/// the Group Manager registered for the new keying material: a removed member or a stale
/// Sender ID has no entry and its messages fail with [`Error::UnknownSender`].
pub trait CredentialStore {
    /// The credential of the member with `sender_id` in the group with `gid`, if known.
    fn credential(&self, gid: &[u8], sender_id: &[u8]) -> Option<Credential>;
}

/// An in-memory [`CredentialStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryCredentialStore {
    entries: BTreeMap<(Vec<u8>, Vec<u8>), Credential>,
}

impl MemoryCredentialStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the credential of `sender_id` in group `gid`.
    pub fn insert(&mut self, gid: &[u8], sender_id: &[u8], credential: Credential) {
        self.entries
            .insert((gid.to_vec(), sender_id.to_vec()), credential);
    }

    /// Builder form of [`MemoryCredentialStore::insert`].
    #[must_use]
    pub fn with(mut self, gid: &[u8], sender_id: &[u8], credential: Credential) -> Self {
        self.insert(gid, sender_id, credential);
        self
    }

    /// Removes the credential of `sender_id` in group `gid`.
    pub fn remove(&mut self, gid: &[u8], sender_id: &[u8]) -> Option<Credential> {
        self.entries.remove(&(gid.to_vec(), sender_id.to_vec()))
    }
}

impl CredentialStore for MemoryCredentialStore {
    fn credential(&self, gid: &[u8], sender_id: &[u8]) -> Option<Credential> {
        self.entries
            .get(&(gid.to_vec(), sender_id.to_vec()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ccs_round_trip_and_rejects() {
        let pk = PublicKey::x25519([9; 32]);
        let ccs = Credential::ccs_for(&pk, Some("a"), None).unwrap();
        let c = Credential::from_ccs(&ccs).unwrap();
        assert_eq!(c.public_key(), &pk);
        assert_eq!(c.bytes(), &ccs[..]);
        // same bytes as ciborium would write for the same map
        let v: Value = coset::cbor::de::from_reader(&ccs[..]).unwrap();
        let mut again = Vec::new();
        coset::cbor::ser::into_writer(&v, &mut again).unwrap();
        assert_eq!(again, ccs);
        let mut trailing = ccs.clone();
        trailing.push(0);
        assert!(Credential::from_ccs(&trailing).is_err());
        assert!(Credential::from_ccs(&[0xa0]).is_err());
        assert!(Credential::from_ccs(&[0x80]).is_err());
        // duplicate cnf key
        assert!(Credential::from_ccs(&[0xa2, 0x08, 0xa0, 0x08, 0xa0]).is_err());
    }
}
