//! Token validation: bytes + policy → validated claims and PoP key, or the check that failed.
//!
//! ```text
//!  bytes ─► size ≤ max_size ─► one CBOR item, nothing after ─► [61(] COSE tag / untagged
//!        ─► per layer: crit understood · alg protected and accepted · keys resolved (kid, iss hint)
//!                      · signature / tag / decryption with any candidate key
//!        ─► (Encrypt0 may wrap one Sign1/Mac0: RFC 8392 §7.2 nesting, bounded by max_nesting)
//!        ─► claims decode ─► issuer (policy list and key binding) · audience · exp · nbf
//!                          · required claims · exi cti structure · Encrypted_COSE_Key decrypted
//!        ─► ValidatedToken (only this module can build one)
//! ```
//!
//! Why each check exists:
//! * size first, so oversized input costs nothing (RFC 9200 §6.8: an RS is constrained);
//! * trailing bytes: the signed bytes must be the whole token, or two parties could disagree on
//!   what a token is (RFC 9770 hashes the exact bytes);
//! * `crit`: RFC 9052 §3.1 requires refusing messages with critical headers not understood;
//! * `alg` must be protected and on the policy's list, so an attacker cannot pick a weaker
//!   algorithm, and keys are only used with algorithms their entry allows;
//! * issuer binding: a key configured for issuer A must not accept a token claiming issuer B;
//! * `aud`, `exp`, `nbf`: RFC 9200 §5.10.1.1 and RFC 7519 §4.1; the skew tolerates unsynchronized
//!   clocks (RFC 7519 "some small leeway").

use alloc::string::String;
use alloc::vec::Vec;

use ace_crypto::{AeadBackend, MacBackend, SignBackend};
use coset::cbor::value::Value;
use coset::iana::Algorithm;
use coset::{Header, Label, RegisteredLabelWithPrivate};

use crate::claims::{ClaimKey, Claims};
use crate::cnf::{CnfKey, OscoreInputMaterial, PopKey};
use crate::cose::{
    CoseMessage, Wrapping, check_headers, decrypt_encrypt0, parse_message, verify_mac0,
    verify_sign1,
};
use crate::error::{DecodeError, Error};
use crate::exi::ExiCti;
use crate::keys::{KeyMaterial, KeyPurpose, KeyRequest, KeyResolver, TokenKey};
use crate::time::UnixTime;
use crate::{cbor, consts};

/// What the RS accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Algorithms accepted at any COSE layer.
    pub accepted_algs: Vec<Algorithm>,
    /// The RS's audience values; a token must name at least one. Empty disables the audience
    /// check (only for deployments where the key itself identifies the RS).
    pub audiences: Vec<String>,
    /// Accepted issuers; empty accepts any issuer (keys may still be issuer-bound).
    pub issuers: Vec<String>,
    /// Tolerated clock difference in seconds for `exp` and `nbf`.
    pub clock_skew: u64,
    /// Claims that must be present.
    pub required_claims: Vec<ClaimKey>,
    /// Largest token accepted, in bytes.
    pub max_size: usize,
    /// External AAD every COSE layer was protected with (RFC 9052 §4.3).
    pub external_aad: Vec<u8>,
    /// Largest number of COSE layers (1: no nesting; 2: Encrypt0 around Sign1/Mac0).
    pub max_nesting: u8,
    /// The RS identifier that prefixes the `cti` of `exi` tokens (RFC 9200 §5.10.3). `None`
    /// refuses tokens carrying `exi` ([`Error::ExiCtiMalformed`]), since the RS could not
    /// track their expiry.
    pub exi_rs_id: Option<Vec<u8>>,
}

impl Policy {
    /// A policy for an RS known as `audience`, with the defaults: algorithms ES256, EdDSA,
    /// HMAC 256/64, HMAC 256/256, AES-CCM-16-64-128, AES-CCM-16-128-128, A128GCM, A256GCM,
    /// ChaCha20/Poly1305; any issuer; 60 s skew; `exp` required; 4096 bytes; nesting 2.
    #[must_use]
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            accepted_algs: alloc::vec![
                Algorithm::ES256,
                Algorithm::EdDSA,
                Algorithm::HMAC_256_64,
                Algorithm::HMAC_256_256,
                Algorithm::AES_CCM_16_64_128,
                Algorithm::AES_CCM_16_128_128,
                Algorithm::A128GCM,
                Algorithm::A256GCM,
                Algorithm::ChaCha20Poly1305,
            ],
            audiences: alloc::vec![audience.into()],
            issuers: Vec::new(),
            clock_skew: consts::defaults::CLOCK_SKEW,
            required_claims: alloc::vec![Label::Int(consts::claim::EXP)],
            max_size: consts::defaults::MAX_TOKEN_SIZE,
            external_aad: Vec::new(),
            max_nesting: consts::defaults::MAX_NESTING,
            exi_rs_id: None,
        }
    }

    /// Replaces the accepted algorithms.
    #[must_use]
    pub fn with_algorithms(mut self, algs: &[Algorithm]) -> Self {
        self.accepted_algs = algs.to_vec();
        self
    }

    /// Adds an accepted issuer.
    #[must_use]
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuers.push(iss.into());
        self
    }

    /// Adds an audience value.
    #[must_use]
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// Sets the clock skew.
    #[must_use]
    pub fn with_clock_skew(mut self, secs: u64) -> Self {
        self.clock_skew = secs;
        self
    }

    /// Replaces the required claims.
    #[must_use]
    pub fn with_required_claims(mut self, claims: &[ClaimKey]) -> Self {
        self.required_claims = claims.to_vec();
        self
    }

    /// Sets the maximum token size.
    #[must_use]
    pub fn with_max_size(mut self, max: usize) -> Self {
        self.max_size = max;
        self
    }

    /// Sets the external AAD.
    #[must_use]
    pub fn with_external_aad(mut self, aad: impl Into<Vec<u8>>) -> Self {
        self.external_aad = aad.into();
        self
    }

    /// Enables `exi` tokens whose `cti` starts with `rs_id`.
    #[must_use]
    pub fn with_exi_rs_id(mut self, rs_id: impl Into<Vec<u8>>) -> Self {
        self.exi_rs_id = Some(rs_id.into());
        self
    }

    /// Sets the maximum number of COSE layers.
    #[must_use]
    pub fn with_max_nesting(mut self, n: u8) -> Self {
        self.max_nesting = n;
        self
    }

    /// The claim checks alone, for a token whose protection was verified elsewhere (a JWT front
    /// end): required claims, then issuer, `exp`, audience, `nbf` (with skew), in this order.
    /// The order is the priority order of RFC 9200 §5.10.1.1 (`iss`, `exp`, `aud`), so an
    /// expired token for another audience reports [`Error::Expired`] (4.01), not
    /// [`Error::AudienceMismatch`] (4.03).
    ///
    /// # Errors
    /// [`Error::MissingClaim`], [`Error::IssuerMismatch`], [`Error::Expired`],
    /// [`Error::AudienceMismatch`], [`Error::NotYetValid`].
    pub fn check_claims(&self, claims: &Claims, now: UnixTime) -> Result<(), Error> {
        for key in &self.required_claims {
            if !claims.has(key) {
                return Err(Error::MissingClaim(key.clone()));
            }
        }
        if !self.issuers.is_empty() {
            let iss = claims
                .iss
                .as_ref()
                .ok_or(Error::MissingClaim(Label::Int(consts::claim::ISS)))?;
            if !self.issuers.iter().any(|i| i == iss) {
                return Err(Error::IssuerMismatch);
            }
        }
        if let Some(exp) = claims.exp
            && exp.is_reached_by(now.saturating_sub(self.clock_skew))
        {
            return Err(Error::Expired);
        }
        if !self.audiences.is_empty() {
            let aud = claims
                .aud
                .as_ref()
                .ok_or(Error::MissingClaim(Label::Int(consts::claim::AUD)))?;
            if !self.audiences.iter().any(|a| aud.contains(a)) {
                return Err(Error::AudienceMismatch);
            }
        }
        if let Some(nbf) = claims.nbf
            && !nbf.is_reached_by(now.saturating_add(self.clock_skew))
        {
            return Err(Error::NotYetValid);
        }
        Ok(())
    }
}

/// The PoP key a validated token binds, typed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProofOfPossession {
    /// A key: from `COSE_Key`, or the decrypted `Encrypted_COSE_Key`.
    Key(PopKey),
    /// A key identifier only (`cnf` `kid`): the RS already holds the key.
    Kid(Vec<u8>),
    /// OSCORE_Input_Material (RFC 9203).
    Osc(OscoreInputMaterial),
}

/// How a validated token was protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtectionKind {
    /// COSE_Sign1.
    Sign1,
    /// COSE_Mac0.
    Mac0,
    /// COSE_Encrypt0 with the claims directly inside.
    Encrypt0,
    /// COSE_Encrypt0 around a COSE_Sign1.
    Encrypt0Sign1,
    /// COSE_Encrypt0 around a COSE_Mac0.
    Encrypt0Mac0,
    /// A JWT: JWS compact serialization (HS256, ES256 or EdDSA; feature `jwt`).
    Jws,
}

/// A token that passed every check of a [`Validator`]. Only the validator builds one.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedToken {
    claims: Claims,
    pop: Option<ProofOfPossession>,
    protection: ProtectionKind,
    algs: Vec<Algorithm>,
    key: TokenKey,
    wrapping: Wrapping,
    exi_cti: Option<ExiCti>,
}

impl ValidatedToken {
    /// The claims.
    #[must_use]
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The claims, consuming the token.
    #[must_use]
    pub fn into_claims(self) -> Claims {
        self.claims
    }

    /// The proof-of-possession key the token binds (`cnf`), if any.
    #[must_use]
    pub fn pop(&self) -> Option<&ProofOfPossession> {
        self.pop.as_ref()
    }

    /// The PoP key itself, when `cnf` carried one (plain or encrypted).
    #[must_use]
    pub fn pop_key(&self) -> Option<&PopKey> {
        match &self.pop {
            Some(ProofOfPossession::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// How the token was protected.
    #[must_use]
    pub fn protection(&self) -> ProtectionKind {
        self.protection
    }

    /// The algorithms of the COSE layers, outermost first.
    #[must_use]
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algs
    }

    /// The key that authenticated the token (the signature/MAC key; for an Encrypt0-only
    /// token, the decryption key).
    #[must_use]
    pub fn verified_by(&self) -> &TokenKey {
        &self.key
    }

    /// How the token was tagged.
    #[must_use]
    pub fn wrapping(&self) -> Wrapping {
        self.wrapping
    }

    /// The parsed `cti` of an `exi` token (RFC 9200 §5.10.3).
    #[must_use]
    pub fn exi_cti(&self) -> Option<&ExiCti> {
        self.exi_cti.as_ref()
    }

    /// When the token expires at this RS: `exp`, or first reception + `exi`, whichever is
    /// earlier; `None` when it carries neither.
    #[must_use]
    pub fn expires_at(&self, first_seen: UnixTime) -> Option<UnixTime> {
        let exp = self
            .claims
            .exp
            .map(|e| UnixTime(u64::try_from(e.ceil_secs().max(0)).unwrap_or(u64::MAX)));
        let exi = self.claims.exi.map(|s| first_seen.saturating_add(s));
        match (exp, exi) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// One verified protection layer: its claims, the key that verified it, how, with what.
pub(crate) struct Layer {
    pub(crate) claims: Claims,
    pub(crate) key: TokenKey,
    pub(crate) kind: ProtectionKind,
    pub(crate) algs: Vec<Algorithm>,
}

/// Validates tokens against a [`Policy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    policy: Policy,
}

impl Validator {
    /// A validator for `policy`.
    #[must_use]
    pub fn new(policy: Policy) -> Self {
        Self { policy }
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn accepted(
        &self,
        h: &Header,
        structure_fits: fn(Algorithm) -> bool,
    ) -> Result<Algorithm, Error> {
        let alg = h.alg.as_ref().ok_or(Error::MissingAlgorithm)?;
        match alg {
            RegisteredLabelWithPrivate::Assigned(a)
                if self.policy.accepted_algs.contains(a) && structure_fits(*a) =>
            {
                Ok(*a)
            }
            other => Err(Error::AlgorithmNotAccepted(other.clone())),
        }
    }

    /// Validates `token`, received at `now`, with keys from `resolver` and crypto from
    /// `backend`.
    ///
    /// # Errors
    /// The first failed check, as an [`Error`] variant named after it.
    pub fn validate<R, B>(
        &self,
        token: &[u8],
        now: UnixTime,
        resolver: &R,
        backend: &B,
    ) -> Result<ValidatedToken, Error>
    where
        R: KeyResolver + ?Sized,
        B: SignBackend + MacBackend + AeadBackend + ?Sized,
    {
        if token.len() > self.policy.max_size {
            return Err(Error::TooLarge {
                size: token.len(),
                max: self.policy.max_size,
            });
        }
        let (wrapping, msg) = crate::cose::parse_token(token)?;
        let layer = self.layer(msg, 1, resolver, backend)?;
        self.finish(layer, wrapping, now, resolver, backend)
    }

    /// The checks after the token's protection was verified, shared by the CWT and JWT front
    /// ends: key-issuer binding, [`Policy::check_claims`], `exi`, `cnf` → PoP key.
    pub(crate) fn finish<R, B>(
        &self,
        layer: Layer,
        wrapping: Wrapping,
        now: UnixTime,
        resolver: &R,
        backend: &B,
    ) -> Result<ValidatedToken, Error>
    where
        R: KeyResolver + ?Sized,
        B: AeadBackend + ?Sized,
    {
        if let Some(bound) = &layer.key.issuer
            && layer.claims.iss.as_ref() != Some(bound)
        {
            return Err(Error::IssuerMismatch);
        }
        self.policy.check_claims(&layer.claims, now)?;

        let exi_cti = match layer.claims.exi {
            None => None,
            Some(_) => {
                let rs_id = self
                    .policy
                    .exi_rs_id
                    .as_deref()
                    .ok_or(Error::ExiCtiMalformed)?;
                let cti = layer.claims.cti.as_deref().ok_or(Error::ExiCtiMalformed)?;
                Some(ExiCti::parse(cti, rs_id)?)
            }
        };

        let pop = match &layer.claims.cnf {
            None => None,
            Some(cnf) => Some(match &cnf.key {
                Some(CnfKey::CoseKey(k)) => ProofOfPossession::Key(k.clone()),
                Some(CnfKey::Osc(m)) => ProofOfPossession::Osc(m.clone()),
                Some(CnfKey::Encrypted(e)) => {
                    ProofOfPossession::Key(self.decrypt_cnf(e, resolver, backend)?)
                }
                None => match &cnf.kid {
                    Some(kid) => ProofOfPossession::Kid(kid.clone()),
                    None => {
                        return Err(DecodeError::Invalid("cnf without a supported method").into());
                    }
                },
            }),
        };

        Ok(ValidatedToken {
            claims: layer.claims,
            pop,
            protection: layer.kind,
            algs: layer.algs,
            key: layer.key,
            wrapping,
            exi_cti,
        })
    }

    fn decrypt_cnf<R, B>(
        &self,
        e: &crate::cnf::EncryptedCoseKey,
        resolver: &R,
        backend: &B,
    ) -> Result<PopKey, Error>
    where
        R: KeyResolver + ?Sized,
        B: AeadBackend + ?Sized,
    {
        let alg = e.alg().ok_or(Error::CnfKeyUndecryptable)?;
        if !self.policy.accepted_algs.contains(&alg) {
            return Err(Error::AlgorithmNotAccepted(coset::Algorithm::Assigned(alg)));
        }
        let req = KeyRequest {
            purpose: KeyPurpose::Decrypt,
            alg,
            kid: e.kid(),
            issuer_hint: None,
        };
        for k in resolver.resolve(&req) {
            if let KeyMaterial::Symmetric(kek) = &k.material
                && let Ok(key) = e.decrypt(kek.expose(), backend)
            {
                return Ok(key);
            }
        }
        Err(Error::CnfKeyUndecryptable)
    }

    fn layer<R, B>(
        &self,
        msg: CoseMessage,
        depth: u8,
        resolver: &R,
        backend: &B,
    ) -> Result<Layer, Error>
    where
        R: KeyResolver + ?Sized,
        B: SignBackend + MacBackend + AeadBackend + ?Sized,
    {
        if depth > self.policy.max_nesting {
            return Err(Error::NestingNotAllowed);
        }
        check_headers(&msg.protected().header, msg.unprotected())?;
        let p = &msg.protected().header;
        let u = msg.unprotected();
        if u.alg.is_some() {
            return Err(Error::MissingAlgorithm);
        }
        let kid: &[u8] = if p.key_id.is_empty() {
            &u.key_id
        } else {
            &p.key_id
        };
        let aad = self.policy.external_aad.as_slice();
        match &msg {
            CoseMessage::Sign1(m) => {
                let alg = self.accepted(p, |a| ace_crypto::signature_key_type(a).is_some())?;
                let payload = m.payload.as_deref().ok_or(DecodeError::DetachedContent)?;
                let claims = Claims::from_cbor(payload);
                let hint = claims.as_ref().ok().and_then(|c| c.iss.as_deref());
                let req = KeyRequest {
                    purpose: KeyPurpose::Verify,
                    alg,
                    kid,
                    issuer_hint: hint,
                };
                let candidates = resolver.resolve(&req);
                if candidates.is_empty() {
                    return Err(Error::UnknownKey);
                }
                let key = candidates
                    .into_iter()
                    .find(|k| match &k.material {
                        KeyMaterial::Public(pk) => verify_sign1(m, alg, pk, aad, backend).is_ok(),
                        KeyMaterial::Symmetric(_) => false,
                    })
                    .ok_or(Error::BadSignature)?;
                Ok(Layer {
                    claims: claims?,
                    key: key.clone(),
                    kind: ProtectionKind::Sign1,
                    algs: alloc::vec![alg],
                })
            }
            CoseMessage::Mac0(m) => {
                let alg = self.accepted(p, |a| ace_crypto::mac_tag_len(a).is_some())?;
                let payload = m.payload.as_deref().ok_or(DecodeError::DetachedContent)?;
                let claims = Claims::from_cbor(payload);
                let hint = claims.as_ref().ok().and_then(|c| c.iss.as_deref());
                let req = KeyRequest {
                    purpose: KeyPurpose::Mac,
                    alg,
                    kid,
                    issuer_hint: hint,
                };
                let candidates = resolver.resolve(&req);
                if candidates.is_empty() {
                    return Err(Error::UnknownKey);
                }
                let mut found = None;
                for k in candidates {
                    if let KeyMaterial::Symmetric(s) = &k.material
                        && verify_mac0(m, alg, s.expose(), aad, backend).is_ok()
                    {
                        found = Some(k);
                        break;
                    }
                }
                let key = found.ok_or(Error::BadTag)?;
                Ok(Layer {
                    claims: claims?,
                    key: key.clone(),
                    kind: ProtectionKind::Mac0,
                    algs: alloc::vec![alg],
                })
            }
            CoseMessage::Encrypt0(m) => {
                let alg = self.accepted(p, |a| ace_crypto::aead_params(a).is_some())?;
                let req = KeyRequest {
                    purpose: KeyPurpose::Decrypt,
                    alg,
                    kid,
                    issuer_hint: None,
                };
                let candidates = resolver.resolve(&req);
                if candidates.is_empty() {
                    return Err(Error::UnknownKey);
                }
                if m.ciphertext.is_none() {
                    return Err(DecodeError::DetachedContent.into());
                }
                let mut found = None;
                for k in candidates {
                    if let KeyMaterial::Symmetric(s) = &k.material
                        && let Ok(pt) = decrypt_encrypt0(m, alg, s.expose(), aad, backend)
                    {
                        found = Some((k, pt));
                        break;
                    }
                }
                let (key, plaintext) = found.ok_or(Error::DecryptionFailed)?;
                let inner = cbor::decode_nested(&plaintext)?;
                match inner {
                    Value::Map(_) => Ok(Layer {
                        claims: Claims::from_value(inner)?,
                        key: key.clone(),
                        kind: ProtectionKind::Encrypt0,
                        algs: alloc::vec![alg],
                    }),
                    nested => {
                        let (_, inner_msg) = parse_message(nested, false)?;
                        if matches!(inner_msg, CoseMessage::Encrypt0(_)) {
                            return Err(Error::NestingNotAllowed);
                        }
                        let mut l = self.layer(inner_msg, depth + 1, resolver, backend)?;
                        l.kind = match l.kind {
                            ProtectionKind::Sign1 => ProtectionKind::Encrypt0Sign1,
                            _ => ProtectionKind::Encrypt0Mac0,
                        };
                        l.algs.insert(0, alg);
                        Ok(l)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{Audience, ClaimsBuilder};
    use crate::time::NumericDate;

    fn claims() -> Claims {
        ClaimsBuilder::new()
            .issuer("as")
            .audiences(alloc::vec!["rs1".into(), "group".into()])
            .expiration(NumericDate::Fractional(1000.5))
            .not_before(NumericDate::Fractional(99.5))
            .build()
    }

    #[test]
    fn fractional_dates_compare_by_ceiling() {
        let p = Policy::new("group").with_clock_skew(0);
        assert_eq!(
            p.check_claims(&claims(), UnixTime(99)),
            Err(Error::NotYetValid)
        );
        assert!(p.check_claims(&claims(), UnixTime(100)).is_ok());
        assert!(p.check_claims(&claims(), UnixTime(1000)).is_ok());
        assert_eq!(
            p.check_claims(&claims(), UnixTime(1001)),
            Err(Error::Expired)
        );
    }

    #[test]
    fn check_order_and_empty_lists() {
        let mut p = Policy::new("other").with_clock_skew(0);
        // RFC 9200 §5.10.1.1: `exp` is checked before `aud`.
        assert_eq!(
            p.check_claims(&claims(), UnixTime(5000)),
            Err(Error::Expired)
        );
        assert_eq!(
            p.check_claims(&claims(), UnixTime(500)),
            Err(Error::AudienceMismatch)
        );
        p.audiences.clear();
        assert_eq!(
            p.check_claims(&claims(), UnixTime(5000)),
            Err(Error::Expired)
        );
        assert!(p.check_claims(&claims(), UnixTime(500)).is_ok());
        let mut c = claims();
        c.aud = Some(Audience::Single("rs1".into()));
        c.iss = None;
        let p = Policy::new("rs1").with_issuer("as");
        assert_eq!(
            p.check_claims(&c, UnixTime(500)),
            Err(Error::MissingClaim(Label::Int(1)))
        );
    }

    #[test]
    fn expiry_with_exi() {
        let c = ClaimsBuilder::new().expiration(UnixTime(1000)).build();
        let mut t = ValidatedToken {
            claims: c,
            pop: None,
            protection: ProtectionKind::Mac0,
            algs: alloc::vec![Algorithm::HMAC_256_64],
            key: TokenKey::symmetric(alloc::vec![1u8; 32]),
            wrapping: Wrapping::default(),
            exi_cti: None,
        };
        assert_eq!(t.expires_at(UnixTime(0)), Some(UnixTime(1000)));
        t.claims.exi = Some(100);
        assert_eq!(t.expires_at(UnixTime(950)), Some(UnixTime(1000)));
        assert_eq!(t.expires_at(UnixTime(800)), Some(UnixTime(900)));
        t.claims.exp = None;
        assert_eq!(t.expires_at(UnixTime(800)), Some(UnixTime(900)));
    }
}
