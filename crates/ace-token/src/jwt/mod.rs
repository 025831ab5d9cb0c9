//! JWT access tokens (RFC 7519) as strict JWS compact serialization (RFC 7515 §7.1), HS256,
//! ES256 and EdDSA (RFC 7518 §3.2/§3.4, RFC 8037), over the same [`Claims`], [`Policy`] and
//! [`Validator`] as CWTs (feature `jwt`). The MQTT-TLS profile's JSON default (RFC 9431).
//!
//! ```text
//!  AS: Claims ──JwtIssuer::{hs256, es256, eddsa}──► "eyJ….eyJ….sig" (header {"alg","kid"?,"typ":"JWT"})
//!
//!  RS: bytes ──Validator::validate_jwt(bytes, now, &resolver, &backend)──► ValidatedToken
//!        size ≤ max_size ─► exactly three base64url segments (no padding, canonical)
//!        ─► header: strict JSON object · alg ∈ {HS256, ES256, EdDSA} ∩ policy · no crit
//!                   · typ absent / JWT / at+jwt · cty absent (JWT → nesting refused)
//!        ─► signature length fits alg ─► claims (strict JSON) ─► key by kid / alg / iss hint
//!        ─► signature or HMAC ─► the CWT checks: key-issuer binding, Policy::check_claims,
//!           exi, cnf → PoP key
//! ```
//!
//! Choices (all strict; none is a policy knob):
//! * **Algorithms.** `alg` is matched case-sensitively; the policy's COSE list decides:
//!   `HS256` needs [`Algorithm::HMAC_256_256`], `ES256` [`Algorithm::ES256`], `EdDSA`
//!   [`Algorithm::EdDSA`] (Ed25519 only). Anything else, `none` included, is
//!   [`Error::AlgorithmNotAccepted`] with the name as a text algorithm. HS256 keys shorter than
//!   32 bytes are refused (RFC 7518 §3.2).
//! * **Header.** `crit` is refused whatever it names (no extension is understood):
//!   [`Error::UnknownCriticalHeader`]. `typ` may be absent, `JWT` or `at+jwt` (RFC 9068),
//!   compared without case and with an optional `application/` prefix (RFC 7515 §4.1.9);
//!   other types (e.g. `dpop+jwt`) are refused so another JOSE object cannot pass as a token.
//!   `cty: JWT` (nested JWT) is [`Error::NestingNotAllowed`]; any other `cty` is refused.
//!   `b64` other than `true` is refused (RFC 7797 needs `crit`). `kid` (a string) goes to the
//!   [`KeyResolver`] as its UTF-8 bytes. `jwk`, `jku`, `x5u`, `x5c` are ignored: keys never
//!   come from the token.
//! * **Encoding.** Segments are base64url without padding with zero trailing bits; JSON is
//!   UTF-8, one value, no duplicate member names at any depth (RFC 7515 §5.2 lets a parser
//!   reject them; we do). Anything after the third segment fails base64url.
//! * **Claims.** The mapping to [`Claims`] is in [`claims`]: `jti` ↔ `cti` as UTF-8 bytes,
//!   `cnonce` base64url, `ace_profile` by name, `scope` as text (the MQTT AIF scope is the
//!   base64url string, handed out as is), fractional NumericDates accepted and compared by
//!   their ceiling as in CWTs (RFC 7519 §2 allows non-integer values).

pub mod claims;
mod json;

use alloc::string::String;
use alloc::vec::Vec;

use ace_crypto::{AeadBackend, MacBackend, PrivateKey, SignBackend};
use coset::iana::Algorithm;

use crate::claims::Claims;
use crate::cose::Wrapping;
use crate::error::{DecodeError, Error};
use crate::keys::{KeyMaterial, KeyPurpose, KeyRequest, KeyResolver};
use crate::time::UnixTime;
use crate::validate::{Layer, Policy, ProtectionKind, ValidatedToken, Validator};
use json::Json;

/// The JWS algorithms supported (RFC 7518 §3.1 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwsAlgorithm {
    /// HMAC with SHA-256, full 32-byte tag (COSE HMAC 256/256).
    HS256,
    /// ECDSA P-256 with SHA-256, `r || s` (COSE ES256).
    ES256,
    /// Ed25519 (RFC 8037; COSE EdDSA).
    EdDSA,
}

impl JwsAlgorithm {
    /// The `alg` header value.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm named `name` (case-sensitive).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "HS256" => Some(Self::HS256),
            "ES256" => Some(Self::ES256),
            "EdDSA" => Some(Self::EdDSA),
            _ => None,
        }
    }

    /// The COSE algorithm with the same primitive (what [`Policy::accepted_algs`] lists).
    #[must_use]
    pub fn cose(self) -> Algorithm {
        match self {
            Self::HS256 => Algorithm::HMAC_256_256,
            Self::ES256 => Algorithm::ES256,
            Self::EdDSA => Algorithm::EdDSA,
        }
    }

    /// Length of the signature or tag in bytes.
    #[must_use]
    pub fn signature_len(self) -> usize {
        match self {
            Self::HS256 => 32,
            Self::ES256 | Self::EdDSA => 64,
        }
    }
}

/// Smallest HS256 key (RFC 7518 §3.2: at least the hash output size).
pub const HS256_MIN_KEY_LEN: usize = 32;

/// The JOSE header fields this crate uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsHeader {
    /// `alg`.
    pub alg: JwsAlgorithm,
    /// `kid`, if present.
    pub kid: Option<String>,
    /// `typ`, if present, as received.
    pub typ: Option<String>,
}

/// A parsed JWS in compact serialization whose signature is not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jws<'a> {
    header: JwsHeader,
    signing_input: &'a [u8],
    payload: Vec<u8>,
    signature: Vec<u8>,
}

fn typ_accepted(typ: &str) -> bool {
    let t = typ.as_bytes();
    let prefix = b"application/";
    let t = match t.get(..prefix.len()) {
        Some(p) if p.eq_ignore_ascii_case(prefix) => t.get(prefix.len()..).unwrap_or_default(),
        _ => t,
    };
    t.eq_ignore_ascii_case(b"jwt") || t.eq_ignore_ascii_case(b"at+jwt")
}

fn parse_header(j: Json) -> Result<JwsHeader, Error> {
    let Json::Obj(members) = j else {
        return Err(DecodeError::WrongType {
            what: "JOSE header",
            expected: "JSON object",
        }
        .into());
    };
    let mut alg = None;
    let mut kid = None;
    let mut typ = None;
    for (name, v) in members {
        match (name.as_str(), v) {
            ("crit", Json::Arr(names)) => {
                return Err(match names.into_iter().next() {
                    Some(Json::Str(n)) => Error::UnknownCriticalHeader(coset::Label::Text(n)),
                    _ => DecodeError::Invalid("JWS crit").into(),
                });
            }
            ("crit", _) => return Err(DecodeError::Invalid("JWS crit").into()),
            ("alg", Json::Str(a)) => alg = Some(a),
            ("kid", Json::Str(k)) => kid = Some(k),
            ("typ", Json::Str(t)) => {
                if !typ_accepted(&t) {
                    return Err(DecodeError::Invalid("JWS typ (JWT or at+jwt)").into());
                }
                typ = Some(t);
            }
            ("cty", Json::Str(c)) if typ_accepted(&c) => return Err(Error::NestingNotAllowed),
            ("cty", _) => return Err(DecodeError::Invalid("JWS cty").into()),
            ("b64", Json::Bool(true)) => {}
            ("b64", _) => return Err(DecodeError::Invalid("JWS b64").into()),
            ("alg" | "kid" | "typ", _) => {
                return Err(DecodeError::WrongType {
                    what: "JOSE header parameter",
                    expected: "string",
                }
                .into());
            }
            _ => {}
        }
    }
    let name = alg.ok_or(Error::MissingAlgorithm)?;
    let alg = JwsAlgorithm::from_name(&name)
        .ok_or(Error::AlgorithmNotAccepted(coset::Algorithm::Text(name)))?;
    Ok(JwsHeader { alg, kid, typ })
}

impl<'a> Jws<'a> {
    /// Parses `token`: three base64url segments, a strict JOSE header with a supported `alg`,
    /// a signature of the algorithm's length. The payload is decoded from base64url but not
    /// interpreted.
    ///
    /// # Errors
    /// [`Error::Malformed`] (segments, base64url, JSON, header types, signature length),
    /// [`Error::MissingAlgorithm`], [`Error::AlgorithmNotAccepted`] (unsupported or `none`),
    /// [`Error::UnknownCriticalHeader`], [`Error::NestingNotAllowed`].
    pub fn parse(token: &'a [u8]) -> Result<Self, Error> {
        let mut parts = token.split(|b| *b == b'.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DecodeError::Invalid("JWS compact: not three segments").into());
        };
        let header_bytes = claims::unb64(h)?;
        let payload = claims::unb64(p)?;
        let signature = claims::unb64(s)?;
        let header = parse_header(json::parse(&header_bytes)?)?;
        if signature.len() != header.alg.signature_len() {
            return Err(DecodeError::Invalid("JWS signature length").into());
        }
        let signing_input = token
            .get(..h.len() + 1 + p.len())
            .ok_or(DecodeError::Truncated)?;
        Ok(Self {
            header,
            signing_input,
            payload,
            signature,
        })
    }

    /// The header.
    #[must_use]
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The decoded payload (not verified until a `verify_*` call succeeds).
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The signing input `BASE64URL(header) || '.' || BASE64URL(payload)`, as received.
    #[must_use]
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input
    }

    /// Verifies an ES256/EdDSA signature with `key`.
    ///
    /// # Errors
    /// [`Error::BadSignature`] (also for HS256 tokens and keys of the wrong type).
    pub fn verify_signature<B: SignBackend + ?Sized>(
        &self,
        key: &ace_crypto::PublicKey,
        backend: &B,
    ) -> Result<(), Error> {
        if self.header.alg == JwsAlgorithm::HS256 {
            return Err(Error::BadSignature);
        }
        backend
            .verify(
                self.header.alg.cose(),
                key,
                self.signing_input,
                &self.signature,
            )
            .map_err(|_| Error::BadSignature)
    }

    /// Verifies an HS256 tag with `key` (constant-time comparison in the backend).
    ///
    /// # Errors
    /// [`Error::BadTag`] (also for signature algorithms and keys under 32 bytes).
    pub fn verify_mac<B: MacBackend + ?Sized>(&self, key: &[u8], backend: &B) -> Result<(), Error> {
        if self.header.alg != JwsAlgorithm::HS256 || key.len() < HS256_MIN_KEY_LEN {
            return Err(Error::BadTag);
        }
        backend
            .mac_verify(
                Algorithm::HMAC_256_256,
                key,
                self.signing_input,
                &self.signature,
            )
            .map_err(|_| Error::BadTag)
    }
}

/// `true` when `token` starts like a JWS compact JWT (`eyJ`, base64url of `{"`), the test
/// RFC 9431 deployments use to tell JWTs from CWTs (spec digest MQ-T14).
#[must_use]
pub fn looks_like_jwt(token: &[u8]) -> bool {
    token.starts_with(b"eyJ")
}

/// The key a JWT is protected with.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum JwsKey<'k> {
    /// An HS256 key (at least 32 bytes).
    Secret(&'k [u8]),
    /// An ES256 (P-256) or EdDSA (Ed25519) private key.
    Private(&'k PrivateKey),
}

/// Issues JWTs (the AS side): header `{"alg", "kid"?, "typ":"JWT"}`, claims as
/// [`Claims::to_json`], signature through the `ace-crypto` backend.
#[derive(Debug, Clone)]
pub struct JwtIssuer<'b, B: ?Sized> {
    backend: &'b B,
    typ: &'static str,
}

impl<'b, B: SignBackend + MacBackend + ?Sized> JwtIssuer<'b, B> {
    /// An issuer writing `typ: "JWT"`.
    #[must_use]
    pub fn new(backend: &'b B) -> Self {
        Self {
            backend,
            typ: "JWT",
        }
    }

    /// Writes `typ: "at+jwt"` instead (RFC 9068 access tokens).
    #[must_use]
    pub fn at_jwt(mut self) -> Self {
        self.typ = "at+jwt";
        self
    }

    /// A JWT over `claims`.
    ///
    /// # Errors
    /// [`Error::Misuse`]: a key that does not fit `alg`, an HS256 key under 32 bytes, claims
    /// without a JWT form ([`Claims::to_json`]); [`Error::Crypto`] from the backend.
    pub fn issue(
        &self,
        claims: &Claims,
        alg: JwsAlgorithm,
        key: JwsKey<'_>,
        kid: Option<&str>,
    ) -> Result<String, Error> {
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), serde_json::Value::String(alg.name().into()));
        if let Some(kid) = kid {
            header.insert("kid".into(), serde_json::Value::String(kid.into()));
        }
        header.insert("typ".into(), serde_json::Value::String(self.typ.into()));
        let header = json::encode(&serde_json::Value::Object(header))?;
        let payload = claims.to_json()?;
        let mut out = claims::b64(&header);
        out.push('.');
        out.push_str(&claims::b64(&payload));
        let sig = match (alg, key) {
            (JwsAlgorithm::HS256, JwsKey::Secret(k)) => {
                if k.len() < HS256_MIN_KEY_LEN {
                    return Err(Error::Misuse("HS256 key shorter than 32 bytes"));
                }
                self.backend
                    .mac(Algorithm::HMAC_256_256, k, out.as_bytes())?
            }
            (JwsAlgorithm::ES256 | JwsAlgorithm::EdDSA, JwsKey::Private(k)) => {
                self.backend.sign(alg.cose(), k, out.as_bytes())?
            }
            _ => return Err(Error::Misuse("key does not fit the JWS algorithm")),
        };
        out.push('.');
        out.push_str(&claims::b64(&sig));
        Ok(out)
    }

    /// An HS256 JWT.
    ///
    /// # Errors
    /// As [`JwtIssuer::issue`].
    pub fn hs256(&self, claims: &Claims, key: &[u8], kid: Option<&str>) -> Result<String, Error> {
        self.issue(claims, JwsAlgorithm::HS256, JwsKey::Secret(key), kid)
    }

    /// An ES256 JWT.
    ///
    /// # Errors
    /// As [`JwtIssuer::issue`].
    pub fn es256(
        &self,
        claims: &Claims,
        key: &PrivateKey,
        kid: Option<&str>,
    ) -> Result<String, Error> {
        self.issue(claims, JwsAlgorithm::ES256, JwsKey::Private(key), kid)
    }

    /// An EdDSA (Ed25519) JWT.
    ///
    /// # Errors
    /// As [`JwtIssuer::issue`].
    pub fn eddsa(
        &self,
        claims: &Claims,
        key: &PrivateKey,
        kid: Option<&str>,
    ) -> Result<String, Error> {
        self.issue(claims, JwsAlgorithm::EdDSA, JwsKey::Private(key), kid)
    }
}

impl Validator {
    /// Validates a JWT (JWS compact), received at `now`, with keys from `resolver` and crypto
    /// from `backend`: the JWS checks of this module, then the same claim, `exi` and `cnf`
    /// processing as [`Validator::validate`]. The result has
    /// [`ProtectionKind::Jws`] and the COSE algorithm of the JWS `alg`.
    ///
    /// # Errors
    /// The first failed check, as an [`Error`] variant named after it.
    pub fn validate_jwt<R, B>(
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
        let policy: &Policy = self.policy();
        if token.len() > policy.max_size {
            return Err(Error::TooLarge {
                size: token.len(),
                max: policy.max_size,
            });
        }
        let jws = Jws::parse(token)?;
        let alg = jws.header.alg.cose();
        if !policy.accepted_algs.contains(&alg) {
            return Err(Error::AlgorithmNotAccepted(coset::Algorithm::Assigned(alg)));
        }
        let claims = Claims::from_json(&jws.payload);
        let hint = claims.as_ref().ok().and_then(|c| c.iss.as_deref());
        let mac = jws.header.alg == JwsAlgorithm::HS256;
        let req = KeyRequest {
            purpose: if mac {
                KeyPurpose::Mac
            } else {
                KeyPurpose::Verify
            },
            alg,
            kid: jws.header.kid.as_deref().map_or(&[], str::as_bytes),
            issuer_hint: hint,
        };
        let candidates = resolver.resolve(&req);
        if candidates.is_empty() {
            return Err(Error::UnknownKey);
        }
        let key = candidates
            .into_iter()
            .find(|k| match &k.material {
                KeyMaterial::Public(pk) => jws.verify_signature(pk, backend).is_ok(),
                KeyMaterial::Symmetric(s) => jws.verify_mac(s.expose(), backend).is_ok(),
            })
            .ok_or(if mac {
                Error::BadTag
            } else {
                Error::BadSignature
            })?;
        let layer = Layer {
            claims: claims?,
            key: key.clone(),
            kind: ProtectionKind::Jws,
            algs: alloc::vec![alg],
        };
        self.finish(layer, Wrapping::default(), now, resolver, backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_values() {
        for ok in [
            "JWT",
            "jwt",
            "at+jwt",
            "application/at+JWT",
            "Application/jwt",
        ] {
            assert!(typ_accepted(ok), "{ok}");
        }
        for bad in ["", "JOSE", "dpop+jwt", "application/", "application/json"] {
            assert!(!typ_accepted(bad), "{bad}");
        }
    }

    #[test]
    fn algorithm_names() {
        for a in [
            JwsAlgorithm::HS256,
            JwsAlgorithm::ES256,
            JwsAlgorithm::EdDSA,
        ] {
            assert_eq!(JwsAlgorithm::from_name(a.name()), Some(a));
        }
        assert_eq!(JwsAlgorithm::from_name("hs256"), None);
        assert_eq!(JwsAlgorithm::from_name("none"), None);
        assert!(looks_like_jwt(b"eyJhbGciOiJIUzI1NiJ9.e30.x"));
        assert!(!looks_like_jwt(&[0xd8, 0x3d]));
    }
}
