//! The claims set of a token, independent of its encoding.
//!
//! [`Claims`] is plain data: the CWT codec here ([`Claims::from_cbor`], [`Claims::to_cbor`])
//! and a JWT front end (later) map to and from the same struct, and the policy checks in
//! [`crate::validate`] only look at this struct.
//!
//! Decoding is strict: the claims set must be a map with int or text keys, no duplicate key, and
//! each known claim must have its registered type. Unknown claims are kept, as received, in
//! [`Claims::rest`]. Encoding is deterministic (RFC 8949 §4.2.1 key order), so an AS issues
//! byte-stable tokens.

use alloc::string::String;
use alloc::vec::Vec;

use coset::Label;
use coset::cbor::value::Value;

use crate::cbor;
use crate::cnf::Confirmation;
use crate::consts::{claim, profile};
use crate::error::{DecodeError, Error};
use crate::time::NumericDate;

/// A claim key: an integer (registered CWT claims) or a text string.
pub type ClaimKey = Label;

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3; RFC 8392 §3.1.3 registers the
/// single text form, and a list is accepted for JWT parity and group audiences).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// A single audience (the CWT form).
    Single(String),
    /// Several audiences.
    Multiple(Vec<String>),
}

impl Audience {
    /// All audience values.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&String>, &[String]) = match self {
            Self::Single(s) => (Some(s), &[]),
            Self::Multiple(v) => (None, v.as_slice()),
        };
        one.into_iter().chain(many.iter()).map(String::as_str)
    }

    /// `true` when `aud` is one of the values.
    #[must_use]
    pub fn contains(&self, aud: &str) -> bool {
        self.iter().any(|a| a == aud)
    }
}

impl From<&str> for Audience {
    fn from(s: &str) -> Self {
        Self::Single(s.into())
    }
}

/// The `scope` claim (RFC 9200 §5.8.1): a text string (space-separated scope tokens, as in
/// OAuth) or a byte string (e.g. AIF, RFC 9237, decoded by the `aif` crate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Text scope.
    Text(String),
    /// Binary scope (AIF or application defined).
    Binary(Vec<u8>),
}

impl Scope {
    /// The space-separated scope tokens of a text scope (RFC 6749 §3.3).
    pub fn text_tokens(&self) -> impl Iterator<Item = &str> {
        let s = match self {
            Self::Text(s) => s.as_str(),
            Self::Binary(_) => "",
        };
        s.split(' ').filter(|t| !t.is_empty())
    }

    /// The bytes of a binary scope (an AIF CBOR item for RFC 9237 scopes).
    #[must_use]
    pub fn as_binary(&self) -> Option<&[u8]> {
        match self {
            Self::Binary(b) => Some(b),
            Self::Text(_) => None,
        }
    }
}

/// An ACE profile identifier (RFC 9200 §5.8.4.3, IANA "ACE Profile"). Open: unknown values
/// round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AceProfile(pub i64);

impl AceProfile {
    /// `coap_dtls` (RFC 9202).
    pub const COAP_DTLS: Self = Self(profile::COAP_DTLS);
    /// `coap_oscore` (RFC 9203).
    pub const COAP_OSCORE: Self = Self(profile::COAP_OSCORE);
    /// `mqtt_tls` (RFC 9431).
    pub const MQTT_TLS: Self = Self(profile::MQTT_TLS);

    /// The JSON name of the profile (`"coap_dtls"`, `"mqtt_tls"`, ...), if known.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        profile::NAMES
            .iter()
            .find(|(_, v)| *v == self.0)
            .map(|(n, _)| *n)
    }

    /// The profile with JSON name `name`, if known.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        profile::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| Self(*v))
    }
}

/// A claims set. Public fields; `rest` holds unknown claims as received.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claims {
    /// `iss` (1).
    pub iss: Option<String>,
    /// `sub` (2).
    pub sub: Option<String>,
    /// `aud` (3).
    pub aud: Option<Audience>,
    /// `exp` (4).
    pub exp: Option<NumericDate>,
    /// `nbf` (5).
    pub nbf: Option<NumericDate>,
    /// `iat` (6).
    pub iat: Option<NumericDate>,
    /// `cti` (7).
    pub cti: Option<Vec<u8>>,
    /// `cnf` (8).
    pub cnf: Option<Confirmation>,
    /// `scope` (9).
    pub scope: Option<Scope>,
    /// `ace_profile` (38).
    pub ace_profile: Option<AceProfile>,
    /// `cnonce` (39).
    pub cnonce: Option<Vec<u8>>,
    /// `exi` (40): lifetime in seconds from first reception by the RS.
    pub exi: Option<u64>,
    /// Claims this crate does not model, in received order.
    pub rest: Vec<(ClaimKey, Value)>,
}

fn numeric_date(v: Value, what: &'static str) -> Result<NumericDate, DecodeError> {
    match v {
        Value::Integer(i) => Ok(NumericDate::Seconds(
            i64::try_from(i).map_err(|_| DecodeError::IntegerOutOfRange)?,
        )),
        Value::Float(f) if f.is_finite() => Ok(NumericDate::Fractional(f)),
        Value::Float(_) => Err(DecodeError::InvalidNumericDate),
        _ => Err(DecodeError::WrongType {
            what,
            expected: "NumericDate (int or float)",
        }),
    }
}

fn numeric_date_value(d: NumericDate) -> Value {
    match d {
        NumericDate::Seconds(s) => Value::from(s),
        NumericDate::Fractional(f) => Value::Float(f),
    }
}

/// `true` for the claim keys [`Claims`] has a field for.
#[must_use]
pub fn is_modelled(key: &ClaimKey) -> bool {
    matches!(
        key,
        Label::Int(
            claim::ISS
                | claim::SUB
                | claim::AUD
                | claim::EXP
                | claim::NBF
                | claim::IAT
                | claim::CTI
                | claim::CNF
                | claim::SCOPE
                | claim::ACE_PROFILE
                | claim::CNONCE
                | claim::EXI
        )
    )
}

impl Claims {
    /// `true` when the claim `key` is present (modelled or in `rest`).
    #[must_use]
    pub fn has(&self, key: &ClaimKey) -> bool {
        match key {
            Label::Int(claim::ISS) => self.iss.is_some(),
            Label::Int(claim::SUB) => self.sub.is_some(),
            Label::Int(claim::AUD) => self.aud.is_some(),
            Label::Int(claim::EXP) => self.exp.is_some(),
            Label::Int(claim::NBF) => self.nbf.is_some(),
            Label::Int(claim::IAT) => self.iat.is_some(),
            Label::Int(claim::CTI) => self.cti.is_some(),
            Label::Int(claim::CNF) => self.cnf.is_some(),
            Label::Int(claim::SCOPE) => self.scope.is_some(),
            Label::Int(claim::ACE_PROFILE) => self.ace_profile.is_some(),
            Label::Int(claim::CNONCE) => self.cnonce.is_some(),
            Label::Int(claim::EXI) => self.exi.is_some(),
            other => self.rest.iter().any(|(k, _)| k == other),
        }
    }

    /// An unknown claim from `rest`.
    #[must_use]
    pub fn other(&self, key: &ClaimKey) -> Option<&Value> {
        self.rest.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Decodes a claims set from its CBOR bytes (a CWT payload).
    ///
    /// # Errors
    /// [`Error::TrailingBytes`], or [`Error::Malformed`] with the reason.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, Error> {
        Ok(Self::from_value(cbor::decode_one(bytes)?)?)
    }

    /// Decodes a claims set from a CBOR value.
    ///
    /// # Errors
    /// Not a map, non-int/text keys, duplicate keys, wrongly typed registered claims.
    pub fn from_value(v: Value) -> Result<Self, DecodeError> {
        let mut c = Self::default();
        for (k, v) in cbor::label_map(v, "claims set")? {
            match k {
                Label::Int(claim::ISS) => c.iss = Some(cbor::take_text(v, "iss")?),
                Label::Int(claim::SUB) => c.sub = Some(cbor::take_text(v, "sub")?),
                Label::Int(claim::AUD) => {
                    c.aud = Some(match v {
                        Value::Text(t) => Audience::Single(t),
                        Value::Array(items) if !items.is_empty() => Audience::Multiple(
                            items
                                .into_iter()
                                .map(|i| cbor::take_text(i, "aud"))
                                .collect::<Result<_, _>>()?,
                        ),
                        _ => {
                            return Err(DecodeError::WrongType {
                                what: "aud",
                                expected: "text or non-empty array of text",
                            });
                        }
                    });
                }
                Label::Int(claim::EXP) => c.exp = Some(numeric_date(v, "exp")?),
                Label::Int(claim::NBF) => c.nbf = Some(numeric_date(v, "nbf")?),
                Label::Int(claim::IAT) => c.iat = Some(numeric_date(v, "iat")?),
                Label::Int(claim::CTI) => c.cti = Some(cbor::take_bytes(v, "cti")?),
                Label::Int(claim::CNF) => c.cnf = Some(Confirmation::from_value(v)?),
                Label::Int(claim::SCOPE) => {
                    c.scope = Some(match v {
                        Value::Text(t) => Scope::Text(t),
                        Value::Bytes(b) => Scope::Binary(b),
                        _ => {
                            return Err(DecodeError::WrongType {
                                what: "scope",
                                expected: "text or bytes",
                            });
                        }
                    });
                }
                Label::Int(claim::ACE_PROFILE) => {
                    c.ace_profile = Some(AceProfile(cbor::as_i64(&v, "ace_profile")?));
                }
                Label::Int(claim::CNONCE) => c.cnonce = Some(cbor::take_bytes(v, "cnonce")?),
                Label::Int(claim::EXI) => c.exi = Some(cbor::as_u64(&v, "exi")?),
                other => c.rest.push((other, v)),
            }
        }
        Ok(c)
    }

    /// Encodes to a CBOR value (deterministic key order).
    ///
    /// # Errors
    /// Only for unencodable nested values (never for values this crate decoded).
    pub fn to_value(&self) -> Result<Value, Error> {
        let mut e: Vec<(Label, Value)> = Vec::with_capacity(12 + self.rest.len());
        let int = Label::Int;
        if let Some(v) = &self.iss {
            e.push((int(claim::ISS), Value::Text(v.clone())));
        }
        if let Some(v) = &self.sub {
            e.push((int(claim::SUB), Value::Text(v.clone())));
        }
        if let Some(v) = &self.aud {
            e.push((
                int(claim::AUD),
                match v {
                    Audience::Single(s) => Value::Text(s.clone()),
                    Audience::Multiple(m) => {
                        Value::Array(m.iter().map(|s| Value::Text(s.clone())).collect())
                    }
                },
            ));
        }
        if let Some(v) = self.exp {
            e.push((int(claim::EXP), numeric_date_value(v)));
        }
        if let Some(v) = self.nbf {
            e.push((int(claim::NBF), numeric_date_value(v)));
        }
        if let Some(v) = self.iat {
            e.push((int(claim::IAT), numeric_date_value(v)));
        }
        if let Some(v) = &self.cti {
            e.push((int(claim::CTI), Value::Bytes(v.clone())));
        }
        if let Some(v) = &self.cnf {
            e.push((int(claim::CNF), v.to_value()?));
        }
        if let Some(v) = &self.scope {
            e.push((
                int(claim::SCOPE),
                match v {
                    Scope::Text(s) => Value::Text(s.clone()),
                    Scope::Binary(b) => Value::Bytes(b.clone()),
                },
            ));
        }
        if let Some(v) = self.ace_profile {
            e.push((int(claim::ACE_PROFILE), Value::from(v.0)));
        }
        if let Some(v) = &self.cnonce {
            e.push((int(claim::CNONCE), Value::Bytes(v.clone())));
        }
        if let Some(v) = self.exi {
            e.push((int(claim::EXI), Value::from(v)));
        }
        if self.rest.iter().any(|(k, _)| is_modelled(k)) {
            return Err(Error::Misuse("a modelled claim is in Claims::rest"));
        }
        e.extend(self.rest.iter().cloned());
        Ok(cbor::sorted_map(e))
    }

    /// Encodes to CBOR bytes (deterministic key order).
    ///
    /// # Errors
    /// As [`Claims::to_value`].
    pub fn to_cbor(&self) -> Result<Vec<u8>, Error> {
        cbor::encode(&self.to_value()?)
    }
}

impl coset::AsCborValue for Claims {
    fn from_cbor_value(value: Value) -> coset::Result<Self> {
        Self::from_value(value)
            .map_err(|_| coset::CoseError::UnexpectedItem("value", "CWT claims set"))
    }

    fn to_cbor_value(self) -> coset::Result<Value> {
        self.to_value().map_err(|_| coset::CoseError::EncodeFailed)
    }
}

impl coset::CborSerializable for Claims {}

/// Builder for [`Claims`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ClaimsBuilder(Claims);

impl ClaimsBuilder {
    /// An empty claims set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `iss`.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.0.iss = Some(iss.into());
        self
    }

    /// Sets `sub`.
    pub fn subject(mut self, sub: impl Into<String>) -> Self {
        self.0.sub = Some(sub.into());
        self
    }

    /// Sets a single `aud`.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.0.aud = Some(Audience::Single(aud.into()));
        self
    }

    /// Sets several audiences.
    pub fn audiences(mut self, aud: Vec<String>) -> Self {
        self.0.aud = Some(Audience::Multiple(aud));
        self
    }

    /// Sets `exp`.
    pub fn expiration(mut self, t: impl Into<NumericDate>) -> Self {
        self.0.exp = Some(t.into());
        self
    }

    /// Sets `nbf`.
    pub fn not_before(mut self, t: impl Into<NumericDate>) -> Self {
        self.0.nbf = Some(t.into());
        self
    }

    /// Sets `iat`.
    pub fn issued_at(mut self, t: impl Into<NumericDate>) -> Self {
        self.0.iat = Some(t.into());
        self
    }

    /// Sets `cti`.
    pub fn cti(mut self, cti: impl Into<Vec<u8>>) -> Self {
        self.0.cti = Some(cti.into());
        self
    }

    /// Sets `cnf`.
    pub fn cnf(mut self, cnf: Confirmation) -> Self {
        self.0.cnf = Some(cnf);
        self
    }

    /// Sets `scope`.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.0.scope = Some(scope);
        self
    }

    /// Sets `ace_profile`.
    pub fn ace_profile(mut self, p: AceProfile) -> Self {
        self.0.ace_profile = Some(p);
        self
    }

    /// Sets `cnonce`.
    pub fn cnonce(mut self, n: impl Into<Vec<u8>>) -> Self {
        self.0.cnonce = Some(n.into());
        self
    }

    /// Sets `exi` and the `cti` RFC 9200 §5.10.3 requires with it (RS id ‖ sequence number).
    pub fn exi(mut self, exi: u64, cti: &crate::exi::ExiCti) -> Self {
        self.0.exi = Some(exi);
        self.0.cti = Some(cti.encode());
        self
    }

    /// Adds an unmodelled claim. Registered keys this crate models belong in their setters;
    /// a duplicate key makes the encoded set invalid, so it replaces an earlier value.
    pub fn claim(mut self, key: ClaimKey, value: Value) -> Self {
        self.0.rest.retain(|(k, _)| *k != key);
        self.0.rest.push((key, value));
        self
    }

    /// The claims set.
    #[must_use]
    pub fn build(self) -> Claims {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_and_scope_helpers() {
        let a = Audience::Multiple(alloc::vec!["a".into(), "b".into()]);
        assert!(a.contains("b") && !a.contains("c"));
        assert_eq!(Audience::from("x").iter().collect::<Vec<_>>(), ["x"]);
        let s = Scope::Text("r  w".into());
        assert_eq!(s.text_tokens().collect::<Vec<_>>(), ["r", "w"]);
        assert_eq!(Scope::Binary(alloc::vec![1]).as_binary(), Some(&[1u8][..]));
    }

    #[test]
    fn keys_are_sorted_and_unknown_claims_kept() {
        // {"x": 1, 9: "s", -1: 2, 1: "i"} decodes; re-encodes as {1, 9, -1, "x"} order.
        let input = [
            0xa4, 0x61, b'x', 0x01, 0x09, 0x61, b's', 0x20, 0x02, 0x01, 0x61, b'i',
        ];
        let c = Claims::from_cbor(&input).unwrap();
        assert_eq!(c.iss.as_deref(), Some("i"));
        assert_eq!(c.scope, Some(Scope::Text("s".into())));
        assert_eq!(c.other(&Label::Int(-1)), Some(&Value::from(2)));
        assert!(c.has(&Label::Text("x".into())) && !c.has(&Label::Int(4)));
        let out = c.to_cbor().unwrap();
        assert_eq!(
            out,
            [
                0xa4, 0x01, 0x61, b'i', 0x09, 0x61, b's', 0x20, 0x02, 0x61, b'x', 0x01
            ]
        );
    }

    #[test]
    fn modelled_claims_in_rest_are_refused() {
        let c = ClaimsBuilder::new()
            .claim(Label::Int(claim::ISS), Value::from(1))
            .build();
        assert!(matches!(c.to_cbor(), Err(Error::Misuse(_))));
    }

    #[test]
    fn wrong_types_are_named() {
        // {3: 5}: aud must be text or an array of text.
        assert!(matches!(
            Claims::from_cbor(&[0xa1, 0x03, 0x05]),
            Err(Error::Malformed(DecodeError::WrongType { what: "aud", .. }))
        ));
        // {3: []}: empty audience list.
        assert!(Claims::from_cbor(&[0xa1, 0x03, 0x80]).is_err());
        // {40: -1}: exi must be unsigned.
        assert_eq!(
            Claims::from_cbor(&[0xa1, 0x18, 0x28, 0x20]),
            Err(Error::Malformed(DecodeError::IntegerOutOfRange))
        );
        // {h'01': 1}: byte-string keys are not claim keys.
        assert!(Claims::from_cbor(&[0xa1, 0x41, 0x01, 0x01]).is_err());
    }
}
