//! COSE protection of tokens: parsing the envelope (CWT tag, COSE tag, untagged) and issuing.
//!
//! Received tokens may be `61(18/17/16([...]))`, `18/17/16([...])` or an untagged array. An
//! untagged 3-element array is a COSE_Encrypt0; an untagged 4-element array is a COSE_Sign1
//! when its `alg` is a signature algorithm and a COSE_Mac0 when it is a MAC
//! algorithm (the application context that RFC 9052 §2 asks for is the algorithm). The
//! multi-party forms (COSE_Sign, COSE_Mac, COSE_Encrypt) are recognised and refused.
//!
//! Issued tokens are built with coset, the crypto going through the backend traits; nobody
//! assembles a `Sig_structure` by hand. By default ([`IssueOptions::default`]) they are
//! `61(COSE_x-tagged)` with every header protected and an empty unprotected map, the form
//! RFC 9770 requires so that every party hashes the same bytes.

use alloc::boxed::Box;
use alloc::vec::Vec;

use ace_crypto::{AeadBackend, MacBackend, PrivateKey, PublicKey, SignBackend};
use coset::cbor::value::Value;
use coset::iana::{self, Algorithm, EnumI64 as _};
use coset::{
    AsCborValue as _, CoseEncrypt0, CoseEncrypt0Builder, CoseMac0, CoseMac0Builder, CoseSign1,
    CoseSign1Builder, Header, HeaderBuilder, Label, RegisteredLabelWithPrivate,
};
use rand_core::CryptoRng;

use crate::claims::Claims;
use crate::consts::tag;
use crate::error::{DecodeError, Error};

/// A single-recipient COSE message carrying a token.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CoseMessage {
    /// COSE_Sign1.
    Sign1(CoseSign1),
    /// COSE_Mac0.
    Mac0(CoseMac0),
    /// COSE_Encrypt0.
    Encrypt0(CoseEncrypt0),
}

impl CoseMessage {
    /// The protected header.
    #[must_use]
    pub fn protected(&self) -> &coset::ProtectedHeader {
        match self {
            Self::Sign1(m) => &m.protected,
            Self::Mac0(m) => &m.protected,
            Self::Encrypt0(m) => &m.protected,
        }
    }

    /// The unprotected header.
    #[must_use]
    pub fn unprotected(&self) -> &Header {
        match self {
            Self::Sign1(m) => &m.unprotected,
            Self::Mac0(m) => &m.unprotected,
            Self::Encrypt0(m) => &m.unprotected,
        }
    }

    /// The COSE tag of this message type.
    #[must_use]
    pub const fn tag(&self) -> u64 {
        match self {
            Self::Sign1(_) => tag::COSE_SIGN1,
            Self::Mac0(_) => tag::COSE_MAC0,
            Self::Encrypt0(_) => tag::COSE_ENCRYPT0,
        }
    }

    /// Encodes, with the COSE tag when `tagged`.
    ///
    /// # Errors
    /// Only for values coset cannot encode.
    pub fn to_value(self, tagged: bool) -> Result<Value, Error> {
        let t = self.tag();
        let v = match self {
            Self::Sign1(m) => m.to_cbor_value(),
            Self::Mac0(m) => m.to_cbor_value(),
            Self::Encrypt0(m) => m.to_cbor_value(),
        }
        .map_err(|_| Error::Misuse("COSE encoding failed"))?;
        Ok(if tagged {
            Value::Tag(t, Box::new(v))
        } else {
            v
        })
    }
}

/// How a received token was wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wrapping {
    /// Had the CWT tag 61.
    pub cwt_tag: bool,
    /// Had a COSE tag (16, 17, 18).
    pub cose_tag: bool,
}

/// Decodes token bytes (exactly one CBOR item) and parses the COSE message in them.
///
/// # Errors
/// [`Error::TrailingBytes`], [`Error::Malformed`].
pub fn parse_token(bytes: &[u8]) -> Result<(Wrapping, CoseMessage), Error> {
    parse_message(crate::cbor::decode_one(bytes)?, true)
}

/// Parses a COSE message from a CBOR value, peeling an optional CWT tag and COSE tag.
///
/// # Errors
/// [`Error::Malformed`] for other tags, multi-party messages and malformed structures.
pub fn parse_message(v: Value, allow_cwt_tag: bool) -> Result<(Wrapping, CoseMessage), Error> {
    let mut w = Wrapping::default();
    let mut v = v;
    if let Value::Tag(tag::CWT, inner) = v {
        if !allow_cwt_tag {
            return Err(DecodeError::UnexpectedTag(tag::CWT).into());
        }
        w.cwt_tag = true;
        v = *inner;
    }
    let msg = match v {
        Value::Tag(tag::COSE_SIGN1, inner) => {
            w.cose_tag = true;
            CoseMessage::Sign1(CoseSign1::from_cbor_value(*inner).map_err(DecodeError::from)?)
        }
        Value::Tag(tag::COSE_MAC0, inner) => {
            w.cose_tag = true;
            CoseMessage::Mac0(CoseMac0::from_cbor_value(*inner).map_err(DecodeError::from)?)
        }
        Value::Tag(tag::COSE_ENCRYPT0, inner) => {
            w.cose_tag = true;
            CoseMessage::Encrypt0(CoseEncrypt0::from_cbor_value(*inner).map_err(DecodeError::from)?)
        }
        Value::Tag(tag::COSE_SIGN, _) => {
            return Err(DecodeError::UnsupportedMessage("COSE_Sign").into());
        }
        Value::Tag(tag::COSE_MAC, _) => {
            return Err(DecodeError::UnsupportedMessage("COSE_Mac").into());
        }
        Value::Tag(tag::COSE_ENCRYPT, _) => {
            return Err(DecodeError::UnsupportedMessage("COSE_Encrypt").into());
        }
        Value::Tag(t, _) => return Err(DecodeError::UnexpectedTag(t).into()),
        Value::Array(a) if a.len() == 3 => CoseMessage::Encrypt0(
            CoseEncrypt0::from_cbor_value(Value::Array(a)).map_err(DecodeError::from)?,
        ),
        Value::Array(a) if a.len() == 4 => {
            let s = CoseSign1::from_cbor_value(Value::Array(a)).map_err(DecodeError::from)?;
            let is_mac = matches!(
                s.protected.header.alg.as_ref().or(s.unprotected.alg.as_ref()),
                Some(coset::Algorithm::Assigned(alg)) if ace_crypto::mac_tag_len(*alg).is_some()
            );
            if is_mac {
                CoseMessage::Mac0(CoseMac0 {
                    protected: s.protected,
                    unprotected: s.unprotected,
                    payload: s.payload,
                    tag: s.signature,
                })
            } else {
                CoseMessage::Sign1(s)
            }
        }
        _ => {
            return Err(DecodeError::WrongType {
                what: "token",
                expected: "COSE_Sign1, COSE_Mac0 or COSE_Encrypt0",
            }
            .into());
        }
    };
    let mut msg = msg;
    // RFC 9052 §4.4 / §5.3 / §6.3: "If there are no protected attributes, a zero-length byte
    // string is used" in the Sig_structure / MAC_structure / Enc_structure, even when the
    // message encoded the empty map as h'a0' (cose-wg sign-pass-01, mac-pass-01, enc-pass-01).
    let protected = match &mut msg {
        CoseMessage::Sign1(m) => &mut m.protected,
        CoseMessage::Mac0(m) => &mut m.protected,
        CoseMessage::Encrypt0(m) => &mut m.protected,
    };
    if protected.header.is_empty() {
        protected.original_data = None;
    }
    Ok((w, msg))
}

/// How issued tokens are wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Tagging {
    /// `61(COSE_x-tagged)` (the default; RFC 9770 requires it for revocable tokens).
    #[default]
    Cwt,
    /// The COSE tag only (`16/17/18([...])`), as in RFC 8392 Appendix A.
    Cose,
    /// No tag at all (the recipient must know the message type from context).
    Untagged,
}

/// Where `kid` and the IV go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HeaderPlacement {
    /// Every header protected, unprotected map empty (the default; RFC 9770).
    #[default]
    AllProtected,
    /// `alg` protected, `kid` and IV unprotected (the RFC 8392 Appendix A layout).
    KidAndIvUnprotected,
}

/// Options of an [`Issuer`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IssueOptions {
    /// Tagging of the outermost message.
    pub tagging: Tagging,
    /// Header layout.
    pub headers: HeaderPlacement,
    /// External AAD bound into every COSE layer (RFC 9052 §4.3); empty by default.
    pub external_aad: Vec<u8>,
}

/// How an issued token is protected.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Protection<'k> {
    /// COSE_Sign1 with a private key (ES256, EdDSA).
    Sign1 {
        /// Signature algorithm.
        alg: Algorithm,
        /// Signing key.
        key: &'k PrivateKey,
        /// `kid` header, if any.
        kid: Option<&'k [u8]>,
    },
    /// COSE_Mac0 with a symmetric key (HMAC 256/64, 256/256, ...).
    Mac0 {
        /// MAC algorithm.
        alg: Algorithm,
        /// MAC key.
        key: &'k [u8],
        /// `kid` header, if any.
        kid: Option<&'k [u8]>,
    },
}

/// Issues protected tokens (the AS side).
#[derive(Debug, Clone)]
pub struct Issuer<'b, B: ?Sized> {
    backend: &'b B,
    options: IssueOptions,
}

impl<'b, B: SignBackend + MacBackend + AeadBackend + ?Sized> Issuer<'b, B> {
    /// An issuer with the default options (CWT tag, all headers protected).
    #[must_use]
    pub fn new(backend: &'b B) -> Self {
        Self {
            backend,
            options: IssueOptions::default(),
        }
    }

    /// An issuer with `options`.
    #[must_use]
    pub fn with_options(backend: &'b B, options: IssueOptions) -> Self {
        Self { backend, options }
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> &IssueOptions {
        &self.options
    }

    fn headers(&self, alg: Algorithm, kid: Option<&[u8]>, iv: Option<&[u8]>) -> (Header, Header) {
        let mut p = HeaderBuilder::new().algorithm(alg);
        let mut u = HeaderBuilder::new();
        let all = self.options.headers == HeaderPlacement::AllProtected;
        if let Some(kid) = kid {
            if all {
                p = p.key_id(kid.to_vec());
            } else {
                u = u.key_id(kid.to_vec());
            }
        }
        if let Some(iv) = iv {
            if all {
                p = p.iv(iv.to_vec());
            } else {
                u = u.iv(iv.to_vec());
            }
        }
        (p.build(), u.build())
    }

    fn sign1_message(
        &self,
        payload: Vec<u8>,
        alg: Algorithm,
        key: &PrivateKey,
        kid: Option<&[u8]>,
    ) -> Result<CoseMessage, Error> {
        if ace_crypto::signature_key_type(alg).is_none() {
            return Err(Error::Misuse("not a signature algorithm"));
        }
        let (p, u) = self.headers(alg, kid, None);
        let msg = CoseSign1Builder::new()
            .protected(p)
            .unprotected(u)
            .payload(payload)
            .try_create_signature(&self.options.external_aad, |tbs| {
                self.backend.sign(alg, key, tbs)
            })?
            .build();
        Ok(CoseMessage::Sign1(msg))
    }

    fn mac0_message(
        &self,
        payload: Vec<u8>,
        alg: Algorithm,
        key: &[u8],
        kid: Option<&[u8]>,
    ) -> Result<CoseMessage, Error> {
        if ace_crypto::mac_tag_len(alg).is_none() {
            return Err(Error::Misuse("not a MAC algorithm"));
        }
        let (p, u) = self.headers(alg, kid, None);
        let msg = CoseMac0Builder::new()
            .protected(p)
            .unprotected(u)
            .payload(payload)
            .try_create_tag(&self.options.external_aad, |tbm| {
                self.backend.mac(alg, key, tbm)
            })?
            .build();
        Ok(CoseMessage::Mac0(msg))
    }

    fn protect(&self, payload: Vec<u8>, p: Protection<'_>) -> Result<CoseMessage, Error> {
        match p {
            Protection::Sign1 { alg, key, kid } => self.sign1_message(payload, alg, key, kid),
            Protection::Mac0 { alg, key, kid } => self.mac0_message(payload, alg, key, kid),
        }
    }

    fn encrypt0_message(
        &self,
        plaintext: &[u8],
        alg: Algorithm,
        key: &[u8],
        kid: Option<&[u8]>,
        iv: &[u8],
    ) -> Result<CoseMessage, Error> {
        let params = ace_crypto::aead_params(alg).ok_or(Error::Misuse("not an AEAD algorithm"))?;
        if iv.len() != params.nonce_len {
            return Err(Error::Misuse("IV length does not fit the algorithm"));
        }
        let (p, u) = self.headers(alg, kid, Some(iv));
        let msg = CoseEncrypt0Builder::new()
            .protected(p)
            .unprotected(u)
            .try_create_ciphertext(plaintext, &self.options.external_aad, |pt, aad| {
                self.backend.seal(alg, key, iv, aad, pt)
            })?
            .build();
        Ok(CoseMessage::Encrypt0(msg))
    }

    fn finish(&self, msg: CoseMessage) -> Result<Vec<u8>, Error> {
        let v = msg.to_value(self.options.tagging != Tagging::Untagged)?;
        let v = if self.options.tagging == Tagging::Cwt {
            Value::Tag(tag::CWT, Box::new(v))
        } else {
            v
        };
        crate::cbor::encode(&v)
    }

    /// A signed or MACed token.
    ///
    /// # Errors
    /// [`Error::Misuse`] for an algorithm that does not fit the protection;
    /// [`Error::Crypto`] from the backend (wrong key type, unsupported algorithm).
    pub fn issue(&self, claims: &Claims, protection: Protection<'_>) -> Result<Vec<u8>, Error> {
        let msg = self.protect(claims.to_cbor()?, protection)?;
        self.finish(msg)
    }

    /// A COSE_Sign1 token.
    ///
    /// # Errors
    /// As [`Issuer::issue`].
    pub fn sign1(
        &self,
        claims: &Claims,
        alg: Algorithm,
        key: &PrivateKey,
        kid: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        self.issue(claims, Protection::Sign1 { alg, key, kid })
    }

    /// A COSE_Mac0 token.
    ///
    /// # Errors
    /// As [`Issuer::issue`].
    pub fn mac0(
        &self,
        claims: &Claims,
        alg: Algorithm,
        key: &[u8],
        kid: Option<&[u8]>,
    ) -> Result<Vec<u8>, Error> {
        self.issue(claims, Protection::Mac0 { alg, key, kid })
    }

    /// A COSE_Encrypt0 token with the given IV (which must never repeat under `key`).
    ///
    /// # Errors
    /// [`Error::Misuse`] for a non-AEAD algorithm or a wrong IV length; [`Error::Crypto`].
    pub fn encrypt0(
        &self,
        claims: &Claims,
        alg: Algorithm,
        key: &[u8],
        kid: Option<&[u8]>,
        iv: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let msg = self.encrypt0_message(&claims.to_cbor()?, alg, key, kid, iv)?;
        self.finish(msg)
    }

    /// A COSE_Encrypt0 token with a random IV from `rng`.
    ///
    /// # Errors
    /// As [`Issuer::encrypt0`].
    pub fn encrypt0_random_iv<R: CryptoRng + ?Sized>(
        &self,
        claims: &Claims,
        alg: Algorithm,
        key: &[u8],
        kid: Option<&[u8]>,
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let iv = random_iv(alg, rng)?;
        self.encrypt0(claims, alg, key, kid, &iv)
    }

    /// Sign (or MAC) then encrypt (RFC 8392 §7.1, Appendix A.6): a COSE_Encrypt0 whose
    /// plaintext is the tagged inner COSE_Sign1/COSE_Mac0.
    ///
    /// # Errors
    /// As [`Issuer::issue`] and [`Issuer::encrypt0`].
    #[allow(clippy::too_many_arguments)]
    pub fn nested(
        &self,
        claims: &Claims,
        inner: Protection<'_>,
        enc_alg: Algorithm,
        enc_key: &[u8],
        enc_kid: Option<&[u8]>,
        iv: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let inner = self.protect(claims.to_cbor()?, inner)?;
        let inner_bytes = crate::cbor::encode(&inner.to_value(true)?)?;
        let outer = self.encrypt0_message(&inner_bytes, enc_alg, enc_key, enc_kid, iv)?;
        self.finish(outer)
    }
}

/// A random IV of the right length for `alg`.
///
/// # Errors
/// [`Error::Misuse`] for a non-AEAD algorithm.
pub fn random_iv<R: CryptoRng + ?Sized>(alg: Algorithm, rng: &mut R) -> Result<Vec<u8>, Error> {
    let params = ace_crypto::aead_params(alg).ok_or(Error::Misuse("not an AEAD algorithm"))?;
    let mut iv = alloc::vec![0u8; params.nonce_len];
    rng.fill_bytes(&mut iv);
    Ok(iv)
}

/// Header labels this implementation understands (RFC 9052 §3.1 `crit`): alg, crit,
/// content type, kid, IV.
pub fn understood(l: &RegisteredLabelWithPrivate<iana::HeaderParameter>) -> bool {
    matches!(
        l,
        RegisteredLabelWithPrivate::Assigned(
            iana::HeaderParameter::Alg
                | iana::HeaderParameter::Crit
                | iana::HeaderParameter::ContentType
                | iana::HeaderParameter::Kid
                | iana::HeaderParameter::Iv
        )
    )
}

fn crit_label(l: &RegisteredLabelWithPrivate<iana::HeaderParameter>) -> Label {
    match l {
        RegisteredLabelWithPrivate::Assigned(a) => Label::Int(a.to_i64()),
        RegisteredLabelWithPrivate::PrivateUse(i) => Label::Int(*i),
        RegisteredLabelWithPrivate::Text(t) => Label::Text(t.clone()),
    }
}

/// Checks every received COSE layer must pass: `crit` protected and understood, no parameter in
/// both buckets (RFC 9052 §3), no Partial IV.
///
/// # Errors
/// [`Error::UnknownCriticalHeader`], [`Error::Malformed`].
pub fn check_headers(p: &Header, u: &Header) -> Result<(), Error> {
    if !u.crit.is_empty() {
        return Err(DecodeError::CritNotProtected.into());
    }
    if let Some(l) = p.crit.iter().find(|l| !understood(l)) {
        return Err(Error::UnknownCriticalHeader(crit_label(l)));
    }
    let both = |a: bool, b: bool| a && b;
    if both(p.alg.is_some(), u.alg.is_some())
        || both(!p.key_id.is_empty(), !u.key_id.is_empty())
        || both(!p.iv.is_empty(), !u.iv.is_empty())
        || both(p.content_type.is_some(), u.content_type.is_some())
    {
        return Err(DecodeError::DuplicateHeader.into());
    }
    if !p.partial_iv.is_empty() || !u.partial_iv.is_empty() {
        return Err(DecodeError::Invalid("Partial IV (not used by CWTs)").into());
    }
    Ok(())
}

/// The algorithm of a layer: the protected `alg`; when `allow_unprotected`, an unprotected one
/// is accepted too (plain COSE allows it; the CWT validator does not).
///
/// # Errors
/// [`Error::MissingAlgorithm`].
pub fn layer_alg(msg: &CoseMessage, allow_unprotected: bool) -> Result<&coset::Algorithm, Error> {
    let p = &msg.protected().header;
    let u = msg.unprotected();
    match (&p.alg, &u.alg) {
        (Some(a), None) => Ok(a),
        (None, Some(a)) if allow_unprotected => Ok(a),
        _ => Err(Error::MissingAlgorithm),
    }
}

/// The `kid` of a layer from either bucket (empty when absent).
#[must_use]
pub fn layer_kid(msg: &CoseMessage) -> &[u8] {
    let p = &msg.protected().header;
    if p.key_id.is_empty() {
        &msg.unprotected().key_id
    } else {
        &p.key_id
    }
}

/// Verifies a COSE_Sign1 signature with `key` (coset builds the `Sig_structure`).
///
/// # Errors
/// [`Error::BadSignature`]; [`Error::Malformed`] for detached content; [`Error::Crypto`] for
/// backend failures other than a failed verification.
pub fn verify_sign1<B: SignBackend + ?Sized>(
    m: &CoseSign1,
    alg: Algorithm,
    key: &PublicKey,
    external_aad: &[u8],
    backend: &B,
) -> Result<(), Error> {
    if m.payload.is_none() {
        return Err(DecodeError::DetachedContent.into());
    }
    m.verify_signature(external_aad, |sig, tbs| backend.verify(alg, key, tbs, sig))
        .map_err(|e| match e {
            ace_crypto::Error::InvalidSignature | ace_crypto::Error::InvalidKey => {
                Error::BadSignature
            }
            other => Error::Crypto(other),
        })
}

/// Verifies a COSE_Mac0 tag with `key` (constant-time comparison in the backend).
///
/// # Errors
/// [`Error::BadTag`]; [`Error::Malformed`] for detached content; [`Error::Crypto`].
pub fn verify_mac0<B: MacBackend + ?Sized>(
    m: &CoseMac0,
    alg: Algorithm,
    key: &[u8],
    external_aad: &[u8],
    backend: &B,
) -> Result<(), Error> {
    m.verify_payload_tag(
        external_aad,
        || Error::Malformed(DecodeError::DetachedContent),
        |tag, tbm| {
            backend.mac_verify(alg, key, tbm, tag).map_err(|e| match e {
                ace_crypto::Error::InvalidTag => Error::BadTag,
                other => Error::Crypto(other),
            })
        },
    )
}

/// Decrypts a COSE_Encrypt0 with `key`, the IV taken from its headers.
///
/// # Errors
/// [`Error::DecryptionFailed`] (also for an IV of the wrong length); [`Error::Malformed`] for
/// detached content; [`Error::Crypto`].
pub fn decrypt_encrypt0<B: AeadBackend + ?Sized>(
    m: &CoseEncrypt0,
    alg: Algorithm,
    key: &[u8],
    external_aad: &[u8],
    backend: &B,
) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
    let iv: &[u8] = if m.protected.header.iv.is_empty() {
        &m.unprotected.iv
    } else {
        &m.protected.header.iv
    };
    m.decrypt_ciphertext(
        external_aad,
        || Error::Malformed(DecodeError::DetachedContent),
        |ct, aad| {
            backend.open(alg, key, iv, aad, ct).map_err(|e| match e {
                ace_crypto::Error::DecryptionFailed
                | ace_crypto::Error::InvalidNonceLength { .. } => Error::DecryptionFailed,
                other => Error::Crypto(other),
            })
        },
    )
    .map(zeroize::Zeroizing::new)
}
