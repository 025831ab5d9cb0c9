//! The `cnf` (confirmation) claim: which key the presenter of a token must prove possession of.
//!
//! RFC 8747 §3 defines three methods, RFC 9203 a fourth:
//!
//! | Method | Label | Type here |
//! |---|---|---|
//! | `COSE_Key` | 1 | [`CnfKey::CoseKey`] holding a typed [`PopKey`] |
//! | `Encrypted_COSE_Key` | 2 | [`CnfKey::Encrypted`] ([`EncryptedCoseKey::decrypt`] yields a [`PopKey`]) |
//! | `kid` | 3 | [`Confirmation::kid`] |
//! | `osc` (OSCORE_Input_Material) | 4 | [`CnfKey::Osc`] ([`OscoreInputMaterial`]) |
//!
//! RFC 8747 §3.1: "At most one of the COSE_Key and Encrypted_COSE_Key confirmation values MAY be
//! present"; this crate extends that rule to `osc` (each carries the PoP key itself). A `kid`
//! may accompany them. Unknown methods are kept in [`Confirmation::rest`].
//!
//! A PoP key is public (EC2 P-256, OKP Ed25519/X25519) or symmetric. A `COSE_Key` carrying a
//! private key (`d`) is refused: no token has a reason to transport one.

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use ace_crypto::{AeadBackend, KeyType, PublicKey, SecretBytes};
use coset::cbor::value::Value;
use coset::iana::{self, EnumI64 as _};
use coset::{AsCborValue as _, CoseEncrypt0, CoseKey, KeyOperation, Label};

use crate::cbor;
use crate::consts;
use crate::error::{DecodeError, Error};

/// Key material of a PoP key.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PopKeyMaterial {
    /// A symmetric key (COSE kty Symmetric, `k`); zeroized on drop.
    Symmetric(SecretBytes),
    /// A public key (EC2 P-256, OKP Ed25519 or X25519).
    Public(PublicKey),
}

impl core::fmt::Debug for PopKeyMaterial {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Symmetric(k) => write!(f, "Symmetric({k:?})"),
            Self::Public(k) => write!(f, "Public({k:?})"),
        }
    }
}

/// A proof-of-possession key: a COSE_Key (RFC 9052 §7) reduced to what an RS needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopKey {
    /// The key material.
    pub material: PopKeyMaterial,
    /// `kid`, if the key has one.
    pub kid: Option<Vec<u8>>,
    /// `alg` restriction, if any (RFC 9200 §5.8.4.3 / ACE-33: the key must not be used with
    /// another algorithm).
    pub alg: Option<coset::Algorithm>,
    /// `key_ops` restriction, if any.
    pub key_ops: BTreeSet<KeyOperation>,
}

impl PopKey {
    /// A symmetric PoP key.
    #[must_use]
    pub fn symmetric(k: SecretBytes) -> Self {
        Self {
            material: PopKeyMaterial::Symmetric(k),
            kid: None,
            alg: None,
            key_ops: BTreeSet::new(),
        }
    }

    /// A public PoP key.
    #[must_use]
    pub fn public(k: PublicKey) -> Self {
        Self {
            material: PopKeyMaterial::Public(k),
            kid: None,
            alg: None,
            key_ops: BTreeSet::new(),
        }
    }

    /// Sets the `kid`.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<Vec<u8>>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Sets the `alg`.
    #[must_use]
    pub fn with_alg(mut self, alg: iana::Algorithm) -> Self {
        self.alg = Some(coset::Algorithm::Assigned(alg));
        self
    }

    /// The public key, if this is one.
    #[must_use]
    pub fn public_key(&self) -> Option<&PublicKey> {
        match &self.material {
            PopKeyMaterial::Public(k) => Some(k),
            PopKeyMaterial::Symmetric(_) => None,
        }
    }

    /// The symmetric key, if this is one.
    #[must_use]
    pub fn symmetric_key(&self) -> Option<&SecretBytes> {
        match &self.material {
            PopKeyMaterial::Symmetric(k) => Some(k),
            PopKeyMaterial::Public(_) => None,
        }
    }

    /// Converts a coset `CoseKey`.
    ///
    /// # Errors
    /// [`DecodeError::Invalid`] for unsupported key types or curves, wrong lengths, compressed
    /// points, or a private key (`d`).
    pub fn from_cose_key(key: CoseKey) -> Result<Self, DecodeError> {
        let param = |label: i64| {
            key.params
                .iter()
                .find(|(l, _)| *l == Label::Int(label))
                .map(|(_, v)| v)
        };
        let bytes = |label: i64, what: &'static str| match param(label) {
            Some(Value::Bytes(b)) => Ok(b.as_slice()),
            Some(_) => Err(DecodeError::WrongType {
                what,
                expected: "byte string",
            }),
            None => Err(DecodeError::Invalid(what)),
        };
        let material = match &key.kty {
            coset::KeyType::Assigned(iana::KeyType::Symmetric) => {
                let k = bytes(iana::SymmetricKeyParameter::K.to_i64(), "COSE_Key k")?;
                if k.is_empty() {
                    return Err(DecodeError::Invalid("COSE_Key k"));
                }
                PopKeyMaterial::Symmetric(SecretBytes::from_slice(k))
            }
            coset::KeyType::Assigned(iana::KeyType::EC2) => {
                if param(iana::Ec2KeyParameter::D.to_i64()).is_some() {
                    return Err(DecodeError::Invalid("private key in cnf"));
                }
                let crv = param(iana::Ec2KeyParameter::Crv.to_i64())
                    .ok_or(DecodeError::Invalid("COSE_Key crv"))?;
                if cbor::as_i64(crv, "COSE_Key crv")? != iana::EllipticCurve::P_256.to_i64() {
                    return Err(DecodeError::Invalid("COSE_Key curve (only P-256)"));
                }
                let x = bytes(iana::Ec2KeyParameter::X.to_i64(), "COSE_Key x")?;
                let y = match param(iana::Ec2KeyParameter::Y.to_i64()) {
                    Some(Value::Bytes(y)) => y.as_slice(),
                    Some(Value::Bool(_)) => {
                        return Err(DecodeError::Invalid("compressed EC2 point (unsupported)"));
                    }
                    _ => return Err(DecodeError::Invalid("COSE_Key y")),
                };
                PopKeyMaterial::Public(
                    PublicKey::p256_from_coordinates(x, y)
                        .map_err(|_| DecodeError::Invalid("COSE_Key EC2 coordinates"))?,
                )
            }
            coset::KeyType::Assigned(iana::KeyType::OKP) => {
                if param(iana::OkpKeyParameter::D.to_i64()).is_some() {
                    return Err(DecodeError::Invalid("private key in cnf"));
                }
                let crv = param(iana::OkpKeyParameter::Crv.to_i64())
                    .ok_or(DecodeError::Invalid("COSE_Key crv"))?;
                let kind = match cbor::as_i64(crv, "COSE_Key crv")? {
                    c if c == iana::EllipticCurve::Ed25519.to_i64() => KeyType::Ed25519,
                    c if c == iana::EllipticCurve::X25519.to_i64() => KeyType::X25519,
                    _ => {
                        return Err(DecodeError::Invalid(
                            "COSE_Key curve (only Ed25519, X25519)",
                        ));
                    }
                };
                let x = bytes(iana::OkpKeyParameter::X.to_i64(), "COSE_Key x")?;
                PopKeyMaterial::Public(
                    PublicKey::okp(kind, x).map_err(|_| DecodeError::Invalid("COSE_Key OKP x"))?,
                )
            }
            _ => {
                return Err(DecodeError::Invalid(
                    "COSE_Key kty (only Symmetric, EC2, OKP)",
                ));
            }
        };
        Ok(Self {
            material,
            kid: (!key.key_id.is_empty()).then(|| key.key_id.clone()),
            alg: key.alg.clone(),
            key_ops: key.key_ops.clone(),
        })
    }

    /// Converts to a coset `CoseKey`.
    #[must_use]
    pub fn to_cose_key(&self) -> CoseKey {
        let int = |i: i64| Label::Int(i);
        let (kty, params) = match &self.material {
            PopKeyMaterial::Symmetric(k) => (
                iana::KeyType::Symmetric,
                alloc::vec![(
                    int(iana::SymmetricKeyParameter::K.to_i64()),
                    Value::Bytes(k.expose().to_vec())
                )],
            ),
            PopKeyMaterial::Public(pk) => match (pk.p256_coordinates(), pk.okp_x()) {
                (Some((x, y)), _) => (
                    iana::KeyType::EC2,
                    alloc::vec![
                        (
                            int(iana::Ec2KeyParameter::Crv.to_i64()),
                            Value::from(iana::EllipticCurve::P_256.to_i64())
                        ),
                        (
                            int(iana::Ec2KeyParameter::X.to_i64()),
                            Value::Bytes(x.to_vec())
                        ),
                        (
                            int(iana::Ec2KeyParameter::Y.to_i64()),
                            Value::Bytes(y.to_vec())
                        ),
                    ],
                ),
                (None, Some(x)) => {
                    let crv = if pk.key_type() == KeyType::Ed25519 {
                        iana::EllipticCurve::Ed25519
                    } else {
                        iana::EllipticCurve::X25519
                    };
                    (
                        iana::KeyType::OKP,
                        alloc::vec![
                            (
                                int(iana::OkpKeyParameter::Crv.to_i64()),
                                Value::from(crv.to_i64())
                            ),
                            (
                                int(iana::OkpKeyParameter::X.to_i64()),
                                Value::Bytes(x.to_vec())
                            ),
                        ],
                    )
                }
                (None, None) => (iana::KeyType::Reserved, alloc::vec![]),
            },
        };
        CoseKey {
            kty: coset::KeyType::Assigned(kty),
            key_id: self.kid.clone().unwrap_or_default(),
            alg: self.alg.clone(),
            key_ops: self.key_ops.clone(),
            params,
            ..CoseKey::default()
        }
    }
}

/// An `Encrypted_COSE_Key` (RFC 8747 §3.3): a COSE_Encrypt0 whose plaintext is a COSE_Key.
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptedCoseKey(pub CoseEncrypt0);

impl EncryptedCoseKey {
    /// Encrypts `key` for a recipient holding `kek`, with `alg`, `iv` and `kid` in the headers
    /// (alg protected, IV and kid unprotected, as in RFC 8747 §3.3's example).
    ///
    /// # Errors
    /// [`Error::Crypto`] from the backend (sizes, unsupported algorithm).
    pub fn encrypt<B: AeadBackend + ?Sized>(
        key: &PopKey,
        alg: iana::Algorithm,
        kek: &[u8],
        iv: &[u8],
        kid: Option<&[u8]>,
        backend: &B,
    ) -> Result<Self, Error> {
        let plaintext = key
            .to_cose_key()
            .to_cbor_value()
            .map_err(|_| Error::Misuse("COSE_Key encoding"))?;
        let plaintext = cbor::encode(&plaintext)?;
        let protected = coset::HeaderBuilder::new().algorithm(alg).build();
        let mut unprotected = coset::HeaderBuilder::new().iv(iv.to_vec());
        if let Some(kid) = kid {
            unprotected = unprotected.key_id(kid.to_vec());
        }
        let msg = coset::CoseEncrypt0Builder::new()
            .protected(protected)
            .unprotected(unprotected.build())
            .try_create_ciphertext(&plaintext, &[], |pt, aad| {
                backend.seal(alg, kek, iv, aad, pt)
            })?
            .build();
        Ok(Self(msg))
    }

    /// The `kid` of the key-encryption key, from either header bucket (empty if none).
    #[must_use]
    pub fn kid(&self) -> &[u8] {
        if self.0.protected.header.key_id.is_empty() {
            &self.0.unprotected.key_id
        } else {
            &self.0.protected.header.key_id
        }
    }

    /// The content-encryption algorithm, if present in the protected header.
    #[must_use]
    pub fn alg(&self) -> Option<iana::Algorithm> {
        match self.0.protected.header.alg {
            Some(coset::Algorithm::Assigned(a)) => Some(a),
            _ => None,
        }
    }

    /// Decrypts with `kek` and parses the COSE_Key inside.
    ///
    /// # Errors
    /// [`Error::MissingAlgorithm`]; [`Error::DecryptionFailed`] when authentication fails;
    /// [`Error::Malformed`] when the plaintext is not a valid PoP key.
    pub fn decrypt<B: AeadBackend + ?Sized>(
        &self,
        kek: &[u8],
        backend: &B,
    ) -> Result<PopKey, Error> {
        let alg = self.alg().ok_or(Error::MissingAlgorithm)?;
        let iv = if self.0.protected.header.iv.is_empty() {
            &self.0.unprotected.iv
        } else {
            &self.0.protected.header.iv
        };
        let pt = self.0.decrypt_ciphertext(
            &[],
            || Error::Malformed(DecodeError::DetachedContent),
            |ct, aad| {
                backend.open(alg, kek, iv, aad, ct).map_err(|e| match e {
                    ace_crypto::Error::DecryptionFailed => Error::DecryptionFailed,
                    other => Error::Crypto(other),
                })
            },
        )?;
        let pt = zeroize::Zeroizing::new(pt);
        let v = cbor::decode_nested(&pt)?;
        let key = CoseKey::from_cbor_value(v).map_err(DecodeError::from)?;
        Ok(PopKey::from_cose_key(key)?)
    }
}

/// OSCORE_Input_Material (RFC 9203 §3.2.1): what an RS and client derive an OSCORE context from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OscoreInputMaterial {
    /// `id` (0): identifier of this input material.
    pub id: Option<Vec<u8>>,
    /// `version` (1): OSCORE version.
    pub version: Option<u64>,
    /// `ms` (2): Master Secret; zeroized on drop.
    pub ms: Option<SecretBytes>,
    /// `hkdf` (3): HKDF algorithm (int or text).
    pub hkdf: Option<coset::Algorithm>,
    /// `alg` (4): AEAD algorithm (int or text).
    pub alg: Option<coset::Algorithm>,
    /// `salt` (5): input to the Master Salt.
    pub salt: Option<Vec<u8>>,
    /// `contextId` (6): OSCORE ID Context.
    pub context_id: Option<Vec<u8>>,
    /// Other parameters, as received (RFC 9203 §3.2.1 CDDL: `* (int / tstr) => any`).
    pub rest: Vec<(Label, Value)>,
}

fn algorithm_value(a: &coset::Algorithm) -> Result<Value, Error> {
    a.clone()
        .to_cbor_value()
        .map_err(|_| Error::Misuse("algorithm encoding"))
}

impl OscoreInputMaterial {
    /// Decodes the CBOR map.
    ///
    /// # Errors
    /// Wrong types, duplicate labels.
    pub fn from_value(v: Value) -> Result<Self, DecodeError> {
        let mut out = Self::default();
        for (l, v) in cbor::label_map(v, "OSCORE_Input_Material")? {
            match l {
                Label::Int(consts::osc::ID) => out.id = Some(cbor::take_bytes(v, "osc id")?),
                Label::Int(consts::osc::VERSION) => {
                    out.version = Some(cbor::as_u64(&v, "osc version")?)
                }
                Label::Int(consts::osc::MS) => {
                    out.ms = Some(SecretBytes::new(cbor::take_bytes(v, "osc ms")?));
                }
                Label::Int(consts::osc::HKDF) => {
                    out.hkdf =
                        Some(coset::Algorithm::from_cbor_value(v).map_err(DecodeError::from)?);
                }
                Label::Int(consts::osc::ALG) => {
                    out.alg =
                        Some(coset::Algorithm::from_cbor_value(v).map_err(DecodeError::from)?);
                }
                Label::Int(consts::osc::SALT) => out.salt = Some(cbor::take_bytes(v, "osc salt")?),
                Label::Int(consts::osc::CONTEXT_ID) => {
                    out.context_id = Some(cbor::take_bytes(v, "osc contextId")?);
                }
                other => out.rest.push((other, v)),
            }
        }
        Ok(out)
    }

    /// Encodes the CBOR map (deterministic order).
    ///
    /// # Errors
    /// Only for unencodable algorithm values.
    pub fn to_value(&self) -> Result<Value, Error> {
        let mut e: Vec<(Label, Value)> = Vec::new();
        if let Some(id) = &self.id {
            e.push((Label::Int(consts::osc::ID), Value::Bytes(id.clone())));
        }
        if let Some(v) = self.version {
            e.push((Label::Int(consts::osc::VERSION), Value::from(v)));
        }
        if let Some(ms) = &self.ms {
            e.push((
                Label::Int(consts::osc::MS),
                Value::Bytes(ms.expose().to_vec()),
            ));
        }
        if let Some(a) = &self.hkdf {
            e.push((Label::Int(consts::osc::HKDF), algorithm_value(a)?));
        }
        if let Some(a) = &self.alg {
            e.push((Label::Int(consts::osc::ALG), algorithm_value(a)?));
        }
        if let Some(s) = &self.salt {
            e.push((Label::Int(consts::osc::SALT), Value::Bytes(s.clone())));
        }
        if let Some(c) = &self.context_id {
            e.push((Label::Int(consts::osc::CONTEXT_ID), Value::Bytes(c.clone())));
        }
        e.extend(self.rest.iter().cloned());
        Ok(cbor::sorted_map(e))
    }
}

/// The key-bearing member of a `cnf` claim.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CnfKey {
    /// `COSE_Key` (1).
    CoseKey(PopKey),
    /// `Encrypted_COSE_Key` (2), boxed (a COSE_Encrypt0 is large).
    Encrypted(Box<EncryptedCoseKey>),
    /// `osc` (4).
    Osc(OscoreInputMaterial),
}

/// A `cnf` claim (RFC 8747 §3.1).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Confirmation {
    /// The key-bearing member, if any.
    pub key: Option<CnfKey>,
    /// `kid` (3): a key the recipient already knows.
    pub kid: Option<Vec<u8>>,
    /// Other confirmation methods, as received.
    pub rest: Vec<(Label, Value)>,
}

impl Confirmation {
    /// `cnf` with a `COSE_Key`.
    #[must_use]
    pub fn cose_key(key: PopKey) -> Self {
        Self {
            key: Some(CnfKey::CoseKey(key)),
            ..Self::default()
        }
    }

    /// `cnf` with only a `kid`.
    #[must_use]
    pub fn kid(kid: impl Into<Vec<u8>>) -> Self {
        Self {
            kid: Some(kid.into()),
            ..Self::default()
        }
    }

    /// `cnf` with OSCORE_Input_Material.
    #[must_use]
    pub fn osc(material: OscoreInputMaterial) -> Self {
        Self {
            key: Some(CnfKey::Osc(material)),
            ..Self::default()
        }
    }

    /// `cnf` with an `Encrypted_COSE_Key`.
    #[must_use]
    pub fn encrypted(key: EncryptedCoseKey) -> Self {
        Self {
            key: Some(CnfKey::Encrypted(Box::new(key))),
            ..Self::default()
        }
    }

    /// Decodes the `cnf` map.
    ///
    /// # Errors
    /// Empty map, two key-bearing members, duplicate labels, invalid members.
    pub fn from_value(v: Value) -> Result<Self, DecodeError> {
        let entries = cbor::label_map(v, "cnf")?;
        if entries.is_empty() {
            return Err(DecodeError::Invalid("empty cnf"));
        }
        let mut out = Self::default();
        for (l, v) in entries {
            let key = match l {
                Label::Int(consts::cnf::COSE_KEY) => {
                    let k = CoseKey::from_cbor_value(v).map_err(DecodeError::from)?;
                    CnfKey::CoseKey(PopKey::from_cose_key(k)?)
                }
                Label::Int(consts::cnf::ENCRYPTED_COSE_KEY) => {
                    let v = match v {
                        Value::Tag(consts::tag::COSE_ENCRYPT0, inner) => *inner,
                        Value::Tag(t, _) => return Err(DecodeError::UnexpectedTag(t)),
                        v => v,
                    };
                    CnfKey::Encrypted(Box::new(EncryptedCoseKey(
                        CoseEncrypt0::from_cbor_value(v).map_err(DecodeError::from)?,
                    )))
                }
                Label::Int(consts::cnf::KID) => {
                    out.kid = Some(cbor::take_bytes(v, "cnf kid")?);
                    continue;
                }
                Label::Int(consts::cnf::OSC) => CnfKey::Osc(OscoreInputMaterial::from_value(v)?),
                other => {
                    out.rest.push((other, v));
                    continue;
                }
            };
            if out.key.is_some() {
                return Err(DecodeError::Invalid("cnf with more than one PoP key"));
            }
            out.key = Some(key);
        }
        Ok(out)
    }

    /// Encodes the `cnf` map (deterministic order).
    ///
    /// # Errors
    /// Only for unencodable nested values.
    pub fn to_value(&self) -> Result<Value, Error> {
        let mut e: Vec<(Label, Value)> = Vec::new();
        match &self.key {
            Some(CnfKey::CoseKey(k)) => e.push((
                Label::Int(consts::cnf::COSE_KEY),
                k.to_cose_key()
                    .to_cbor_value()
                    .map_err(|_| Error::Misuse("COSE_Key encoding"))?,
            )),
            Some(CnfKey::Encrypted(k)) => e.push((
                Label::Int(consts::cnf::ENCRYPTED_COSE_KEY),
                k.0.clone()
                    .to_cbor_value()
                    .map_err(|_| Error::Misuse("COSE_Encrypt0 encoding"))?,
            )),
            Some(CnfKey::Osc(m)) => e.push((Label::Int(consts::cnf::OSC), m.to_value()?)),
            None => {}
        }
        if let Some(kid) = &self.kid {
            e.push((Label::Int(consts::cnf::KID), Value::Bytes(kid.clone())));
        }
        e.extend(self.rest.iter().cloned());
        Ok(cbor::sorted_map(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ace_crypto::backend::rustcrypto::RustCrypto;

    #[test]
    fn pop_key_cose_key_roundtrip() {
        let keys = [
            PopKey::symmetric(SecretBytes::from_slice(&[1; 16])).with_kid(*b"k"),
            PopKey::public(crate::testing::es256_public().unwrap())
                .with_alg(iana::Algorithm::ES256),
            PopKey::public(crate::testing::ed25519_public().unwrap()),
            PopKey::public(PublicKey::x25519([5; 32])),
        ];
        for k in keys {
            assert_eq!(PopKey::from_cose_key(k.to_cose_key()).unwrap(), k);
        }
    }

    #[test]
    fn unsupported_keys_are_refused() {
        let p384 = coset::CoseKeyBuilder::new_ec2_pub_key(
            iana::EllipticCurve::P_384,
            alloc::vec![1; 48],
            alloc::vec![2; 48],
        )
        .build();
        assert!(PopKey::from_cose_key(p384).is_err());
        let compressed = coset::CoseKeyBuilder::new_ec2_pub_key_y_sign(
            iana::EllipticCurve::P_256,
            alloc::vec![1; 32],
            true,
        )
        .build();
        assert_eq!(
            PopKey::from_cose_key(compressed),
            Err(DecodeError::Invalid("compressed EC2 point (unsupported)"))
        );
        let short = coset::CoseKeyBuilder::new_ec2_pub_key(
            iana::EllipticCurve::P_256,
            alloc::vec![1; 31],
            alloc::vec![2; 32],
        )
        .build();
        assert!(PopKey::from_cose_key(short).is_err());
    }

    #[test]
    fn encrypted_cose_key_roundtrip() {
        let pop = PopKey::public(crate::testing::ed25519_public().unwrap()).with_kid(*b"c");
        let kek = [0x55; 16];
        let e = EncryptedCoseKey::encrypt(
            &pop,
            iana::Algorithm::AES_CCM_16_64_128,
            &kek,
            &[1; 13],
            Some(b"rs"),
            &RustCrypto,
        )
        .unwrap();
        assert_eq!(e.kid(), b"rs");
        assert_eq!(e.decrypt(&kek, &RustCrypto).unwrap(), pop);
        assert_eq!(
            e.decrypt(&[0x56; 16], &RustCrypto),
            Err(Error::DecryptionFailed)
        );
        // Through the cnf codec, untagged as in RFC 8747 §3.3.
        let cnf = Confirmation::encrypted(e);
        let v = cnf.to_value().unwrap();
        let back = Confirmation::from_value(v.clone()).unwrap();
        assert_eq!(back.to_value().unwrap(), v);
        let Some(CnfKey::Encrypted(e2)) = back.key else {
            panic!("not encrypted")
        };
        assert_eq!(e2.decrypt(&kek, &RustCrypto).unwrap(), pop);
    }

    #[test]
    fn osc_roundtrip_with_text_alg_and_unknown_params() {
        let m = OscoreInputMaterial {
            id: Some(alloc::vec![1]),
            ms: Some(SecretBytes::from_slice(&[2; 16])),
            alg: Some(coset::Algorithm::Text("AES-CCM-16-64-128".into())),
            rest: alloc::vec![(Label::Int(99), Value::from(1))],
            ..OscoreInputMaterial::default()
        };
        assert_eq!(
            OscoreInputMaterial::from_value(m.to_value().unwrap()).unwrap(),
            m
        );
        assert!(OscoreInputMaterial::from_value(Value::from(1)).is_err());
    }
}
