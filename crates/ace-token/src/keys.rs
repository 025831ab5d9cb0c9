//! Key resolution: which keys may verify, un-MAC or decrypt a token.
//!
//! The validator asks a [`KeyResolver`] with a [`KeyRequest`] built from the token's headers
//! (`alg`, `kid`) and, for signed or MACed tokens, the *unverified* `iss` of the payload as a
//! hint. It then tries the returned keys in order. A [`TokenKey`] may be bound to an issuer:
//! after verification, the validator requires the token's `iss` to equal the issuer of the key
//! that verified it, so one issuer's key cannot vouch for another issuer's tokens.

use alloc::string::String;
use alloc::vec::Vec;

use ace_crypto::{PublicKey, SecretBytes};
use coset::iana::Algorithm;

/// What the validator needs a key for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Verify a COSE_Sign1 signature (a public key).
    Verify,
    /// Verify a COSE_Mac0 tag (a symmetric key).
    Mac,
    /// Decrypt a COSE_Encrypt0 token or an `Encrypted_COSE_Key` (a symmetric key).
    Decrypt,
}

/// A key lookup.
#[derive(Debug, Clone, Copy)]
pub struct KeyRequest<'a> {
    /// The purpose.
    pub purpose: KeyPurpose,
    /// The token's algorithm.
    pub alg: Algorithm,
    /// The token's `kid` (empty when it has none).
    pub kid: &'a [u8],
    /// The token's `iss`, *not yet verified* (`None` for encrypted tokens or without `iss`).
    pub issuer_hint: Option<&'a str>,
}

/// Key material a [`TokenKey`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyMaterial {
    /// A symmetric key (MAC or AEAD).
    Symmetric(SecretBytes),
    /// A public key (signature verification).
    Public(PublicKey),
}

/// A key the RS trusts for tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    /// `kid`; `None` matches tokens with any `kid`.
    pub kid: Option<Vec<u8>>,
    /// The issuer this key belongs to; `None` for a key not bound to an issuer.
    pub issuer: Option<String>,
    /// Algorithms the key may be used with; empty for any that fits the material.
    pub algs: Vec<Algorithm>,
    /// The key.
    pub material: KeyMaterial,
}

impl TokenKey {
    /// A symmetric key.
    #[must_use]
    pub fn symmetric(k: impl Into<SecretBytes>) -> Self {
        Self {
            kid: None,
            issuer: None,
            algs: Vec::new(),
            material: KeyMaterial::Symmetric(k.into()),
        }
    }

    /// A public key.
    #[must_use]
    pub fn public(k: PublicKey) -> Self {
        Self {
            kid: None,
            issuer: None,
            algs: Vec::new(),
            material: KeyMaterial::Public(k),
        }
    }

    /// Sets the `kid`.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<Vec<u8>>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Binds the key to an issuer.
    #[must_use]
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Restricts the key to `alg` (call again to allow more).
    #[must_use]
    pub fn with_alg(mut self, alg: Algorithm) -> Self {
        self.algs.push(alg);
        self
    }

    /// `true` when this key can serve `req`.
    #[must_use]
    pub fn fits(&self, req: &KeyRequest<'_>) -> bool {
        if !self.algs.is_empty() && !self.algs.contains(&req.alg) {
            return false;
        }
        if let Some(kid) = &self.kid
            && !req.kid.is_empty()
            && kid.as_slice() != req.kid
        {
            return false;
        }
        if let (Some(iss), Some(hint)) = (&self.issuer, req.issuer_hint)
            && iss != hint
        {
            return false;
        }
        match (&self.material, req.purpose) {
            (KeyMaterial::Public(pk), KeyPurpose::Verify) => {
                ace_crypto::signature_key_type(req.alg) == Some(pk.key_type())
            }
            (KeyMaterial::Symmetric(_), KeyPurpose::Mac) => {
                ace_crypto::mac_tag_len(req.alg).is_some()
            }
            (KeyMaterial::Symmetric(k), KeyPurpose::Decrypt) => {
                ace_crypto::aead_params(req.alg).is_some_and(|p| p.key_len == k.len())
            }
            _ => false,
        }
    }
}

/// Finds candidate keys for a token.
///
/// Implementations return the keys to try, best first; the validator tries them in order and
/// stops at the first that verifies. Keep the list short: every candidate costs a verification.
pub trait KeyResolver {
    /// Keys that may serve `req`.
    fn resolve<'s>(&'s self, req: &KeyRequest<'_>) -> Vec<&'s TokenKey>;
}

impl<T: KeyResolver + ?Sized> KeyResolver for &T {
    fn resolve<'s>(&'s self, req: &KeyRequest<'_>) -> Vec<&'s TokenKey> {
        (**self).resolve(req)
    }
}

/// An in-memory key set, the default [`KeyResolver`]: returns every key that
/// [`fits`](TokenKey::fits) the request, keys with a matching `kid` first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    /// The keys.
    pub keys: Vec<TokenKey>,
}

impl KeySet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key.
    #[must_use]
    pub fn with(mut self, key: TokenKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Adds a key.
    pub fn push(&mut self, key: TokenKey) {
        self.keys.push(key);
    }
}

impl KeyResolver for KeySet {
    fn resolve<'s>(&'s self, req: &KeyRequest<'_>) -> Vec<&'s TokenKey> {
        let mut out: Vec<&TokenKey> = self.keys.iter().filter(|k| k.fits(req)).collect();
        // Exact kid matches before wildcard keys.
        out.sort_by_key(|k| k.kid.is_none());
        out
    }
}
