//! JWT claims (RFC 7519 §4, RFC 7800, RFC 9200 §5.10 / §8.15) ↔ [`Claims`].
//!
//! | JSON member | [`Claims`] field | JSON type ↔ field type |
//! |---|---|---|
//! | `iss`, `sub` | `iss`, `sub` | string |
//! | `aud` | `aud` | string → `Single`; non-empty array of strings → `Multiple` |
//! | `exp`, `nbf`, `iat` | same | integer → `Seconds` (i64 range); fraction/exponent → `Fractional` |
//! | `jti` | `cti` | string ↔ its UTF-8 bytes |
//! | `cnf` | `cnf` | `jwk` → `CnfKey::CoseKey`; `kid` (string ↔ UTF-8 bytes); others in `rest` |
//! | `scope` | `scope` | string ↔ `Scope::Text` (an MQTT AIF scope stays its base64url text) |
//! | `ace_profile` | `ace_profile` | profile name (`"mqtt_tls"`, …) ↔ its number |
//! | `cnonce` | `cnonce` | base64url without padding ↔ bytes (RFC 9200 §5.8.4.4) |
//! | `exi` | `exi` | non-negative integer |
//! | anything else | `rest` | `Label::Text(name)`, the value as CBOR (objects → text-keyed maps) |
//!
//! `jwk` (RFC 7517, RFC 7518 §6, RFC 8037): `kty` `oct` (`k`), `EC` with `crv` `P-256`
//! (`x`, `y`), `OKP` with `crv` `Ed25519` or `X25519` (`x`); `kid`; `alg` (`HS256`, `ES256`,
//! `EdDSA` map to the COSE algorithms, other names kept as text); `key_ops` (RFC 7517 names ↔
//! COSE key operations). A private part (`d`) is refused, as in a `COSE_Key`. Other members
//! (`use`, `x5c`, …) are ignored (RFC 7517 §4), so they do not survive a re-encoding.

use alloc::collections::BTreeSet;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use ace_crypto::{KeyType, PublicKey, SecretBytes};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coset::iana;
use coset::{KeyOperation, Label};
use serde_json::Value as J;

use super::json::{self, Json};
use crate::claims::{AceProfile, Audience, Claims, Scope};
use crate::cnf::{CnfKey, Confirmation, PopKey, PopKeyMaterial};
use crate::error::{DecodeError, Error};
use crate::time::NumericDate;

/// The claim names [`Claims`] has a field for, in JSON.
pub const MODELLED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "cnf",
    "scope",
    "ace_profile",
    "cnonce",
    "exi",
];

/// `key_ops` names (RFC 7517 §4.3) and their COSE counterparts (RFC 9052 Table 5).
const KEY_OPS: &[(&str, iana::KeyOperation)] = &[
    ("sign", iana::KeyOperation::Sign),
    ("verify", iana::KeyOperation::Verify),
    ("encrypt", iana::KeyOperation::Encrypt),
    ("decrypt", iana::KeyOperation::Decrypt),
    ("wrapKey", iana::KeyOperation::WrapKey),
    ("unwrapKey", iana::KeyOperation::UnwrapKey),
    ("deriveKey", iana::KeyOperation::DeriveKey),
    ("deriveBits", iana::KeyOperation::DeriveBits),
];

/// JOSE names of the COSE algorithms a `jwk` `alg` maps to.
const JWK_ALGS: &[(&str, iana::Algorithm)] = &[
    ("HS256", iana::Algorithm::HMAC_256_256),
    ("ES256", iana::Algorithm::ES256),
    ("EdDSA", iana::Algorithm::EdDSA),
];

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url without padding: no `=`, no whitespace, no non-zero trailing bits.
pub(crate) fn unb64(s: &[u8]) -> Result<Vec<u8>, DecodeError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| DecodeError::InvalidBase64)
}

fn wrong(what: &'static str, expected: &'static str) -> DecodeError {
    DecodeError::WrongType { what, expected }
}

fn string(j: Json, what: &'static str) -> Result<String, DecodeError> {
    match j {
        Json::Str(s) => Ok(s),
        _ => Err(wrong(what, "string")),
    }
}

fn object(j: Json, what: &'static str) -> Result<Vec<(String, Json)>, DecodeError> {
    match j {
        Json::Obj(m) => Ok(m),
        _ => Err(wrong(what, "JSON object")),
    }
}

fn numeric_date(j: Json, what: &'static str) -> Result<NumericDate, DecodeError> {
    match j {
        Json::U64(u) => Ok(NumericDate::Seconds(
            i64::try_from(u).map_err(|_| DecodeError::IntegerOutOfRange)?,
        )),
        Json::I64(i) => Ok(NumericDate::Seconds(i)),
        Json::F64(f) if f.is_finite() => Ok(NumericDate::Fractional(f)),
        Json::F64(_) => Err(DecodeError::InvalidNumericDate),
        _ => Err(wrong(what, "NumericDate (number)")),
    }
}

fn numeric_date_json(d: NumericDate) -> Result<J, Error> {
    Ok(match d {
        NumericDate::Seconds(s) => J::from(s),
        NumericDate::Fractional(f) => J::Number(
            serde_json::Number::from_f64(f).ok_or(Error::Misuse("non-finite NumericDate"))?,
        ),
    })
}

fn utf8(bytes: &[u8], what: &'static str) -> Result<String, Error> {
    core::str::from_utf8(bytes)
        .map(ToString::to_string)
        .map_err(|_| Error::Misuse(what))
}

/// A `jwk` (RFC 7517) as a [`PopKey`].
///
/// # Errors
/// [`DecodeError`] for unsupported key types or curves, wrong lengths, points not on the
/// curve, a private key (`d`), duplicate `key_ops`, wrongly typed members.
pub(crate) fn pop_key_from_jwk(j: Json) -> Result<PopKey, DecodeError> {
    let mut members = object(j, "jwk")?;
    let mut get = |name: &str| -> Option<Json> {
        members
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| members.swap_remove(i).1)
    };
    if get("d").is_some() {
        return Err(DecodeError::Invalid("private key in cnf"));
    }
    let kty = string(
        get("kty").ok_or(DecodeError::Invalid("jwk kty"))?,
        "jwk kty",
    )?;
    let material = match kty.as_str() {
        "oct" => {
            let k = b64_member(&mut get, "k", "jwk k")?;
            if k.is_empty() {
                return Err(DecodeError::Invalid("jwk k"));
            }
            PopKeyMaterial::Symmetric(SecretBytes::new(k))
        }
        "EC" => {
            let crv = string(
                get("crv").ok_or(DecodeError::Invalid("jwk crv"))?,
                "jwk crv",
            )?;
            if crv != "P-256" {
                return Err(DecodeError::Invalid("jwk curve (only P-256)"));
            }
            let x = b64_member(&mut get, "x", "jwk x")?;
            let y = b64_member(&mut get, "y", "jwk y")?;
            PopKeyMaterial::Public(
                PublicKey::p256_from_coordinates(&x, &y)
                    .map_err(|_| DecodeError::Invalid("jwk EC coordinates"))?,
            )
        }
        "OKP" => {
            let crv = string(
                get("crv").ok_or(DecodeError::Invalid("jwk crv"))?,
                "jwk crv",
            )?;
            let kind = match crv.as_str() {
                "Ed25519" => KeyType::Ed25519,
                "X25519" => KeyType::X25519,
                _ => return Err(DecodeError::Invalid("jwk curve (only Ed25519, X25519)")),
            };
            let x = b64_member(&mut get, "x", "jwk x")?;
            PopKeyMaterial::Public(
                PublicKey::okp(kind, &x).map_err(|_| DecodeError::Invalid("jwk OKP x"))?,
            )
        }
        _ => return Err(DecodeError::Invalid("jwk kty (only oct, EC, OKP)")),
    };
    let kid = get("kid")
        .map(|k| string(k, "jwk kid").map(String::into_bytes))
        .transpose()?;
    let alg = get("alg")
        .map(|a| {
            string(a, "jwk alg").map(|name| match JWK_ALGS.iter().find(|(n, _)| *n == name) {
                Some((_, alg)) => coset::Algorithm::Assigned(*alg),
                None => coset::Algorithm::Text(name),
            })
        })
        .transpose()?;
    let mut key_ops = BTreeSet::new();
    if let Some(ops) = get("key_ops") {
        let Json::Arr(ops) = ops else {
            return Err(wrong("jwk key_ops", "array of strings"));
        };
        for op in ops {
            let name = string(op, "jwk key_ops")?;
            let op = match KEY_OPS.iter().find(|(n, _)| *n == name) {
                Some((_, op)) => KeyOperation::Assigned(*op),
                None => KeyOperation::Text(name),
            };
            if !key_ops.insert(op) {
                return Err(DecodeError::Invalid("jwk key_ops (duplicate value)"));
            }
        }
    }
    Ok(PopKey {
        material,
        kid,
        alg,
        key_ops,
    })
}

fn b64_member(
    get: &mut impl FnMut(&str) -> Option<Json>,
    name: &str,
    what: &'static str,
) -> Result<Vec<u8>, DecodeError> {
    unb64(string(get(name).ok_or(DecodeError::Invalid(what))?, what)?.as_bytes())
}

/// A [`PopKey`] as a `jwk` object.
///
/// # Errors
/// [`Error::Misuse`]: a `kid` that is not UTF-8, an `alg` or `key_ops` value without a JOSE
/// name.
pub(crate) fn jwk_from_pop_key(k: &PopKey) -> Result<J, Error> {
    let mut m = serde_json::Map::new();
    let s = |v: &str| J::String(v.into());
    match &k.material {
        PopKeyMaterial::Symmetric(sk) => {
            m.insert("kty".into(), s("oct"));
            m.insert("k".into(), J::String(b64(sk.expose())));
        }
        PopKeyMaterial::Public(pk) => match (pk.p256_coordinates(), pk.okp_x()) {
            (Some((x, y)), _) => {
                m.insert("kty".into(), s("EC"));
                m.insert("crv".into(), s("P-256"));
                m.insert("x".into(), J::String(b64(x)));
                m.insert("y".into(), J::String(b64(y)));
            }
            (None, Some(x)) => {
                m.insert("kty".into(), s("OKP"));
                let crv = if pk.key_type() == KeyType::Ed25519 {
                    "Ed25519"
                } else {
                    "X25519"
                };
                m.insert("crv".into(), s(crv));
                m.insert("x".into(), J::String(b64(x)));
            }
            (None, None) => return Err(Error::Misuse("PoP key type has no jwk form")),
        },
    }
    if let Some(kid) = &k.kid {
        m.insert("kid".into(), J::String(utf8(kid, "jwk kid is not UTF-8")?));
    }
    if let Some(alg) = &k.alg {
        let name = match alg {
            coset::Algorithm::Assigned(a) => JWK_ALGS
                .iter()
                .find(|(_, x)| x == a)
                .map(|(n, _)| (*n).to_string())
                .ok_or(Error::Misuse("jwk alg has no JOSE name"))?,
            coset::Algorithm::Text(t) => t.clone(),
            coset::Algorithm::PrivateUse(_) => {
                return Err(Error::Misuse("jwk alg has no JOSE name"));
            }
        };
        m.insert("alg".into(), J::String(name));
    }
    if !k.key_ops.is_empty() {
        let mut ops = Vec::with_capacity(k.key_ops.len());
        for op in &k.key_ops {
            ops.push(J::String(match op {
                KeyOperation::Assigned(a) => KEY_OPS
                    .iter()
                    .find(|(_, x)| x == a)
                    .map(|(n, _)| (*n).to_string())
                    .ok_or(Error::Misuse("key_ops value has no JOSE name"))?,
                KeyOperation::Text(t) => t.clone(),
            }));
        }
        m.insert("key_ops".into(), J::Array(ops));
    }
    Ok(J::Object(m))
}

fn confirmation_from_json(j: Json) -> Result<Confirmation, DecodeError> {
    let mut c = Confirmation::default();
    let mut key_members = 0usize;
    for (name, v) in object(j, "cnf")? {
        match name.as_str() {
            "jwk" => {
                key_members += 1;
                c.key = Some(CnfKey::CoseKey(pop_key_from_jwk(v)?));
            }
            "kid" => c.kid = Some(string(v, "cnf kid")?.into_bytes()),
            other => {
                // RFC 7800 §3.3 `jwe`, RFC 9203 `osc`: key-bearing, not decoded here.
                if matches!(other, "jwe" | "osc") {
                    key_members += 1;
                }
                c.rest.push((Label::Text(name), json::to_cbor(v)));
            }
        }
    }
    if key_members > 1 {
        return Err(DecodeError::Invalid("cnf with more than one key"));
    }
    Ok(c)
}

fn confirmation_to_json(c: &Confirmation) -> Result<J, Error> {
    let mut m = serde_json::Map::new();
    match &c.key {
        None => {}
        Some(CnfKey::CoseKey(k)) => {
            m.insert("jwk".into(), jwk_from_pop_key(k)?);
        }
        Some(_) => {
            return Err(Error::Misuse(
                "Encrypted_COSE_Key / osc have no JWT form here",
            ));
        }
    }
    if let Some(kid) = &c.kid {
        m.insert("kid".into(), J::String(utf8(kid, "cnf kid is not UTF-8")?));
    }
    for (k, v) in &c.rest {
        let Label::Text(k) = k else {
            return Err(Error::Misuse("integer cnf method has no JWT form"));
        };
        if m.insert(k.clone(), json::from_cbor(v)?).is_some() {
            return Err(Error::Misuse("cnf member given twice"));
        }
    }
    Ok(J::Object(m))
}

impl Claims {
    /// Decodes a JWT claims set (the JSON payload of a JWS), strictly: one JSON object, UTF-8,
    /// no duplicate member names at any depth, registered claims with their types (see
    /// [`crate::jwt`] for the mapping).
    ///
    /// # Errors
    /// [`Error::Malformed`] with the reason.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        Ok(Self::from_json_value(json::parse(bytes)?)?)
    }

    pub(crate) fn from_json_value(j: Json) -> Result<Self, DecodeError> {
        let mut c = Self::default();
        for (name, v) in object(j, "JWT claims set")? {
            match name.as_str() {
                "iss" => c.iss = Some(string(v, "iss")?),
                "sub" => c.sub = Some(string(v, "sub")?),
                "aud" => {
                    c.aud = Some(match v {
                        Json::Str(s) => Audience::Single(s),
                        Json::Arr(items) if !items.is_empty() => Audience::Multiple(
                            items
                                .into_iter()
                                .map(|i| string(i, "aud"))
                                .collect::<Result<_, _>>()?,
                        ),
                        _ => return Err(wrong("aud", "string or non-empty array of strings")),
                    });
                }
                "exp" => c.exp = Some(numeric_date(v, "exp")?),
                "nbf" => c.nbf = Some(numeric_date(v, "nbf")?),
                "iat" => c.iat = Some(numeric_date(v, "iat")?),
                "jti" => c.cti = Some(string(v, "jti")?.into_bytes()),
                "cnf" => c.cnf = Some(confirmation_from_json(v)?),
                "scope" => c.scope = Some(Scope::Text(string(v, "scope")?)),
                "ace_profile" => {
                    let name = string(v, "ace_profile")?;
                    c.ace_profile = Some(
                        AceProfile::from_name(&name)
                            .ok_or(DecodeError::Invalid("ace_profile (unknown name)"))?,
                    );
                }
                "cnonce" => c.cnonce = Some(unb64(string(v, "cnonce")?.as_bytes())?),
                "exi" => {
                    c.exi = Some(match v {
                        Json::U64(u) => u,
                        Json::I64(_) => return Err(DecodeError::IntegerOutOfRange),
                        _ => return Err(wrong("exi", "non-negative integer")),
                    });
                }
                _ => c.rest.push((Label::Text(name), json::to_cbor(v))),
            }
        }
        Ok(c)
    }

    /// Encodes as a JWT claims set (compact JSON, members sorted by name).
    ///
    /// # Errors
    /// [`Error::Misuse`] for claims without a JWT form: a binary scope, a `cti` or `cnf` `kid`
    /// that is not UTF-8, an `ace_profile` without a name, an encrypted or `osc` `cnf`, integer
    /// keys in `rest`, a `rest` name equal to a modelled claim, values with no JSON form.
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        json::encode(&self.to_json_value()?)
    }

    pub(crate) fn to_json_value(&self) -> Result<J, Error> {
        let mut m = serde_json::Map::new();
        if let Some(v) = &self.iss {
            m.insert("iss".into(), J::String(v.clone()));
        }
        if let Some(v) = &self.sub {
            m.insert("sub".into(), J::String(v.clone()));
        }
        if let Some(v) = &self.aud {
            m.insert(
                "aud".into(),
                match v {
                    Audience::Single(s) => J::String(s.clone()),
                    Audience::Multiple(all) => {
                        J::Array(all.iter().map(|s| J::String(s.clone())).collect())
                    }
                },
            );
        }
        if let Some(v) = self.exp {
            m.insert("exp".into(), numeric_date_json(v)?);
        }
        if let Some(v) = self.nbf {
            m.insert("nbf".into(), numeric_date_json(v)?);
        }
        if let Some(v) = self.iat {
            m.insert("iat".into(), numeric_date_json(v)?);
        }
        if let Some(v) = &self.cti {
            m.insert(
                "jti".into(),
                J::String(utf8(v, "cti is not UTF-8 (no jti form)")?),
            );
        }
        if let Some(v) = &self.cnf {
            m.insert("cnf".into(), confirmation_to_json(v)?);
        }
        match &self.scope {
            None => {}
            Some(Scope::Text(s)) => {
                m.insert("scope".into(), J::String(s.clone()));
            }
            Some(Scope::Binary(_)) => {
                return Err(Error::Misuse("a binary scope has no JWT form"));
            }
        }
        if let Some(p) = self.ace_profile {
            let name = p
                .name()
                .ok_or(Error::Misuse("ace_profile without a JSON name"))?;
            m.insert("ace_profile".into(), J::String(name.into()));
        }
        if let Some(v) = &self.cnonce {
            m.insert("cnonce".into(), J::String(b64(v)));
        }
        if let Some(v) = self.exi {
            m.insert("exi".into(), J::from(v));
        }
        for (k, v) in &self.rest {
            let Label::Text(k) = k else {
                return Err(Error::Misuse("an integer claim key has no JWT form"));
            };
            if MODELLED.contains(&k.as_str()) || m.contains_key(k) {
                return Err(Error::Misuse("a modelled or repeated claim name in rest"));
            }
            m.insert(k.clone(), json::from_cbor(v)?);
        }
        Ok(J::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::ClaimsBuilder;
    use coset::cbor::value::Value;

    #[test]
    fn registered_claims_map_both_ways() {
        let input = br#"{"iss":"as","aud":["rs1","g"],"exp":10,"nbf":-5,"iat":1.5,"jti":"t-1",
            "scope":"WyJhIl0","ace_profile":"mqtt_tls","cnonce":"AQI","exi":7,
            "cnf":{"kid":"k1","jkt":"x"},"x":{"y":[1,null]}}"#;
        let c = Claims::from_json(input).unwrap();
        assert_eq!(c.iss.as_deref(), Some("as"));
        assert_eq!(
            c.aud,
            Some(Audience::Multiple(alloc::vec!["rs1".into(), "g".into()]))
        );
        assert_eq!(c.exp, Some(NumericDate::Seconds(10)));
        assert_eq!(c.nbf, Some(NumericDate::Seconds(-5)));
        assert_eq!(c.iat, Some(NumericDate::Fractional(1.5)));
        assert_eq!(c.cti.as_deref(), Some(&b"t-1"[..]));
        assert_eq!(c.scope, Some(Scope::Text("WyJhIl0".into())));
        assert_eq!(c.ace_profile, Some(AceProfile::MQTT_TLS));
        assert_eq!(c.cnonce.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(c.exi, Some(7));
        let cnf = c.cnf.as_ref().unwrap();
        assert_eq!(cnf.kid.as_deref(), Some(&b"k1"[..]));
        assert_eq!(cnf.rest.len(), 1);
        assert!(matches!(
            c.other(&Label::Text("x".into())),
            Some(Value::Map(_))
        ));
        let again = Claims::from_json(&c.to_json().unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn wrong_types_and_values() {
        for bad in [
            &br#"[]"#[..],
            br#"{"iss":1}"#,
            br#"{"aud":[]}"#,
            br#"{"aud":[1]}"#,
            br#"{"exp":"1"}"#,
            br#"{"exp":18446744073709551615}"#,
            br#"{"exi":-1}"#,
            br#"{"exi":1.5}"#,
            br#"{"ace_profile":"nope"}"#,
            br#"{"ace_profile":2}"#,
            br#"{"cnonce":"AQI="}"#,
            br#"{"scope":["a"]}"#,
            br#"{"cnf":{"jwk":{"kty":"oct","k":"AQ"},"jwe":"x"}}"#,
            br#"{"cnf":{"jwk":{"kty":"oct","k":""}}}"#,
            br#"{"cnf":{"jwk":{"kty":"RSA","n":"AQ","e":"AQAB"}}}"#,
            br#"{"cnf":{"jwk":{"kty":"EC","crv":"P-384","x":"AQ","y":"AQ"}}}"#,
            br#"{"cnf":{"jwk":{"kty":"OKP","crv":"Ed25519","x":"AQ"}}}"#,
            br#"{"cnf":{"jwk":{"kty":"oct","k":"AQ","key_ops":["sign","sign"]}}}"#,
            br#"{"cnf":{"jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}}}"#,
        ] {
            assert!(
                matches!(Claims::from_json(bad), Err(Error::Malformed(_))),
                "{}",
                core::str::from_utf8(bad).unwrap()
            );
        }
    }

    #[test]
    fn jwk_forms() {
        let ed = br#"{"cnf":{"jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"c","alg":"EdDSA","key_ops":["verify"],"use":"sig"}}}"#;
        let c = Claims::from_json(ed).unwrap();
        let Some(CnfKey::CoseKey(k)) = &c.cnf.as_ref().unwrap().key else {
            panic!("no key")
        };
        assert_eq!(k.public_key().unwrap().key_type(), KeyType::Ed25519);
        assert_eq!(k.kid.as_deref(), Some(&b"c"[..]));
        assert_eq!(
            k.alg,
            Some(coset::Algorithm::Assigned(iana::Algorithm::EdDSA))
        );
        // `use` is ignored; everything else survives.
        let out = String::from_utf8(c.to_json().unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"cnf":{"jwk":{"alg":"EdDSA","crv":"Ed25519","key_ops":["verify"],"kid":"c","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}}"#
        );
    }

    #[test]
    fn claims_without_a_jwt_form_are_misuse() {
        let bin = ClaimsBuilder::new()
            .scope(Scope::Binary(alloc::vec![1]))
            .build();
        assert!(matches!(bin.to_json(), Err(Error::Misuse(_))));
        let cti = ClaimsBuilder::new().cti(alloc::vec![0xff]).build();
        assert!(matches!(cti.to_json(), Err(Error::Misuse(_))));
        let int_key = ClaimsBuilder::new()
            .claim(Label::Int(-70000), Value::Null)
            .build();
        assert!(matches!(int_key.to_json(), Err(Error::Misuse(_))));
        let shadow = ClaimsBuilder::new()
            .claim(Label::Text("exp".into()), Value::Null)
            .build();
        assert!(matches!(shadow.to_json(), Err(Error::Misuse(_))));
        let profile = ClaimsBuilder::new().ace_profile(AceProfile(99)).build();
        assert!(matches!(profile.to_json(), Err(Error::Misuse(_))));
    }

    /// Found by the `ace_token_jwt` fuzz target: members of an unknown claim's object (and
    /// unknown claims themselves) in an order other than the encoder's did not survive
    /// decode → encode → decode unchanged.
    #[test]
    fn member_order_does_not_change_the_decoded_claims() {
        let input = br#"{"z":1,"":{"b":",","a":{}},"a":[{"y":1,"x":2}]}"#;
        let c = Claims::from_json(input).unwrap();
        let json = c.to_json().unwrap();
        let again = Claims::from_json(&json).unwrap();
        assert_eq!(again, c);
        assert_eq!(again.to_json().unwrap(), json);
        assert_eq!(
            json,
            br#"{"":{"a":{},"b":","},"a":[{"x":2,"y":1}],"z":1}"#.to_vec()
        );
    }
}
